// Nothing lost: the worker is killed (SIGKILL) in the middle of many
// checkouts and a new one takes over; every order reaches a final state and
// the money adds up.
import type { RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderState } from "../../src/gen/ticketing/v1/order_service.js";
import { call, startTestApp, uid, type TestApp } from "../support/app.js";
import { createOrder, holdSeats, openSaleEvent } from "../support/checkout.js";
import { workerProcesses, type WorkerProcesses } from "../support/worker-process.js";

const taskQueue = uid("crash");
let t: TestApp;
let workers: WorkerProcesses;

beforeAll(async () => {
  t = await startTestApp({ TEMPORAL_TASK_QUEUE: taskQueue });
  workers = workerProcesses(t.config.MYSQL_URL, taskQueue, {
    PAYMENT_SIM_LATENCY_MS: "200-600",
    PAYMENT_SIM_DECLINE_RATIO: "0.2",
  });
});
afterAll(async () => {
  workers?.stopAll();
  await t?.stop();
});

describe("a worker crash in the middle of checkouts", () => {
  it("leaves every order final, captured payments equal to confirmed orders, every other authorization voided", async () => {
    const first = await workers.start();
    const eventId = await openSaleEvent(t);
    const seats = Array.from({ length: 20 }, (_, i) => `A-${1 + Math.floor(i / 10)}-${1 + (i % 10)}`);
    const holds = await Promise.all(seats.map((seat) => holdSeats(t, eventId, uid("buyer"), [seat])));
    const orders = await Promise.all(holds.map((h) => createOrder(t, h, "tok_card")));

    await new Promise((r) => setTimeout(r, 400));
    await workers.kill(first);
    await workers.start();

    const deadline = Date.now() + 90_000;
    let states: OrderState[] = [];
    for (;;) {
      states = await Promise.all(
        orders.map(async (o) => (await call(t.orders, t.orders.getOrder, { orderId: o.orderId })).order!.state),
      );
      if (states.every((s) => s !== OrderState.ORDER_STATE_PENDING_PAYMENT) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(states.filter((s) => s === OrderState.ORDER_STATE_PENDING_PAYMENT)).toEqual([]);

    const ids = orders.map((o) => o.orderId);
    const [ledger] = await t.app.mysql.query<RowDataPacket[]>(
      "SELECT idempotency_key, state FROM simulated_payments WHERE idempotency_key IN (?)",
      [ids.map((id) => `${id}:payment`)],
    );
    const byOrder = new Map(ledger.map((r) => [String(r.idempotency_key).replace(/:payment$/, ""), String(r.state)]));
    const confirmed = ids.filter((_, i) => states[i] === OrderState.ORDER_STATE_CONFIRMED);
    expect(confirmed.length).toBeGreaterThan(0);
    for (const id of ids) {
      if (confirmed.includes(id)) expect(byOrder.get(id)).toBe("CAPTURED");
      else expect(["DECLINED", "VOIDED", undefined]).toContain(byOrder.get(id));
    }
    const captured = [...byOrder.values()].filter((s) => s === "CAPTURED").length;
    expect(captured).toBe(confirmed.length);
    // Redis agrees: exactly the confirmed seats are sold, the rest free again.
    const map = await call(t.events, t.events.getSeatMap, { eventId });
    const sold = map.sections
      .find((x) => x.sectionId === "A")!
      .rows.flatMap((r) => [...r.states])
      .filter((c) => c === "S").length;
    expect(sold).toBe(confirmed.length);
  });
});
