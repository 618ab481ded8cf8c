// `npm run bench:holds`: HoldSeats over gRPC against its baselines, measured in
// one run on one machine (see docs/BENCHMARKING.md):
//   1. throughput: interleaved ghz rounds Noop, HoldSeats, Eval, HoldSeats
//      against a second API with authentication off (BENCH_AUTH_BASELINE), ...
//      with the CPU of ghz, the API and Redis per round: API CPU per call
//      against the Noop and Eval floors, and authentication's cost (API CPU
//      per HoldSeats on/off, goal <= 1.05);
//   2. latency at load: both at --rps = 50 % of HoldSeats' median maximum;
//   3. Redis: CPU per hold, and the ceiling of hold_seats.lua itself
//      (redis-benchmark EVALSHA);
//   4. contention: 100,000 HoldSeats for a 100-seat event, then the invariant
//      check on the event's Redis state (a broken invariant fails the bench).
// Writes bench/results/holds-<timestamp>.{json,md} (+ .html from ghz, and
// -charts.html: throughput and latency over time per round, latency
// histograms, from lib/charts.ts) and updates bench/RESULTS.md. Starts its own Redis, MariaDB, Temporal and API
// (REDIS_URL / MYSQL_URL / TEMPORAL_ADDRESS reuse existing ones) and stops
// everything it started, also on failure and Ctrl-C.
//
// Knobs (env): BENCH_N (calls per throughput round, 30000), BENCH_ROUNDS (3),
// BENCH_CONCURRENCY (64), BENCH_CONNECTIONS (4), BENCH_SKIP (2000),
// BENCH_WARMUP (10000), BENCH_CONTENTION_CALLS (100000),
// BENCH_CEILING_CALLS (200000), BENCH_CEILING_RUNS (3), BENCH_GHZ_CPUS (1:
// ghz --cpus), BENCH_GHZ_GOGC (400), BENCH_GHZ_DATA (binary | json: how
// requests reach ghz, lib/ghz.ts), BENCH_HTML (on|off), BENCH_KEEP_TMP (1
// keeps the temp dir), BENCH_API_NODE_ARGS (extra node flags for the API, e.g.
// --cpu-prof), BENCH_OUT (where results/ and RESULTS.md go; default bench/),
// BENCH_SOURCE_COMMIT (set by bench/run-at-commit.sh, which runs the bench on a
// clean `git archive` snapshot of a commit while the tree is mid-edit).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { repoRoot } from "../tools/devstack/stack.js";
import { SeatIndex, type EventLayout } from "../src/events/layout.js";
import { HoldSeatsRequest } from "../src/gen/ticketing/v1/reservation_service.js";
import { NoopRequest } from "../src/gen/ticketing/bench/v1/noop_service.js";
import {
  benchRedis,
  gridCapacity,
  gridLayout,
  gridSeat,
  loadOpenEvent,
  writeContentionFile,
  writeDistinctHoldsFile,
  DistinctHoldFiles,
  writeNoopFile,
  type BenchRedis,
  type GridShape,
} from "./lib/events.js";
import { runGhz } from "./lib/ghz.js";
import { esc, ghzRoundSeries, htmlPage, roundCharts } from "./lib/charts.js";
import { readEventState, seatChecks } from "./lib/invariants.js";
import {
  dropEvent,
  eventVersion,
  holdSeatsSha,
  redisCpuSeconds,
  redisIoStats,
  runCeiling,
  scriptStats,
  type CeilingRun,
} from "./lib/redis.js";
import { writeReports, type BenchResult, type HoldsSettings, type RoundResult } from "./lib/report.js";
import {
  apiLogTail,
  run as runCommand,
  say,
  startApi,
  startBenchStack,
  type ApiProcess,
  type BenchStack,
} from "./lib/stack.js";
import { machineCpuSeconds, processCpuSeconds, sourceInfo } from "./lib/sys.js";
import { envNumber } from "./lib/env.js";
import { cpuCeilings, median, round, type CpuSplit } from "./lib/stats.js";
import { STACK_ENV } from "./lib/command.js";
import { runBench, type BenchOutcome, type BenchRun } from "./lib/runner.js";

const env = envNumber;

const settings: HoldsSettings = {
  n: env("BENCH_N", 30_000),
  rounds: env("BENCH_ROUNDS", 3),
  concurrency: env("BENCH_CONCURRENCY", 64),
  connections: env("BENCH_CONNECTIONS", 4),
  skipFirst: env("BENCH_SKIP", 2_000),
  warmupCalls: env("BENCH_WARMUP", 10_000),
  contentionCalls: env("BENCH_CONTENTION_CALLS", 100_000),
  contentionMaxSeats: 4,
  ceilingCalls: env("BENCH_CEILING_CALLS", 200_000),
  ceilingClients: 50,
  ceilingRuns: env("BENCH_CEILING_RUNS", 3),
  ghzCpus: env("BENCH_GHZ_CPUS", 1),
  ghzGogc: env("BENCH_GHZ_GOGC", 400),
  latencyTargetSeconds: 4,
  latencyMaxCalls: 25_000,
  htmlCalls: process.env.BENCH_HTML === "off" ? 0 : 2_000,
  ratioGoal: 0.65,
  ghzCpuFlag: 0.7,
};

