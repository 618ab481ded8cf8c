// `npm run bench:rpcs` (issue #6): the hot-path unary RPCs not benched
// elsewhere, each beside the Noop baseline in the same run (see
// docs/BENCHMARKING.md): interleaved ghz rounds Noop, X, Noop, X, ...
// and the median of the per-pair ratios X/Noop, for
//   HoldBestAvailable  2 adjacent seats in a named section of a large open event (Redis only);
//   CreateOrder        one hold made beforehand per call, distinct idempotency keys; the real
//                      worker runs the checkouts, and each round waits until its orders are final;
//   GetOrder           the confirmed orders of the CreateOrder rounds;
//   CheckIn            every call a different ticket of those orders (the admitting path),
//   CheckIn (repeat)   then the same tickets scanned again (refused: ALREADY_CHECKED_IN);
//   VerifyTicket       cycling over every ticket.
// Ends with the invariants (no seat sold twice, every order final, captured =
// confirmed, one check-in per ticket, every call accounted for); a broken one
// exits non-zero. Writes bench/results/rpcs-<timestamp>.{json,md,html} (the
// HTML with throughput and latency over time per round and latency
// histograms, bench/lib/charts.ts) and regenerates bench/RPCS-RESULTS.md.
// Starts its own Redis, MariaDB, Temporal dev server, API and worker
// (REDIS_URL / MYSQL_URL / TEMPORAL_ADDRESS reuse existing ones) and stops
// everything it started by PID, also on failure and Ctrl-C.
//
// Knobs (env): BENCH_N (calls per round of Noop, HoldBestAvailable, GetOrder,
// VerifyTicket; 20000), BENCH_ROUNDS (3), BENCH_CONCURRENCY (64),
// BENCH_CONNECTIONS (4), BENCH_SKIP (1000), BENCH_WARMUP (3000 untallied calls
// of Noop and HoldBestAvailable first), BENCH_CREATE_N (CreateOrder calls per
// round, 250), BENCH_CREATE_WARMUP (50), BENCH_CREATE_CONCURRENCY (50),
// BENCH_ORDER_SEATS (seats per order = tickets per order, 6),
// BENCH_CHECKIN_N (first scans per round; 0 = every ticket, shared out over the
// rounds), BENCH_RESCAN_N (repeat scans per round, 5000), BENCH_GHZ_CPUS (1),
// BENCH_GHZ_GOGC (400), BENCH_TEMPORAL_DB (file | memory), BENCH_KEEP_TMP (1),
// BENCH_OUT (where results/ and RPCS-RESULTS.md go; default bench/),
// BENCH_API_NODE_ARGS / BENCH_WORKER_NODE_ARGS (extra node flags).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { RowDataPacket } from "mysql2/promise";
import { createMysqlPool, type MysqlPool } from "../src/adapters/mysql/pool.js";
import { repoRoot } from "../tools/devstack/stack.js";
import { SeatIndex, type EventLayout } from "../src/events/layout.js";
import { NoopRequest } from "../src/gen/ticketing/bench/v1/noop_service.js";
import { CreateOrderRequest, GetOrderRequest } from "../src/gen/ticketing/v1/order_service.js";
import { HoldBestAvailableRequest } from "../src/gen/ticketing/v1/reservation_service.js";
import { CheckInRequest, VerifyTicketRequest } from "../src/gen/ticketing/v1/ticket_service.js";
import { ghzRoundSeries } from "./lib/charts.js";
import { CheckoutDriver, SeatAllocator, checkoutEvent, type BuyerRecord } from "./lib/checkout-driver.js";
import { checkoutChecks } from "./lib/checkout-invariants.js";
import { cpuDelta, cpuSnapshot, OtherProcessSampler, stopOwned, type TemporalDb } from "./lib/checkout-procs.js";
import { envNumber } from "./lib/env.js";
import { benchRedis, gridLayout, loadOpenEvent, writeNoopFile, type BenchRedis, type GridShape } from "./lib/events.js";
import { runGhz } from "./lib/ghz.js";
import { readEventState, seatChecks, type Check } from "./lib/invariants.js";
import { eventVersion } from "./lib/redis.js";
import {
  awaitOrders,
  bestAvailableRows,
  createOrderRows,
  prepareHolds,
  writeJsonArray,
  type PreparedCheckout,
} from "./lib/rpcs-prep.js";
import {
  collapseErrorKinds,
  writeRpcsReports,
  type RpcResult,
  type RpcRound,
  type RpcsBenchResult,
} from "./lib/rpcs-report.js";
import { say } from "./lib/stack.js";
import { STACK_ENV } from "./lib/command.js";
import { startCheckoutStack, stopCheckoutStack, type CheckoutStack } from "./lib/checkout-stack.js";
import { runBench, type BenchOutcome, type BenchRun } from "./lib/runner.js";
import { median, round } from "./lib/stats.js";
import { sourceInfo } from "./lib/sys.js";

const env = envNumber;
const temporalDb = (process.env.BENCH_TEMPORAL_DB ?? "file") as TemporalDb;
if (temporalDb !== "file" && temporalDb !== "memory")
  throw new Error(`BENCH_TEMPORAL_DB=${String(temporalDb)}: file or memory`);

export const settings = {
  n: env("BENCH_N", 20_000),
  rounds: env("BENCH_ROUNDS", 3),
  concurrency: env("BENCH_CONCURRENCY", 64),
  connections: env("BENCH_CONNECTIONS", 4),
  skipFirst: env("BENCH_SKIP", 1_000),
  warmup: env("BENCH_WARMUP", 3_000),
  createN: env("BENCH_CREATE_N", 250),
  createWarmup: env("BENCH_CREATE_WARMUP", 50),
  createConcurrency: env("BENCH_CREATE_CONCURRENCY", 50),
  orderSeats: env("BENCH_ORDER_SEATS", 6),
  checkinN: env("BENCH_CHECKIN_N", 0),
  rescanN: env("BENCH_RESCAN_N", 5_000),
  ghzCpus: env("BENCH_GHZ_CPUS", 1),
  ghzGogc: env("BENCH_GHZ_GOGC", 400),
  temporalDb,
  /** HoldBestAvailable: seats per call, and calls per section per round (fills each section halfway). */
  bestQuantity: 2,
  bestPerSection: 50,
  checkinWarmup: 100,
  drainTimeoutMs: 180_000,
  ghzCpuFlag: 0.7,
};

