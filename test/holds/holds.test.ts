// Holds against real Redis (single node, and a cluster in the cluster run),
// under real concurrency: many callers at once through the Lua scripts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../../src/domain/errors.js";
import { rowSeatIds } from "../../src/events/layout.js";
import type { Hold } from "../../src/holds/holds.js";
import { uid } from "../support/app.js";
import { openEvent, randomSample, redisFixture, type Fixture } from "../support/inventory.js";

let f: Fixture;
beforeAll(() => {
  f = redisFixture();
});
afterAll(async () => {
  await f.close();
});

const target = (eventId: string, buyerId = uid("b"), requestId = uid("r")) => ({
  eventId,
  buyerId,
  requestId,
  admissionToken: "",
});

async function settle<T>(promises: Promise<T>[]) {
  const results = await Promise.allSettled(promises);
  const ok = results
    .filter((r): r is PromiseFulfilledResult<Awaited<T>> => r.status === "fulfilled")
    .map((r) => r.value);
  const failed = results
    .filter((r): r is PromiseRejectedResult => r.status === "rejected")
    .map((r) => r.reason as unknown);
  return { ok, failed };
}

function reasons(errors: unknown[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of errors) {
    const key = e instanceof AppError ? e.reason : String(e);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

const sleepUntil = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - Date.now())));

