// EventService through the real server and generated clients, against real
// MySQL and Redis (single node, and a cluster when REDIS_CLUSTER_NODES is set).
import { Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventKeys } from "../../src/adapters/redis/keys.js";
import { Scripts } from "../../src/adapters/redis/scripts.js";
import { EventStore } from "../../src/events/event-store.js";
import { Events } from "../../src/events/events.js";
import { Inventory } from "../../src/events/inventory.js";
import { SaleState, type Event, type Section } from "../../src/gen/ticketing/v1/event_service.js";
import { createLogger } from "../../src/logger.js";
import { bearer } from "../support/identity.js";
import { call, callError, startTestApp, uid, type TestApp } from "../support/app.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

const reserved = (
  sectionId: string,
  rows: [rowId: string, seats: number, category: string, first?: number][],
): Section => ({
  sectionId,
  name: `Section ${sectionId}`,
  layout: {
    $case: "reserved",
    value: {
      rows: rows.map(([rowId, seatCount, priceCategoryId, first]) => ({
        rowId,
        seatCount,
        priceCategoryId,
        firstSeatNumber: first ?? 0,
      })),
    },
  },
});
const ga = (sectionId: string, capacity: number, priceCategoryId: string): Section => ({
  sectionId,
  name: `Section ${sectionId}`,
  layout: { $case: "generalAdmission", value: { capacity, priceCategoryId } },
});

/** A small venue: A (rows 1 vip and 2 std, 5 seats each), B (row 1 std, 4 seats from 101), FLOOR (GA 100 std). */
function smallEvent(o: Partial<Event> = {}): Event {
  return {
    eventId: uid("ev"),
    name: "Night at the Opera",
    venue: "Royal Hall",
    startTime: new Date("2031-05-01T19:30:00.000Z"),
    saleOpenTime: new Date("2031-03-01T10:00:00.000Z"),
    saleCloseTime: new Date("2031-05-01T18:00:00.000Z"),
    saleState: SaleState.SALE_STATE_UNSPECIFIED,
    holdPolicy: undefined,
    maxTicketsPerBuyer: 0,
    waitingRoom: undefined,
    currencyCode: "EUR",
    priceCategories: [
      { priceCategoryId: "vip", name: "VIP", priceMinor: "12000" },
      { priceCategoryId: "std", name: "Standard", priceMinor: "4500" },
    ],
    sections: [
      reserved("A", [
        ["1", 5, "vip"],
        ["2", 5, "std"],
      ]),
      reserved("B", [["1", 4, "std", 101]]),
      ga("FLOOR", 100, "std"),
    ],
    capacity: 0,
    currencyMinorDigits: 0,
    refundCutoffSeconds: 0,
    createTime: undefined,
    ...o,
  };
}

const create = (event: Event, requestId = uid("r")) =>
  call(t.events, t.events.createEvent, { requestId, event }, t.operator);
const getEvent = (eventId: string) => call(t.events, t.events.getEvent, { eventId });
const seatMap = (eventId: string) => call(t.events, t.events.getSeatMap, { eventId });
const summary = (eventId: string) => call(t.events, t.events.getEventSummary, { eventId });
const openSale = (eventId: string) => call(t.events, t.events.openSale, { eventId, requestId: uid("r") }, t.operator);
const pauseSale = (eventId: string) => call(t.events, t.events.pauseSale, { eventId, requestId: uid("r") }, t.operator);
const closeSale = (eventId: string) => call(t.events, t.events.closeSale, { eventId, requestId: uid("r") }, t.operator);
const rebuild = (eventId: string) =>
  call(t.events, t.events.rebuildInventory, { eventId, requestId: uid("r") }, t.operator);

async function holdSeats(eventId: string, seatIds: string[]) {
  return call(t.reservations, t.reservations.holdSeats, {
    eventId,
    buyerId: uid("b"),
    admissionToken: "",
    requestId: uid("r"),
    selection: { $case: "seats", value: { seatIds } },
  });
}
async function holdQuantity(eventId: string, sectionId: string, quantity: number) {
  return call(t.reservations, t.reservations.holdSeats, {
    eventId,
    buyerId: uid("b"),
    admissionToken: "",
    requestId: uid("r"),
    selection: { $case: "generalAdmission", value: { sectionId, quantity } },
  });
}