const GHZ = path.join(repoRoot, ".tools/bin/ghz");
const GRPCURL = path.join(repoRoot, ".tools/bin/grpcurl");
const PROTOSET = path.join(repoRoot, "src/gen/descriptors.binpb");
const NOOP = "ticketing.bench.v1.NoopService/Noop";
const EVAL = "ticketing.bench.v1.NoopService/Eval";
const HOLD = "ticketing.v1.ReservationService/HoldSeats";
/** #15: API CPU per HoldSeats with authentication on, at most this times the cost with it off. */
const AUTH_COST_GOAL = 1.05;

/** 200 sections x 4 rows x 250 seats = 200,000 seats: S<s>-<row>-<seat>. */
const BIG: GridShape = { sections: 200, rowsPerSection: 4, seatsPerRow: 250 };
/** 4 rows x 25 seats = 100 seats in section A. */
const CONTENTION: GridShape = { sections: 1, rowsPerSection: 4, seatsPerRow: 25 };

/** Median CPU per call of ghz, the API and Redis over rounds of one call. */
function cpuSplit(rs: RoundResult[]): CpuSplit {
  return {
    ghz: round(median(rs.map((r) => (r.ghz.cpuSeconds / r.sent) * 1e6)), 1),
    api: round(median(rs.map((r) => r.apiCpuUsPerCall)), 1),
    // Noop rounds touch Redis only for the bench's own INFO reads: count them as zero.
    redis: round(median(rs.map((r) => (r.eventId ? r.redisCpuUsPerCall : 0))), 1),
  };
}

async function measure(
  phase: RoundResult["phase"],
  roundNo: number,
  call: RoundResult["call"],
  o: {
    api: ApiProcess;
    b: BenchRedis;
    dataFile: string;
    total: number;
    outFile: string;
    skipFirst?: number;
    rps?: number;
    countErrors?: boolean;
    format?: "json" | "html";
    eventId?: string;
    address: string;
  },
): Promise<RoundResult> {
  const api0 = processCpuSeconds(o.api.pid) ?? NaN;
  const redis0 = await redisCpuSeconds(o.b.redis);
  const st0 = await scriptStats(o.b.redis);
  const io0 = await redisIoStats(o.b.redis);
  const v0 = o.eventId ? await eventVersion(o.b.redis, o.eventId) : 0;
  const m0 = machineCpuSeconds();
  const ghz = await runGhz({
    ghz: GHZ,
    protoset: PROTOSET,
    call: call === "Noop" ? NOOP : call === "Eval" ? EVAL : HOLD,
    address: o.address,
    dataFile: o.dataFile,
    total: o.total,
    concurrency: settings.concurrency,
    connections: settings.connections,
    skipFirst: o.skipFirst,
    rps: o.rps,
    countErrors: o.countErrors,
    cpus: settings.ghzCpus || undefined,
    gogc: settings.ghzGogc || undefined,
    format: o.format ?? "json",
    outFile: o.outFile,
  });
  const m1 = machineCpuSeconds();
  const redis1 = await redisCpuSeconds(o.b.redis);
  const st1 = await scriptStats(o.b.redis);
  const io1 = await redisIoStats(o.b.redis);
  const api1 = processCpuSeconds(o.api.pid) ?? NaN;
  const v1 = o.eventId ? await eventVersion(o.b.redis, o.eventId) : 0;
  if (ghz.exitCode !== 0) {
    throw new Error(
      `ghz exited with ${ghz.exitCode} (${call}, ${phase} ${roundNo}): ${ghz.stderr.slice(0, 2000)}\n--- api log:\n${apiLogTail(o.api)}`,
    );
  }
  const apiCpu = api1 - api0;
  const redisCpu = redis1 - redis0;
  const wall = ghz.wallSeconds;
  const busy = m1.busy - m0.busy;
  const holdsCreated = o.eventId ? v1 - v0 : undefined;
  const r: RoundResult = {
    phase,
    round: roundNo,
    call,
    eventId: o.eventId,
    rpsTarget: o.rps,
    ghz,
    sent: o.total,
    apiCpuSeconds: round(apiCpu, 3),
    apiCpuUsPerCall: round((apiCpu / o.total) * 1e6, 1),
    apiCores: round(apiCpu / wall, 3),
    redisCpuSeconds: round(redisCpu, 3),
    redisCpuUsPerCall: round((redisCpu / o.total) * 1e6, 2),
    holdsCreated,
    redisCpuUsPerHold: holdsCreated ? round((redisCpu / holdsCreated) * 1e6, 2) : undefined,
    scriptUsPerCall: st1.calls > st0.calls ? round((st1.usec - st0.usec) / (st1.calls - st0.calls), 2) : undefined,
    // The bench's own INFO calls are a handful of reads: negligible against the round's calls.
    callsPerRedisRead: o.eventId && io1.reads > io0.reads ? round(o.total / (io1.reads - io0.reads), 2) : undefined,
    machineBusyCores: round(busy / wall, 3),
    otherCores: round(Math.max(0, busy - apiCpu - redisCpu - ghz.cpuSeconds) / wall, 3),
    ghzCpuOverFlag: ghz.cpuCores > settings.ghzCpuFlag,
    series: (o.format ?? "json") === "json" ? ghzRoundSeries(o.outFile) : undefined,
  };
  const s = ghz.summary;
  say(
    `${phase} ${roundNo} ${call.padEnd(9)} ${s ? `${Math.round(s.rps)} calls/s p50 ${s.latencyMs.p50} ms p99 ${s.latencyMs.p99} ms codes ${JSON.stringify(s.codes)}` : `(${o.format})`}` +
      ` | ghz ${round(ghz.cpuCores * 100)} % core, api ${r.apiCpuUsPerCall} µs/call (${round(r.apiCores * 100)} %), redis ${o.eventId ? `${r.redisCpuUsPerCall} µs/call (script ${r.scriptUsPerCall ?? "-"} µs, ${r.callsPerRedisRead ?? "-"} calls/read)` : "-"}, other ${round(r.otherCores * 100)} %`,
  );
  return r;
}