const GHZ = path.join(repoRoot, ".tools/bin/ghz");
const GRPCURL = path.join(repoRoot, ".tools/bin/grpcurl");
const PROTOSET = path.join(repoRoot, "src/gen/descriptors.binpb");
const M = {
  noop: "ticketing.bench.v1.NoopService/Noop",
  best: "ticketing.v1.ReservationService/HoldBestAvailable",
  create: "ticketing.v1.OrderService/CreateOrder",
  get: "ticketing.v1.OrderService/GetOrder",
  verify: "ticketing.v1.TicketService/VerifyTicket",
  checkIn: "ticketing.v1.TicketService/CheckIn",
};
/** 100-seat rows, 2 per section: HoldBestAvailable scans at most 2 rows of 100 seats per call. */
const BEST_SECTION = { rowsPerSection: 2, seatsPerRow: 100 };

/** Goals from the issues where they set one; the others are reported without. */
const GOALS: Record<string, { goal?: number; note: string }> = {
  HoldBestAvailable: { goal: 0.65, note: "HoldSeats' goal (issue #3): the same Redis-only hold path" },
  CreateOrder: { note: "bound by Temporal: issue #5's goal is checkout ≥ 0.8 × a bare workflow, see bench:checkout" },
  GetOrder: { note: "no goal set in the issues" },
  CheckIn: { note: "no goal set in the issues" },
  "CheckIn (repeat scan)": { note: "no goal set in the issues" },
  VerifyTicket: { note: "no goal set in the issues" },
};

interface MsgFns {
  fromJSON(o: unknown): unknown;
  encode(m: never): { finish(): Uint8Array };
}
/** Wire size of a ghz JSON row, through the generated message type. */
function wireBytes(fns: MsgFns, row: object): number {
  return (fns.encode as (m: unknown) => { finish(): Uint8Array })(fns.fromJSON(row)).finish().length;
}

/** A Noop payload length whose request is as large on the wire as `bytes`. */
function noopPayloadFor(bytes: number): number {
  let chars = Math.max(0, bytes - 2);
  while (chars > 0 && NoopRequest.encode({ payload: "x".repeat(chars) }).finish().length > bytes) chars--;
  return chars;
}

/** What every phase uses: the run, the stack under test, its clients and where the data files go. */
interface Ctx {
  run: BenchRun;
  sampler: OtherProcessSampler;
  stack: CheckoutStack;
  pids: Record<string, number | undefined>;
  b: BenchRedis;
  mysql: MysqlPool;
  redisVersion: string;
  /** ghz data files. */
  data: string;
  /** ghz outputs, removed once read. */
  out: string;
  /** Noop data files by request size on the wire. */
  noopFiles: Map<number, string>;
}

/** HoldBestAvailable's event (Redis only) and what its calls were sent. */
interface BestEvent {
  layout: EventLayout;
  grid: GridShape;
  sectionsPerRound: number;
  warmupSections: number;
  version0: number;
  /** The section each buyer's call named, for the invariants. */
  sectionOf: Map<string, string>;
  /** One data file per round. */
  files: string[];
  bytes: number;
  /** Calls sent, warm-up included. */
  sent: number;
}

/** The checkout event, the holds made for CreateOrder and what became of them. */
interface OrdersEvent {
  eventId: string;
  seats: SeatAllocator;
  driver: CheckoutDriver;
  prepared: PreparedCheckout[];
  holdSeconds: number;
  createWarm: PreparedCheckout[];
  createRounds: PreparedCheckout[][];
  records: BuyerRecord[];
  drains: { round: string; seconds: number; byState: Record<string, number> }[];
  createCalls: { round: string; sent: number; codes: Record<string, number> }[];
}

/** CheckIn's scans and the check_ins rows counted around them. */
interface Scans {
  perRound: number;
  /** Tickets scanned once, warm-up included. */
  scanned: number;
  before: number;
  afterFirst: number;
  afterRescan: number;
}

/** The stack: Temporal (file-backed like bench:checkout unless BENCH_TEMPORAL_DB=memory), Redis, MariaDB, API, worker. */
async function startStack(run: BenchRun): Promise<Ctx> {
  const sampler = new OtherProcessSampler();
  sampler.start(2000);
  run.defer(() => sampler.stop());
  const stack = await startCheckoutStack({
    runId: run.runId,
    tmp: run.tmp,
    grpcurl: GRPCURL,
    temporalDb: settings.temporalDb,
  });
  const pids: Record<string, number | undefined> = {
    api: stack.api.pid,
    worker: stack.worker.pid,
    redis: stack.stack.pids.redis,
    mysql: stack.stack.pids.mysql,
    temporal: stack.temporal.pid,
  };
  const b = benchRedis(stack.stack.redisUrl);
  run.defer(() => b.close());
  const mysql = createMysqlPool(stack.stack.mysqlUrl, 4);
  run.defer(() => mysql.end());
  const redisVersion = /redis_version:(\S+)/.exec(await b.redis.info("server"))?.[1] ?? "?";

  const data = path.join(run.tmp, "data");
  const out = path.join(run.tmp, "ghz");
  fs.mkdirSync(data);
  fs.mkdirSync(out);
  return { run, sampler, stack, pids, b, mysql, redisVersion, data, out, noopFiles: new Map() };
}

