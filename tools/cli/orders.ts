// orders list|show|refund.
import { orders } from "../../clients/typescript/src/index.js";
import { minorUnitDigits } from "../../src/domain/money.js";
import {
  fields,
  intOption,
  money,
  positional,
  requestId,
  table,
  UsageError,
  unary,
  when,
  type Command,
  type Context,
} from "./common.js";

const STATES: Record<number, string> = {
  [orders.OrderState.ORDER_STATE_PENDING_PAYMENT]: "PENDING_PAYMENT",
  [orders.OrderState.ORDER_STATE_CONFIRMED]: "CONFIRMED",
  [orders.OrderState.ORDER_STATE_FAILED]: "FAILED",
  [orders.OrderState.ORDER_STATE_CANCELLED]: "CANCELLED",
  [orders.OrderState.ORDER_STATE_REFUNDED]: "REFUNDED",
};
const state = (s: orders.OrderState) => STATES[s] ?? "UNSPECIFIED";

const amount = (o: orders.Order) => `${money(o.amountMinor, minorUnitDigits(o.currencyCode))} ${o.currencyCode}`;
const places = (o: orders.Order) => (o.seatIds.length > 0 ? o.seatIds.join(" ") : `${o.quantity} x ${o.sectionId}`);

function printOrder(ctx: Context, o: orders.Order): void {
  if (ctx.json) return ctx.out(JSON.stringify(orders.Order.toJSON(o), null, 2) + "\n");
  ctx.out(
    fields([
      ["order", o.orderId],
      ["event", o.eventId],
      ["buyer", o.buyerId],
      ["state", `${state(o.state)}${o.failureReason ? ` (${o.failureReason})` : ""}`],
      ["places", places(o)],
      ["amount", amount(o)],
      ...(o.refundedAmountMinor !== "0"
        ? [["refunded", amount({ ...o, amountMinor: o.refundedAmountMinor })] as [string, string]]
        : []),
      ["hold", o.holdId],
      ["created", when(o.createTime)],
      ["updated", when(o.updateTime)],
    ]),
  );
  if (o.tickets.length > 0) {
    ctx.out("\n");
    ctx.out(
      table(
        ["ticket", "seat", "state"],
        o.tickets.map((t) => [t.ticketId, t.seatId, t.revoked ? "revoked" : "valid"]),
      ),
    );
  }
}

const list: Command = {
  name: "orders list",
  args: "EVENT_ID --buyer BUYER_ID",
  summary: "a buyer's orders for an event, newest first",
  help: `The API lists orders per buyer (ListOrders): --buyer names whose.
--event-any lists the buyer's orders of every event (EVENT_ID then omitted).`,
  options: { buyer: { type: "string" }, limit: { type: "string" }, "event-any": { type: "boolean" } },
  positionals: 1,
  async run(ctx) {
    const buyerId = ctx.values.buyer as string | undefined;
    if (!buyerId) throw new UsageError("missing --buyer BUYER_ID (the API lists orders per buyer)");
    const eventId = ctx.values["event-any"] ? "" : positional(ctx, 0, "EVENT_ID");
    const limit = intOption(ctx, "limit") ?? 100;
    const all: orders.Order[] = [];
    let pageToken = "";
    do {
      const page = await unary(ctx.api().orders, "listOrders", {
        buyerId,
        eventId,
        pageSize: Math.min(100, limit - all.length),
        pageToken,
      });
      all.push(...page.orders);
      pageToken = page.nextPageToken;
    } while (pageToken && all.length < limit);
    if (ctx.json)
      return ctx.out(
        JSON.stringify(
          all.map((o) => orders.Order.toJSON(o)),
          null,
          2,
        ) + "\n",
      );
    ctx.out(
      table(
        ["order", "event", "state", "places", "amount", "created"],
        all.map((o) => [o.orderId, o.eventId, state(o.state), places(o), amount(o), when(o.createTime)]),
      ),
    );
  },
};

const show: Command = {
  name: "orders show",
  args: "ORDER_ID",
  summary: "one order with its tickets",
  positionals: 1,
  async run(ctx) {
    const orderId = positional(ctx, 0, "ORDER_ID");
    const { order } = await unary(ctx.api().orders, "getOrder", { orderId });
    printOrder(ctx, order!);
  },
};

const refund: Command = {
  name: "orders refund",
  args: "ORDER_ID [--tickets ID,ID] [--force]",
  summary: "cancel an order: refund it when confirmed, void it before",
  help: `--tickets  refund only these tickets of a confirmed order (comma-separated
           ticket ids): they are revoked and their seats go back on sale;
           the order stays CONFIRMED until no valid ticket is left
--force    refund even past the event's refund cutoff or with a checked-in
           ticket (operators only; logged)`,
  options: { force: { type: "boolean" }, tickets: { type: "string" } },
  positionals: 1,
  async run(ctx) {
    const orderId = positional(ctx, 0, "ORDER_ID");
    const api = ctx.api().orders;
    // An operator acts for the order's buyer, who must be named.
    const { order: current } = await unary(api, "getOrder", { orderId });
    const { order } = await unary(api, "cancelOrder", {
      orderId,
      buyerId: current!.buyerId,
      requestId: requestId("refund"),
      force: Boolean(ctx.values.force),
      ticketIds: String(ctx.values.tickets ?? "")
        .split(",")
        .map((id) => id.trim())
        .filter(Boolean),
    });
    printOrder(ctx, order!);
  },
};

export const orderCommands: Command[] = [list, show, refund];