/** What every phase uses: the run, the stack, both APIs, the events and where the data files go. */
interface Ctx {
  run: BenchRun;
  stack: BenchStack;
  api: ApiProcess;
  /** The same API with authentication off, for HoldSeats' cost of authentication in the same run. */
  apiAuthOff: ApiProcess;
  b: BenchRedis;
  redisVersion: string;
  tput: EventLayout;
  aux: EventLayout;
  authOff: EventLayout;
  cont: EventLayout;
  /** ghz data files. */
  data: string;
  /** ghz outputs. */
  out: string;
  /** Data files on the aux event: the warm-up, latency and HTML rounds take its seats in turn. */
  auxHolds: DistinctHoldFiles;
}

/** The data files of the throughput rounds, and the request sizes on the wire. */
interface DataFiles {
  holdFiles: string[];
  authOffHoldFiles: string[];
  noopFile: string;
  holdBytes: number;
  noopBytes: number;
}

/** The API under test (and its twin with authentication off), for measure. */
function on(ctx: Ctx, api: ApiProcess = ctx.api): { api: ApiProcess; b: BenchRedis; address: string } {
  return { api, b: ctx.b, address: api.address };
}

function checkPrerequisites(rb: { code: number | null }): void {
  if (rb.code !== 0) throw new Error("redis-benchmark not found: apt-get install redis-tools");
  const perHoldRounds = settings.rounds * settings.n;
  if (2 * perHoldRounds > gridCapacity(BIG)) {
    throw new Error(
      `BENCH_ROUNDS x BENCH_N = ${perHoldRounds} HoldSeats calls need ${2 * perHoldRounds} seats: more than the ${gridCapacity(BIG)} of the throughput event`,
    );
  }
}

async function startStack(run: BenchRun): Promise<Ctx> {
  const { tmp, runId } = run;
  const stack = await startBenchStack(tmp);
  const api = await startApi(stack, tmp, GRPCURL);
  say(`api:      ${api.address} (pid ${api.pid}, log ${api.logFile})`);
  const apiAuthOff = await startApi(stack, tmp, GRPCURL, { name: "api-auth-off", env: { BENCH_AUTH_BASELINE: "on" } });
  say(`api (authentication off): ${apiAuthOff.address} (pid ${apiAuthOff.pid}, log ${apiAuthOff.logFile})`);
  const b = benchRedis(stack.redisUrl);
  run.defer(() => b.close());
  const redisVersion = /redis_version:(\S+)/.exec(await b.redis.info("server"))?.[1] ?? "?";
  const aux = gridLayout(`${runId}_aux`, BIG, 4);
  const data = path.join(tmp, "data");
  return {
    run,
    stack,
    api,
    apiAuthOff,
    b,
    redisVersion,
    tput: gridLayout(`${runId}_tput`, BIG, 4),
    aux,
    authOff: gridLayout(`${runId}_noauth`, BIG, 4),
    cont: gridLayout(`${runId}_cont`, CONTENTION, settings.contentionMaxSeats, "A"),
    data,
    out: path.join(tmp, "ghz"),
    auxHolds: new DistinctHoldFiles({ dir: data, eventId: aux.eventId, grid: BIG, runId }),
  };
}

async function loadEvents(ctx: Ctx): Promise<BenchResult["events"]> {
  const { tput, aux, authOff, cont } = ctx;
  for (const layout of [tput, aux, authOff, cont]) await loadOpenEvent(ctx.b, layout);
  const events = [
    { role: "throughput rounds (every call holds 2 seats nobody else holds)", layout: tput },
    { role: "throughput rounds against the API with authentication off (same shape)", layout: authOff },
    { role: "warm-up, latency-at-load and HTML rounds (same shape)", layout: aux },
    { role: "contention (100 seats)", layout: cont },
  ].map(({ role, layout }) => ({
    role,
    eventId: layout.eventId,
    capacity: layout.capacity,
    limit: layout.maxTicketsPerBuyer,
    layout:
      layout === cont
        ? "section A, rows 1-4 x seats 1-25"
        : `sections S0-S${BIG.sections - 1} x rows 1-${BIG.rowsPerSection} x seats 1-${BIG.seatsPerRow}`,
  }));
  say(`events loaded: ${events.map((e) => `${e.eventId} (${e.capacity} seats)`).join(", ")}`);
  return events;
}

