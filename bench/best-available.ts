// `npm run bench:best`: HoldBestAvailable on a stadium late in its sale, the
// case where a best-available hold costs the most, against HoldSeats on an
// identical event in the same run (see docs/BENCHMARKING.md):
//   - every round gets two fresh events of BENCH_BEST_SECTIONS (20) sections x
//     BENCH_BEST_ROWS (50) rows x BENCH_BEST_SEATS (30) seats (1,000 rows,
//     30,000 seats), the first BENCH_BEST_SOLD_ROWS (600) rows in order of
//     preference sold;
//   - ghz rounds interleaved HoldSeats (2 named free seats per call, every
//     call its own) and HoldBestAvailable (2 seats, no filter: the script may
//     pick from every row), BENCH_N (5,000) calls each; median ratio
//     HoldBestAvailable/HoldSeats, and the CPU per call of ghz, the API and
//     Redis, and Redis's script time;
//   - the invariants on every best-available event: no seat in two holds,
//     held seats = union of the holds, each hold two adjacent seats of one
//     row, every OK reply a hold in Redis. A broken one exits non-zero.
// Writes bench/results/best-<timestamp>.{json,md} and regenerates
// bench/BEST-RESULTS.md. Starts its own Redis, MariaDB, Temporal and API
// (REDIS_URL / MYSQL_URL / TEMPORAL_ADDRESS reuse existing ones) and stops
// everything it started, also on failure and Ctrl-C.
// Knobs (env): BENCH_N, BENCH_ROUNDS (5: rounds are short), BENCH_CONCURRENCY (64),
// BENCH_CONNECTIONS (4), BENCH_BEST_SECTIONS, BENCH_BEST_ROWS,
// BENCH_BEST_SEATS, BENCH_BEST_SOLD_ROWS, BENCH_GHZ_CPUS (1), BENCH_OUT,
// BENCH_SOURCE_COMMIT (bench/run-at-commit.sh runs this bench on an earlier
// commit's code).
import fs from "node:fs";
import path from "node:path";
import { repoRoot } from "../tools/devstack/stack.js";
import { SeatIndex, type EventLayout } from "../src/events/layout.js";
import {
  benchRedis,
  gridCapacity,
  gridLayout,
  gridSeat,
  writeDistinctHoldsFile,
  type BenchRedis,
  type GridShape,
} from "./lib/events.js";
import { envNumber } from "./lib/env.js";
import { runGhz, type GhzRun } from "./lib/ghz.js";
import { readEventState, seatChecks, type Check } from "./lib/invariants.js";
import { redisCpuSeconds, scriptStats } from "./lib/redis.js";
import { BENCH_DIR, RESULTS_DIR, readRuns, withEarlierRuns } from "./lib/results.js";
import { STACK_ENV } from "./lib/command.js";
import { runBench, type BenchOutcome, type BenchRun } from "./lib/runner.js";
import { say, startApi, startBenchStack, type ApiProcess } from "./lib/stack.js";
import { median, round } from "./lib/stats.js";
import { processCpuSeconds, sourceInfo, type MachineInfo, type SourceInfo } from "./lib/sys.js";

const settings = {
  n: envNumber("BENCH_N", 5_000),
  rounds: envNumber("BENCH_ROUNDS", 5),
  concurrency: envNumber("BENCH_CONCURRENCY", 64),
  connections: envNumber("BENCH_CONNECTIONS", 4),
  grid: {
    sections: envNumber("BENCH_BEST_SECTIONS", 20),
    rowsPerSection: envNumber("BENCH_BEST_ROWS", 50),
    seatsPerRow: envNumber("BENCH_BEST_SEATS", 30),
  } satisfies GridShape,
  soldRows: envNumber("BENCH_BEST_SOLD_ROWS", 600),
  quantity: 2,
  ghzCpus: envNumber("BENCH_GHZ_CPUS", 1),
  warmupCalls: 1_000,
};

const GHZ = path.join(repoRoot, ".tools/bin/ghz");
const GRPCURL = path.join(repoRoot, ".tools/bin/grpcurl");
const PROTOSET = path.join(repoRoot, "src/gen/descriptors.binpb");
const HOLD_SEATS = "ticketing.v1.ReservationService/HoldSeats";
const BEST = "ticketing.v1.ReservationService/HoldBestAvailable";

