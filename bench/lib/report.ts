// Writes bench/results/holds-<timestamp>.{json,md,html} and regenerates
// bench/RESULTS.md (latest summary + every run's headline, newest first).
import fs from "node:fs";
import path from "node:path";
import { repoRoot } from "../../tools/devstack/stack.js";
import type { RoundSeries } from "./charts.js";
import type { GhzRun } from "./ghz.js";
import type { CeilingRun } from "./redis.js";
import type { BenchStack } from "./stack.js";
import type { MachineInfo, SourceInfo } from "./sys.js";
import type { Check } from "./invariants.js";
import { round } from "./stats.js";
import { BENCH_DIR, RESULTS_DIR, readRuns, withEarlierRuns } from "./results.js";

/** The knobs of a run (bench/holds.ts reads them from the environment). */
export interface HoldsSettings {
  n: number;
  rounds: number;
  concurrency: number;
  connections: number;
  skipFirst: number;
  warmupCalls: number;
  contentionCalls: number;
  contentionMaxSeats: number;
  ceilingCalls: number;
  ceilingClients: number;
  ceilingRuns: number;
  ghzCpus: number;
  ghzGogc: number;
  latencyTargetSeconds: number;
  latencyMaxCalls: number;
  htmlCalls: number;
  ratioGoal: number;
  ghzCpuFlag: number;
}

export interface RoundResult {
  phase: "warmup" | "throughput" | "latency" | "html" | "contention";
  round: number;
  /** HoldSeatsAuthOff: HoldSeats against a second API with authentication off (BENCH_AUTH_BASELINE). */
  call: "Noop" | "Eval" | "HoldSeats" | "HoldSeatsAuthOff";
  eventId?: string;
  rpsTarget?: number;
  ghz: GhzRun;
  /** Calls sent (including the --skipFirst warm-up). */
  sent: number;
  apiCpuSeconds: number;
  apiCpuUsPerCall: number;
  apiCores: number;
  redisCpuSeconds: number;
  /** Redis process CPU per call sent (any reply). */
  redisCpuUsPerCall: number;
  /** Successful holds created in the round (version delta of the event). */
  holdsCreated?: number;
  redisCpuUsPerHold?: number;
  /** Script execution time per script call in the round (INFO commandstats; no network I/O). */
  scriptUsPerCall?: number;
  /** Calls per socket read Redis served in the round: how many commands the API's pipelining put in one write. */
  callsPerRedisRead?: number;
  machineBusyCores: number;
  /** Busy CPU not used by ghz, the API or Redis, in cores: everything else on the machine. */
  otherCores: number;
  ghzCpuOverFlag: boolean;
  /** Throughput and latency over time and the latency histogram, from ghz's per-call details (JSON rounds only). */
  series?: RoundSeries;
}