/** Deletes every Redis key of the event's live state, as if Redis had lost it. */
async function dropLiveState(eventId: string, gaSections: string[] = ["FLOOR"]) {
  const k = eventKeys(eventId);
  await t.app.redis.del(
    k.meta,
    k.seats,
    k.layout,
    k.expiries,
    k.version,
    k.changes,
    ...gaSections.flatMap((s) => [k.ga(s), k.gaQuantities(s), k.gaExpiries(s)]),
  );
  expect(await t.app.redis.exists(k.meta, k.layout)).toBe(0);
}

/** Writes a confirmed order straight to MySQL, as checkout does (src/orders/order-store.ts): seats or a GA quantity. */
async function confirmOrder(eventId: string, buyerId: string, what: { seats?: string[]; ga?: [string, number] }) {
  const orderId = uid("o");
  const now = new Date();
  const quantity = what.seats?.length ?? what.ga?.[1] ?? 0;
  await t.app.mysql.execute(
    `INSERT INTO orders (order_id, event_id, hold_id, buyer_id, state, section_id, quantity, amount_minor, currency_code, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'CONFIRMED', ?, ?, 0, 'EUR', ?, ?)`,
    [orderId, eventId, uid("h"), buyerId, what.ga?.[0] ?? null, quantity, now, now],
  );
  for (const seat of what.seats ?? []) {
    await t.app.mysql.execute(
      "INSERT INTO order_items (order_id, event_id, seat_id, sold_seat_id, price_minor) VALUES (?, ?, ?, ?, 0)",
      [orderId, eventId, seat, seat],
    );
  }
  if (what.ga) {
    await t.app.mysql.execute("UPDATE sections SET sold = sold + ? WHERE event_id = ? AND section_id = ?", [
      what.ga[1],
      eventId,
      what.ga[0],
    ]);
    await t.app.mysql.execute(
      "INSERT INTO order_items (order_id, event_id, seat_id, sold_seat_id, price_minor, quantity) VALUES (?, ?, ?, NULL, 0, ?)",
      [orderId, eventId, what.ga[0], what.ga[1]],
    );
  }
}

const counts = (capacity: number, held: number, sold: number) => ({
  capacity,
  free: capacity - held - sold,
  held,
  sold,
});

