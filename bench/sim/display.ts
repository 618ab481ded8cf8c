// The live progress line: on a TTY one line rewritten every second, otherwise
// a plain line every few seconds (SIM_PROGRESS_SECONDS).
import type { Metrics } from "./metrics.js";

const n = (x: number) => x.toLocaleString("en-US");

/** The 99th percentile (nearest rank) of a second's samples; undefined without any. */
function p99(ms: number[]): number | undefined {
  if (ms.length === 0) return undefined;
  const sorted = [...ms].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!);
}

export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private lastCalls = 0;
  private lastAt = 0;
  private lastPrinted = 0;
  private readonly tty: boolean;
  private readonly everyMs: number;
  private phase = "";

  constructor(
    private readonly metrics: Metrics,
    private readonly out: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean } = process.stderr,
    private readonly startedAt = Date.now(),
    private readonly quiet = false,
  ) {
    this.tty = Boolean((out as { isTTY?: boolean }).isTTY) && !process.env.CI;
    this.everyMs = Number(process.env.SIM_PROGRESS_SECONDS || (this.tty ? 1 : 5)) * 1000;
  }

  setPhase(p: string): void {
    this.phase = p;
  }

  start(): void {
    this.lastAt = Date.now();
    this.lastCalls = this.metrics.totalCalls;
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  /** Called every second: samples the timeline, prints when due. */
  private tick(): void {
    const m = this.metrics;
    const now = Date.now();
    const calls = m.totalCalls - this.lastCalls;
    const rate = calls / Math.max(0.001, (now - this.lastAt) / 1000);
    this.lastCalls = m.totalCalls;
    this.lastAt = now;
    const f = m.funnel;
    m.timeline.push({
      t: Math.round((now - this.startedAt) / 1000),
      calls,
      errors: m.totalErrors,
      waiting: f.waiting,
      admitted: f.admitted,
      holding: f.holding,
      paid: f.paid,
      confirmed: f.confirmed,
      tickets: f.ticketsBought,
      rate: m.admissionRate,
      holdP99Ms: p99(m.holdWindow),
      pending: f.paying,
    });
    m.holdWindow = [];
    if (this.quiet || now - this.lastPrinted < this.everyMs - 50) return;
    this.lastPrinted = now;
    const line = this.line(rate);
    if (this.tty) this.out.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns || 200) - 1)}`);
    else this.out.write(`${line}\n`);
  }

  line(rate: number): string {
    const m = this.metrics;
    const f = m.funnel;
    const errs = Object.entries(m.errorsByCode())
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([c, k]) => `${c} ${n(k)}`)
      .join(", ");
    const t = Math.round((Date.now() - this.startedAt) / 1000);
    return (
      `[sim ${String(t).padStart(4)}s${this.phase ? ` ${this.phase}` : ""}] ` +
      `arrived ${n(f.arrived)} | queued ${n(f.waiting)} | admitted ${n(f.admitted)} | holding ${n(f.holding)} | ` +
      `paid ${n(f.paid)} (pending ${n(f.paying)}) | confirmed ${n(f.confirmed)} | done ${n(f.done)} | ` +
      `${n(Math.round(rate))} calls/s | errors: ${errs || "none"}`
    );
  }

  stop(): void {
    clearInterval(this.timer);
    if (this.tty && !this.quiet) this.out.write("\n");
  }
}
