// Refunds after confirmation, sharing their activity options. refundOrder
// (workflow id refund-<orderId>), the whole order: decide the refund by the
// event's policy and revoke the tickets in the same step (no scan
// admits them after it), refund the payment, give the seats back in MySQL and
// put them back on sale in Redis, then mark the order REFUNDED. A refusal
// (REFUND_WINDOW_CLOSED, TICKETS_CHECKED_IN) ends the workflow before any
// money moves. Every step is idempotent, so a retry or a duplicate start
// changes nothing twice.
import { patched, proxyActivities, proxyLocalActivities } from "@temporalio/workflow";
import type { OrderActivities, RefundOptions } from "../src/orders/activities.js";

/** Final refusals: never retried. */
const REFUSALS = ["ORDER_NOT_FOUND", "REFUND_WINDOW_CLOSED", "TICKETS_CHECKED_IN"];

const local = proxyLocalActivities<OrderActivities>({
  startToCloseTimeout: "15 seconds",
  retry: {
    initialInterval: "200 milliseconds",
    maximumInterval: "10 seconds",
    nonRetryableErrorTypes: REFUSALS,
  },
});
// A provider call that outlives this is presumed lost (e.g. the worker died) and retried.
const provider = proxyActivities<OrderActivities>({
  startToCloseTimeout: "10 seconds",
  retry: { initialInterval: "1 second", maximumInterval: "10 seconds", nonRetryableErrorTypes: REFUSALS },
});

export async function refundOrder(orderId: string, options: RefundOptions = { force: false, by: "" }): Promise<void> {
  // Runs started before the refund policy refunded first and revoked after.
  if (patched("refund-policy")) await local.claimRefund(orderId, options);
  await provider.refundPayment(orderId);
  const plan = await local.revokeOrder(orderId);
  await local.releaseSeats(plan);
  await local.markRefunded(orderId);
}

/**
 * A partial refund (workflow id refund-<orderId>-<refundId>): some tickets of
 * a confirmed order. The refund policy on those tickets decides, and in the
 * same MySQL transaction they are revoked and their seats or places given
 * back; then their price is refunded under the refund's own key, Redis is
 * made to agree with MySQL for the order's seats, and the order becomes
 * REFUNDED once no valid ticket is left (else it stays CONFIRMED). A refusal
 * (REFUND_WINDOW_CLOSED, TICKETS_CHECKED_IN) ends it before anything changes.
 * Every step is idempotent: a retry or a second run with the same tickets
 * refunds nothing twice.
 */
export async function refundTickets(
  orderId: string,
  refundId: string,
  ticketIds: string[],
  options: RefundOptions = { force: false, by: "" },
): Promise<void> {
  const claim = await local.claimTicketRefund(orderId, refundId, ticketIds, options);
  if (claim.amountMinor > 0) await provider.refundTicketsPayment(orderId, refundId, claim.amountMinor);
  await local.releaseRefundedSeats(orderId);
  if (claim.remaining === 0) await local.markRefunded(orderId);
}
