// `npm run bench:checkout` (issue #5): the checkout saga end to end against its
// baselines, measured in one run on one machine (see docs/BENCHMARKING.md):
//   1. checkouts per second: buyers HoldSeats (1 or 2 seats), CreateOrder
//      (tok_approve) and follow WatchOrder until CONFIRMED, a fixed number per
//      round at a fixed concurrency; rate from the first CreateOrder to the
//      last CONFIRMED, CreateOrder->CONFIRMED p50/p99;
//   2. interleaved with the bare baseline (A B A B A B): a workflow of the
//      product checkout's current Temporal shape (the lean one since 2e3c7da:
//      4 local + 1 normal activity, no timer) with no work inside
//      (bench/checkout-baseline/ bareCheckout), started the same way by
//      Update-with-Start, run by its own worker process on its own task queue;
//      median checkout/bare ratio (goal >= 0.8);
//   3. HoldSeats throughput (ghz, a large Redis-only event) idle and while
//      checkouts run, interleaved; median loaded/idle ratio (goal >= 0.9);
//   4. CPU per checkout of the Temporal server, the worker, the API, MySQL and
//      Redis, and where a workflow's wall time goes (sampled histories);
//   5. invariants: every order final, captured payments = CONFIRMED orders, no
//      seat sold twice (MySQL and Redis agree), one ticket per sold seat, every
//      call accounted for. A broken invariant exits non-zero.
// Writes bench/results/checkout-<timestamp>.{json,md} and bench/CHECKOUT-RESULTS.md.
// Starts its own Redis, MariaDB, Temporal dev server, API, worker and bare
// worker (REDIS_URL / MYSQL_URL / TEMPORAL_ADDRESS reuse existing ones) and
// stops everything it started by PID, also on failure and Ctrl-C.
//
// Knobs (env): BENCH_CHECKOUTS (per round, 200), BENCH_CHECKOUT_CONCURRENCY
// (50), BENCH_ROUNDS (5), BENCH_WARMUP_CHECKOUTS (50), BENCH_SERIAL (20: one
// at a time, for the unloaded latency), BENCH_PREVIOUS_SHAPE (0; 1: also
// interleave rounds of previousShapeCheckout, the checkout's shape before
// 2e3c7da with the window timer, as a comparison: a longer run), BENCH_TEMPORAL_DB
// (file | memory; file = SQLite with WAL + synchronous=normal),
// BENCH_TEMPORAL_ARGS (extra dev-server flags, e.g. "--dynamic-config-value
// system.enableActivityEagerExecution=true"), BENCH_HOLD_N
// (HoldSeats calls per ghz round, 15000), BENCH_HOLD_SKIP (500),
// BENCH_HOLD_WARMUP (3000), BENCH_GHZ_CONCURRENCY (50), BENCH_CONNECTIONS (4),
// BENCH_GHZ_CPUS (1), BENCH_GHZ_GOGC (400), BENCH_LOAD_RAMP_MS (3000: checkouts
// run this long before ghz starts in a loaded round), BENCH_HISTORY_SAMPLE
// (10), BENCH_KEEP_TMP (1 keeps the temp dir with every log),
// BENCH_WORKER_NODE_ARGS (extra node flags for both workers, e.g. --cpu-prof
// --cpu-prof-dir=/tmp/prof), BENCH_API_NODE_ARGS (the same for the API),
// WORKER_NICE (10, as the product's default: the CPU niceness of both workers,
// which set it themselves, and of our Temporal dev server, as `npm start` runs
// it; 0 = everything at the bench's own priority).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Client, Connection } from "@temporalio/client";
import { createMysqlPool, type MysqlPool } from "../src/adapters/mysql/pool.js";
import { repoRoot, sleep } from "../tools/devstack/stack.js";
import { SeatIndex, type EventLayout } from "../src/events/layout.js";
import {
  BareDriver,
  CheckoutDriver,
  SeatAllocator,
  checkoutEvent,
  percentile,
  type BareRoundStats,
  type BuyerRecord,
  type CheckoutRoundStats,
} from "./lib/checkout-driver.js";
import { sampleHistories } from "./lib/checkout-history.js";
import { bareChecks, checkoutChecks } from "./lib/checkout-invariants.js";
import {
  cpuDelta,
  cpuSnapshot,
  OtherProcessSampler,
  processNiceness,
  stopOwned,
  type CpuDelta,
  type WorkerProcess,
  type TemporalDb,
} from "./lib/checkout-procs.js";
import {
  writeCheckoutReports,
  type CheckoutBenchResult,
  type CheckoutSettings,
  type HoldRound,
  type MeasuredBare,
  type MeasuredCheckout,
} from "./lib/checkout-report.js";
import {
  benchRedis,
  gridCapacity,
  gridLayout,
  loadOpenEvent,
  DistinctHoldFiles,
  type BenchRedis,
  type GridShape,
} from "./lib/events.js";
import { runGhz } from "./lib/ghz.js";
import { readEventState, seatChecks, type Check } from "./lib/invariants.js";
import { eventVersion } from "./lib/redis.js";
import { say } from "./lib/stack.js";
import { envNumber } from "./lib/env.js";
import { median, round } from "./lib/stats.js";
import { workerNiceFromEnv } from "../src/worker-priority.js";
import { sourceInfo } from "./lib/sys.js";
import { STACK_ENV } from "./lib/command.js";
import { startCheckoutStack, stopCheckoutStack, type CheckoutStack } from "./lib/checkout-stack.js";
import { runBench, type BenchOutcome, type BenchRun } from "./lib/runner.js";

