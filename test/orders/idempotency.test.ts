// CreateOrder's idempotency key names one request: retries of it make one
// order; the same key on another hold, at once or later, or with another
// payment method, is refused with IDEMPOTENCY_KEY_REUSED and creates nothing.
import { status, type ServiceError } from "@grpc/grpc-js";
import type { RowDataPacket } from "mysql2/promise";
import { describe, expect, it } from "vitest";
import { decodeStatus } from "../../src/grpc/errors.js";
import { OrderState } from "../../src/gen/ticketing/v1/order_service.js";
import { HoldState } from "../../src/gen/ticketing/v1/reservation_service.js";
import { call, callError, uid } from "../support/app.js";
import { holdSeats, openSaleEvent, checkoutStackForThisFile, watchUntilFinal } from "../support/checkout.js";

const s = checkoutStackForThisFile();

function createOrderCall(eventId: string, holdId: string, buyerId: string, idempotencyKey: string, token: string) {
  return call(s.t.orders, s.t.orders.createOrder, {
    eventId,
    holdId,
    holdIds: [],
    buyerId,
    idempotencyKey,
    payment: { paymentMethodToken: token },
  });
}

async function ordersWithKey(buyerId: string, key: string): Promise<string[]> {
  const [rows] = await s.t.app.mysql.query<RowDataPacket[]>(
    "SELECT order_id FROM orders WHERE buyer_id = ? AND idempotency_key = ?",
    [buyerId, key],
  );
  return rows.map((r) => String(r.order_id));
}

describe("CreateOrder idempotency", () => {
  it("makes exactly one order for two concurrent calls with one key on two holds", async () => {
    const eventId = await openSaleEvent(s.t);
    // Several buyers race at once, so the calls overlap however the machine schedules them.
    const races = Array.from({ length: 3 }, async (_, i) => {
      const buyer = uid("racer");
      const holds = [
        await holdSeats(s.t, eventId, buyer, [`A-1-${2 * i + 1}`]),
        await holdSeats(s.t, eventId, buyer, [`A-1-${2 * i + 2}`]),
      ];
      const key = uid("k");
      const results = await Promise.allSettled(
        holds.map((h) => createOrderCall(eventId, h.holdId, buyer, key, "tok_approve")),
      );
      return { buyer, key, holds, results };
    });
    for (const { buyer, key, holds, results } of await Promise.all(races)) {
      const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.order!] : []));
      const lost = results.flatMap((r) => (r.status === "rejected" ? [r.reason as Error] : []));
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      // Refused before or by the checkout, the loser hears why.
      expect(decodeStatus(lost[0] as ServiceError).errorInfo?.reason).toBe("IDEMPOTENCY_KEY_REUSED");
      expect(await ordersWithKey(buyer, key)).toEqual([won[0]!.orderId]);
      const refusal = await callError(s.t.orders, s.t.orders.createOrder, {
        eventId,
        holdId: holds.find((h) => h.holdId !== won[0]!.holdId)!.holdId,
        holdIds: [],
        buyerId: buyer,
        idempotencyKey: key,
        payment: { paymentMethodToken: "tok_approve" },
      });
      expect(refusal.code).toBe(status.ALREADY_EXISTS);
      expect(refusal.errorInfo?.reason).toBe("IDEMPOTENCY_KEY_REUSED");
      const states = await watchUntilFinal(s.t, won[0]!.orderId);
      expect(states[states.length - 1]!.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
      expect(await ordersWithKey(buyer, key)).toHaveLength(1);
    }
  });

  it("refuses a used key with the same hold but another payment method", async () => {
    const eventId = await openSaleEvent(s.t);
    const buyer = uid("paula");
    const hold = await holdSeats(s.t, eventId, buyer, ["A-2-1"]);
    const key = uid("k");
    const first = (await createOrderCall(eventId, hold.holdId, buyer, key, "tok_approve")).order!;
    const other = await callError(s.t.orders, s.t.orders.createOrder, {
      eventId,
      holdId: hold.holdId,
      holdIds: [],
      buyerId: buyer,
      idempotencyKey: key,
      payment: { paymentMethodToken: "tok_decline" },
    });
    expect(other.code).toBe(status.ALREADY_EXISTS);
    expect(other.errorInfo?.reason).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(other.errorInfo?.metadata.order_id).toBe(first.orderId);
    // The same request again is a retry: the same order.
    const again = (await createOrderCall(eventId, hold.holdId, buyer, key, "tok_approve")).order!;
    expect(again.orderId).toBe(first.orderId);
    const states = await watchUntilFinal(s.t, first.orderId);
    expect(states[states.length - 1]!.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    const h = await call(s.t.reservations, s.t.reservations.getHold, { eventId, holdId: hold.holdId });
    expect(h.hold!.state).toBe(HoldState.HOLD_STATE_SOLD);
  });
});