describe("CreateEvent and GetEvent", () => {
  it("round-trips the layout, applying defaults and filling the output-only fields", async () => {
    const input = smallEvent();
    const { event } = await create(input);
    expect(event).toBeDefined();
    const expected = {
      ...input,
      saleState: SaleState.SALE_STATE_SCHEDULED,
      holdPolicy: { ttlSeconds: 600, maxExtensions: 1, maxLifetimeSeconds: 1200 },
      maxTicketsPerBuyer: 8,
      waitingRoom: {
        enabled: false,
        admissionsPerSecond: 50,
        maxShopping: 1000,
        sessionSeconds: 600,
        shuffleSeedSha256: "",
      },
      sections: [
        reserved("A", [
          ["1", 5, "vip", 1],
          ["2", 5, "std", 1],
        ]),
        reserved("B", [["1", 4, "std", 101]]),
        ga("FLOOR", 100, "std"),
      ],
      capacity: 114,
      currencyMinorDigits: 2,
      createTime: event!.createTime,
    };
    expect(event).toEqual(expected);
    expect(event!.createTime).toBeInstanceOf(Date);
    expect(Math.abs(event!.createTime!.getTime() - Date.now())).toBeLessThan(60_000);

    const got = await getEvent(input.eventId);
    expect(got.event).toEqual(expected);
  });

  it("keeps settings the operator chose", async () => {
    const input = smallEvent({
      holdPolicy: { ttlSeconds: 300, maxExtensions: 0, maxLifetimeSeconds: 450 },
      maxTicketsPerBuyer: 4,
      waitingRoom: {
        enabled: true,
        admissionsPerSecond: 200,
        maxShopping: 5000,
        sessionSeconds: 900,
        shuffleSeedSha256: "",
      },
    });
    const { event } = await create(input);
    expect(event).toMatchObject({
      holdPolicy: { ttlSeconds: 300, maxExtensions: 0, maxLifetimeSeconds: 450 },
      maxTicketsPerBuyer: 4,
      waitingRoom: { enabled: true, admissionsPerSecond: 200, maxShopping: 5000, sessionSeconds: 900 },
    });
    // The pre-queue shuffle's seed is committed (its hash published) from creation on, and stays the same.
    expect(event!.waitingRoom!.shuffleSeedSha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await getEvent(input.eventId)).event).toEqual(event);
  });

  it("chooses an event id when none is given", async () => {
    const { event } = await create(smallEvent({ eventId: "" }));
    expect(event!.eventId).toMatch(/^ev_[a-z2-7]{16}$/);
    expect((await getEvent(event!.eventId)).event?.name).toBe("Night at the Opera");
  });

  it("loads the live state: every seat free, the sale scheduled", async () => {
    const input = smallEvent();
    await create(input);
    const map = await seatMap(input.eventId);
    expect(map.eventId).toBe(input.eventId);
    expect(BigInt(map.version)).toBeGreaterThan(0n);
    expect(map.sections).toEqual([
      {
        sectionId: "A",
        rows: [
          { rowId: "1", firstSeatNumber: 1, states: "FFFFF" },
          { rowId: "2", firstSeatNumber: 1, states: "FFFFF" },
        ],
        counts: counts(10, 0, 0),
      },
      { sectionId: "B", rows: [{ rowId: "1", firstSeatNumber: 101, states: "FFFF" }], counts: counts(4, 0, 0) },
      { sectionId: "FLOOR", rows: [], counts: counts(100, 0, 0) },
    ]);
    expect((await summary(input.eventId)).saleState).toBe(SaleState.SALE_STATE_SCHEDULED);
  });

  it("answers NOT_FOUND EVENT_NOT_FOUND for an unknown event on every read and operator call", async () => {
    const eventId = uid("nope");
    const calls = [
      () => callError(t.events, t.events.getEvent, { eventId }),
      () => callError(t.events, t.events.getSeatMap, { eventId }),
      () => callError(t.events, t.events.getEventSummary, { eventId }),
      () => callError(t.events, t.events.rebuildInventory, { eventId, requestId: uid("r") }, t.operator),
      () => callError(t.events, t.events.openSale, { eventId, requestId: uid("r") }, t.operator),
      () => callError(t.events, t.events.pauseSale, { eventId, requestId: uid("r") }, t.operator),
      () => callError(t.events, t.events.closeSale, { eventId, requestId: uid("r") }, t.operator),
    ];
    for (const c of calls) {
      const err = await c();
      expect(err.code).toBe(status.NOT_FOUND);
      expect(err.errorInfo?.reason).toBe("EVENT_NOT_FOUND");
    }
  });

  it("refuses ids that could not be Redis key parts", async () => {
    const err = await callError(t.events, t.events.getSeatMap, { eventId: "bad}id" });
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["event_id"]);
    const op = await callError(t.events, t.events.openSale, { eventId: "", requestId: "" }, t.operator);
    expect(op.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["event_id", "request_id"]);
  });
});

describe("ListEvents", () => {
  it("pages through every event, newest first, with opaque tokens", async () => {
    const mine: string[] = [];
    for (let i = 0; i < 5; i++) mine.push((await create(smallEvent())).event!.eventId);

    const seen: Event[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const res = await call(t.events, t.events.listEvents, { pageSize: 2, pageToken });
      expect(res.events.length).toBeLessThanOrEqual(2);
      seen.push(...res.events);
      pageToken = res.nextPageToken;
      pages++;
    } while (pageToken && pages < 100);
    expect(pageToken).toBe("");

    const ids = seen.map((e) => e.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of mine) expect(ids).toContain(id);
    // Newest first: (create_time, event_id) never increases along the pages.
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1]!, seen[i]!];
      const order = a.createTime!.getTime() - b.createTime!.getTime() || (a.eventId > b.eventId ? 1 : -1);
      expect(order).toBeGreaterThan(0);
    }
    // Created one after another: the last one created comes first among mine.
    expect(ids.filter((id) => mine.includes(id))).toEqual([...mine].reverse());
    // No seat maps in the list; everything else is there.
    const one = seen.find((e) => e.eventId === mine[0])!;
    expect(one.sections).toEqual([]);
    expect(one).toMatchObject({ name: "Night at the Opera", capacity: 114, saleState: SaleState.SALE_STATE_SCHEDULED });
    expect(one.priceCategories.map((c) => c.priceCategoryId)).toEqual(["vip", "std"]);

    const all = await call(t.events, t.events.listEvents, { pageSize: 0, pageToken: "" });
    expect(all.events.length).toBe(Math.min(20, seen.length));
  });

  it("refuses a bad page size or a token it did not make", async () => {
    for (const [req, field] of [
      [{ pageSize: 101, pageToken: "" }, "page_size"],
      [{ pageSize: 10, pageToken: "not a token!" }, "page_token"],
      [{ pageSize: 10, pageToken: Buffer.from('{"t":"x","id":"e"}').toString("base64url") }, "page_token"],
      [{ pageSize: 10, pageToken: Buffer.from("garbage").toString("base64url") }, "page_token"],
    ] as const) {
      const err = await callError(t.events, t.events.listEvents, req);
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.errorInfo?.reason).toBe("VALIDATION_FAILED");
      expect(err.badRequest?.fieldViolations.map((v) => v.field)).toEqual([field]);
    }
  });
});

