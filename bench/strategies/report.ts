// Writes bench/results/strategies-<timestamp>.{json,md} and regenerates
// bench/STRATEGIES-RESULTS.md (the latest run's tables, the exact command, the
// machine, and every run's headline, newest first).
import fs from "node:fs";
import path from "node:path";
import type { MachineInfo, SourceInfo } from "../lib/sys.js";
import type { RoundRun } from "./driver.js";
import type { Settings } from "./settings.js";
import type { Stores } from "./stores.js";
import { BASELINE } from "./types.js";
import { BENCH_DIR, RESULTS_DIR, readRuns, withEarlierRuns } from "../lib/results.js";

export interface StrategySummary {
  name: string;
  label: string;
  claimsCorrect: boolean;
  settings: Record<string, string | number>;
  rounds: number;
  medianCallsPerSecond: number;
  /** Median over rounds of (this strategy's calls/s ÷ calls/s of the lua-hold run next to it). */
  ratioVsLua: number;
  medianP50Ms: number;
  medianP99Ms: number;
  medianHeld: number;
  medianTaken: number;
  medianFailed: number;
  failedTotal: number;
  failureReasons: Record<string, number>;
  medianAttemptsPerCall: number;
  medianNodeCpuUsPerCall: number;
  medianStoreCpuUsPerCall: number;
  medianSeatsHeld: number;
  /** When the last successful hold was answered, ms into the round (median): how long the race for the 100 seats lasted. */
  medianLastHoldMs: number;
  /** Most seats promised to two buyers in any round. */
  maxOversoldSeats: number;
  roundsWithBrokenInvariants: number;
  invariantsOk: boolean;
}

export interface StrategiesResult {
  kind: "strategies";
  schema: 1;
  runId: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  ok: boolean;
  failures: string[];
  command: string;
  settings: Settings;
  source: SourceInfo;
  machine: MachineInfo & { loadAvgAfter: number[]; redis: string; mysql: Stores["mysql"] };
  stores: {
    own: Stores["own"];
    pids: Stores["pids"];
    database: string;
    reused: { redisUrl?: string; mysqlUrl?: string };
  };
  venue: { rows: number; seatsPerRow: number; capacity: number; maxSeatsPerBuyer: number };
  workload: { buyers: number; seed: number; seatsRequested: number; concurrency: number };
  order: string[][];
  warmup: RoundRun[];
  rounds: RoundRun[];
  summary: StrategySummary[];
}

const n0 = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? "–" : Math.round(x).toLocaleString("en-US");
const f = (x: number | undefined, d = 2) =>
  x === undefined || !Number.isFinite(x) ? "–" : (Math.round(x * 10 ** d) / 10 ** d).toString();
const esc = (s: string) => s.replace(/\|/g, "\\|");
const reasons = (r: Record<string, number>) =>
  Object.keys(r).length
    ? Object.entries(r)
        .map(([k, v]) => `${esc(k)} × ${v.toLocaleString("en-US")}`)
        .join("; ")
    : "";

function verdict(x: StrategySummary): string {
  if (x.invariantsOk) return "ok";
  return x.claimsCorrect ? "**BROKEN**" : "broken (expected: no lock)";
}

function summaryTable(r: StrategiesResult): string[] {
  const L: string[] = [];
  L.push(
    "| strategy | claims correct | calls/s | ratio vs lua-hold | p50 ms | p99 ms | held | taken | failed | tries per call | last hold at ms | oversold seats (worst round) | invariants |",
  );
  L.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const x of r.summary) {
    L.push(
      `| ${x.name === BASELINE ? `**${x.name}** (ours)` : x.name} | ${x.claimsCorrect ? "yes" : "no: broken baseline"} | ${n0(x.medianCallsPerSecond)} | ${x.name === BASELINE ? "1 (baseline)" : `**${f(x.ratioVsLua, 3)}**`} | ${f(x.medianP50Ms)} | ${f(x.medianP99Ms)} | ${n0(x.medianHeld)} | ${n0(x.medianTaken)} | ${n0(x.medianFailed)} | ${f(x.medianAttemptsPerCall)} | ${n0(x.medianLastHoldMs)} | ${x.maxOversoldSeats} | ${verdict(x)} |`,
    );
  }
  return L;
}

