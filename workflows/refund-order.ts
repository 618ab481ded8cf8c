// Cancel after confirmation (workflow id refund-<orderId>): refund the
// payment, revoke the tickets, give the seats back in MySQL and put them
// back on sale in Redis, then mark the order REFUNDED. Every step is
// idempotent, so a retry or a duplicate start changes nothing twice.
import { proxyActivities, proxyLocalActivities } from "@temporalio/workflow";
import type { OrderActivities } from "../src/orders/activities.js";

const local = proxyLocalActivities<OrderActivities>({
  startToCloseTimeout: "15 seconds",
  retry: {
    initialInterval: "200 milliseconds",
    maximumInterval: "10 seconds",
    nonRetryableErrorTypes: ["ORDER_NOT_FOUND"],
  },
});
// A provider call that outlives this is presumed lost (e.g. the worker died) and retried.
const provider = proxyActivities<OrderActivities>({
  startToCloseTimeout: "10 seconds",
  retry: { initialInterval: "1 second", maximumInterval: "10 seconds", nonRetryableErrorTypes: ["ORDER_NOT_FOUND"] },
});

export async function refundOrder(orderId: string): Promise<void> {
  await provider.refundPayment(orderId);
  const plan = await local.revokeOrder(orderId);
  await local.releaseSeats(plan);
  await local.markRefunded(orderId);
}
