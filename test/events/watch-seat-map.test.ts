// WatchSeatMap: a snapshot then deltas whose versions chain, and which add up
// to GetSeatMap, for many watchers at once while holds come and go.
import { Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Inventory } from "../../src/events/inventory.js";
import { SeatState } from "../../src/gen/ticketing/v1/common.js";
import type { GetSeatMapResponse, WatchSeatMapResponse } from "../../src/gen/ticketing/v1/event_service.js";
import { call, startTestApp, uid, type TestApp } from "../support/app.js";
import { openSaleEvent } from "../support/checkout.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

/** A watcher's view: seat states and GA counts it built from the stream. */
class View {
  version = -1n;
  seats = new Map<string, string>();
  ga = new Map<string, string>();
  snapshots = 0;
  gaps = 0;

  apply(msg: WatchSeatMapResponse): void {
    const u = msg.update;
    if (u?.$case === "snapshot") {
      this.snapshots++;
      this.load(u.value);
    } else if (u?.$case === "delta") {
      if (BigInt(u.value.fromVersion) !== this.version) this.gaps++;
      for (const s of u.value.seats)
        this.seats.set(
          s.seatId,
          s.state === SeatState.SEAT_STATE_FREE ? "F" : s.state === SeatState.SEAT_STATE_HELD ? "H" : "S",
        );
      for (const g of u.value.sections) this.ga.set(g.sectionId, `${g.counts!.held}/${g.counts!.sold}`);
      this.version = BigInt(u.value.toVersion);
    }
  }

  load(map: GetSeatMapResponse): void {
    this.version = BigInt(map.version);
    this.seats.clear();
    for (const section of map.sections) {
      for (const row of section.rows) {
        [...row.states].forEach((c, i) =>
          this.seats.set(`${section.sectionId}-${row.rowId}-${row.firstSeatNumber + i}`, c),
        );
      }
      if (section.rows.length === 0) this.ga.set(section.sectionId, `${section.counts!.held}/${section.counts!.sold}`);
    }
  }
}