const env = envNumber;

const temporalDb = (process.env.BENCH_TEMPORAL_DB ?? "file") as TemporalDb;
if (temporalDb !== "file" && temporalDb !== "memory")
  throw new Error(`BENCH_TEMPORAL_DB=${String(temporalDb)}: file or memory`);

// Checkout work yields the CPU to the hold path (src/worker-priority.ts): the
// product worker, the bare worker and Temporal all run at this niceness.
const workerNice = workerNiceFromEnv();

export const settings: CheckoutSettings = {
  checkouts: env("BENCH_CHECKOUTS", 200),
  concurrency: env("BENCH_CHECKOUT_CONCURRENCY", 50),
  rounds: env("BENCH_ROUNDS", 5),
  warmupCheckouts: env("BENCH_WARMUP_CHECKOUTS", 50),
  serial: env("BENCH_SERIAL", 20),
  previousShape: env("BENCH_PREVIOUS_SHAPE", 0),
  temporalDb,
  temporalArgs: process.env.BENCH_TEMPORAL_ARGS ?? "",
  holdN: env("BENCH_HOLD_N", 15_000),
  holdSkip: env("BENCH_HOLD_SKIP", 500),
  holdWarmup: env("BENCH_HOLD_WARMUP", 3_000),
  ghzConcurrency: env("BENCH_GHZ_CONCURRENCY", 50),
  connections: env("BENCH_CONNECTIONS", 4),
  ghzCpus: env("BENCH_GHZ_CPUS", 1),
  ghzGogc: env("BENCH_GHZ_GOGC", 400),
  loadRampMs: env("BENCH_LOAD_RAMP_MS", 3_000),
  historySample: env("BENCH_HISTORY_SAMPLE", 10),
  paymentWindowSeconds: env("PAYMENT_WINDOW_SECONDS", 300),
  workerNice,
  checkoutGoal: 0.8,
  holdGoal: 0.9,
  ghzCpuFlag: 0.7,
};

const GHZ = path.join(repoRoot, ".tools/bin/ghz");
const GRPCURL = path.join(repoRoot, ".tools/bin/grpcurl");
const PROTOSET = path.join(repoRoot, "src/gen/descriptors.binpb");
const HOLD = "ticketing.v1.ReservationService/HoldSeats";

/** Per-checkout CPU in ms of each process, from a round's CPU delta. */
function perItemMs(cpu: CpuDelta, items: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(cpu.seconds).map(([k, v]) => [k, round((v / Math.max(1, items)) * 1000, 2)]),
  );
}

function stripRecords(s: CheckoutRoundStats): Omit<CheckoutRoundStats, "records" | "workflowIds"> {
  const { records: _r, workflowIds: _w, ...rest } = s;
  return rest;
}

/** The stack under test and the clients the bench reads it with. */
interface Stack {
  cs: CheckoutStack;
  bare: WorkerProcess;
  pids: Record<string, number | undefined>;
  niceness: Record<string, { nice: number; autogroup?: number } | undefined>;
  client: Client;
  mysql: MysqlPool;
  b: BenchRedis;
  redisVersion: string;
}

/** The checkout event and the drivers that run checkouts and bare workflows. */
interface CheckoutEvent {
  eventId: string;
  shape: { sections: number; rows: number; seatsPerRow: number };
  seats: SeatAllocator;
  driver: CheckoutDriver;
  bareDriver: BareDriver;
  previousDriver: BareDriver;
}

/** What every phase uses: the run, the stack, both events, and every buyer and bare workflow so far. */
interface Ctx extends Stack, CheckoutEvent {
  run: BenchRun;
  sampler: OtherProcessSampler;
  holdLayout: EventLayout;
  /** HoldSeats data files, each starting where the last one ended. */
  holdFiles: DistinctHoldFiles;
  /** ghz outputs. */
  ghzOut: string;
  allRecords: BuyerRecord[];
  allBare: BareRoundStats[];
}

/** The stack: Temporal (ours, unless TEMPORAL_ADDRESS), Redis, MariaDB, then the API and both workers. */
async function startStack(run: BenchRun): Promise<Stack> {
  const cs = await startCheckoutStack({
    runId: run.runId,
    tmp: run.tmp,
    grpcurl: GRPCURL,
    temporalDb: settings.temporalDb,
    temporalArgs: settings.temporalArgs.split(/\s+/).filter(Boolean),
    temporalNice: settings.workerNice,
    // no exporters (their default ports are fixed and may be taken by another stack)
    workerEnv: {
      WORKER_METRICS_ADDRESS: "off",
      TEMPORAL_METRICS_ADDRESS: "off",
      WORKER_NICE: String(settings.workerNice),
    },
    bare: true,
  });
  const { temporal: t, stack, api, worker } = cs;
  const bare = cs.bare!;

  const pids: Record<string, number | undefined> = {
    temporal: t.pid,
    worker: worker.pid,
    bareWorker: bare.pid,
    api: api.pid,
    mysql: stack.pids.mysql,
    redis: stack.pids.redis,
  };
  // What the scheduler sees: each process's nice value (main thread) and its session's autogroup.
  const niceness = Object.fromEntries(
    Object.entries(pids).map(([k, pid]) => [k, pid === undefined ? undefined : processNiceness(pid)]),
  );
  say(
    `niceness: ${Object.entries(niceness)
      .map(([k, v]) => `${k} ${v ? `${v.nice} (autogroup ${v.autogroup ?? "-"})` : "-"}`)
      .join(", ")}`,
  );
  const connection = await Connection.connect({ address: t.address });
  run.defer(() => connection.close());
  const client = new Client({ connection, namespace: "default" });
  const mysql = createMysqlPool(stack.mysqlUrl, 4);
  run.defer(() => mysql.end());
  const b = benchRedis(stack.redisUrl);
  run.defer(() => b.close());
  const redisVersion = /redis_version:(\S+)/.exec(await b.redis.info("server"))?.[1] ?? "?";
  return { cs, bare, pids, niceness, client, mysql, b, redisVersion };
}