export interface BenchResult {
  kind: "holds";
  schema: 1;
  runId: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  ok: boolean;
  failures: string[];
  settings: HoldsSettings;
  source: SourceInfo;
  machine: MachineInfo & { ghz: string; redis: string; loadAvgAfter: number[] };
  stack: {
    own: BenchStack["own"];
    pids: Record<string, number>;
    redisUrl: string;
    mysqlUrl: string;
    temporalAddress: string;
    apiCommand: string;
    apiPid: number;
  };
  events: { role: string; eventId: string; capacity: number; limit: number; layout: string }[];
  requestBytes: { holdSeats: number; noop: number };
  warmup: RoundResult[];
  throughput: {
    rounds: RoundResult[];
    medianNoopRps: number;
    medianHoldRps: number;
    pairRatios: number[];
    medianRatio: number;
    ratioOfMedians: number;
    goal: number;
    goalMet: boolean;
    medianApiUsPerNoop: number;
    medianApiUsPerHold: number;
    /** API CPU per Noop / API CPU per HoldSeats: the ratio if the API alone were CPU-bound, independent of the generator. */
    cpuRatio: number;
    /**
     * NoopService.Eval: the same pipeline plus one Redis script call of one
     * INCR (lua/bench_one_script.lua), the least any call with a script costs.
     * Eval/Noop is the ceiling of HoldSeats/Noop on this machine.
     */
    eval?: {
      medianRps: number;
      pairRatios: number[];
      /** Median of Eval/Noop per round. */
      medianRatio: number;
      /** Median of HoldSeats/Eval per round: what the hold costs beyond one script call. */
      medianHoldOverEval: number;
      medianApiUsPerCall: number;
      machineUsPerCall: { ghz: number; api: number; redis: number };
      /**
       * (ghz + API + Redis per Noop) / (ghz + Redis per HoldSeats + API per
       * Eval): the ratio HoldSeats/Noop would reach if a hold cost the API no
       * more than a bare one-script call, with ghz's and Redis's cost per hold
       * as measured.
       */
      ceilingIfApiAtEval: number;
    };
    /** Median CPU per call of each process in the rounds (µs): what one call costs the whole machine. */
    machineUsPerNoop?: { ghz: number; api: number; redis: number };
    machineUsPerHold?: { ghz: number; api: number; redis: number };
    /** (ghz + API + Redis per Noop) / (the same per HoldSeats): the ratio if the cores were the only limit. */
    machineCpuRatio?: number;
    /**
     * The same with the API charged only Noop's cost for a hold: the best the
     * ratio can get on these cores even if the hold path cost the API nothing,
     * because ghz and Redis share them.
     */
    ceilingIfApiFree?: number;
    medianGhzCoresNoop: number;
    medianGhzCoresHold: number;
    generatorLimited: boolean;
    /**
     * What authentication costs a HoldSeats call: the same rounds against a
     * second API process with authentication off (BENCH_AUTH_BASELINE=on, every
     * call the one operator principal the bench token gives), interleaved with
     * the authenticated rounds. Goal (#15): API CPU per call on ≤ 1.05 × off.
     */
    authCost?: {
      medianApiUsPerHoldOn: number;
      medianApiUsPerHoldOff: number;
      /** Median of per-round (on ÷ off) API CPU per HoldSeats. */
      medianRatio: number;
      pairRatios: number[];
      goal: number;
      goalMet: boolean;
    };
  };
  latency: {
    rpsTarget: number;
    rounds: RoundResult[];
    medianNoopP50: number;
    medianNoopP99: number;
    medianHoldP50: number;
    medianHoldP99: number;
  };
  html?: { file: string; round: RoundResult };
  redis: {
    cpuUsPerHold: number;
    /** Script execution time per HoldSeats over gRPC (INFO commandstats), without network I/O. */
    scriptUsPerHold: number;
    holdsMeasured: number;
    script: { name: string; sha: string };
    ceiling: CeilingRun[];
    medianCeilingRps: number;
    medianCeilingCpuUsPerCall: number;
    medianCeilingScriptUsPerCall: number;
    grpcOverCeiling: number;
  };
  bigEvent: { checks: Check[]; holds: number; heldSeats: number; callsSent: number };
  contention: {
    eventId: string;
    calls: number;
    seed: number;
    seatsRequested: number;
    round: RoundResult;
    codes: Record<string, number>;
    errorKinds: Record<string, number>;
    holds: number;
    heldSeats: number;
    checks: Check[];
  };
  ok_invariants: boolean;
}

const n0 = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? "–" : Math.round(x).toLocaleString("en-US");
const f = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? "–" : round(x, d).toString());
const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "–" : `${Math.round(x * 100)} %`);
const codes = (c: Record<string, number> | undefined) =>
  c && Object.keys(c).length
    ? Object.entries(c)
        .map(([k, v]) => `${k} ${v.toLocaleString("en-US")}`)
        .join(", ")
    : "–";

function roundRow(r: RoundResult, withTarget = false): string {
  const s = r.ghz.summary;
  const cells = [
    `${r.round}`,
    r.call,
    ...(withTarget ? [n0(r.rpsTarget)] : []),
    n0(s?.rps),
    f(s?.latencyMs.p50, 2),
    f(s?.latencyMs.p99, 2),
    codes(s?.codes),
    `${pct(r.ghz.cpuCores)}${r.ghzCpuOverFlag ? " ⚠" : ""}`,
    f(r.apiCpuUsPerCall),
    pct(r.apiCores),
    r.holdsCreated !== undefined ? `${f(r.redisCpuUsPerHold, 1)} / ${f(r.scriptUsPerCall, 1)}` : "–",
    pct(r.otherCores),
  ];
  return `| ${cells.join(" | ")} |`;
}

const ROUND_HEAD =
  "| round | call | calls/s | p50 ms | p99 ms | codes (tallied) | ghz CPU (of a core) | API CPU µs/call | API CPU (of a core) | Redis CPU / script µs per hold | rest of machine |\n" +
  "| ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |";
const LAT_HEAD =
  "| round | call | target calls/s | calls/s | p50 ms | p99 ms | codes (tallied) | ghz CPU (of a core) | API CPU µs/call | API CPU (of a core) | Redis CPU / script µs per hold | rest of machine |\n" +
  "| ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |";

function checksTable(checks: Check[]): string {
  return [
    "| check | result | detail |",
    "| --- | --- | --- |",
    ...checks.map((c) => `| ${c.name} | ${c.ok ? "ok" : "**BROKEN**"} | ${c.detail.replace(/\|/g, "\\|")} |`),
  ].join("\n");
}

