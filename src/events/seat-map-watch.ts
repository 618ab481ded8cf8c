// WatchSeatMap fan-out: one feed per event per process reads the event's
// change stream every tick (one Redis round trip per event, however many
// watchers) and hands each watcher the changes merged since its last
// message. A slow watcher gets bigger merged deltas, never a growing queue.
// The feed keeps the live seat map itself (its first snapshot plus every
// change it read), so a new watcher's snapshot, and everyone's after a
// resync, comes from memory: reading a 50,000-seat map from Redis costs tens
// of milliseconds of Redis time, which a thousand joining watchers must not
// multiply.
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
  /** Keeps the feed (and its live map) going without receiving anything (see SeatMapWatchHub.keepFollowing). */
  passive?: boolean;
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
  /** The live seat map at `version`, kept current by every change read. */
  private live: SeatMapSnapshot | undefined;
  private loading: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** The change-stream read under way, and the one queued behind it (readFresh). */
  private reading: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(
    private readonly index: SeatIndex,
    private readonly redis: RedisClient,
    private readonly inventory: Inventory,
    private readonly reclaim: ExpiredHoldReclaimer,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** Adds a watcher and sends it the snapshot; `seed` is a snapshot the caller just read (saves a read). */
  async add(watcher: Watcher, seed?: SeatMapSnapshot): Promise<void> {
    if (!this.live && seed) this.adopt(seed);
    let saleState: SeatMapSnapshot["saleState"] | undefined;
    if (this.live) saleState = await this.inventory.saleState(this.index.layout.eventId);
    else await (this.loading ??= this.load().finally(() => (this.loading = undefined)));
    // From here to the watcher's registration nothing awaits: no change can slip between.
    const snapshot = this.current(saleState);
    watcher.version = snapshot.version;
    this.watchers.add(watcher);
    this.timer ??= setInterval(() => void this.tick(), this.intervalMs);
    if (!watcher.passive) await this.send(watcher, { kind: "snapshot", snapshot });
  }

  /** The live map, once loaded; undefined before. */
  snapshot(): SeatMapSnapshot | undefined {
    return this.live && this.current();
  }

  /**
   * The live map with every change made before this call: one read of the
   * change stream (only what is new), shared by the callers that arrive
   * together; undefined until the map is loaded.
   */
  async caughtUp(saleState: SeatMapSnapshot["saleState"]): Promise<SeatMapSnapshot | undefined> {
    if (!this.live) return undefined;
    await this.readFresh();
    return this.current(saleState);
  }

  /** The live map as a snapshot (shared, not copied: deliver() reads it before it awaits). */
  current(saleState?: SeatMapSnapshot["saleState"]): SeatMapSnapshot {
    const live = this.live!;
    return { ...live, nowMs: Date.now(), saleState: saleState ?? live.saleState };
  }

  private async load(): Promise<void> {
    this.adopt(await this.inventory.snapshot(this.index));
  }

  private adopt(snapshot: SeatMapSnapshot): void {
    this.live = snapshot;
    this.version = snapshot.version;
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
      await this.readFresh();
    } catch (err) {
      this.log.warn({ err, eventId: this.index.layout.eventId }, "seat map feed could not read changes");
    } finally {
      this.ticking = false;
    }
  }

  /**
   * A read of the change stream that starts after this call (a read already
   * under way may have missed the caller's own writes): joins the read queued
   * behind the current one, or starts one. One read at a time.
   */
  private readFresh(): Promise<void> {
    if (!this.reading) {
      this.reading = this.readChanges().finally(() => (this.reading = undefined));
      return this.reading;
    }
    this.queued ??= this.reading
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.readFresh();
      });
    return this.queued;
  }

  private async readChanges(): Promise<void> {
    const k = eventKeys(this.index.layout.eventId);
    const entries = await this.redis.xrange(k.changes, `${this.version + 1n}-0`, "+", "COUNT", READ_BATCH);
    if (entries.length === 0) {
      // A flushed or rebuilt Redis restarts versions: resynchronise.
      const current = BigInt((await this.redis.get(k.version)) ?? "0");
      if (current < this.version) await this.resnapshot();
      return;
    }
    const delta: SeatMapDelta = {
      fromVersion: this.version,
      toVersion: this.version,
      seats: new Map(),
      sections: new Map(),
    };
    let expected = this.version + 1n;
    for (const [id, fields] of entries) {
      const version = BigInt(id.slice(0, id.indexOf("-")));
      const f = fieldMap(fields);
      if (version !== expected || f.t === "R") {
        // Trimmed past us, or the inventory was rebuilt: everyone starts over.
        await this.resnapshot();
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
    if (this.live) applyDelta(this.live, delta);
    for (const w of this.watchers) {
      if (w.passive || w.version >= delta.toVersion) continue;
      w.pending = mergeDelta(w.pending, { ...delta, fromVersion: w.pending?.fromVersion ?? w.version });
      void this.flush(w);
    }
  }

  /** Reads the map from Redis once, and sends it to every watcher. */
  private async resnapshot(): Promise<void> {
    await this.load();
    for (const w of this.watchers) {
      if (w.passive) continue;
      w.needsSnapshot = true;
      w.pending = undefined;
      void this.flush(w);
    }
  }

  private async flush(w: Watcher): Promise<void> {
    if (w.busy) return;
    if (w.needsSnapshot) {
      w.needsSnapshot = false;
      const snapshot = this.current();
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

export interface SeatMapWatchHubDeps {
  redis: RedisClient;
  inventory: Inventory;
  reclaim: ExpiredHoldReclaimer;
  log: Logger;
  /** How often a feed reads the event's changes; 100 ms by default. */
  intervalMs?: number;
  /** How long one keepFollowing keeps an event followed; a minute by default. */
  leaseMs?: number;
}

export class SeatMapWatchHub {
  private readonly feeds = new Map<string, EventFeed>();
  /** Events kept followed for their summary: when the lease ends (renewed by every keepFollowing). */
  private readonly leases = new Map<string, { until: number; end: AbortController }>();
  private readonly redis: RedisClient;
  private readonly inventory: Inventory;
  private readonly reclaim: ExpiredHoldReclaimer;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly leaseMs: number;

  constructor(deps: SeatMapWatchHubDeps) {
    this.redis = deps.redis;
    this.inventory = deps.inventory;
    this.reclaim = deps.reclaim;
    this.log = deps.log;
    this.intervalMs = deps.intervalMs ?? 100;
    this.leaseMs = deps.leaseMs ?? 60_000;
  }

  /**
   * Keeps following the event for the next `leaseMs` (renewed by each call),
   * so its summary (GetEventSummary, the metrics' funnel) comes from the live
   * map instead of a read of the whole seats hash every time: for a sold-out
   * stadium that read costs Redis tens of milliseconds, during which every
   * hold waits. Following costs a change-stream read per tick. `seed`: a
   * snapshot the caller just read.
   */
  keepFollowing(index: SeatIndex, seed?: SeatMapSnapshot): void {
    const eventId = index.layout.eventId;
    const until = Date.now() + this.leaseMs;
    const lease = this.leases.get(eventId);
    if (lease) {
      lease.until = until;
      return;
    }
    const end = new AbortController();
    this.leases.set(eventId, { until, end });
    const check = () => {
      const current = this.leases.get(eventId);
      if (!current) return;
      const left = current.until - Date.now();
      if (left > 0) setTimeout(check, left).unref();
      else {
        this.leases.delete(eventId);
        end.abort();
      }
    };
    setTimeout(check, this.leaseMs).unref();
    void this.follow(
      index,
      end.signal,
      {
        passive: true,
        version: 0n,
        pending: undefined,
        needsSnapshot: false,
        busy: false,
        deliver: async () => undefined,
      },
      seed,
    ).catch((err: unknown) => {
      this.log.warn({ err, eventId }, "could not follow the event's seat map");
      this.leases.delete(eventId);
    });
  }

  /** Ends every lease (at shutdown): their feeds stop when nobody else watches. */
  stopFollowing(): void {
    for (const lease of this.leases.values()) lease.end.abort();
    this.leases.clear();
  }

  /**
   * Streams updates to `deliver` until `signal` aborts: a snapshot first, then
   * deltas. `seed`: a snapshot the caller just read, used when this process
   * has no feed for the event yet. `deliver` must read a snapshot before it
   * first awaits (the feed's live map is shared, not copied).
   */
  async watch(
    index: SeatIndex,
    signal: AbortSignal,
    deliver: (update: SeatMapUpdate) => Promise<void>,
    seed?: SeatMapSnapshot,
  ): Promise<void> {
    await this.follow(
      index,
      signal,
      { version: 0n, pending: undefined, needsSnapshot: false, busy: false, deliver },
      seed,
    );
  }

  /** Adds the watcher to the event's feed (starting the feed) until `signal` aborts. */
  private async follow(index: SeatIndex, signal: AbortSignal, watcher: Watcher, seed?: SeatMapSnapshot): Promise<void> {
    const eventId = index.layout.eventId;
    let feed = this.feeds.get(eventId);
    if (!feed) {
      feed = new EventFeed(index, this.redis, this.inventory, this.reclaim, this.intervalMs, this.log);
      this.feeds.set(eventId, feed);
    }
    try {
      if (signal.aborted) return;
      await feed.add(watcher, seed);
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    } finally {
      if (feed.remove(watcher)) this.feeds.delete(eventId);
    }
  }

  /** Whether this process already follows the event (a new watcher then costs Redis no snapshot). */
  follows(eventId: string): boolean {
    return this.feeds.has(eventId);
  }

  /** The event's live map as this process's feed has it (at most a tick behind), if it follows the event. */
  followed(eventId: string): SeatMapSnapshot | undefined {
    return this.feeds.get(eventId)?.snapshot();
  }

  /**
   * The event's live map with every change made before this call (one read of
   * only the new changes), if this process follows the event; undefined if not.
   */
  async caughtUp(eventId: string, saleState: SeatMapSnapshot["saleState"]): Promise<SeatMapSnapshot | undefined> {
    return this.feeds.get(eventId)?.caughtUp(saleState);
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

function applyDelta(live: SeatMapSnapshot, delta: SeatMapDelta): void {
  for (const [seat, state] of delta.seats) {
    if (state === "F") live.seats.delete(seat);
    else live.seats.set(seat, state);
  }
  for (const [section, counts] of delta.sections) live.ga.set(section, counts);
  live.version = delta.toVersion;
}

function mergeDelta(into: SeatMapDelta | undefined, next: SeatMapDelta): SeatMapDelta {
  if (!into) return { ...next, seats: new Map(next.seats), sections: new Map(next.sections) };
  for (const [k, v] of next.seats) into.seats.set(k, v);
  for (const [k, v] of next.sections) into.sections.set(k, v);
  into.toVersion = next.toVersion;
  return into;
}