describe("CreateEvent idempotency", () => {
  it("returns the same event when the same request is retried", async () => {
    const requestId = uid("r");
    const input = smallEvent();
    const first = await create(input, requestId);
    const again = await create(input, requestId);
    expect(again).toEqual(first);

    // A server-chosen id too: the retry does not make a second event.
    const chosenReq = uid("r");
    const a = await create(smallEvent({ eventId: "" }), chosenReq);
    const b = await create(smallEvent({ eventId: "" }), chosenReq);
    expect(b.event!.eventId).toBe(a.event!.eventId);
    expect(b.event!.createTime).toEqual(a.event!.createTime);
  });

  it("answers concurrent retries with one event", async () => {
    const requestId = uid("r");
    const input = smallEvent({ eventId: "" });
    const results = await Promise.all(Array.from({ length: 5 }, () => create(input, requestId)));
    expect(new Set(results.map((r) => r.event!.eventId)).size).toBe(1);
  });

  it("loads the live state on a retry when the first attempt stopped after MySQL", async () => {
    const requestId = uid("r");
    const input = smallEvent();
    await create(input, requestId);
    await dropLiveState(input.eventId); // as if Redis failed right after the MySQL commit
    await create(input, requestId);
    expect(await t.app.redis.exists(eventKeys(input.eventId).meta)).toBe(1);
    expect(await t.app.redis.hget(eventKeys(input.eventId).meta, "state")).toBe("SCHEDULED");
  });

  it("refuses a different request under a used request id: ALREADY_EXISTS REQUEST_ID_REUSED", async () => {
    const requestId = uid("r");
    const input = smallEvent();
    await create(input, requestId);
    const err = await callError(
      t.events,
      t.events.createEvent,
      { requestId, event: { ...input, name: "Another name" } },
      t.operator,
    );
    expect(err.code).toBe(status.ALREADY_EXISTS);
    expect(err.errorInfo?.reason).toBe("REQUEST_ID_REUSED");
    expect((await getEvent(input.eventId)).event?.name).toBe("Night at the Opera");
  });

  it("refuses an event id another request took: ALREADY_EXISTS EVENT_ALREADY_EXISTS", async () => {
    const input = smallEvent();
    await create(input);
    const err = await callError(
      t.events,
      t.events.createEvent,
      { requestId: uid("r"), event: smallEvent({ eventId: input.eventId }) },
      t.operator,
    );
    expect(err.code).toBe(status.ALREADY_EXISTS);
    expect(err.errorInfo?.reason).toBe("EVENT_ALREADY_EXISTS");
    expect(err.errorInfo?.metadata.event_id).toBe(input.eventId);
  });
});