/** One ghz round, with the CPU of every process over it and the series for the charts. */
async function measure(
  ctx: Ctx,
  call: string,
  phase: RpcRound["phase"],
  roundNo: number,
  o: { method: string; dataFile: string; total: number; skipFirst: number; concurrency: number },
): Promise<RpcRound> {
  const outFile = path.join(
    ctx.out,
    `${phase}-${call.replace(/\W+/g, "_")}-${roundNo}-${Math.random().toString(36).slice(2, 7)}.json`,
  );
  const s0 = cpuSnapshot(ctx.pids);
  const ghz = await runGhz({
    ghz: GHZ,
    protoset: PROTOSET,
    call: o.method,
    address: ctx.stack.api.address,
    dataFile: o.dataFile,
    total: o.total,
    concurrency: o.concurrency,
    connections: settings.connections,
    skipFirst: o.skipFirst || undefined,
    countErrors: true,
    cpus: settings.ghzCpus || undefined,
    gogc: settings.ghzGogc || undefined,
    format: "json",
    outFile,
  });
  const s1 = cpuSnapshot(ctx.pids);
  if (ghz.exitCode !== 0 || !ghz.summary)
    throw new Error(`ghz exited with ${ghz.exitCode} (${call} ${phase} ${roundNo}): ${ghz.stderr.slice(0, 2000)}`);
  ghz.summary.errorKinds = collapseErrorKinds(ghz.summary.errorKinds);
  const cpu = cpuDelta(s0, s1, { ghz: ghz.cpuSeconds });
  const r: RpcRound = {
    call,
    phase,
    round: roundNo,
    sent: o.total,
    skipFirst: o.skipFirst,
    concurrency: o.concurrency,
    command: ghz.command,
    summary: ghz.summary,
    ghzCpuSeconds: round(ghz.cpuSeconds, 3),
    ghzCores: round(ghz.cpuCores, 3),
    wallSeconds: round(ghz.wallSeconds, 3),
    cpu,
    apiUsPerCall: round(((cpu.seconds.api ?? NaN) / o.total) * 1e6, 1),
    series: ghzRoundSeries(outFile),
  };
  fs.rmSync(outFile, { force: true });
  const s = ghz.summary;
  say(
    `${phase} ${roundNo} ${call.padEnd(21)} ${Math.round(s.rps)} calls/s p50 ${s.latencyMs.p50} ms p99 ${s.latencyMs.p99} ms codes ${JSON.stringify(s.codes)} | ghz ${Math.round(ghz.cpuCores * 100)} %, api ${r.apiUsPerCall} µs/call (${Math.round((cpu.cores.api ?? 0) * 100)} %), redis ${Math.round((cpu.cores.redis ?? 0) * 100)} %, mysql ${Math.round((cpu.cores.mysql ?? 0) * 100)} %, worker ${Math.round((cpu.cores.worker ?? 0) * 100)} %, temporal ${Math.round((cpu.cores.temporal ?? 0) * 100)} %, other ${Math.round(cpu.otherCores * 100)} %`,
  );
  return r;
}

/** A Noop data file whose requests are as large as `bytes` on the wire. */
function noopFile(ctx: Ctx, bytes: number): string {
  let file = ctx.noopFiles.get(bytes);
  if (!file) {
    file = path.join(ctx.data, `noop-${bytes}.json`);
    writeNoopFile(file, {
      count: settings.n,
      payloadChars: noopPayloadFor(bytes),
      idPrefix: `${ctx.run.runId}n${bytes}`,
    });
    ctx.noopFiles.set(bytes, file);
  }
  return file;
}

/** Interleaved pairs: Noop, X, Noop, X, ... and the summary of the X rounds against their Noop rounds. */
async function pairs(
  ctx: Ctx,
  name: string,
  method: string,
  what: string,
  o: {
    requestBytes: number;
    concurrency: number;
    callsPerRound: number;
    round: (i: number) => { dataFile: string; total: number; skipFirst: number };
    after?: (i: number) => Promise<void>;
    notes?: string[];
  },
): Promise<RpcResult> {
  const rounds: RpcRound[] = [];
  const noop = noopFile(ctx, o.requestBytes);
  for (let i = 1; i <= settings.rounds; i++) {
    rounds.push(
      await measure(ctx, "Noop", "throughput", i, {
        method: M.noop,
        dataFile: noop,
        total: settings.n,
        skipFirst: settings.skipFirst,
        concurrency: o.concurrency,
      }),
    );
    rounds.push(await measure(ctx, name, "throughput", i, { method, concurrency: o.concurrency, ...o.round(i) }));
    if (o.after) await o.after(i);
  }
  const xs = rounds.filter((r) => r.call !== "Noop");
  const ns = rounds.filter((r) => r.call === "Noop");
  const rps = (r: RpcRound) => r.summary?.rps ?? NaN;
  const pairRatios = xs.map((x, i) => rps(x) / rps(ns[i]!));
  const codes: Record<string, number> = {};
  const errorKinds: Record<string, number> = {};
  for (const x of xs) {
    for (const [k, v] of Object.entries(x.summary?.codes ?? {})) codes[k] = (codes[k] ?? 0) + v;
    for (const [k, v] of Object.entries(x.summary?.errorKinds ?? {})) errorKinds[k] = (errorKinds[k] ?? 0) + v;
  }
  const goal = GOALS[name] ?? { note: "no goal set in the issues" };
  const medianRatio = median(pairRatios);
  const apiX = median(xs.map((r) => r.apiUsPerCall));
  const apiN = median(ns.map((r) => r.apiUsPerCall));
  const maxGhz = Math.max(...rounds.map((r) => r.ghzCores));
  const result: RpcResult = {
    name,
    method,
    what,
    requestBytes: o.requestBytes,
    noopBytes: NoopRequest.encode({ payload: "x".repeat(noopPayloadFor(o.requestBytes)) }).finish().length,
    concurrency: o.concurrency,
    callsPerRound: o.callsPerRound,
    rounds,
    pairRatios: pairRatios.map((x) => round(x, 3)),
    medianRatio: round(medianRatio, 3),
    medianRps: round(median(xs.map(rps))),
    medianNoopRps: round(median(ns.map(rps))),
    p50: median(xs.map((r) => r.summary?.latencyMs.p50 ?? NaN)),
    p99: median(xs.map((r) => r.summary?.latencyMs.p99 ?? NaN)),
    noopP50: median(ns.map((r) => r.summary?.latencyMs.p50 ?? NaN)),
    noopP99: median(ns.map((r) => r.summary?.latencyMs.p99 ?? NaN)),
    apiUsPerCall: round(apiX, 1),
    apiUsPerNoop: round(apiN, 1),
    cpuRatio: round(apiN / apiX, 3),
    codes,
    errorKinds,
    goal: goal.goal,
    goalNote: goal.note,
    goalMet: goal.goal === undefined ? undefined : medianRatio >= goal.goal,
    maxGhzCores: round(maxGhz, 3),
    generatorLimited: maxGhz > settings.ghzCpuFlag,
    notes: o.notes ?? [],
  };
  say(
    `${name}: ${result.medianRps}/s vs Noop ${result.medianNoopRps}/s, median ratio ${result.medianRatio}${goal.goal !== undefined ? ` (goal ≥ ${goal.goal})` : ""}`,
  );
  return result;
}

