// What the simulator counts while it runs: calls and latencies per RPC (a
// log-bucketed histogram, bounded memory however many calls), codes and
// reasons per RPC, the buyers' funnel, and per-second samples for the report.
import { status } from "@grpc/grpc-js";

const CODE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(status)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [v as number, k]),
);

export function codeName(code: number | undefined): string {
  if (code === undefined) return "UNKNOWN";
  return CODE_NAMES[code] ?? String(code);
}

/** Latencies in ms with ~2 % relative precision, from 10 µs to hours. */
export class Histogram {
  private static readonly BASE = Math.log(1.02);
  private readonly buckets = new Map<number, number>();
  count = 0;
  sum = 0;
  max = 0;

  record(ms: number): void {
    const v = Math.max(0.01, ms);
    const b = Math.floor(Math.log(v / 0.01) / Histogram.BASE);
    this.buckets.set(b, (this.buckets.get(b) ?? 0) + 1);
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const target = Math.max(1, Math.ceil(q * this.count));
    const keys = [...this.buckets.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const k of keys) {
      seen += this.buckets.get(k)!;
      if (seen >= target) return Math.min(this.max, 0.01 * Math.exp((k + 0.5) * Histogram.BASE));
    }
    return this.max;
  }

  summary(): { count: number; p50: number; p90: number; p99: number; max: number; mean: number } {
    const r = (x: number) => Math.round(x * 100) / 100;
    return {
      count: this.count,
      p50: r(this.quantile(0.5)),
      p90: r(this.quantile(0.9)),
      p99: r(this.quantile(0.99)),
      max: r(this.max),
      mean: r(this.count ? this.sum / this.count : NaN),
    };
  }
}

export interface RpcStats {
  calls: number;
  latency: Histogram;
  /** code name → count */
  codes: Record<string, number>;
  /** "CODE/REASON" → count, failures only */
  reasons: Record<string, number>;
}

/** The buyers' funnel: cumulative counts, and gauges of where buyers are now. */
export interface Funnel {
  arrived: number;
  joined: number;
  /** now waiting in line (pre-queue included) */
  waiting: number;
  admitted: number;
  /** now holding seats, not yet ordered */
  holding: number;
  holdsMade: number;
  /** CreateOrder accepted (payment submitted) */
  paid: number;
  /** orders now pending */
  paying: number;
  confirmed: number;
  failedOrders: number;
  ticketsBought: number;
  done: number;
}

/** Codes that say the service could not answer, as opposed to an answer about the request itself. */
const REFUSAL_CODES = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.INTERNAL, status.UNKNOWN]);

export interface Refusals {
  /** Calls by code (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN). */
  byCode: Record<string, number>;
  unavailable: number;
  /** INTERNAL + UNKNOWN: never expected, whatever broke. */
  unexpected: number;
  firstUnavailableMs?: number | undefined;
  lastUnavailableMs?: number | undefined;
  /** From the first to the last UNAVAILABLE, ms (0 when there was none or one). */
  windowMs: number;
}

/** "UNAVAILABLE 12 over 2.3 s, DEADLINE_EXCEEDED 1, INTERNAL 0, UNKNOWN 0" (over: the first to the last UNAVAILABLE). */
export function describeRefusals(r: Refusals | undefined): string {
  if (!r) return "–";
  const n = (x: number) => x.toLocaleString("en-US");
  const others = Object.entries(r.byCode)
    .filter(([c]) => c !== "UNAVAILABLE" && c !== "INTERNAL" && c !== "UNKNOWN")
    .map(([c, x]) => `, ${c} ${n(x)}`)
    .join("");
  return (
    `UNAVAILABLE ${n(r.unavailable)}${r.unavailable ? ` over ${(r.windowMs / 1000).toFixed(1)} s` : ""}${others}, ` +
    `INTERNAL ${n(r.byCode.INTERNAL ?? 0)}, UNKNOWN ${n(r.byCode.UNKNOWN ?? 0)}`
  );
}

/** A Redis Cluster failover (bench/sim/faults.ts, redis-failover). */
export interface FailoverRecord {
  /** The master serving the event's slot, killed, and the replica promoted in its place (client ports). */
  killedPort: number;
  promotedPort: number;
  slot: number;
  /** From the kill until the replica was a master and the cluster ok again, ms. */
  promotedAfterMs: number;
  /** Holds the old master had a moment before the kill that its replica never got (asynchronous replication). */
  lostHolds: string[];
  /** Seat-map changes (the event's version counter) the replica was behind by. */
  lostSeatChanges: number;
}

export interface FaultRecord {
  kind: string;
  atSeconds: number;
  seconds: number;
  startedMs: number;
  endedMs?: number;
  note: string;
  /** The calls refused from the fault's start until the next fault started or 30 s after it ended. */
  refusals?: Refusals;
  failover?: FailoverRecord;
}

