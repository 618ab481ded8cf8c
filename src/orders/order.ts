// Orders: a hold being paid for. Shared by the API, the activities and (as
// plain data) the checkout workflow, so it imports nothing.

export type OrderState = "PENDING_PAYMENT" | "CONFIRMED" | "FAILED" | "CANCELLED" | "REFUNDED";

export const FINAL_ORDER_STATES: readonly OrderState[] = ["CONFIRMED", "FAILED", "CANCELLED", "REFUNDED"];

export interface OrderTicket {
  ticketId: string;
  seatId: string;
  code: string;
  /** Revoked by a refund (whole-order or partial). */
  revoked?: boolean;
}

export interface Order {
  orderId: string;
  eventId: string;
  holdId: string;
  buyerId: string;
  state: OrderState;
  failureReason: string;
  seatIds: string[];
  /** General admission: the section and quantity. */
  sectionId: string;
  quantity: number;
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
  holdId: string;
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
  holdId: string;
  buyerId: string;
  idempotencyKey: string;
  seatIds: string[];
  /** General admission: the section and quantity. */
  sectionId: string;
  quantity: number;
  /** Price per seat id (reserved) or per place (general admission: keyed by the section). */
  prices: [string, number][];
  amountMinor: number;
  currencyCode: string;
}

/** One order per hold: the id derives from the hold's, so retries converge. */
export function orderIdForHold(holdId: string): string {
  return `o_${holdId.replace(/^h_/, "")}`;
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