interface Round {
  call: "HoldSeats" | "HoldBestAvailable";
  round: number;
  eventId: string;
  ghz: GhzRun;
  rps: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  codes: Record<string, number>;
  /** CPU per call sent, µs. */
  ghzUs: number;
  apiUs: number;
  redisUs: number;
  /** Script execution time per EVALSHA (INFO commandstats), µs. */
  scriptUs: number | undefined;
}

export interface BestBenchResult {
  kind: "best-available";
  startedAt: string;
  durationSeconds: number;
  source: SourceInfo;
  machine: MachineInfo;
  settings: typeof settings;
  rows: number;
  rounds: Round[];
  medianRatio: number;
  pairRatios: number[];
  median: {
    holdSeats: Omit<Round, "call" | "round" | "eventId" | "ghz" | "codes">;
    best: Omit<Round, "call" | "round" | "eventId" | "ghz" | "codes">;
  };
  checks: Check[];
  ok: boolean;
}

/** An event of the bench's shape with its first `soldRows` rows (in order of preference) sold. */
async function loadLateSale(b: BenchRedis, eventId: string): Promise<EventLayout> {
  const layout = gridLayout(eventId, settings.grid, 8);
  const sold = Array.from({ length: settings.soldRows * settings.grid.seatsPerRow }, (_, i) =>
    gridSeat(settings.grid, i),
  );
  await b.inventory.load(layout, "OPEN", { seatIds: sold, gaSold: new Map(), boughtByBuyer: new Map() });
  return layout;
}

function bestRequests(file: string, eventId: string, count: number, idPrefix: string): void {
  const rows = Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      event_id: eventId,
      buyer_id: `${idPrefix}-b${i}`,
      request_id: `${idPrefix}-r${i}`,
      quantity: settings.quantity,
    }),
  );
  fs.writeFileSync(file, `[\n${rows.join(",\n")}\n]\n`);
}

async function measure(
  api: ApiProcess,
  b: BenchRedis,
  call: Round["call"],
  roundNo: number,
  eventId: string,
  dataFile: string,
  total: number,
  outFile: string,
): Promise<Round> {
  const api0 = processCpuSeconds(api.pid) ?? NaN;
  const redis0 = await redisCpuSeconds(b.redis);
  const st0 = await scriptStats(b.redis);
  const ghz = await runGhz({
    ghz: GHZ,
    protoset: PROTOSET,
    call: call === "HoldSeats" ? HOLD_SEATS : BEST,
    address: api.address,
    dataFile,
    total,
    concurrency: settings.concurrency,
    connections: settings.connections,
    countErrors: true,
    cpus: settings.ghzCpus || undefined,
    gogc: 400,
    format: "json",
    outFile,
  });
  const api1 = processCpuSeconds(api.pid) ?? NaN;
  const redis1 = await redisCpuSeconds(b.redis);
  const st1 = await scriptStats(b.redis);
  if (ghz.exitCode !== 0) throw new Error(`ghz exited with ${ghz.exitCode} (${call}): ${ghz.stderr.slice(0, 2000)}`);
  const s = ghz.summary;
  const r: Round = {
    call,
    round: roundNo,
    eventId,
    ghz,
    rps: round(s?.rps ?? NaN),
    p50Ms: s?.latencyMs.p50,
    p99Ms: s?.latencyMs.p99,
    codes: s?.codes ?? {},
    ghzUs: round((ghz.cpuSeconds / total) * 1e6, 1),
    apiUs: round(((api1 - api0) / total) * 1e6, 1),
    redisUs: round(((redis1 - redis0) / total) * 1e6, 1),
    scriptUs: st1.calls > st0.calls ? round((st1.usec - st0.usec) / (st1.calls - st0.calls), 1) : undefined,
  };
  say(
    `${call.padEnd(17)} round ${roundNo}: ${r.rps} calls/s, p50/p99 ${r.p50Ms}/${r.p99Ms} ms, ${JSON.stringify(r.codes)} | CPU µs per call: ghz ${r.ghzUs}, API ${r.apiUs}, Redis ${r.redisUs} (script ${r.scriptUs ?? "-"})`,
  );
  return r;
}

