// ListEventOrders: an operator pages through every order of an event, newest
// first, by keyset on (created_at, order_id), so an order created while it
// pages neither repeats nor hides one; filtered by state or buyer; operators
// only. The real API, worker, MySQL and Temporal.
import { status } from "@grpc/grpc-js";
import type { RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderState, type ListEventOrdersRequest, type Order } from "../../src/gen/ticketing/v1/order_service.js";
import { listQuery } from "../../src/orders/order-store.js";
import { call, callError, uid } from "../support/app.js";
import {
  createOrder,
  holdSeats,
  openSaleEvent,
  startCheckoutStack,
  watchUntilFinal,
  type CheckoutStack,
} from "../support/checkout.js";
import { bearer } from "../support/identity.js";

let s: CheckoutStack;
let eventId: string;
/** The event's orders, oldest first: seats A-1-1..A-1-4, the third declined. */
const made: Order[] = [];

beforeAll(async () => {
  s = await startCheckoutStack();
  eventId = await openSaleEvent(s.t);
  for (const [i, seat] of ["A-1-1", "A-1-2", "A-1-3", "A-1-4"].entries()) {
    const hold = await holdSeats(s.t, eventId, uid(`buyer${i}`), [seat]);
    made.push(await createOrder(s.t, hold, i === 2 ? "tok_decline" : "tok_approve"));
  }
  await Promise.all(made.map((o) => watchUntilFinal(s.t, o.orderId)));
});
afterAll(() => s?.stop());

const list = (req: Partial<ListEventOrdersRequest>) =>
  call(
    s.t.orders,
    s.t.orders.listEventOrders,
    { eventId, state: OrderState.ORDER_STATE_UNSPECIFIED, buyerId: "", pageSize: 0, pageToken: "", ...req },
    s.t.operator,
  );

/** Every page of a listing; `between` runs after each page but the last. */
async function allPages(req: Partial<ListEventOrdersRequest>, between?: () => Promise<void>): Promise<string[][]> {
  const pages: string[][] = [];
  let pageToken = "";
  for (;;) {
    const page = await list({ ...req, pageToken });
    pages.push(page.orders.map((o) => o.orderId));
    if (!page.nextPageToken) return pages;
    pageToken = page.nextPageToken;
    await between?.();
  }
}

const newestFirst = () => made.map((o) => o.orderId).reverse();

