// OrderService: request validation and proto mapping around orders.
import { AppError, invalidArgument } from "../../domain/errors.js";
import { Validator } from "../../domain/validation.js";
import {
  type OrderServiceService,
  OrderState,
  type Order as OrderMessage,
} from "../../gen/ticketing/v1/order_service.js";
import { actingBuyer, maySee, requireOperator } from "../../identity/principal.js";
import { MAX_ORDER_HOLDS, type Order } from "../../orders/order.js";
import type { Orders } from "../../orders/orders.js";
import type { ServiceHandlers } from "../bind.js";

const STATES: Record<Order["state"], OrderState> = {
  PENDING_PAYMENT: OrderState.ORDER_STATE_PENDING_PAYMENT,
  CONFIRMED: OrderState.ORDER_STATE_CONFIRMED,
  FAILED: OrderState.ORDER_STATE_FAILED,
  CANCELLED: OrderState.ORDER_STATE_CANCELLED,
  REFUNDED: OrderState.ORDER_STATE_REFUNDED,
};

export function toOrderMessage(order: Order): OrderMessage {
  return {
    ...order,
    state: STATES[order.state],
    amountMinor: String(order.amountMinor),
    refundedAmountMinor: String(order.refundedMinor),
    tickets: order.tickets.map((t) => ({ ticketId: t.ticketId, seatId: t.seatId, code: t.code, revoked: !!t.revoked })),
  };
}

const PAYMENT_TOKEN = /^[A-Za-z0-9_.:-]{1,256}$/;

/** Tickets one CancelOrder may refund by name (an order has at most as many as a buyer may buy). */
const MAX_REFUND_TICKETS = 100;

/** CancelOrder answers this long before the caller's deadline, so the answer arrives in time. */
const ANSWER_MARGIN_MS = 300;

/** Opaque page token: the last order's (created_at, order_id). */
function encodeToken(order: Order): string {
  return Buffer.from(JSON.stringify([order.createTime.toISOString(), order.orderId])).toString("base64url");
}

function decodeToken(token: string, rpc: string): { createdAt: Date; orderId: string } {
  try {
    const [createdAt, orderId] = JSON.parse(Buffer.from(token, "base64url").toString()) as [string, string];
    const date = new Date(createdAt);
    if (typeof orderId !== "string" || Number.isNaN(date.getTime())) throw new Error("bad token");
    return { createdAt: date, orderId };
  } catch {
    throw invalidArgument([{ field: "page_token", description: `is not a token from a previous ${rpc} response` }]);
  }
}

/** One page of `pageSize` from a query asked for pageSize + 1 (the extra one says a next page exists). */
function toPage(page: Order[], pageSize: number): { orders: OrderMessage[]; nextPageToken: string } {
  const shown = page.slice(0, pageSize);
  const last = shown[shown.length - 1];
  return {
    orders: shown.map(toOrderMessage),
    nextPageToken: page.length > pageSize && last ? encodeToken(last) : "",
  };
}

/** ListEventOrders' page sizes: an operator pages through a whole event (tens of thousands of orders). */
const EVENT_PAGE_MAX = 500;
const EVENT_PAGE_DEFAULT = 100;

const STATE_NAMES = new Map(Object.entries(STATES).map(([name, state]) => [state, name as Order["state"]]));

