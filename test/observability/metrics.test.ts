// The metrics of a scripted on-sale, against the real API, worker, Temporal,
// MySQL and Redis: the scrape is valid exposition text, the funnel shows
// exactly what happened and exactly what GetEventSummary says, and no label
// carries a buyer, hold, order or ticket id.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderState } from "../../src/gen/ticketing/v1/order_service.js";
import { type GetEventSummaryResponse } from "../../src/gen/ticketing/v1/event_service.js";
import { call, freePort, startTestApp, uid } from "../support/app.js";
import {
  createOrder,
  holdSeats,
  openSaleEvent,
  startCheckoutStack,
  watchUntilFinal,
  type CheckoutStack,
} from "../support/checkout.js";
import { allSamples, parseExposition, scrape, valueOf, type Family } from "./prom-text.js";
import { oneRowEvent } from "../support/events.js";

let s: CheckoutStack;
beforeAll(async () => {
  // Retention 0: a closed sale's labels go at the next scrape (the last test checks it).
  s = await startCheckoutStack({ METRICS_EVENT_RETENTION_SECONDS: "0" });
});
afterAll(async () => {
  await s?.stop();
});

/** Ids that must never become label values. */
const secrets = new Set<string>();

async function apiScrape(): Promise<Map<string, Family>> {
  return (await scrape(s.t.app.metricsPort!)).families;
}

