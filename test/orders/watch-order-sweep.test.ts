// WatchOrder streams wake on Redis pub/sub and never poll MySQL one by one:
// one sweep per process reads every watched order's version in one query and
// wakes only the streams whose order changed (a change message lost on the way).
import { Metadata, type ClientReadableStream } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMysqlPool, type MysqlPool } from "../../src/adapters/mysql/pool.js";
import { OrderState, type WatchOrderResponse } from "../../src/gen/ticketing/v1/order_service.js";
import { OrderStore } from "../../src/orders/order-store.js";
import { startTestApp, uid, type TestApp } from "../support/app.js";
import { openSaleEvent } from "../support/checkout.js";

let t: TestApp;
let pool: MysqlPool;
beforeAll(async () => {
  t = await startTestApp({ ORDER_WATCH_SWEEP_MS: "100" });
  pool = createMysqlPool(t.config.MYSQL_URL, 2);
});
afterAll(async () => {
  await pool?.end();
  await t?.stop();
});

async function waitFor(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("WatchOrder", () => {
  it("reads each watched order as its stream opens, then only in one sweep query for all of them", async () => {
    const eventId = await openSaleEvent(t);
    const store = new OrderStore(pool);
    const orderIds = Array.from({ length: 20 }, () => uid("o"));
    for (const [i, orderId] of orderIds.entries()) {
      await store.insertPending(
        {
          orderId,
          eventId,
          holdId: uid("h"),
          buyerId: uid("b"),
          idempotencyKey: uid("k"),
          seatIds: [`A-1-${i + 1}`],
          sectionId: "",
          quantity: 1,
          prices: [[`A-1-${i + 1}`, 5000]],
          amountMinor: 5000,
          currencyCode: "EUR",
        },
        "hash",
      );
    }

    // Count the API's reads (the real methods, counted).
    const get = OrderStore.prototype.get;
    const watchVersions = OrderStore.prototype.watchVersions;
    let gets = 0;
    let sweeps = 0;
    OrderStore.prototype.get = function (...args: Parameters<typeof get>) {
      gets++;
      return get.apply(this, args);
    };
    OrderStore.prototype.watchVersions = function (...args: Parameters<typeof watchVersions>) {
      sweeps++;
      expect(args[0].length).toBe(orderIds.length);
      return watchVersions.apply(this, args);
    };
    const streams: ClientReadableStream<WatchOrderResponse>[] = [];
    const seen = new Map<string, OrderState[]>();
    try {
      for (const orderId of orderIds) {
        const stream = t.orders.watchOrder({ orderId }, t.operator ?? new Metadata());
        stream.on("data", (m: WatchOrderResponse) => seen.set(orderId, [...(seen.get(orderId) ?? []), m.order!.state]));
        stream.on("error", () => undefined);
        streams.push(stream);
      }
      await waitFor("every first message", () => seen.size === orderIds.length);
      // Two reads per stream as it opens: may the caller see it, and its state once listening for changes.
      const opening = gets;
      expect(opening).toBe(2 * orderIds.length);

      // Idle streams: sweeps run, one query for all twenty orders each, and nobody reads an order.
      const before = sweeps;
      await waitFor("three sweeps", () => sweeps >= before + 3);
      expect(gets).toBe(opening);

      // An order changes in MySQL with no message: the sweep finds it and wakes that stream alone.
      expect(await store.transition(orderIds[7]!, "CANCELLED", ["PENDING_PAYMENT"])).toBe(true);
      await waitFor("the change", () => (seen.get(orderIds[7]!) ?? []).length === 2);
      expect(seen.get(orderIds[7]!)).toEqual([
        OrderState.ORDER_STATE_PENDING_PAYMENT,
        OrderState.ORDER_STATE_CANCELLED,
      ]);
      expect(gets).toBe(opening + 1);
    } finally {
      for (const s of streams) s.cancel();
      OrderStore.prototype.get = get;
      OrderStore.prototype.watchVersions = watchVersions;
    }
  });
});
