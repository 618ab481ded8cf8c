// The seat plan through the real server: CreateEvent with coordinates, read
// back by GetEvent (from MySQL) and the sale RPCs, kept out of Redis, checked
// field by field, and idempotent like the rest of the event.
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventKeys } from "../../src/adapters/redis/keys.js";
import { renderSeatMapSvg, SEAT_COLOURS } from "../../bench/sim/seatmap-svg.js";
import { rowSeatPlacements } from "../../src/events/geometry.js";
import { SaleState, type Event, type Section } from "../../src/gen/ticketing/v1/event_service.js";
import { call, callError, startTestApp, uid, type TestApp } from "../support/app.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

/** Stalls: row 1 a curved line, row 2 seat by seat; Box: a line with one seat moved; Floor: an area. */
function plannedSections(): Section[] {
  return [
    {
      sectionId: "ST",
      name: "Stalls",
      layout: {
        $case: "reserved",
        value: {
          rows: [
            {
              rowId: "1",
              firstSeatNumber: 1,
              seatCount: 6,
              priceCategoryId: "std",
              placement: {
                position: { x: 500.5, y: 300, rotation: 0, seatSpacing: 55, curve: 24.5 },
                seats: [],
              },
            },
            {
              rowId: "2",
              firstSeatNumber: 11,
              seatCount: 3,
              priceCategoryId: "std",
              placement: {
                seats: [
                  { seatNumber: 11, x: 440, y: 360, rotation: 10 },
                  { seatNumber: 12, x: 500, y: 365, rotation: 0 },
                  { seatNumber: 13, x: 560, y: 360, rotation: -10 },
                ],
              },
            },
          ],
        },
      },
      outline: {
        points: [
          { x: 300, y: 260 },
          { x: 700, y: 260 },
          { x: 700, y: 400 },
          { x: 300, y: 400 },
        ],
      },
    },
    {
      sectionId: "BOX",
      name: "Box",
      layout: {
        $case: "reserved",
        value: {
          rows: [
            {
              rowId: "A",
              firstSeatNumber: 1,
              seatCount: 3,
              priceCategoryId: "std",
              placement: {
                position: { x: 900, y: 200, rotation: -90, seatSpacing: 50, curve: 0 },
                seats: [{ seatNumber: 2, x: 910, y: 200, rotation: 0 }],
              },
            },
          ],
        },
      },
    },
    {
      sectionId: "FLOOR",
      name: "Floor",
      layout: {
        $case: "generalAdmission",
        value: { capacity: 80, priceCategoryId: "std", area: { x: 500, y: 150, width: 400, height: 120, rotation: 0 } },
      },
    },
  ];
}

function event(sections: Section[]): Event {
  return {
    eventId: uid("ev"),
    name: "Drawn night",
    venue: "Round Hall",
    saleState: SaleState.SALE_STATE_UNSPECIFIED,
    maxTicketsPerBuyer: 0,
    currencyCode: "EUR",
    priceCategories: [{ priceCategoryId: "std", name: "Standard", priceMinor: "4000" }],
    sections,
    capacity: 0,
    currencyMinorDigits: 0,
    refundCutoffSeconds: 0,
  };
}

const create = (e: Event, requestId = uid("r")) =>
  call(t.events, t.events.createEvent, { requestId, event: e }, t.operator);