describe("metrics", () => {
  let eventId: string;
  let summary: GetEventSummaryResponse;
  let api: Map<string, Family>;

  beforeAll(async () => {
    eventId = await openSaleEvent(s.t);
    // Two seats bought and one checked in; one seat held and released; three standing places held.
    const buyer = uid("alice");
    const hold = await holdSeats(s.t, eventId, buyer, ["A-1-1", "A-1-2"]);
    const order = await createOrder(s.t, hold, "tok_approve");
    const states = await watchUntilFinal(s.t, order.orderId);
    expect(states.at(-1)!.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    const confirmed = (await call(s.t.orders, s.t.orders.getOrder, { orderId: order.orderId })).order!;
    await call(s.t.tickets, s.t.tickets.checkIn, {
      code: confirmed.tickets[0]!.code,
      gateId: "north-1",
      requestId: uid("scan"),
    });

    const changer = uid("bob");
    const released = await holdSeats(s.t, eventId, changer, ["A-2-5"]);
    await call(s.t.reservations, s.t.reservations.releaseHold, {
      eventId,
      holdId: released.holdId,
      buyerId: changer,
      requestId: uid("rel"),
    });

    const standing = uid("carol");
    const ga = await call(s.t.reservations, s.t.reservations.holdSeats, {
      eventId,
      buyerId: standing,
      admissionToken: "",
      requestId: uid("r"),
      selection: { $case: "generalAdmission", value: { sectionId: "FLOOR", quantity: 3 } },
    });
    for (const id of [
      buyer,
      changer,
      standing,
      hold.holdId,
      released.holdId,
      ga.hold!.holdId,
      order.orderId,
      ...confirmed.tickets.map((t) => t.ticketId),
    ]) {
      secrets.add(id);
    }

    api = await apiScrape();
    summary = await call(s.t.events, s.t.events.getEventSummary, { eventId });
  });

  it("serves valid exposition text with the per-method gRPC metrics", () => {
    // scrape() parsed it strictly; a few families that must be there:
    for (const name of [
      "grpc_server_handled_total",
      "grpc_server_handling_seconds",
      "ticketing_seats",
      "ticketing_orders",
      "process_cpu_user_seconds_total",
    ]) {
      expect(api.has(name), name).toBe(true);
    }
    expect(valueOf(api, "grpc_server_handled_total", { grpc_method: "HoldSeats", grpc_code: "OK" })).toBe(3);
    expect(valueOf(api, "grpc_server_handled_total", { grpc_method: "CheckIn", grpc_code: "OK" })).toBe(1);
  });

  it("the strict parser refuses broken exposition text", () => {
    expect(() => parseExposition('a_total{x="1"} 1\na_total{x="1"} 2\n')).toThrow(/duplicate series/);
    expect(() => parseExposition("# TYPE a counter\na -1\n")).toThrow(/negative/);
    expect(() => parseExposition('a{x="1} 1\n')).toThrow();
    expect(() => parseExposition("# TYPE a gauge\na 1,5\n")).toThrow(/bad value/);
    expect(parseExposition("# TYPE a gauge\na Nan\n").get("a")!.samples[0]!.value).toBeNaN();
    expect(() =>
      parseExposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'),
    ).toThrow(/cumulative/);
    expect(() => parseExposition("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n")).toThrow(/appears again/);
  });

  it("shows exactly the scripted numbers, equal to GetEventSummary", () => {
    const ev = { event_id: eventId };
    const seats = (section: string, state: string) =>
      valueOf(api, "ticketing_seats", { ...ev, section_id: section, state });
    // What the script did.
    expect(seats("A", "sold")).toBe(2);
    expect(seats("A", "held")).toBe(0);
    expect(seats("A", "free")).toBe(18);
    expect(seats("FLOOR", "held")).toBe(3);
    expect(seats("FLOOR", "free")).toBe(17);
    expect(valueOf(api, "ticketing_seats_capacity", { ...ev, section_id: "FLOOR" })).toBe(20);
    expect(valueOf(api, "ticketing_orders", { ...ev, state: "confirmed" })).toBe(1);
    expect(valueOf(api, "ticketing_tickets", { ...ev, state: "valid" })).toBe(2);
    expect(valueOf(api, "ticketing_tickets", { ...ev, state: "checked_in" })).toBe(1);
    expect(valueOf(api, "ticketing_event_sale_state", { ...ev, state: "OPEN" })).toBe(1);
    expect(valueOf(api, "ticketing_seats_sold_mysql", ev)).toBe(2);
    expect(valueOf(api, "ticketing_event_capacity", ev)).toBe(40);
    expect(valueOf(api, "ticketing_payments_authorized", ev)).toBe(0);
    expect(valueOf(api, "ticketing_hold_attempts_total", { ...ev, kind: "seats", result: "ok" })).toBe(2);
    expect(valueOf(api, "ticketing_hold_attempts_total", { ...ev, kind: "quantity", result: "ok" })).toBe(1);
    expect(valueOf(api, "ticketing_holds_ended_total", { ...ev, reason: "released" })).toBe(1);

    // And the same numbers GetEventSummary answers with.
    for (const section of summary.sections) {
      for (const state of ["free", "held", "sold"] as const) {
        expect(seats(section.sectionId, state), `${section.sectionId} ${state}`).toBe(section.counts![state]);
      }
      expect(valueOf(api, "ticketing_seats_capacity", { ...ev, section_id: section.sectionId })).toBe(
        section.counts!.capacity,
      );
    }
    const f = summary.funnel!;
    expect(valueOf(api, "ticketing_holds_active", ev)).toBe(f.activeHolds);
    expect(f.activeHolds).toBeGreaterThan(0);
    expect(valueOf(api, "ticketing_orders", { ...ev, state: "confirmed" })).toBe(f.ordersConfirmed);
    expect(valueOf(api, "ticketing_orders", { ...ev, state: "pending" })).toBe(f.ordersPending);
    expect(valueOf(api, "ticketing_orders", { ...ev, state: "failed" })).toBe(f.ordersFailed);
    expect(valueOf(api, "ticketing_tickets", { ...ev, state: "valid" })).toBe(f.ticketsValid);
    expect(valueOf(api, "ticketing_tickets", { ...ev, state: "checked_in" })).toBe(f.ticketsCheckedIn);
    expect(
      valueOf(api, "ticketing_queue_buyers", { ...ev, state: "pre_queue" })! +
        valueOf(api, "ticketing_queue_buyers", { ...ev, state: "waiting" })!,
    ).toBe(f.waiting);
    expect(valueOf(api, "ticketing_queue_buyers", { ...ev, state: "shopping" })).toBe(f.shopping);
  });

  it("the worker's scrape shows the checkout, its activities and the payment calls", async () => {
    const worker = (await scrape(s.worker.running.metricsPort!)).families;
    expect(valueOf(worker, "ticketing_checkout_seconds_count", { outcome: "CONFIRMED" })).toBe(1);
    expect(valueOf(worker, "ticketing_payment_gateway_seconds_count", { operation: "authorize", result: "ok" })).toBe(
      1,
    );
    expect(valueOf(worker, "ticketing_payment_gateway_seconds_count", { operation: "capture", result: "ok" })).toBe(1);
    expect(valueOf(worker, "ticketing_payment_gateway_seconds_count", { operation: "void" })).toBeUndefined();
    expect(valueOf(worker, "ticketing_activity_seconds_count", { activity: "authorizePayment", outcome: "ok" })).toBe(
      1,
    );
    expect(valueOf(worker, "ticketing_activity_seconds_count", { activity: "beginCheckout", outcome: "ok" })).toBe(1);
    // No funnel gauges in the worker: the API exports them once.
    expect(worker.has("ticketing_seats")).toBe(false);
    for (const sample of allSamples(worker)) {
      for (const value of Object.values(sample.labels))
        expect(secrets.has(value), `${sample.name} ${value}`).toBe(false);
    }
  });

  it("follows a waiting room from the pre-queue to shopping: counts equal to GetEventSummary", async () => {
    const roomEvent = uid("ev");
    await call(
      s.t.events,
      s.t.events.createEvent,
      {
        requestId: uid("create"),
        event: oneRowEvent(
          roomEvent,
          { name: "Queue night", seatCount: 20, priceMinor: "4500", maxTicketsPerBuyer: 2 },
          {
            waitingRoom: {
              enabled: true,
              admissionsPerSecond: 50,
              maxShopping: 100,
              sessionSeconds: 600,
              shuffleSeedSha256: "",
            },
          },
        ),
      },
      s.t.operator,
    );
    const buyers = Array.from({ length: 5 }, () => uid("fan"));
    for (const buyerId of buyers) {
      secrets.add(buyerId);
      await call(s.t.queue, s.t.queue.joinQueue, { eventId: roomEvent, buyerId, requestId: uid("j") });
    }
    const ev = { event_id: roomEvent };
    const before = await apiScrape();
    expect(valueOf(before, "ticketing_queue_buyers", { ...ev, state: "pre_queue" })).toBe(5);
    expect(valueOf(before, "ticketing_queue_buyers", { ...ev, state: "waiting" })).toBe(0);
    expect(valueOf(before, "ticketing_event_sale_state", { ...ev, state: "SCHEDULED" })).toBe(1);
    expect(valueOf(before, "ticketing_queue_max_shopping", ev)).toBe(100);

    await call(s.t.events, s.t.events.openSale, { eventId: roomEvent, requestId: uid("open") }, s.t.operator);
    // Admission lets all five in within a few steps (50 per second).
    let after = await apiScrape();
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; after = await apiScrape()) {
      if (valueOf(after, "ticketing_queue_buyers", { ...ev, state: "shopping" }) === 5) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const roomSummary = await call(s.t.events, s.t.events.getEventSummary, { eventId: roomEvent });
    expect(valueOf(after, "ticketing_queue_buyers", { ...ev, state: "shopping" })).toBe(5);
    expect(roomSummary.funnel!.shopping).toBe(5);
    expect(valueOf(after, "ticketing_queue_buyers", { ...ev, state: "pre_queue" })).toBe(0);
    expect(valueOf(after, "ticketing_queue_buyers", { ...ev, state: "waiting" })).toBe(roomSummary.funnel!.waiting);
    expect(roomSummary.funnel!.waiting).toBe(0);
    // Admissions are counted by the process whose step let them in: any API
    // on this Redis may step the room (other test files' APIs too), so this
    // process counted at most the five, each once.
    expect(valueOf(after, "ticketing_queue_admitted_total", ev) ?? 0).toBeLessThanOrEqual(5);
  });

  it("no label anywhere is a buyer, hold, order or ticket id", async () => {
    api = await apiScrape();
    expect(secrets.size).toBeGreaterThan(5);
    let labelled = 0;
    for (const sample of allSamples(api)) {
      for (const value of Object.values(sample.labels)) {
        labelled++;
        expect(secrets.has(value), `${sample.name} has label value ${value}`).toBe(false);
        expect(value, sample.name).not.toMatch(/^(h|o|t)_[A-Za-z0-9_-]{12,}$/);
      }
    }
    expect(labelled).toBeGreaterThan(100);
  });

  it("with Redis down the scrape still answers: the funnel is absent and its read errors counted", async () => {
    // A second API on the same database, its Redis a port where nothing listens.
    const down = await startTestApp({
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      MYSQL_URL: s.t.config.MYSQL_URL,
    });
    try {
      const { families } = await scrape(down.app.metricsPort!);
      expect(families.has("process_cpu_user_seconds_total")).toBe(true);
      expect(families.get("ticketing_seats")!.samples).toEqual([]);
      expect(valueOf(families, "ticketing_funnel_read_errors_total")).toBeGreaterThanOrEqual(2);
    } finally {
      await down.stop();
    }
  });

  it("a closed sale's event leaves every label once its retention has passed", async () => {
    expect(allSamples(await apiScrape()).some((x) => x.labels.event_id === eventId)).toBe(true);
    await call(s.t.events, s.t.events.closeSale, { eventId, requestId: uid("close") }, s.t.operator);
    // The first scrape after closing drops it (retention 0); counters go at the same pass.
    await apiScrape();
    const after = await apiScrape();
    expect(allSamples(after).filter((x) => x.labels.event_id === eventId)).toEqual([]);
  });
});
