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
import type { Order, OrderState } from "./order.js";
import { orderRequestHash, type OrderStore, SeatsLostError, type NewOrder } from "./order-store.js";
import type { RepairResult, RepairTarget } from "./seat-repair.js";
import { timesMinor, totalMinor } from "../domain/money.js";

/** How a refund was asked for: `force` (an operator, named in `by`) passes the refund policy. */
export interface RefundOptions {
  force: boolean;
  by: string;
}

export interface CheckoutInput {
  orderId: string;
  eventId: string;
  holdId: string;
  buyerId: string;
  idempotencyKey: string;
  paymentMethodToken: string;
  paymentWindowMs: number;
}

/** What the checkout sells, fixed when it begins. */
export interface CheckoutPlan {
  orderId: string;
  eventId: string;
  holdId: string;
  buyerId: string;
  idempotencyKey: string;
  seatIds: string[];
  sectionId: string;
  quantity: number;
  prices: [string, number][];
  amountMinor: number;
  currencyCode: string;
}

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

const toNewOrder = (plan: CheckoutPlan): NewOrder => ({ ...plan, prices: new Map(plan.prices) });

function businessFailure(reason: string, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, reason);
}

export function createOrderActivities(deps: OrderActivityDeps) {
  const { holds, inventory, orders, payments, notifier } = deps;

  async function repair(plan: CheckoutPlan): Promise<void> {
    const result = await deps.repairSeats(plan);
    if (result === "NOT_LOADED") {
      deps.log.warn(
        { eventId: plan.eventId, holdId: plan.holdId },
        "event has no live state in redis; its seats load with the next rebuild",
      );
    }
  }

  async function changed(orderId: string): Promise<void> {
    await notifier
      .publish(orderId)
      .catch((err: unknown) => deps.log.warn({ err, orderId }, "order update not published"));
  }

  const steps = {
    /** Pins the hold, prices it and records the order as PENDING_PAYMENT. */
    async beginCheckout(input: CheckoutInput): Promise<CheckoutPlan> {
      let hold;
      try {
        hold = await holds.pinHold(input.eventId, input.holdId, input.buyerId, input.paymentWindowMs + PIN_MARGIN_MS);
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
      if (hold.sectionId) {
        const section = index.section(hold.sectionId);
        prices.set(hold.sectionId, index.priceOf(section?.generalAdmission?.priceCategoryId ?? ""));
      } else {
        for (const seat of hold.seatIds) prices.set(seat, index.priceOf(index.seat(seat)?.priceCategoryId ?? ""));
      }
      // Checked integer arithmetic (domain/money.ts): a total is exact or the checkout fails.
      const amountMinor = hold.sectionId
        ? timesMinor(prices.get(hold.sectionId) ?? 0, hold.quantity)
        : totalMinor(prices.values());
      const plan: CheckoutPlan = {
        orderId: input.orderId,
        eventId: input.eventId,
        holdId: input.holdId,
        buyerId: input.buyerId,
        idempotencyKey: input.idempotencyKey,
        seatIds: hold.seatIds,
        sectionId: hold.sectionId,
        quantity: hold.quantity,
        prices: [...prices.entries()],
        amountMinor,
        currencyCode: index.layout.currencyCode,
      };
      if ((await orders.insertPending(toNewOrder(plan), orderRequestHash(input))) === "IDEMPOTENCY_KEY_REUSED") {
        // Another checkout of this buyer recorded its order under the same key
        // first (two holds, one key, at once). This hold can never be checked
        // out again (one checkout per hold): give its seats back.
        await holds.releaseHold(input.eventId, input.holdId, undefined);
        throw businessFailure(
          "IDEMPOTENCY_KEY_REUSED",
          `idempotency key ${input.idempotencyKey} was used for another order of this buyer`,
        );
      }
      await changed(plan.orderId);
      return plan;
    },

    /** Authorizes the amount; a decline is a business failure, provider trouble is retried. */
    async authorizePayment(plan: CheckoutPlan, paymentMethodToken: string): Promise<string> {
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
        const reason =
          result.reason === "AUTHENTICATION_REQUIRED" ? "PAYMENT_AUTHENTICATION_REQUIRED" : "PAYMENT_DECLINED";
        throw businessFailure(reason, `payment declined: ${result.reason}`);
      }
      return result.authorizationId;
    },

    /** Claims the seats in MySQL; losing them to another order is a business failure. */
    async commitSale(plan: CheckoutPlan): Promise<void> {
      try {
        await orders.commitSale(toNewOrder(plan));
      } catch (err) {
        if (err instanceof SeatsLostError) throw businessFailure("SEATS_LOST", err.message);
        throw err;
      }
    },

    /**
     * Makes Redis agree that the seats are sold. A hold Redis no longer has in
     * this epoch (pinned before a rebuild, or lost) has its seats repaired
     * from MySQL; a Redis error is thrown and the step retried.
     */
    async markSeatsSold(plan: CheckoutPlan): Promise<void> {
      if ((await holds.markSold(plan)) === "MISSING") await repair(plan);
    },

    /** A provider answer that the authorization cannot be captured (voided, expired) is final: CAPTURE_FAILED. */
    async capturePayment(plan: CheckoutPlan): Promise<void> {
      try {
        await payments.capture(paymentKeyOf(plan.orderId));
      } catch (err) {
        if (err instanceof PaymentStateError) throw businessFailure("CAPTURE_FAILED", `${err.reason}: ${err.message}`);
        throw err;
      }
      await orders.setPaymentState(plan.orderId, "CAPTURED");
    },

    /** Signs one ticket per seat (valid until a day after the event starts) and stores them; idempotent. */
    async issueTickets(plan: CheckoutPlan): Promise<void> {
      const index = await inventory.requireIndex(plan.eventId);
      const start = index.layout.startTime?.getTime();
      const validUntil = new Date(start !== undefined ? start + 86_400_000 : Date.now() + 365 * 86_400_000);
      const tickets = await deps.tickets.sign(plan, validUntil);
      await orders.insertTickets(plan.orderId, plan.eventId, tickets);
    },

    async confirmOrder(plan: CheckoutPlan): Promise<void> {
      await orders.transition(plan.orderId, "CONFIRMED", ["PENDING_PAYMENT"]);
      await changed(plan.orderId);
      const index = await inventory.requireIndex(plan.eventId);
      if (index.layout.waitingRoom.enabled) await deps.completeShopping(plan.eventId, plan.buyerId);
    },

    // --- compensation and cancellation (each idempotent) ---

    /** Voids the order's authorization (harmless if none was made), or refunds it if it was captured. */
    async cancelPayment(orderId: string): Promise<void> {
      try {
        await payments.void(paymentKeyOf(orderId));
        await orders.setPaymentState(orderId, "VOIDED");
      } catch (err) {
        if (!(err instanceof PaymentStateError)) throw err;
        await payments.refund(paymentKeyOf(orderId));
        await orders.setPaymentState(orderId, "REFUNDED");
      }
    },

    async releaseSale(orderId: string): Promise<void> {
      await orders.releaseSale(orderId);
    },

    /**
     * Frees the seats in Redis: releases a pinned hold, or puts sold seats back
     * on sale. A hold Redis lost, or one a rebuild dropped, has its seats
     * repaired from MySQL instead. Only a missing hold counts as missing: a
     * Redis timeout or connection error is thrown and the step retried.
     */
    async releaseSeats(plan: CheckoutPlan): Promise<void> {
      let hold;
      try {
        hold = await holds.getHold(plan.eventId, plan.holdId);
      } catch (err) {
        if (!(err instanceof AppError && err.reason === "HOLD_NOT_FOUND")) throw err;
      }
      if (hold && (hold.state === "PINNED" || hold.state === "ACTIVE")) {
        await holds.releaseHold(plan.eventId, plan.holdId, undefined);
      } else if (hold?.state === "SOLD") {
        if ((await holds.markUnsold(plan)) === "MISSING") await repair(plan);
      } else if (hold?.state !== "EXPIRED") {
        // Gone, or released (by a rebuild, a refund or a release): MySQL says
        // what the seats are now. Idempotent, and it frees no other hold.
        await repair(plan);
      }
    },

    async finishOrder(
      orderId: string,
      state: Extract<OrderState, "FAILED" | "CANCELLED">,
      reason: string,
    ): Promise<void> {
      await orders.transition(orderId, state, ["PENDING_PAYMENT"], state === "FAILED" ? reason : undefined);
      await changed(orderId);
    },

    // --- refund after confirmation ---

    /** The refund policy's decision, and the tickets revoked with it (OrderStore.claimRefund). */
    async claimRefund(orderId: string, options: RefundOptions): Promise<void> {
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
    },

    async refundPayment(orderId: string): Promise<void> {
      await payments.refund(paymentKeyOf(orderId));
      await orders.setPaymentState(orderId, "REFUNDED");
    },

    async revokeOrder(orderId: string): Promise<CheckoutPlan> {
      const order = await orders.get(orderId);
      if (!order) throw businessFailure("ORDER_NOT_FOUND", `order ${orderId} not found`);
      await orders.revokeTickets(orderId);
      await orders.releaseSale(orderId);
      return planOf(order);
    },

    async markRefunded(orderId: string): Promise<void> {
      await orders.transition(orderId, "REFUNDED", ["CONFIRMED"]);
      await changed(orderId);
    },
  };

  return {
    ...steps,
    // Pairs of steps the checkout runs back to back, as one local activity each:
    // every Temporal round trip costs more than the step itself. Each half is
    // idempotent, so a retry of the pair redoes both safely.

    /** commitSale then markSeatsSold: MySQL claims the seats, then Redis agrees. */
    async sellSeats(plan: CheckoutPlan): Promise<void> {
      await steps.commitSale(plan);
      await steps.markSeatsSold(plan);
    },

    /** issueTickets then confirmOrder: the order is CONFIRMED with its tickets in place. */
    async completeOrder(plan: CheckoutPlan): Promise<void> {
      await steps.issueTickets(plan);
      await steps.confirmOrder(plan);
    },
  };
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
    prices: [],
    amountMinor: order.amountMinor,
    currencyCode: order.currencyCode,
  };
}

export type OrderActivities = ReturnType<typeof createOrderActivities>;
