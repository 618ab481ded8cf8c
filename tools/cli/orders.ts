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
/** An order's holds (an order recorded before orders had several: its one hold). */
const holdsOf = (o: orders.Order): orders.OrderHold[] =>
  o.holds.length > 0
    ? o.holds
    : [{ holdId: o.holdId, seatIds: o.seatIds, sectionId: o.sectionId, quantity: o.quantity }];
const holdPlaces = (h: orders.OrderHold) => (h.sectionId ? `${h.quantity} x ${h.sectionId}` : h.seatIds.join(" "));
/** Every seat and general-admission place of every hold. */
const places = (o: orders.Order) => holdsOf(o).map(holdPlaces).join(" ");

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
      [
        holdsOf(o).length > 1 ? "holds" : "hold",
        holdsOf(o)
          .map((h) => h.holdId)
          .join(" "),
      ],
      ["created", when(o.createTime)],
      ["updated", when(o.updateTime)],
    ]),
  );
  if (holdsOf(o).length > 1) {
    ctx.out("\n");
    ctx.out(
      table(
        ["hold", "places"],
        holdsOf(o).map((h) => [h.holdId, holdPlaces(h)]),
      ),
    );
  }
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

/** --state's names, as the table prints them. */
const STATE_BY_NAME = new Map(Object.entries(STATES).map(([n, name]) => [name, Number(n) as orders.OrderState]));

const list: Command = {
  name: "orders list",
  args: "EVENT_ID [--state STATE] [--buyer BUYER_ID] [--limit N]",
  summary: "an event's orders, newest first",
  help: `Every order of the event (ListEventOrders), page by page until the last
(or --limit), newest first.
--state STATE     only orders in this state: ${[...STATE_BY_NAME.keys()].join(", ")}
--buyer BUYER_ID  only this buyer's orders
--limit N         at most N orders
--page-size N     orders per call (default and most: 500; 100 with --event-any)
--event-any       with --buyer, the buyer's orders of every event
                  (ListOrders; EVENT_ID then omitted, no --state)`,
  options: {
    state: { type: "string" },
    buyer: { type: "string" },
    limit: { type: "string" },
    "page-size": { type: "string" },
    "event-any": { type: "boolean" },
  },
  positionals: 1,
  async run(ctx) {
    const buyerId = (ctx.values.buyer as string | undefined) ?? "";
    const limit = intOption(ctx, "limit") ?? Infinity;
    if (limit < 1) throw new UsageError("--limit must be at least 1");
    const pageSize = intOption(ctx, "page-size");
    if (pageSize === 0) throw new UsageError("--page-size must be at least 1");
    const stateName = ctx.values.state as string | undefined;
    const wanted = stateName === undefined ? undefined : STATE_BY_NAME.get(stateName.toUpperCase());
    if (stateName !== undefined && wanted === undefined)
      throw new UsageError(`--state must be one of ${[...STATE_BY_NAME.keys()].join(", ")}, not "${stateName}"`);
    const api = () => ctx.api().orders;
    let next: (pageToken: string, size: number) => Promise<{ orders: orders.Order[]; nextPageToken: string }>;
    let pageMax: number;
    if (ctx.values["event-any"]) {
      if (!buyerId) throw new UsageError("--event-any lists one buyer's orders: name it with --buyer");
      if (wanted !== undefined) throw new UsageError("--state needs EVENT_ID (not with --event-any)");
      if (ctx.positionals.length > 0) throw new UsageError("--event-any takes no EVENT_ID");
      next = (pageToken, size) => unary(api(), "listOrders", { buyerId, eventId: "", pageSize: size, pageToken });
      pageMax = 100;
    } else {
      const eventId = positional(ctx, 0, "EVENT_ID");
      const filter = { eventId, buyerId, state: wanted ?? orders.OrderState.ORDER_STATE_UNSPECIFIED };
      next = (pageToken, size) => unary(api(), "listEventOrders", { ...filter, pageSize: size, pageToken });
      pageMax = 500;
    }
    const all: orders.Order[] = [];
    let pageToken = "";
    do {
      // The server bounds page_size itself: a larger --page-size is its VALIDATION_FAILED.
      const page = await next(pageToken, Math.min(pageSize ?? pageMax, limit - all.length));
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
        ["order", "event", "buyer", "state", "places", "amount", "created"],
        all.map((o) => [o.orderId, o.eventId, o.buyerId, state(o.state), places(o), amount(o), when(o.createTime)]),
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