function writeDataFiles(ctx: Ctx): DataFiles {
  const { runId } = ctx.run;
  fs.mkdirSync(ctx.data);
  fs.mkdirSync(ctx.out);
  const holdFiles: string[] = [];
  const authOffHoldFiles: string[] = [];
  for (let i = 0; i < settings.rounds; i++) {
    for (const [files, eventId, name] of [
      [holdFiles, ctx.tput.eventId, "t"],
      [authOffHoldFiles, ctx.authOff.eventId, "u"],
    ] as const) {
      const file = path.join(ctx.data, `holds-${name}-round${i + 1}.json`);
      writeDistinctHoldsFile(file, {
        eventId,
        grid: BIG,
        firstCall: i * settings.n,
        count: settings.n,
        idPrefix: `${runId}${name}${i + 1}`,
      });
      files.push(file);
    }
  }
  // the Noop body is as large on the wire as a typical HoldSeats body
  const sample = JSON.parse(fs.readFileSync(holdFiles[0]!, "utf8").split("\n")[1]!.replace(/,$/, "")) as {
    event_id: string;
    buyer_id: string;
    request_id: string;
    seats: { seat_ids: string[] };
  };
  const holdBytes = HoldSeatsRequest.encode({
    eventId: sample.event_id,
    buyerId: sample.buyer_id,
    requestId: sample.request_id,
    admissionToken: "",
    selection: { $case: "seats", value: { seatIds: sample.seats.seat_ids } },
  }).finish().length;
  const payloadChars = holdBytes - 2;
  const noopFile = path.join(ctx.data, "noop.json");
  writeNoopFile(noopFile, {
    count: Math.max(settings.n, settings.latencyMaxCalls, settings.warmupCalls),
    payloadChars,
    idPrefix: runId,
  });
  const noopBytes = NoopRequest.encode({ payload: "x".repeat(payloadChars) }).finish().length;
  say(`request bodies: HoldSeats ${holdBytes} B, Noop ${noopBytes} B`);
  return { holdFiles, authOffHoldFiles, noopFile, holdBytes, noopBytes };
}

/** Warm-up (not tallied): JIT, connections, Redis script cache. */
async function warmUp(ctx: Ctx, files: DataFiles): Promise<RoundResult[]> {
  const warmup: RoundResult[] = [];
  if (settings.warmupCalls === 0) return warmup;
  warmup.push(
    await measure("warmup", 1, "Noop", {
      ...on(ctx),
      dataFile: files.noopFile,
      total: settings.warmupCalls,
      outFile: path.join(ctx.out, "warmup-noop.json"),
    }),
  );
  warmup.push(
    await measure("warmup", 1, "HoldSeats", {
      ...on(ctx),
      dataFile: ctx.auxHolds.next(settings.warmupCalls, "w"),
      total: settings.warmupCalls,
      outFile: path.join(ctx.out, "warmup-holds.json"),
      eventId: ctx.aux.eventId,
    }),
  );
  warmup.push(
    await measure("warmup", 1, "HoldSeatsAuthOff", {
      ...on(ctx, ctx.apiAuthOff),
      // Half a warm-up (JIT and connections settle within it): the latency rounds need the rest of aux's seats.
      dataFile: ctx.auxHolds.next(Math.ceil(settings.warmupCalls / 2), "wu"),
      total: Math.ceil(settings.warmupCalls / 2),
      outFile: path.join(ctx.out, "warmup-holds-auth-off.json"),
      eventId: ctx.aux.eventId,
    }),
  );
  return warmup;
}

/** Throughput: Noop, HoldSeats, Eval, HoldSeatsAuthOff, Noop, ... (HoldSeats right after its Noop). */
async function throughputRounds(ctx: Ctx, files: DataFiles): Promise<RoundResult[]> {
  const { out } = ctx;
  const rounds: RoundResult[] = [];
  for (let i = 0; i < settings.rounds; i++) {
    rounds.push(
      await measure("throughput", i + 1, "Noop", {
        ...on(ctx),
        dataFile: files.noopFile,
        total: settings.n,
        skipFirst: settings.skipFirst,
        outFile: path.join(out, `noop-${i + 1}.json`),
      }),
    );
    rounds.push(
      await measure("throughput", i + 1, "HoldSeats", {
        ...on(ctx),
        dataFile: files.holdFiles[i]!,
        total: settings.n,
        skipFirst: settings.skipFirst,
        outFile: path.join(out, `holds-${i + 1}.json`),
        eventId: ctx.tput.eventId,
      }),
    );
    // The request body is Noop's (same size as HoldSeats'); eventId set so the round counts Redis's CPU.
    rounds.push(
      await measure("throughput", i + 1, "Eval", {
        ...on(ctx),
        dataFile: files.noopFile,
        total: settings.n,
        skipFirst: settings.skipFirst,
        outFile: path.join(out, `eval-${i + 1}.json`),
        eventId: ctx.tput.eventId,
      }),
    );
    rounds.push(
      await measure("throughput", i + 1, "HoldSeatsAuthOff", {
        ...on(ctx, ctx.apiAuthOff),
        dataFile: files.authOffHoldFiles[i]!,
        total: settings.n,
        skipFirst: settings.skipFirst,
        outFile: path.join(out, `holds-auth-off-${i + 1}.json`),
        eventId: ctx.authOff.eventId,
      }),
    );
  }
  return rounds;
}

/** Any code but OK in these rounds is a failure. */
function nonOkCodes(what: string, rounds: RoundResult[]): string[] {
  const failures: string[] = [];
  for (const r of rounds) {
    const bad = Object.entries(r.ghz.summary?.codes ?? {}).filter(([c]) => c !== "OK");
    if (bad.length > 0)
      failures.push(`${what} ${r.call} round ${r.round}: non-OK codes ${JSON.stringify(Object.fromEntries(bad))}`);
  }
  return failures;
}

