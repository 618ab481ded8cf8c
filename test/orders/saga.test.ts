// The saga's failure paths: payment window, cancel before confirmation, and
// a seat lost because Redis lost a hold while another buyer took it.
import type { RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventKeys } from "../../src/adapters/redis/keys.js";
import { OrderState } from "../../src/gen/ticketing/v1/order_service.js";
import { call, uid } from "../support/app.js";
import {
  createOrder,
  holdSeats,
  ledgerState,
  openSaleEvent,
  startCheckoutStack,
  watchUntilFinal,
  type CheckoutStack,
} from "../support/checkout.js";

const final = async (s: CheckoutStack, orderId: string) => {
  const states = await watchUntilFinal(s.t, orderId);
  return states[states.length - 1]!;
};

async function seatRow(s: CheckoutStack, eventId: string, rowIndex = 0): Promise<string> {
  const map = await call(s.t.events, s.t.events.getSeatMap, { eventId });
  return map.sections.find((x) => x.sectionId === "A")!.rows[rowIndex]!.states;
}

describe("a payment provider slower than the payment window", () => {
  let s: CheckoutStack;
  beforeAll(async () => {
    s = await startCheckoutStack({ PAYMENT_WINDOW_SECONDS: "5" }, { PAYMENT_SIM_LATENCY_MS: "8000" });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("fails the order when the window elapses, releases the seats and voids", async () => {
    const eventId = await openSaleEvent(s.t);
    const hold = await holdSeats(s.t, eventId, uid("slow"), ["A-1-3"]);
    const order = await createOrder(s.t, hold, "tok_approve");
    const last = await final(s, order.orderId);
    expect(last.state).toBe(OrderState.ORDER_STATE_FAILED);
    expect(last.failureReason).toBe("PAYMENT_WINDOW_ELAPSED");
    expect(await seatRow(s, eventId)).toBe("FFFFFFFFFF");
    // The provider may finish the abandoned authorization later; whatever it did is voided.
    expect(["none", "VOIDED"]).toContain(await ledgerState(s.t, order.orderId));
  });
});

describe("checkouts with a provider that takes a moment", () => {
  let s: CheckoutStack;
  beforeAll(async () => {
    s = await startCheckoutStack({}, { PAYMENT_SIM_LATENCY_MS: "1500" });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("cancels before confirmation: CANCELLED, authorization voided, seats free", async () => {
    const eventId = await openSaleEvent(s.t);
    const hold = await holdSeats(s.t, eventId, uid("fickle"), ["A-1-4", "A-1-5"]);
    const order = await createOrder(s.t, hold, "tok_approve");
    expect(order.state).toBe(OrderState.ORDER_STATE_PENDING_PAYMENT);
    const res = await call(s.t.orders, s.t.orders.cancelOrder, {
      orderId: order.orderId,
      buyerId: hold.buyerId,
      requestId: uid("c"),
      force: false,
      ticketIds: [],
    });
    expect(res.order!.state).toBe(OrderState.ORDER_STATE_CANCELLED);
    expect(["none", "VOIDED"]).toContain(await ledgerState(s.t, order.orderId));
    expect(await seatRow(s, eventId)).toBe("FFFFFFFFFF");
  });

  it("sells a seat once when Redis lost a hold and another buyer took the seat: one confirmed, the other voided", async () => {
    const eventId = await openSaleEvent(s.t);
    const first = await holdSeats(s.t, eventId, uid("first"), ["A-2-1", "A-2-2"]);
    const firstOrder = await createOrder(s.t, first, "tok_approve");

    // Redis loses the event's live state (not the MySQL truth) while payment is in flight...
    const k = eventKeys(eventId);
    await s.t.app.redis.del(
      k.meta,
      k.seats,
      k.layout,
      k.expiries,
      k.version,
      k.changes,
      k.ga("FLOOR"),
      k.gaQuantities("FLOOR"),
      k.gaExpiries("FLOOR"),
    );
    // ...the next read rebuilds it from MySQL, where nothing is sold yet, and another buyer takes a seat.
    expect(await seatRow(s, eventId, 1)).toBe("FFFFFFFFFF");
    const second = await holdSeats(s.t, eventId, uid("second"), ["A-2-2", "A-2-3"]);
    const secondOrder = await createOrder(s.t, second, "tok_approve");

    const [a, b] = await Promise.all([final(s, firstOrder.orderId), final(s, secondOrder.orderId)]);
    const states = [a.state, b.state].sort();
    expect(states).toEqual([OrderState.ORDER_STATE_CONFIRMED, OrderState.ORDER_STATE_FAILED].sort());
    const loser = a.state === OrderState.ORDER_STATE_FAILED ? a : b;
    const winner = loser === a ? b : a;
    expect(loser.failureReason).toBe("SEATS_LOST");
    expect(await ledgerState(s.t, winner.orderId)).toBe("CAPTURED");
    expect(await ledgerState(s.t, loser.orderId)).toBe("VOIDED");
    // MySQL: A-2-2 has exactly one sold item; Redis agrees the winner's seats are sold.
    const [items] = await s.t.app.mysql.query<RowDataPacket[]>(
      "SELECT order_id FROM order_items WHERE event_id = ? AND sold_seat_id = 'A-2-2'",
      [eventId],
    );
    expect(items.map((r) => r.order_id)).toEqual([winner.orderId]);
    const row = await seatRow(s, eventId, 1);
    for (const seat of winner.seatIds) expect(row[Number(seat.split("-")[2]) - 1]).toBe("S");
  });
});

describe("a flaky payment provider (calls failing, responses lost)", () => {
  let s: CheckoutStack;
  beforeAll(async () => {
    s = await startCheckoutStack(
      {},
      {
        PAYMENT_SIM_LATENCY_MS: "0-20",
        PAYMENT_SIM_FAILURE_RATIO: "0.2",
        PAYMENT_SIM_LOST_RESPONSE_RATIO: "0.2",
        PAYMENT_SIM_DECLINE_RATIO: "0.2",
      },
    );
  });
  afterAll(async () => {
    await s?.stop();
  });

  it(
    "retries to a final state for every order and charges exactly the confirmed ones once",
    { timeout: 180_000 },
    async () => {
      const eventId = await openSaleEvent(s.t);
      const seats = Array.from({ length: 12 }, (_, i) => `A-${1 + Math.floor(i / 10)}-${1 + (i % 10)}`);
      const orders = await Promise.all(
        seats.map(async (seat) => createOrder(s.t, await holdSeats(s.t, eventId, uid("buyer"), [seat]), "tok_card")),
      );
      const finals = await Promise.all(orders.map((o) => final(s, o.orderId)));
      const [ledger] = await s.t.app.mysql.query<RowDataPacket[]>(
        "SELECT idempotency_key, state FROM simulated_payments WHERE idempotency_key IN (?)",
        [orders.map((o) => `${o.orderId}:payment`)],
      );
      // One ledger entry per authorized order, whatever the retries.
      expect(new Set(ledger.map((r) => r.idempotency_key)).size).toBe(ledger.length);
      const state = new Map(ledger.map((r) => [String(r.idempotency_key).replace(/:payment$/, ""), String(r.state)]));
      for (const o of finals) {
        if (o.state === OrderState.ORDER_STATE_CONFIRMED) expect(state.get(o.orderId)).toBe("CAPTURED");
        else {
          expect(o.state).toBe(OrderState.ORDER_STATE_FAILED);
          expect(["DECLINED", "VOIDED", undefined]).toContain(state.get(o.orderId));
        }
      }
    },
  );
});