describe("CreateEvent validation", () => {
  it("names every bad field in one INVALID_ARGUMENT and writes nothing", async () => {
    const eventId = uid("ev");
    const bad = smallEvent({
      eventId,
      name: "",
      venue: "x".repeat(201),
      currencyCode: "eur",
      saleOpenTime: new Date("2031-05-02T00:00:00Z"),
      saleCloseTime: new Date("2031-05-01T00:00:00Z"),
      holdPolicy: { ttlSeconds: 5, maxExtensions: 11, maxLifetimeSeconds: 8000 },
      maxTicketsPerBuyer: 101,
      waitingRoom: {
        enabled: true,
        admissionsPerSecond: 20_000,
        maxShopping: 0,
        sessionSeconds: 30,
        shuffleSeedSha256: "",
      },
      priceCategories: [
        { priceCategoryId: "std", name: "Standard", priceMinor: "-1" },
        { priceCategoryId: "std", name: "Again", priceMinor: "100" },
      ],
      sections: [
        reserved("A", [["1", 10, "std"]]),
        reserved("A", [
          ["1", 0, "std"],
          ["1", 501, "gold"],
          ["bad-row", 5, "std", 200_000],
        ]),
        { sectionId: "C", name: "Nothing", layout: undefined },
        ga("D", 0, ""),
        ga("E}", 200_001, "std"),
      ],
    });
    const err = await callError(t.events, t.events.createEvent, { requestId: uid("r"), event: bad }, t.operator);
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.errorInfo?.reason).toBe("VALIDATION_FAILED");
    const fields = err.badRequest!.fieldViolations.map((v) => v.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        "event.name",
        "event.venue",
        "event.currency_code",
        "event.sale_close_time",
        "event.hold_policy.ttl_seconds",
        "event.hold_policy.max_extensions",
        "event.hold_policy.max_lifetime_seconds",
        "event.max_tickets_per_buyer",
        "event.waiting_room.admissions_per_second",
        "event.waiting_room.session_seconds",
        "event.price_categories[0].price_minor",
        "event.price_categories[1].price_category_id",
        "event.sections[1].section_id",
        "event.sections[1].reserved.rows[0].seat_count",
        "event.sections[1].reserved.rows[1].row_id",
        "event.sections[1].reserved.rows[1].seat_count",
        "event.sections[1].reserved.rows[1].price_category_id",
        "event.sections[1].reserved.rows[2].row_id",
        "event.sections[1].reserved.rows[2].first_seat_number",
        "event.sections[2]",
        "event.sections[3].general_admission.capacity",
        "event.sections[3].general_admission.price_category_id",
        "event.sections[4].section_id",
        "event.sections[4].general_admission.capacity",
        "event.sections",
      ]),
    );
    // Nothing else: the good parts are not named.
    expect(fields).not.toContain("event.event_id");
    expect(fields).not.toContain("event.sections[0].section_id");
    expect(fields).not.toContain("event.waiting_room.max_shopping"); // 0 takes the default
    expect(fields).not.toContain("request_id");
    for (const v of err.badRequest!.fieldViolations) expect(v.description).not.toBe("");

    const missing = await callError(t.events, t.events.getEvent, { eventId });
    expect(missing.code).toBe(status.NOT_FOUND);
    expect(await t.app.redis.exists(eventKeys(eventId).meta)).toBe(0);
    const [rows] = await t.app.mysql.query("SELECT COUNT(*) AS n FROM idempotency_keys WHERE resource_id = ?", [
      eventId,
    ]);
    expect((rows as { n: number }[])[0]!.n).toBe(0);
  });

  it("needs a request id and an event, and checks ids, currency and counts", async () => {
    const noEvent = await callError(t.events, t.events.createEvent, { requestId: "", event: undefined }, t.operator);
    expect(noEvent.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["request_id", "event"]);

    const err = await callError(
      t.events,
      t.events.createEvent,
      {
        requestId: uid("r"),
        event: smallEvent({ eventId: "no spaces", currencyCode: "EURO", priceCategories: [], sections: [] }),
      },
      t.operator,
    );
    expect(err.badRequest?.fieldViolations.map((v) => v.field)).toEqual([
      "event.event_id",
      "event.currency_code",
      "event.price_categories",
      "event.sections",
    ]);
  });

  it("takes only ISO 4217 currencies and prices within the bound, and gives the currency's minor-unit exponent", async () => {
    const err = await callError(
      t.events,
      t.events.createEvent,
      {
        requestId: uid("r"),
        event: smallEvent({
          currencyCode: "ABC", // three capitals, but no currency
          priceCategories: [
            { priceCategoryId: "vip", name: "VIP", priceMinor: "10000000001" },
            { priceCategoryId: "std", name: "Standard", priceMinor: "4500" },
          ],
        }),
      },
      t.operator,
    );
    expect(err.badRequest?.fieldViolations.map((v) => v.field)).toEqual([
      "event.currency_code",
      "event.price_categories[0].price_minor",
    ]);

    for (const [currencyCode, digits] of [
      ["JPY", 0],
      ["EUR", 2],
      ["KWD", 3],
    ] as const) {
      const created = await call(
        t.events,
        t.events.createEvent,
        {
          requestId: uid("r"),
          event: smallEvent({
            currencyCode,
            priceCategories: [
              { priceCategoryId: "vip", name: "VIP", priceMinor: "10000000000" },
              { priceCategoryId: "std", name: "Standard", priceMinor: "0" },
            ],
          }),
        },
        t.operator,
      );
      expect(created.event?.currencyMinorDigits).toBe(digits);
      expect(created.event?.priceCategories[0]?.priceMinor).toBe("10000000000");
    }
  });

  it("refuses more than 200,000 places in total", async () => {
    const sections = Array.from({ length: 3 }, (_, i) => ga(`G${i}`, 70_000, "std"));
    const err = await callError(
      t.events,
      t.events.createEvent,
      { requestId: uid("r"), event: smallEvent({ sections }) },
      t.operator,
    );
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.badRequest?.fieldViolations).toEqual([
      { field: "event.sections", description: expect.stringMatching(/210000/) },
    ]);
  });

  it("lists a bounded number of violations for a huge bad request", async () => {
    const rows = Array.from({ length: 1000 }, (_, i): [string, number, string] => [`r${i}`, 0, "std"]);
    const err = await callError(
      t.events,
      t.events.createEvent,
      { requestId: uid("r"), event: smallEvent({ sections: [reserved("A", rows)] }) },
      t.operator,
    );
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    const n = err.badRequest!.fieldViolations.length;
    expect(n).toBeGreaterThan(10);
    expect(n).toBeLessThanOrEqual(50);
  });
});