function roundsTable(r: StrategiesResult): string[] {
  const L: string[] = [];
  L.push(
    "| round | strategy | calls/s | ratio vs the lua-hold run next to it | p50 ms | p90 ms | p99 ms | max ms | held | taken | failed | tries per call | seats held | last hold at ms | oversold seats | Node CPU µs/call | store CPU µs/call | invariants |",
  );
  L.push(
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  );
  for (const x of r.rounds) {
    const failed = x.failed ? `${n0(x.failed)} (${reasons(x.failureReasons)})` : "0";
    L.push(
      `| ${x.round} | ${x.strategy} | ${n0(x.callsPerSecond)} | ${x.ratioVsBaseline !== undefined ? f(x.ratioVsBaseline, 3) : x.pairedWith ? `(baseline for ${x.pairedWith})` : "–"} | ${f(x.latencyMs.p50)} | ${f(x.latencyMs.p90)} | ${f(x.latencyMs.p99)} | ${f(x.latencyMs.max, 1)} | ${n0(x.held)} | ${n0(x.taken)} | ${failed} | ${f(x.attemptsPerCall)} | ${x.seatsHeld} | ${n0(x.lastHoldMs)} | ${x.oversoldSeats} | ${f(x.nodeCpuUsPerCall, 1)} | ${f(x.storeCpuUsPerCall, 1)} | ${x.ok ? "ok" : "BROKEN"} |`,
    );
  }
  return L;
}

/** One table per strategy: how many of its runs passed each check, with the detail of a run that broke it (else of its last run). */
function checksTables(r: StrategiesResult): string[] {
  const L: string[] = [];
  for (const s of r.summary) {
    const mine = r.rounds.filter((x) => x.strategy === s.name);
    if (mine.length === 0) continue;
    L.push(`### ${s.name}`);
    L.push("");
    L.push("| check | runs ok | detail |");
    L.push("| --- | ---: | --- |");
    for (const c of mine[0]!.checks) {
      const per = mine.map((x) => ({ run: x, check: x.checks.find((y) => y.name === c.name) }));
      const ok = per.filter((p) => p.check?.ok).length;
      const broken = per.find((p) => p.check && !p.check.ok);
      const shown = broken ?? per[per.length - 1]!;
      const where = broken
        ? `round ${broken.run.round}${broken.run.pairedWith && s.name === BASELINE ? ` (next to ${broken.run.pairedWith})` : ""}: `
        : "";
      L.push(
        `| ${esc(c.name)} | ${ok === mine.length ? `${ok} of ${mine.length}` : `**${ok} of ${mine.length}**`} | ${esc(where + (shown.check?.detail ?? ""))} |`,
      );
    }
    L.push("");
  }
  return L;
}

function machineLines(r: StrategiesResult): string[] {
  const m = r.machine;
  return [
    "| | |",
    "| --- | --- |",
    `| cores (nproc) | ${m.nproc} |`,
    `| CPU | ${m.cpuModel} |`,
    `| memory | ${m.memTotalMb} MB |`,
    `| kernel / Node | ${m.kernel} / ${m.node} |`,
    `| Redis | ${m.redis}, ${r.stores.own.redis ? "started by the bench on a free port (no persistence)" : `reused: ${r.stores.reused.redisUrl}`} |`,
    `| MySQL | ${m.mysql.version}, ${r.stores.own.mysql ? "started by the bench on a free port" : "reused (MYSQL_URL)"}; isolation ${m.mysql.isolation}, innodb_flush_log_at_trx_commit=${m.mysql.flushLogAtTrxCommit}${m.mysql.flushLogAtTrxCommit === "1" ? "" : " (no fsync per commit: kinder to the MySQL strategies than a durable server)"}, innodb_lock_wait_timeout=${m.mysql.lockWaitTimeoutS} s; database \`${r.stores.database}\` (dropped at the end) |`,
    `| load average before / after | ${m.loadAvgBefore.join(" ")} / ${m.loadAvgAfter.join(" ")} |`,
  ];
}

