// `npm run bench:scaling`: N API processes on one port (API_PROCESSES=N,
// node:cluster) against one process, measured in one run (see
// docs/BENCHMARKING.md). Two APIs run side by side on their own ports,
// one with API_PROCESSES=1 and one with API_PROCESSES=N (2), on the same
// Redis, MariaDB and Temporal, so rounds interleave without restarts:
//   each round: HoldSeats on N=1 and on N=2, then Noop on N=1 and on N=2
//   (which N goes first alternates by round), ghz with BENCH_CONNECTIONS (8)
//   connections so every worker gets several.
// Per round: calls/s, p50/p99, the Node CPU of the API's whole process tree
// (primary + workers, read from /proc per process) per call, each worker's
// share of that CPU and of the calls (bytes written, see lib/scaling-procs.ts),
// the CPU of ghz (flagged over 70 % of a core) and of Redis.
// Ends with the invariants on the HoldSeats event's Redis state (no seat in
// two holds, held = union of the holds, every call made exactly one hold) and
// the cluster's workers unchanged; a broken one exits non-zero.
// Writes bench/results/scaling-<timestamp>.{json,md,html} and bench/SCALING-RESULTS.md.
//
// Knobs (env): BENCH_N (calls per round, 30000), BENCH_ROUNDS (3),
// BENCH_CONCURRENCY (64), BENCH_CONNECTIONS (8), BENCH_SKIP (2000),
// BENCH_WARMUP (10000 per API and call), BENCH_SCALING_PROCESSES (2: the N
// compared with 1), BENCH_GHZ_CPUS (1), BENCH_GHZ_GOGC (400), BENCH_KEEP_TMP
// (1 keeps the temp dir), BENCH_OUT (where results/ and SCALING-RESULTS.md go).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { repoRoot } from "../tools/devstack/stack.js";
import { SeatIndex, type EventLayout } from "../src/events/layout.js";
import { HoldSeatsRequest } from "../src/gen/ticketing/v1/reservation_service.js";
import { ghzRoundSeries } from "./lib/charts.js";
import { envNumber } from "./lib/env.js";
import {
  benchRedis,
  gridLayout,
  gridSeat,
  loadOpenEvent,
  DistinctHoldFiles,
  writeNoopFile,
  type BenchRedis,
  type GridShape,
} from "./lib/events.js";
import { runGhz } from "./lib/ghz.js";
import { readEventState, seatChecks, type Check } from "./lib/invariants.js";
import { dropEvent, eventVersion, redisCpuSeconds } from "./lib/redis.js";
import { childPids, sampleTree, treeDelta, waitForWorkers } from "./lib/scaling-procs.js";
import {
  scalingCommand,
  writeScalingReports,
  type Call,
  type PerN,
  type ScalingResult,
  type ScalingRound,
  type ScalingSettings,
} from "./lib/scaling-report.js";
import { apiLogTail, say, startApi, startBenchStack, stopAll, type ApiProcess, type BenchStack } from "./lib/stack.js";
import { median, round } from "./lib/stats.js";
import { machineCpuSeconds, sourceInfo } from "./lib/sys.js";
import { STACK_ENV } from "./lib/command.js";
import { runBench, type BenchOutcome, type BenchRun } from "./lib/runner.js";

const settings: ScalingSettings = {
  n: envNumber("BENCH_N", 30_000),
  rounds: envNumber("BENCH_ROUNDS", 3),
  concurrency: envNumber("BENCH_CONCURRENCY", 64),
  connections: envNumber("BENCH_CONNECTIONS", 8),
  skipFirst: envNumber("BENCH_SKIP", 2_000),
  warmupCalls: envNumber("BENCH_WARMUP", 10_000),
  processes: envNumber("BENCH_SCALING_PROCESSES", 2),
  ghzCpus: envNumber("BENCH_GHZ_CPUS", 1),
  ghzGogc: envNumber("BENCH_GHZ_GOGC", 400),
  ghzCpuFlag: 0.7,
};

