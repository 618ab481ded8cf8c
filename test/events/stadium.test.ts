// A 50,000-seat stadium plus a standing floor, created in one CreateEvent call.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SaleState, type Event, type Section } from "../../src/gen/ticketing/v1/event_service.js";
import { eventKeys } from "../../src/adapters/redis/keys.js";
import { call, startTestApp, uid, type TestApp } from "../support/app.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

const SECTIONS = 50;
const ROWS = 40;
const SEATS = 25;
const FLOOR = 5000;

function stadium(): Event {
  const sections: Section[] = Array.from({ length: SECTIONS }, (_, s) => ({
    sectionId: `S${101 + s}`,
    name: `Section ${101 + s}`,
    layout: {
      $case: "reserved",
      value: {
        rows: Array.from({ length: ROWS }, (_, r) => ({
          rowId: String.fromCharCode(65 + (r % 26)) + (r >= 26 ? "A" : ""),
          firstSeatNumber: 1,
          seatCount: SEATS,
          priceCategoryId: r < 10 ? "lower" : "upper",
        })),
      },
    },
  }));
  sections.push({
    sectionId: "FLOOR",
    name: "Standing",
    layout: { $case: "generalAdmission", value: { capacity: FLOOR, priceCategoryId: "floor" } },
  });
  return {
    eventId: uid("stadium"),
    name: "Stadium tour",
    venue: "National Stadium",
    saleState: SaleState.SALE_STATE_UNSPECIFIED,
    maxTicketsPerBuyer: 6,
    currencyCode: "GBP",
    priceCategories: [
      { priceCategoryId: "lower", name: "Lower tier", priceMinor: "9500" },
      { priceCategoryId: "upper", name: "Upper tier", priceMinor: "6500" },
      { priceCategoryId: "floor", name: "Floor", priceMinor: "8000" },
    ],
    sections,
    capacity: 0,
    currencyMinorDigits: 0,
    refundCutoffSeconds: 0,
  };
}

describe("a 50,000-seat stadium", () => {
  it("is created in one call, with every seat in MySQL and free in the live seat map", async () => {
    const input = stadium();
    const { event } = await call(t.events, t.events.createEvent, { requestId: uid("r"), event: input }, t.operator);
    expect(event?.capacity).toBe(SECTIONS * ROWS * SEATS + FLOOR);

    const [rows] = await t.app.mysql.query("SELECT COUNT(*) AS n FROM seats WHERE event_id = ?", [input.eventId]);
    expect(Number((rows as { n: number }[])[0]!.n)).toBe(50_000);

    const got = (await call(t.events, t.events.getEvent, { eventId: input.eventId })).event!;
    expect(got.sections).toHaveLength(SECTIONS + 1);
    expect(got.sections).toEqual(event!.sections);

    const map = await call(t.events, t.events.getSeatMap, { eventId: input.eventId });
    const states = map.sections.flatMap((s) => s.rows.map((r) => r.states)).join("");
    expect(states.length).toBe(50_000);
    expect(states).toMatch(/^F+$/);
    const floor = map.sections.find((s) => s.sectionId === "FLOOR")!;
    expect(floor.counts).toEqual({ capacity: FLOOR, free: FLOOR, held: 0, sold: 0 });

    const summary = await call(t.events, t.events.getEventSummary, { eventId: input.eventId });
    expect(summary.total).toEqual({ capacity: 55_000, free: 55_000, held: 0, sold: 0 });
    expect(summary.categories).toEqual([
      { priceCategoryId: "lower", counts: { capacity: 12_500, free: 12_500, held: 0, sold: 0 } },
      { priceCategoryId: "upper", counts: { capacity: 37_500, free: 37_500, held: 0, sold: 0 } },
      { priceCategoryId: "floor", counts: { capacity: FLOOR, free: FLOOR, held: 0, sold: 0 } },
    ]);

    // Rebuilt from MySQL, it is the same.
    const k = eventKeys(input.eventId);
    await t.app.redis.del(
      k.meta,
      k.layout,
      k.seats,
      k.expiries,
      k.version,
      k.changes,
      k.ga("FLOOR"),
      k.gaQuantities("FLOOR"),
      k.gaExpiries("FLOOR"),
    );
    const rebuilt = await call(
      t.events,
      t.events.rebuildInventory,
      { eventId: input.eventId, requestId: uid("r") },
      t.operator,
    );
    expect(rebuilt.total).toEqual({ capacity: 55_000, free: 55_000, held: 0, sold: 0 });
  });
});