/** Invariants of a best-available event after its round. */
async function bestChecks(b: BenchRedis, layout: EventLayout, okReplies: number): Promise<Check[]> {
  const state = await readEventState(b, layout);
  const checks = seatChecks(state, new SeatIndex(layout));
  const split = (seat: string) => {
    const m = /^(.*)-(\d+)$/.exec(seat)!;
    return { row: m[1]!, n: Number(m[2]) };
  };
  const notAdjacent = state.holds.filter((h) => {
    const seats = h.seats.map(split).sort((x, y) => x.n - y.n);
    return (
      seats.length !== settings.quantity || seats.some((s, i) => s.row !== seats[0]!.row || s.n !== seats[0]!.n + i)
    );
  });
  checks.push({
    name: `each hold ${settings.quantity} adjacent seats of one row`,
    ok: notAdjacent.length === 0,
    detail:
      notAdjacent.length === 0
        ? `${state.holds.length} holds`
        : `${notAdjacent.length} are not, e.g. ${notAdjacent
            .slice(0, 3)
            .map((h) => h.seats.join(","))
            .join("; ")}`,
  });
  checks.push({
    name: "every OK reply is a hold in Redis",
    ok: state.holds.length === okReplies,
    detail: `${okReplies} OK replies, ${state.holds.length} holds indexed`,
  });
  return checks.map((c) => ({ ...c, name: `${layout.eventId}: ${c.name}` }));
}

function markdown(r: BestBenchResult): string {
  const f = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(d));
  const L: string[] = [];
  L.push(`# HoldBestAvailable late in a stadium's sale, ${r.startedAt}`);
  L.push("");
  L.push(
    `\`npm run bench:best\`, ${r.durationSeconds} s; code at \`${r.source.commit.slice(0, 12)}\`${r.source.dirty.length ? " + uncommitted edits" : ""}; ${r.machine.nproc} cores (${r.machine.cpuModel}), load ${r.machine.loadAvgBefore.join(" ")} at start, shared. Verdict: **${r.ok ? "passed" : "FAILED"}**.`,
  );
  L.push("");
  L.push(
    `Every round: two fresh events of ${r.settings.grid.sections} sections × ${r.settings.grid.rowsPerSection} rows × ${r.settings.grid.seatsPerRow} seats (${r.rows} rows), the first ${r.settings.soldRows} rows in order of preference sold; ` +
      `${r.settings.n.toLocaleString("en-US")} calls of ${r.settings.quantity} seats each: HoldSeats naming two free seats (each call its own), then HoldBestAvailable with no filter (the script may pick from every row). ghz \`--concurrency ${r.settings.concurrency} --connections ${r.settings.connections} --cpus ${r.settings.ghzCpus}\`. CPU per call sent: ghz from its own times, the API from /proc, Redis from INFO cpu; script time per EVALSHA from INFO commandstats.`,
  );
  L.push("");
  L.push("| round | call | calls/s | p50 / p99 ms | codes | ghz µs | API µs | Redis µs | script µs |");
  L.push("| ---: | --- | ---: | --- | --- | ---: | ---: | ---: | ---: |");
  for (const x of r.rounds)
    L.push(
      `| ${x.round} | ${x.call} | ${x.rps} | ${f(x.p50Ms, 2)} / ${f(x.p99Ms, 2)} | ${JSON.stringify(x.codes)} | ${f(x.ghzUs)} | ${f(x.apiUs)} | ${f(x.redisUs)} | ${f(x.scriptUs)} |`,
    );
  L.push("");
  const m = r.median;
  L.push(
    `**HoldBestAvailable / HoldSeats: ${f(r.medianRatio, 3)}** (median of the pairs ${r.pairRatios.join(", ")}). Medians: HoldSeats ${m.holdSeats.rps}/s, API ${f(m.holdSeats.apiUs)} µs, Redis ${f(m.holdSeats.redisUs)} µs per call; HoldBestAvailable ${m.best.rps}/s, API ${f(m.best.apiUs)} µs, Redis ${f(m.best.redisUs)} µs (script ${f(m.best.scriptUs)} µs) per call.`,
  );
  L.push("");
  L.push("## Invariants");
  L.push("");
  for (const c of r.checks) L.push(`- ${c.ok ? "ok" : "**BROKEN**"} ${c.name}: ${c.detail}`);
  L.push("");
  return L.join("\n");
}

