// The checkout's activities, built from their dependencies. Short steps whose
// repetition is harmless (pin, MySQL writes, Redis updates) run as local
// activities; calls to the payment provider run as normal activities with
// their own retries (see workflows/checkout.ts).
import { ApplicationFailure } from "@temporalio/activity";
import { AppError } from "../domain/errors.js";
import type { Inventory } from "../events/inventory.js";
import type { Holds } from "../holds/holds.js";
import type { Logger } from "../logger.js";
import { PaymentStateError, type PaymentGateway } from "../payments/gateway.js";
import type { Tickets } from "../tickets/tickets.js";
import type { OrderNotifier } from "./notifier.js";
import {
  holdsOfPlan,
  orderFieldsOf,
  type CheckoutInput,
  type CheckoutPlan,
  type Order,
  type OrderHold,
  type OrderState,
  type RefundOptions,
} from "./order.js";
import { orderRequestHash, type OrderStore, SeatsLostError } from "./order-store.js";
import type { RepairResult, RepairTarget } from "./seat-repair.js";
import { timesMinor, totalMinor } from "../domain/money.js";

export interface OrderActivityDeps {
  holds: Holds;
  inventory: Inventory;
  orders: OrderStore;
  payments: PaymentGateway;
  notifier: OrderNotifier;
  /** Signs ticket codes. */
  tickets: Tickets;
  /** Frees the buyer's shopping slot in the event's waiting room once they bought. */
  completeShopping: (eventId: string, buyerId: string) => Promise<void>;
  /**
   * Writes one hold's seats' sold or free state from MySQL into Redis (after
   * Redis lost the hold or a rebuild dropped it); never rebuilds the event.
   */
  repairSeats: (target: RepairTarget) => Promise<RepairResult>;
  log: Logger;
}

/** How long past the payment window a pinned hold stays pinned, as a safety net. */
const PIN_MARGIN_MS = 10 * 60_000;

/** The payment of an order, as the gateway names it. */
export const paymentKeyOf = (orderId: string) => `${orderId}:payment`;

function businessFailure(reason: string, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, reason);
}

