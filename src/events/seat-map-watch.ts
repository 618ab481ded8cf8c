// WatchSeatMap fan-out: one feed per event per process reads the event's
// change stream every tick (one Redis round trip per event, however many
// watchers) and hands each watcher the changes merged since its last
// message. A slow watcher gets bigger merged deltas, never a growing queue.
import type { RedisClient } from "../adapters/redis/client.js";
import { eventKeys } from "../adapters/redis/keys.js";
import type { Logger } from "../logger.js";
import type { Inventory, LiveSeatState, SeatMapSnapshot } from "./inventory.js";
import type { SeatIndex } from "./layout.js";

export interface GaCounts {
  capacity: number;
  held: number;
  sold: number;
}

export interface SeatMapDelta {
  fromVersion: bigint;
  toVersion: bigint;
  seats: Map<string, LiveSeatState>;
  sections: Map<string, GaCounts>;
}

export type SeatMapUpdate = { kind: "snapshot"; snapshot: SeatMapSnapshot } | { kind: "delta"; delta: SeatMapDelta };

/** Frees holds that expired, so their release reaches the change stream. */
export type ExpiredHoldReclaimer = (eventId: string) => Promise<unknown>;

interface Watcher {
  /** Version the watcher's view is at. */
  version: bigint;
  pending: SeatMapDelta | undefined;
  needsSnapshot: boolean;
  busy: boolean;
  deliver: (update: SeatMapUpdate) => Promise<void>;
}

const READ_BATCH = 5000;

class EventFeed {
  readonly watchers = new Set<Watcher>();
  private version = 0n;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(
    private readonly index: SeatIndex,
    private readonly redis: RedisClient,
    private readonly inventory: Inventory,
    private readonly reclaim: ExpiredHoldReclaimer,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  async add(watcher: Watcher): Promise<void> {
    const snapshot = await this.inventory.snapshot(this.index);
    watcher.version = snapshot.version;
    this.watchers.add(watcher);
    if (this.version === 0n || snapshot.version < this.version) this.version = snapshot.version;
    await this.send(watcher, { kind: "snapshot", snapshot });
    this.timer ??= setInterval(() => void this.tick(), this.intervalMs);
  }

  remove(watcher: Watcher): boolean {
    this.watchers.delete(watcher);
    if (this.watchers.size > 0) return false;
    clearInterval(this.timer);
    this.timer = undefined;
    return true;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.reclaim(this.index.layout.eventId);
      await this.readChanges();
    } catch (err) {
      this.log.warn({ err, eventId: this.index.layout.eventId }, "seat map feed could not read changes");
    } finally {
      this.ticking = false;
    }
  }

  private async readChanges(): Promise<void> {
    const k = eventKeys(this.index.layout.eventId);
    const entries = await this.redis.xrange(k.changes, `${this.version + 1n}-0`, "+", "COUNT", READ_BATCH);
    if (entries.length === 0) {
      // A flushed or rebuilt Redis restarts versions: resynchronise.
      const current = BigInt((await this.redis.get(k.version)) ?? "0");
      if (current < this.version) this.resnapshot();
      return;
    }
    const delta: SeatMapDelta = { fromVersion: this.version, toVersion: this.version, seats: new Map(), sections: new Map() };
    let expected = this.version + 1n;
    for (const [id, fields] of entries) {
      const version = BigInt(id.slice(0, id.indexOf("-")));
      const f = fieldMap(fields);
      if (version !== expected || f.t === "R") {
        // Trimmed past us, or the inventory was rebuilt: everyone starts over.
        this.version = version;
        this.resnapshot();
        return;
      }
      expected = version + 1n;
      delta.toVersion = version;
      if (f.t === "G" && f.g && f.c) {
        const [capacity = 0, held = 0, sold = 0] = f.c.split(",").map(Number);
        delta.sections.set(f.g, { capacity, held, sold });
      } else if ((f.t === "H" || f.t === "F" || f.t === "S") && f.s) {
        for (const seat of f.s.split(",")) delta.seats.set(seat, f.t);
      }
    }
    this.version = delta.toVersion;
    for (const w of this.watchers) {
      if (w.version >= delta.toVersion) continue;
      w.pending = mergeDelta(w.pending, { ...delta, fromVersion: w.pending?.fromVersion ?? w.version });
      void this.flush(w);
    }
  }

  private resnapshot(): void {
    for (const w of this.watchers) {
      w.needsSnapshot = true;
      w.pending = undefined;
      void this.flush(w);
    }
  }

  private async flush(w: Watcher): Promise<void> {
    if (w.busy) return;
    if (w.needsSnapshot) {
      w.needsSnapshot = false;
      const snapshot = await this.inventory.snapshot(this.index);
      w.version = snapshot.version;
      await this.send(w, { kind: "snapshot", snapshot });
    } else if (w.pending) {
      const delta = w.pending;
      w.pending = undefined;
      w.version = delta.toVersion;
      await this.send(w, { kind: "delta", delta });
    }
    if (w.pending || w.needsSnapshot) await this.flush(w);
  }

  private async send(w: Watcher, update: SeatMapUpdate): Promise<void> {
    w.busy = true;
    try {
      await w.deliver(update);
    } finally {
      w.busy = false;
    }
  }
}

export class SeatMapWatchHub {
  private readonly feeds = new Map<string, EventFeed>();

  constructor(
    private readonly redis: RedisClient,
    private readonly inventory: Inventory,
    private readonly reclaim: ExpiredHoldReclaimer,
    private readonly log: Logger,
    private readonly intervalMs = 100,
  ) {}

  /** Streams updates to `deliver` until `signal` aborts: a snapshot first, then deltas. */
  async watch(index: SeatIndex, signal: AbortSignal, deliver: (update: SeatMapUpdate) => Promise<void>): Promise<void> {
    const eventId = index.layout.eventId;
    let feed = this.feeds.get(eventId);
    if (!feed) {
      feed = new EventFeed(index, this.redis, this.inventory, this.reclaim, this.intervalMs, this.log);
      this.feeds.set(eventId, feed);
    }
    const watcher: Watcher = { version: 0n, pending: undefined, needsSnapshot: false, busy: false, deliver };
    try {
      if (signal.aborted) return;
      await feed.add(watcher);
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    } finally {
      if (feed.remove(watcher)) this.feeds.delete(eventId);
    }
  }

  /** How many events have a live feed in this process (for tests and metrics). */
  get feedCount(): number {
    return this.feeds.size;
  }
}

function fieldMap(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!;
  return out;
}

function mergeDelta(into: SeatMapDelta | undefined, next: SeatMapDelta): SeatMapDelta {
  if (!into) return { ...next, seats: new Map(next.seats), sections: new Map(next.sections) };
  for (const [k, v] of next.seats) into.seats.set(k, v);
  for (const [k, v] of next.sections) into.sections.set(k, v);
  into.toVersion = next.toVersion;
  return into;
}