function writeIndex(): void {
  const runs = readRuns<BestBenchResult>("best").sort((a, b) => a.r.startedAt.localeCompare(b.r.startedAt));
  const L: string[] = [];
  L.push("# HoldBestAvailable late in a stadium's sale (`npm run bench:best`)");
  L.push("");
  L.push(
    "Generated from the raw `results/best-*.json` of the runs made here (not committed; rows of runs made elsewhere are kept) by `bench/best-available.ts`; every run's full report is linked. `bench/run-at-commit.sh <commit> best-available.ts` runs this bench on an earlier commit's code.",
  );
  L.push("");
  L.push(
    "| run | code | rows (sold) | HoldSeats calls/s | HoldBestAvailable calls/s | ratio | API µs per call, HoldSeats / HoldBestAvailable | Redis µs per call, HoldSeats / HoldBestAvailable | invariants | report |",
  );
  L.push("| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- | --- |");
  const firstRow = L.length;
  for (const { file, r } of runs) {
    const md = file.replace(/\.json$/, ".md");
    L.push(
      `| ${r.startedAt} | ${r.source.commit.slice(0, 7)}${r.source.dirty.length ? "+dirty" : ""} | ${r.rows} (${r.settings.soldRows}) | ${r.median.holdSeats.rps} | ${r.median.best.rps} | ${r.medianRatio} | ${r.median.holdSeats.apiUs} / ${r.median.best.apiUs} | ${r.median.holdSeats.redisUs} / ${r.median.best.redisUs} | ${r.ok ? "ok" : "BROKEN"} | [md](results/${md}) |`,
    );
  }
  L.push(
    ...withEarlierRuns(
      path.join(BENCH_DIR, "BEST-RESULTS.md"),
      "best",
      runs.map((x) => x.file),
      L.splice(firstRow),
      true,
    ),
  );
  L.push("");
  fs.writeFileSync(path.join(BENCH_DIR, "BEST-RESULTS.md"), L.join("\n"));
}

/** One round: a fresh HoldSeats event and a fresh best-available event, HoldSeats first; the invariants of the latter. */
async function oneRound(
  api: ApiProcess,
  b: BenchRedis,
  { runId, tmp }: BenchRun,
  i: number,
): Promise<{ rounds: Round[]; checks: Check[] }> {
  const seatsEvent = await loadLateSale(b, `${runId}_s${i}`);
  const bestEvent = await loadLateSale(b, `${runId}_b${i}`);
  const seatsFile = path.join(tmp, `seats-${i}.json`);
  // Call c holds seats 2(first + c) and 2(first + c) + 1: the first pairs after the sold rows.
  writeDistinctHoldsFile(seatsFile, {
    eventId: seatsEvent.eventId,
    grid: settings.grid,
    firstCall: (settings.soldRows * settings.grid.seatsPerRow) / 2,
    count: settings.n,
    idPrefix: `${runId}s${i}`,
  });
  const bestFile = path.join(tmp, `best-${i}.json`);
  bestRequests(bestFile, bestEvent.eventId, settings.n, `${runId}b${i}`);
  const seats = await measure(
    api,
    b,
    "HoldSeats",
    i,
    seatsEvent.eventId,
    seatsFile,
    settings.n,
    path.join(tmp, `seats-${i}-out.json`),
  );
  const best = await measure(
    api,
    b,
    "HoldBestAvailable",
    i,
    bestEvent.eventId,
    bestFile,
    settings.n,
    path.join(tmp, `best-${i}-out.json`),
  );
  return { rounds: [seats, best], checks: await bestChecks(b, bestEvent, best.codes.OK ?? 0) };
}

/** The medians, the ratio and the last check (every call OK) over all rounds. */
function summarise({ started, machine }: BenchRun, rounds: Round[], checks: Check[]): BestBenchResult {
  const seatsR = rounds.filter((r) => r.call === "HoldSeats");
  const bestR = rounds.filter((r) => r.call === "HoldBestAvailable");
  const pairRatios = bestR.map((x, i) => round(x.rps / seatsR[i]!.rps, 3));
  const medians = (rs: Round[]) => ({
    rps: round(median(rs.map((x) => x.rps))),
    p50Ms: median(rs.map((x) => x.p50Ms ?? NaN)),
    p99Ms: median(rs.map((x) => x.p99Ms ?? NaN)),
    ghzUs: round(median(rs.map((x) => x.ghzUs)), 1),
    apiUs: round(median(rs.map((x) => x.apiUs)), 1),
    redisUs: round(median(rs.map((x) => x.redisUs)), 1),
    scriptUs: round(median(rs.map((x) => x.scriptUs ?? NaN)), 1),
  });
  const nonOk = rounds.filter((x) => Object.keys(x.codes).some((c) => c !== "OK"));
  checks.push({
    name: "every call OK (nothing sold out, nothing refused)",
    ok: nonOk.length === 0,
    detail:
      nonOk.length === 0 ? "yes" : nonOk.map((x) => `${x.call} ${x.round}: ${JSON.stringify(x.codes)}`).join("; "),
  });
  return {
    kind: "best-available",
    startedAt: started.toISOString(),
    durationSeconds: round((Date.now() - started.getTime()) / 1000, 1),
    source: process.env.BENCH_SOURCE_COMMIT
      ? { ...sourceInfo(repoRoot), commit: process.env.BENCH_SOURCE_COMMIT }
      : sourceInfo(repoRoot),
    machine,
    settings,
    rows: settings.grid.sections * settings.grid.rowsPerSection,
    rounds: rounds.map((x) => ({ ...x, ghz: { ...x.ghz, stderr: "" } })),
    medianRatio: round(median(pairRatios), 3),
    pairRatios,
    median: { holdSeats: medians(seatsR), best: medians(bestR) },
    checks,
    ok: checks.every((c) => c.ok),
  };
}

