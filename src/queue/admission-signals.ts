// Adaptive admission's signals, event-wide: every API process counts, per
// event, its holds' handling times (a fixed-bucket histogram) and the calls
// that matter (holds and CreateOrder) with those that failed, in memory, and
// adds them once a second to Redis, into a hash per event and wall-clock
// second (one pipeline per event with calls, never one write per call). The
// controller (src/queue/adaptive-admission.ts) sums the seconds of its
// interval over all processes.
import { status } from "@grpc/grpc-js";
import type { RedisClient } from "../adapters/redis/client.js";
import { queueKeys } from "../adapters/redis/keys.js";
import type { Logger } from "../logger.js";

/** Upper bounds (ms) of the hold latency buckets; one more bucket holds everything slower. */
export const LATENCY_BOUNDS_MS = [
  1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000,
] as const;

/** Codes that say the backend could not cope: what the error ratio counts. */
const FAILED_CODES = new Set<status>([status.UNAVAILABLE, status.INTERNAL, status.DEADLINE_EXCEEDED]);

const FLUSH_MS = 1000;
/** Published seconds live this long: more than the longest interval (60 s). */
const SIGNALS_TTL_MS = 5 * 60_000;

export type SignalCall = "hold" | "order";

interface Pending {
  /** Holds per latency bucket (LATENCY_BOUNDS_MS, then one for the rest). */
  buckets: number[];
  holds: number;
  calls: number;
  failed: number;
}

/** What one interval's signals add up to, over every process. */
export interface IntervalSignals {
  holds: number;
  /** Per latency bucket. */
  buckets: number[];
  calls: number;
  failed: number;
}

export class AdmissionSignals {
  private pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly log: Logger,
  ) {}

  /** One finished call of an event (holds: HoldSeats, HoldBestAvailable; order: CreateOrder). */
  observe(eventId: string, call: SignalCall, seconds: number, code: status): void {
    if (!eventId) return;
    let p = this.pending.get(eventId);
    if (!p) {
      if (this.pending.size >= 10_000) return; // bounded: ids are validated, but any caller may name one
      p = { buckets: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0), holds: 0, calls: 0, failed: 0 };
      this.pending.set(eventId, p);
    }
    p.calls++;
    if (FAILED_CODES.has(code)) p.failed++;
    if (call === "hold") {
      p.holds++;
      p.buckets[bucketOf(seconds * 1000)]!++;
    }
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Adds what was counted since the last flush to the current second's hash of each event. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const second = Math.floor(Date.now() / 1000);
    await Promise.all(
      [...batch].map(async ([eventId, p]) => {
        const key = queueKeys(eventId).signals(second);
        // One slot per event (its hash tag): a pipeline works on a Redis Cluster too.
        const pipe = this.redis.pipeline();
        pipe.hincrby(key, "c", p.calls);
        if (p.failed) pipe.hincrby(key, "e", p.failed);
        if (p.holds) pipe.hincrby(key, "n", p.holds);
        p.buckets.forEach((n, i) => {
          if (n) pipe.hincrby(key, `h${i}`, n);
        });
        pipe.pexpire(key, SIGNALS_TTL_MS);
        // Lost for this second only: the controller decides on what the others published.
        const warn = (err: unknown) => this.log.warn({ err, eventId }, "could not publish admission signals");
        try {
          const failed = (await pipe.exec())?.find(([err]) => err);
          if (failed) warn(failed[0]);
        } catch (err) {
          warn(err);
        }
      }),
    );
  }
}

/** The latency bucket of a duration in ms. */
export function bucketOf(ms: number): number {
  for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) if (ms <= LATENCY_BOUNDS_MS[i]!) return i;
  return LATENCY_BOUNDS_MS.length;
}

/** The signals every process published for the event during [fromSecond, toSecond]. */
export async function readSignals(
  redis: RedisClient,
  eventId: string,
  fromSecond: number,
  toSecond: number,
): Promise<IntervalSignals> {
  const pipe = redis.pipeline();
  for (let s = fromSecond; s <= toSecond; s++) pipe.hgetall(queueKeys(eventId).signals(s));
  const results = (await pipe.exec()) ?? [];
  const sum: IntervalSignals = {
    holds: 0,
    buckets: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0),
    calls: 0,
    failed: 0,
  };
  for (const [err, value] of results) {
    if (err) throw err;
    const h = value as Record<string, string>;
    sum.holds += Number(h.n ?? 0);
    sum.calls += Number(h.c ?? 0);
    sum.failed += Number(h.e ?? 0);
    for (let i = 0; i < sum.buckets.length; i++) sum.buckets[i]! += Number(h[`h${i}`] ?? 0);
  }
  return sum;
}

/**
 * The 99th percentile (ms) from the histogram, interpolated within its bucket
 * as Prometheus' histogram_quantile does; 0 without holds. Beyond the last
 * bound it is that bound: "at least 10 s".
 */
export function p99Ms(s: IntervalSignals): number {
  if (s.holds === 0) return 0;
  const rank = 0.99 * s.holds;
  let below = 0;
  for (let i = 0; i < s.buckets.length; i++) {
    const n = s.buckets[i]!;
    if (n > 0 && below + n >= rank) {
      if (i === LATENCY_BOUNDS_MS.length) return LATENCY_BOUNDS_MS[i - 1]!;
      const lo = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!;
      const hi = LATENCY_BOUNDS_MS[i]!;
      return lo + ((hi - lo) * (rank - below)) / n;
    }
    below += n;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
}