/** The checkout event (CreateEvent + OpenSale over gRPC: MySQL and Redis), sized for every round. */
async function openCheckoutEvent(run: BenchRun, s: Stack): Promise<CheckoutEvent> {
  const { runId } = run;
  const perRoundLoaded = 1500; // generous: ~20 checkouts/s for the ramp, a ghz round and the drain
  const seatsNeeded =
    Math.ceil(
      1.5 * (settings.warmupCheckouts + settings.serial + settings.rounds * (settings.checkouts + perRoundLoaded)),
    ) + 500;
  const seatsPerSection = 20 * 50;
  const shape = { sections: Math.max(1, Math.ceil(seatsNeeded / seatsPerSection)), rows: 20, seatsPerRow: 50 };
  const eventId = `${runId}_checkout`;
  const seats = new SeatAllocator(shape);
  const driver = new CheckoutDriver(s.cs.api.address, eventId, seats, runId);
  run.defer(() => driver.close());
  const createStart = performance.now();
  await driver.createAndOpen(checkoutEvent(eventId, shape));
  say(
    `checkout event ${eventId}: ${seats.capacity} seats (CreateEvent + OpenSale in ${Math.round(performance.now() - createStart)} ms)`,
  );
  const paymentWindowMs = settings.paymentWindowSeconds * 1000;
  const bareDriver = new BareDriver(s.client, s.cs.bareQueue, runId, paymentWindowMs);
  const previousDriver = new BareDriver(s.client, s.cs.bareQueue, runId, paymentWindowMs, "previous");
  return { eventId, shape, seats, driver, bareDriver, previousDriver };
}

/** The HoldSeats event: Redis only, every call holds 2 seats nobody else holds. */
async function loadHoldEvent(
  run: BenchRun,
  s: Stack,
): Promise<{ holdLayout: EventLayout; holdFiles: DistinctHoldFiles; ghzOut: string }> {
  const holdCalls = settings.holdWarmup + 2 * settings.rounds * settings.holdN;
  const BIG: GridShape = {
    sections: Math.max(1, Math.ceil((2 * holdCalls) / 1000)),
    rowsPerSection: 4,
    seatsPerRow: 250,
  };
  const holdLayout = gridLayout(`${run.runId}_holds`, BIG, 4);
  await loadOpenEvent(s.b, holdLayout);
  say(`HoldSeats event ${holdLayout.eventId}: ${gridCapacity(BIG)} seats (Redis only)`);
  const data = path.join(run.tmp, "data");
  const ghzOut = path.join(run.tmp, "ghz");
  fs.mkdirSync(data);
  fs.mkdirSync(ghzOut);
  const holdFiles = new DistinctHoldFiles({ dir: data, eventId: holdLayout.eventId, grid: BIG, runId: run.runId });
  return { holdLayout, holdFiles, ghzOut };
}

/** Warm-up (not tallied): JIT, workflow bundles and caches, connections. */
async function warmUp(ctx: Ctx): Promise<{ warmC: CheckoutRoundStats; warmB: BareRoundStats }> {
  say(`warm-up: ${settings.warmupCheckouts} checkouts, ${settings.warmupCheckouts} bare workflows`);
  const warmC = await ctx.driver.round("warmup", settings.warmupCheckouts, settings.concurrency);
  ctx.allRecords.push(...warmC.records);
  say(`warm-up checkout: ${warmC.confirmed}/${warmC.buyers} confirmed, ${warmC.rate}/s, p50 ${warmC.latencyMs.p50} ms`);
  const warmB = await ctx.bareDriver.round("warmup", settings.warmupCheckouts, settings.concurrency);
  ctx.allBare.push(warmB);
  say(`warm-up bare: ${warmB.completed}/${warmB.workflows}, ${warmB.rate}/s, p50 ${warmB.latencyMs.p50} ms`);
  if (settings.previousShape)
    ctx.allBare.push(await ctx.previousDriver.round("warmup-previous", settings.warmupCheckouts, settings.concurrency));
  return { warmC, warmB };
}