function setupLines(r: StrategiesResult): string[] {
  const s = r.settings;
  const L: string[] = [];
  L.push(
    `- Venue: one event per strategy and round, section A, ${r.venue.rows} rows × ${r.venue.seatsPerRow} seats = **${r.venue.capacity} seats**, at most ${r.venue.maxSeatsPerBuyer} per buyer. The store is reset between rounds (a fresh event id, every seat free).`,
  );
  L.push(
    `- Workload: **${r.workload.buyers.toLocaleString("en-US")} buyers**, each asking for 1–${r.venue.maxSeatsPerBuyer} distinct random seats (xorshift32 seed ${r.workload.seed}; ${r.workload.seatsRequested.toLocaleString("en-US")} seats asked for in all), the same list for every strategy and round, issued from this Node process at a fixed concurrency of **${r.workload.concurrency}** calls in flight. Holds never expire during a run. Buyer ids are unique, so the per-buyer limit never refuses anyone.`,
  );
  L.push(
    `- Rounds: ${s.rounds}. In each, every strategy runs right next to a run of ${BASELINE} (the pair a few seconds apart; which goes first alternates, the order of the strategies rotates each round: ${r.order.map((o, i) => `round ${i + 1}: ${o.join(" → ")}`).join("; ")}). Before them, ${s.warmupCalls.toLocaleString("en-US")} untallied calls per strategy on a venue of their own (JIT, pools, buffer pool, script cache; their invariants are checked too).`,
  );
  L.push(
    "- calls/s = calls ÷ wall time from the first call issued to the last reply (held, taken and failed alike). Latency is per call as the buyer sees it, retries and backoff included. ratio vs lua-hold = calls/s ÷ calls/s of the lua-hold run next to it; the summary shows the median of those ratios and the medians of everything else (for lua-hold: over all its runs).",
  );
  L.push(
    "- Node CPU = `process.cpuUsage()` of the bench process per call (driver + client library + strategy logic); store CPU = utime+stime of redis-server or mariadbd from /proc per call (– when the store was reused: shared with others).",
  );
  L.push(
    "- last hold at = when the round's last successful hold was answered, in ms from the round's start: how long the race for the seats lasted (every later call is a refusal).",
  );
  L.push(
    "- Failures are everything but held and taken: errors, lock waits or retries exhausted, deadlocks past the retry bound. **oversold seats** = seats more than one buyer was told they hold. After every round the store is read back and compared with what the buyers were told (tables below).",
  );
  L.push("");
  L.push("| strategy | what it does | settings |");
  L.push("| --- | --- | --- |");
  for (const x of r.summary)
    L.push(
      `| ${x.name} | ${esc(x.label)} | ${esc(
        Object.entries(x.settings)
          .map(([k, v]) => `${k}: ${v}`)
          .join("; "),
      )} |`,
    );
  return L;
}

/** What the figures of this run say, computed from it (the same sentences hold for any run). */
function readingNotes(r: StrategiesResult): string[] {
  const L: string[] = [];
  const base = r.summary.find((x) => x.name === BASELINE);
  if (base) {
    const share = base.medianTaken / r.workload.buyers;
    L.push(
      `- The race for the ${r.venue.capacity} seats is over within about ${n0(base.medianLastHoldMs)} ms for ${BASELINE} (column "last hold at"); after that every call is a refusal. ${f(share * 100, 1)} % of ${BASELINE}'s calls were refusals, so calls/s mostly measures how cheaply a strategy says no under contention, p99 how long the slowest 1 % of buyers wait for their answer.`,
    );
  }
  for (const x of r.summary.filter((y) => y.failedTotal > 0)) {
    const calls = x.rounds * r.workload.buyers;
    L.push(
      `- ${x.name}: ${f((x.failedTotal / calls) * 100, 1)} % of its calls over all rounds got no answer, only an error (${reasons(x.failureReasons)}): buyers who must retry, with seats possibly still free.`,
    );
  }
  for (const x of r.summary.filter((y) => !y.claimsCorrect)) {
    L.push(
      `- ${x.name} is fast because it is wrong: in its worst round ${x.maxOversoldSeats} of ${r.venue.capacity} seats were promised to more than one buyer (${n0(x.medianHeld)} buyers told "held" for ${r.venue.capacity} seats, median).`,
    );
  }
  if (r.machine.mysql.flushLogAtTrxCommit !== "1") {
    L.push(
      `- MariaDB ran with innodb_flush_log_at_trx_commit=${r.machine.mysql.flushLogAtTrxCommit} (no fsync per COMMIT): a durable MySQL would make both MySQL strategies slower still for every successful hold.`,
    );
  }
  L.push(
    `- Everything (driver, client libraries, strategy logic) runs in one Node process next to the stores on ${r.machine.nproc} shared cores (load ${r.machine.loadAvgBefore[0]} at start): absolute figures move between runs, the ratios of runs side by side much less. Node and store CPU per call are in the rounds table.`,
  );
  return L;
}

export function headline(r: StrategiesResult): string {
  return r.summary
    .map(
      (x) =>
        `${x.name} ${n0(x.medianCallsPerSecond)}/s${x.name === BASELINE ? "" : ` (${f(x.ratioVsLua, 2)}×)`}, p99 ${f(x.medianP99Ms, 1)} ms, failed ${n0(x.medianFailed)}, oversold ${x.maxOversoldSeats}`,
    )
    .join("; ");
}