export function headline(r: BenchResult): string {
  const t = r.throughput;
  return (
    `HoldSeats/Noop **${f(t.medianRatio, 2)}** (goal ≥ ${t.goal}: ${t.goalMet ? "met" : "**not met**"}); ` +
    `HoldSeats ${n0(t.medianHoldRps)}/s vs Noop ${n0(t.medianNoopRps)}/s; ` +
    `at ${n0(r.latency.rpsTarget)}/s p50/p99 HoldSeats ${f(r.latency.medianHoldP50, 2)}/${f(r.latency.medianHoldP99, 2)} ms, Noop ${f(r.latency.medianNoopP50, 2)}/${f(r.latency.medianNoopP99, 2)} ms; ` +
    `Redis ${f(r.redis.cpuUsPerHold, 1)} µs CPU/hold (${f(r.redis.scriptUsPerHold, 1)} µs in the script), script ceiling ${n0(r.redis.medianCeilingRps)}/s (gRPC = ${f(r.redis.grpcOverCeiling, 2)} of it); ` +
    `contention ${n0(r.contention.round.ghz.summary?.rps)}/s, ${r.contention.holds} holds on ${r.contention.heldSeats}/100 seats; ` +
    `invariants ${r.ok_invariants ? "ok" : "**BROKEN**"}`
  );
}