/** One at a time (concurrency 1): the unloaded latency and where it goes. */
async function serialRounds(
  ctx: Ctx,
): Promise<{ serialC: CheckoutRoundStats; serialB: BareRoundStats; serialP?: BareRoundStats }> {
  say(`one at a time: ${settings.serial} checkouts, then ${settings.serial} bare workflows`);
  const serialC = await ctx.driver.round("serial-checkout", settings.serial, 1);
  ctx.allRecords.push(...serialC.records);
  const serialB = await ctx.bareDriver.round("serial-bare", settings.serial, 1);
  ctx.allBare.push(serialB);
  const serialP = settings.previousShape
    ? await ctx.previousDriver.round("serial-previous", settings.serial, 1)
    : undefined;
  if (serialP) ctx.allBare.push(serialP);
  say(
    `one at a time: checkout p50 ${serialC.latencyMs.p50} ms p99 ${serialC.latencyMs.p99} ms (CreateOrder ${serialC.createOrderMs.p50} ms); bare p50 ${serialB.latencyMs.p50} ms p99 ${serialB.latencyMs.p99} ms (update ${serialB.updateMs.p50} ms)` +
      (serialP ? `; previous shape p50 ${serialP.latencyMs.p50} ms p99 ${serialP.latencyMs.p99} ms` : ""),
  );
  return { serialC, serialB, serialP };
}

/** One round of bare workflows (the current shape or the previous one), with the CPU of every process over it. */
async function measureBare(
  ctx: Ctx,
  driver: BareDriver,
  label: string,
  i: number,
  shown: string,
): Promise<MeasuredBare> {
  const s0 = cpuSnapshot(ctx.pids);
  const bb = await driver.round(`${label}-${i}`, settings.checkouts, settings.concurrency);
  const s1 = cpuSnapshot(ctx.pids);
  ctx.allBare.push(bb);
  const cpu = cpuDelta(s0, s1);
  say(
    `${shown}${bb.completed}/${bb.workflows} completed in ${bb.windowSeconds} s = ${bb.rate}/s, p50 ${bb.latencyMs.p50} ms p99 ${bb.latencyMs.p99} ms | cores: temporal ${cpu.cores.temporal ?? "-"}, bare worker ${cpu.cores.bareWorker}, bench ${cpu.cores.bench}, other ${cpu.otherCores}`,
  );
  return {
    round: i,
    stats: { ...bb, workflowIds: [] },
    cpu,
    cpuMsPerWorkflow: perItemMs(cpu, bb.completed),
    workflowIds: bb.workflowIds,
  };
}

/** Checkout vs bare, interleaved A B A B A B (and the previous shape after each pair when asked for). */
async function checkoutVsBare(
  ctx: Ctx,
): Promise<{ checkoutRounds: MeasuredCheckout[]; bareRounds: MeasuredBare[]; previousRounds: MeasuredBare[] }> {
  const checkoutRounds: MeasuredCheckout[] = [];
  const bareRounds: MeasuredBare[] = [];
  const previousRounds: MeasuredBare[] = [];
  for (let i = 1; i <= settings.rounds; i++) {
    const s0 = cpuSnapshot(ctx.pids);
    const c = await ctx.driver.round(`checkout-${i}`, settings.checkouts, settings.concurrency);
    const s1 = cpuSnapshot(ctx.pids);
    ctx.allRecords.push(...c.records);
    const cCpu = cpuDelta(s0, s1);
    checkoutRounds.push({
      round: i,
      stats: stripRecords(c),
      cpu: cCpu,
      cpuMsPerCheckout: perItemMs(cCpu, c.confirmed),
      workflowIds: c.workflowIds,
    });
    say(
      `checkout ${i}: ${c.confirmed}/${c.buyers} CONFIRMED in ${c.windowSeconds} s = ${c.rate}/s, p50 ${c.latencyMs.p50} ms p99 ${c.latencyMs.p99} ms | cores: temporal ${cCpu.cores.temporal ?? "-"}, worker ${cCpu.cores.worker}, api ${cCpu.cores.api}, mysql ${cCpu.cores.mysql ?? "-"}, redis ${cCpu.cores.redis ?? "-"}, bench ${cCpu.cores.bench}, other ${cCpu.otherCores}`,
    );
    bareRounds.push(await measureBare(ctx, ctx.bareDriver, "bare", i, `bare ${i}:     `));
    if (settings.previousShape)
      previousRounds.push(await measureBare(ctx, ctx.previousDriver, "previous", i, `previous ${i}: `));
  }
  const pairRatios = checkoutRounds.map((c, i) => c.stats.rate / bareRounds[i]!.stats.rate);
  say(
    `checkout ${round(median(checkoutRounds.map((c) => c.stats.rate)), 2)}/s vs bare ${round(median(bareRounds.map((x) => x.stats.rate)), 2)}/s: median ratio ${round(median(pairRatios), 3)} (goal ≥ ${settings.checkoutGoal})`,
  );
  return { checkoutRounds, bareRounds, previousRounds };
}

/** One ghz run of HoldSeats on a fresh data file. */
function ghzRun(ctx: Ctx, label: string, total: number, skip: number) {
  const file = ctx.holdFiles.next(total, label);
  return runGhz({
    ghz: GHZ,
    protoset: PROTOSET,
    call: HOLD,
    address: ctx.cs.api.address,
    dataFile: file,
    total,
    concurrency: settings.ghzConcurrency,
    connections: settings.connections,
    skipFirst: skip,
    cpus: settings.ghzCpus || undefined,
    gogc: settings.ghzGogc || undefined,
    format: "json",
    outFile: path.join(ctx.ghzOut, `${label}.json`),
  });
}