export function markdown(r: StrategiesResult): string {
  const L: string[] = [];
  L.push(`# Seat-hold strategies ${r.startedAt}`);
  L.push("");
  L.push(`Run \`${r.runId}\`, ${r.durationSeconds} s, \`${r.command}\`. Verdict: **${r.ok ? "passed" : "FAILED"}**.`);
  if (r.failures.length) {
    L.push("");
    for (const x of r.failures) L.push(`- ${esc(x)}`);
  }
  L.push("");
  L.push(
    `## Summary (medians of ${r.settings.rounds} rounds; ${r.workload.buyers.toLocaleString("en-US")} buyers for ${r.venue.capacity} seats at concurrency ${r.workload.concurrency})`,
  );
  L.push("");
  L.push(...summaryTable(r));
  L.push("");
  L.push(...readingNotes(r));
  L.push("");
  L.push("## Setup");
  L.push("");
  L.push(
    `- Code under test: commit \`${r.source.commit.slice(0, 12)}\` (${r.source.note})${r.source.dirty.length ? `; uncommitted: ${r.source.dirty.join(", ")}` : ""}.`,
  );
  L.push(...setupLines(r));
  L.push("");
  L.push("## Rounds");
  L.push("");
  L.push(...roundsTable(r));
  L.push("");
  L.push("## Invariant checks (store read back after each round)");
  L.push("");
  L.push(...checksTables(r));
  L.push("## Machine");
  L.push("");
  L.push(...machineLines(r));
  L.push("");
  L.push("<details><summary>What else ran (ps at start)</summary>");
  L.push("");
  L.push("```");
  for (const s of r.machine.otherServices) L.push(s);
  L.push("```");
  L.push("");
  L.push("</details>");
  L.push("");
  return L.join("\n");
}

export function writeStrategyReports(r: StrategiesResult, stamp: string): string[] {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const base = path.join(RESULTS_DIR, `strategies-${stamp}`);
  const json = JSON.stringify(
    r,
    (_key, value: unknown) => (typeof value === "number" && !Number.isFinite(value) ? null : value),
    2,
  );
  fs.writeFileSync(`${base}.json`, `${json}\n`);
  fs.writeFileSync(`${base}.md`, markdown(r));
  writeIndex();
  return [`${base}.json`, `${base}.md`, path.join(BENCH_DIR, "STRATEGIES-RESULTS.md")];
}

/** bench/STRATEGIES-RESULTS.md from every results/strategies-*.json. */
export function writeIndex(): void {
  const runs = readRuns<StrategiesResult>("strategies");
  const L: string[] = [];
  L.push("# Seat-hold strategies: results");
  L.push("");
  L.push(
    "The usual ways to hold seats against our Lua hold on the same contention (100 seats, many buyers), as [`docs/BENCHMARKING.md`](../docs/BENCHMARKING.md) asks for. Regenerated by `npm run bench:strategies` from the raw `bench/results/strategies-*.json` of the runs made here (not committed; rows of runs made elsewhere are kept); how it works: [`README.md`](README.md#npm-run-benchstrategies-benchstrategiests).",
  );
  L.push("");
  const latest = runs[0];
  if (latest) {
    const r = latest.r;
    const md = latest.file.replace(/\.json$/, ".md");
    L.push(`## Latest — [${md}](results/${md})`);
    L.push("");
    L.push(
      `${r.startedAt}, code at \`${r.source.commit.slice(0, 12)}\`${r.source.dirty.length ? " + uncommitted edits" : ""}, ${r.durationSeconds} s; verdict **${r.ok ? "passed" : "FAILED"}**.`,
    );
    L.push("");
    L.push("```sh");
    L.push(r.command);
    L.push("```");
    L.push("");
    L.push(
      `Medians of ${r.settings.rounds} interleaved rounds; ${r.workload.buyers.toLocaleString("en-US")} buyers for ${r.venue.capacity} seats, 1–${r.venue.maxSeatsPerBuyer} seats each, ${r.workload.concurrency} calls in flight:`,
    );
    L.push("");
    L.push(...summaryTable(r));
    L.push("");
    L.push(...readingNotes(r));
    L.push("");
    L.push("### Rounds");
    L.push("");
    L.push(...roundsTable(r));
    L.push("");
    L.push("### Setup");
    L.push("");
    L.push(...setupLines(r));
    L.push("");
    L.push("### Machine");
    L.push("");
    L.push(...machineLines(r));
    L.push("");
  }
  L.push("## All runs");
  L.push("");
  L.push("| run | code | machine | buyers / concurrency | headline (medians) | verdict | report |");
  L.push("| --- | --- | --- | --- | --- | --- | --- |");
  const firstRow = L.length;
  for (const { file, r } of runs) {
    const md = file.replace(/\.json$/, ".md");
    L.push(
      `| ${r.startedAt} | ${r.source.commit.slice(0, 7)}${r.source.dirty.length ? "+dirty" : ""} | ${r.machine.nproc} cores, load ${r.machine.loadAvgBefore[0]} | ${r.workload.buyers.toLocaleString("en-US")} / ${r.workload.concurrency} | ${esc(headline(r))} | ${r.ok ? "passed" : "FAILED"} | [md](results/${md}) |`,
    );
  }
  L.push(
    ...withEarlierRuns(
      path.join(BENCH_DIR, "STRATEGIES-RESULTS.md"),
      "strategies",
      runs.map((x) => x.file),
      L.splice(firstRow),
    ),
  );
  L.push("");
  fs.writeFileSync(path.join(BENCH_DIR, "STRATEGIES-RESULTS.md"), L.join("\n"));
}
