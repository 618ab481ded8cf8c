// The checkout saga end to end through the Stripe adapter: the API and the
// worker (PAYMENT_PROVIDER=stripe) against stripe-mock behind the recording
// proxy, which plays the provider's part where stripe-mock cannot (a decline,
// 3-D Secure, a capture refused). Each case ends in its final state, with
// the provider calls the saga owes it: capture for a sale, cancel (void) for
// a failure, a refund for a cancellation after confirmation.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderState, type Order } from "../../src/gen/ticketing/v1/order_service.js";
import { call, callError, uid } from "../support/app.js";
import {
  createOrder,
  holdSeats,
  openSaleEvent,
  startCheckoutStack,
  watchUntilFinal,
  type CheckoutStack,
} from "../support/checkout.js";
import { bearer } from "../support/identity.js";
import { startStripeMock, stripeError, type StripeMock } from "../support/stripe-mock.js";

const SECRET = "sk_test_51SagaKeyThatMustNeverLeak0123456789";
let mock: StripeMock;
let s: CheckoutStack;
let eventId: string;
let seat = 0;

beforeAll(async () => {
  mock = await startStripeMock();
  s = await startCheckoutStack(
    {},
    { PAYMENT_PROVIDER: "stripe", STRIPE_SECRET_KEY: SECRET, STRIPE_API_BASE: mock.url },
  );
  eventId = await openSaleEvent(s.t, { maxTicketsPerBuyer: 20 });
}, 120_000);
afterAll(async () => {
  await s?.stop();
  await mock?.stop();
});

/** A checkout of one fresh seat, followed to its final state. */
async function checkout(): Promise<Order> {
  seat += 1;
  const hold = await holdSeats(s.t, eventId, uid("sb"), [`A-${seat <= 10 ? 1 : 2}-${((seat - 1) % 10) + 1}`]);
  const order = await createOrder(s.t, hold, "pm_card_visa");
  return (await watchUntilFinal(s.t, order.orderId)).pop()!;
}

/** The provider calls made for one order's payment, as "METHOD path-kind idempotency-suffix". */
function callsFor(orderId: string): string[] {
  return mock.requests
    .filter((r) => String(r.headers["idempotency-key"] ?? "").startsWith(`${orderId}:payment`))
    .map((r) => String(r.headers["idempotency-key"]).slice(`${orderId}:payment:`.length));
}

const approve = () =>
  mock.rules.push({
    method: "POST",
    path: /^\/v1\/payment_intents\/[^/]+\/confirm$/,
    rewrite: (body) => ({ ...body, status: "requires_capture" }),
  });

