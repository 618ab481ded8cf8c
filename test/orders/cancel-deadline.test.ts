// CancelOrder answers within its deadline in every state, even with no worker
// to run the checkout or the refund: the server itself says DEADLINE_EXCEEDED
// (with its reason, which a deadline the client hit would not carry), and the
// work it started goes on once a worker is back.
import { type Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeStatus } from "../../src/grpc/errors.js";
import { OrderState, type Order } from "../../src/gen/ticketing/v1/order_service.js";
import { call, uid } from "../support/app.js";
import {
  createOrder,
  holdSeats,
  openSaleEvent,
  startCheckoutStack,
  watchUntilFinal,
  type CheckoutStack,
} from "../support/checkout.js";
import { bearer } from "../support/identity.js";
import { startTestWorker } from "../support/worker.js";

let s: CheckoutStack;
let eventId: string;
beforeAll(async () => {
  s = await startCheckoutStack();
  eventId = await openSaleEvent(s.t);
}, 120_000);
afterAll(async () => {
  await s?.worker.running.stop(); // the last one started here (s.stop() stops the first)
  await s?.stop();
});

/** CancelOrder with a 3 s deadline; the decoded error (it must fail here). */
function cancelWithin3s(order: Order) {
  return new Promise<ReturnType<typeof decodeStatus>>((resolve, reject) => {
    const md: Metadata = bearer({ buyer: order.buyerId });
    s.t.orders.cancelOrder(
      { orderId: order.orderId, buyerId: "", requestId: uid("x"), force: false, ticketIds: [] },
      md,
      { deadline: Date.now() + 3000 },
      (err) => (err ? resolve(decodeStatus(err)) : reject(new Error("cancelled with no worker running"))),
    );
  });
}

describe("CancelOrder with no worker", () => {
  it("answers before its deadline for a confirmed order, and the refund it started finishes once a worker is back", async () => {
    const hold = await holdSeats(s.t, eventId, "cd-confirmed", ["A-1-1"]);
    const order = await createOrder(s.t, hold, "tok_approve");
    expect((await watchUntilFinal(s.t, order.orderId)).pop()!.state).toBe(OrderState.ORDER_STATE_CONFIRMED);

    await s.worker.running.stop();
    const answer = await cancelWithin3s(order);
    // Answered by the server (ErrorInfo), not cut by the client's deadline.
    expect(answer.code).toBe(status.DEADLINE_EXCEEDED);
    expect(answer.errorInfo?.reason).toBe("DEADLINE_EXCEEDED");
    expect(answer.retryInfo).toBeDefined();

    s.worker = await startTestWorker(s.t.config.MYSQL_URL, { TEMPORAL_TASK_QUEUE: s.worker.taskQueue });
    // CONFIRMED is final for WatchOrder; the refund moves it on: wait for that.
    const deadline = Date.now() + 60_000;
    let state = OrderState.ORDER_STATE_CONFIRMED;
    while (state !== OrderState.ORDER_STATE_REFUNDED && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      state = (await call(s.t.orders, s.t.orders.getOrder, { orderId: order.orderId })).order!.state;
    }
    expect(state).toBe(OrderState.ORDER_STATE_REFUNDED);
  });

  it("answers before its deadline for an order whose checkout no worker is running, and cancels it once one is", async () => {
    // A slow provider: the order is recorded (PENDING_PAYMENT) while its authorization takes 3 s.
    await s.worker.running.stop();
    s.worker = await startTestWorker(s.t.config.MYSQL_URL, {
      TEMPORAL_TASK_QUEUE: s.worker.taskQueue,
      PAYMENT_SIM_LATENCY_MS: "3000",
    });
    const hold = await holdSeats(s.t, eventId, "cd-pending", ["A-1-2"]);
    const order = await createOrder(s.t, hold, "tok_approve");
    expect(order.state).toBe(OrderState.ORDER_STATE_PENDING_PAYMENT);
    await s.worker.running.stop();
    const pending = await call(s.t.orders, s.t.orders.getOrder, { orderId: order.orderId });
    expect(pending.order?.state).toBe(OrderState.ORDER_STATE_PENDING_PAYMENT);

    const answer = await cancelWithin3s(order);
    expect(answer.code).toBe(status.DEADLINE_EXCEEDED);
    expect(answer.errorInfo?.reason).toBe("DEADLINE_EXCEEDED");

    s.worker = await startTestWorker(s.t.config.MYSQL_URL, { TEMPORAL_TASK_QUEUE: s.worker.taskQueue });
    const res = await call(
      s.t.orders,
      s.t.orders.cancelOrder,
      { orderId: order.orderId, buyerId: "", requestId: uid("x"), force: false, ticketIds: [] },
      bearer({ buyer: order.buyerId }),
    );
    // Cancelled before its capture, or refunded if the checkout confirmed first.
    expect([OrderState.ORDER_STATE_CANCELLED, OrderState.ORDER_STATE_REFUNDED]).toContain(res.order?.state);
  });
});