const GHZ = path.join(repoRoot, ".tools/bin/ghz");
const GRPCURL = path.join(repoRoot, ".tools/bin/grpcurl");
const PROTOSET = path.join(repoRoot, "src/gen/descriptors.binpb");
const NOOP = "ticketing.bench.v1.NoopService/Noop";
const HOLD = "ticketing.v1.ReservationService/HoldSeats";
const SEATS_PER_SECTION = 4 * 250;

/** One API under test: the single process, or the cluster primary and its workers. */
export interface Api {
  n: number;
  label: string;
  proc: ApiProcess;
  workers: number[];
}

async function measure(
  phase: ScalingRound["phase"],
  roundNo: number,
  call: Call,
  o: {
    api: Api;
    idle: Api;
    b: BenchRedis;
    dataFile: string;
    total: number;
    skipFirst: number;
    outFile: string;
    eventId?: string;
  },
): Promise<ScalingRound> {
  const t0 = sampleTree(o.api.proc.pid, o.api.workers);
  const i0 = sampleTree(o.idle.proc.pid, o.idle.workers);
  const redis0 = await redisCpuSeconds(o.b.redis);
  const v0 = o.eventId ? await eventVersion(o.b.redis, o.eventId) : 0;
  const m0 = machineCpuSeconds();
  const ghz = await runGhz({
    ghz: GHZ,
    protoset: PROTOSET,
    call: call === "Noop" ? NOOP : HOLD,
    address: o.api.proc.address,
    dataFile: o.dataFile,
    total: o.total,
    concurrency: settings.concurrency,
    connections: settings.connections,
    skipFirst: o.skipFirst || undefined,
    cpus: settings.ghzCpus || undefined,
    gogc: settings.ghzGogc || undefined,
    format: "json",
    outFile: o.outFile,
  });
  const m1 = machineCpuSeconds();
  const redis1 = await redisCpuSeconds(o.b.redis);
  const t1 = sampleTree(o.api.proc.pid, o.api.workers);
  const i1 = sampleTree(o.idle.proc.pid, o.idle.workers);
  const v1 = o.eventId ? await eventVersion(o.b.redis, o.eventId) : 0;
  if (ghz.exitCode !== 0 || !ghz.summary) {
    throw new Error(
      `ghz exited with ${ghz.exitCode} (${call} on ${o.api.label}, ${phase} ${roundNo}): ${ghz.stderr.slice(0, 2000)}\n--- api log:\n${apiLogTail(o.api.proc)}`,
    );
  }
  const tree = treeDelta(t0, t1);
  const idle = treeDelta(i0, i1);
  const wall = ghz.wallSeconds;
  const redisCpu = redis1 - redis0;
  const busy = m1.busy - m0.busy;
  const workers = tree.procs.filter((p) => p.role === "worker");
  const imbalance = (k: "workerCpuShare" | "workerCallShare") =>
    workers.length ? Math.max(...workers.map((w) => w[k] ?? NaN)) * workers.length : undefined;
  const s = ghz.summary;
  const r: ScalingRound = {
    phase,
    round: roundNo,
    call,
    n: o.api.n,
    ghz,
    sent: o.total,
    rps: round(s.rps),
    p50Ms: s.latencyMs.p50 ?? NaN,
    p99Ms: s.latencyMs.p99 ?? NaN,
    codes: s.codes,
    apiCpuSeconds: round(tree.cpuSeconds, 3),
    apiCpuUsPerCall: round((tree.cpuSeconds / o.total) * 1e6, 1),
    apiCores: round(tree.cpuSeconds / wall, 3),
    apiWriteBytesPerCall: round(tree.writeBytes / o.total, 1),
    procs: tree.procs.map((p) => ({
      ...p,
      cpuSeconds: round(p.cpuSeconds, 3),
      cpuShare: round(p.cpuShare, 3),
      workerCpuShare: p.workerCpuShare === undefined ? undefined : round(p.workerCpuShare, 3),
      workerCallShare: p.workerCallShare === undefined ? undefined : round(p.workerCallShare, 3),
    })),
    workerCpuImbalance: imbalance("workerCpuShare") === undefined ? undefined : round(imbalance("workerCpuShare")!, 3),
    workerCallImbalance:
      imbalance("workerCallShare") === undefined ? undefined : round(imbalance("workerCallShare")!, 3),
    idleApiCores: round(idle.cpuSeconds / wall, 3),
    redisCpuUsPerCall: round((redisCpu / o.total) * 1e6, 2),
    redisCores: round(redisCpu / wall, 3),
    holdsCreated: o.eventId ? v1 - v0 : undefined,
    machineBusyCores: round(busy / wall, 3),
    otherCores: round(Math.max(0, busy - tree.cpuSeconds - idle.cpuSeconds - redisCpu - ghz.cpuSeconds) / wall, 3),
    ghzCpuOverFlag: ghz.cpuCores > settings.ghzCpuFlag,
    series: phase === "throughput" ? ghzRoundSeries(o.outFile) : undefined,
  };
  const shares = workers.length
    ? ` workers cpu ${workers.map((w) => `${round((w.workerCpuShare ?? NaN) * 100)}%`).join("/")} calls ${workers.map((w) => `${round((w.workerCallShare ?? NaN) * 100)}%`).join("/")}`
    : "";
  say(
    `${phase} ${roundNo} ${call.padEnd(9)} N=${o.api.n}: ${r.rps} calls/s p50 ${r.p50Ms} ms p99 ${r.p99Ms} ms codes ${JSON.stringify(s.codes)}` +
      ` | api ${r.apiCpuUsPerCall} µs/call (${round(r.apiCores * 100)} %)${shares}, ghz ${round(ghz.cpuCores * 100)} % core${r.ghzCpuOverFlag ? " (OVER 70 %)" : ""}, redis ${round(r.redisCores * 100)} %, other ${round(r.otherCores * 100)} %`,
  );
  return r;
}