describe("the checkout through Stripe", () => {
  it("authorizes, captures and confirms; a cancellation after it refunds", async () => {
    mock.rules.length = 0;
    approve();
    const order = await checkout();
    expect(order.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    expect(callsFor(order.orderId)).toEqual(["create", "confirm", "capture"]);

    const cancelled = await call(
      s.t.orders,
      s.t.orders.cancelOrder,
      { orderId: order.orderId, buyerId: "", requestId: uid("x"), force: false, ticketIds: [] },
      bearer({ buyer: order.buyerId }),
    );
    expect(cancelled.order?.state).toBe(OrderState.ORDER_STATE_REFUNDED);
    expect(callsFor(order.orderId)).toEqual(["create", "confirm", "capture", "refund"]);
  });

  it("after a ticket is checked in, a buyer's refund is refused without a provider call; an operator's forced refund refunds", async () => {
    mock.rules.length = 0;
    approve();
    const order = await checkout();
    expect(order.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    const { order: full } = await call(s.t.orders, s.t.orders.getOrder, { orderId: order.orderId });
    await call(s.t.tickets, s.t.tickets.checkIn, {
      code: full!.tickets[0]!.code,
      gateId: "door-1",
      requestId: uid("scan"),
    });

    const refused = await callError(
      s.t.orders,
      s.t.orders.cancelOrder,
      { orderId: order.orderId, buyerId: "", requestId: uid("x"), force: false, ticketIds: [] },
      bearer({ buyer: order.buyerId }),
    );
    expect(refused.errorInfo?.reason).toBe("TICKETS_CHECKED_IN");
    expect(callsFor(order.orderId)).toEqual(["create", "confirm", "capture"]);

    const forced = await call(
      s.t.orders,
      s.t.orders.cancelOrder,
      { orderId: order.orderId, buyerId: order.buyerId, requestId: uid("x"), force: true, ticketIds: [] },
      s.t.operator,
    );
    expect(forced.order?.state).toBe(OrderState.ORDER_STATE_REFUNDED);
    expect(callsFor(order.orderId)).toEqual(["create", "confirm", "capture", "refund"]);
    const refund = mock.requests.find((r) => r.headers["idempotency-key"] === `${order.orderId}:payment:refund`);
    expect(refund?.path).toBe("/v1/refunds");
  });

  it("a partial refund sends the tickets' amount under a key of its own; the rest refunds the remainder", async () => {
    mock.rules.length = 0;
    approve();
    const own = await openSaleEvent(s.t);
    const hold = await holdSeats(s.t, own, uid("sp"), ["A-1-1", "A-1-2", "A-2-1"]);
    const created = await createOrder(s.t, hold, "pm_card_visa");
    expect((await watchUntilFinal(s.t, created.orderId)).pop()!.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    const { order } = await call(s.t.orders, s.t.orders.getOrder, { orderId: created.orderId });
    const back = order!.tickets.find((t) => t.seatId === "A-2-1")!;

    const partial = await call(
      s.t.orders,
      s.t.orders.cancelOrder,
      { orderId: order!.orderId, buyerId: "", requestId: uid("x"), force: false, ticketIds: [back.ticketId] },
      bearer({ buyer: order!.buyerId }),
    );
    expect(partial.order?.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    expect(partial.order?.refundedAmountMinor).toBe("3000");
    const refunds = () => mock.requests.filter((r) => r.path === "/v1/refunds" && r.headers["idempotency-key"]);
    const first = refunds().filter((r) => String(r.headers["idempotency-key"]).startsWith(`${order!.orderId}:`));
    expect(first).toHaveLength(1);
    expect(first[0]!.form.get("amount")).toBe("3000");
    expect(String(first[0]!.headers["idempotency-key"])).toMatch(
      new RegExp(`^${order!.orderId}:payment:refund:[0-9a-f]{24}$`),
    );

    // The rest (an empty ticket_ids): the two front seats' 100.00, under its own key too.
    const rest = await call(
      s.t.orders,
      s.t.orders.cancelOrder,
      { orderId: order!.orderId, buyerId: "", requestId: uid("x"), force: false, ticketIds: [] },
      bearer({ buyer: order!.buyerId }),
    );
    expect(rest.order?.state).toBe(OrderState.ORDER_STATE_REFUNDED);
    expect(rest.order?.refundedAmountMinor).toBe("13000");
    const all = refunds().filter((r) => String(r.headers["idempotency-key"]).startsWith(`${order!.orderId}:`));
    expect(all.map((r) => r.form.get("amount"))).toEqual(["3000", "10000"]);
    expect(new Set(all.map((r) => r.headers["idempotency-key"])).size).toBe(2);
  });

  it("a lost confirmation answer: the activity's retry reads the intent, and the order confirms with one charge", async () => {
    mock.rules.length = 0;
    // stripe-node resends once on a closed connection: lose both answers, so the activity retries.
    mock.rules.push({ path: /\/confirm$/, dropResponse: true, times: 2 });
    mock.rules.push({
      method: "GET",
      path: /^\/v1\/payment_intents\/[^/]+$/,
      rewrite: (body) => ({ ...body, status: "requires_capture" }),
    });
    const order = await checkout();
    expect(order.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    // One intent created, confirmed (twice, both answers lost), captured once.
    expect(callsFor(order.orderId).filter((c) => c !== "confirm")).toEqual(["create", "capture"]);
  });

  it("a declined card fails the order with PAYMENT_DECLINED, frees the seat and voids the intent", async () => {
    mock.rules.length = 0;
    mock.rules.push({
      path: /\/confirm$/,
      respond: stripeError(402, {
        type: "card_error",
        code: "card_declined",
        decline_code: "generic_decline",
        message: "Your card was declined.",
      }),
    });
    const order = await checkout();
    expect(order.state).toBe(OrderState.ORDER_STATE_FAILED);
    expect(order.failureReason).toBe("PAYMENT_DECLINED");
    expect(callsFor(order.orderId)).toEqual(["create", "confirm", "void"]);
  });

  it("a card that needs 3-D Secure fails the order with PAYMENT_AUTHENTICATION_REQUIRED", async () => {
    mock.rules.length = 0;
    mock.rules.push({ path: /\/confirm$/, rewrite: (body) => ({ ...body, status: "requires_action" }) });
    const order = await checkout();
    expect(order.state).toBe(OrderState.ORDER_STATE_FAILED);
    expect(order.failureReason).toBe("PAYMENT_AUTHENTICATION_REQUIRED");
    expect(callsFor(order.orderId)).toContain("void");
  });

  it("a capture the provider refuses (the authorization expired) fails the order with CAPTURE_FAILED and gives the seat back", async () => {
    mock.rules.length = 0;
    approve();
    mock.rules.push({
      path: /\/capture$/,
      respond: stripeError(400, {
        type: "invalid_request_error",
        code: "payment_intent_unexpected_state",
        message: "This PaymentIntent could not be captured because it has a status of canceled.",
      }),
    });
    mock.rules.push({
      method: "GET",
      path: /^\/v1\/payment_intents\//,
      rewrite: (body) => ({ ...body, status: "canceled", cancellation_reason: "automatic" }),
    });
    const order = await checkout();
    expect(order.state).toBe(OrderState.ORDER_STATE_FAILED);
    expect(order.failureReason).toBe("CAPTURE_FAILED");
    const map = await call(s.t.events, s.t.events.getSeatMap, { eventId });
    const [, row, number] = order.seatIds[0]!.split("-");
    const states = map.sections.find((x) => x.sectionId === "A")!.rows.find((r) => r.rowId === row)!.states;
    expect(states[Number(number) - 1]).toBe("F");
  });
});