function summariseThroughput(rounds: RoundResult[]) {
  const noops = rounds.filter((r) => r.call === "Noop");
  const holdsR = rounds.filter((r) => r.call === "HoldSeats");
  const evals = rounds.filter((r) => r.call === "Eval");
  const holdsAuthOff = rounds.filter((r) => r.call === "HoldSeatsAuthOff");
  const authPairs = holdsR.map((h, i) => h.apiCpuUsPerCall / holdsAuthOff[i]!.apiCpuUsPerCall);
  const rps = (r: RoundResult) => r.ghz.summary?.rps ?? NaN;
  const pairRatios = holdsR.map((h, i) => rps(h) / rps(noops[i]!));
  const medianNoopRps = median(noops.map(rps));
  const medianHoldRps = median(holdsR.map(rps));
  const medianRatio = median(pairRatios);
  const medianGhzCoresNoop = median(noops.map((r) => r.ghz.cpuCores));
  const medianGhzCoresHold = median(holdsR.map((r) => r.ghz.cpuCores));
  const [noopSplit, holdSplit, evalSplit] = [cpuSplit(noops), cpuSplit(holdsR), cpuSplit(evals)];
  const ceilings = cpuCeilings(noopSplit, holdSplit, evalSplit);
  return {
    rounds,
    medianNoopRps: round(medianNoopRps),
    medianHoldRps: round(medianHoldRps),
    pairRatios: pairRatios.map((x) => round(x, 3)),
    medianRatio: round(medianRatio, 3),
    ratioOfMedians: round(medianHoldRps / medianNoopRps, 3),
    goal: settings.ratioGoal,
    goalMet: medianRatio >= settings.ratioGoal,
    medianApiUsPerNoop: round(median(noops.map((r) => r.apiCpuUsPerCall)), 1),
    medianApiUsPerHold: round(median(holdsR.map((r) => r.apiCpuUsPerCall)), 1),
    cpuRatio: round(median(noops.map((r) => r.apiCpuUsPerCall)) / median(holdsR.map((r) => r.apiCpuUsPerCall)), 3),
    machineUsPerNoop: noopSplit,
    machineUsPerHold: holdSplit,
    machineCpuRatio: ceilings.machineCpuRatio,
    ceilingIfApiFree: ceilings.ceilingIfApiFree,
    eval: {
      medianRps: round(median(evals.map(rps))),
      pairRatios: evals.map((e, i) => round(rps(e) / rps(noops[i]!), 3)),
      medianRatio: round(median(evals.map((e, i) => rps(e) / rps(noops[i]!))), 3),
      medianHoldOverEval: round(median(holdsR.map((h, i) => rps(h) / rps(evals[i]!))), 3),
      medianApiUsPerCall: round(median(evals.map((r) => r.apiCpuUsPerCall)), 1),
      machineUsPerCall: evalSplit,
      ceilingIfApiAtEval: ceilings.ceilingIfApiAtEval!,
    },
    medianGhzCoresNoop: round(medianGhzCoresNoop, 3),
    medianGhzCoresHold: round(medianGhzCoresHold, 3),
    generatorLimited: rounds.some((r) => r.ghzCpuOverFlag),
    authCost: {
      medianApiUsPerHoldOn: round(median(holdsR.map((r) => r.apiCpuUsPerCall)), 1),
      medianApiUsPerHoldOff: round(median(holdsAuthOff.map((r) => r.apiCpuUsPerCall)), 1),
      medianRatio: round(median(authPairs), 3),
      pairRatios: authPairs.map((x) => round(x, 3)),
      goal: AUTH_COST_GOAL,
      goalMet: median(authPairs) <= AUTH_COST_GOAL,
    },
  };
}

function sayThroughput(throughput: ReturnType<typeof summariseThroughput>): void {
  say(
    `throughput: Noop ${throughput.medianNoopRps}/s, HoldSeats ${throughput.medianHoldRps}/s, median ratio ${throughput.medianRatio} (goal ${settings.ratioGoal})`,
  );
  say(
    `authentication's cost: API CPU per HoldSeats on ${throughput.authCost.medianApiUsPerHoldOn} µs, off ${throughput.authCost.medianApiUsPerHoldOff} µs, on/off ${throughput.authCost.medianRatio} (goal <= ${AUTH_COST_GOAL})`,
  );
  say(
    `one-script baseline: Eval ${throughput.eval.medianRps}/s, Eval/Noop ${throughput.eval.medianRatio}, HoldSeats/Eval ${throughput.eval.medianHoldOverEval}; ` +
      `HoldSeats/Noop if a hold cost the API no more than Eval: ${throughput.eval.ceilingIfApiAtEval}`,
  );
  say(
    `CPU per call (ghz + API + Redis): Noop ${JSON.stringify(throughput.machineUsPerNoop)}, HoldSeats ${JSON.stringify(throughput.machineUsPerHold)} µs; ` +
      `whole-machine ratio ${throughput.machineCpuRatio}, ceiling if a hold cost the API no more than Noop ${throughput.ceilingIfApiFree}`,
  );
}

