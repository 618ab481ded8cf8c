// Payment reconciliation through its Temporal Schedule: seeded stray
// authorizations (the provider's and ours) older than the threshold are
// settled by their order's state (a failed order's voided, a confirmed
// order's captured); a young one, and one whose checkout is still pending,
// are left to their checkout.
import { Client, Connection } from "@temporalio/client";
import type { RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { paymentKeyOf } from "../../src/orders/activities.js";
import { OrderStore } from "../../src/orders/order-store.js";
import type { OrderState } from "../../src/orders/order.js";
import { PaymentSimulator } from "../../src/payments/simulator.js";
import { reconcileScheduleId } from "../../src/temporal/schedules.js";
import { uid } from "../support/app.js";
import { ledgerState, openSaleEvent, startCheckoutStack, type CheckoutStack } from "../support/checkout.js";

let s: CheckoutStack;
let eventId: string;
beforeAll(async () => {
  s = await startCheckoutStack({}, { PAYMENT_RECONCILE_EVERY_SECONDS: "3600", PAYMENT_RECONCILE_AFTER_SECONDS: "600" });
  eventId = await openSaleEvent(s.t);
}, 120_000);
afterAll(() => s?.stop());

/** An order in `state` whose payment the simulator authorized `ageSeconds` ago and nobody settled. */
async function strayAuthorization(state: OrderState, ageSeconds: number): Promise<string> {
  const store = new OrderStore(s.t.app.mysql);
  const simulator = new PaymentSimulator(s.t.app.mysql, {
    latencyMs: { min: 0, max: 0 },
    declineRatio: 0,
    failureRatio: 0,
    lostResponseRatio: 0,
  });
  const orderId = uid("o");
  await store.insertPending(
    {
      orderId,
      eventId,
      holdId: uid("h"),
      buyerId: uid("b"),
      idempotencyKey: uid("k"),
      seatIds: [],
      sectionId: "FLOOR",
      quantity: 1,
      prices: [["FLOOR", 2000]],
      amountMinor: 2000,
      currencyCode: "EUR",
    },
    "seeded",
  );
  const auth = await simulator.authorize({
    paymentKey: paymentKeyOf(orderId),
    amountMinor: 2000,
    currencyCode: "EUR",
    paymentMethodToken: "tok_approve",
  });
  await store.recordAuthorization(orderId, auth.authorizationId, 2000, "EUR");
  await s.t.app.mysql.execute("UPDATE payments SET created_at = NOW(3) - INTERVAL ? SECOND WHERE order_id = ?", [
    ageSeconds,
    orderId,
  ]);
  if (state !== "PENDING_PAYMENT") await store.transition(orderId, state, ["PENDING_PAYMENT"]);
  return orderId;
}

async function paymentState(orderId: string): Promise<string> {
  const [rows] = await s.t.app.mysql.query<RowDataPacket[]>("SELECT state FROM payments WHERE order_id = ?", [orderId]);
  return String(rows[0]?.state);
}

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("payment reconciliation", () => {
  it("settles stray authorizations by their order's state and leaves the checkouts' own alone", async () => {
    const failed = await strayAuthorization("FAILED", 3600);
    const confirmed = await strayAuthorization("CONFIRMED", 3600);
    const pending = await strayAuthorization("PENDING_PAYMENT", 3600);
    const young = await strayAuthorization("FAILED", 0);

    const connection = await Connection.connect({ address: s.worker.config.TEMPORAL_ADDRESS });
    try {
      const client = new Client({ connection, namespace: s.worker.config.TEMPORAL_NAMESPACE });
      const schedule = client.schedule.getHandle(reconcileScheduleId(s.worker.taskQueue));
      const described = await schedule.describe();
      expect(described.spec.intervals?.[0]?.every).toBe(3_600_000);
      await schedule.trigger();
      await until(
        async () => (await paymentState(failed)) === "VOIDED" && (await paymentState(confirmed)) === "CAPTURED",
        "the stray authorizations to be settled",
      );
    } finally {
      await connection.close();
    }
    // The provider's side agrees.
    expect(await ledgerState(s.t, failed)).toBe("VOIDED");
    expect(await ledgerState(s.t, confirmed)).toBe("CAPTURED");
    // Left to their checkouts.
    expect(await paymentState(pending)).toBe("AUTHORIZED");
    expect(await paymentState(young)).toBe("AUTHORIZED");
    expect(await ledgerState(s.t, young)).toBe("AUTHORIZED");
  });
});