export class Metrics {
  readonly rpc = new Map<string, RpcStats>();
  readonly funnel: Funnel = {
    arrived: 0,
    joined: 0,
    waiting: 0,
    admitted: 0,
    holding: 0,
    holdsMade: 0,
    paid: 0,
    paying: 0,
    confirmed: 0,
    failedOrders: 0,
    ticketsBought: 0,
    done: 0,
  };
  /** How each buyer's journey ended. */
  readonly outcomes: Record<string, number> = {};
  /** Client-side timings that are not one RPC: queue wait, checkout time, ... */
  readonly spans = new Map<string, Histogram>();
  /** Oddities the driver saw (not errors by code: contract surprises). */
  readonly anomalies: { at: number; what: string }[] = [];
  /** Per-second samples for the report. */
  readonly timeline: {
    t: number;
    calls: number;
    errors: number;
    waiting: number;
    admitted: number;
    holding: number;
    paid: number;
    confirmed: number;
    tickets: number;
    /** The admission rate the live state had (sampled when the run can read Redis). */
    rate?: number;
    /** p99 (ms, client side) of the holds answered during this second; absent without any. */
    holdP99Ms?: number;
    /** Orders created whose final state the buyers have not seen yet (checkouts in flight). */
    pending?: number;
  }[] = [];
  /** The admission rate as last sampled (RunOptions.admissionRate). */
  admissionRate: number | undefined;
  /** Hold latencies (ms) since the last timeline sample. */
  holdWindow: number[] = [];
  totalCalls = 0;
  totalErrors = 0;
  /** Calls sent again after UNAVAILABLE or DEADLINE_EXCEEDED, by method (each failed attempt is also in `rpc`). */
  readonly retries: Record<string, number> = {};
  /** Faults injected (bench/sim/faults.ts), in order. */
  readonly faults: FaultRecord[] = [];
  /**
   * When calls were refused (UNAVAILABLE, DEADLINE_EXCEEDED) or failed
   * unexpectedly (INTERNAL, UNKNOWN): wall-clock ms of the answer and the
   * code, bounded; a fault's record says which of these fell in its window.
   */
  readonly refusals: { atMs: number; code: string }[] = [];
  /** Arrivals that started later than scheduled (the client could not keep up), ms. */
  readonly arrivalLag = new Histogram();
  /** The simulator's own event-loop delay (client-side latencies include it). */
  loopDelayMs: { p50: number; p99: number; max: number } = { p50: NaN, p99: NaN, max: NaN };

  stats(method: string): RpcStats {
    let s = this.rpc.get(method);
    if (!s) this.rpc.set(method, (s = { calls: 0, latency: new Histogram(), codes: {}, reasons: {} }));
    return s;
  }

  recordCall(method: string, ms: number, code: number, reason?: string): void {
    const s = this.stats(method);
    s.calls++;
    s.latency.record(ms);
    if (method.startsWith("Hold")) this.holdWindow.push(ms);
    const name = codeName(code);
    s.codes[name] = (s.codes[name] ?? 0) + 1;
    this.totalCalls++;
    if (code !== status.OK) {
      this.totalErrors++;
      const key = reason ? `${name}/${reason}` : name;
      s.reasons[key] = (s.reasons[key] ?? 0) + 1;
      if (REFUSAL_CODES.has(code) && this.refusals.length < 200_000)
        this.refusals.push({ atMs: Date.now(), code: name });
    }
  }

  /** The refusals answered in [fromMs, toMs): counts by code, and the first to the last UNAVAILABLE. */
  refusalsBetween(fromMs: number, toMs: number): Refusals {
    const byCode: Record<string, number> = {};
    let first: number | undefined;
    let last: number | undefined;
    for (const r of this.refusals) {
      if (r.atMs < fromMs || r.atMs >= toMs) continue;
      byCode[r.code] = (byCode[r.code] ?? 0) + 1;
      if (r.code !== "UNAVAILABLE") continue;
      first ??= r.atMs;
      last = r.atMs;
    }
    return {
      byCode,
      unavailable: byCode.UNAVAILABLE ?? 0,
      unexpected: (byCode.INTERNAL ?? 0) + (byCode.UNKNOWN ?? 0),
      firstUnavailableMs: first,
      lastUnavailableMs: last,
      windowMs: first !== undefined && last !== undefined ? last - first : 0,
    };
  }

  retried(method: string): void {
    this.retries[method] = (this.retries[method] ?? 0) + 1;
  }

  span(name: string, ms: number): void {
    let h = this.spans.get(name);
    if (!h) this.spans.set(name, (h = new Histogram()));
    h.record(ms);
  }

  outcome(name: string): void {
    this.outcomes[name] = (this.outcomes[name] ?? 0) + 1;
    this.funnel.done++;
  }

  anomaly(what: string): void {
    if (this.anomalies.length < 1000) this.anomalies.push({ at: Date.now(), what });
  }

  /** Errors by code over every RPC. */
  errorsByCode(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.rpc.values())
      for (const [c, n] of Object.entries(s.codes)) if (c !== "OK") out[c] = (out[c] ?? 0) + n;
    return out;
  }
}