/** One HoldSeats round, idle or while checkouts run (they start loadRampMs before ghz and stop after it). */
async function measureHold(ctx: Ctx, round_: number, loaded: boolean): Promise<HoldRound> {
  const { b, pids, holdLayout } = ctx;
  const label = `${loaded ? "loaded" : "idle"}-${round_}`;
  const bg = loaded ? ctx.driver.continuous(label, settings.concurrency) : undefined;
  if (bg) await sleep(settings.loadRampMs);
  const v0 = await eventVersion(b.redis, holdLayout.eventId);
  const s0 = cpuSnapshot(pids);
  const g0 = performance.now();
  const ghz = await ghzRun(ctx, label, settings.holdN, settings.holdSkip);
  const g1 = performance.now();
  const s1 = cpuSnapshot(pids);
  const v1 = await eventVersion(b.redis, holdLayout.eventId);
  const bgStats = bg ? await bg.stop() : undefined;
  if (bgStats) ctx.allRecords.push(...bgStats.records);
  if (ghz.exitCode !== 0) throw new Error(`ghz exited with ${ghz.exitCode} (${label}): ${ghz.stderr.slice(0, 2000)}`);
  const cpu = cpuDelta(s0, s1, { ghz: ghz.cpuSeconds });
  const duringRecords = bgStats
    ? bgStats.records.filter((r) => r.finalState === "CONFIRMED" && r.finalAt! >= g0 && r.finalAt! <= g1)
    : [];
  const during = duringRecords.length;
  const duringLatency = duringRecords.map((r) => r.checkoutMs!).sort((a, b) => a - b);
  const r: HoldRound = {
    round: round_,
    loaded,
    ghz,
    holdsCreated: v1 - v0,
    cpu,
    apiUsPerCall: round(((cpu.seconds.api ?? NaN) / settings.holdN) * 1e6, 1),
    checkoutsDuringGhz: bg ? during : undefined,
    checkoutRateDuringGhz: bg ? round(during / ((g1 - g0) / 1000), 2) : undefined,
    checkoutLatencyDuringGhzMs: bg
      ? {
          p50: round(percentile(duringLatency, 50), 1),
          p99: round(percentile(duringLatency, 99), 1),
          max: round(duringLatency[duringLatency.length - 1] ?? NaN, 1),
        }
      : undefined,
    checkouts: bgStats ? stripRecords(bgStats) : undefined,
  };
  const s = ghz.summary;
  say(
    `HoldSeats ${label.padEnd(8)} ${s ? `${Math.round(s.rps)} calls/s p50 ${s.latencyMs.p50} ms p99 ${s.latencyMs.p99} ms codes ${JSON.stringify(s.codes)}` : "?"} | ghz ${Math.round(ghz.cpuCores * 100)} % core, api ${cpu.cores.api}, temporal ${cpu.cores.temporal ?? "-"}, worker ${cpu.cores.worker}, other ${cpu.otherCores}` +
      (bgStats
        ? ` | checkouts meanwhile: ${during} CONFIRMED during ghz (${r.checkoutRateDuringGhz}/s, CreateOrder→CONFIRMED p50 ${r.checkoutLatencyDuringGhzMs?.p50} ms p99 ${r.checkoutLatencyDuringGhzMs?.p99} ms), ${bgStats.confirmed}/${bgStats.buyers} in all`
        : ""),
  );
  return r;
}

/** HoldSeats idle vs while checkouts run, interleaved; non-OK codes are failures. */
async function holdRoundsIdleVsLoaded(ctx: Ctx, failures: string[]): Promise<HoldRound[]> {
  const holdRounds: HoldRound[] = [];
  say(`HoldSeats warm-up: ${settings.holdWarmup} calls`);
  const warmG = await ghzRun(ctx, "hold-warmup", settings.holdWarmup, 0);
  if (warmG.exitCode !== 0)
    throw new Error(`ghz warm-up exited with ${warmG.exitCode}: ${warmG.stderr.slice(0, 2000)}`);
  for (let i = 1; i <= settings.rounds; i++) {
    holdRounds.push(await measureHold(ctx, i, false));
    holdRounds.push(await measureHold(ctx, i, true));
  }
  const idle = holdRounds.filter((r) => !r.loaded);
  const loaded = holdRounds.filter((r) => r.loaded);
  say(
    `HoldSeats idle ${Math.round(median(idle.map(holdRps)))}/s vs with checkouts ${Math.round(median(loaded.map(holdRps)))}/s: median ratio ${round(median(loaded.map((l, i) => holdRps(l) / holdRps(idle[i]!))), 3)} (goal ≥ ${settings.holdGoal})`,
  );
  for (const r of [...holdRounds]) {
    const bad = Object.entries(r.ghz.summary?.codes ?? {}).filter(([c]) => c !== "OK");
    if (bad.length)
      failures.push(
        `HoldSeats ${r.loaded ? "loaded" : "idle"} round ${r.round}: non-OK codes ${JSON.stringify(Object.fromEntries(bad))}`,
      );
  }
  return holdRounds;
}

function holdRps(r: HoldRound): number {
  return r.ghz.summary?.rps ?? NaN;
}