describe("operator scope", () => {
  it("is required on operator calls: UNAUTHENTICATED for a bad token, PERMISSION_DENIED for a buyer", async () => {
    const input = smallEvent();
    const forged = new Metadata();
    forged.set("authorization", "Bearer not-a-token-at-all");
    const bad = await callError(t.events, t.events.createEvent, { requestId: uid("r"), event: input }, forged);
    expect(bad.code).toBe(status.UNAUTHENTICATED);
    expect(bad.errorInfo?.reason).toBe("TOKEN_INVALID");

    const buyer = bearer({ buyer: uid("b") });
    const refused = await callError(t.events, t.events.createEvent, { requestId: uid("r"), event: input }, buyer);
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    expect(refused.errorInfo?.reason).toBe("SCOPE_MISSING");
    expect((await callError(t.events, t.events.getEvent, { eventId: input.eventId })).code).toBe(status.NOT_FOUND);

    const req = () => ({ eventId: input.eventId, requestId: uid("r") });
    for (const e of [
      await callError(t.events, t.events.openSale, req(), buyer),
      await callError(t.events, t.events.pauseSale, req(), buyer),
      await callError(t.events, t.events.closeSale, req(), buyer),
      await callError(t.events, t.events.rebuildInventory, req(), buyer),
      await callError(t.events, t.events.getEventSummary, { eventId: input.eventId }, buyer),
    ]) {
      expect(e.errorInfo?.reason).toBe("SCOPE_MISSING");
    }
    // Reads need any verified caller, not the operator scope.
    await call(t.events, t.events.listEvents, { pageSize: 1, pageToken: "" }, buyer);
  });
});

