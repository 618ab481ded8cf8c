// OrderService: request validation and proto mapping around orders.
import { invalidArgument } from "../../domain/errors.js";
import { Validator } from "../../domain/validation.js";
import {
  type OrderServiceService,
  OrderState,
  type Order as OrderMessage,
} from "../../gen/ticketing/v1/order_service.js";
import type { Order } from "../../orders/order.js";
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
  return { ...order, state: STATES[order.state], amountMinor: String(order.amountMinor) };
}

const PAYMENT_TOKEN = /^[A-Za-z0-9_.:-]{1,256}$/;

/** Opaque page token: the last order's (created_at, order_id). */
function encodeToken(order: Order): string {
  return Buffer.from(JSON.stringify([order.createTime.toISOString(), order.orderId])).toString("base64url");
}

function decodeToken(token: string): { createdAt: Date; orderId: string } {
  try {
    const [createdAt, orderId] = JSON.parse(Buffer.from(token, "base64url").toString()) as [string, string];
    const date = new Date(createdAt);
    if (typeof orderId !== "string" || Number.isNaN(date.getTime())) throw new Error("bad token");
    return { createdAt: date, orderId };
  } catch {
    throw invalidArgument([{ field: "page_token", description: "is not a token from a previous ListOrders response" }]);
  }
}

export function orderHandlers(orders: Orders): ServiceHandlers<typeof OrderServiceService> {
  return {
    async createOrder(req) {
      const v = new Validator();
      v.id("event_id", req.eventId);
      v.id("hold_id", req.holdId);
      v.id("buyer_id", req.buyerId);
      v.id("idempotency_key", req.idempotencyKey);
      const token = req.payment?.paymentMethodToken ?? "";
      if (!req.payment) v.add("payment", "is required");
      else if (!PAYMENT_TOKEN.test(token))
        v.add("payment.payment_method_token", "must be 1-256 characters of A-Z a-z 0-9 _ . : -");
      v.check();
      const order = await orders.createOrder({
        eventId: req.eventId,
        holdId: req.holdId,
        buyerId: req.buyerId,
        idempotencyKey: req.idempotencyKey,
        paymentMethodToken: token,
      });
      return { order: toOrderMessage(order) };
    },

    async getOrder(req) {
      const v = new Validator();
      v.id("order_id", req.orderId);
      v.check();
      return { order: toOrderMessage(await orders.getOrder(req.orderId)) };
    },

    async watchOrder(req, ctx, send) {
      const v = new Validator();
      v.id("order_id", req.orderId);
      v.check();
      await orders.watchOrder(req.orderId, ctx.signal, (order) => send({ order: toOrderMessage(order) }));
    },

    async cancelOrder(req) {
      const v = new Validator();
      v.id("order_id", req.orderId);
      v.id("buyer_id", req.buyerId);
      v.id("request_id", req.requestId);
      v.check();
      return { order: toOrderMessage(await orders.cancelOrder(req.orderId, req.buyerId)) };
    },

    async listOrders(req) {
      const v = new Validator();
      v.id("buyer_id", req.buyerId);
      v.optionalId("event_id", req.eventId);
      if (req.pageSize !== 0) v.int("page_size", req.pageSize, 1, 100);
      v.check();
      const pageSize = req.pageSize || 20;
      const after = req.pageToken ? decodeToken(req.pageToken) : undefined;
      const page = await orders.listOrders(req.buyerId, req.eventId, pageSize + 1, after);
      const shown = page.slice(0, pageSize);
      const last = shown[shown.length - 1];
      return {
        orders: shown.map(toOrderMessage),
        nextPageToken: page.length > pageSize && last ? encodeToken(last) : "",
      };
    },
  };
}