describe("holds", () => {
  it("never holds a reserved seat twice under concurrent all-or-nothing requests", async () => {
    const layout = await openEvent(f, { rows: 10, seatsPerRow: 10, limit: 4 });
    const all = layout.sections[0]!.rows!.flatMap((r) => rowSeatIds("A", r));
    const requests = Array.from({ length: 2000 }, () => randomSample(all, 1 + Math.floor(Math.random() * 4)));
    const { ok, failed } = await settle(requests.map((seats) => f.holds.holdSeats(target(layout.eventId), seats)));

    expect(ok.length + failed.length).toBe(requests.length);
    expect(Object.keys(reasons(failed))).toEqual(["SEATS_UNAVAILABLE"]);
    const held = ok.flatMap((h) => h.seatIds);
    expect(new Set(held).size).toBe(held.length);
    const snapshot = await f.inventory.snapshot((await f.inventory.index(layout.eventId))!);
    expect([...snapshot.seats.keys()].sort()).toEqual([...held].sort());
    // Every failure named seats that a successful hold owns.
    for (const e of failed as AppError[]) {
      for (const seat of e.metadata.taken_seats!.split(",")) expect(held).toContain(seat);
    }
  });

  it("fills a general-admission section exactly to capacity and never past it", async () => {
    const layout = await openEvent(f, { gaCapacity: 100, limit: 4 });
    const ones = await settle(
      Array.from({ length: 400 }, () => f.holds.holdQuantity(target(layout.eventId), "FLOOR", 1)),
    );
    expect(ones.ok.length).toBe(100);
    expect(reasons(ones.failed)).toEqual({ INSUFFICIENT_CAPACITY: 300 });

    const mixed = await openEvent(f, { gaCapacity: 97, limit: 4 });
    const quantities = Array.from({ length: 300 }, () => 1 + Math.floor(Math.random() * 4));
    const res = await settle(quantities.map((q) => f.holds.holdQuantity(target(mixed.eventId), "FLOOR", q)));
    const total = res.ok.reduce((sum, h) => sum + h.quantity, 0);
    expect(total).toBeLessThanOrEqual(97);
    const counts = (await f.inventory.snapshot((await f.inventory.index(mixed.eventId))!)).ga.get("FLOOR")!;
    expect(counts.held).toBe(total);
    // Free only shrinks, so whatever is left is smaller than every refused quantity.
    expect(97 - total).toBeLessThan(
      Math.min(...(res.failed as AppError[]).map((e) => Number(e.metadata.available) + 1)),
    );
    expect(97 - total).toBeLessThanOrEqual(3);
  });

  it("keeps the per-buyer limit under concurrent requests from one buyer", async () => {
    const layout = await openEvent(f, { rows: 5, seatsPerRow: 20, gaCapacity: 50, limit: 4 });
    const buyer = uid("greedy");
    const seats = layout.sections[0]!.rows!.flatMap((r) => rowSeatIds("A", r)).slice(0, 40);
    const res = await settle(seats.map((s) => f.holds.holdSeats(target(layout.eventId, buyer), [s])));
    expect(res.ok.length).toBe(4);
    expect(reasons(res.failed)).toEqual({ LIMIT_EXCEEDED: 36 });
    // Reserved and general admission count together.
    const ga = await settle(
      Array.from({ length: 10 }, () => f.holds.holdQuantity(target(layout.eventId, buyer), "FLOOR", 1)),
    );
    expect(ga.ok.length).toBe(0);
    // Releasing one frees room for exactly one more.
    await f.holds.releaseHold(layout.eventId, res.ok[0]!.holdId, buyer);
    const again = await settle(
      Array.from({ length: 10 }, () => f.holds.holdQuantity(target(layout.eventId, buyer), "FLOOR", 1)),
    );
    expect(again.ok.length).toBe(1);
  });

  it("frees seats and general-admission places at the exact expiry, with no other process", async () => {
    const layout = await openEvent(f, { gaCapacity: 2, ttlSeconds: 1, limit: 4 });
    const seat = "A-1-1";
    const hold = await f.holds.holdSeats(target(layout.eventId), [seat]);
    const ga = await f.holds.holdQuantity(target(layout.eventId), "FLOOR", 2);
    const expiry = hold.expireTime.getTime();

    await sleepUntil(expiry - 250);
    await expect(f.holds.holdSeats(target(layout.eventId), [seat])).rejects.toMatchObject({
      reason: "SEATS_UNAVAILABLE",
    });
    await expect(f.holds.holdQuantity(target(layout.eventId), "FLOOR", 1)).rejects.toMatchObject({
      reason: "INSUFFICIENT_CAPACITY",
    });

    await sleepUntil(Math.max(expiry, ga.expireTime.getTime()) + 5);
    expect((await f.holds.getHold(layout.eventId, hold.holdId)).state).toBe("EXPIRED");
    const snapshot = await f.inventory.snapshot((await f.inventory.index(layout.eventId))!);
    expect(snapshot.seats.has(seat)).toBe(false);
    expect(snapshot.ga.get("FLOOR")).toEqual({ capacity: 2, held: 0, sold: 0 });
    const next = await f.holds.holdSeats(target(layout.eventId), [seat]);
    expect(next.seatIds).toEqual([seat]);
    const nextGa = await f.holds.holdQuantity(target(layout.eventId), "FLOOR", 2);
    expect(nextGa.quantity).toBe(2);
    // The old hold's late reclaim must not free the new holder's seat.
    expect(await f.holds.reclaimExpired(layout.eventId)).toBeGreaterThanOrEqual(1);
    expect((await f.holds.getHold(layout.eventId, next.holdId)).state).toBe("ACTIVE");
    await expect(f.holds.holdSeats(target(layout.eventId), [seat])).rejects.toMatchObject({
      reason: "SEATS_UNAVAILABLE",
    });
  });

  it("extends a hold within its extension count and lifetime, and no further", async () => {
    const layout = await openEvent(f, { ttlSeconds: 1, maxExtensions: 2, maxLifetimeSeconds: 2, limit: 4 });
    const buyer = uid("b");
    const hold = await f.holds.holdSeats(target(layout.eventId, buyer), ["A-2-1", "A-2-2"]);
    const first = await f.holds.extendHold(layout.eventId, hold.holdId, buyer, "x1");
    expect(first.expireTime.getTime()).toBe(hold.expireTime.getTime() + 1000);
    expect(first.extensionsUsed).toBe(1);
    // Same request id: same result, no second extension.
    const replay = await f.holds.extendHold(layout.eventId, hold.holdId, buyer, "x1");
    expect(replay.extensionsUsed).toBe(1);
    // The lifetime (2 s from creation) is already reached.
    await expect(f.holds.extendHold(layout.eventId, hold.holdId, buyer, "x2")).rejects.toMatchObject({
      reason: "EXTENSION_LIMIT_REACHED",
    });
    await expect(f.holds.extendHold(layout.eventId, hold.holdId, uid("other"), "x3")).rejects.toMatchObject({
      reason: "HOLD_NOT_OWNED",
    });
    // The seats stay taken past the original expiry, then free at the extended one.
    await sleepUntil(hold.expireTime.getTime() + 100);
    await expect(f.holds.holdSeats(target(layout.eventId), ["A-2-1"])).rejects.toMatchObject({
      reason: "SEATS_UNAVAILABLE",
    });
    await sleepUntil(first.expireTime.getTime() + 5);
    await expect(f.holds.extendHold(layout.eventId, hold.holdId, buyer, "x4")).rejects.toMatchObject({
      reason: "HOLD_EXPIRED",
    });
    expect((await f.holds.holdSeats(target(layout.eventId), ["A-2-1"])).state).toBe("ACTIVE");

    const capped = await openEvent(f, { ttlSeconds: 10, maxExtensions: 1, maxLifetimeSeconds: 60 });
    const h = await f.holds.holdSeats(target(capped.eventId, buyer), ["A-1-1"]);
    await f.holds.extendHold(capped.eventId, h.holdId, buyer, "y1");
    await expect(f.holds.extendHold(capped.eventId, h.holdId, buyer, "y2")).rejects.toMatchObject({
      reason: "EXTENSION_LIMIT_REACHED",
      metadata: { limit: "extensions" },
    });
  });

  it("replays a hold request and a release idempotently, even concurrently", async () => {
    const layout = await openEvent(f, { limit: 4 });
    const t = target(layout.eventId);
    const holds = await Promise.all(Array.from({ length: 20 }, () => f.holds.holdSeats(t, ["A-3-3", "A-3-4"])));
    expect(new Set(holds.map((h) => h.holdId)).size).toBe(1);
    const again = await f.holds.holdSeats(t, ["A-3-3", "A-3-4"]);
    expect(again.holdId).toBe(holds[0]!.holdId);
    // A replay does not count against the limit twice: 2 more seats still fit.
    await f.holds.holdSeats({ ...t, requestId: uid("r") }, ["A-3-5", "A-3-6"]);

    const released = await Promise.all(
      Array.from({ length: 5 }, () => f.holds.releaseHold(layout.eventId, again.holdId, t.buyerId)),
    );
    expect(released.map((h) => h.state)).toEqual(Array(5).fill("RELEASED"));
    const otherBuyer = await f.holds.holdSeats(target(layout.eventId), ["A-3-3", "A-3-4"]);
    expect(otherBuyer.state).toBe("ACTIVE");
    // Releasing the old hold again changes nothing for the new holder.
    await f.holds.releaseHold(layout.eventId, again.holdId, t.buyerId);
    expect((await f.holds.getHold(layout.eventId, otherBuyer.holdId)).state).toBe("ACTIVE");
    await expect(f.holds.releaseHold(layout.eventId, otherBuyer.holdId, t.buyerId)).rejects.toMatchObject({
      reason: "HOLD_NOT_OWNED",
    });
  });

  it("answers REQUEST_ID_REUSED for a request id reused with another request, and the first hold for the same one", async () => {
    const layout = await openEvent(f, { limit: 4, gaCapacity: 20 });
    const t = target(layout.eventId);
    const first = await f.holds.holdSeats(t, ["A-2-1", "A-2-2"]);
    // The same seats in another order are the same request: the first hold.
    expect((await f.holds.holdSeats(t, ["A-2-2", "A-2-1"])).holdId).toBe(first.holdId);
    // Other seats, a subset, or another kind of hold under the same request id: refused.
    for (const attempt of [
      () => f.holds.holdSeats(t, ["A-2-3", "A-2-4"]),
      () => f.holds.holdSeats(t, ["A-2-1"]),
      () => f.holds.holdQuantity(t, "FLOOR", 2),
      () => f.holds.holdBestAvailable(t, 2, { priceCategoryId: "", sectionId: "" }),
    ]) {
      await expect(attempt()).rejects.toMatchObject({
        reason: "REQUEST_ID_REUSED",
        metadata: { request_id: t.requestId, hold_id: first.holdId },
      });
    }
    // Nothing changed: the first hold is as it was, the other seats are free.
    expect(await f.holds.getHold(layout.eventId, first.holdId)).toMatchObject({
      state: "ACTIVE",
      seatIds: ["A-2-1", "A-2-2"],
    });
    expect(await f.redis.hmget(`{ev:${layout.eventId}}:seats`, "A-2-3", "A-2-4")).toEqual([null, null]);

    // General admission: the same section and quantity replay, another quantity or section is refused.
    const ga = target(layout.eventId);
    const gaHold = await f.holds.holdQuantity(ga, "FLOOR", 2);
    expect((await f.holds.holdQuantity(ga, "FLOOR", 2)).holdId).toBe(gaHold.holdId);
    await expect(f.holds.holdQuantity(ga, "FLOOR", 3)).rejects.toMatchObject({ reason: "REQUEST_ID_REUSED" });
    await expect(f.holds.holdSeats(ga, ["A-2-5"])).rejects.toMatchObject({ reason: "REQUEST_ID_REUSED" });
    expect(await f.redis.hget(`{ev:${layout.eventId}}:ga:FLOOR`, "held")).toBe("2");

    // Best available: the same quantity and filter replay; another quantity or filter is refused.
    const best = target(layout.eventId);
    const bestHold = await f.holds.holdBestAvailable(best, 2, { priceCategoryId: "", sectionId: "" });
    expect((await f.holds.holdBestAvailable(best, 2, { priceCategoryId: "", sectionId: "" })).holdId).toBe(
      bestHold.holdId,
    );
    await expect(f.holds.holdBestAvailable(best, 3, { priceCategoryId: "", sectionId: "" })).rejects.toMatchObject({
      reason: "REQUEST_ID_REUSED",
    });
    await expect(f.holds.holdBestAvailable(best, 2, { priceCategoryId: "", sectionId: "A" })).rejects.toMatchObject({
      reason: "REQUEST_ID_REUSED",
    });
    // Even the seats best available picked, named in HoldSeats, are another request.
    await expect(f.holds.holdSeats(best, bestHold.seatIds)).rejects.toMatchObject({ reason: "REQUEST_ID_REUSED" });
  });

  it("keys a replay to the event, the buyer and the request id together", async () => {
    const layout = await openEvent(f, { limit: 4 });
    const other = await openEvent(f, { limit: 4 });
    const t = target(layout.eventId);
    const first = await f.holds.holdSeats(t, ["A-1-1"]);
    // Another buyer reusing the request id gets a hold of their own, not the first buyer's.
    const otherBuyer = await f.holds.holdSeats({ ...target(layout.eventId), requestId: t.requestId }, ["A-1-2"]);
    expect(otherBuyer.holdId).not.toBe(first.holdId);
    expect(otherBuyer.buyerId).not.toBe(first.buyerId);
    expect(otherBuyer.seatIds).toEqual(["A-1-2"]);
    // The same buyer and request id on another event: another hold.
    const otherEvent = await f.holds.holdSeats({ ...t, eventId: other.eventId }, ["A-1-1"]);
    expect(otherEvent.holdId).not.toBe(first.holdId);
    expect(otherEvent.state).toBe("ACTIVE");
    // After a release, a retry of the request answers the released hold; it does not hold again.
    await f.holds.releaseHold(layout.eventId, first.holdId, t.buyerId);
    const retried = await f.holds.holdSeats(t, ["A-1-1"]);
    expect(retried).toMatchObject({ holdId: first.holdId, state: "RELEASED" });
    const seat = await f.redis.hget(`{ev:${layout.eventId}}:seats`, "A-1-1");
    expect(seat).toBeNull();
  });

  it("holds best-available blocks that are adjacent and never overlap, under concurrency", async () => {
    const layout = await openEvent(f, { rows: 10, seatsPerRow: 20, limit: 6 });
    const quantities = Array.from({ length: 150 }, () => 2 + Math.floor(Math.random() * 3));
    const res = await settle(
      quantities.map((q) =>
        f.holds.holdBestAvailable(target(layout.eventId), q, { priceCategoryId: "std", sectionId: "" }),
      ),
    );
    expect(reasons(res.failed)).toEqual(res.failed.length ? { SEATS_UNAVAILABLE: res.failed.length } : {});
    const held = res.ok.flatMap((h) => h.seatIds);
    expect(new Set(held).size).toBe(held.length);
    for (const h of res.ok) {
      const parts = h.seatIds.map((s) => s.split("-"));
      expect(new Set(parts.map((p) => p[1])).size).toBe(1);
      const numbers = parts.map((p) => Number(p[2])).sort((a, b) => a - b);
      expect(numbers[numbers.length - 1]! - numbers[0]!).toBe(numbers.length - 1);
    }
    // 200 seats, blocks of 2-4: nearly everything sells before a request fails.
    expect(held.length).toBeGreaterThan(180);
  });

  it("best available skips rows it found full, and finds their seats again once released, refunded or expired", async () => {
    const layout = await openEvent(f, { rows: 3, seatsPerRow: 4, limit: 4, ttlSeconds: 4 });
    const row = (r: number) => [1, 2, 3, 4].map((n) => `A-${r}-${n}`);
    const hints = `{ev:${layout.eventId}}:rowhints`;
    const best4 = () => f.holds.holdBestAvailable(target(layout.eventId), 4, { priceCategoryId: "", sectionId: "" });
    // Row 2's hold expires first; rows 1 and 3 are held 1.5 s later.
    const expiring = await f.holds.holdSeats(target(layout.eventId), row(2));
    await sleepUntil(Date.now() + 1500);
    const released = await f.holds.holdSeats(target(layout.eventId), row(1));
    const refunded = await f.holds.holdSeats(target(layout.eventId), row(3));
    await f.holds.pinHolds(layout.eventId, [refunded.holdId], refunded.buyerId, `o_${refunded.holdId}`, 60_000);
    expect(await f.holds.markSold(refunded)).toBe("OK");

    await expect(best4()).rejects.toMatchObject({ reason: "SEATS_UNAVAILABLE" });
    // The scan left a hint per row (largest free block * 10^13 + valid until): no free block, valid
    // until the row's first hold expiry (for sold seats: until something frees them); and each
    // row's state (every seat taken), valid as long but at most 10 s.
    const left = await f.redis.hgetall(hints);
    expect(Object.fromEntries(Object.entries(left).filter(([field]) => !field.endsWith("#")))).toEqual({
      "A-1-": String(released.expireTime.getTime()),
      "A-2-": String(expiring.expireTime.getTime()),
      "A-3-": "9999999999999",
    });
    for (const [r, until] of [
      [1, released.expireTime.getTime()],
      [2, expiring.expireTime.getTime()],
      [3, Infinity],
    ] as const) {
      const [validUntil, seats] = left[`A-${r}-#`]!.split("|");
      expect(seats).toBe("xxxx");
      expect(Number(validUntil)).toBeLessThanOrEqual(Math.min(until, Date.now() + 10_000));
    }

    await f.holds.releaseHold(layout.eventId, released.holdId, released.buyerId);
    expect((await best4()).seatIds).toEqual(row(1));
    expect(await f.holds.markUnsold(refunded)).toBe("OK");
    expect((await best4()).seatIds).toEqual(row(3));
    await expect(best4()).rejects.toMatchObject({ reason: "SEATS_UNAVAILABLE" });

    await sleepUntil(expiring.expireTime.getTime() + 5);
    expect((await best4()).seatIds).toEqual(row(2));
  });

  it("best available starts past the leading full rows, and goes back to them when a seat there is freed or a hold there expires", async () => {
    // 40 rows of 2: more than one chunk of row list (32 rows).
    const layout = await openEvent(f, { rows: 40, seatsPerRow: 2, limit: 2, ttlSeconds: 3 });
    const row = (r: number) => [`A-${r}-1`, `A-${r}-2`];
    const cursor = `{ev:${layout.eventId}}:rowcursor`;
    const best2 = () => f.holds.holdBestAvailable(target(layout.eventId), 2, { priceCategoryId: "", sectionId: "" });
    // Row 5 is held with the short ttl; the other 34 leading rows are sold, so only row 5 can come back by itself.
    const expiring = await f.holds.holdSeats(target(layout.eventId), row(5));
    for (let r = 1; r <= 35; r++) {
      if (r === 5) continue;
      const h = await f.holds.holdSeats(target(layout.eventId), row(r));
      await f.holds.pinHolds(layout.eventId, [h.holdId], h.buyerId, `o_${h.holdId}`, 60_000);
      expect(await f.holds.markSold(h)).toBe("OK");
    }
    const sold12 = await f.holds.getHold(
      layout.eventId,
      (await f.redis.hget(`{ev:${layout.eventId}}:seats`, "A-12-1"))!.split("|")[1]!,
    );

    expect((await best2()).seatIds).toEqual(row(36));
    // 35 leading rows full, until row 5's hold expires.
    expect(await f.redis.hget(cursor, "|")).toBe(`35|${expiring.expireTime.getTime()}`);
    expect((await best2()).seatIds).toEqual(row(37));

    // A refund frees row 12: the cursor is dropped and the next call finds it.
    expect(await f.holds.markUnsold(sold12)).toBe("OK");
    expect(await f.redis.exists(cursor)).toBe(0);
    expect((await best2()).seatIds).toEqual(row(12));
    expect((await best2()).seatIds).toEqual(row(38));
    // Row 5 comes back when its hold expires, though nothing told the cursor.
    await sleepUntil(expiring.expireTime.getTime() + 5);
    expect((await best2()).seatIds).toEqual(row(5));
  });

  it("best available chooses from a row's remembered state, and reads the row again when HoldSeats took what the state shows free", async () => {
    const layout = await openEvent(f, { rows: 1, seatsPerRow: 12, limit: 12 });
    const best2 = () => f.holds.holdBestAvailable(target(layout.eventId), 2, { priceCategoryId: "", sectionId: "" });
    const state = async () => (await f.redis.hget(`{ev:${layout.eventId}}:rowhints`, "A-1-#"))?.split("|")[1];
    // Centre first: seats 6-7, and the row's state remembers them.
    expect((await best2()).seatIds).toEqual(["A-1-6", "A-1-7"]);
    expect(await state()).toBe(".....xx.....");
    // From the state: the next centre-most block that strands no seat.
    const second = (await best2()).seatIds;
    expect(second).toEqual(["A-1-4", "A-1-5"]);
    expect(await state()).toBe("...xxxx.....");
    // HoldSeats takes the block the state would offer next (8-9); the state does not know.
    await f.holds.holdSeats(target(layout.eventId), ["A-1-8", "A-1-9"]);
    expect(await state()).toBe("...xxxx.....");
    // The check of the chosen seats catches it: the row is read again. Free are 1-3 and 10-12, where
    // every pair strands a seat, so the first such pair is held, and the state knows all of it.
    const third = (await best2()).seatIds;
    expect(third).toEqual(["A-1-1", "A-1-2"]);
    expect(await state()).toBe("xx.xxxxxx...");
    // Every seat held once: the seats hash names exactly the four holds' seats.
    const held = (await f.redis.hkeys(`{ev:${layout.eventId}}:seats`))
      .map((x) => Number(x.split("-")[2]))
      .sort((a, b) => a - b);
    expect(held).toEqual([1, 2, 4, 5, 6, 7, 8, 9]);
  });

  it("best available picks what its rule says on random rows, from a fresh read and from the remembered states alike", async () => {
    // The rule, by brute force: rows in order; in the first row with a free block that leaves no
    // single free seat on either side, the block closest to the row's centre (ties: the first);
    // when no row has one, the first block that does strand a seat.
    function expected(rows: boolean[][], qty: number): string[] | undefined {
      let stranding: string[] | undefined;
      for (const [r, taken] of rows.entries()) {
        const n = taken.length;
        const runLeft = (p: number) => {
          let k = 0;
          while (p - 2 - k >= 0 && !taken[p - 2 - k]) k++;
          return k;
        };
        const runRight = (p: number) => {
          let k = 0;
          while (p + qty - 1 + k < n && !taken[p + qty - 1 + k]) k++;
          return k;
        };
        let best: number | undefined;
        let bestDistance = Infinity;
        for (let p = 1; p + qty - 1 <= n; p++) {
          if (taken.slice(p - 1, p - 1 + qty).some(Boolean)) continue;
          const strands = runLeft(p) === 1 || runRight(p) === 1;
          const distance = Math.abs(p + (qty - 1) / 2 - (n + 1) / 2);
          if (!strands && distance < bestDistance) [best, bestDistance] = [p, distance];
          if (strands && !stranding) stranding = Array.from({ length: qty }, (_, i) => `A-${r + 1}-${p + i}`);
        }
        if (best !== undefined) return Array.from({ length: qty }, (_, i) => `A-${r + 1}-${best + i}`);
      }
      return stranding;
    }
    for (let trial = 0; trial < 25; trial++) {
      const rowCount = 1 + Math.floor(Math.random() * 3);
      const seatsPerRow = 3 + Math.floor(Math.random() * 30);
      const layout = await openEvent(f, { rows: rowCount, seatsPerRow, limit: 4 });
      const rows = Array.from({ length: rowCount }, () =>
        Array.from({ length: seatsPerRow }, () => Math.random() < 0.45),
      );
      await Promise.all(
        rows.flatMap((taken, r) =>
          taken.flatMap((t, i) => (t ? [f.holds.holdSeats(target(layout.eventId), [`A-${r + 1}-${i + 1}`])] : [])),
        ),
      );
      // Three calls in a row: the first reads the rows, the later ones choose from what it remembered.
      for (let call = 0; call < 3; call++) {
        const qty = 1 + Math.floor(Math.random() * 4);
        const want = expected(rows, qty);
        const got = await f.holds
          .holdBestAvailable(target(layout.eventId), qty, { priceCategoryId: "", sectionId: "" })
          .catch((e: AppError) => e);
        if (!want) {
          expect((got as AppError).reason, `trial ${trial} call ${call}`).toBe("SEATS_UNAVAILABLE");
          continue;
        }
        expect(
          (got as Hold).seatIds,
          `trial ${trial} call ${call}: rows ${JSON.stringify(rows.map((t) => t.map((x) => (x ? "x" : ".")).join("")))} qty ${qty}`,
        ).toEqual(want);
        for (const seat of want) {
          const [, r, n] = seat.split("-").map(Number);
          rows[r! - 1]![n! - 1] = true;
        }
      }
    }
  });

  it("best available and HoldSeats racing on the same rows never hold a seat twice", async () => {
    const layout = await openEvent(f, { rows: 6, seatsPerRow: 20, limit: 4 });
    const best = Array.from({ length: 20 }, () =>
      f.holds.holdBestAvailable(target(layout.eventId), 2, { priceCategoryId: "", sectionId: "" }),
    );
    const named = Array.from({ length: 10 }, () => {
      const row = 1 + Math.floor(Math.random() * 6);
      const n = 1 + Math.floor(Math.random() * 19);
      return f.holds.holdSeats(target(layout.eventId), [`A-${row}-${n}`, `A-${row}-${n + 1}`]);
    });
    const bestRes = await settle(best);
    const namedRes = await settle(named);
    // 120 seats; the 30 holds leave at most 36 runs of free seats (one per hold and row), so at
    // least (100 - 36) / 2 = 32 free adjacent pairs: best available always finds its 20.
    expect(bestRes.failed).toEqual([]);
    expect(Object.keys(reasons(namedRes.failed)).every((r) => r === "SEATS_UNAVAILABLE")).toBe(true);
    const res = { ok: [...bestRes.ok, ...namedRes.ok] };
    const held = res.ok.flatMap((h) => h.seatIds);
    expect(new Set(held).size).toBe(held.length);
    // Redis holds exactly the successful holds' seats, each by the hold that made it.
    const values = await f.redis.hgetall(`{ev:${layout.eventId}}:seats`);
    expect(Object.keys(values).sort()).toEqual([...held].sort());
    for (const h of res.ok) for (const seat of h.seatIds) expect(values[seat]!.endsWith(`|${h.holdId}`)).toBe(true);
  });

  it("best available writes the row lists of an event loaded without them, then holds", async () => {
    const layout = await openEvent(f, { rows: 3, seatsPerRow: 4, limit: 4 });
    await f.redis.del(`{ev:${layout.eventId}}:rows`);
    const hold = await f.holds.holdBestAvailable(target(layout.eventId), 2, { priceCategoryId: "", sectionId: "" });
    expect(hold.seatIds).toEqual(["A-1-1", "A-1-2"]);
    expect(await f.redis.hget(`{ev:${layout.eventId}}:rows`, "|#0")).toBe("A-1-|1|4,A-2-|1|4,A-3-|1|4");
  });

  it("picks a block that strands no single seat when one exists", async () => {
    const layout = await openEvent(f, { rows: 1, seatsPerRow: 6, limit: 6 });
    // Seat 1 sold-like (held), leaving 2..6 free: a pair at 2-3 or 5-6 strands nothing; 3-4 would strand 2.
    await f.holds.holdSeats(target(layout.eventId), ["A-1-1"]);
    const pair = await f.holds.holdBestAvailable(target(layout.eventId), 2, { priceCategoryId: "", sectionId: "" });
    const rest = new Set(["A-1-2", "A-1-3", "A-1-4", "A-1-5", "A-1-6"]);
    for (const s of pair.seatIds) rest.delete(s);
    const free = [...rest].map((s) => Number(s.split("-")[2])).sort();
    // The free seats left form runs of length 0 or >= 2.
    const runs: number[] = [];
    for (const n of free) {
      if (runs.length && free.includes(n - 1)) runs[runs.length - 1]!++;
      else runs.push(1);
    }
    expect(runs.every((r) => r >= 2)).toBe(true);
  });

  it("refuses holds outside an open sale and names unknown seats", async () => {
    const layout = await openEvent(f);
    await f.inventory.setSaleState(layout.eventId, "PAUSED");
    await expect(f.holds.holdSeats(target(layout.eventId), ["A-1-1"])).rejects.toMatchObject({ reason: "SALE_PAUSED" });
    await f.inventory.setSaleState(layout.eventId, "CLOSED");
    await expect(f.holds.holdSeats(target(layout.eventId), ["A-1-1"])).rejects.toMatchObject({ reason: "SALE_CLOSED" });
    await f.inventory.setSaleState(layout.eventId, "OPEN");
    const err = await f.holds
      .holdSeats(target(layout.eventId), ["A-1-1", "A-99-1", "A-1-01", "A-1-1"])
      .catch((e: AppError) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).fieldViolations.map((v) => v.field)).toEqual([
      "seats.seat_ids[1]",
      "seats.seat_ids[2]",
      "seats.seat_ids[3]",
    ]);
    await expect(f.holds.holdSeats(target(uid("nope")), ["A-1-1"])).rejects.toMatchObject({
      reason: "EVENT_NOT_FOUND",
    });
    // Nothing was held by the refused requests.
    expect((await f.inventory.snapshot((await f.inventory.index(layout.eventId))!)).seats.size).toBe(0);
  });
});