/** HoldBestAvailable's event: Redis only, sections enough for the warm-up and every round. */
async function loadBestEvent(ctx: Ctx): Promise<BestEvent> {
  const sectionsPerRound = Math.max(1, Math.ceil(settings.n / settings.bestPerSection));
  const warmupSections = Math.max(1, Math.ceil(settings.warmup / settings.bestPerSection));
  const grid: GridShape = { sections: warmupSections + settings.rounds * sectionsPerRound, ...BEST_SECTION };
  const layout: EventLayout = gridLayout(`${ctx.run.runId}_best`, grid, 4);
  await loadOpenEvent(ctx.b, layout);
  const version0 = await eventVersion(ctx.b.redis, layout.eventId);
  say(
    `HoldBestAvailable event ${layout.eventId}: ${layout.capacity} seats in ${grid.sections} sections of ${grid.rowsPerSection} x ${grid.seatsPerRow}`,
  );
  return {
    layout,
    grid,
    sectionsPerRound,
    warmupSections,
    version0,
    sectionOf: new Map(),
    files: [],
    bytes: 0,
    sent: 0,
  };
}

/** The checkout event (CreateEvent + OpenSale: MySQL and Redis) and one hold per CreateOrder call, made beforehand through HoldSeats. */
async function openOrdersEvent(ctx: Ctx): Promise<OrdersEvent> {
  const { runId } = ctx.run;
  const checkouts = settings.createWarmup + settings.rounds * settings.createN;
  const seatsPerSection = 20 * 50;
  const shape = {
    sections: Math.max(1, Math.ceil((checkouts * settings.orderSeats + 100) / seatsPerSection)),
    rows: 20,
    seatsPerRow: 50,
  };
  const eventId = `${runId}_orders`;
  const seats = new SeatAllocator(shape);
  const driver = new CheckoutDriver(ctx.stack.api.address, eventId, seats, runId);
  ctx.run.defer(() => driver.close());
  await driver.createAndOpen({
    ...checkoutEvent(eventId, shape),
    maxTicketsPerBuyer: Math.max(6, settings.orderSeats),
  });
  say(`checkout event ${eventId}: ${seats.capacity} seats`);

  const holdT0 = performance.now();
  const prepared = await prepareHolds({
    driver,
    seats,
    runId,
    first: 0,
    count: checkouts,
    seatsPerHold: settings.orderSeats,
  });
  const holdSeconds = (performance.now() - holdT0) / 1000;
  say(`${prepared.length} holds of ${settings.orderSeats} seats for CreateOrder in ${round(holdSeconds, 1)} s`);
  const createWarm = prepared.slice(0, settings.createWarmup);
  const createRounds = Array.from({ length: settings.rounds }, (_, i) =>
    prepared.slice(settings.createWarmup + i * settings.createN, settings.createWarmup + (i + 1) * settings.createN),
  );
  return {
    eventId,
    seats,
    driver,
    prepared,
    holdSeconds,
    createWarm,
    createRounds,
    records: prepared.map((p) => p.record),
    drains: [],
    createCalls: [],
  };
}

function createFile(ctx: Ctx, list: PreparedCheckout[], name: string): string {
  const file = path.join(ctx.data, `${name}.json`);
  writeJsonArray(file, createOrderRows(list));
  return file;
}

/** HoldBestAvailable's data files (warm-up and one per round), the section each call names. */
function writeBestFiles(ctx: Ctx, best: BestEvent): { rows: object[] } {
  const { runId } = ctx.run;
  const bestWarm = bestAvailableRows({
    eventId: best.layout.eventId,
    grid: best.grid,
    firstSection: 0,
    sections: best.warmupSections,
    count: settings.warmup,
    quantity: settings.bestQuantity,
    idPrefix: `${runId}bw`,
  });
  for (const [k, v] of bestWarm.sectionOf) best.sectionOf.set(k, v);
  for (let i = 0; i < settings.rounds; i++) {
    const rows = bestAvailableRows({
      eventId: best.layout.eventId,
      grid: best.grid,
      firstSection: best.warmupSections + i * best.sectionsPerRound,
      sections: best.sectionsPerRound,
      count: settings.n,
      quantity: settings.bestQuantity,
      idPrefix: `${runId}b${i + 1}`,
    });
    for (const [k, v] of rows.sectionOf) best.sectionOf.set(k, v);
    const file = path.join(ctx.data, `best-${i + 1}.json`);
    writeJsonArray(file, rows.rows);
    best.files.push(file);
  }
  best.bytes = wireBytes(HoldBestAvailableRequest, bestWarm.rows[0]!);
  return { rows: bestWarm.rows };
}

/** Warm-up (not tallied): Noop, HoldBestAvailable, CreateOrder (JIT, connections, Temporal caches). */
async function warmUp(ctx: Ctx, best: BestEvent, orders: OrdersEvent): Promise<RpcRound[]> {
  const warmup: RpcRound[] = [];
  const bestWarm = writeBestFiles(ctx, best);
  if (settings.warmup > 0) {
    const wf = path.join(ctx.data, "best-warmup.json");
    writeJsonArray(wf, bestWarm.rows);
    warmup.push(
      await measure(ctx, "Noop", "warmup", 1, {
        method: M.noop,
        dataFile: noopFile(ctx, best.bytes),
        total: Math.min(settings.warmup, settings.n),
        skipFirst: 0,
        concurrency: settings.concurrency,
      }),
    );
    warmup.push(
      await measure(ctx, "HoldBestAvailable", "warmup", 1, {
        method: M.best,
        dataFile: wf,
        total: settings.warmup,
        skipFirst: 0,
        concurrency: settings.concurrency,
      }),
    );
    best.sent += settings.warmup;
  }
  if (orders.createWarm.length > 0) {
    const w = await measure(ctx, "CreateOrder", "warmup", 1, {
      method: M.create,
      dataFile: createFile(ctx, orders.createWarm, "create-warmup"),
      total: orders.createWarm.length,
      skipFirst: 0,
      concurrency: settings.createConcurrency,
    });
    warmup.push(w);
    orders.createCalls.push({ round: "warmup", sent: w.sent, codes: w.summary?.codes ?? {} });
    const d = await awaitOrders(orders.driver, orders.createWarm, { timeoutMs: settings.drainTimeoutMs });
    orders.drains.push({ round: "warmup", seconds: round(d.seconds, 2), byState: d.byState });
  }
  return warmup;
}