/** The activities the checkout and refund workflows call, by name, each bound to `deps`. */
export function createOrderActivities(deps: OrderActivityDeps) {
  const bind =
    <A extends unknown[], R>(step: (deps: OrderActivityDeps, ...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      step(deps, ...args);
  return {
    beginCheckout: bind(beginCheckout),
    authorizePayment: bind(authorizePayment),
    commitSale: bind(commitSale),
    markSeatsSold: bind(markSeatsSold),
    capturePayment: bind(capturePayment),
    issueTickets: bind(issueTickets),
    confirmOrder: bind(confirmOrder),
    cancelPayment: bind(cancelPayment),
    releaseSale: bind(releaseSale),
    releaseSeats: bind(releaseSeats),
    finishOrder: bind(finishOrder),
    claimRefund: bind(claimRefund),
    refundPayment: bind(refundPayment),
    revokeOrder: bind(revokeOrder),
    markRefunded: bind(markRefunded),
    claimTicketRefund: bind(claimTicketRefund),
    refundTicketsPayment: bind(refundTicketsPayment),
    releaseRefundedSeats: bind(releaseRefundedSeats),
    sellSeats: bind(sellSeats),
    completeOrder: bind(completeOrder),
  };
}

/** Repairs one hold's seats of the plan from MySQL (seat-repair.ts). */
async function repair(deps: OrderActivityDeps, plan: CheckoutPlan, hold: OrderHold): Promise<void> {
  const { eventId, buyerId } = plan;
  const result = await deps.repairSeats({ eventId, buyerId, ...hold });
  if (result === "NOT_LOADED") {
    deps.log.warn(
      { eventId, holdId: hold.holdId },
      "event has no live state in redis; its seats load with the next rebuild",
    );
  }
}

/** Repairs every hold's seats of the plan from MySQL. */
async function repairAll(deps: OrderActivityDeps, plan: CheckoutPlan): Promise<void> {
  for (const hold of holdsOfPlan(plan)) await repair(deps, plan, hold);
}

async function changed(deps: OrderActivityDeps, orderId: string): Promise<void> {
  await deps.notifier
    .publish(orderId)
    .catch((err: unknown) => deps.log.warn({ err, orderId }, "order update not published"));
}

/**
 * Pins every hold of the order (all or none, one script), prices them and
 * records the order as PENDING_PAYMENT with its holds.
 */
async function beginCheckout(deps: OrderActivityDeps, input: CheckoutInput): Promise<CheckoutPlan> {
  const { holds, inventory, orders } = deps;
  const holdIds = input.holdIds ?? [input.holdId];
  let pinned;
  try {
    pinned = await holds.pinHolds(
      input.eventId,
      holdIds,
      input.buyerId,
      input.orderId,
      input.paymentWindowMs + PIN_MARGIN_MS,
    );
  } catch (err) {
    // A retry after the pin and the insert both succeeded finds the order in
    // place (read only then: only this checkout inserts it, before it returns).
    if (err instanceof AppError && err.reason === "HOLD_NOT_ACTIVE") {
      const existing = await orders.get(input.orderId);
      if (existing) return planOf(existing);
    }
    // A hold that cannot be paid for, or a sale closed before the pin: final.
    if (err instanceof AppError && (err.reason.startsWith("HOLD_") || err.reason === "SALE_CLOSED"))
      throw businessFailure(err.reason, err.message);
    throw err;
  }
  const index = await inventory.requireIndex(input.eventId);
  const prices = new Map<string, number>();
  const amounts: number[] = [];
  for (const hold of pinned) {
    if (hold.sectionId) {
      const section = index.section(hold.sectionId);
      const price = index.priceOf(section?.generalAdmission?.priceCategoryId ?? "");
      prices.set(hold.sectionId, price);
      amounts.push(timesMinor(price, hold.quantity));
    } else {
      for (const seat of hold.seatIds) {
        const price = index.priceOf(index.seat(seat)?.priceCategoryId ?? "");
        prices.set(seat, price);
        amounts.push(price);
      }
    }
  }
  const orderHolds: OrderHold[] = pinned.map((h) => ({
    holdId: h.holdId,
    seatIds: h.seatIds,
    sectionId: h.sectionId,
    quantity: h.quantity,
  }));
  const plan: CheckoutPlan = {
    orderId: input.orderId,
    eventId: input.eventId,
    holdId: input.holdId,
    buyerId: input.buyerId,
    idempotencyKey: input.idempotencyKey,
    ...orderFieldsOf(orderHolds),
    holds: orderHolds,
    prices: [...prices.entries()],
    // Checked integer arithmetic (domain/money.ts): a total is exact or the checkout fails.
    amountMinor: totalMinor(amounts),
    currencyCode: index.layout.currencyCode,
  };
  const inserted = await orders.insertPending(plan, orderRequestHash({ ...input, holdIds }));
  if (inserted === "IDEMPOTENCY_KEY_REUSED" || inserted === "HOLD_IN_ORDER") {
    // IDEMPOTENCY_KEY_REUSED: another checkout of this buyer recorded its
    // order under the same key first (other holds, one key, at once).
    // HOLD_IN_ORDER: MySQL has one of the holds in another order (Redis, which
    // refuses that at the pin, lost it). Either way this checkout can never
    // record its order (one checkout per set of holds): give the seats back.
    for (const holdId of holdIds) await holds.releaseHold(input.eventId, holdId, undefined);
    throw inserted === "IDEMPOTENCY_KEY_REUSED"
      ? businessFailure(
          "IDEMPOTENCY_KEY_REUSED",
          `idempotency key ${input.idempotencyKey} was used for another order of this buyer`,
        )
      : businessFailure("HOLD_NOT_ACTIVE", `a hold of order ${input.orderId} is part of another order`);
  }
  await changed(deps, plan.orderId);
  return plan;
}

/** Authorizes the amount; a decline is a business failure, provider trouble is retried. */
async function authorizePayment(
  deps: OrderActivityDeps,
  plan: CheckoutPlan,
  paymentMethodToken: string,
): Promise<string> {
  const { orders, payments } = deps;
  const result = await payments.authorize({
    paymentKey: paymentKeyOf(plan.orderId),
    amountMinor: plan.amountMinor,
    currencyCode: plan.currencyCode,
    paymentMethodToken,
  });
  await orders.recordAuthorization(plan.orderId, result.authorizationId, plan.amountMinor, plan.currencyCode);
  if (result.status === "DECLINED") {
    await orders.setPaymentState(plan.orderId, "DECLINED");
    // 3-D Secure needs the buyer: a reason of its own, so a client can ask them and retry.
    const reason = result.reason === "AUTHENTICATION_REQUIRED" ? "PAYMENT_AUTHENTICATION_REQUIRED" : "PAYMENT_DECLINED";
    throw businessFailure(reason, `payment declined: ${result.reason}`);
  }
  return result.authorizationId;
}

/** Claims every hold's seats in MySQL, all or none; losing them to another order is a business failure. */
async function commitSale(deps: OrderActivityDeps, plan: CheckoutPlan): Promise<void> {
  const { orders } = deps;
  try {
    await orders.commitSale(plan);
  } catch (err) {
    if (err instanceof SeatsLostError) throw businessFailure("SEATS_LOST", err.message);
    throw err;
  }
}

/**
 * Makes Redis agree that the seats are sold. A hold Redis no longer has in
 * this epoch (pinned before a rebuild, or lost) has its seats repaired
 * from MySQL; a Redis error is thrown and the step retried.
 */
async function markSeatsSold(deps: OrderActivityDeps, plan: CheckoutPlan): Promise<void> {
  const { holds } = deps;
  const { eventId, buyerId } = plan;
  for (const hold of holdsOfPlan(plan)) {
    if ((await holds.markSold({ eventId, buyerId, ...hold })) === "MISSING") await repair(deps, plan, hold);
  }
}

/** A provider answer that the authorization cannot be captured (voided, expired) is final: CAPTURE_FAILED. */
async function capturePayment(deps: OrderActivityDeps, plan: CheckoutPlan): Promise<void> {
  const { orders, payments } = deps;
  try {
    await payments.capture(paymentKeyOf(plan.orderId));
  } catch (err) {
    if (err instanceof PaymentStateError) throw businessFailure("CAPTURE_FAILED", `${err.reason}: ${err.message}`);
    throw err;
  }
  await orders.setPaymentState(plan.orderId, "CAPTURED");
}

/** Signs one ticket per seat (valid until a day after the event starts) and stores them; idempotent. */
async function issueTickets(deps: OrderActivityDeps, plan: CheckoutPlan): Promise<void> {
  const { inventory, orders } = deps;
  const index = await inventory.requireIndex(plan.eventId);
  const start = index.layout.startTime?.getTime();
  const validUntil = new Date(start !== undefined ? start + 86_400_000 : Date.now() + 365 * 86_400_000);
  const tickets = await deps.tickets.sign({ ...plan, holds: holdsOfPlan(plan) }, validUntil);
  await orders.insertTickets(plan.orderId, plan.eventId, tickets);
}

async function confirmOrder(deps: OrderActivityDeps, plan: CheckoutPlan): Promise<void> {
  const { inventory, orders } = deps;
  await orders.transition(plan.orderId, "CONFIRMED", ["PENDING_PAYMENT"]);
  await changed(deps, plan.orderId);
  const index = await inventory.requireIndex(plan.eventId);
  if (index.layout.waitingRoom.enabled) await deps.completeShopping(plan.eventId, plan.buyerId);
}

// --- compensation and cancellation (each idempotent) ---

/** Voids the order's authorization (harmless if none was made), or refunds it if it was captured. */
async function cancelPayment(deps: OrderActivityDeps, orderId: string): Promise<void> {
  const { orders, payments } = deps;
  try {
    await payments.void(paymentKeyOf(orderId));
    await orders.setPaymentState(orderId, "VOIDED");
  } catch (err) {
    if (!(err instanceof PaymentStateError)) throw err;
    await payments.refund(paymentKeyOf(orderId));
    await orders.setPaymentState(orderId, "REFUNDED");
  }
}

async function releaseSale(deps: OrderActivityDeps, orderId: string): Promise<void> {
  const { orders } = deps;
  await orders.releaseSale(orderId);
}

/**
 * Frees the seats of every hold of the order in Redis: releases a pinned
 * hold, or puts sold seats back on sale. A hold Redis lost, or one a rebuild
 * dropped, has its seats repaired from MySQL instead. Only a missing hold
 * counts as missing: a Redis timeout or connection error is thrown and the
 * step retried.
 */
async function releaseSeats(deps: OrderActivityDeps, plan: CheckoutPlan): Promise<void> {
  const { holds } = deps;
  const { eventId, buyerId } = plan;
  let partlyRefunded: boolean | undefined;
  for (const part of holdsOfPlan(plan)) {
    let hold;
    try {
      hold = await holds.getHold(eventId, part.holdId);
    } catch (err) {
      if (!(err instanceof AppError && err.reason === "HOLD_NOT_FOUND")) throw err;
    }
    if (hold && (hold.state === "PINNED" || hold.state === "ACTIVE")) {
      await holds.releaseHold(eventId, part.holdId, undefined);
    } else if (hold?.state === "SOLD") {
      // unsell_hold gives back the whole hold's quantity: after a partial
      // refund gave some back already, MySQL says what is left instead.
      partlyRefunded ??= await deps.orders.hasPartialRefunds(plan.orderId);
      if (partlyRefunded || (await holds.markUnsold({ eventId, buyerId, ...part })) === "MISSING")
        await repair(deps, plan, part);
    } else if (hold?.state !== "EXPIRED") {
      // Gone, or released (by a rebuild, a refund or a release): MySQL says
      // what the seats are now. Idempotent, and it frees no other hold.
      await repair(deps, plan, part);
    }
  }
}

async function finishOrder(
  deps: OrderActivityDeps,
  orderId: string,
  state: Extract<OrderState, "FAILED" | "CANCELLED">,
  reason: string,
): Promise<void> {
  const { orders } = deps;
  await orders.transition(orderId, state, ["PENDING_PAYMENT"], state === "FAILED" ? reason : undefined);
  await changed(deps, orderId);
}

// --- refund after confirmation ---

/** The refund policy's decision, and the tickets revoked with it (OrderStore.claimRefund). */
async function claimRefund(deps: OrderActivityDeps, orderId: string, options: RefundOptions): Promise<void> {
  const { orders } = deps;
  const claim = await orders.claimRefund(orderId, options.force);
  if ("refused" in claim) {
    throw businessFailure(
      claim.refused,
      claim.refused === "REFUND_WINDOW_CLOSED"
        ? `order ${orderId}: refunds for this event have ended`
        : `order ${orderId} has a checked-in ticket`,
    );
  }
  if (claim.passed.length > 0) {
    deps.log.warn({ orderId, operator: options.by, rules: claim.passed }, "refund forced past the refund policy");
  }
}

async function refundPayment(deps: OrderActivityDeps, orderId: string): Promise<void> {
  const { orders, payments } = deps;
  await payments.refund(paymentKeyOf(orderId));
  await orders.setPaymentState(orderId, "REFUNDED");
}

async function revokeOrder(deps: OrderActivityDeps, orderId: string): Promise<CheckoutPlan> {
  const { orders } = deps;
  const order = await orders.get(orderId);
  if (!order) throw businessFailure("ORDER_NOT_FOUND", `order ${orderId} not found`);
  await orders.revokeTickets(orderId);
  await orders.releaseSale(orderId);
  return planOf(order);
}

async function markRefunded(deps: OrderActivityDeps, orderId: string): Promise<void> {
  const { orders } = deps;
  await orders.recordFullRefund(orderId);
  await orders.setPaymentState(orderId, "REFUNDED");
  await orders.transition(orderId, "REFUNDED", ["CONFIRMED"]);
  await changed(deps, orderId);
}

// --- partial refund (some tickets of a confirmed order; workflows/refund-order.ts) ---

/** What a partial refund's decision left: the amount to refund, and the order's valid tickets after it. */
export interface TicketRefund {
  amountMinor: number;
  remaining: number;
}

/**
 * The refund policy on the named tickets, and (in the same MySQL
 * transaction) their revocation and their seats or places given back
 * (OrderStore.claimTicketRefund). A retry returns the decision made first.
 */
async function claimTicketRefund(
  deps: OrderActivityDeps,
  orderId: string,
  refundId: string,
  ticketIds: string[],
  options: RefundOptions,
): Promise<TicketRefund> {
  const { orders } = deps;
  const claim = await orders.claimTicketRefund(orderId, refundId, ticketIds, options.force);
  if ("refused" in claim) {
    throw businessFailure(
      claim.refused,
      claim.refused === "REFUND_WINDOW_CLOSED"
        ? `order ${orderId}: refunds for this event have ended`
        : `order ${orderId}: a ticket to refund is checked in`,
    );
  }
  if (claim.passed.length > 0) {
    deps.log.warn(
      { orderId, ticketIds, operator: options.by, rules: claim.passed },
      "partial refund forced past the refund policy",
    );
  }
  await changed(deps, orderId);
  return { amountMinor: claim.amountMinor, remaining: claim.remaining };
}

/** Refunds the tickets' amount under the refund's own key (<orderId>:payment:refund:<refundId>). */
async function refundTicketsPayment(
  deps: OrderActivityDeps,
  orderId: string,
  refundId: string,
  amountMinor: number,
): Promise<void> {
  await deps.payments.refund(paymentKeyOf(orderId), { refundId, amountMinor });
}

/**
 * Makes Redis agree with MySQL on the order's seats: the refunded ones free,
 * the others still sold (lua/repair_seats.lua writes each seat of the hold,
 * and a general-admission section's sold count, from MySQL). A
 * general-admission count written from MySQL can be behind a checkout of
 * another order between its MySQL commit and its Redis update; that errs
 * towards fewer places on sale, never more, until the next repair or rebuild.
 */
async function releaseRefundedSeats(deps: OrderActivityDeps, orderId: string): Promise<void> {
  const order = await deps.orders.get(orderId);
  if (!order) throw businessFailure("ORDER_NOT_FOUND", `order ${orderId} not found`);
  // Under the order's refund lock: no partial refund of it changes MySQL
  // between the repair's read and its write.
  await deps.orders.withRefundLock(orderId, () => repairAll(deps, planOf(order)));
}

// --- pairs of steps the checkout runs back to back, as one local activity each:
// every Temporal round trip costs more than the step itself. Each half is
// idempotent, so a retry of the pair redoes both safely.

/** commitSale then markSeatsSold: MySQL claims the seats, then Redis agrees. */
async function sellSeats(deps: OrderActivityDeps, plan: CheckoutPlan): Promise<void> {
  await commitSale(deps, plan);
  await markSeatsSold(deps, plan);
}

/** issueTickets then confirmOrder: the order is CONFIRMED with its tickets in place. */
async function completeOrder(deps: OrderActivityDeps, plan: CheckoutPlan): Promise<void> {
  await issueTickets(deps, plan);
  await confirmOrder(deps, plan);
}

function planOf(order: Order): CheckoutPlan {
  return {
    orderId: order.orderId,
    eventId: order.eventId,
    holdId: order.holdId,
    buyerId: order.buyerId,
    idempotencyKey: "",
    seatIds: order.seatIds,
    sectionId: order.sectionId,
    quantity: order.quantity,
    holds: order.holds,
    prices: [],
    amountMinor: order.amountMinor,
    currencyCode: order.currencyCode,
  };
}

export type OrderActivities = ReturnType<typeof createOrderActivities>;
export type { CheckoutInput, CheckoutPlan, RefundOptions };
