// Redis memory per event stays bounded by the buyers still in play: a buyer
// who left, completed or was let in and moved on leaves nothing behind but
// their one record (so a late poll still answers LEFT or COMPLETED), and
// that goes when the room closes. Per-buyer rate-limit counters expire.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queueKeys } from "../../src/adapters/redis/keys.js";
import type { RedisClient } from "../../src/adapters/redis/client.js";
import { uid } from "../support/app.js";
import { instance, ownRedisForThisFile, roomEvent, type Instance } from "./queue-fixture.js";

let a: Instance;
// A Redis of this file's own: other files' API instances would step its rooms.
ownRedisForThisFile();
beforeAll(() => {
  a = instance({ joinLimit: 100, positionLimit: 100 });
});
afterAll(() => a.close());

/** Entries per queue key of the event, and every other key under its hash tag (with its TTL). */
async function footprint(redis: RedisClient, eventId: string) {
  const q = queueKeys(eventId);
  const [line, shop, fresh, recs, seen] = await Promise.all([
    redis.zcard(q.line),
    redis.zcard(q.shop),
    redis.zcard(q.fresh),
    redis.hlen(q.recs),
    redis.hlen(q.seen),
  ]);
  return { line, shop, fresh, recs, seen };
}

describe("Redis memory of a waiting room", () => {
  it("keeps nothing of buyers who left or completed but their record, and rate-limit counters expire", async () => {
    const layout = await roomEvent(a, { rows: 4, seatsPerRow: 100, rate: 1000, maxShopping: 1000 });
    const eventId = layout.eventId;
    const buyers = Array.from({ length: 300 }, (_, i) => `${uid("m")}_${i}`);
    for (const buyerId of buyers) await a.room.join(eventId, buyerId);
    for (const buyerId of buyers) await a.room.position(eventId, buyerId);
    // Everyone is in the line and has asked where they stand.
    expect(await footprint(a.redis, eventId)).toEqual({
      line: buyers.length,
      shop: 0,
      fresh: 0,
      recs: buyers.length,
      seen: buyers.length,
    });

    // Half leave; the other half are let in and complete an order.
    const [leaving, buying] = [buyers.slice(0, 150), buyers.slice(150)];
    for (const buyerId of leaving) await a.room.leave(eventId, buyerId);
    for (let steps = 0; steps < 50; steps++) {
      const states = await Promise.all(buying.map((b) => a.room.position(eventId, b)));
      if (states.every((s) => s.state === "ADMITTED")) break;
      await a.room.step(eventId);
    }
    for (const buyerId of buying) await a.room.completeShopping(eventId, buyerId);

    expect(await footprint(a.redis, eventId)).toEqual({ line: 0, shop: 0, fresh: 0, recs: buyers.length, seen: 0 });
    expect((await a.room.position(eventId, leaving[0]!)).state).toBe("LEFT");
    expect((await a.room.position(eventId, buying[0]!)).state).toBe("COMPLETED");
    // Every per-buyer counter expires by itself.
    const counters = [...buyers.slice(0, 5), ...buyers.slice(150, 155)].flatMap((b) => [
      queueKeys(eventId).rateLimit("j", b),
      queueKeys(eventId).rateLimit("p", b),
    ]);
    for (const key of counters) {
      const ttl = await a.redis.pttl(key);
      expect(ttl === -2 || ttl > 0, `${key}: ${ttl}`).toBe(true);
    }
  });
});