export function orderHandlers(orders: Orders): ServiceHandlers<typeof OrderServiceService> {
  return {
    async createOrder(req, ctx) {
      const v = new Validator();
      v.id("event_id", req.eventId);
      const holdIds = checkHoldIds(v, req.holdId, req.holdIds);
      v.id("idempotency_key", req.idempotencyKey);
      const token = req.payment?.paymentMethodToken ?? "";
      if (!req.payment) v.add("payment", "is required");
      else if (!PAYMENT_TOKEN.test(token))
        v.add("payment.payment_method_token", "must be 1-256 characters of A-Z a-z 0-9 _ . : -");
      const buyerId = actingBuyer(ctx.principal, req.buyerId, v);
      v.check();
      const order = await orders
        .createOrder({
          eventId: req.eventId,
          holdIds,
          buyerId,
          idempotencyKey: req.idempotencyKey,
          paymentMethodToken: token,
        })
        .catch((err: unknown) => {
          // Another buyer's hold is answered as not found, so hold ids cannot be probed.
          if (err instanceof AppError && err.reason === "HOLD_NOT_OWNED") {
            const holdId = err.metadata.hold_id ?? holdIds[0]!;
            throw new AppError("HOLD_NOT_FOUND", `hold ${holdId} not found`, { metadata: { ...err.metadata } });
          }
          throw err;
        });
      return { order: toOrderMessage(order) };
    },

    async getOrder(req, ctx) {
      const v = new Validator();
      v.id("order_id", req.orderId);
      v.check();
      const order = await orders.getOrder(req.orderId);
      if (!maySee(ctx.principal, order.buyerId)) throw orderNotFound(req.orderId);
      return { order: toOrderMessage(order) };
    },

    async watchOrder(req, ctx, send) {
      const v = new Validator();
      v.id("order_id", req.orderId);
      v.check();
      const order = await orders.getOrder(req.orderId);
      if (!maySee(ctx.principal, order.buyerId)) throw orderNotFound(req.orderId);
      await orders.watchOrder(req.orderId, ctx.signal, (order) => send({ order: toOrderMessage(order) }));
    },

    async cancelOrder(req, ctx) {
      const v = new Validator();
      v.id("order_id", req.orderId);
      v.id("request_id", req.requestId);
      if (req.ticketIds.length > MAX_REFUND_TICKETS)
        v.add("ticket_ids", `must name at most ${MAX_REFUND_TICKETS} tickets`);
      req.ticketIds.forEach((id, i) => v.id(`ticket_ids[${i}]`, id));
      const buyerId = actingBuyer(ctx.principal, req.buyerId, v);
      v.check();
      if (req.force) requireOperator(ctx.principal);
      const refund = { force: req.force, by: ctx.principal.subject };
      // The answer leaves before the caller's deadline, whatever Temporal is doing.
      const answerBy = ctx.deadline ? new Date(ctx.deadline.getTime() - ANSWER_MARGIN_MS) : undefined;
      const order = await orders
        .cancelOrder(req.orderId, buyerId, refund, answerBy, req.ticketIds)
        .catch((err: unknown) => {
          throw err instanceof AppError && err.reason === "ORDER_NOT_OWNED" ? orderNotFound(req.orderId) : err;
        });
      return { order: toOrderMessage(order) };
    },

    async listOrders(req, ctx) {
      const v = new Validator();
      v.optionalId("event_id", req.eventId);
      if (req.pageSize !== 0) v.int("page_size", req.pageSize, 1, 100);
      const buyerId = actingBuyer(ctx.principal, req.buyerId, v);
      v.check();
      const pageSize = req.pageSize || 20;
      const after = req.pageToken ? decodeToken(req.pageToken, "ListOrders") : undefined;
      return toPage(await orders.listOrders(buyerId, req.eventId, pageSize + 1, after), pageSize);
    },

    // Operators only (the method's access policy): no buyer acts here.
    async listEventOrders(req) {
      const v = new Validator();
      v.id("event_id", req.eventId);
      v.optionalId("buyer_id", req.buyerId);
      const state = STATE_NAMES.get(req.state);
      if (req.state !== OrderState.ORDER_STATE_UNSPECIFIED && !state) v.add("state", "is not an order state");
      if (req.pageSize !== 0) v.int("page_size", req.pageSize, 1, EVENT_PAGE_MAX);
      v.check();
      const pageSize = req.pageSize || EVENT_PAGE_DEFAULT;
      const after = req.pageToken ? decodeToken(req.pageToken, "ListEventOrders") : undefined;
      const only = { buyerId: req.buyerId, ...(state ? { state } : {}) };
      return toPage(await orders.listEventOrders(req.eventId, only, pageSize + 1, after), pageSize);
    },
  };
}

/**
 * The holds of a CreateOrder: hold_id (one) or hold_ids (1..MAX_ORDER_HOLDS,
 * each once), never both; violations go to `v`.
 */
function checkHoldIds(v: Validator, holdId: string, holdIds: readonly string[]): string[] {
  if (holdId && holdIds.length > 0) {
    v.add("hold_id", "set hold_id or hold_ids, not both");
    return [];
  }
  if (holdId || holdIds.length === 0) return [v.id("hold_id", holdId)];
  if (holdIds.length > MAX_ORDER_HOLDS) v.add("hold_ids", `must name at most ${MAX_ORDER_HOLDS} holds`);
  const seen = new Set<string>();
  holdIds.forEach((id, i) => {
    v.id(`hold_ids[${i}]`, id);
    if (seen.has(id)) v.add(`hold_ids[${i}]`, "is named twice");
    seen.add(id);
  });
  return [...holdIds];
}

/** Another buyer's order is answered as not found, so order ids cannot be probed. */
function orderNotFound(orderId: string): AppError {
  return new AppError("ORDER_NOT_FOUND", `order ${orderId} not found`);
}