/** The APIs under test (N=1 and N), for the teardown to find workers a primary left behind. */
const apis: Api[] = [];

/** What every phase uses: the run, the stack, both APIs, the HoldSeats event and the data files. */
interface Ctx {
  run: BenchRun;
  stack: BenchStack;
  b: BenchRedis;
  redisVersion: string;
  one: Api;
  many: Api;
  grid: GridShape;
  layout: EventLayout;
  /** The event's version once loaded: every hold after it bumps it once. */
  loadedVersion: number;
  /** HoldSeats data files, each starting where the last one ended. */
  holds: DistinctHoldFiles;
  noopFile: string;
  /** ghz outputs. */
  out: string;
}

function checkSettings(): void {
  if (settings.processes < 2 || !Number.isInteger(settings.processes))
    throw new Error(`BENCH_SCALING_PROCESSES=${settings.processes}: compare 1 with an integer N ≥ 2`);
  if (settings.rounds < 1 || settings.n <= settings.skipFirst)
    throw new Error("BENCH_ROUNDS ≥ 1 and BENCH_N > BENCH_SKIP, please");
}

/** The stack, the APIs (N=1 and N), the HoldSeats event sized for every call and the Noop data file. */
async function prepare(run: BenchRun): Promise<Ctx> {
  const { runId, tmp } = run;
  // every HoldSeats call of the run (warm-up included) holds 2 seats nobody else holds
  const holdCalls = 2 * (settings.warmupCalls + settings.rounds * settings.n);
  const grid: GridShape = {
    sections: Math.ceil((2 * holdCalls) / SEATS_PER_SECTION),
    rowsPerSection: 4,
    seatsPerRow: 250,
  };
  const stack = await startBenchStack(tmp);
  // one after the other: both compile the TypeScript at start, and 2 cores are shared
  for (const n of [1, settings.processes]) {
    const proc = await startApi(stack, tmp, GRPCURL, { name: `api-n${n}`, env: { API_PROCESSES: String(n) } });
    const workers = n > 1 ? await waitForWorkers(proc.pid, n) : [];
    apis.push({ n, label: `N=${n}`, proc, workers });
    say(
      `api N=${n}: ${proc.address} (pid ${proc.pid}${workers.length ? `, workers ${workers.join(", ")}` : ""}, log ${proc.logFile})`,
    );
  }
  const [one, many] = apis as [Api, Api];
  const b = benchRedis(stack.redisUrl);
  run.defer(() => b.close());
  const redisVersion = /redis_version:(\S+)/.exec(await b.redis.info("server"))?.[1] ?? "?";

  const layout = gridLayout(`${runId}_holds`, grid, 4);
  await loadOpenEvent(b, layout);
  const loadedVersion = await eventVersion(b.redis, layout.eventId);
  say(
    `event ${layout.eventId}: ${layout.capacity} seats for ${holdCalls} HoldSeats calls of 2 seats (both APIs, warm-up included)`,
  );

  const data = path.join(tmp, "data");
  const out = path.join(tmp, "ghz");
  fs.mkdirSync(data);
  fs.mkdirSync(out);
  // the Noop body is as large on the wire as a HoldSeats body (as in bench/holds.ts)
  const holdBytes = HoldSeatsRequest.encode({
    eventId: layout.eventId,
    buyerId: `${runId}h1n1-b0`,
    requestId: `${runId}h1n1-r0`,
    admissionToken: "",
    selection: { $case: "seats", value: { seatIds: [gridSeat(grid, 0), gridSeat(grid, 1)] } },
  }).finish().length;
  const noopFile = path.join(data, "noop.json");
  writeNoopFile(noopFile, {
    count: Math.max(settings.n, settings.warmupCalls),
    payloadChars: holdBytes - 2,
    idPrefix: runId,
  });
  const holds = new DistinctHoldFiles({ dir: data, eventId: layout.eventId, grid, runId });
  return { run, stack, b, redisVersion, one, many, grid, layout, loadedVersion, holds, noopFile, out };
}