function benchHoldBestAvailable(ctx: Ctx, best: BestEvent): Promise<RpcResult> {
  return pairs(
    ctx,
    "HoldBestAvailable",
    M.best,
    `${settings.bestQuantity} adjacent seats (no single seat stranded) in a named section of a ${best.layout.capacity.toLocaleString("en-US")}-seat open event, distinct buyer and request ids; Redis only.`,
    {
      requestBytes: best.bytes,
      concurrency: settings.concurrency,
      callsPerRound: settings.n,
      round: (i) => {
        best.sent += settings.n;
        return { dataFile: best.files[i - 1]!, total: settings.n, skipFirst: settings.skipFirst };
      },
      notes: [
        `Each round has its own ${best.sectionsPerRound} sections (${best.grid.rowsPerSection} rows × ${best.grid.seatsPerRow} seats) and call i names section i mod ${best.sectionsPerRound}, so each section gets ${settings.bestPerSection} calls and ends half full: every round sees the same fill. Without section_id the API hands the script every row of the event (${best.grid.sections * best.grid.rowsPerSection} here) and the script reads rows best-first until one has a block, so the cost per call would grow with the seats sold before it.`,
      ],
    },
  );
}

/** CreateOrder: each round waits for its checkouts to finish before the next Noop round. */
async function benchCreateOrder(ctx: Ctx, orders: OrdersEvent): Promise<RpcResult> {
  const createBytes = wireBytes(CreateOrderRequest, createOrderRows(orders.prepared.slice(0, 1))[0]!);
  const result = await pairs(
    ctx,
    "CreateOrder",
    M.create,
    `Update-with-Start of the checkout workflow for a hold of ${settings.orderSeats} seats made beforehand (tok_approve), one hold and a distinct idempotency key per call; returns once the workflow has accepted the order (PENDING_PAYMENT written to MySQL).`,
    {
      requestBytes: createBytes,
      concurrency: settings.createConcurrency,
      callsPerRound: settings.createN,
      round: (i) => ({
        dataFile: createFile(ctx, orders.createRounds[i - 1]!, `create-${i}`),
        total: orders.createRounds[i - 1]!.length,
        skipFirst: 0,
      }),
      after: async (i) => {
        const d = await awaitOrders(orders.driver, orders.createRounds[i - 1]!, { timeoutMs: settings.drainTimeoutMs });
        orders.drains.push({ round: String(i), seconds: round(d.seconds, 2), byState: d.byState });
        say(
          `CreateOrder round ${i}: every order final ${round(d.seconds, 1)} s after the round (${JSON.stringify(d.byState)})`,
        );
      },
      notes: [
        `No calls skipped (a warm-up round of ${settings.createWarmup} checkouts ran first). After each round the bench follows WatchOrder for the round's orders until every one is final, so the next Noop round does not run beside the round's workflows; that wait is not part of the rate. The worker runs the payment simulator without latency or declines.`,
      ],
    },
  );
  for (const r of result.rounds.filter((x) => x.call === "CreateOrder"))
    orders.createCalls.push({ round: String(r.round), sent: r.sent, codes: r.summary?.codes ?? {} });
  return result;
}

/** GetOrder, cycling over the confirmed orders. */
function benchGetOrder(ctx: Ctx, confirmed: PreparedCheckout[]): Promise<RpcResult> {
  const getRows = confirmed.map((p) => ({ order_id: p.orderId }));
  const getFile = path.join(ctx.data, "get.json");
  writeJsonArray(getFile, getRows);
  return pairs(
    ctx,
    "GetOrder",
    M.get,
    `a confirmed order with its ${settings.orderSeats} tickets (codes included), from MySQL; cycling over ${confirmed.length} orders.`,
    {
      requestBytes: wireBytes(GetOrderRequest, getRows[0]!),
      concurrency: settings.concurrency,
      callsPerRound: settings.n,
      round: () => ({ dataFile: getFile, total: settings.n, skipFirst: settings.skipFirst }),
    },
  );
}

type Ticket = PreparedCheckout["tickets"][number];