describe("WatchSeatMap", () => {
  it("gives every watcher a snapshot plus chained deltas that add up to GetSeatMap", async () => {
    const eventId = await openSaleEvent(t);
    const views = Array.from({ length: 50 }, () => new View());
    const streams = views.map((view) => {
      const stream = t.events.watchSeatMap({ eventId }, new Metadata());
      stream.on("data", (msg: WatchSeatMapResponse) => view.apply(msg));
      stream.on("error", () => undefined);
      return stream;
    });
    await waitFor(() => views.every((v) => v.snapshots === 1));

    const seats = Array.from({ length: 20 }, (_, i) => `A-${1 + Math.floor(i / 10)}-${1 + (i % 10)}`);
    const holds = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const mine = [seats[(i * 7) % 20]!, seats[(i * 7 + 1) % 20]!];
        const res = await call(t.reservations, t.reservations.holdSeats, {
          eventId,
          buyerId: uid("w"),
          admissionToken: "",
          requestId: uid("r"),
          selection:
            i % 5 === 0
              ? { $case: "generalAdmission", value: { sectionId: "FLOOR", quantity: 2 } }
              : { $case: "seats", value: { seatIds: mine } },
        }).catch(() => undefined);
        return res?.hold;
      }),
    );
    const made = holds.filter((h) => h !== undefined);
    expect(made.length).toBeGreaterThan(5);
    // Release half of them again.
    await Promise.all(
      made
        .filter((_, i) => i % 2 === 0)
        .map((h) =>
          call(t.reservations, t.reservations.releaseHold, {
            eventId,
            holdId: h.holdId,
            buyerId: h.buyerId,
            requestId: uid("rel"),
          }),
        ),
    );

    const truth = new View();
    truth.load(await call(t.events, t.events.getSeatMap, { eventId }));
    await waitFor(() => views.every((v) => v.version === truth.version));
    for (const v of views) {
      expect(v.gaps).toBe(0);
      expect(v.seats).toEqual(truth.seats);
      expect(v.ga).toEqual(truth.ga);
    }
    for (const s of streams) s.cancel();
  });

  it("serves late watchers the feed's own map: 200 joins read nothing from Redis, and every view matches GetSeatMap", async () => {
    const eventId = await openSaleEvent(t);
    const hold = (seatIds: string[]) =>
      call(t.reservations, t.reservations.holdSeats, {
        eventId,
        buyerId: uid("l"),
        admissionToken: "",
        requestId: uid("r"),
        selection: { $case: "seats", value: { seatIds } },
      });
    const first = new View();
    const firstStream = t.events.watchSeatMap({ eventId }, new Metadata());
    firstStream.on("data", (msg: WatchSeatMapResponse) => first.apply(msg));
    firstStream.on("error", () => undefined);
    await waitFor(() => first.snapshots === 1);
    const early = await hold(["A-1-1", "A-1-2"]);
    await hold(["A-2-5"]);
    await call(t.reservations, t.reservations.releaseHold, {
      eventId,
      holdId: early.hold!.holdId,
      buyerId: early.hold!.buyerId,
      requestId: uid("rel"),
    });
    const before = new View();
    before.load(await call(t.events, t.events.getSeatMap, { eventId }));
    await waitFor(() => first.version === before.version);

    // Count the seat-map reads from Redis (the real method, counted) while 200 watchers join.
    const snapshot = Inventory.prototype.snapshot;
    let reads = 0;
    Inventory.prototype.snapshot = function (...args: Parameters<typeof snapshot>) {
      reads++;
      return snapshot.apply(this, args);
    };
    const late = Array.from({ length: 200 }, () => new View());
    let streams: ReturnType<typeof t.events.watchSeatMap>[] = [];
    try {
      streams = late.map((view) => {
        const stream = t.events.watchSeatMap({ eventId }, new Metadata());
        stream.on("data", (msg: WatchSeatMapResponse) => view.apply(msg));
        stream.on("error", () => undefined);
        return stream;
      });
      await waitFor(() => late.every((v) => v.snapshots === 1));
    } finally {
      Inventory.prototype.snapshot = snapshot;
    }
    expect(reads).toBe(0);
    for (const v of late) {
      expect(v.version).toBe(before.version);
      expect(v.seats).toEqual(before.seats);
    }
    expect(before.seats.get("A-2-5")).toBe("H");
    expect(before.seats.get("A-1-1")).toBe("F");

    // And they follow later changes like everyone else.
    await hold(["A-1-1", "A-2-7"]);
    const after = new View();
    after.load(await call(t.events, t.events.getSeatMap, { eventId }));
    await waitFor(() => [first, ...late].every((v) => v.version === after.version));
    for (const v of [first, ...late]) {
      expect(v.gaps).toBe(0);
      expect(v.seats).toEqual(after.seats);
    }

    // While the process follows the event, GetEventSummary counts from the feed too.
    reads = 0;
    Inventory.prototype.snapshot = function (...args: Parameters<typeof snapshot>) {
      reads++;
      return snapshot.apply(this, args);
    };
    let summary;
    try {
      summary = await call(t.events, t.events.getEventSummary, { eventId });
    } finally {
      Inventory.prototype.snapshot = snapshot;
    }
    expect(reads).toBe(0);
    const heldInA = [...after.seats].filter(([seat, state]) => seat.startsWith("A-") && state === "H").length;
    expect(heldInA).toBe(3);
    expect(summary.sections.find((x) => x.sectionId === "A")?.counts).toMatchObject({ held: heldInA, sold: 0 });
    for (const s of [firstStream, ...streams]) s.cancel();
  });

  it("refuses an unknown event", async () => {
    const err = await new Promise<{ code: number }>((resolve) => {
      const stream = t.events.watchSeatMap({ eventId: uid("nope") }, new Metadata());
      stream.on("data", () => undefined);
      stream.on("error", resolve);
    });
    expect(err.code).toBe(5);
  });
});

async function waitFor(ok: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
