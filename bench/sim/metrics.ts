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
  readonly faults: {
    kind: string;
    atSeconds: number;
    seconds: number;
    startedMs: number;
    endedMs?: number;
    note: string;
  }[] = [];
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
    }
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