describe("seat plan", () => {
  it("is returned as given by CreateEvent, GetEvent and the sale RPCs, and never reaches Redis", async () => {
    const sent = plannedSections();
    const e = event(sent);
    const created = await create(e);
    expect(created.event!.sections).toEqual(sent);

    const got = (await call(t.events, t.events.getEvent, { eventId: e.eventId })).event!;
    expect(got.sections).toEqual(sent);
    expect(got.capacity).toBe(6 + 3 + 3 + 80);
    const opened = await call(t.events, t.events.openSale, { eventId: e.eventId, requestId: uid("r") }, t.operator);
    expect(opened.event!.sections).toEqual(sent);

    // The shared computation places every seat of what GetEvent returned.
    const rows = got.sections.flatMap((s) => (s.layout?.$case === "reserved" ? s.layout.value.rows : []));
    const placed = rows.flatMap((r) => rowSeatPlacements(r));
    expect(placed).toHaveLength(12);
    expect(placed.every((p) => p !== undefined)).toBe(true);
    const box = rowSeatPlacements(rows[2]!);
    expect(box[1]).toEqual({ seatNumber: 2, x: 910, y: 200, rotation: 0 });
    expect(box[0]!.y).toBeCloseTo(250, 9); // rotation -90 runs upwards: seat 1 is at the bottom
    expect(box[2]!.y).toBeCloseTo(150, 9);

    // The hot path's copy of the layout has no plan; it still sells.
    const json = (await t.app.redis.get(eventKeys(e.eventId).layout))!;
    expect(json).toContain('"seatCount":6');
    expect(json).not.toMatch(/placement|outline|area/);
    const hold = await call(t.reservations, t.reservations.holdSeats, {
      eventId: e.eventId,
      buyerId: uid("b"),
      admissionToken: "",
      requestId: uid("r"),
      selection: { $case: "seats", value: { seatIds: ["ST-1-3", "ST-2-12"] } },
    });
    expect([...hold.hold!.seatIds].sort()).toEqual(["ST-1-3", "ST-2-12"]);

    // Drawn from what GetEvent and GetSeatMap answer: every seat, the two held ones amber.
    const map = await call(t.events, t.events.getSeatMap, { eventId: e.eventId });
    const { svg, seats } = renderSeatMapSvg(got, map);
    expect(seats).toEqual({ free: 10, held: 2, sold: 0 });
    const held = [...svg.matchAll(/<rect class="seat held" data-seat="([^"]+)"[^>]* fill="([^"]+)"/g)];
    expect(held.map((m) => [m[1], m[2]]).sort()).toEqual([
      ["ST-1-3", SEAT_COLOURS.H],
      ["ST-2-12", SEAT_COLOURS.H],
    ]);

    // ListEvents leaves every section out, plan included.
    const page = await call(t.events, t.events.listEvents, { pageSize: 100, pageToken: "" });
    expect(page.events.find((x) => x.eventId === e.eventId)?.sections).toEqual([]);
  });

  it("leaves an event without a plan as it was: no placement, outline or area", async () => {
    const e = event([
      {
        sectionId: "A",
        name: "A",
        layout: {
          $case: "reserved",
          value: { rows: [{ rowId: "1", firstSeatNumber: 1, seatCount: 2, priceCategoryId: "std" }] },
        },
      },
      {
        sectionId: "F",
        name: "F",
        layout: { $case: "generalAdmission", value: { capacity: 5, priceCategoryId: "std" } },
      },
    ]);
    await create(e);
    const got = (await call(t.events, t.events.getEvent, { eventId: e.eventId })).event!;
    expect(got.sections).toEqual(e.sections);
    expect(got.sections[0]!.outline).toBeUndefined();
    const layout = got.sections[0]!.layout;
    expect(layout?.$case === "reserved" && layout.value.rows[0]!.placement).toBeUndefined();
  });

  it("is part of the request: a retry replays, another plan under the same request id is REQUEST_ID_REUSED", async () => {
    const e = event(plannedSections());
    const requestId = uid("r");
    await create(e, requestId);
    const again = await create(e, requestId);
    expect(again.event!.sections).toEqual(e.sections);
    const moved = plannedSections();
    const floor = moved[2]!.layout;
    if (floor?.$case === "generalAdmission") floor.value.area!.x = 501;
    const err = await callError(
      t.events,
      t.events.createEvent,
      { requestId, event: { ...e, sections: moved } },
      t.operator,
    );
    expect(err.code).toBe(status.ALREADY_EXISTS);
    expect(err.errorInfo?.reason).toBe("REQUEST_ID_REUSED");
  });

  it("refuses a bad plan with INVALID_ARGUMENT naming each field", async () => {
    const sections = plannedSections();
    const stalls = sections[0]!.layout;
    if (stalls?.$case !== "reserved") throw new Error("unreachable");
    stalls.value.rows[0]!.placement!.position!.curve = 400;
    stalls.value.rows[1]!.placement!.seats[2]!.seatNumber = 14; // row 2 is seats 11..13
    stalls.value.rows[1]!.placement!.seats.splice(1, 1); // and now seat 12 has no position either
    sections[1]!.outline = { points: [{ x: 0, y: 0 }] };
    const floor = sections[2]!.layout;
    if (floor?.$case === "generalAdmission") floor.value.area!.y = Number.NaN;
    const e = event(sections);
    const err = await callError(t.events, t.events.createEvent, { requestId: uid("r"), event: e }, t.operator);
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.errorInfo?.reason).toBe("VALIDATION_FAILED");
    expect(err.badRequest?.fieldViolations.map((v) => v.field)).toEqual([
      "event.sections[0].reserved.rows[0].placement.position.curve",
      "event.sections[0].reserved.rows[1].placement.seats[1].seat_number",
      "event.sections[0].reserved.rows[1].placement.seats",
      "event.sections[1].outline.points",
      "event.sections[2].general_admission.area.y",
    ]);
    // Nothing was written.
    const missing = await callError(t.events, t.events.getEvent, { eventId: e.eventId });
    expect(missing.code).toBe(status.NOT_FOUND);
  });

  it("survives a rebuild of the live state: GetEvent still has it, Redis still has none", async () => {
    const e = event(plannedSections());
    await create(e);
    await t.app.redis.del(eventKeys(e.eventId).layout, eventKeys(e.eventId).meta);
    await call(t.events, t.events.rebuildInventory, { eventId: e.eventId, requestId: uid("r") }, t.operator);
    expect((await t.app.redis.get(eventKeys(e.eventId).layout))!).not.toMatch(/placement/);
    const got = (await call(t.events, t.events.getEvent, { eventId: e.eventId })).event!;
    expect(got.sections).toEqual(e.sections);
  });
});