/** CheckIn: first scans (a warm-up round, then every call a different ticket); then the same tickets again. */
async function benchCheckIns(
  ctx: Ctx,
  orders: OrdersEvent,
  confirmed: PreparedCheckout[],
  tickets: Ticket[],
  warmup: RpcRound[],
): Promise<{ results: RpcResult[]; scans: Scans }> {
  const { runId } = ctx.run;
  const gates = ["gate-a", "gate-b", "gate-c", "gate-d"];
  const checkinPerRound =
    settings.checkinN > 0 ? settings.checkinN : Math.floor((tickets.length - settings.checkinWarmup) / settings.rounds);
  if (settings.checkinWarmup + settings.rounds * checkinPerRound > tickets.length) {
    throw new Error(
      `CheckIn needs ${settings.checkinWarmup + settings.rounds * checkinPerRound} tickets; the orders have ${tickets.length} (lower BENCH_CHECKIN_N or raise BENCH_CREATE_N / BENCH_ORDER_SEATS)`,
    );
  }
  const scanRows = (from: number, count: number, prefix: string) =>
    tickets.slice(from, from + count).map((tk, j) => ({
      code: tk.code,
      gate_id: gates[j % gates.length]!,
      request_id: `${runId}-${prefix}-${from + j}`,
    }));
  const checkinWarmFile = path.join(ctx.data, "checkin-warmup.json");
  writeJsonArray(checkinWarmFile, scanRows(0, settings.checkinWarmup, "s"));
  const checkinSample = scanRows(0, 1, "s")[0]!;
  const checkinBytes = wireBytes(CheckInRequest, checkinSample);
  warmup.push(
    await measure(ctx, "CheckIn", "warmup", 1, {
      method: M.checkIn,
      dataFile: checkinWarmFile,
      total: settings.checkinWarmup,
      skipFirst: 0,
      concurrency: settings.concurrency,
    }),
  );
  const checkinOf = (i: number) => {
    const file = path.join(ctx.data, `checkin-${i}.json`);
    writeJsonArray(file, scanRows(settings.checkinWarmup + (i - 1) * checkinPerRound, checkinPerRound, "s"));
    return file;
  };
  const scanned = settings.checkinWarmup + settings.rounds * checkinPerRound;
  const before = await countCheckIns(ctx.mysql, orders.eventId);
  const first = await pairs(
    ctx,
    "CheckIn",
    M.checkIn,
    "admits a ticket at a gate: verifies the code's signature (first sight: not in the API's verified-code cache), reads the ticket, inserts its check-in; every call a different ticket.",
    {
      requestBytes: checkinBytes,
      concurrency: settings.concurrency,
      callsPerRound: checkinPerRound,
      round: (i) => ({ dataFile: checkinOf(i), total: checkinPerRound, skipFirst: 0 }),
      notes: [
        `Rounds are as long as the tickets allow (${tickets.length} tickets from ${confirmed.length} orders: ${settings.checkinWarmup} for a warm-up round, ${checkinPerRound} per round), so they are short and noisier than the others; no calls skipped, so every scan is tallied and checked against the check_ins table.`,
      ],
    },
  );
  const afterFirst = await countCheckIns(ctx.mysql, orders.eventId);
  const rescanRows = Array.from({ length: scanned }, (_, j) => ({
    code: tickets[j]!.code,
    gate_id: gates[(j + 1) % gates.length]!,
    request_id: `${runId}-rs-${j}`,
  }));
  const rescanFile = path.join(ctx.data, "rescan.json");
  writeJsonArray(rescanFile, rescanRows);
  const repeat = await pairs(
    ctx,
    "CheckIn (repeat scan)",
    M.checkIn,
    `the tickets already admitted, scanned again at another gate with a new request id: refused with FAILED_PRECONDITION (ALREADY_CHECKED_IN, naming the first gate and time); cycling over ${scanned} tickets.`,
    {
      requestBytes: wireBytes(CheckInRequest, rescanRows[0]!),
      concurrency: settings.concurrency,
      callsPerRound: settings.rescanN,
      round: () => ({
        dataFile: rescanFile,
        total: settings.rescanN,
        skipFirst: Math.min(settings.skipFirst, Math.floor(settings.rescanN / 10)),
      }),
      notes: [
        "The refusal path: cached signature, the ticket read, the INSERT refused by the primary key, the first check-in read back, an error with details.",
      ],
    },
  );
  const afterRescan = await countCheckIns(ctx.mysql, orders.eventId);
  return {
    results: [first, repeat],
    scans: { perRound: checkinPerRound, scanned, before, afterFirst, afterRescan },
  };
}

/** VerifyTicket, cycling over every ticket. */
function benchVerifyTicket(ctx: Ctx, tickets: Ticket[]): Promise<RpcResult> {
  const verifyRows = tickets.map((tk) => ({ code: tk.code }));
  const verifyFile = path.join(ctx.data, "verify.json");
  writeJsonArray(verifyFile, verifyRows);
  return pairs(
    ctx,
    "VerifyTicket",
    M.verify,
    `checks a ticket code and returns the ticket's state without admitting it; cycling over ${tickets.length} tickets.`,
    {
      requestBytes: wireBytes(VerifyTicketRequest, verifyRows[0]!),
      concurrency: settings.concurrency,
      callsPerRound: settings.n,
      round: () => ({ dataFile: verifyFile, total: settings.n, skipFirst: settings.skipFirst }),
      notes: [
        `Every code was seen by CheckIn before, so the signature check is a hit in the API's verified-code cache (100,000 codes) and each call costs the cache lookup and a MySQL read of the ticket. An uncached Ed25519 verify (~63 µs) is part of CheckIn's first scans above.`,
      ],
    },
  );
}

/** Every ghz round: each tallied call has a code, and the tally is what was sent minus the skipped. */
function ghzRoundChecks(allRounds: RpcRound[]): Check[] {
  const miscounted = allRounds.filter((r) => {
    const s = r.summary!;
    const sum = Object.values(s.codes).reduce((a, v) => a + v, 0);
    return sum !== s.count || s.count !== r.sent - r.skipFirst;
  });
  // repeat scans are refused by design; everything else must succeed
  const expected = (r: RpcRound) => (r.call === "CheckIn (repeat scan)" ? "FailedPrecondition" : "OK");
  const unexpected = allRounds.filter((r) => Object.keys(r.summary!.codes).some((c) => c !== expected(r)));
  return [
    {
      name: "every call accounted for (codes tallied = calls sent − skipped warm-up)",
      ok: miscounted.length === 0,
      detail:
        miscounted.length === 0
          ? `${allRounds.length} rounds, ${allRounds.reduce((a, r) => a + r.sent, 0).toLocaleString("en-US")} calls`
          : miscounted
              .map(
                (r) =>
                  `${r.call} ${r.phase} ${r.round}: sent ${r.sent}, skipped ${r.skipFirst}, tallied ${r.summary!.count}, codes ${JSON.stringify(r.summary!.codes)}`,
              )
              .join("; "),
    },
    {
      name: "every call answered as expected (OK; repeat scans FAILED_PRECONDITION)",
      ok: unexpected.length === 0,
      detail:
        unexpected.length === 0
          ? "yes"
          : unexpected
              .map(
                (r) =>
                  `${r.call} ${r.phase} ${r.round}: ${JSON.stringify(r.summary!.codes)} ${JSON.stringify(r.summary!.errorKinds)}`,
              )
              .join("; "),
    },
  ];
}