/** One ghz round on `api`, the other API idle beside it. */
function measureOn(
  ctx: Ctx,
  api: Api,
  phase: ScalingRound["phase"],
  roundNo: number,
  call: Call,
  o: { dataFile: string; total: number; skipFirst: number; outFile: string; eventId?: string },
): Promise<ScalingRound> {
  return measure(phase, roundNo, call, { b: ctx.b, api, idle: api === ctx.one ? ctx.many : ctx.one, ...o });
}

async function warmUp(ctx: Ctx): Promise<ScalingRound[]> {
  const warmup: ScalingRound[] = [];
  if (settings.warmupCalls === 0) return warmup;
  for (const api of apis) {
    warmup.push(
      await measureOn(ctx, api, "warmup", 1, "Noop", {
        dataFile: ctx.noopFile,
        total: settings.warmupCalls,
        skipFirst: 0,
        outFile: path.join(ctx.out, `warmup-noop-n${api.n}.json`),
      }),
    );
    warmup.push(
      await measureOn(ctx, api, "warmup", 1, "HoldSeats", {
        dataFile: ctx.holds.next(settings.warmupCalls, `w${api.n}`),
        total: settings.warmupCalls,
        skipFirst: 0,
        outFile: path.join(ctx.out, `warmup-holds-n${api.n}.json`),
        eventId: ctx.layout.eventId,
      }),
    );
  }
  return warmup;
}

