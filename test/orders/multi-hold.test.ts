// Orders over several holds (CreateOrder with hold_ids): the order pins all
// of them or none, charges the sum, sells every seat and place or none, and
// refunds per seat. Against the real stack: the API, the worker, Temporal,
// MySQL, Redis and the payment simulator's ledger.
import { status, type ServiceError } from "@grpc/grpc-js";
import type { RowDataPacket } from "mysql2/promise";
import { describe, expect, it } from "vitest";
import { decodeStatus } from "../../src/grpc/errors.js";
import { OrderState, type CreateOrderRequest, type Order } from "../../src/gen/ticketing/v1/order_service.js";
import { HoldState, type Hold } from "../../src/gen/ticketing/v1/reservation_service.js";
import { call, callError, uid } from "../support/app.js";
import {
  holdSeats,
  ledgerState,
  openSaleEvent,
  checkoutStackForThisFile,
  watchUntilFinal,
} from "../support/checkout.js";
import { bearer } from "../support/identity.js";

const s = checkoutStackForThisFile();

function orderRequest(eventId: string, holds: Hold[], key = uid("k"), token = "tok_approve"): CreateOrderRequest {
  return {
    eventId,
    holdId: "",
    holdIds: holds.map((h) => h.holdId),
    buyerId: holds[0]!.buyerId,
    idempotencyKey: key,
    payment: { paymentMethodToken: token },
  };
}

const createOrder = async (req: CreateOrderRequest) => (await call(s.t.orders, s.t.orders.createOrder, req)).order!;

async function floorHold(eventId: string, buyerId: string, quantity: number): Promise<Hold> {
  const res = await call(s.t.reservations, s.t.reservations.holdSeats, {
    eventId,
    buyerId,
    admissionToken: "",
    requestId: uid("r"),
    selection: { $case: "generalAdmission", value: { sectionId: "FLOOR", quantity } },
  });
  return res.hold!;
}

const getHold = async (eventId: string, holdId: string) =>
  (await call(s.t.reservations, s.t.reservations.getHold, { eventId, holdId })).hold!;

async function finalOrder(orderId: string): Promise<Order> {
  await watchUntilFinal(s.t, orderId);
  return (await call(s.t.orders, s.t.orders.getOrder, { orderId })).order!;
}

async function seatMap(eventId: string) {
  const map = await call(s.t.events, s.t.events.getSeatMap, { eventId });
  const a = map.sections.find((x) => x.sectionId === "A")!;
  return {
    row1: a.rows[0]!.states,
    row2: a.rows[1]!.states,
    floorSold: map.sections.find((x) => x.sectionId === "FLOOR")!.counts!.sold,
  };
}

/** Seat ids MySQL has sold more than once in the event (must be none). */
async function doubleSold(eventId: string): Promise<string[]> {
  const [rows] = await s.t.app.mysql.query<RowDataPacket[]>(
    `SELECT sold_seat_id FROM order_items WHERE event_id = ? AND sold_seat_id IS NOT NULL
      GROUP BY sold_seat_id HAVING COUNT(*) > 1`,
    [eventId],
  );
  return rows.map((r) => String(r.sold_seat_id));
}

