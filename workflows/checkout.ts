// The checkout of one order, over one hold or several (workflow id
// checkout-<orderId>, started by CreateOrder with Update-with-Start): pin the
// holds (all or none), authorize payment, claim the seats in MySQL, mark them
// sold in Redis, capture, sign the tickets, confirm. Every step's undo is registered before the step can leave effects
// and runs in reverse on failure or cancellation, in a scope that cannot be
// cancelled.
//
// One shape: the payment window is the authorization's schedule-to-close
// timeout (no timer); claim + mark sold, capture, and tickets + confirm are
// three local activities. "lean-checkout" named this shape while an older one
// (a window timer, one local activity per step) still ran; that one is gone
// and the marker is deprecated (deprecatePatch). "bounded-capture" is still
// patched(): checkouts recorded before it capture with unbounded retries;
// with it, a provider that cannot capture ends the checkout (CAPTURE_FAILED).
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineUpdate,
  deprecatePatch,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  TimeoutFailure,
} from "@temporalio/workflow";
import type { CheckoutInput, CheckoutPlan, OrderActivities } from "../src/orders/activities.js";

/**
 * Why a checkout ended without an order confirmed; stable, shown as
 * Order.failure_reason. Final: the checkout never retries them.
 */
const BUSINESS_FAILURES: string[] = [
  "PAYMENT_DECLINED",
  "PAYMENT_AUTHENTICATION_REQUIRED",
  "CAPTURE_FAILED",
  "PAYMENT_WINDOW_ELAPSED",
  "SEATS_LOST",
  "HOLD_EXPIRED",
  "HOLD_NOT_ACTIVE",
  "HOLD_NOT_FOUND",
  "HOLD_NOT_OWNED",
  "SALE_CLOSED",
  "IDEMPOTENCY_KEY_REUSED",
  "ORDER_NOT_FOUND",
];

const local = proxyLocalActivities<OrderActivities>({
  startToCloseTimeout: "15 seconds",
  retry: {
    initialInterval: "200 milliseconds",
    maximumInterval: "10 seconds",
    nonRetryableErrorTypes: BUSINESS_FAILURES,
  },
});

// A provider call that outlives this is presumed lost (e.g. the worker died) and retried.
const provider = proxyActivities<OrderActivities>({
  startToCloseTimeout: "10 seconds",
  retry: { initialInterval: "1 second", maximumInterval: "10 seconds", nonRetryableErrorTypes: BUSINESS_FAILURES },
});

/**
 * Capture, bounded ("bounded-capture"): a provider that stays unavailable for
 * about a minute and a half ends the checkout (CAPTURE_FAILED: release the
 * sale, void or refund) instead of leaving the order PENDING forever.
 */
const boundedCapture = proxyLocalActivities<OrderActivities>({
  startToCloseTimeout: "15 seconds",
  retry: {
    initialInterval: "1 second",
    maximumInterval: "15 seconds",
    maximumAttempts: 10,
    nonRetryableErrorTypes: BUSINESS_FAILURES,
  },
});

/**
 * The authorization within the payment window: the window bounds every
 * attempt together (schedule-to-close), so it needs no timer of its own.
 */
function withinPaymentWindow(windowMs: number) {
  return proxyActivities<OrderActivities>({
    startToCloseTimeout: "10 seconds",
    scheduleToCloseTimeout: windowMs,
    retry: { initialInterval: "1 second", maximumInterval: "10 seconds", nonRetryableErrorTypes: BUSINESS_FAILURES },
  });
}

export type CheckoutStatus = "PENDING_PAYMENT" | "CONFIRMED" | "FAILED" | "CANCELLED";

export interface CheckoutOutcome {
  status: CheckoutStatus;
  failureReason: string;
}

/** CreateOrder: resolves once the order is recorded (or refused, e.g. an expired hold). */
export const createOrderUpdate = defineUpdate<CheckoutOutcome, [idempotencyKey: string]>("createOrder");
/** CancelOrder before confirmation: resolves with the final outcome. */
export const cancelOrderUpdate = defineUpdate<CheckoutOutcome, []>("cancelOrder");
export const checkoutStatusQuery = defineQuery<CheckoutOutcome>("status");