describe("sale state", () => {
  it("moves SCHEDULED → OPEN ⇄ PAUSED → CLOSED, idempotently, and a closed sale never reopens", async () => {
    const input = smallEvent();
    await create(input);
    const id = input.eventId;
    const liveState = async () => (await summary(id)).saleState;

    const early = await callError(t.events, t.events.pauseSale, { eventId: id, requestId: uid("r") }, t.operator);
    expect(early.code).toBe(status.FAILED_PRECONDITION);
    expect(early.errorInfo?.reason).toBe("SALE_NOT_OPEN");
    expect(early.errorInfo?.metadata.sale_state).toBe("SCHEDULED");

    expect((await openSale(id)).event?.saleState).toBe(SaleState.SALE_STATE_OPEN);
    expect((await openSale(id)).event?.saleState).toBe(SaleState.SALE_STATE_OPEN);
    expect(await liveState()).toBe(SaleState.SALE_STATE_OPEN);
    await holdSeats(id, ["A-1-1"]); // the hold path sees the open sale

    const paused = await pauseSale(id);
    expect(paused.event?.saleState).toBe(SaleState.SALE_STATE_PAUSED);
    expect(paused.event?.sections).toHaveLength(3);
    expect((await pauseSale(id)).event?.saleState).toBe(SaleState.SALE_STATE_PAUSED);
    expect(await liveState()).toBe(SaleState.SALE_STATE_PAUSED);
    const refused = await callError(t.reservations, t.reservations.holdSeats, {
      eventId: id,
      buyerId: uid("b"),
      admissionToken: "",
      requestId: uid("r"),
      selection: { $case: "seats", value: { seatIds: ["A-1-2"] } },
    });
    expect(refused.errorInfo?.reason).toBe("SALE_PAUSED");

    expect((await openSale(id)).event?.saleState).toBe(SaleState.SALE_STATE_OPEN);
    expect((await closeSale(id)).event?.saleState).toBe(SaleState.SALE_STATE_CLOSED);
    expect((await closeSale(id)).event?.saleState).toBe(SaleState.SALE_STATE_CLOSED);
    expect(await liveState()).toBe(SaleState.SALE_STATE_CLOSED);
    expect((await getEvent(id)).event?.saleState).toBe(SaleState.SALE_STATE_CLOSED);

    const reopen = await callError(t.events, t.events.openSale, { eventId: id, requestId: uid("r") }, t.operator);
    expect(reopen.code).toBe(status.FAILED_PRECONDITION);
    expect(reopen.errorInfo?.reason).toBe("SALE_CLOSED");
    const pause = await callError(t.events, t.events.pauseSale, { eventId: id, requestId: uid("r") }, t.operator);
    expect(pause.errorInfo?.reason).toBe("SALE_NOT_OPEN");
    expect((await getEvent(id)).event?.saleState).toBe(SaleState.SALE_STATE_CLOSED);
  });

  it("closes a scheduled sale directly", async () => {
    const input = smallEvent();
    await create(input);
    expect((await closeSale(input.eventId)).event?.saleState).toBe(SaleState.SALE_STATE_CLOSED);
  });

  it("ends with MySQL and Redis agreeing when operators race", async () => {
    const input = smallEvent();
    await create(input);
    const id = input.eventId;
    await Promise.allSettled([openSale(id), pauseSale(id), openSale(id), closeSale(id), pauseSale(id), openSale(id)]);
    const stored = (await getEvent(id)).event!.saleState;
    expect(stored).toBe(SaleState.SALE_STATE_CLOSED);
    expect((await summary(id)).saleState).toBe(stored);
  });

  it("rebuilds a lost live state when the sale state changes", async () => {
    const input = smallEvent();
    await create(input);
    await dropLiveState(input.eventId);
    await openSale(input.eventId);
    expect(await t.app.redis.hget(eventKeys(input.eventId).meta, "state")).toBe("OPEN");
    await holdSeats(input.eventId, ["B-1-101"]);
  });
});