/** Where the time goes: sampled histories of the last measured rounds. */
async function readHistories(
  ctx: Ctx,
  serial: Awaited<ReturnType<typeof serialRounds>>,
  measured: Awaited<ReturnType<typeof checkoutVsBare>>,
): Promise<CheckoutBenchResult["histories"]> {
  const { client } = ctx;
  const { checkoutRounds, bareRounds, previousRounds } = measured;
  say(`reading ${settings.historySample} histories of each kind`);
  const lastC = checkoutRounds[checkoutRounds.length - 1]!;
  const lastB = bareRounds[bareRounds.length - 1]!;
  return {
    checkout: await sampleHistories(client, lastC.workflowIds, settings.historySample),
    bare: await sampleHistories(client, lastB.workflowIds, settings.historySample),
    serialCheckout: await sampleHistories(client, serial.serialC.workflowIds, settings.historySample),
    serialBare: await sampleHistories(client, serial.serialB.workflowIds, settings.historySample),
    previousShape: previousRounds.length
      ? await sampleHistories(client, previousRounds[previousRounds.length - 1]!.workflowIds, settings.historySample)
      : undefined,
    serialPreviousShape: serial.serialP
      ? await sampleHistories(client, serial.serialP.workflowIds, settings.historySample)
      : undefined,
  };
}

/** The HoldSeats event's state against the calls made. */
async function holdEventChecks(ctx: Ctx, holdRounds: HoldRound[]): Promise<Check[]> {
  const holdState = await readEventState(ctx.b, ctx.holdLayout);
  const holdChecks = seatChecks(holdState, new SeatIndex(ctx.holdLayout));
  const holdSent = settings.holdWarmup + holdRounds.reduce((a, r) => a + r.ghz.summary!.sent, 0);
  const holdCreated = holdRounds.reduce((a, r) => a + r.holdsCreated, 0);
  const holdOk = holdRounds.reduce((a, r) => a + (r.ghz.summary?.codes.OK ?? 0), 0);
  const holdTallied = holdRounds.reduce((a, r) => a + (r.ghz.summary?.count ?? 0), 0);
  holdChecks.push({
    name: "every HoldSeats call accounted for (each made exactly one hold)",
    ok:
      holdState.holds.length === holdSent &&
      holdCreated === settings.rounds * 2 * settings.holdN &&
      holdOk === holdTallied,
    detail: `${holdSent} calls sent (warm-up included), ${holdState.holds.length} holds indexed; measured rounds: ${holdCreated} holds created (version delta) for ${settings.rounds * 2 * settings.holdN} calls, ${holdOk} OK of ${holdTallied} tallied`,
  });
  return holdChecks;
}

/** The invariants of both events and the bare baseline; broken ones (and a run out of seats) are failures. */
async function invariants(
  ctx: Ctx,
  failures: string[],
  roundStats: Pick<CheckoutRoundStats, "seatsExhausted">[],
  holdRounds: HoldRound[],
): Promise<CheckoutBenchResult["invariants"]> {
  say("checking invariants");
  // every buyer's checkout is over (stop() waited for them); let the last notifications land
  const inv = await checkoutChecks({
    mysql: ctx.mysql,
    redis: ctx.b.redis,
    eventId: ctx.eventId,
    capacity: ctx.seats.capacity,
    records: ctx.allRecords,
  });
  const bareInv = bareChecks(ctx.allBare);
  const holdChecks = await holdEventChecks(ctx, holdRounds);
  const seatsExhausted = [...roundStats, ...holdRounds.map((r) => r.checkouts).filter((x) => x !== undefined)].some(
    (s) => s.seatsExhausted,
  );
  if (seatsExhausted)
    failures.push("the checkout event ran out of seats: a loaded round stopped early (raise perRoundLoaded)");
  const allChecks: { group: string; checks: Check[] }[] = [
    { group: "checkout event (MySQL, ledger, Redis)", checks: inv.checks },
    { group: "bare baseline", checks: bareInv },
    { group: "HoldSeats event (Redis)", checks: holdChecks },
  ];
  for (const g of allChecks) {
    for (const c of g.checks) {
      say(`${c.ok ? "ok    " : "BROKEN"} ${c.name}: ${c.detail}`);
      if (!c.ok) failures.push(`invariant broken (${g.group}): ${c.name}: ${c.detail}`);
    }
  }
  const invariantsOk = allChecks.every((g) => g.checks.every((c) => c.ok));
  return { ok: invariantsOk, groups: allChecks, facts: inv.facts };
}

async function main(run: BenchRun): Promise<BenchOutcome> {
  const failures: string[] = [];
  const sampler = new OtherProcessSampler();
  sampler.start(2000);
  run.defer(() => sampler.stop());
  const stack = await startStack(run);
  const event = await openCheckoutEvent(run, stack);
  const ctx: Ctx = {
    run,
    sampler,
    ...stack,
    ...event,
    ...(await loadHoldEvent(run, stack)),
    allRecords: [],
    allBare: [],
  };
  const warm = await warmUp(ctx);
  const serial = await serialRounds(ctx);
  const measured = await checkoutVsBare(ctx);
  const holdRounds = await holdRoundsIdleVsLoaded(ctx, failures);
  const histories = await readHistories(ctx, serial, measured);
  const invariantsResult = await invariants(
    ctx,
    failures,
    [warm.warmC, serial.serialC, ...measured.checkoutRounds.map((c) => c.stats)],
    holdRounds,
  );
  const result = buildResult(ctx, { failures, warm, serial, measured, holdRounds, histories, invariantsResult });
  return { files: writeCheckoutReports(result, run.stamp), failures };
}