export function markdown(r: BenchResult): string {
  const L: string[] = [];
  titleLines(r, L);
  machineLines(r, L);
  setupLines(r, L);
  throughputLines(r, L);
  latencyLines(r, L);
  redisLines(r, L);
  contentionLines(r, L);
  commandLines(r, L);
  return L.join("\n").replace(/\/tmp\/ticketing-bench-[A-Za-z0-9]+\//g, "");
}

/** The ghz command line of a round of `call`. */
function first(rs: RoundResult[], call: string): string {
  return rs.find((x) => x.call === call)?.ghz.command ?? "";
}

/** The title, the verdict, the headline and the generator's warning. */
function titleLines(r: BenchResult, L: string[]): void {
  const t = r.throughput;
  const m = r.machine;
  L.push(`# HoldSeats benchmark ${r.startedAt}`);
  L.push("");
  L.push(
    `Run \`${r.runId}\`, ${r.durationSeconds} s, \`npm run bench:holds\`. Verdict: **${r.ok ? "passed" : "FAILED"}**.`,
  );
  if (r.failures.length) {
    L.push("");
    for (const x of r.failures) L.push(`- ${x}`);
  }
  L.push("");
  L.push(`**Headline:** ${headline(r)}.`);
  L.push("");
  if (t.generatorLimited) {
    L.push(
      `> ⚠ In at least one round ghz used more than ${Math.round(r.settings.ghzCpuFlag * 100)} % of a core (marked ⚠ below): on this ${m.nproc}-core machine the load generator competed with the API for CPU, so those rounds did not measure the server's limit alone.`,
    );
    L.push("");
  }
}

/** Machine: the hardware and what else ran. */
function machineLines(r: BenchResult, L: string[]): void {
  const t = r.throughput;
  const m = r.machine;
  L.push("## Machine");
  L.push("");
  L.push("| | |");
  L.push("| --- | --- |");
  L.push(`| cores (nproc) | ${m.nproc} |`);
  L.push(`| CPU | ${m.cpuModel} |`);
  L.push(`| memory | ${m.memTotalMb} MB |`);
  L.push(`| kernel / Node | ${m.kernel} / ${m.node} |`);
  L.push(`| ghz / Redis | ${m.ghz} / ${m.redis} |`);
  L.push(`| load average before / after | ${m.loadAvgBefore.join(" ")} / ${m.loadAvgAfter.join(" ")} |`);
  L.push(
    `| rest of machine during the rounds | median ${pct(median(t.rounds.map((x) => x.otherCores)))} of a core busy outside ghz, the API and Redis (column "rest of machine") |`,
  );
  L.push("");
  L.push("<details><summary>What else ran (ps at start)</summary>");
  L.push("");
  L.push("```");
  for (const s of m.otherServices) L.push(s);
  L.push("```");
  L.push("");
  L.push("</details>");
  L.push("");
}

/** Setup: the code, the stack, the events, the requests and how they are measured. */
function setupLines(r: BenchResult, L: string[]): void {
  const m = r.machine;
  L.push("## Setup");
  L.push("");
  L.push(
    `- Code under test: commit \`${r.source.commit.slice(0, 12)}\` (${r.source.note})${r.source.dirty.length ? `; uncommitted: ${r.source.dirty.join(", ")}` : ""}.`,
  );
  const own = r.stack.own;
  L.push(
    `- Stack: Redis ${own.redis ? "started by the bench" : `reused (${r.stack.redisUrl})`}, MariaDB ${own.mysql ? "started by the bench" : "reused"}, Temporal dev server ${own.temporal ? "in memory, started by the bench" : "reused"}; all on 127.0.0.1.`,
  );
  L.push(`- API (pid ${r.stack.apiPid}): \`${r.stack.apiCommand}\``);
  for (const e of r.events)
    L.push(
      `- Event \`${e.eventId}\`: ${e.role}; ${e.layout}; ${e.capacity.toLocaleString("en-US")} seats; sale OPEN, waiting room off, limit ${e.limit} per buyer; loaded straight into Redis with \`Inventory.load\`.`,
    );
  L.push(
    `- Request bodies: HoldSeats ${r.requestBytes.holdSeats} B (2 seats, run-prefixed buyer and request ids, unique per call), Noop ${r.requestBytes.noop} B (payload sized to match). Both from generated \`--data-file\` JSON arrays with one message per call (ghz uses element *request number mod length* for unary calls and parses each element once).`,
  );
  L.push(
    `- ghz: \`--connections ${r.settings.connections} --concurrency ${r.settings.concurrency}\`, ${r.settings.n.toLocaleString("en-US")} calls per throughput round, first ${r.settings.skipFirst.toLocaleString("en-US")} skipped (warm-up), ${r.settings.rounds} rounds of each, interleaved. Before them, ${r.settings.warmupCalls.toLocaleString("en-US")} untallied calls of each.`,
  );
  L.push(
    "- calls/s = tallied calls / (last tallied call's end − first tallied call's start). ghz's own `rps` divides tallied calls by the whole run including the skipped warm-up; both are in the JSON.",
  );
  L.push(
    `- ghz runs with \`--cpus ${r.settings.ghzCpus}\` and \`GOGC=${r.settings.ghzGogc}\` (on ${m.nproc} cores this keeps the generator to one core and cuts its GC work; it is still the dearest process per call, see the ghz CPU column).`,
  );
  L.push(
    "- CPU: ghz from bash `times` after it exits; API from /proc/<pid>/stat (utime+stime) over the round, per call sent; Redis from INFO cpu (used_cpu_sys+used_cpu_user) over the round, per hold created (the event's version is INCR'd by every successful hold), and script execution time per EVALSHA from INFO commandstats (no network I/O); rest of machine = /proc/stat busy − the three.",
  );
  L.push("");
}

/** Throughput, interleaved rounds. */
function throughputLines(r: BenchResult, L: string[]): void {
  const t = r.throughput;
  L.push("## Throughput (interleaved)");
  L.push("");
  L.push(ROUND_HEAD);
  for (const x of t.rounds) L.push(roundRow(x));
  L.push("");
  L.push("| | Noop (baseline) | HoldSeats | ratio HoldSeats/Noop |");
  L.push("| --- | ---: | ---: | ---: |");
  L.push(
    `| median calls/s | ${n0(t.medianNoopRps)} | ${n0(t.medianHoldRps)} | median of per-pair ratios **${f(t.medianRatio, 3)}** (pairs ${t.pairRatios.join(", ")}); ratio of medians ${f(t.ratioOfMedians, 3)} |`,
  );
  L.push(`| goal | | | ≥ ${t.goal}: ${t.goalMet ? "met" : "**not met**"} |`);
  L.push(
    `| median API CPU per call | ${f(t.medianApiUsPerNoop)} µs | ${f(t.medianApiUsPerHold)} µs | the hold path adds ${f(t.medianApiUsPerHold - t.medianApiUsPerNoop)} µs of API CPU per call |`,
  );
  L.push(
    `| CPU-derived ratio | | | API µs per Noop ÷ API µs per HoldSeats = **${f(t.cpuRatio, 3)}**: what the ratio would be if the API had a core to itself and the generator cost nothing |`,
  );
  L.push(
    `| median ghz CPU | ${pct(t.medianGhzCoresNoop)} of a core | ${pct(t.medianGhzCoresHold)} of a core | flag above ${pct(r.settings.ghzCpuFlag)}: ${t.generatorLimited ? "**exceeded**" : "not exceeded"} |`,
  );
  if (t.authCost) {
    const a = t.authCost;
    L.push(
      `| authentication's cost (HoldSeats against a second API with authentication off, same rounds) | | API ${f(a.medianApiUsPerHoldOn)} µs on, ${f(a.medianApiUsPerHoldOff)} µs off | on/off **${f(a.medianRatio, 3)}** (rounds ${a.pairRatios.join(", ")}; goal ≤ ${a.goal}: ${a.goalMet ? "met" : "**not met**"}) |`,
    );
  }
  if (t.eval) {
    const e = t.eval;
    L.push(
      `| one-script baseline (NoopService.Eval: the pipeline plus one script of one INCR) | | ${n0(e.medianRps)} calls/s, API ${f(e.medianApiUsPerCall)} µs | Eval/Noop **${f(e.medianRatio, 3)}** (pairs ${e.pairRatios.join(", ")}): what any call with one script call reaches at best; HoldSeats/Eval ${f(e.medianHoldOverEval, 3)} |`,
    );
    L.push(
      `| CPU per Eval call, ghz + API + Redis | | ${f(e.machineUsPerCall.ghz)} + ${f(e.machineUsPerCall.api)} + ${f(e.machineUsPerCall.redis)} µs | |`,
    );
    if (e.ceilingIfApiAtEval !== undefined) {
      L.push(
        `| ceiling if a hold cost the API no more than Eval | | | **${f(e.ceilingIfApiAtEval, 3)}**: (ghz + API + Redis per Noop) ÷ (ghz + Redis per HoldSeats + API per Eval); a hold cannot cost the API less than one script call, so with the generator's and Redis's cost per hold as measured, HoldSeats/Noop stays under this |`,
      );
    }
  }
  if (t.machineUsPerNoop && t.machineUsPerHold) {
    const a = t.machineUsPerNoop;
    const b = t.machineUsPerHold;
    L.push(
      `| CPU per call, ghz + API + Redis | ${f(a.ghz)} + ${f(a.api)} + ${f(a.redis)} µs | ${f(b.ghz)} + ${f(b.api)} + ${f(b.redis)} µs | whole-machine CPU-derived ratio **${f(t.machineCpuRatio, 3)}** (all three share the same ${r.machine.nproc} cores) |`,
    );
    L.push(
      `| ceiling if a hold cost the API no more than Noop | | | **${f(t.ceilingIfApiFree, 3)}**: (ghz + API + Redis per Noop) ÷ (ghz + Redis per HoldSeats + API per Noop); the generator's and Redis's share of the cores alone keep the ratio under this |`,
    );
  }
  L.push("");
}

/** Latency at load. */
function latencyLines(r: BenchResult, L: string[]): void {
  L.push("## Latency at load");
  L.push("");
  L.push(
    `Both calls at \`--rps ${r.latency.rpsTarget}\` = 50 % of HoldSeats' median maximum (the same offered load for both, so the difference is the hold's cost), ${r.settings.rounds} interleaved rounds, first 5 % skipped.`,
  );
  L.push("");
  L.push(LAT_HEAD);
  for (const x of r.latency.rounds) L.push(roundRow(x, true));
  L.push("");
  L.push(
    `Median p50 / p99: HoldSeats **${f(r.latency.medianHoldP50, 2)} / ${f(r.latency.medianHoldP99, 2)} ms**, Noop ${f(r.latency.medianNoopP50, 2)} / ${f(r.latency.medianNoopP99, 2)} ms.`,
  );
  if (r.html) {
    L.push("");
    L.push(
      `ghz HTML report of one extra HoldSeats round (${r.html.round.sent.toLocaleString("en-US")} calls, not tallied above): \`${path.basename(r.html.file)}\` (raw output, not committed: the bench writes it beside this report).`,
    );
  }
  L.push("");
}

/** Redis: CPU per hold and the script's ceiling. */
function redisLines(r: BenchResult, L: string[]): void {
  const t = r.throughput;
  L.push("## Redis");
  L.push("");
  L.push(
    `- Redis CPU per hold over gRPC: **${f(r.redis.cpuUsPerHold, 2)} µs** of redis-server process CPU, network I/O included (INFO cpu delta over the ${r.settings.rounds} HoldSeats throughput rounds / ${r.redis.holdsMeasured.toLocaleString("en-US")} holds created), of which **${f(r.redis.scriptUsPerHold, 2)} µs** executing the script (INFO commandstats, median of the rounds; wall time inside Redis, so it also grows when the machine is busy).`,
  );
  L.push(
    `- Ceiling of the script alone: \`${r.redis.script.name}\`, SHA \`${r.redis.script.sha}\`, ${r.redis.ceiling.length} runs of redis-benchmark (unpipelined, ${r.redis.ceiling[0]?.calls.toLocaleString("en-US")} calls, 50 clients). Every \`__rand_int__\` is an independent 12-digit random number per call: a new hold id (the API derives it from event, buyer and request id) and buyer, and 2 seats drawn from 10^8 ids per row, so almost every call is a real, successful 2-seat hold; the rest found a seat taken (TAKEN). OK is counted exactly (the event's version delta); the script's replies are not visible to redis-benchmark, so the not-OK are inferred to be TAKEN — REPLAY or LIMIT would need the same random hold id or buyer drawn twice.`,
  );
  L.push("");
  L.push(
    "| run | EVALSHA/s | p50 ms | p99 ms | OK | not OK (TAKEN) | Redis CPU µs/call | script µs/call | redis-benchmark CPU |",
  );
  L.push("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  r.redis.ceiling.forEach((c, i) =>
    L.push(
      `| ${i + 1} | ${n0(c.rps)} | ${f(c.p50Ms, 3)} | ${f(c.p99Ms, 3)} | ${c.ok.toLocaleString("en-US")} | ${c.notOk.toLocaleString("en-US")} | ${f(c.redisCpuUsPerCall, 2)} | ${f(c.scriptUsPerCall, 2)} | ${pct(c.benchmarkCpuSeconds / c.wallSeconds)} |`,
    ),
  );
  L.push("");
  L.push(
    `Median ceiling **${n0(r.redis.medianCeilingRps)} holds/s** (${f(r.redis.medianCeilingCpuUsPerCall, 2)} µs Redis CPU, ${f(r.redis.medianCeilingScriptUsPerCall, 2)} µs script time per call); HoldSeats over gRPC reaches **${f(r.redis.grpcOverCeiling, 3)}** of it (${n0(t.medianHoldRps)}/s).`,
  );
  L.push("");
}

/** Contention: 100 seats. */
function contentionLines(r: BenchResult, L: string[]): void {
  const c = r.contention;
  L.push("## Contention: 100 seats");
  L.push("");
  const cs = c.round.ghz.summary;
  L.push(
    `${c.calls.toLocaleString("en-US")} HoldSeats calls for event \`${c.eventId}\` (4 rows × 25 seats), each for 1–4 random distinct seats (xorshift seed ${c.seed}; ${c.seatsRequested.toLocaleString("en-US")} seats asked for in all), unique buyer and request ids; same ghz connections/concurrency, no warm-up skipped, \`--count-errors\` (latencies include the refusals).`,
  );
  L.push("");
  L.push(
    "| calls/s | p50 ms | p99 ms | codes | refusals | holds | seats held | ghz CPU | API CPU µs/call | Redis CPU µs/call | script µs/call |",
  );
  L.push("| ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  L.push(
    `| ${n0(cs?.rps)} | ${f(cs?.latencyMs.p50, 2)} | ${f(cs?.latencyMs.p99, 2)} | ${codes(c.codes)} | ${
      Object.entries(c.errorKinds)
        .map(([k, v]) => `${k} × ${v.toLocaleString("en-US")}`)
        .join("; ") || "–"
    } | ${c.holds} | ${c.heldSeats} | ${pct(c.round.ghz.cpuCores)} | ${f(c.round.apiCpuUsPerCall)} | ${f((c.round.redisCpuSeconds / c.calls) * 1e6, 2)} | ${f(c.round.scriptUsPerCall, 2)} |`,
  );
  L.push("");
  L.push("### Invariant check (contention event, read from Redis after the run)");
  L.push("");
  L.push(checksTable(c.checks));
  L.push("");
  L.push("### Invariant check (throughput event)");
  L.push("");
  L.push(checksTable(r.bigEvent.checks));
  L.push("");
}

/** Command lines. */
function commandLines(r: BenchResult, L: string[]): void {
  const t = r.throughput;
  const c = r.contention;
  L.push("## Command lines");
  L.push("");
  L.push("Paths relative to the repository; data files are generated in a temp dir per run (`data/…`).");
  L.push("");
  L.push("```sh");
  L.push("npm run bench:holds");
  L.push(`# throughput, Noop:\n${first(t.rounds, "Noop")}`);
  L.push(`# throughput, HoldSeats:\n${first(t.rounds, "HoldSeats")}`);
  L.push(`# latency at load, HoldSeats:\n${first(r.latency.rounds, "HoldSeats")}`);
  if (r.html) L.push(`# HTML report:\n${r.html.round.ghz.command}`);
  L.push(`# contention:\n${c.round.ghz.command}`);
  L.push(`# Redis ceiling:\n${r.redis.ceiling[0]?.command ?? ""}`);
  L.push("```");
  L.push("");
}

function median(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function writeReports(r: BenchResult, stamp: string): string[] {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const base = path.join(RESULTS_DIR, `holds-${stamp}`);
  const files: string[] = [];
  if (r.html && fs.existsSync(r.html.file)) {
    fs.copyFileSync(r.html.file, `${base}.html`);
    r.html.file = `${base}.html`;
    files.push(`${base}.html`);
  }
  const json = JSON.stringify(
    r,
    (_key, value: unknown) =>
      typeof value === "string"
        ? value.replace(/\/tmp\/ticketing-bench-[A-Za-z0-9]+\//g, "").replace(`${repoRoot}/`, "")
        : value,
    2,
  );
  fs.writeFileSync(`${base}.json`, `${json}\n`);
  files.push(`${base}.json`);
  fs.writeFileSync(`${base}.md`, markdown(r));
  files.push(`${base}.md`);
  writeIndex();
  files.push(path.join(BENCH_DIR, "RESULTS.md"));
  return files;
}

const GOALS_START = "<!-- goals: each bench rewrites its own rows; bench:holds keeps this block -->";
const GOALS_END = "<!-- /goals -->";
const GOALS_HEAD = [
  "## Goals (issue #19: CPU per call by process from /proc; latencies where said)",
  "",
  "| goal | target | measured | verdict | run, load average at start | report |",
  "| --- | --- | --- | --- | --- | --- |",
];

/** The goal rows kept in bench/RESULTS.md (between the goals markers). */
export function goalRows(file: string): string[] {
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  const start = text.indexOf(GOALS_START);
  const end = text.indexOf(GOALS_END);
  if (start < 0 || end < start) return [];
  return text
    .slice(start + GOALS_START.length, end)
    .split("\n")
    .filter((l) => l.startsWith("| ") && !GOALS_HEAD.includes(l));
}

function goalsBlock(rows: string[]): string[] {
  return rows.length ? [GOALS_START, ...GOALS_HEAD, ...rows, GOALS_END, ""] : [];
}

/**
 * Replaces the goal rows of `goal` (rows starting "| <goal>,") in bench/RESULTS.md
 * with `rows`, keeping the rest of the file as it is.
 */
export function writeGoalLines(goal: string, rows: string[], file = path.join(BENCH_DIR, "RESULTS.md")): void {
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "# Benchmark results\n";
  const kept = goalRows(file).filter((l) => !l.startsWith(`| ${goal},`));
  const block = goalsBlock([...kept, ...rows]).join("\n");
  const start = text.indexOf(GOALS_START);
  const end = text.indexOf(GOALS_END);
  let out: string;
  if (start >= 0 && end > start) out = text.slice(0, start) + block + text.slice(end + GOALS_END.length + 1);
  else {
    // after the title and its first paragraph
    const at = text.indexOf("\n## ");
    out = at < 0 ? `${text}\n${block}` : `${text.slice(0, at + 1)}${block}\n${text.slice(at + 1)}`;
  }
  fs.writeFileSync(file, out);
}

/** bench/RESULTS.md: the latest run's summary and every run's headline, from bench/results/*.json. */
export function writeIndex(): void {
  const runs = readRuns<BenchResult>("holds");
  const L: string[] = [];
  L.push("# Benchmark results");
  L.push("");
  L.push(
    "How we measure: [`docs/BENCHMARKING.md`](../docs/BENCHMARKING.md). Regenerated by `npm run bench:holds` from the raw `bench/results/*.json` of the runs made here (not committed; rows of runs made elsewhere are kept).",
  );
  L.push("");
  L.push(...goalsBlock(goalRows(path.join(BENCH_DIR, "RESULTS.md"))));
  const latest = runs[0];
  if (latest) {
    const r = latest.r;
    const t = r.throughput;
    const md = latest.file.replace(/\.json$/, ".md");
    L.push(`## Latest: HoldSeats — [${md}](results/${md})`);
    L.push("");
    L.push(
      `${r.startedAt}, code at \`${r.source?.commit.slice(0, 12) ?? "?"}\`${r.source?.dirty.length ? " + uncommitted edits" : ""}, ${r.machine.nproc} cores (${r.machine.cpuModel}), load ${r.machine.loadAvgBefore.join(" ")} at start; verdict **${r.ok ? "passed" : "FAILED"}**.`,
    );
    L.push("");
    L.push("| measure | value |");
    L.push("| --- | --- |");
    L.push(`| Noop (baseline), median of ${r.settings.rounds} | ${n0(t.medianNoopRps)} calls/s |`);
    L.push(`| HoldSeats, median of ${r.settings.rounds} | ${n0(t.medianHoldRps)} calls/s |`);
    L.push(
      `| **HoldSeats / Noop** (median of interleaved pairs) | **${f(t.medianRatio, 3)}** (goal ≥ ${t.goal}: ${t.goalMet ? "met" : "not met"}) |`,
    );
    L.push(
      `| API CPU per call, Noop / HoldSeats | ${f(t.medianApiUsPerNoop)} / ${f(t.medianApiUsPerHold)} µs (CPU-derived ratio ${f(t.cpuRatio, 3)}) |`,
    );
    if (t.authCost) {
      L.push(
        `| API CPU per HoldSeats, authentication on / off (median of rounds) | ${f(t.authCost.medianApiUsPerHoldOn)} / ${f(t.authCost.medianApiUsPerHoldOff)} µs: **${f(t.authCost.medianRatio, 3)}** (goal ≤ ${t.authCost.goal}: ${t.authCost.goalMet ? "met" : "not met"}) |`,
      );
    }
    if (t.eval) {
      L.push(
        `| One-script baseline: Eval/Noop; HoldSeats/Eval; HoldSeats/Noop if a hold cost the API no more than Eval | **${f(t.eval.medianRatio, 3)}**; ${f(t.eval.medianHoldOverEval, 3)}; **${f(t.eval.ceilingIfApiAtEval, 3)}** |`,
      );
    }
    if (t.machineUsPerNoop && t.machineUsPerHold) {
      const a = t.machineUsPerNoop;
      const b = t.machineUsPerHold;
      L.push(
        `| CPU per call, ghz + API + Redis: Noop / HoldSeats | ${f(a.ghz)} + ${f(a.api)} + ${f(a.redis)} / ${f(b.ghz)} + ${f(b.api)} + ${f(b.redis)} µs (whole-machine ratio ${f(t.machineCpuRatio, 3)}; ceiling if a hold cost the API no more than Noop ${f(t.ceilingIfApiFree, 3)}) |`,
      );
    }
    L.push(
      `| ghz CPU, Noop / HoldSeats rounds | ${pct(t.medianGhzCoresNoop)} / ${pct(t.medianGhzCoresHold)} of a core${t.generatorLimited ? " (⚠ over 70 % in some round: the generator competed with the server)" : ""} |`,
    );
    L.push(
      `| p50 / p99 at ${n0(r.latency.rpsTarget)} calls/s (50 % of max), HoldSeats | ${f(r.latency.medianHoldP50, 2)} / ${f(r.latency.medianHoldP99, 2)} ms |`,
    );
    L.push(
      `| p50 / p99 at the same rate, Noop | ${f(r.latency.medianNoopP50, 2)} / ${f(r.latency.medianNoopP99, 2)} ms |`,
    );
    L.push(
      `| Redis per hold over gRPC: process CPU / script time | ${f(r.redis.cpuUsPerHold, 2)} / ${f(r.redis.scriptUsPerHold, 2)} µs |`,
    );
    L.push(
      `| Redis ceiling of hold_seats.lua (redis-benchmark EVALSHA, median) | ${n0(r.redis.medianCeilingRps)} holds/s; HoldSeats over gRPC = ${f(r.redis.grpcOverCeiling, 3)} of it |`,
    );
    const cs = r.contention.round.ghz.summary;
    L.push(
      `| Contention: ${r.contention.calls.toLocaleString("en-US")} calls for 100 seats | ${n0(cs?.rps)} calls/s, p50 / p99 ${f(cs?.latencyMs.p50, 2)} / ${f(cs?.latencyMs.p99, 2)} ms, ${codes(r.contention.codes)}; ${r.contention.holds} holds on ${r.contention.heldSeats} seats |`,
    );
    L.push(
      `| Invariants (no seat in two holds, held = union of holds, sold+held ≤ capacity, every call accounted for) | ${r.ok_invariants ? "ok" : "**BROKEN**"} |`,
    );
    L.push("");
  }
  L.push("## All runs");
  L.push("");
  L.push(
    "| run | code | machine | Noop/s | HoldSeats/s | ratio | HoldSeats p50/p99 at 50 % | Redis µs/hold | ceiling/s | contention | invariants | report |",
  );
  L.push("| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | --- | --- |");
  const firstRow = L.length;
  for (const { file, r } of runs) {
    const t = r.throughput;
    const md = file.replace(/\.json$/, ".md");
    L.push(
      `| ${r.startedAt} | ${r.source?.commit.slice(0, 7) ?? "?"}${r.source?.dirty.length ? "+dirty" : ""} | ${r.machine.nproc} cores, load ${r.machine.loadAvgBefore[0]} | ${n0(t.medianNoopRps)} | ${n0(t.medianHoldRps)} | ${f(t.medianRatio, 3)} | ${f(r.latency.medianHoldP50, 2)} / ${f(r.latency.medianHoldP99, 2)} ms | ${f(r.redis.cpuUsPerHold, 1)} | ${n0(r.redis.medianCeilingRps)} | ${codes(r.contention.codes)} | ${r.ok_invariants ? "ok" : "BROKEN"} | [md](results/${md}) |`,
    );
  }
  L.push(
    ...withEarlierRuns(
      path.join(BENCH_DIR, "RESULTS.md"),
      "holds",
      runs.map((x) => x.file),
      L.splice(firstRow),
    ),
  );
  L.push("");
  fs.writeFileSync(path.join(BENCH_DIR, "RESULTS.md"), L.join("\n"));
}