/** Latency at load: Noop and HoldSeats both at 50 % of HoldSeats' median maximum. */
async function latencyRounds(ctx: Ctx, files: DataFiles, medianHoldRps: number): Promise<BenchResult["latency"]> {
  const rpsTarget = Math.max(100, Math.round(medianHoldRps * 0.5));
  const latencyCalls = Math.min(
    settings.latencyMaxCalls,
    Math.max(4_000, Math.round(rpsTarget * settings.latencyTargetSeconds)),
  );
  const rounds: RoundResult[] = [];
  for (let i = 0; i < settings.rounds; i++) {
    rounds.push(
      await measure("latency", i + 1, "Noop", {
        ...on(ctx),
        dataFile: files.noopFile,
        total: latencyCalls,
        skipFirst: Math.round(latencyCalls * 0.05),
        rps: rpsTarget,
        outFile: path.join(ctx.out, `lat-noop-${i + 1}.json`),
      }),
    );
    rounds.push(
      await measure("latency", i + 1, "HoldSeats", {
        ...on(ctx),
        dataFile: ctx.auxHolds.next(latencyCalls, `l${i + 1}`),
        total: latencyCalls,
        skipFirst: Math.round(latencyCalls * 0.05),
        rps: rpsTarget,
        outFile: path.join(ctx.out, `lat-holds-${i + 1}.json`),
        eventId: ctx.aux.eventId,
      }),
    );
  }
  const p = (r: RoundResult, k: "p50" | "p99") => r.ghz.summary?.latencyMs[k] ?? NaN;
  const ln = rounds.filter((r) => r.call === "Noop");
  const lh = rounds.filter((r) => r.call === "HoldSeats");
  return {
    rpsTarget,
    rounds,
    medianNoopP50: median(ln.map((r) => p(r, "p50"))),
    medianNoopP99: median(ln.map((r) => p(r, "p99"))),
    medianHoldP50: median(lh.map((r) => p(r, "p50"))),
    medianHoldP99: median(lh.map((r) => p(r, "p99"))),
  };
}

/** One HoldSeats round as ghz's HTML report. */
async function htmlRound(ctx: Ctx): Promise<BenchResult["html"]> {
  if (settings.htmlCalls === 0) return undefined;
  const htmlOut = path.join(ctx.out, "holds.html");
  const r = await measure("html", 1, "HoldSeats", {
    ...on(ctx),
    dataFile: ctx.auxHolds.next(settings.htmlCalls, "h"),
    total: settings.htmlCalls,
    skipFirst: 200,
    format: "html",
    outFile: htmlOut,
    eventId: ctx.aux.eventId,
  });
  return { file: htmlOut, round: r };
}

/** The throughput event: every call held 2 seats of its own. */
async function bigEventChecks(ctx: Ctx, holdsR: RoundResult[]): Promise<BenchResult["bigEvent"]> {
  say("checking the throughput event's state");
  const tputState = await readEventState(ctx.b, ctx.tput);
  const tputChecks = seatChecks(tputState, new SeatIndex(ctx.tput));
  const callsSent = holdsR.reduce((a, r) => a + r.sent, 0);
  const created = holdsR.reduce((a, r) => a + (r.holdsCreated ?? 0), 0);
  tputChecks.push({
    name: "every call accounted for (each HoldSeats call made exactly one hold)",
    ok: created === callsSent && tputState.holds.length === callsSent,
    detail: `${callsSent} calls sent, ${created} holds created (version delta), ${tputState.holds.length} holds indexed`,
  });
  tputChecks.push({
    name: "each hold has its 2 seats",
    ok: tputState.holds.every((h) => h.seats.length === 2) && tputState.seatValues.size === 2 * tputState.holds.length,
    detail: `${tputState.seatValues.size} seats in the seats hash for ${tputState.holds.length} holds`,
  });
  return {
    checks: tputChecks,
    holds: tputState.holds.length,
    heldSeats: tputState.seatValues.size,
    callsSent,
  };
}

/** Redis: CPU per hold over gRPC, and the script's own ceiling (redis-benchmark EVALSHA on a fresh event per run). */
async function redisCeiling(ctx: Ctx, holdsR: RoundResult[], medianHoldRps: number): Promise<BenchResult["redis"]> {
  const { b, stack } = ctx;
  const holdsMeasured = holdsR.reduce((a, r) => a + (r.holdsCreated ?? 0), 0);
  const cpuUsPerHold = (holdsR.reduce((a, r) => a + r.redisCpuSeconds, 0) / holdsMeasured) * 1e6;
  const { sha, source } = holdSeatsSha();
  const loaded = String(await b.redis.script("LOAD", source));
  if (loaded !== sha) throw new Error(`SCRIPT LOAD returned ${loaded}, expected ${sha}`);
  const ceiling: CeilingRun[] = [];
  for (let i = 0; i < settings.ceilingRuns; i++) {
    const layout = gridLayout(
      `${ctx.run.runId}_ceil${i + 1}`,
      { sections: 1, rowsPerSection: 2, seatsPerRow: 10 },
      4,
      "C",
    );
    await loadOpenEvent(b, layout);
    const c = await runCeiling({
      redis: b.redis,
      host: stack.redisHost,
      port: stack.redisPort,
      eventId: layout.eventId,
      sha,
      calls: settings.ceilingCalls,
      clients: settings.ceilingClients,
    });
    if (c.exitCode !== 0) throw new Error(`redis-benchmark exited with ${c.exitCode}`);
    say(
      `ceiling ${i + 1}: ${Math.round(c.rps)} EVALSHA/s, p50 ${c.p50Ms} ms p99 ${c.p99Ms} ms, ${c.ok} OK + ${c.notOk} not OK, redis ${round(c.redisCpuUsPerCall, 2)} µs/call (script ${round(c.scriptUsPerCall, 2)} µs)`,
    );
    ceiling.push(c);
    await dropEvent(b.redis, layout.eventId);
  }
  const medianCeilingRps = median(ceiling.map((c) => c.rps));
  return {
    cpuUsPerHold: round(cpuUsPerHold, 2),
    scriptUsPerHold: round(median(holdsR.map((r) => r.scriptUsPerCall ?? NaN)), 2),
    holdsMeasured,
    script: { name: "lua/hold_seats.lua (+ includes/common.lua)", sha },
    ceiling,
    medianCeilingRps: round(medianCeilingRps),
    medianCeilingCpuUsPerCall: round(median(ceiling.map((c) => c.redisCpuUsPerCall)), 2),
    medianCeilingScriptUsPerCall: round(median(ceiling.map((c) => c.scriptUsPerCall)), 2),
    grpcOverCeiling: round(medianHoldRps / medianCeilingRps, 3),
  };
}