function buildResult(
  ctx: Ctx,
  o: {
    failures: string[];
    warm: Awaited<ReturnType<typeof warmUp>>;
    serial: Awaited<ReturnType<typeof serialRounds>>;
    measured: Awaited<ReturnType<typeof checkoutVsBare>>;
    holdRounds: HoldRound[];
    histories: CheckoutBenchResult["histories"];
    invariantsResult: CheckoutBenchResult["invariants"];
  },
): CheckoutBenchResult {
  const { runId, started, machine } = ctx.run;
  const { temporal: temporalInfo, stack, api, worker, taskQueue, bareQueue } = ctx.cs;
  const { warmC, warmB } = o.warm;
  const { serialC, serialB, serialP } = o.serial;
  const { checkoutRounds, bareRounds, previousRounds } = o.measured;
  const { holdRounds } = o;
  const pairRatios = checkoutRounds.map((c, i) => c.stats.rate / bareRounds[i]!.stats.rate);
  const medianCheckoutRate = median(checkoutRounds.map((c) => c.stats.rate));
  const medianBareRate = median(bareRounds.map((x) => x.stats.rate));
  const medianRatio = median(pairRatios);
  const idle = holdRounds.filter((r) => !r.loaded);
  const loaded = holdRounds.filter((r) => r.loaded);
  const holdPairRatios = loaded.map((l, i) => holdRps(l) / holdRps(idle[i]!));
  const holdMedianRatio = median(holdPairRatios);
  const others = ctx.sampler.stop();
  const finished = new Date();
  return {
    kind: "checkout",
    schema: 2,
    baselineShape: "current",
    runId,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: round((finished.getTime() - started.getTime()) / 1000, 1),
    ok: o.failures.length === 0,
    failures: o.failures,
    settings,
    source: sourceInfo(repoRoot),
    machine: {
      ...machine,
      redis: ctx.redisVersion,
      loadAvgAfter: os.loadavg().map((x) => round(x, 2)),
      othersDuringRun: others,
    },
    stack: {
      temporal: { ...temporalInfo, db: process.env.TEMPORAL_ADDRESS ? "external" : settings.temporalDb },
      redisUrl: stack.redisUrl,
      mysqlUrl: stack.mysqlUrl,
      pids: ctx.pids,
      apiCommand: api.command,
      workerCommand: worker.command,
      bareWorkerCommand: ctx.bare.command,
      niceness: ctx.niceness,
      taskQueue,
      bareTaskQueue: bareQueue,
    },
    events: {
      checkout: { eventId: ctx.eventId, capacity: ctx.seats.capacity, seatsUsed: ctx.seats.used, shape: ctx.shape },
      holds: { eventId: ctx.holdLayout.eventId, capacity: ctx.holdLayout.capacity },
    },
    warmup: { checkout: stripRecords(warmC), bare: { ...warmB, workflowIds: [] } },
    serial: {
      checkout: stripRecords(serialC),
      bare: { ...serialB, workflowIds: [] },
      previousShape: serialP ? { ...serialP, workflowIds: [] } : undefined,
    },
    previousShape: previousRounds.length
      ? {
          rounds: previousRounds.map((x) => ({ ...x, workflowIds: [] })),
          medianRate: round(median(previousRounds.map((x) => x.stats.rate)), 2),
          pairRatiosToBare: previousRounds.map((x, i) => round(x.stats.rate / bareRounds[i]!.stats.rate, 3)),
          medianRatioToBare: round(median(previousRounds.map((x, i) => x.stats.rate / bareRounds[i]!.stats.rate)), 3),
          medianP50: round(median(previousRounds.map((x) => x.stats.latencyMs.p50)), 1),
          medianP99: round(median(previousRounds.map((x) => x.stats.latencyMs.p99)), 1),
          cpuMsPerWorkflow: medianOfRecords(previousRounds.map((x) => x.cpuMsPerWorkflow)),
        }
      : undefined,
    checkout: {
      rounds: checkoutRounds.map((c) => ({ ...c, workflowIds: [] })),
      bareRounds: bareRounds.map((x) => ({ ...x, workflowIds: [] })),
      medianCheckoutRate: round(medianCheckoutRate, 2),
      medianBareRate: round(medianBareRate, 2),
      pairRatios: pairRatios.map((x) => round(x, 3)),
      medianRatio: round(medianRatio, 3),
      ratioOfMedians: round(medianCheckoutRate / medianBareRate, 3),
      goal: settings.checkoutGoal,
      goalMet: medianRatio >= settings.checkoutGoal,
      medianCheckoutP50: round(median(checkoutRounds.map((c) => c.stats.latencyMs.p50)), 1),
      medianCheckoutP99: round(median(checkoutRounds.map((c) => c.stats.latencyMs.p99)), 1),
      medianBareP50: round(median(bareRounds.map((x) => x.stats.latencyMs.p50)), 1),
      medianBareP99: round(median(bareRounds.map((x) => x.stats.latencyMs.p99)), 1),
      medianCreateOrderP50: round(median(checkoutRounds.map((c) => c.stats.createOrderMs.p50)), 1),
      medianCreateOrderP99: round(median(checkoutRounds.map((c) => c.stats.createOrderMs.p99)), 1),
      medianBareUpdateP50: round(median(bareRounds.map((x) => x.stats.updateMs.p50)), 1),
      medianBareUpdateP99: round(median(bareRounds.map((x) => x.stats.updateMs.p99)), 1),
      cpuMsPerCheckout: medianOfRecords(checkoutRounds.map((c) => c.cpuMsPerCheckout)),
      cpuMsPerBare: medianOfRecords(bareRounds.map((x) => x.cpuMsPerWorkflow)),
      coresCheckout: medianOfRecords(
        checkoutRounds.map((c) => ({ ...c.cpu.cores, machine: c.cpu.machineBusyCores, other: c.cpu.otherCores })),
      ),
      coresBare: medianOfRecords(
        bareRounds.map((x) => ({ ...x.cpu.cores, machine: x.cpu.machineBusyCores, other: x.cpu.otherCores })),
      ),
    },
    holds: {
      rounds: holdRounds,
      medianIdleRps: round(median(idle.map(holdRps))),
      medianLoadedRps: round(median(loaded.map(holdRps))),
      pairRatios: holdPairRatios.map((x) => round(x, 3)),
      medianRatio: round(holdMedianRatio, 3),
      goal: settings.holdGoal,
      goalMet: holdMedianRatio >= settings.holdGoal,
      medianCheckoutRateDuringGhz: round(median(loaded.map((r) => r.checkoutRateDuringGhz ?? NaN)), 2),
      checkoutRateDuringGhzToAlone: round(
        median(loaded.map((r) => r.checkoutRateDuringGhz ?? NaN)) / medianCheckoutRate,
        3,
      ),
      medianCheckoutP50DuringGhz: round(median(loaded.map((r) => r.checkoutLatencyDuringGhzMs?.p50 ?? NaN)), 1),
      medianCheckoutP99DuringGhz: round(median(loaded.map((r) => r.checkoutLatencyDuringGhzMs?.p99 ?? NaN)), 1),
      maxCheckoutLatencyDuringGhz: round(Math.max(...loaded.map((r) => r.checkoutLatencyDuringGhzMs?.max ?? NaN)), 1),
      medianApiUsPerCallIdle: round(median(idle.map((r) => r.apiUsPerCall)), 1),
      medianApiUsPerCallLoaded: round(median(loaded.map((r) => r.apiUsPerCall)), 1),
      cpuRatio: round(median(idle.map((r) => r.apiUsPerCall)) / median(loaded.map((r) => r.apiUsPerCall)), 3),
      generatorLimited: holdRounds.some((r) => r.ghz.cpuCores > settings.ghzCpuFlag),
    },
    histories: o.histories,
    invariants: o.invariantsResult,
  };
}