/** HoldBestAvailable: the event's Redis state. */
async function bestAvailableChecks(ctx: Ctx, best: BestEvent): Promise<Check[]> {
  const bestState = await readEventState(ctx.b, best.layout);
  const bestChecks = seatChecks(bestState, new SeatIndex(best.layout));
  bestChecks.push({
    name: "every HoldBestAvailable call made exactly one hold",
    ok: bestState.holds.length === best.sent && bestState.version - best.version0 === best.sent,
    detail: `${best.sent} calls sent (warm-up included), ${bestState.holds.length} holds indexed, ${bestState.version - best.version0} version bumps`,
  });
  const badBlocks: string[] = [];
  for (const h of bestState.holds) {
    const parsed = h.seats.map((s) => /^(.+)-(\d+)-(\d+)$/.exec(s)).filter((m): m is RegExpExecArray => m !== null);
    const nums = parsed.map((m) => Number(m[3])).sort((x, y) => x - y);
    const sameRow = parsed.length === h.seats.length && new Set(parsed.map((m) => `${m[1]}-${m[2]}`)).size === 1;
    const adjacent = nums.every((v, i) => i === 0 || v === nums[i - 1]! + 1);
    const section = parsed[0]?.[1];
    if (h.seats.length !== settings.bestQuantity || !sameRow || !adjacent || section !== best.sectionOf.get(h.buyer))
      badBlocks.push(`${h.holdId} (${h.buyer}): ${h.seats.join(",")}`);
  }
  bestChecks.push({
    name: `each hold is ${settings.bestQuantity} adjacent seats of one row in the section the call named`,
    ok: badBlocks.length === 0,
    detail:
      badBlocks.length === 0
        ? `${bestState.holds.length} holds checked`
        : `${badBlocks.length} are not: ${badBlocks.slice(0, 5).join("; ")}`,
  });
  return bestChecks;
}

/** Checkout event: the same checks as bench:checkout, from what WatchOrder reported. */
async function ordersChecks(ctx: Ctx, orders: OrdersEvent): Promise<Awaited<ReturnType<typeof checkoutChecks>>> {
  const { eventId, seats, records, createCalls, prepared } = orders;
  const inv = await checkoutChecks({
    mysql: ctx.mysql,
    redis: ctx.b.redis,
    eventId,
    capacity: seats.capacity,
    records,
  });
  const ghzOk = createCalls.reduce((a, c) => a + (c.codes.OK ?? 0), 0);
  const ghzSent = createCalls.reduce((a, c) => a + c.sent, 0);
  const ordersFound = records.filter((r) => r.createCode === "OK").length;
  inv.checks.unshift({
    name: "CreateOrder calls: ghz OK = orders found = holds prepared",
    ok: ghzOk === ghzSent && ordersFound === ghzOk && ghzSent === prepared.length,
    detail: `${prepared.length} holds prepared, ${ghzSent} CreateOrder calls sent, ${ghzOk} OK (ghz), ${ordersFound} orders WatchOrder found`,
  });
  return inv;
}

/** Tickets at the door. */
async function ticketChecks(
  ctx: Ctx,
  orders: OrdersEvent,
  allRounds: RpcRound[],
  scans: Scans,
  tickets: Ticket[],
): Promise<Check[]> {
  const { scanned, before, afterFirst, afterRescan } = scans;
  const checkinOk = allRounds.filter((r) => r.call === "CheckIn").reduce((a, r) => a + (r.summary!.codes.OK ?? 0), 0);
  return [
    {
      name: "one check-in per admitting scan, none from the repeat scans",
      ok:
        afterFirst - before === scanned - settings.checkinWarmup &&
        afterFirst === scanned &&
        checkinOk === scanned &&
        afterRescan === afterFirst,
      detail: `${scanned} tickets scanned once (warm-up included), ${checkinOk} OK; check_ins rows: ${before} before the measured rounds, ${afterFirst} after them, ${afterRescan} after the repeat scans`,
    },
    ...(await ticketTableChecks(ctx.mysql, orders.eventId, tickets.length)),
  ];
}

async function main(run: BenchRun): Promise<BenchOutcome> {
  const failures: string[] = [];
  const ctx = await startStack(run);
  const best = await loadBestEvent(ctx);
  const orders = await openOrdersEvent(ctx);
  const warmup = await warmUp(ctx, best, orders);

  const rpcs: RpcResult[] = [];
  rpcs.push(await benchHoldBestAvailable(ctx, best));
  rpcs.push(await benchCreateOrder(ctx, orders));

  // --- the orders and tickets the CreateOrder rounds made
  const confirmed = orders.prepared.filter((p) => p.record.finalState === "CONFIRMED");
  const tickets = confirmed.flatMap((p) => p.tickets);
  say(`${confirmed.length} confirmed orders with ${tickets.length} tickets for GetOrder, CheckIn and VerifyTicket`);
  if (confirmed.length === 0 || tickets.length < settings.checkinWarmup + settings.rounds)
    throw new Error(`too few confirmed orders (${confirmed.length}) or tickets (${tickets.length}) to go on`);

  rpcs.push(await benchGetOrder(ctx, confirmed));
  const checkIns = await benchCheckIns(ctx, orders, confirmed, tickets, warmup);
  rpcs.push(...checkIns.results);
  rpcs.push(await benchVerifyTicket(ctx, tickets));

  // --- invariants
  say("checking invariants");
  const allRounds = [...warmup, ...rpcs.flatMap((x) => x.rounds)];
  const groups: { group: string; checks: Check[] }[] = [];
  groups.push({ group: "every ghz round", checks: ghzRoundChecks(allRounds) });
  groups.push({
    group: `HoldBestAvailable event ${best.layout.eventId} (Redis)`,
    checks: await bestAvailableChecks(ctx, best),
  });
  const inv = await ordersChecks(ctx, orders);
  groups.push({ group: `checkout event ${orders.eventId} (MySQL, payment ledger, Redis)`, checks: inv.checks });
  groups.push({
    group: "tickets and check-ins (MySQL)",
    checks: await ticketChecks(ctx, orders, allRounds, checkIns.scans, tickets),
  });

  for (const g of groups) {
    for (const c of g.checks) {
      say(`${c.ok ? "ok    " : "BROKEN"} ${c.name}: ${c.detail}`);
      if (!c.ok) failures.push(`invariant broken (${g.group}): ${c.name}: ${c.detail}`);
    }
  }
  for (const x of rpcs)
    if (x.generatorLimited)
      say(`note: ${x.name}: ghz used ${Math.round(x.maxGhzCores * 100)} % of a core in some round`);

  const result = buildResult(ctx, {
    failures,
    best,
    orders,
    confirmed,
    tickets,
    scans: checkIns.scans,
    facts: inv.facts,
    rpcs,
    warmup,
    groups,
  });
  return { files: writeRpcsReports(result, run.stamp), failures };
}

