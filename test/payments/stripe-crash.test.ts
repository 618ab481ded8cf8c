// A worker killed (SIGKILL) while its Stripe calls are in flight. The proxy
// holds every first confirmation until the worker is dead, so the kill lands
// mid-checkout every time, not by timing. A new worker takes over: every
// order ends confirmed, with one payment intent per order, retries under the
// same idempotency keys (a retried authorization reads its intent, already
// confirmed, rather than confirming again), one capture each and no void or
// refund.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderState } from "../../src/gen/ticketing/v1/order_service.js";
import { call, startTestApp, uid, type TestApp } from "../support/app.js";
import { createOrder, holdSeats, openSaleEvent } from "../support/checkout.js";
import { startStripeMock, type StripeMock } from "../support/stripe-mock.js";
import { workerProcesses, type WorkerProcesses } from "../support/worker-process.js";

const ORDERS = 6;
const taskQueue = uid("stripe-crash");
let mock: StripeMock;
let t: TestApp;
let workers: WorkerProcesses;

beforeAll(async () => {
  mock = await startStripeMock();
  t = await startTestApp({ TEMPORAL_TASK_QUEUE: taskQueue });
  workers = workerProcesses(t.config.MYSQL_URL, taskQueue, {
    PAYMENT_PROVIDER: "stripe",
    STRIPE_SECRET_KEY: "sk_test_51CrashKeyThatMustNeverLeak0123456789",
    STRIPE_API_BASE: mock.url,
  });
}, 120_000);
afterAll(async () => {
  workers?.stopAll();
  await t?.stop();
  await mock?.stop();
});

async function until<T>(what: string, read: () => Promise<T> | T, done: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("a worker killed mid-checkout, paying through Stripe", () => {
  it("every order confirms with one intent and one capture; nothing voided, nothing refunded", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const approved = (body: Record<string, unknown>) => ({ ...body, status: "requires_capture" });
    const confirm = /^\/v1\/payment_intents\/[^/]+\/confirm$/;
    mock.rules.push({ method: "POST", path: confirm, waitFor: gate, rewrite: approved, times: ORDERS });
    mock.rules.push({ method: "POST", path: confirm, rewrite: approved });
    // stripe-mock keeps no state: answer a retry's read of the intent as Stripe would, authorized.
    mock.rules.push({ method: "GET", path: /^\/v1\/payment_intents\/[^/]+$/, rewrite: approved });

    const first = await workers.start();
    const eventId = await openSaleEvent(t);
    const holds = await Promise.all(
      Array.from({ length: ORDERS }, (_, i) => holdSeats(t, eventId, uid("buyer"), [`A-1-${i + 1}`])),
    );
    const orders = await Promise.all(holds.map((h) => createOrder(t, h, "pm_card_visa")));
    const ids = orders.map((o) => o.orderId);
    const confirmsOf = () => mock.requests.filter((r) => confirm.test(r.path));

    await until(
      "every first confirmation to reach Stripe",
      () => ({ confirms: confirmsOf().length, seen: mock.requests.map((r) => `${r.method} ${r.path}`) }),
      (v) => v.confirms >= ORDERS,
    );
    await workers.kill(first);
    release();
    await workers.start();

    const states = await until(
      "every order to be final",
      () =>
        Promise.all(ids.map(async (orderId) => (await call(t.orders, t.orders.getOrder, { orderId })).order!.state)),
      (s) => s.every((state) => state !== OrderState.ORDER_STATE_PENDING_PAYMENT),
    );
    const reasons = await Promise.all(
      ids.map(async (orderId) => (await call(t.orders, t.orders.getOrder, { orderId })).order!.failureReason),
    );
    expect({ states, reasons }).toEqual({
      states: ids.map(() => OrderState.ORDER_STATE_CONFIRMED),
      reasons: ids.map(() => ""),
    });

    for (const orderId of ids) {
      const keys = mock.requests
        .map((r) => String(r.headers["idempotency-key"] ?? ""))
        .filter((k) => k.startsWith(`${orderId}:payment:`))
        .map((k) => k.slice(`${orderId}:payment:`.length));
      // Retried calls reuse their keys, so Stripe answers them as the first: one intent, one capture.
      expect(new Set(keys)).toEqual(new Set(["create", "confirm", "capture"]));
      expect(keys.filter((k) => k === "confirm")).toEqual(["confirm"]); // the retry read the intent instead
    }
    // Each retried authorization read its intent (stripe-mock gives every intent the same id, so count them).
    const reads = mock.requests.filter((r) => r.method === "GET" && r.path.startsWith("/v1/payment_intents/"));
    expect(reads.length).toBeGreaterThanOrEqual(ORDERS);
    const creates = mock.requests.filter((r) => r.method === "POST" && r.path === "/v1/payment_intents");
    const createKeys = new Set(creates.map((r) => String(r.headers["idempotency-key"])));
    expect(createKeys.size).toBe(ORDERS);

    const map = await call(t.events, t.events.getSeatMap, { eventId });
    const row = map.sections.find((x) => x.sectionId === "A")!.rows.find((r) => r.rowId === "1")!;
    expect([...row.states].slice(0, ORDERS)).toEqual(ids.map(() => "S"));
  }, 240_000);
});