describe("live counts and rebuilding", () => {
  it("counts seats by state in total, per section and per price category", async () => {
    const input = smallEvent();
    await create(input);
    const id = input.eventId;
    await openSale(id);
    await holdSeats(id, ["A-1-1", "A-1-2"]); // vip
    await holdSeats(id, ["A-2-5", "B-1-104"]); // std
    await holdQuantity(id, "FLOOR", 3); // std

    const s = await summary(id);
    expect(s).toEqual({
      eventId: id,
      saleState: SaleState.SALE_STATE_OPEN,
      total: counts(114, 7, 0),
      sections: [
        { sectionId: "A", counts: counts(10, 3, 0) },
        { sectionId: "B", counts: counts(4, 1, 0) },
        { sectionId: "FLOOR", counts: counts(100, 3, 0) },
      ],
      categories: [
        { priceCategoryId: "vip", counts: counts(5, 2, 0) },
        { priceCategoryId: "std", counts: counts(109, 5, 0) },
      ],
      // Three holds, no waiting room in use, no orders yet.
      funnel: {
        waiting: 0,
        shopping: 0,
        activeHolds: 3,
        ordersPending: 0,
        ordersConfirmed: 0,
        ordersFailed: 0,
        ordersCancelled: 0,
        ordersRefunded: 0,
        ticketsValid: 0,
        ticketsCheckedIn: 0,
        admissionsPerSecond: 0,
      },
    });

    const map = await seatMap(id);
    expect(map.sections[0]!.rows.map((r) => r.states)).toEqual(["HHFFF", "FFFFH"]);
    expect(map.sections[1]!.rows[0]!.states).toBe("FFFH");
    expect(map.sections[2]!.counts).toEqual(counts(100, 3, 0));
  });

  it("RebuildInventory restores the live state from MySQL: sold stays sold, holds are dropped", async () => {
    const input = smallEvent();
    await create(input);
    const id = input.eventId;
    await openSale(id);
    await holdSeats(id, ["A-2-1"]);
    const before = BigInt((await seatMap(id)).version);
    await confirmOrder(id, "buyer_1", { seats: ["A-1-3", "A-1-4"] });
    await confirmOrder(id, "buyer_2", { seats: ["B-1-102"] });
    await confirmOrder(id, "buyer_2", { ga: ["FLOOR", 5] });

    await dropLiveState(id);
    const rebuilt = await rebuild(id);
    expect(rebuilt.total).toEqual(counts(114, 0, 8));

    const map = await seatMap(id);
    expect(map.sections.map((s) => s.rows.map((r) => r.states))).toEqual([["FFSSF", "FFFFF"], ["FSFF"], []]);
    expect(map.sections[2]!.counts).toEqual(counts(100, 0, 5));
    const s = await summary(id);
    expect(s.saleState).toBe(SaleState.SALE_STATE_OPEN);
    expect(s.categories).toEqual([
      { priceCategoryId: "vip", counts: counts(5, 0, 2) },
      { priceCategoryId: "std", counts: counts(109, 0, 6) },
    ]);
    expect(before).toBeGreaterThan(0n);
    // The buyers' purchases count against their limit again.
    const buyer = await t.app.redis.hgetall(eventKeys(id).buyer("buyer_2"));
    expect(Object.values(buyer)).toContain("6");

    // On a live state too: the hold is dropped, sold seats stay.
    await holdSeats(id, ["A-2-2"]);
    expect((await rebuild(id)).total).toEqual(counts(114, 0, 8));
  });

  it("rebuilds a lost live state on read (GetSeatMap, GetEventSummary)", async () => {
    const input = smallEvent();
    await create(input);
    const id = input.eventId;
    await openSale(id);
    await confirmOrder(id, "buyer_3", { seats: ["A-1-5"] });
    await dropLiveState(id);
    const map = await seatMap(id);
    expect(map.sections[0]!.rows[0]!.states).toBe("FFFFS");
    await dropLiveState(id);
    const s = await summary(id);
    expect(s.saleState).toBe(SaleState.SALE_STATE_OPEN);
    expect(s.total).toEqual(counts(114, 0, 1));
  });

  it("rebuildMissing at start-up loads events whose sale is not closed and whose live state is gone", async () => {
    const open = smallEvent();
    const closed = smallEvent();
    const intact = smallEvent();
    for (const e of [open, closed, intact]) await create(e);
    await openSale(open.eventId);
    await closeSale(closed.eventId);
    await dropLiveState(open.eventId);
    await dropLiveState(closed.eventId);

    // A second process on the same MySQL and Redis, as at a restart.
    const inventory = new Inventory({ redis: t.app.redis, scripts: new Scripts(t.app.redis) });
    const events = new Events({ store: new EventStore(t.app.mysql), inventory, log: createLogger("silent", "test") });
    const rebuilt = await events.rebuildMissing();
    expect(rebuilt).toBeGreaterThanOrEqual(1);
    expect(await t.app.redis.hget(eventKeys(open.eventId).meta, "state")).toBe("OPEN");
    expect(await t.app.redis.exists(eventKeys(closed.eventId).meta)).toBe(0);
    expect(await t.app.redis.hget(eventKeys(intact.eventId).meta, "state")).toBe("SCHEDULED");
    expect(await events.rebuildMissing()).toBe(0);
  });
});