function buildResult(
  ctx: Ctx,
  o: {
    failures: string[];
    best: BestEvent;
    orders: OrdersEvent;
    confirmed: PreparedCheckout[];
    tickets: Ticket[];
    scans: Scans;
    facts: RpcsBenchResult["prep"]["facts"];
    rpcs: RpcResult[];
    warmup: RpcRound[];
    groups: { group: string; checks: Check[] }[];
  },
): RpcsBenchResult {
  const { runId, started, machine } = ctx.run;
  const { temporal: t, stack, api, worker, taskQueue } = ctx.stack;
  const { best, orders } = o;
  const others = ctx.sampler.stop();
  const finished = new Date();
  const shownEnv = Object.entries(process.env)
    .filter(([k]) => /^BENCH_/.test(k))
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return {
    kind: "rpcs",
    schema: 1,
    runId,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: round((finished.getTime() - started.getTime()) / 1000, 1),
    ok: o.failures.length === 0,
    failures: o.failures,
    command: `${shownEnv ? `${shownEnv} ` : ""}npm run bench:rpcs`,
    settings,
    source: sourceInfo(repoRoot),
    machine: {
      ...machine,
      redis: ctx.redisVersion,
      loadAvgAfter: os.loadavg().map((x) => round(x, 2)),
      othersDuringRun: others,
    },
    stack: {
      temporal: t.command,
      redisUrl: stack.redisUrl,
      mysqlUrl: stack.mysqlUrl,
      pids: ctx.pids,
      apiCommand: api.command,
      workerCommand: worker.command,
      taskQueue,
    },
    prep: {
      bestAvailableEvent: {
        eventId: best.layout.eventId,
        seats: best.layout.capacity,
        sections: best.grid.sections,
        sectionsPerRound: best.sectionsPerRound,
        callsSent: best.sent,
      },
      checkoutEvent: { eventId: orders.eventId, seats: orders.seats.capacity, seatsUsed: orders.seats.used },
      holdsForCreateOrder: {
        count: orders.prepared.length,
        seatsEach: settings.orderSeats,
        seconds: round(orders.holdSeconds, 2),
      },
      ordersFinalAfterEachCreateOrderRound: orders.drains,
      confirmedOrders: o.confirmed.length,
      tickets: o.tickets.length,
      checkIn: { warmup: settings.checkinWarmup, perRound: o.scans.perRound, rescanPerRound: settings.rescanN },
      facts: o.facts,
    },
    rpcs: o.rpcs,
    warmup: o.warmup,
    invariants: { ok: o.groups.every((g) => g.checks.every((c) => c.ok)), groups: o.groups },
  };
}

async function countCheckIns(mysql: MysqlPool, eventId: string): Promise<number> {
  const [rows] = await mysql.query<RowDataPacket[]>(
    "SELECT COUNT(*) AS n FROM check_ins c JOIN tickets t ON t.ticket_id = c.ticket_id WHERE t.event_id = ?",
    [eventId],
  );
  return Number(rows[0]?.n ?? 0);
}

async function ticketTableChecks(mysql: MysqlPool, eventId: string, ticketsSeen: number): Promise<Check[]> {
  const [t] = await mysql.query<RowDataPacket[]>(
    "SELECT COUNT(*) AS n, SUM(state = 'VALID' AND revoked_at IS NULL) AS valid FROM tickets WHERE event_id = ?",
    [eventId],
  );
  const n = Number(t[0]?.n ?? 0);
  const valid = Number(t[0]?.valid ?? 0);
  return [
    {
      name: "tickets in MySQL = the tickets the confirmed orders carried, none revoked",
      ok: n === ticketsSeen && valid === n,
      detail: `${n} tickets for the event (${valid} valid, not revoked), ${ticketsSeen} seen in the orders`,
    },
  ];
}

/** The knobs `settings` reads, for --help. */
const RPCS_ENV: [string, string][] = [
  ["BENCH_N", "calls per round of Noop, HoldBestAvailable, GetOrder, VerifyTicket (20000)"],
  ["BENCH_ROUNDS", "rounds of each (3)"],
  ["BENCH_CONCURRENCY", "ghz --concurrency (64)"],
  ["BENCH_CONNECTIONS", "ghz --connections (4)"],
  ["BENCH_SKIP", "ghz --skipFirst (1000)"],
  ["BENCH_WARMUP", "untallied calls of Noop and HoldBestAvailable first (3000)"],
  ["BENCH_CREATE_N", "CreateOrder calls per round (250)"],
  ["BENCH_CREATE_WARMUP", "untallied CreateOrder calls first (50)"],
  ["BENCH_CREATE_CONCURRENCY", "CreateOrder ghz --concurrency (50)"],
  ["BENCH_ORDER_SEATS", "seats per order = tickets per order (6)"],
  ["BENCH_CHECKIN_N", "first scans per round (0: every ticket, shared out over the rounds)"],
  ["BENCH_RESCAN_N", "repeat scans per round (5000)"],
  ["BENCH_GHZ_CPUS", "ghz --cpus (1)"],
  ["BENCH_GHZ_GOGC", "GOGC for ghz (400)"],
  ["BENCH_TEMPORAL_DB", "file | memory: our Temporal dev server's store (file)"],
  ["BENCH_API_NODE_ARGS", "extra node flags for the API"],
  ["BENCH_WORKER_NODE_ARGS", "extra node flags for the worker"],
  ["BENCH_ISSUER_DIR", "the local issuer the API under test trusts (.local/bench-issuer)"],
];

runBench(
  {
    usage: "npm run bench:rpcs --",
    about:
      "The hot-path unary RPCs not benched elsewhere (HoldBestAvailable, CreateOrder, GetOrder, CheckIn, its repeat scan, VerifyTicket), each in interleaved ghz rounds beside Noop, then the invariants. Starts its own stack, API and worker. 10-12 minutes on 2 cores.",
    env: [...RPCS_ENV, ...STACK_ENV],
    runIdPrefix: "r",
    tmpPrefix: "ticketing-bench-",
    tools: ["ghz", "grpcurl"],
    onSignal: () => void stopOwned(),
    teardown: stopCheckoutStack,
  },
  main,
);
