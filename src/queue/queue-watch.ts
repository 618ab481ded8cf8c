// WatchQueue fan-out: one feed per event per process. The admission ticker
// hands every step's result to the feed; when the room's version (or sale
// state) moved, the feed reads all its watchers' views in one script call per
// 2,000 watchers (at most one such read per minReadIntervalMs; changes in
// between coalesce) and pushes to each watcher whose ticket changed. Nothing
// polls per watcher. A slow watcher only ever gets the latest ticket (no
// growing queue), and a stream ends with the admission token or a final state.
import { AppError } from "../domain/errors.js";
import type { SeatIndex } from "../events/layout.js";
import type { Logger } from "../logger.js";
import type { AdmissionTicker } from "./admission-ticker.js";
import type { QueueTicket, StepResult, WaitingRoom } from "./waiting-room.js";

const CHUNK = 2000;

interface Watcher {
  buyerId: string;
  lastKey: string;
  /** Room version of the newest view offered: an older read finishing late is dropped. */
  version: number;
  pending: QueueTicket | undefined;
  busy: boolean;
  ended: boolean;
  deliver: (ticket: QueueTicket) => Promise<void>;
  finish: () => void;
}

/** A ticket after which the stream ends. */
export function isFinal(t: QueueTicket): boolean {
  return (
    t.state === "ADMITTED" ||
    t.state === "EXPIRED" ||
    t.state === "LEFT" ||
    t.state === "COMPLETED" ||
    t.state === "SALE_CLOSED" ||
    (t.state === "SOLD_OUT" && !t.seatsMayReturn)
  );
}

function ticketKey(t: QueueTicket): string {
  return `${t.state}|${t.position}|${t.estimatedWaitSeconds}|${t.seatsMayReturn}|${t.shuffleSeed}|${t.admissionToken}`;
}

class QueueFeed {
  readonly watchers = new Map<string, Set<Watcher>>();
  private version = -1;
  private status = "";
  private reading = false;
  private again = false;
  private lastReadMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly index: SeatIndex,
    private readonly room: WaitingRoom,
    private readonly keepAliveMs: number,
    private readonly minReadIntervalMs: number,
    private readonly log: Logger,
  ) {}

  get size(): number {
    let n = 0;
    for (const set of this.watchers.values()) n += set.size;
    return n;
  }

  add(w: Watcher): void {
    let set = this.watchers.get(w.buyerId);
    if (!set) this.watchers.set(w.buyerId, (set = new Set()));
    set.add(w);
  }

  remove(w: Watcher): boolean {
    const set = this.watchers.get(w.buyerId);
    set?.delete(w);
    if (set?.size === 0) this.watchers.delete(w.buyerId);
    return this.watchers.size === 0;
  }

  onStep(result: StepResult): void {
    // Reading also tells the room the watchers are still there, so read now
    // and then even when nothing moved.
    const stale = Date.now() - this.lastReadMs >= this.keepAliveMs;
    if (result.version !== this.version || result.status !== this.status || stale) {
      this.version = result.version;
      this.status = result.status;
      this.readSoon();
    }
  }

  /**
   * A full read now, or when the last one is minReadIntervalMs old: while
   * admission runs, the version moves every tick, and thousands of watchers
   * need no more than a few position updates per second.
   */
  private readSoon(): void {
    if (this.timer) return;
    const waitMs = this.lastReadMs + this.minReadIntervalMs - Date.now();
    if (waitMs <= 0) {
      void this.read();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.read();
    }, waitMs);
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Reads the views of every watcher (or of `only`) and pushes what changed. */
  async read(only?: string[]): Promise<void> {
    if (!only) {
      if (this.reading) {
        this.again = true;
        return;
      }
      this.reading = true;
    }
    try {
      do {
        if (!only) {
          this.again = false;
          this.lastReadMs = Date.now();
        }
        const buyers = only ?? [...this.watchers.keys()];
        for (let i = 0; i < buyers.length; i += CHUNK) {
          const chunk = buyers.slice(i, i + CHUNK);
          const views = await this.room.views(this.index.layout.eventId, chunk);
          if (!views) continue;
          await Promise.all(
            chunk.map(async (buyerId, j) => {
              const watchers = this.watchers.get(buyerId);
              const view = views.buyers[j]!;
              if (!watchers || !view.code) return;
              const ticket = await this.room.ticket(this.index, buyerId, views.room, view);
              for (const w of watchers) this.offer(w, ticket, views.room.version);
            }),
          );
        }
      } while (!only && this.again);
    } catch (err) {
      this.log.warn({ err, eventId: this.index.layout.eventId }, "queue feed could not read its watchers");
    } finally {
      if (!only) this.reading = false;
    }
  }

  private offer(w: Watcher, ticket: QueueTicket, version: number): void {
    if (w.ended || version < w.version) return;
    w.version = version;
    if (ticketKey(ticket) === w.lastKey) return;
    w.pending = ticket;
    void this.flush(w);
  }

  private async flush(w: Watcher): Promise<void> {
    if (w.busy) return;
    w.busy = true;
    try {
      while (w.pending && !w.ended) {
        const t = w.pending;
        w.pending = undefined;
        const key = ticketKey(t);
        if (key === w.lastKey) continue;
        w.lastKey = key;
        await w.deliver(t);
        if (isFinal(t)) {
          w.ended = true;
          w.finish();
        }
      }
    } catch (err) {
      w.ended = true;
      w.finish();
      this.log.debug({ err }, "queue watcher could not be written to");
    } finally {
      w.busy = false;
    }
  }
}

