// The bare baseline of the checkout (bench/checkout.ts): the same Temporal
// shape as workflows/checkout.ts with no work inside. Started the same way
// (Update-with-Start; the update returns once the first local activity is
// done), the same activity options, 5 local activities and 2 normal ones, the
// payment-window timer around the authorization (CancellationScope.withTimeout
// starts a durable timer and cancels it), and a patch marker. Run by its own
// worker process (./worker.ts) on its own task queue.
//
// leanCheckout is not a baseline but an experiment: what a leaner Temporal
// shape of the same saga would cost (see bench/CHECKOUT-RESULTS.md): the
// payment window as the authorization's scheduleToClose timeout instead of a
// durable timer, capture as a local activity, and adjacent local steps merged
// (4 local activities and 1 normal one; no timer, no patch marker).
import {
  CancellationScope,
  condition,
  defineQuery,
  defineUpdate,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
} from "@temporalio/workflow";
import type { BareActivities, BareInput } from "./activities.js";

const BUSINESS_FAILURES = ["HOLD_EXPIRED", "PAYMENT_DECLINED"];

const local = proxyLocalActivities<BareActivities>({
  startToCloseTimeout: "15 seconds",
  retry: { initialInterval: "200 milliseconds", maximumInterval: "10 seconds", nonRetryableErrorTypes: BUSINESS_FAILURES },
});

const provider = proxyActivities<BareActivities>({
  startToCloseTimeout: "10 seconds",
  retry: { initialInterval: "1 second", maximumInterval: "30 seconds", nonRetryableErrorTypes: BUSINESS_FAILURES },
});

/** Authorization with the payment window as its schedule-to-close timeout: no workflow timer. */
function providerWithin(paymentWindowMs: number) {
  return proxyActivities<BareActivities>({
    startToCloseTimeout: "10 seconds",
    scheduleToCloseTimeout: paymentWindowMs,
    retry: { initialInterval: "1 second", maximumInterval: "30 seconds", nonRetryableErrorTypes: BUSINESS_FAILURES },
  });
}

export interface BareOutcome {
  status: "PENDING_PAYMENT" | "CONFIRMED";
  failureReason: string;
}

export const bareCreateOrderUpdate = defineUpdate<BareOutcome, [idempotencyKey: string]>("createOrder");
export const bareStatusQuery = defineQuery<BareOutcome>("status");

export async function bareCheckout(input: BareInput): Promise<BareOutcome> {
  let outcome: BareOutcome = { status: "PENDING_PAYMENT", failureReason: "" };
  let begun = false;
  setHandler(bareCreateOrderUpdate, async () => {
    await condition(() => begun);
    return outcome;
  });
  setHandler(bareStatusQuery, () => outcome);

  const plan = await local.beginCheckout(input);
  begun = true;
  await CancellationScope.withTimeout(input.paymentWindowMs, () => provider.authorizePayment(plan, input.paymentMethodToken));
  await local.commitSale(plan);
  await local.markSeatsSold(plan);
  await provider.capturePayment(plan);
  if (patched("bare-issue-tickets")) await local.issueTickets(plan);
  await local.confirmOrder(plan);
  outcome = { status: "CONFIRMED", failureReason: "" };
  return outcome;
}

export async function leanCheckout(input: BareInput): Promise<BareOutcome> {
  let outcome: BareOutcome = { status: "PENDING_PAYMENT", failureReason: "" };
  let begun = false;
  setHandler(bareCreateOrderUpdate, async () => {
    await condition(() => begun);
    return outcome;
  });
  setHandler(bareStatusQuery, () => outcome);

  const plan = await local.beginCheckout(input);
  begun = true;
  await providerWithin(input.paymentWindowMs).authorizePayment(plan, input.paymentMethodToken);
  await local.commitAndMarkSold(plan);
  await local.capturePayment(plan);
  await local.issueAndConfirm(plan);
  outcome = { status: "CONFIRMED", failureReason: "" };
  return outcome;
}
