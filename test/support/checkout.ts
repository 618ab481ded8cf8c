// An API and a worker sharing one database and one task queue, plus helpers
// to create an open event and hold seats through the real RPCs.
import { Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll } from "vitest";
import type { RowDataPacket } from "mysql2/promise";
import { SaleState, type Event } from "../../src/gen/ticketing/v1/event_service.js";
import { OrderState, type Order } from "../../src/gen/ticketing/v1/order_service.js";
import type { Hold } from "../../src/gen/ticketing/v1/reservation_service.js";
import { call, startTestApp, uid, type TestApp } from "./app.js";
import { startTestWorker, type TestWorker } from "./worker.js";

export interface CheckoutStack {
  t: TestApp;
  worker: TestWorker;
  stop(): Promise<void>;
}

export async function startCheckoutStack(
  env: Record<string, string> = {},
  workerEnv: Record<string, string> = {},
): Promise<CheckoutStack> {
  const taskQueue = uid("checkout");
  const t = await startTestApp({ TEMPORAL_TASK_QUEUE: taskQueue, ...env });
  const worker = await startTestWorker(t.config.MYSQL_URL, { TEMPORAL_TASK_QUEUE: taskQueue, ...workerEnv });
  return {
    t,
    worker,
    async stop() {
      await worker.running.stop();
      await t.stop();
    },
  };
}

/**
 * A checkout stack started before this test file's tests and stopped after
 * them; its fields read the running stack (so `s.t` works in every test).
 */
export function checkoutStackForThisFile(
  env: Record<string, string> = {},
  workerEnv: Record<string, string> = {},
): CheckoutStack {
  let stack: CheckoutStack | undefined;
  beforeAll(async () => {
    stack = await startCheckoutStack(env, workerEnv);
  }, 120_000);
  afterAll(() => stack?.stop());
  const running = () => {
    if (!stack) throw new Error("the checkout stack is not started (used outside a test?)");
    return stack;
  };
  return {
    get t() {
      return running().t;
    },
    get worker() {
      return running().worker;
    },
    stop: () => running().stop(),
  };
}

/** Row A-1 of 10 seats at 50.00, row A-2 of 10 at 30.00, a 20-place floor at 20.00; sale open. */
export async function openSaleEvent(t: TestApp, overrides: Partial<Event> = {}): Promise<string> {
  const eventId = uid("ev");
  await call(
    t.events,
    t.events.createEvent,
    {
      requestId: uid("create"),
      event: {
        eventId,
        name: "Checkout night",
        venue: "Hall",
        saleState: SaleState.SALE_STATE_UNSPECIFIED,
        maxTicketsPerBuyer: 6,
        currencyCode: "EUR",
        priceCategories: [
          { priceCategoryId: "front", name: "Front", priceMinor: "5000" },
          { priceCategoryId: "back", name: "Back", priceMinor: "3000" },
          { priceCategoryId: "floor", name: "Floor", priceMinor: "2000" },
        ],
        sections: [
          {
            sectionId: "A",
            name: "Stalls",
            layout: {
              $case: "reserved",
              value: {
                rows: [
                  { rowId: "1", firstSeatNumber: 1, seatCount: 10, priceCategoryId: "front" },
                  { rowId: "2", firstSeatNumber: 1, seatCount: 10, priceCategoryId: "back" },
                ],
              },
            },
          },
          {
            sectionId: "FLOOR",
            name: "Floor",
            layout: { $case: "generalAdmission", value: { capacity: 20, priceCategoryId: "floor" } },
          },
        ],
        capacity: 0,
        currencyMinorDigits: 0,
        refundCutoffSeconds: 0,
        ...overrides,
      },
    },
    t.operator,
  );
  await call(t.events, t.events.openSale, { eventId, requestId: uid("open") }, t.operator);
  return eventId;
}

export async function holdSeats(t: TestApp, eventId: string, buyerId: string, seatIds: string[]): Promise<Hold> {
  const res = await call(t.reservations, t.reservations.holdSeats, {
    eventId,
    buyerId,
    admissionToken: "",
    requestId: uid("r"),
    selection: { $case: "seats", value: { seatIds } },
  });
  return res.hold!;
}

export async function createOrder(t: TestApp, hold: Hold, token: string, idempotencyKey = uid("k")): Promise<Order> {
  const res = await call(t.orders, t.orders.createOrder, {
    eventId: hold.eventId,
    holdId: hold.holdId,
    holdIds: [],
    buyerId: hold.buyerId,
    idempotencyKey,
    payment: { paymentMethodToken: token },
  });
  return res.order!;
}

const FINAL = [
  OrderState.ORDER_STATE_CONFIRMED,
  OrderState.ORDER_STATE_FAILED,
  OrderState.ORDER_STATE_CANCELLED,
  OrderState.ORDER_STATE_REFUNDED,
];

/** Follows WatchOrder until a final state; returns every state seen. */
export function watchUntilFinal(t: TestApp, orderId: string): Promise<Order[]> {
  return new Promise((resolve, reject) => {
    const seen: Order[] = [];
    const stream = t.orders.watchOrder({ orderId }, new Metadata(), { deadline: Date.now() + 60_000 });
    stream.on("data", (msg: { order?: Order }) => {
      if (msg.order) seen.push(msg.order);
    });
    stream.on("error", reject);
    stream.on("end", () => {
      const last = seen[seen.length - 1];
      if (last && FINAL.includes(last.state)) resolve(seen);
      else reject(new Error(`WatchOrder ended without a final state: ${JSON.stringify(seen.map((o) => o.state))}`));
    });
  });
}

/** The simulator's ledger state of an order's payment ("none" if never authorized). */
export async function ledgerState(t: TestApp, orderId: string): Promise<string> {
  const [rows] = await t.app.mysql.query<RowDataPacket[]>(
    "SELECT state FROM simulated_payments WHERE idempotency_key = ?",
    [`${orderId}:payment`],
  );
  return rows.length === 0 ? "none" : String(rows[0]!.state);
}