describe("ListEventOrders", () => {
  it("pages through an event's orders newest first; an order created meanwhile neither repeats nor hides one", async () => {
    let inserted: Order | undefined;
    const pages = await allPages({ pageSize: 2 }, async () => {
      if (inserted) return;
      // After the first page: a new order, newer than everything listed so far.
      inserted = await createOrder(s.t, await holdSeats(s.t, eventId, uid("late"), ["A-1-5"]), "tok_approve");
    });
    expect(pages).toEqual([newestFirst().slice(0, 2), newestFirst().slice(2, 4)]);
    await watchUntilFinal(s.t, inserted!.orderId);
    // A new listing starts with it.
    expect((await list({})).orders.map((o) => o.orderId)).toEqual([inserted!.orderId, ...newestFirst()]);
    made.push(inserted!);
  });

  it("breaks ties of create_time by order id, so orders of one millisecond page without a gap", async () => {
    const eventId = await openSaleEvent(s.t);
    const orders: string[] = [];
    for (const seat of ["A-2-1", "A-2-2", "A-2-3"]) {
      const order = await createOrder(s.t, await holdSeats(s.t, eventId, uid("tie"), [seat]), "tok_approve");
      await watchUntilFinal(s.t, order.orderId);
      orders.push(order.orderId);
    }
    await s.t.app.mysql.query("UPDATE orders SET created_at = '2026-01-01 00:00:00.000' WHERE event_id = ?", [eventId]);
    const byOne: string[] = [];
    let pageToken = "";
    do {
      const page = await call(
        s.t.orders,
        s.t.orders.listEventOrders,
        { eventId, state: OrderState.ORDER_STATE_UNSPECIFIED, buyerId: "", pageSize: 1, pageToken },
        s.t.operator,
      );
      byOne.push(...page.orders.map((o) => o.orderId));
      pageToken = page.nextPageToken;
    } while (pageToken);
    // Page by page as in one page (MySQL's collation orders the ids), each once.
    const oneShot = await call(
      s.t.orders,
      s.t.orders.listEventOrders,
      { eventId, state: OrderState.ORDER_STATE_UNSPECIFIED, buyerId: "", pageSize: 10, pageToken: "" },
      s.t.operator,
    );
    expect(byOne).toEqual(oneShot.orders.map((o) => o.orderId));
    expect([...byOne].sort()).toEqual([...orders].sort());
  });

  it("filters by state and by buyer", async () => {
    const failed = await list({ state: OrderState.ORDER_STATE_FAILED });
    expect(failed.orders.map((o) => [o.orderId, o.failureReason])).toEqual([[made[2]!.orderId, "PAYMENT_DECLINED"]]);
    const confirmed = await allPages({ state: OrderState.ORDER_STATE_CONFIRMED, pageSize: 1 });
    expect(confirmed.flat()).toEqual(
      made
        .filter((_, i) => i !== 2)
        .map((o) => o.orderId)
        .reverse(),
    );
    const byBuyer = await list({ buyerId: made[1]!.buyerId });
    expect(byBuyer.orders.map((o) => o.orderId)).toEqual([made[1]!.orderId]);
    const both = await list({ buyerId: made[1]!.buyerId, state: OrderState.ORDER_STATE_FAILED });
    expect(both).toEqual({ orders: [], nextPageToken: "" });
  });

  it("reads a page deep in a big event from the index: its own entries, not every newer one", async () => {
    // Enough orders (written straight to MySQL) that the optimizer weighs its choices as in a real event.
    const busy = await openSaleEvent(s.t);
    const time = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 10);
    const rows = Array.from({ length: 3000 }, (_, i) => [
      `o_plan_${i}_${busy}`,
      busy,
      `h_plan_${i}`,
      `b_plan_${i % 300}`,
      i % 7 === 0 ? "FAILED" : "CONFIRMED",
      1,
      5000,
      "EUR",
      time(i),
      time(i),
    ]);
    await s.t.app.mysql.query(
      `INSERT INTO orders (order_id, event_id, hold_id, buyer_id, state, quantity, amount_minor, currency_code,
         created_at, updated_at) VALUES ?`,
      [rows],
    );
    await s.t.app.mysql.query("ANALYZE TABLE orders");
    // The page after order 1500: 1,499 orders are newer. Walking them all is what a page must not do.
    const after = { createdAt: time(1500), orderId: `o_plan_1500_${busy}` };
    const conn = await s.t.app.mysql.getConnection();
    try {
      for (const [state, mostEntries] of [
        [undefined, 150],
        ["FAILED" as const, 1000], // one in 7 is FAILED: about 700 entries for 101 of them
      ] as const) {
        const { sql, params } = listQuery({ eventId: busy, ...(state ? { state } : {}) }, 101, after);
        const [plan] = await conn.query<RowDataPacket[]>(`EXPLAIN ${sql}`, params);
        const inner = plan.find((r) => r.table === "orders")!;
        expect([inner.key, String(inner.Extra)]).toEqual([
          "ix_orders_event_created",
          expect.stringContaining("Using index"),
        ]);
        await conn.query("FLUSH STATUS");
        const [page] = await conn.query<RowDataPacket[]>(sql, params);
        const [read] = await conn.query<RowDataPacket[]>("SHOW SESSION STATUS LIKE 'Handler_read_prev'");
        expect(page).toHaveLength(101);
        expect(Number(read[0]!.Value)).toBeLessThan(mostEntries);
      }
    } finally {
      conn.release();
    }
    // And the RPC pages through all of them.
    let seen = 0;
    let pageToken = "";
    do {
      const page = await list({ eventId: busy, pageSize: 500, pageToken });
      seen += page.orders.length;
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toBe(3000);
  });

  it("answers operators only, and refuses bad requests naming the field", async () => {
    const req = { eventId, state: OrderState.ORDER_STATE_UNSPECIFIED, buyerId: "", pageSize: 0, pageToken: "" };
    const buyer = await callError(s.t.orders, s.t.orders.listEventOrders, req, bearer({ buyer: made[0]!.buyerId }));
    expect([buyer.code, buyer.errorInfo?.reason]).toEqual([status.PERMISSION_DENIED, "SCOPE_MISSING"]);

    const bad = await callError(
      s.t.orders,
      s.t.orders.listEventOrders,
      { eventId: "", state: 42 as OrderState, buyerId: "no spaces", pageSize: 501, pageToken: "" },
      s.t.operator,
    );
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.badRequest?.fieldViolations.map((v) => v.field).sort()).toEqual([
      "buyer_id",
      "event_id",
      "page_size",
      "state",
    ]);
    const token = await callError(
      s.t.orders,
      s.t.orders.listEventOrders,
      { ...req, pageToken: "garbage" },
      s.t.operator,
    );
    expect(token.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["page_token"]);
    const unknown = await callError(
      s.t.orders,
      s.t.orders.listEventOrders,
      { ...req, eventId: uid("nope") },
      s.t.operator,
    );
    expect([unknown.code, unknown.errorInfo?.reason]).toEqual([status.NOT_FOUND, "EVENT_NOT_FOUND"]);
    // An event with no orders yet is an empty list, not an error.
    const empty = await list({ eventId: await openSaleEvent(s.t) });
    expect(empty).toEqual({ orders: [], nextPageToken: "" });
  });
});