function medianOfRecords(rs: Record<string, number>[]): Record<string, number> {
  const keys = [...new Set(rs.flatMap((r) => Object.keys(r)))];
  return Object.fromEntries(keys.map((k) => [k, round(median(rs.map((r) => r[k] ?? NaN)), 3)]));
}

/** The knobs `settings` reads, for --help. */
const CHECKOUT_ENV: [string, string][] = [
  ["BENCH_CHECKOUTS", "checkouts per round (200)"],
  ["BENCH_CHECKOUT_CONCURRENCY", "checkouts in flight (50)"],
  ["BENCH_ROUNDS", "rounds (5)"],
  ["BENCH_WARMUP_CHECKOUTS", "untallied checkouts first (50)"],
  ["BENCH_SERIAL", "checkouts one at a time, for the unloaded latency (20)"],
  ["BENCH_PREVIOUS_SHAPE", "1: also rounds of the checkout shape before 2e3c7da (0)"],
  ["BENCH_TEMPORAL_DB", "file | memory: our Temporal dev server's store (file)"],
  ["BENCH_TEMPORAL_ARGS", "extra dev-server flags"],
  ["BENCH_HOLD_N", "HoldSeats calls per ghz round (15000)"],
  ["BENCH_HOLD_SKIP", "ghz --skipFirst (500)"],
  ["BENCH_HOLD_WARMUP", "untallied HoldSeats calls first (3000)"],
  ["BENCH_GHZ_CONCURRENCY", "ghz --concurrency (50)"],
  ["BENCH_CONNECTIONS", "ghz --connections (4)"],
  ["BENCH_GHZ_CPUS", "ghz --cpus (1)"],
  ["BENCH_GHZ_GOGC", "GOGC for ghz (400)"],
  ["BENCH_LOAD_RAMP_MS", "checkouts run this long before ghz starts in a loaded round (3000)"],
  ["BENCH_HISTORY_SAMPLE", "workflow histories sampled per kind (10)"],
  ["BENCH_WORKER_NODE_ARGS", "extra node flags for both workers"],
  ["BENCH_API_NODE_ARGS", "extra node flags for the API"],
  ["PAYMENT_WINDOW_SECONDS", "the checkout's payment window (300)"],
  ["WORKER_NICE", "CPU niceness of both workers and our Temporal (10)"],
  ["BENCH_ISSUER_DIR", "the local issuer the API under test trusts (.local/bench-issuer)"],
];

runBench(
  {
    usage: "npm run bench:checkout --",
    about:
      "Checkout end to end (HoldSeats, CreateOrder, WatchOrder until CONFIRMED) against a bare Temporal workflow of the same shape, interleaved; then HoldSeats with ghz idle and while checkouts run; then the invariants. Starts its own stack, API, worker and bare worker. 2-5 minutes on 2 cores.",
    env: [...CHECKOUT_ENV, ...STACK_ENV],
    runIdPrefix: "c",
    tmpPrefix: "ticketing-bench-",
    tools: ["ghz", "grpcurl"],
    onSignal: () => void stopOwned(),
    teardown: stopCheckoutStack,
  },
  main,
);
