// Which events may appear as label values: those whose sale is not closed
// (scheduled with its pre-queue, open, paused), and any other for a while
// after it was last seen so (METRICS_EVENT_RETENTION_SECONDS), so that a
// closing sale's last numbers are still scraped. Everything else is dropped
// from every event-labelled metric: label values stay bounded by the sales
// in progress, never by history.
import { Counter, type Registry } from "prom-client";

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
    for (const eventId of await this.listLive()) this.lastSeen.set(eventId, now);
    for (const [eventId, seen] of this.lastSeen) {
      if (seen + this.retentionMs >= now) continue;
      this.lastSeen.delete(eventId);
      for (const drop of this.droppers) drop(eventId);
    }
    return [...this.lastSeen.keys()];
  }
}

/**
 * A counter with an event_id label whose children are cached (the hold path
 * is hot) and removed when the event leaves the label set.
 */
export class EventCounter<L extends string> {
  private readonly counter: Counter<"event_id" | L>;
  /** Event id -> label values joined -> the child and its labels (for removal). */
  private readonly children = new Map<string, Map<string, { child: Counter.Internal; labels: Record<string, string> }>>();

  constructor(
    private readonly events: EventLabels,
    options: { name: string; help: string; labelNames: L[]; registry: Registry },
  ) {
    this.counter = new Counter({
      name: options.name,
      help: options.help,
      labelNames: ["event_id", ...options.labelNames],
      registers: [options.registry],
    });
    events.onDrop((eventId) => {
      const byLabels = this.children.get(eventId);
      if (!byLabels) return;
      this.children.delete(eventId);
      for (const { labels } of byLabels.values()) this.counter.remove(labels as never);
    });
  }

  inc(eventId: string, labels: Record<L, string>, n = 1): void {
    if (n <= 0) return;
    this.events.touch(eventId);
    let byLabels = this.children.get(eventId);
    if (!byLabels) this.children.set(eventId, (byLabels = new Map()));
    // Label values are short words (kind, result, reason): joined, they name the child.
    const key = Object.values<string>(labels).join("\u0001");
    let entry = byLabels.get(key);
    if (!entry) {
      const all = { event_id: eventId, ...labels };
      entry = { child: this.counter.labels(all as never), labels: all };
      byLabels.set(key, entry);
    }
    entry.child.inc(n);
  }
}