/** HoldSeats on both, then Noop on both; which N goes first alternates, so neither always runs on a warmer machine. */
async function throughputRounds(ctx: Ctx): Promise<ScalingRound[]> {
  const { one, many, out } = ctx;
  const rounds: ScalingRound[] = [];
  for (let i = 1; i <= settings.rounds; i++) {
    const order = i % 2 === 1 ? [one, many] : [many, one];
    for (const api of order) {
      rounds.push(
        await measureOn(ctx, api, "throughput", i, "HoldSeats", {
          dataFile: ctx.holds.next(settings.n, `h${i}n${api.n}`),
          total: settings.n,
          skipFirst: settings.skipFirst,
          outFile: path.join(out, `holds-${i}-n${api.n}.json`),
          eventId: ctx.layout.eventId,
        }),
      );
    }
    for (const api of order) {
      rounds.push(
        await measureOn(ctx, api, "throughput", i, "Noop", {
          dataFile: ctx.noopFile,
          total: settings.n,
          skipFirst: settings.skipFirst,
          outFile: path.join(out, `noop-${i}-n${api.n}.json`),
        }),
      );
    }
  }
  return rounds;
}

/** N against 1: throughput ratios per round, and each N's medians. */
function figures(ctx: Ctx, rounds: ScalingRound[]) {
  const { many } = ctx;
  const pick = (call: Call, n: number) => rounds.filter((r) => r.call === call && r.n === n);
  const ratios = (call: Call) =>
    pick(call, many.n).map((r) => r.rps / (pick(call, 1).find((q) => q.round === r.round)?.rps ?? NaN));
  const holdRatios = ratios("HoldSeats");
  const noopRatios = ratios("Noop");
  const perN: PerN[] = apis.map((api) => {
    const h = pick("HoldSeats", api.n);
    const nn = pick("Noop", api.n);
    const both = [...h, ...nn];
    const maxShare = (k: "workerCpuShare" | "workerCallShare") =>
      api.workers.length
        ? round(
            median(both.map((r) => Math.max(...r.procs.filter((p) => p.role === "worker").map((p) => p[k] ?? NaN)))),
            3,
          )
        : undefined;
    return {
      n: api.n,
      medianHoldRps: round(median(h.map((r) => r.rps))),
      medianNoopRps: round(median(nn.map((r) => r.rps))),
      medianApiUsPerHold: round(median(h.map((r) => r.apiCpuUsPerCall)), 1),
      medianApiUsPerNoop: round(median(nn.map((r) => r.apiCpuUsPerCall)), 1),
      medianApiCoresHold: round(median(h.map((r) => r.apiCores)), 3),
      medianApiCoresNoop: round(median(nn.map((r) => r.apiCores)), 3),
      medianMaxWorkerCpuShare: maxShare("workerCpuShare"),
      medianMaxWorkerCallShare: maxShare("workerCallShare"),
    };
  });
  const [p1, pN] = perN as [PerN, PerN];
  const medianHoldRatio = round(median(holdRatios), 3);
  const medianNoopRatio = round(median(noopRatios), 3);
  const holdCpuPerCallRatio = round(pN.medianApiUsPerHold / p1.medianApiUsPerHold, 3);
  const noopCpuPerCallRatio = round(pN.medianApiUsPerNoop / p1.medianApiUsPerNoop, 3);
  say(
    `HoldSeats: N=1 ${p1.medianHoldRps}/s, N=${many.n} ${pN.medianHoldRps}/s, ratio ${medianHoldRatio}; Noop: ${p1.medianNoopRps}/s vs ${pN.medianNoopRps}/s, ratio ${medianNoopRatio}`,
  );
  say(
    `API CPU per call: HoldSeats ${p1.medianApiUsPerHold} vs ${pN.medianApiUsPerHold} µs (x${holdCpuPerCallRatio}), Noop ${p1.medianApiUsPerNoop} vs ${pN.medianApiUsPerNoop} µs (x${noopCpuPerCallRatio})`,
  );
  return {
    perN,
    p1,
    pN,
    holdRatios: holdRatios.map((x) => round(x, 3)),
    noopRatios: noopRatios.map((x) => round(x, 3)),
    medianHoldRatio,
    medianNoopRatio,
    holdCpuPerCallRatio,
    noopCpuPerCallRatio,
  };
}