/** Contention: 100,000 calls for 100 seats, then the event's state against what ghz was told. */
async function contentionRound(ctx: Ctx): Promise<BenchResult["contention"]> {
  const { cont, b } = ctx;
  const seed = ctx.run.started.getTime() % 2 ** 31 || 1;
  const contFile = path.join(ctx.data, "contention.json");
  const contSeats = Array.from({ length: gridCapacity(CONTENTION) }, (_, i) => gridSeat(CONTENTION, i, "A"));
  const { seatsRequested } = writeContentionFile(contFile, {
    eventId: cont.eventId,
    seats: contSeats,
    count: settings.contentionCalls,
    maxSeats: settings.contentionMaxSeats,
    idPrefix: `${ctx.run.runId}c`,
    seed,
  });
  const contRound = await measure("contention", 1, "HoldSeats", {
    ...on(ctx),
    dataFile: contFile,
    total: settings.contentionCalls,
    countErrors: true,
    outFile: path.join(ctx.out, "contention.json"),
    eventId: cont.eventId,
  });
  const cs = contRound.ghz.summary!;
  const contState = await readEventState(b, cont);
  const contChecks = seatChecks(contState, new SeatIndex(cont));
  const okCalls = cs.codes.OK ?? 0;
  const aborted = cs.codes.Aborted ?? 0;
  const others = Object.entries(cs.codes).filter(([c]) => c !== "OK" && c !== "Aborted");
  const otherCount = others.reduce((a, [, n]) => a + n, 0);
  contChecks.push({
    name: "every call accounted for",
    ok: cs.count === settings.contentionCalls && okCalls + aborted + otherCount === settings.contentionCalls,
    detail: `OK ${okCalls} + ABORTED ${aborted} + others ${otherCount}${others.length ? ` ${JSON.stringify(Object.fromEntries(others))}` : ""} = ${okCalls + aborted + otherCount} of ${settings.contentionCalls} sent (ghz tallied ${cs.count})`,
  });
  contChecks.push({
    name: "successful calls = holds in Redis",
    ok: okCalls === contState.holds.length && okCalls === (contRound.holdsCreated ?? -1),
    detail: `${okCalls} OK replies, ${contState.holds.length} holds indexed, ${contRound.holdsCreated} version bumps`,
  });
  const buyers = new Set(contState.holds.map((h) => h.buyer));
  contChecks.push({
    name: "one hold per buyer, 1-4 seats each",
    ok:
      buyers.size === contState.holds.length &&
      contState.holds.every((h) => h.seats.length >= 1 && h.seats.length <= settings.contentionMaxSeats),
    detail: `${contState.holds.length} holds, ${buyers.size} distinct buyers`,
  });
  contChecks.push({
    name: "refusals are ABORTED (SEATS_UNAVAILABLE)",
    ok: otherCount === 0 && Object.keys(cs.errorKinds).every((k) => /^Aborted: seats already taken/.test(k)),
    detail:
      Object.entries(cs.errorKinds)
        .map(([k, n]) => `${k} × ${n}`)
        .join("; ") || "no refusals",
  });
  const heldSeats = [...contState.snapshotSeats.values()].filter((s) => s === "H").length;
  const contention = {
    eventId: cont.eventId,
    calls: settings.contentionCalls,
    seed,
    seatsRequested,
    round: contRound,
    codes: cs.codes,
    errorKinds: cs.errorKinds,
    holds: contState.holds.length,
    heldSeats,
    checks: contChecks,
  };
  say(
    `contention: ${Math.round(cs.rps)} calls/s, p50 ${cs.latencyMs.p50} ms p99 ${cs.latencyMs.p99} ms, codes ${JSON.stringify(cs.codes)}, ${contention.holds} holds on ${heldSeats} seats`,
  );
  return contention;
}

