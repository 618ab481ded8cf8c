// Every provider failure ends the checkout in a final state, with the
// simulator as provider: a decline, authentication required, an authorization
// voided on the provider's side before capture (capture fails: the sale is
// released and the order FAILED with CAPTURE_FAILED), and lost responses
// (retried under the same key: confirmed and captured once).
import type { RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

let s: CheckoutStack;
beforeAll(async () => {
  // A third of the provider's answers are lost after it acted: every outcome below must survive that.
  s = await startCheckoutStack({}, { PAYMENT_SIM_LOST_RESPONSE_RATIO: "0.3", PAYMENT_SIM_DECLINE_RATIO: "0" });
});
afterAll(async () => {
  await s?.stop();
});

async function checkout(token: string, seats: string[]) {
  const eventId = await openSaleEvent(s.t);
  const hold = await holdSeats(s.t, eventId, uid("buyer"), seats);
  const order = await createOrder(s.t, hold, token);
  const states = await watchUntilFinal(s.t, order.orderId);
  const last = states[states.length - 1]!;
  const map = await call(s.t.events, s.t.events.getSeatMap, { eventId });
  const row = map.sections.find((x) => x.sectionId === "A")!.rows[0]!.states;
  const [sold] = await s.t.app.mysql.query<RowDataPacket[]>(
    "SELECT COUNT(*) AS n FROM order_items WHERE order_id = ? AND sold_seat_id IS NOT NULL AND released_at IS NULL",
    [order.orderId],
  );
  return { last, row, ledger: await ledgerState(s.t, order.orderId), soldItems: Number(sold[0]!.n) };
}

describe("provider failures end in a final state", () => {
  it("approve: CONFIRMED, captured once, seats sold", async () => {
    const r = await checkout("tok_approve", ["A-1-1", "A-1-2"]);
    expect(r.last.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    expect(r.ledger).toBe("CAPTURED");
    expect(r.row.slice(0, 2)).toBe("SS");
    expect(r.soldItems).toBe(2);
  });

  it("decline: FAILED PAYMENT_DECLINED, seats free", async () => {
    const r = await checkout("tok_decline", ["A-1-3"]);
    expect(r.last.state).toBe(OrderState.ORDER_STATE_FAILED);
    expect(r.last.failureReason).toBe("PAYMENT_DECLINED");
    expect(r.ledger).toBe("DECLINED");
    expect(r.row).toBe("FFFFFFFFFF");
  });

  it("authentication required: FAILED PAYMENT_AUTHENTICATION_REQUIRED, seats free", async () => {
    const r = await checkout("tok_authentication_required", ["A-1-4"]);
    expect(r.last.state).toBe(OrderState.ORDER_STATE_FAILED);
    expect(r.last.failureReason).toBe("PAYMENT_AUTHENTICATION_REQUIRED");
    expect(r.row).toBe("FFFFFFFFFF");
  });

  it("capture refused (authorization voided at the provider): FAILED CAPTURE_FAILED, sale released, nothing captured", async () => {
    const r = await checkout("tok_voided_by_provider", ["A-1-5", "A-1-6"]);
    expect(r.last.state).toBe(OrderState.ORDER_STATE_FAILED);
    expect(r.last.failureReason).toBe("CAPTURE_FAILED");
    expect(r.ledger).toBe("VOIDED");
    expect(r.soldItems).toBe(0);
    expect(r.row).toBe("FFFFFFFFFF");
  });
});