describe("orders over several holds", () => {
  it("confirms two seat holds and a floor hold as one order, then refunds one seat and the rest", async () => {
    const eventId = await openSaleEvent(s.t);
    const buyer = uid("multi");
    const front = await holdSeats(s.t, eventId, buyer, ["A-1-1", "A-1-2"]);
    const back = await holdSeats(s.t, eventId, buyer, ["A-2-1"]);
    const floor = await floorHold(eventId, buyer, 2);
    const created = await createOrder(orderRequest(eventId, [floor, back, front]));
    // 2 x 50.00 + 30.00 + 2 x 20.00
    expect(created.amountMinor).toBe("17000");
    expect(created.quantity).toBe(5);
    const sorted = [front, back, floor].map((h) => h.holdId).sort();
    expect(created.holds.map((h) => h.holdId)).toEqual(sorted);
    expect(created.holdId).toBe(sorted[0]);

    const order = await finalOrder(created.orderId);
    expect(order.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    expect(await ledgerState(s.t, order.orderId)).toBe("CAPTURED");
    expect(order.seatIds.sort()).toEqual(["A-1-1", "A-1-2", "A-2-1"]);
    expect(order.tickets.map((t) => t.seatId).sort()).toEqual(["A-1-1", "A-1-2", "A-2-1", "FLOOR#1", "FLOOR#2"]);
    expect(await seatMap(eventId)).toEqual({ row1: "SSFFFFFFFF", row2: "SFFFFFFFFF", floorSold: 2 });
    for (const h of [front, back, floor])
      expect((await getHold(eventId, h.holdId)).state).toBe(HoldState.HOLD_STATE_SOLD);

    // One seat of the second hold: refunded by its price, back on sale, the order stays CONFIRMED.
    const asBuyer = bearer({ buyer });
    const cancel = (ticketIds: string[]) =>
      call(
        s.t.orders,
        s.t.orders.cancelOrder,
        { orderId: order.orderId, buyerId: "", requestId: uid("x"), force: false, ticketIds },
        asBuyer,
      );
    const one = order.tickets.find((t) => t.seatId === "A-2-1")!;
    const partly = (await cancel([one.ticketId])).order!;
    expect(partly.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    expect(partly.refundedAmountMinor).toBe("3000");
    await expect.poll(() => seatMap(eventId)).toEqual({ row1: "SSFFFFFFFF", row2: "FFFFFFFFFF", floorSold: 2 });

    // The whole order: every other seat and place of every hold goes back.
    const whole = (await cancel([])).order!;
    expect(whole.state).toBe(OrderState.ORDER_STATE_REFUNDED);
    expect(whole.refundedAmountMinor).toBe("17000");
    await expect.poll(() => seatMap(eventId)).toEqual({ row1: "FFFFFFFFFF", row2: "FFFFFFFFFF", floorSold: 0 });
  });

  it("a declined payment releases every hold of the order", async () => {
    const eventId = await openSaleEvent(s.t);
    const buyer = uid("declined");
    const a = await holdSeats(s.t, eventId, buyer, ["A-1-5"]);
    const b = await holdSeats(s.t, eventId, buyer, ["A-1-6"]);
    const order = await finalOrder((await createOrder(orderRequest(eventId, [a, b], uid("k"), "tok_decline"))).orderId);
    expect(order.state).toBe(OrderState.ORDER_STATE_FAILED);
    expect(order.failureReason).toBe("PAYMENT_DECLINED");
    for (const h of [a, b]) expect((await getHold(eventId, h.holdId)).state).toBe(HoldState.HOLD_STATE_RELEASED);
    expect((await seatMap(eventId)).row1).toBe("FFFFFFFFFF");
  });

  it("refuses an order with a released or an expired hold, and leaves the other hold as it was", async () => {
    const eventId = await openSaleEvent(s.t, {
      holdPolicy: { ttlSeconds: 10, maxExtensions: 0, maxLifetimeSeconds: 10 },
    });
    const buyer = uid("gone");
    const expiring = await holdSeats(s.t, eventId, buyer, ["A-1-1"]);
    const released = await holdSeats(s.t, eventId, buyer, ["A-1-2"]);
    await call(s.t.reservations, s.t.reservations.releaseHold, {
      eventId,
      holdId: released.holdId,
      buyerId: buyer,
      requestId: uid("rel"),
    });
    await expect
      .poll(async () => (await getHold(eventId, expiring.holdId)).state, { timeout: 20_000, interval: 250 })
      .toBe(HoldState.HOLD_STATE_EXPIRED);
    const live = await holdSeats(s.t, eventId, buyer, ["A-1-3"]);

    for (const [gone, reason] of [
      [released, "HOLD_NOT_ACTIVE"],
      [expiring, "HOLD_EXPIRED"],
    ] as const) {
      const err = await callError(s.t.orders, s.t.orders.createOrder, orderRequest(eventId, [live, gone]));
      expect(err.errorInfo?.reason).toBe(reason);
      expect(err.errorInfo?.metadata.hold_id).toBe(gone.holdId);
    }
    // Not pinned, not moved: the live hold is as it was, and can still be paid for alone.
    const after = await getHold(eventId, live.holdId);
    expect(after.state).toBe(HoldState.HOLD_STATE_ACTIVE);
    expect(after.expireTime).toEqual(live.expireTime);
    const alone = await finalOrder((await createOrder(orderRequest(eventId, [live]))).orderId);
    expect(alone.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
  }, 60_000);

  it("two concurrent orders sharing a hold: at most one wins, the loser pins nothing, no seat is sold twice", async () => {
    const eventId = await openSaleEvent(s.t);
    for (let round = 0; round < 3; round++) {
      const buyer = uid("race");
      const [x, shared, y] = [
        await holdSeats(s.t, eventId, buyer, [`A-${round < 2 ? 1 : 2}-${round * 3 + 1}`]),
        await holdSeats(s.t, eventId, buyer, [`A-${round < 2 ? 1 : 2}-${round * 3 + 2}`]),
        await holdSeats(s.t, eventId, buyer, [`A-${round < 2 ? 1 : 2}-${round * 3 + 3}`]),
      ];
      const results = await Promise.allSettled([
        createOrder(orderRequest(eventId, [x, shared])),
        createOrder(orderRequest(eventId, [shared, y])),
      ]);
      const won = results.filter((r): r is PromiseFulfilledResult<Order> => r.status === "fulfilled");
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(won.length).toBeLessThanOrEqual(1);
      for (const l of lost) {
        const err = decodeStatus(l.reason as ServiceError);
        expect(err.code).toBe(status.FAILED_PRECONDITION);
        expect(err.errorInfo?.reason).toBe("HOLD_NOT_ACTIVE");
      }
      if (won[0]) {
        expect((await finalOrder(won[0].value.orderId)).state).toBe(OrderState.ORDER_STATE_CONFIRMED);
        // The loser's own hold was not pinned by its refused order: still active.
        const mine = won[0].value.holds.map((h) => h.holdId);
        const other = [x, y].find((h) => !mine.includes(h.holdId))!;
        expect((await getHold(eventId, other.holdId)).state).toBe(HoldState.HOLD_STATE_ACTIVE);
      }
    }
    expect(await doubleSold(eventId)).toEqual([]);
  });

  it("an idempotent retry with the holds in another order returns the same order; other holds are refused", async () => {
    const eventId = await openSaleEvent(s.t);
    const buyer = uid("idem");
    const a = await holdSeats(s.t, eventId, buyer, ["A-2-1"]);
    const b = await holdSeats(s.t, eventId, buyer, ["A-2-2"]);
    const c = await holdSeats(s.t, eventId, buyer, ["A-2-3"]);
    const key = uid("k");
    const first = await createOrder(orderRequest(eventId, [a, b], key));
    const again = await createOrder(orderRequest(eventId, [b, a], key));
    expect(again.orderId).toBe(first.orderId);
    const reused = await callError(s.t.orders, s.t.orders.createOrder, orderRequest(eventId, [a, c], key));
    expect(reused.errorInfo?.reason).toBe("IDEMPOTENCY_KEY_REUSED");
    // Another key for a set sharing a hold with the order: that hold is in an order already.
    const taken = await callError(s.t.orders, s.t.orders.createOrder, orderRequest(eventId, [b, c]));
    expect(taken.errorInfo?.reason).toBe("HOLD_NOT_ACTIVE");
    expect((await finalOrder(first.orderId)).state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    expect((await getHold(eventId, c.holdId)).state).toBe(HoldState.HOLD_STATE_ACTIVE);
  });

  it("names every bad hold field", async () => {
    const eventId = await openSaleEvent(s.t);
    const h = await holdSeats(s.t, eventId, uid("bad"), ["A-1-9"]);
    const fields = async (req: Partial<CreateOrderRequest>) => {
      const err = await callError(s.t.orders, s.t.orders.createOrder, { ...orderRequest(eventId, [h]), ...req });
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      return err.badRequest!.fieldViolations.map((v) => v.field);
    };
    expect(await fields({ holdIds: [] })).toEqual(["hold_id"]);
    expect(await fields({ holdId: h.holdId })).toEqual(["hold_id"]);
    expect(await fields({ holdIds: Array.from({ length: 11 }, (_, i) => `h_${i}`) })).toEqual(["hold_ids"]);
    expect(await fields({ holdIds: [h.holdId, "h_x", h.holdId] })).toEqual(["hold_ids[2]"]);
    expect(await fields({ holdIds: [h.holdId, "h{x}"] })).toEqual(["hold_ids[1]"]);
  });
});
