// Drives one strategy through one round of the same contention: a seeded list
// of buyers, each asking for 1..max random seats, issued at a fixed
// concurrency from this process; then reads the store back and checks the
// invariants against what the buyers were told.
import { performance } from "node:perf_hooks";
import type { Check } from "../lib/invariants.js";
import { processCpuSeconds } from "../lib/sys.js";
import { errorReason, requestProblem, venueSeats, type HoldOutcome, type HoldStrategy, type Venue } from "./types.js";

export interface BuyerRequest {
  buyerId: string;
  seatIds: string[];
}

export interface Workload {
  seed: number;
  requests: BuyerRequest[];
  seatsRequested: number;
}

/** xorshift32, as bench/lib/events.ts writeContentionFile: reproducible from the seed in the results. */
function xorshift(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

/** `buyers` buyers (b0, b1, ...), each wanting 1..maxSeats distinct random seats of the venue. */
export function makeWorkload(o: { buyers: number; seatIds: string[]; maxSeats: number; seed: number }): Workload {
  if (!Number.isInteger(o.buyers) || o.buyers < 1)
    throw new Error(`buyers must be a whole number ≥ 1, not ${o.buyers}`);
  if (!Number.isInteger(o.maxSeats) || o.maxSeats < 1 || o.maxSeats > o.seatIds.length) {
    throw new Error(`seats per buyer must be 1..${o.seatIds.length}, not ${o.maxSeats}`);
  }
  const rand = xorshift(o.seed);
  const requests: BuyerRequest[] = [];
  let seatsRequested = 0;
  for (let i = 0; i < o.buyers; i++) {
    const k = 1 + Math.floor(rand() * o.maxSeats);
    const picked = new Set<string>();
    while (picked.size < k) picked.add(o.seatIds[Math.floor(rand() * o.seatIds.length)]!);
    seatsRequested += k;
    requests.push({ buyerId: `b${i}`, seatIds: [...picked] });
  }
  return { seed: o.seed, requests, seatsRequested };
}

export function makeVenue(eventId: string, rows: number, seatsPerRow: number, maxSeatsPerBuyer: number): Venue {
  return { eventId, rows, seatsPerRow, seatIds: venueSeats(rows, seatsPerRow), maxSeatsPerBuyer };
}

/** Stops the bench on a workload no strategy should be judged by. */
export function assertValidWorkload(venue: Venue, w: Workload): void {
  const known = new Set(venue.seatIds);
  const buyers = new Set<string>();
  for (const r of w.requests) {
    const problem = requestProblem(venue, known, r.buyerId, r.seatIds);
    if (problem) throw new Error(`invalid workload: ${problem}`);
    if (buyers.has(r.buyerId)) throw new Error(`invalid workload: buyer ${r.buyerId} appears twice`);
    buyers.add(r.buyerId);
  }
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface RoundRun {
  strategy: string;
  round: number;
  eventId: string;
  calls: number;
  held: number;
  taken: number;
  failed: number;
  failureReasons: Record<string, number>;
  /** Tries per call (lock acquisitions, optimistic or deadlock retries); 1 when a strategy never retries. */
  attemptsPerCall: number;
  wallSeconds: number;
  /** Hold calls completed per second (held, taken and failed alike), over the round's wall time. */
  callsPerSecond: number;
  latencyMs: LatencySummary;
  /** CPU of this Node process (driver + client library) per call. */
  nodeCpuUsPerCall: number;
  /** CPU of the store's server process (redis-server or mariadbd) per call; NaN when it is not ours to measure. */
  storeCpuUsPerCall: number;
  seatsHeld: number;
  /** When the round's last successful hold was answered, in ms from its start: how long the race for the seats lasted. */
  lastHoldMs: number;
  /** Seats that more than one buyer was told they hold. */
  oversoldSeats: number;
  checks: Check[];
  ok: boolean;
  /** Rounds of the bench: the run this one was paired with (a lua-hold run names its partner, the partner names lua-hold). */
  pairedWith?: string;
  /** calls/s ÷ calls/s of the lua-hold run next to this one (not set on lua-hold's own runs). */
  ratioVsBaseline?: number;
}

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

export interface RunOptions {
  concurrency: number;
  round: number;
  /** PID of the store's server process, to measure its CPU over the round. */
  storePid?: number | undefined;
  /** Called every progressEveryMs with the calls done so far. */
  onProgress?: (done: number, elapsedMs: number) => void;
  progressEveryMs?: number;
  /** The round fails (throws) when it takes longer than this. */
  timeoutMs?: number;
}

/** Runs every request through strategy.hold at the given concurrency (after strategy.reset(venue)), then checks. */
export async function runRound(strategy: HoldStrategy, venue: Venue, w: Workload, o: RunOptions): Promise<RoundRun> {
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1)
    throw new Error(`concurrency must be a whole number ≥ 1, not ${o.concurrency}`);
  await strategy.reset(venue);
  const n = w.requests.length;
  const outcomes = new Array<HoldOutcome | undefined>(n);
  const latency = new Float64Array(n);
  let next = 0;
  let done = 0;
  let lastHeldAt = NaN;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const req = w.requests[i]!;
      const t0 = performance.now();
      let out: HoldOutcome;
      try {
        out = await strategy.hold(req.buyerId, req.seatIds);
      } catch (err) {
        // hold() reports failures as outcomes; a throw is a bug in the strategy, counted and named.
        out = { status: "failed", attempts: 1, reason: `threw: ${errorReason(err)}` };
      }
      const end = performance.now();
      latency[i] = end - t0;
      if (out.status === "held") lastHeldAt = end;
      outcomes[i] = out;
      done++;
    }
  };
  const storeCpu0 = o.storePid ? processCpuSeconds(o.storePid) : undefined;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const progress = o.onProgress
    ? setInterval(() => o.onProgress!(done, performance.now() - start), o.progressEveryMs ?? 10_000)
    : undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const all = Promise.all(Array.from({ length: Math.min(o.concurrency, n) }, worker));
    if (o.timeoutMs) {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `${strategy.name} round ${o.round}: ${done} of ${n} calls done after ${o.timeoutMs} ms (BENCH_STRATEGY_ROUND_TIMEOUT_S)`,
              ),
            ),
          o.timeoutMs,
        );
      });
      await Promise.race([all, timeout]);
    } else await all;
  } finally {
    if (progress) clearInterval(progress);
    if (timer) clearTimeout(timer);
  }
  const wallSeconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const storeCpu1 = o.storePid ? processCpuSeconds(o.storePid) : undefined;

  let held = 0;
  let taken = 0;
  let failed = 0;
  let attempts = 0;
  const failureReasons: Record<string, number> = {};
  for (const out of outcomes) {
    if (!out) continue;
    attempts += out.attempts;
    if (out.status === "held") held++;
    else if (out.status === "taken") taken++;
    else {
      failed++;
      failureReasons[out.reason] = (failureReasons[out.reason] ?? 0) + 1;
    }
  }
  const sorted = Float64Array.from(latency).sort();
  const holders = await strategy.readHolders();
  const { checks, oversoldSeats } = checkRound(venue, w, outcomes, holders);
  if (strategy.extraChecks) checks.push(...(await strategy.extraChecks()));
  return {
    strategy: strategy.name,
    round: o.round,
    eventId: venue.eventId,
    calls: n,
    held,
    taken,
    failed,
    failureReasons,
    attemptsPerCall: r3(attempts / n),
    wallSeconds: r3(wallSeconds),
    callsPerSecond: Math.round(n / wallSeconds),
    latencyMs: {
      p50: r3(percentile(sorted, 50)),
      p90: r3(percentile(sorted, 90)),
      p99: r3(percentile(sorted, 99)),
      max: r3(sorted[n - 1] ?? NaN),
      mean: r3(sorted.reduce((a, b) => a + b, 0) / n),
    },
    nodeCpuUsPerCall: Math.round(((cpu.user + cpu.system) / n) * 10) / 10,
    storeCpuUsPerCall:
      storeCpu0 !== undefined && storeCpu1 !== undefined ? Math.round(((storeCpu1 - storeCpu0) / n) * 1e7) / 10 : NaN,
    seatsHeld: holders.size,
    lastHoldMs: Math.round(lastHeldAt - start),
    oversoldSeats,
    checks,
    ok: checks.every((c) => c.ok),
  };
}