export interface QueueWatchHubDeps {
  room: WaitingRoom;
  ticker: AdmissionTicker;
  log: Logger;
  /** How often a feed re-reads even when nothing moved (keeps its watchers from counting as abandoned); 30 s by default. */
  keepAliveMs?: number;
  /** Most full reads per feed: one per this interval (updates are coalesced in between); 200 ms by default. */
  minReadIntervalMs?: number;
}

export class QueueWatchHub {
  private readonly feeds = new Map<string, QueueFeed>();
  private readonly room: WaitingRoom;
  private readonly ticker: AdmissionTicker;
  private readonly log: Logger;
  private readonly keepAliveMs: number;
  private readonly minReadIntervalMs: number;

  constructor(deps: QueueWatchHubDeps) {
    this.room = deps.room;
    this.ticker = deps.ticker;
    this.log = deps.log;
    this.keepAliveMs = deps.keepAliveMs ?? 30_000;
    this.minReadIntervalMs = deps.minReadIntervalMs ?? 200;
    this.ticker.onStep((eventId, result) => this.feeds.get(eventId)?.onStep(result));
  }

  /**
   * Streams the buyer's ticket to `deliver` whenever it changes, until a
   * final one (returned) or until `signal` aborts (undefined).
   */
  async watch(
    eventId: string,
    buyerId: string,
    signal: AbortSignal,
    deliver: (ticket: QueueTicket) => Promise<void>,
  ): Promise<void> {
    const index = await this.room.room(eventId, buyerId);
    // The first view decides whether there is anything to watch.
    const first = await this.room.views(eventId, [buyerId]);
    if (!first?.buyers[0]?.code) {
      throw new AppError("QUEUE_TICKET_NOT_FOUND", `buyer ${buyerId} is not in the waiting room of ${eventId}`, {
        metadata: { event_id: eventId, buyer_id: buyerId },
      });
    }
    let feed = this.feeds.get(eventId);
    if (!feed) {
      feed = new QueueFeed(index, this.room, this.keepAliveMs, this.minReadIntervalMs, this.log);
      this.feeds.set(eventId, feed);
    }
    this.ticker.track(eventId);
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const watcher: Watcher = {
      buyerId,
      lastKey: "",
      version: 0,
      pending: undefined,
      busy: false,
      ended: false,
      deliver,
      finish,
    };
    const onAbort = () => {
      watcher.ended = true;
      finish();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    feed.add(watcher);
    try {
      if (signal.aborted) return;
      // Registered first, then read: a change after this read reaches the feed's next read.
      await feed.read([buyerId]);
      await finished;
      // Ended by a final ticket: let that last message go out before the
      // stream ends. Cancelled: a write stuck on a gone client must not hold us.
      while (watcher.busy && !signal.aborted) await new Promise((r) => setImmediate(r));
    } finally {
      signal.removeEventListener("abort", onAbort);
      if (feed.remove(watcher) && this.feeds.get(eventId) === feed) {
        feed.close();
        this.feeds.delete(eventId);
      }
    }
  }

  /** Watchers in this process (for tests, metrics, benchmarks). */
  get watcherCount(): number {
    let n = 0;
    for (const f of this.feeds.values()) n += f.size;
    return n;
  }

  get feedCount(): number {
    return this.feeds.size;
  }
}
