// GetEventSummary (and the metrics' funnel, which calls the same function)
// keeps following the event after the first call: later summaries count from
// the live map in memory instead of reading the whole seats hash from Redis
// each time, and still see every change. The follow ends when nobody asks.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Inventory } from "../../src/events/inventory.js";
import { SeatMapWatchHub } from "../../src/events/seat-map-watch.js";
import { createLogger } from "../../src/logger.js";
import { call, startTestApp, uid, type TestApp } from "../support/app.js";
import { openSaleEvent } from "../support/checkout.js";
import { openEvent, redisFixture, type Fixture } from "../support/inventory.js";

let t: TestApp;
let f: Fixture;
beforeAll(async () => {
  t = await startTestApp();
  f = redisFixture();
});
afterAll(async () => {
  await t?.stop();
  await f?.close();
});

/** Counts the real seat-map reads from Redis while `fn` runs. */
async function countingSnapshotReads<T>(fn: () => Promise<T>): Promise<{ value: T; reads: number }> {
  const snapshot = Inventory.prototype.snapshot;
  let reads = 0;
  Inventory.prototype.snapshot = function (...args: Parameters<typeof snapshot>) {
    reads++;
    return snapshot.apply(this, args);
  };
  try {
    return { value: await fn(), reads };
  } finally {
    Inventory.prototype.snapshot = snapshot;
  }
}

async function waitFor(ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > until) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("GetEventSummary follows the event", () => {
  it("reads the seat map once, then counts from memory and still sees every hold and release", async () => {
    const eventId = await openSaleEvent(t);
    const summary = () => call(t.events, t.events.getEventSummary, { eventId });
    const heldInA = async () => (await summary()).sections.find((s) => s.sectionId === "A")?.counts?.held;
    const hold = (seatIds: string[]) =>
      call(t.reservations, t.reservations.holdSeats, {
        eventId,
        buyerId: uid("s"),
        admissionToken: "",
        requestId: uid("r"),
        selection: { $case: "seats", value: { seatIds } },
      });

    const first = await countingSnapshotReads(summary);
    expect(first.reads).toBe(1);
    expect(first.value.sections.find((s) => s.sectionId === "A")?.counts?.held).toBe(0);

    const later = await countingSnapshotReads(async () => {
      const h = await hold(["A-1-1", "A-1-2", "A-2-3"]);
      await waitFor(async () => (await heldInA()) === 3);
      await call(t.reservations, t.reservations.releaseHold, {
        eventId,
        holdId: h.hold!.holdId,
        buyerId: h.hold!.buyerId,
        requestId: uid("rel"),
      });
      await hold(["A-2-9"]);
      await waitFor(async () => (await heldInA()) === 1);
      return summary();
    });
    // Every summary after the first came from memory, however many the waits took.
    expect(later.reads).toBe(0);
    const a = later.value.sections.find((s) => s.sectionId === "A")!.counts!;
    expect(a.held).toBe(1);
    // The counts agree with a fresh read of Redis.
    const map = await call(t.events, t.events.getSeatMap, { eventId });
    const heldInMap = map.sections
      .find((s) => s.sectionId === "A")!
      .rows.reduce((n, r) => n + [...r.states].filter((c) => c === "H").length, 0);
    expect(heldInMap).toBe(1);
  });

  it("GetSeatMap reads the whole map once, then only the changes since, and is exact as of each call", async () => {
    const eventId = await openSaleEvent(t);
    const rowA1 = async () =>
      (await call(t.events, t.events.getSeatMap, { eventId })).sections
        .find((x) => x.sectionId === "A")!
        .rows.find((r) => r.rowId === "1")!.states;
    const hold = (seatIds: string[]) =>
      call(t.reservations, t.reservations.holdSeats, {
        eventId,
        buyerId: uid("m"),
        admissionToken: "",
        requestId: uid("r"),
        selection: { $case: "seats", value: { seatIds } },
      });

    const first = await countingSnapshotReads(rowA1);
    expect([first.value, first.reads]).toEqual(["FFFFFFFFFF", 1]);
    const later = await countingSnapshotReads(async () => {
      const seen: string[] = [];
      // No waiting: each answer already has the hold or release made just before it.
      const h = await hold(["A-1-1", "A-1-2"]);
      seen.push(await rowA1());
      await call(t.reservations, t.reservations.releaseHold, {
        eventId,
        holdId: h.hold!.holdId,
        buyerId: h.hold!.buyerId,
        requestId: uid("rel"),
      });
      seen.push(await rowA1());
      await hold(["A-1-10"]);
      seen.push(await rowA1());
      return seen;
    });
    expect(later.value).toEqual(["HHFFFFFFFF", "FFFFFFFFFF", "FFFFFFFFFH"]);
    expect(later.reads).toBe(0);
  });

  it("stops following once the lease runs out without a renewal, and a renewal keeps it", async () => {
    const hub = new SeatMapWatchHub({
      redis: f.redis,
      inventory: f.inventory,
      reclaim: async () => 0,
      log: createLogger("silent", "test"),
      intervalMs: 50,
      leaseMs: 400,
    });
    const layout = await openEvent(f);
    const index = (await f.inventory.index(layout.eventId))!;
    try {
      hub.keepFollowing(index);
      await waitFor(() => hub.followed(layout.eventId) !== undefined);
      // Renewed every 200 ms for a second: still followed after more than two lease lengths.
      const started = Date.now();
      while (Date.now() - started < 1000) {
        hub.keepFollowing(index);
        await new Promise((r) => setTimeout(r, 200));
        expect(hub.follows(layout.eventId)).toBe(true);
      }
      await waitFor(() => !hub.follows(layout.eventId), 3000);
      expect(hub.feedCount).toBe(0);
    } finally {
      hub.stopFollowing();
    }
  });
});