async function main(run: BenchRun): Promise<BenchOutcome> {
  const { runId, tmp, stamp } = run;
  const free = (gridCapacity(settings.grid) - settings.soldRows * settings.grid.seatsPerRow) / settings.quantity;
  if (settings.n > free)
    throw new Error(`BENCH_N ${settings.n} holds of ${settings.quantity} do not fit the ${free} pairs left unsold`);
  const stack = await startBenchStack(tmp);
  const api = await startApi(stack, tmp, GRPCURL);
  const b = benchRedis(stack.redisUrl);
  run.defer(() => b.close());

  // Warm-up (not tallied): JIT, connections, script cache.
  const warm = await loadLateSale(b, `${runId}_w`);
  const warmBest = path.join(tmp, "warm-best.json");
  bestRequests(warmBest, warm.eventId, settings.warmupCalls, `${runId}w`);
  await measure(
    api,
    b,
    "HoldBestAvailable",
    0,
    warm.eventId,
    warmBest,
    settings.warmupCalls,
    path.join(tmp, "warm-best-out.json"),
  );

  const rounds: Round[] = [];
  const checks: Check[] = [];
  for (let i = 1; i <= settings.rounds; i++) {
    const r = await oneRound(api, b, run, i);
    rounds.push(...r.rounds);
    checks.push(...r.checks);
  }
  const result = summarise(run, rounds, checks);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const base = path.join(RESULTS_DIR, `best-${stamp}`);
  fs.writeFileSync(`${base}.json`, JSON.stringify(result, null, 2));
  fs.writeFileSync(`${base}.md`, markdown(result));
  writeIndex();
  return {
    files: [`${base}.json`, `${base}.md`, path.join(BENCH_DIR, "BEST-RESULTS.md")],
    failures: checks.filter((x) => !x.ok).map((c) => `invariant broken: ${c.name}: ${c.detail}`),
    headline: `HoldBestAvailable/HoldSeats ${result.medianRatio}; invariants ${result.ok ? "ok" : "BROKEN"}`,
  };
}

runBench(
  {
    usage: "npm run bench:best --",
    about:
      "HoldBestAvailable late in a stadium's sale (1,000 rows of 30 seats, the first 600 rows sold) against HoldSeats on an identical event, in interleaved rounds, with the invariants of every best-available event. Starts its own stack.",
    env: [
      ["BENCH_N", "calls per round (5000)"],
      ["BENCH_ROUNDS", "rounds of each call (5)"],
      ["BENCH_CONCURRENCY", "ghz --concurrency (64)"],
      ["BENCH_CONNECTIONS", "ghz --connections (4)"],
      ["BENCH_BEST_SECTIONS", "sections of the event (20)"],
      ["BENCH_BEST_ROWS", "rows per section (50)"],
      ["BENCH_BEST_SEATS", "seats per row (30)"],
      ["BENCH_BEST_SOLD_ROWS", "rows sold before the rounds, in order of preference (600)"],
      ["BENCH_GHZ_CPUS", "ghz --cpus (1)"],
      ["BENCH_SOURCE_COMMIT", "set by bench/run-at-commit.sh"],
      ...STACK_ENV,
    ],
    runIdPrefix: "ba",
    tmpPrefix: "ticketing-bench-best-",
    tools: ["ghz", "grpcurl"],
  },
  main,
);