class CancelledByBuyer extends Error {}

export async function checkout(input: CheckoutInput): Promise<CheckoutOutcome> {
  let outcome: CheckoutOutcome = { status: "PENDING_PAYMENT", failureReason: "" };
  let begun = false;
  let cancelRequested = false;
  let confirming = false;

  setHandler(createOrderUpdate, async () => {
    await condition(() => begun || outcome.status !== "PENDING_PAYMENT");
    if (!begun) throw ApplicationFailure.nonRetryable(`order refused: ${outcome.failureReason}`, outcome.failureReason);
    return outcome;
  });
  setHandler(cancelOrderUpdate, async () => {
    if (!confirming) cancelRequested = true;
    await condition(() => outcome.status !== "PENDING_PAYMENT");
    return outcome;
  });
  setHandler(checkoutStatusQuery, () => outcome);

  const undo: (() => Promise<void>)[] = [];
  const checkCancelled = () => {
    if (cancelRequested) throw new CancelledByBuyer();
  };
  let plan: CheckoutPlan | undefined;
  try {
    plan = await local.beginCheckout(input);
    const p = plan;
    undo.unshift(() => local.releaseSeats(p));
    begun = true;
    checkCancelled();

    // The authorization may happen even if the call fails: register its undo first.
    undo.unshift(() => provider.cancelPayment(p.orderId));
    // Every checkout still running has this shape (its marker stays in their histories).
    deprecatePatch("lean-checkout");
    try {
      await withinPaymentWindow(input.paymentWindowMs).authorizePayment(p, input.paymentMethodToken);
    } catch (err) {
      if (
        err instanceof ActivityFailure &&
        err.cause instanceof TimeoutFailure &&
        err.cause.timeoutType === "SCHEDULE_TO_CLOSE"
      ) {
        throw ApplicationFailure.nonRetryable("payment window elapsed", "PAYMENT_WINDOW_ELAPSED");
      }
      throw err;
    }
    checkCancelled();

    confirming = true;
    undo.unshift(() => local.releaseSale(p.orderId));
    await local.sellSeats(p);
    if (patched("bounded-capture")) await captureOrGiveUp(p);
    else await local.capturePayment(p);
    await local.completeOrder(p);
    outcome = { status: "CONFIRMED", failureReason: "" };
    return outcome;
  } catch (err) {
    const cancelled = err instanceof CancelledByBuyer;
    const reason = cancelled ? "" : failureType(err);
    await CancellationScope.nonCancellable(async () => {
      for (const step of undo) await step();
      if (plan) await local.finishOrder(plan.orderId, cancelled ? "CANCELLED" : "FAILED", reason);
    });
    outcome = { status: cancelled ? "CANCELLED" : "FAILED", failureReason: reason };
    return outcome;
  }
}

/** Capture with bounded retries; retries used up become the business failure CAPTURE_FAILED. */
async function captureOrGiveUp(plan: CheckoutPlan): Promise<void> {
  try {
    await boundedCapture.capturePayment(plan);
  } catch (err) {
    if (err instanceof ActivityFailure && !isBusinessFailure(err)) {
      throw ApplicationFailure.nonRetryable(
        `capture failed after its retries: ${err.cause?.message ?? ""}`,
        "CAPTURE_FAILED",
      );
    }
    throw err;
  }
}

function isBusinessFailure(err: unknown): boolean {
  let e: unknown = err;
  while (e && typeof e === "object") {
    if (e instanceof ApplicationFailure && e.type && BUSINESS_FAILURES.includes(e.type)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The stable reason of a business failure; anything else is unexpected and rethrown. */
function failureType(err: unknown): string {
  let e: unknown = err;
  // Activity failures wrap the ApplicationFailure raised inside the activity.
  while (e && typeof e === "object") {
    if (e instanceof ApplicationFailure && e.type && BUSINESS_FAILURES.includes(e.type)) return e.type;
    e = (e as { cause?: unknown }).cause;
  }
  throw err;
}