/** Invariants: the HoldSeats event, and the cluster still the one we measured. */
async function invariantChecks(ctx: Ctx, measured: ScalingRound[]): Promise<Check[]> {
  const { b, layout, loadedVersion, one, many } = ctx;
  say("checking the HoldSeats event's state");
  const state = await readEventState(b, layout);
  const checks = seatChecks(state, new SeatIndex(layout));
  const holdRounds = measured.filter((r) => r.call === "HoldSeats");
  const sent = holdRounds.reduce((a, r) => a + r.sent, 0);
  const created = holdRounds.reduce((a, r) => a + (r.holdsCreated ?? 0), 0);
  const tallied = holdRounds.reduce((a, r) => a + Object.values(r.codes).reduce((x, y) => x + y, 0), 0);
  const okReplies = holdRounds.reduce((a, r) => a + (r.codes.OK ?? 0), 0);
  const skipped = sent - tallied;
  checks.push({
    name: "every call accounted for: OK replies = holds created",
    ok:
      okReplies === tallied &&
      okReplies + skipped === created &&
      created === state.holds.length &&
      state.version - loadedVersion === created,
    detail: `${sent} HoldSeats calls sent to both APIs: ${okReplies} OK of ${tallied} tallied + ${skipped} untallied warm-up calls (ghz --skipFirst), ${created} holds created (version deltas), ${state.holds.length} holds indexed, event version ${loadedVersion} → ${state.version}`,
  });
  checks.push({
    name: "per round: holds created = calls sent",
    ok: holdRounds.every((r) => r.holdsCreated === r.sent),
    detail: holdRounds.map((r) => `${r.phase[0]}${r.round} N=${r.n} ${r.holdsCreated}/${r.sent}`).join(", "),
  });
  checks.push({
    name: "each hold has its 2 seats",
    ok: state.holds.every((h) => h.seats.length === 2) && state.seatValues.size === 2 * state.holds.length,
    detail: `${state.seatValues.size} seats in the seats hash for ${state.holds.length} holds`,
  });
  const nowWorkers = childPids(many.proc.pid);
  checks.push({
    name: `the N=${many.n} cluster kept its workers (none crashed and was replaced)`,
    ok:
      nowWorkers.length === many.n &&
      many.workers.every((p) => nowWorkers.includes(p)) &&
      one.proc.proc.exitInfo === undefined &&
      many.proc.proc.exitInfo === undefined,
    detail: `workers at start ${many.workers.join(", ")}, at the end ${nowWorkers.join(", ") || "none"}`,
  });
  return checks;
}

