// What drives admission: every API instance steps every event whose waiting
// room is in use, every tick. The step is one idempotent script that admits
// only what the rate has earned since the last step (whoever ran it), so N
// instances step N times as often without admitting any faster, and no
// instance is special: any of them dying changes nothing.
//
// Events come from a Redis set (JoinQueue adds to it) re-read now and then,
// and from this process's own calls (track()). Each step's result goes to the
// listeners (WatchQueue's feeds), so watchers learn of changes without a
// Redis round trip of their own.
import type { RedisClient } from "../adapters/redis/client.js";
import { WAITING_ROOMS_KEY } from "../adapters/redis/keys.js";
import type { Logger } from "../logger.js";
import type { StepResult, WaitingRoom } from "./waiting-room.js";

export type StepListener = (eventId: string, result: StepResult) => void;

/** Frees holds that expired, so admission can resume with their seats. */
export type ExpiredHoldReclaimer = (eventId: string) => Promise<unknown>;

const ANNOUNCE_EVERY_MS = 5000;

export interface AdmissionTickerDeps {
  redis: RedisClient;
  room: WaitingRoom;
  reclaim: ExpiredHoldReclaimer;
  log: Logger;
  intervalMs: number;
  /** How often the set of waiting rooms in use is re-read; 2 s by default. */
  discoverMs?: number;
}

export class AdmissionTicker {
  private readonly events = new Set<string>();
  private readonly listeners = new Set<StepListener>();
  private readonly reclaiming = new Set<string>();
  private readonly announced = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private lastDiscoverMs = 0;
  private readonly redis: RedisClient;
  private readonly room: WaitingRoom;
  private readonly reclaim: ExpiredHoldReclaimer;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly discoverMs: number;

  constructor(deps: AdmissionTickerDeps) {
    this.redis = deps.redis;
    this.room = deps.room;
    this.reclaim = deps.reclaim;
    this.log = deps.log;
    this.intervalMs = deps.intervalMs;
    this.discoverMs = deps.discoverMs ?? 2000;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Steps this event from now on in this process (until its sale closes or it disappears). */
  track(eventId: string): void {
    this.events.add(eventId);
  }

  /** Tracks the event and tells every other instance to step it too (JoinQueue does, once per new joiner). */
  announce(eventId: string): void {
    this.track(eventId);
    // Once in a while per event is enough (the set is only ever read, never expired).
    const now = Date.now();
    if ((this.announced.get(eventId) ?? 0) > now - ANNOUNCE_EVERY_MS) return;
    this.announced.set(eventId, now);
    if (this.announced.size > 10_000) this.announced.clear();
    this.redis
      .sadd(WAITING_ROOMS_KEY, eventId)
      .catch((err: unknown) => this.log.warn({ err, eventId }, "could not announce a waiting room"));
  }

  /** The events this process steps now (adaptive admission looks at the same ones). */
  tracked(): Iterable<string> {
    return this.events;
  }

  onStep(listener: StepListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Steps one event now and tells the listeners; the tick uses it, and so can anyone who wants a nudge. */
  async stepNow(eventId: string): Promise<StepResult | undefined> {
    const result = await this.room.step(eventId);
    // No live state (or no waiting room): stop here; a join, watch or position
    // read tracks it again, and the shared set brings it back within seconds.
    if (!result || result.status === "NO_EVENT") this.events.delete(eventId);
    else if (result.status === "CLOSED" && result.shopping === 0) {
      // For good: a closed sale never reopens.
      this.events.delete(eventId);
      this.redis.srem(WAITING_ROOMS_KEY, eventId).catch(() => undefined);
    }
    if (result) {
      for (const listener of this.listeners) listener(eventId, result);
      // Sold out only because expired holds still sit in the seats: free them now.
      if (result.soldOut && result.expiredHolds > 0 && !this.reclaiming.has(eventId)) {
        this.reclaiming.add(eventId);
        this.reclaim(eventId)
          .catch((err: unknown) => this.log.warn({ err, eventId }, "reclaiming expired holds failed"))
          .finally(() => this.reclaiming.delete(eventId));
      }
    }
    return result;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      if (Date.now() - this.lastDiscoverMs >= this.discoverMs) {
        this.lastDiscoverMs = Date.now();
        for (const id of await this.redis.smembers(WAITING_ROOMS_KEY)) this.events.add(id);
      }
      await Promise.all(
        [...this.events].map((eventId) =>
          this.stepNow(eventId).catch((err: unknown) => this.log.warn({ err, eventId }, "admission step failed")),
        ),
      );
    } catch (err) {
      this.log.warn({ err }, "admission tick failed");
    } finally {
      this.ticking = false;
    }
  }
}
