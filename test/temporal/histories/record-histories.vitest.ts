// Records checkout histories for the replay test (replay.test.ts). Not part of
// the suite (its name does not end in .test.ts). Re-record after a deliberate,
// versioned change to the workflows:
//   TICKETING_VITEST_INCLUDE=test/temporal/histories/record-histories.vitest.ts npm test
// Files are named <case>-<VERSION>.json; bump VERSION so older recordings stay
// and keep proving that running checkouts of older code still replay.
import { writeFileSync } from "node:fs";
import { Client, Connection } from "@temporalio/client";
import { historyToJSON } from "@temporalio/common/lib/proto-utils.js";
import { describe, it } from "vitest";
import { checkoutWorkflowId } from "../../../src/orders/order.js";
import { call, uid } from "../../support/app.js";
import { createOrder, holdSeats, openSaleEvent, startCheckoutStack, watchUntilFinal } from "../../support/checkout.js";
import { testEnv } from "../../support/env.js";

/**
 * v3: the lean shape (patched "lean-checkout": no window timer, paired local steps, local capture);
 * v4: the same with bounded capture (patched "bounded-capture"), "lean-checkout" deprecated.
 * (v1 and v2, of the shape before "lean-checkout", were dropped with that shape.)
 */
const VERSION = "v4";

describe("record checkout histories", () => {
  it("records a confirmed, a declined and a cancelled checkout", async () => {
    const s = await startCheckoutStack({}, { PAYMENT_SIM_LATENCY_MS: "300" });
    const connection = await Connection.connect({ address: testEnv().temporalAddress });
    const client = new Client({ connection });
    try {
      const eventId = await openSaleEvent(s.t);
      const save = async (name: string, workflowId: string) => {
        const history = await client.workflow.getHandle(workflowId).fetchHistory();
        writeFileSync(new URL(`./${name}-${VERSION}.json`, import.meta.url), historyToJSON(history));
      };
      const confirmed = await createOrder(s.t, await holdSeats(s.t, eventId, uid("a"), ["A-1-1"]), "tok_approve");
      const declined = await createOrder(s.t, await holdSeats(s.t, eventId, uid("b"), ["A-1-2"]), "tok_decline");
      const cancelHold = await holdSeats(s.t, eventId, uid("c"), ["A-1-3"]);
      const cancelled = await createOrder(s.t, cancelHold, "tok_approve");
      await call(s.t.orders, s.t.orders.cancelOrder, { orderId: cancelled.orderId, buyerId: cancelHold.buyerId, requestId: uid("x"), force: false, ticketIds: [] });
      await Promise.all([watchUntilFinal(s.t, confirmed.orderId), watchUntilFinal(s.t, declined.orderId)]);
      await save("checkout-confirmed", checkoutWorkflowId(confirmed.orderId));
      await save("checkout-declined", checkoutWorkflowId(declined.orderId));
      await save("checkout-cancelled", checkoutWorkflowId(cancelled.orderId));
    } finally {
      await connection.close();
      await s.stop();
    }
  });
});