async function main(run: BenchRun): Promise<BenchOutcome> {
  const failures: string[] = [];
  checkPrerequisites(await runCommand("redis-benchmark", ["--version"]));
  const ghzVersion = "v0.121.0 (tools/devstack/install-tools.sh; a go-install build reports 'dev')";
  const ctx = await startStack(run);
  const events = await loadEvents(ctx);
  const files = writeDataFiles(ctx);
  const warmup = await warmUp(ctx, files);

  const rounds = await throughputRounds(ctx, files);
  const holdsR = rounds.filter((r) => r.call === "HoldSeats");
  const throughput = summariseThroughput(rounds);
  failures.push(...nonOkCodes("throughput", rounds));
  sayThroughput(throughput);

  const medianHoldRps = median(holdsR.map((r) => r.ghz.summary?.rps ?? NaN));
  const latency = await latencyRounds(ctx, files, medianHoldRps);
  failures.push(...nonOkCodes("latency", latency.rounds));
  const html = await htmlRound(ctx);
  const bigEvent = await bigEventChecks(ctx, holdsR);
  const redisResult = await redisCeiling(ctx, holdsR, medianHoldRps);
  const contention = await contentionRound(ctx);

  const allChecks = [...bigEvent.checks, ...contention.checks];
  const broken = allChecks.filter((c) => !c.ok);
  for (const c of broken) failures.push(`invariant broken: ${c.name}: ${c.detail}`);
  for (const c of allChecks) say(`${c.ok ? "ok    " : "BROKEN"} ${c.name}: ${c.detail}`);

  const { stack, api, b } = ctx;
  if (!stack.own.redis) {
    for (const e of [ctx.tput, ctx.aux, ctx.cont]) await dropEvent(b.redis, e.eventId);
  }

  const { runId, started, machine } = run;
  const finished = new Date();
  const result: BenchResult = {
    kind: "holds",
    schema: 1,
    runId,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: round((finished.getTime() - started.getTime()) / 1000, 1),
    ok: failures.length === 0,
    failures,
    settings,
    source: sourceInfo(repoRoot),
    machine: {
      ...machine,
      ghz: ghzVersion,
      redis: ctx.redisVersion,
      loadAvgAfter: os.loadavg().map((x) => round(x, 2)),
    },
    stack: {
      own: stack.own,
      pids: stack.pids,
      redisUrl: stack.redisUrl,
      mysqlUrl: stack.mysqlUrl,
      temporalAddress: stack.temporalAddress,
      apiCommand: api.command,
      apiPid: api.pid,
    },
    events,
    requestBytes: { holdSeats: files.holdBytes, noop: files.noopBytes },
    warmup,
    throughput,
    latency,
    html,
    redis: redisResult,
    bigEvent,
    contention,
    ok_invariants: broken.length === 0,
  };
  const written = writeReports(result, run.stamp);
  written.push(writeChartsPage(result, written));
  return { files: written, failures };
}

/** results/holds-<stamp>-charts.html: the rounds as charts (the .html beside it is ghz's own report of one round); linked from the .md. */
function writeChartsPage(r: BenchResult, files: string[]): string {
  const base = files.find((f) => f.endsWith(".json"))!.replace(/\.json$/, "");
  const file = `${base}-charts.html`;
  const charted = (rs: RoundResult[]) =>
    rs
      .filter((x) => x.series)
      .map((x) => ({ label: `${x.call} ${x.round}`, group: x.call, series: x.series!, baseline: x.call === "Noop" }));
  const body = [
    `<h1>HoldSeats vs Noop, ${esc(r.startedAt)}</h1>`,
    `<p>Median HoldSeats/Noop ratio <b>${r.throughput.medianRatio}</b> (goal ${r.throughput.goal}); ${r.machine.nproc} cores (${esc(r.machine.cpuModel)}), load ${r.machine.loadAvgBefore.join(" ")} at start, shared. Full report: <a href="${esc(path.basename(base))}.md">${esc(path.basename(base))}.md</a>. Noop rounds dashed grey.</p>`,
    `<h2>Throughput rounds (${r.settings.n.toLocaleString("en-US")} calls each)</h2>`,
    roundCharts("HoldSeats vs Noop", charted(r.throughput.rounds)),
    `<h2>Latency at load (--rps ${r.latency.rpsTarget})</h2>`,
    roundCharts(`At ${r.latency.rpsTarget} calls/s`, charted(r.latency.rounds)),
    `<h2>Contention (${r.contention.calls.toLocaleString("en-US")} calls for 100 seats; most end ABORTED)</h2>`,
    roundCharts("HoldSeats, contention", charted([r.contention.round])),
  ];
  fs.writeFileSync(file, htmlPage(`HoldSeats vs Noop ${r.startedAt}`, body.join("\n")));
  fs.appendFileSync(
    `${base}.md`,
    `\nCharts (throughput and latency over time per round, latency histograms): \`${path.basename(file)}\` (raw output, not committed: the bench writes it beside this report).\n`,
  );
  return file;
}

runBench(
  {
    usage: "npm run bench:holds --",
    about:
      "HoldSeats over gRPC against Noop and Eval in one run: throughput rounds, latency at load, Redis script ceiling, contention and its invariants. Starts its own stack. About 4 minutes on 2 cores.",
    env: [
      ["BENCH_N", "calls per throughput round (30000)"],
      ["BENCH_ROUNDS", "rounds of each call (3)"],
      ["BENCH_CONCURRENCY", "ghz --concurrency (64)"],
      ["BENCH_CONNECTIONS", "ghz --connections (4)"],
      ["BENCH_SKIP", "ghz --skipFirst per round (2000)"],
      ["BENCH_WARMUP", "untallied calls of each before the rounds (10000)"],
      ["BENCH_CONTENTION_CALLS", "HoldSeats calls for the 100-seat event (100000)"],
      ["BENCH_CEILING_CALLS", "redis-benchmark EVALSHA calls per run (200000)"],
      ["BENCH_CEILING_RUNS", "redis-benchmark runs (3)"],
      ["BENCH_GHZ_CPUS", "ghz --cpus (1)"],
      ["BENCH_GHZ_GOGC", "GOGC for ghz (400)"],
      ["BENCH_GHZ_DATA", "binary | json: how requests reach ghz (binary)"],
      ["BENCH_HTML", "on | off: ghz's own HTML report of one round (on)"],
      ["BENCH_API_NODE_ARGS", "extra node flags for the API, e.g. --cpu-prof"],
      ["BENCH_SOURCE_COMMIT", "set by bench/run-at-commit.sh"],
      ...STACK_ENV,
    ],
    runIdPrefix: "b",
    tmpPrefix: "ticketing-bench-",
    tools: ["ghz", "grpcurl"],
  },
  main,
);