async function main(run: BenchRun): Promise<BenchOutcome> {
  const failures: string[] = [];
  checkSettings();
  const ctx = await prepare(run);
  const warmup = await warmUp(ctx);
  const rounds = await throughputRounds(ctx);

  for (const r of [...warmup, ...rounds]) {
    const bad = Object.entries(r.codes).filter(([c]) => c !== "OK");
    if (bad.length > 0)
      failures.push(
        `${r.phase} ${r.round} ${r.call} N=${r.n}: non-OK codes ${JSON.stringify(Object.fromEntries(bad))}`,
      );
  }

  const f = figures(ctx, rounds);
  const generatorLimited = rounds.some((r) => r.ghzCpuOverFlag);
  const checks = await invariantChecks(ctx, [...warmup, ...rounds]);
  const broken = checks.filter((c) => !c.ok);
  for (const c of broken) failures.push(`invariant broken: ${c.name}: ${c.detail}`);
  for (const c of checks) say(`${c.ok ? "ok    " : "BROKEN"} ${c.name}: ${c.detail}`);
  const { stack, b, layout, many } = ctx;
  if (!stack.own.redis) await dropEvent(b.redis, layout.eventId);

  const { runId, started, machine } = run;
  const { p1, pN } = f;
  const headline =
    `N=${many.n}/N=1 throughput on ${machine.nproc} shared cores: HoldSeats ${f.medianHoldRatio}, Noop ${f.medianNoopRatio} (medians of ${settings.rounds}); ` +
    `Node CPU per call N=1 → N=${many.n}: HoldSeats ${p1.medianApiUsPerHold} → ${pN.medianApiUsPerHold} µs, Noop ${p1.medianApiUsPerNoop} → ${pN.medianApiUsPerNoop} µs; ` +
    `busiest worker ${round((pN.medianMaxWorkerCpuShare ?? NaN) * 100, 1)} % of the workers' CPU${generatorLimited ? "; ghz over 70 % of a core in some rounds" : ""}`;
  const finished = new Date();
  const result: ScalingResult = {
    kind: "scaling",
    schema: 1,
    runId,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: round((finished.getTime() - started.getTime()) / 1000, 1),
    ok: failures.length === 0,
    failures,
    headline,
    command: scalingCommand(),
    settings,
    source: sourceInfo(repoRoot),
    machine: { ...machine, redis: ctx.redisVersion, loadAvgAfter: os.loadavg().map((x) => round(x, 2)) },
    stack: {
      own: stack.own,
      pids: stack.pids,
      redisUrl: stack.redisUrl,
      mysqlUrl: stack.mysqlUrl,
      temporalAddress: stack.temporalAddress,
    },
    apis: apis.map((a) => ({
      n: a.n,
      label: a.label,
      address: a.proc.address,
      pid: a.proc.pid,
      workers: a.workers,
      command: a.proc.command,
    })),
    event: {
      eventId: layout.eventId,
      capacity: layout.capacity,
      layout: `sections S0-S${ctx.grid.sections - 1} x rows 1-4 x seats 1-250`,
    },
    warmup,
    rounds,
    perN: f.perN,
    holdRatios: f.holdRatios,
    noopRatios: f.noopRatios,
    medianHoldRatio: f.medianHoldRatio,
    medianNoopRatio: f.medianNoopRatio,
    holdCpuPerCallRatio: f.holdCpuPerCallRatio,
    noopCpuPerCallRatio: f.noopCpuPerCallRatio,
    generatorLimited,
    checks,
    ok_invariants: broken.length === 0,
  };
  const files = writeScalingReports(result, run.stamp);
  return { files, failures, headline };
}

/** Everything started (stopAll), then any cluster worker its primary left behind. */
async function teardown(): Promise<void> {
  await stopAll();
  // the primary drains its workers on SIGTERM; any it left behind are ours to stop
  for (const pid of apis.flatMap((a) => a.workers)) {
    try {
      process.kill(pid, 0);
      say(`api worker ${pid} outlived its primary: killing it`);
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone, as it should be */
    }
  }
}

runBench(
  {
    usage: "npm run bench:scaling --",
    about:
      "Several API processes on one port (API_PROCESSES=N, node:cluster) against one process, side by side in the same run: HoldSeats and Noop throughput, Node CPU per call of the whole process tree, each worker's share. Starts its own stack. About 10 minutes on 2 cores.",
    env: [
      ["BENCH_N", "calls per round (30000)"],
      ["BENCH_ROUNDS", "rounds (3)"],
      ["BENCH_CONCURRENCY", "ghz --concurrency (64)"],
      ["BENCH_CONNECTIONS", "ghz --connections (8)"],
      ["BENCH_SKIP", "ghz --skipFirst per round (2000)"],
      ["BENCH_WARMUP", "untallied calls of each on each API first (10000)"],
      ["BENCH_SCALING_PROCESSES", "N, the API processes compared with one (2)"],
      ["BENCH_GHZ_CPUS", "ghz --cpus (1)"],
      ["BENCH_GHZ_GOGC", "GOGC for ghz (400)"],
      ["BENCH_API_NODE_ARGS", "extra node flags for the APIs"],
      ...STACK_ENV,
    ],
    runIdPrefix: "s",
    tmpPrefix: "ticketing-scaling-",
    tools: ["ghz", "grpcurl"],
    teardown,
  },
  main,
);
