// Activities of the hold capability, built from their dependencies so tests
// can pass real ones of the same type.
import { eventKeys } from "../adapters/redis/keys.js";
import type { RedisClient } from "../adapters/redis/client.js";
import type { Holds } from "./holds.js";

export interface SweepResult {
  reclaimed: number;
  /** Until the earliest remaining hold expires; undefined when none is left. */
  nextExpiryInMs: number | undefined;
  /** How long to wait when no hold exists: no new hold can expire sooner. */
  idleWaitMs: number;
  saleClosed: boolean;
}

export function createHoldActivities(deps: { redis: RedisClient; holds: Holds }) {
  return {
    /** Reclaims every hold of the event that has expired, in batches. */
    async sweepExpiredHolds(eventId: string): Promise<SweepResult> {
      let reclaimed = 0;
      for (;;) {
        const n = await deps.holds.reclaimExpired(eventId, 500);
        reclaimed += n;
        if (n < 500) break;
      }
      const k = eventKeys(eventId);
      const [next, meta, time] = await Promise.all([
        deps.redis.zrange(k.expiries, "0", "0", "WITHSCORES"),
        deps.redis.hmget(k.meta, "state", "ttl"),
        deps.redis.time(),
      ]);
      const nowMs = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
      const nextExpiry = next[1] === undefined ? undefined : Number(next[1]);
      return {
        reclaimed,
        nextExpiryInMs: nextExpiry === undefined ? undefined : Math.max(0, nextExpiry - nowMs),
        idleWaitMs: Number(meta[1] ?? 60_000),
        saleClosed: meta[0] === "CLOSED" || meta[0] === null,
      };
    },
  };
}

export type HoldActivities = ReturnType<typeof createHoldActivities>;
