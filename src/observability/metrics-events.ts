// Which events may appear as label values: those whose sale is not closed
// (scheduled with its pre-queue, open, paused), and any other for a while
// after it was last seen so (METRICS_EVENT_RETENTION_SECONDS), so that a
// closing sale's last numbers are still scraped. Everything else is dropped
// from every event-labelled metric: label values stay bounded by the sales
// in progress, never by history.
import { Counter, type Registry } from "prom-client";

interface Series {
  labels: Record<string, string>;
  n: number;
}

export class EventLabels {
  /** Event id -> ms it was last seen live (listed not closed, or counted). */
  private readonly lastSeen = new Map<string, number>();
  private readonly droppers: ((eventId: string) => void)[] = [];
  private refreshing: Promise<string[]> | undefined;

  constructor(
    /** Events whose sale is not closed (MySQL). */
    private readonly listLive: () => Promise<string[]>,
    private readonly retentionMs: number,
  ) {}

  /** Events counted since the last scrape: their retention restarts then (no clock read per increment). */
  readonly touched = new Set<string>();

  /** Something happened to the event: keep its labels for at least the retention from now. */
  touch(eventId: string, now = Date.now()): void {
    this.lastSeen.set(eventId, now);
  }

  /** Called with each event that leaves the label set, to remove its series. */
  onDrop(dropper: (eventId: string) => void): void {
    this.droppers.push(dropper);
  }

  /**
   * At scrape time: reads the live events, drops the ones past retention and
   * returns those to show. Concurrent callers (several collectors of one
   * scrape) share one read.
   */
  current(): Promise<string[]> {
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async refresh(): Promise<string[]> {
    const now = Date.now();
    // MySQL down: keep the events known so far (dropping them would reset their counters).
    const live = await this.listLive().catch(() => undefined);
    if (!live) return [...this.lastSeen.keys()];
    for (const eventId of live) this.lastSeen.set(eventId, now);
    for (const eventId of this.touched) this.lastSeen.set(eventId, now);
    this.touched.clear();
    for (const [eventId, seen] of this.lastSeen) {
      if (seen + this.retentionMs >= now) continue;
      this.lastSeen.delete(eventId);
      for (const drop of this.droppers) drop(eventId);
    }
    return [...this.lastSeen.keys()];
  }
}

/**
 * A counter with an event_id label, cheap on the hold path: increments add to
 * plain numbers, and prom-client sees the totals only when scraped (its own
 * label children hash their labels on every increment). An event's series
 * go when the event leaves the label set.
 */
export class EventCounter<L extends string> {
  /** Event id -> first label value -> second label value ("" if none) -> series. */
  private readonly counts = new Map<string, Map<string, Map<string, Series>>>();

  constructor(
    private readonly events: EventLabels,
    private readonly options: { name: string; help: string; labelNames: L[]; registry: Registry },
  ) {
    if (options.labelNames.length > 2) throw new Error("EventCounter takes at most two labels besides event_id");
    const counts = this.counts;
    new Counter({
      name: options.name,
      help: options.help,
      labelNames: ["event_id", ...options.labelNames],
      registers: [options.registry],
      collect() {
        this.reset();
        for (const byFirst of counts.values()) {
          for (const bySecond of byFirst.values())
            for (const { labels, n } of bySecond.values()) this.inc(labels as never, n);
        }
      },
    });
    events.onDrop((eventId) => counts.delete(eventId));
  }

  /** Adds n to the series of `eventId` and the label values, in labelNames order. */
  inc(eventId: string, values: readonly string[], n = 1): void {
    if (n <= 0) return;
    const first = values[0] ?? "";
    const second = values[1] ?? "";
    let byFirst = this.counts.get(eventId);
    if (!byFirst) {
      this.counts.set(eventId, (byFirst = new Map<string, Map<string, Series>>()));
      this.events.touch(eventId);
    }
    let bySecond = byFirst.get(first);
    if (!bySecond) byFirst.set(first, (bySecond = new Map<string, Series>()));
    const series = bySecond.get(second);
    if (series) series.n += n;
    else {
      const labels: Record<string, string> = { event_id: eventId };
      this.options.labelNames.forEach((name, i) => (labels[name] = values[i] ?? ""));
      bySecond.set(second, { labels, n });
    }
    this.events.touched.add(eventId);
  }
}
