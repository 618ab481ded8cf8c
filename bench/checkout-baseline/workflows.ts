// The bare baseline of the checkout (bench/checkout.ts): the same Temporal
// shape as workflows/checkout.ts with no work inside, run by its own worker
// process (./worker.ts) on its own task queue.
//
// bareCheckout mirrors the product's current shape (the "lean-checkout" patch,
// commit 2e3c7da): started by Update-with-Start (the update returns once the
// first local activity is done), the same activity options, a patch marker
// (patched() records a marker and upserts TemporalChangeVersion, two history
// events the product's checkout has too), the authorization as the one normal
// activity with the payment window as its scheduleToCloseTimeout (no timer),
// then sellSeats, capturePayment and completeOrder as local activities:
// 4 local + 1 normal, 19 history events, like a confirmed product checkout.
//
// previousShapeCheckout is the product's shape before 2e3c7da, kept as a
// comparison (BENCH_PREVIOUS_SHAPE=1), not as the baseline: the payment-window
// timer around the authorization (CancellationScope.withTimeout starts a
// durable timer and cancels it), each step its own local activity and capture
// as a normal one: 5 local + 2 normal, 28 history events.
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

// The options of workflows/checkout.ts.
const local = proxyLocalActivities<BareActivities>({
  startToCloseTimeout: "15 seconds",
  retry: {
    initialInterval: "200 milliseconds",
    maximumInterval: "10 seconds",
    nonRetryableErrorTypes: BUSINESS_FAILURES,
  },
});

const provider = proxyActivities<BareActivities>({
  startToCloseTimeout: "10 seconds",
  retry: { initialInterval: "1 second", maximumInterval: "10 seconds", nonRetryableErrorTypes: BUSINESS_FAILURES },
});

/** Authorization with the payment window as its schedule-to-close timeout: no workflow timer. */
function withinPaymentWindow(paymentWindowMs: number) {
  return proxyActivities<BareActivities>({
    startToCloseTimeout: "10 seconds",
    scheduleToCloseTimeout: paymentWindowMs,
    retry: { initialInterval: "1 second", maximumInterval: "10 seconds", nonRetryableErrorTypes: BUSINESS_FAILURES },
  });
}

export interface BareOutcome {
  status: "PENDING_PAYMENT" | "CONFIRMED";
  failureReason: string;
}

export const bareCreateOrderUpdate = defineUpdate<BareOutcome, [idempotencyKey: string]>("createOrder");
export const bareStatusQuery = defineQuery<BareOutcome>("status");

/** The baseline: the product checkout's current Temporal shape, empty activities. */
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
  // Only for its history events: the product asks patched("lean-checkout") here.
  patched("bare-lean-checkout");
  await withinPaymentWindow(input.paymentWindowMs).authorizePayment(plan, input.paymentMethodToken);
  await local.sellSeats(plan);
  await local.capturePayment(plan);
  await local.completeOrder(plan);
  outcome = { status: "CONFIRMED", failureReason: "" };
  return outcome;
}

/** The comparison: the product checkout's shape before 2e3c7da, empty activities. */
export async function previousShapeCheckout(input: BareInput): Promise<BareOutcome> {
  let outcome: BareOutcome = { status: "PENDING_PAYMENT", failureReason: "" };
  let begun = false;
  setHandler(bareCreateOrderUpdate, async () => {
    await condition(() => begun);
    return outcome;
  });
  setHandler(bareStatusQuery, () => outcome);

  const plan = await local.beginCheckout(input);
  begun = true;
  await CancellationScope.withTimeout(input.paymentWindowMs, () =>
    provider.authorizePayment(plan, input.paymentMethodToken),
  );
  await local.commitSale(plan);
  await local.markSeatsSold(plan);
  await provider.capturePayment(plan);
  if (patched("bare-issue-tickets")) await local.issueTickets(plan);
  await local.confirmOrder(plan);
  outcome = { status: "CONFIRMED", failureReason: "" };
  return outcome;
}