/**
 * The invariants of a round, from what the buyers were told (outcomes) and
 * what the store holds afterwards (holders: seat -> buyer).
 */
export function checkRound(
  venue: Venue,
  w: Workload,
  outcomes: readonly (HoldOutcome | undefined)[],
  holders: ReadonlyMap<string, string>,
): { checks: Check[]; oversoldSeats: number } {
  const checks: Check[] = [];
  const n = w.requests.length;
  const answered = outcomes.filter((x) => x !== undefined);
  const count = (s: HoldOutcome["status"]) => answered.filter((x) => x.status === s).length;
  const held = count("held");
  const taken = count("taken");
  const failed = count("failed");
  checks.push({
    name: "every call accounted for (held + taken + failed = calls)",
    ok: answered.length === n && held + taken + failed === n,
    detail: `${held} held + ${taken} taken + ${failed} failed = ${held + taken + failed} of ${n} calls (${answered.length} answered)`,
  });

  // Who was told they hold each seat.
  const claimants = new Map<string, string[]>();
  const winners = new Map<string, string[]>();
  w.requests.forEach((r, i) => {
    if (outcomes[i]?.status !== "held") return;
    winners.set(r.buyerId, r.seatIds);
    for (const s of r.seatIds) claimants.set(s, [...(claimants.get(s) ?? []), r.buyerId]);
  });
  const doubles = [...claimants].filter(([, bs]) => bs.length > 1);
  checks.push({
    name: "no oversell: no seat promised to two buyers",
    ok: doubles.length === 0,
    detail:
      doubles.length === 0
        ? `${claimants.size} seats promised, each to one buyer`
        : `${doubles.length} seats promised to more than one buyer (${doubles.reduce((a, [, bs]) => a + bs.length - 1, 0)} extra promises), e.g. ${doubles
            .slice(0, 3)
            .map(([s, bs]) => `${s} to ${bs.slice(0, 4).join(", ")}${bs.length > 4 ? ", …" : ""}`)
            .join("; ")}`,
  });

  const lost: string[] = [];
  for (const [seat, bs] of claimants) {
    const inStore = holders.get(seat);
    for (const b of bs) if (inStore !== b) lost.push(`${seat}: told ${b}, store says ${inStore ?? "free"}`);
  }
  const phantom = [...holders]
    .filter(([seat, b]) => !(claimants.get(seat) ?? []).includes(b))
    .map(([seat, b]) => `${seat} held by ${b}, who was not told so`);
  checks.push({
    name: "held seats in the store = union of the successful holds",
    ok: lost.length === 0 && phantom.length === 0,
    detail:
      lost.length + phantom.length === 0
        ? `${holders.size} seats held in the store, exactly the ${claimants.size} seats of the ${held} successful holds, each by the buyer told so`
        : [
            `${lost.length} promised seats not held by that buyer${lost.length ? ` (${lost.slice(0, 3).join("; ")})` : ""}`,
            `${phantom.length} held by a buyer not told so${phantom.length ? ` (${phantom.slice(0, 3).join("; ")})` : ""}`,
          ].join("; "),
  });

  const byBuyer = new Map<string, number>();
  for (const b of holders.values()) byBuyer.set(b, (byBuyer.get(b) ?? 0) + 1);
  const partial = [...winners]
    .filter(([b, seats]) => (byBuyer.get(b) ?? 0) !== seats.length)
    .map(([b, seats]) => `${b} holds ${byBuyer.get(b) ?? 0} of ${seats.length}`);
  checks.push({
    name: "all or nothing: each successful buyer holds every seat it asked for",
    ok: partial.length === 0,
    detail:
      partial.length === 0
        ? `${winners.size} buyers, each with all its seats`
        : `${partial.length} buyers hold part of their request, e.g. ${partial.slice(0, 3).join("; ")}`,
  });

  const unknown = [...holders.keys()].filter((s) => !venue.seatIds.includes(s));
  checks.push({
    name: "held ≤ capacity, only the venue's seats",
    ok: holders.size <= venue.seatIds.length && unknown.length === 0 && claimants.size <= venue.seatIds.length,
    detail: `${holders.size} held of ${venue.seatIds.length}${unknown.length ? `; not seats of the venue: ${unknown.slice(0, 3).join(", ")}` : ""}`,
  });
  return { checks, oversoldSeats: doubles.length };
}
