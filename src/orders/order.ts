// Orders: one or more holds of a buyer being paid for. Shared by the API, the
// activities, the simulator and (as plain data, types only) the checkout
// workflow, so it imports nothing but node:crypto for order ids.
import { createHash } from "node:crypto";

export type OrderState = "PENDING_PAYMENT" | "CONFIRMED" | "FAILED" | "CANCELLED" | "REFUNDED";

export const FINAL_ORDER_STATES: readonly OrderState[] = ["CONFIRMED", "FAILED", "CANCELLED", "REFUNDED"];

export interface OrderTicket {
  ticketId: string;
  seatId: string;
  code: string;
  /** Revoked by a refund (whole-order or partial). */
  revoked?: boolean;
}

/** Most holds one order pays for (CreateOrder's hold_ids). */
export const MAX_ORDER_HOLDS = 10;

/** One hold of an order: its seats, or its general-admission section and quantity. */
export interface OrderHold {
  holdId: string;
  seatIds: string[];
  sectionId: string;
  quantity: number;
}

export interface Order {
  orderId: string;
  eventId: string;
  /** The first of `holds` (sorted by id). */
  holdId: string;
  buyerId: string;
  state: OrderState;
  failureReason: string;
  /** Every reserved seat of every hold. */
  seatIds: string[];
  /** The general-admission section of the order's places ("" with none, or with places in several sections). */
  sectionId: string;
  /** Tickets in all: seats plus general-admission places. */
  quantity: number;
  /** Every hold of the order, sorted by id. */
  holds: OrderHold[];
  amountMinor: number;
  /** Refunded so far (partial refunds add up; a whole-order refund is amountMinor). */
  refundedMinor: number;
  currencyCode: string;
  tickets: OrderTicket[];
  createTime: Date;
  updateTime: Date;
  /** The CreateOrder idempotency key that made it. */
  idempotencyKey: string;
  /** SHA-256 of the CreateOrder request that made it (orderRequestHash); "" for orders older than it. */
  requestHash: string;
}

/** How a refund was asked for: `force` (an operator, named in `by`) passes the refund policy. */
export interface RefundOptions {
  force: boolean;
  by: string;
}

/** What CreateOrder hands the checkout workflow. */
export interface CheckoutInput {
  orderId: string;
  eventId: string;
  /** The first of holdIds. */
  holdId: string;
  /** Every hold, sorted; absent in checkouts started before orders had several (then [holdId]). */
  holdIds?: string[];
  buyerId: string;
  idempotencyKey: string;
  paymentMethodToken: string;
  paymentWindowMs: number;
}

/**
 * What a checkout sells, fixed when it begins: the order as the checkout
 * records it (OrderStore.insertPending, commitSale). Plain data, since it
 * travels through Temporal's history.
 */
export interface CheckoutPlan {
  orderId: string;
  eventId: string;
  /** The first hold. */
  holdId: string;
  buyerId: string;
  idempotencyKey: string;
  /** The order's (as Order's fields of the same names). */
  seatIds: string[];
  sectionId: string;
  quantity: number;
  /** Every hold, sorted by id; absent in plans recorded before orders had several (then holdsOfPlan). */
  holds?: OrderHold[];
  /** Price per seat id (reserved) or per place (general admission: keyed by the section). */
  prices: [string, number][];
  amountMinor: number;
  currencyCode: string;
}

/** The plan's holds; a plan recorded before orders had several holds is its one hold. */
export function holdsOfPlan(plan: CheckoutPlan): OrderHold[] {
  return (
    plan.holds ?? [{ holdId: plan.holdId, seatIds: plan.seatIds, sectionId: plan.sectionId, quantity: plan.quantity }]
  );
}

/**
 * The order-level fields of a set of holds: every seat, the general-admission
 * section when the places are all in one, and the tickets in all.
 */
export function orderFieldsOf(holds: readonly OrderHold[]): { seatIds: string[]; sectionId: string; quantity: number } {
  const sections = new Set(holds.filter((h) => h.sectionId).map((h) => h.sectionId));
  return {
    seatIds: holds.flatMap((h) => h.seatIds),
    sectionId: sections.size === 1 ? [...sections][0]! : "",
    quantity: holds.reduce((n, h) => n + h.quantity, 0),
  };
}

/** An order of one hold: the id derives from the hold's, so retries converge (orders.ts orderIdForHolds for several). */
export function orderIdForHold(holdId: string): string {
  return `o_${holdId.replace(/^h_/, "")}`;
}

/**
 * An order's id from its holds: an order of one hold keeps `o_<hold>` (as
 * before orders had several); several hash their sorted ids, so the same set
 * in any order is the same order (one checkout workflow), and another set
 * sharing a hold is another order, which its pin refuses.
 */
export function orderIdForHolds(eventId: string, holdIds: readonly string[]): string {
  if (holdIds.length === 1) return orderIdForHold(holdIds[0]!);
  const digest = createHash("sha256")
    .update(JSON.stringify([eventId, [...holdIds].sort()]))
    .digest("base64url");
  return `o_${digest.slice(0, 22)}`;
}

export function checkoutWorkflowId(orderId: string): string {
  return `checkout-${orderId}`;
}

export function refundWorkflowId(orderId: string): string {
  return `refund-${orderId}`;
}

/** A partial refund's workflow: one per order and set of tickets (refundIdOf). */
export function ticketRefundWorkflowId(orderId: string, refundId: string): string {
  return `refund-${orderId}-${refundId}`;
}
