// Traces: one purchase (HoldSeats, CreateOrder, checkout to CONFIRMED) is one
// trace from the buyer's call through the workflow and its activities, and
// with tracing off nothing makes a span. The API and the worker run in this
// process, so the spans they make reach this file's in-memory exporter.
import { Metadata } from "@grpc/grpc-js";
import { context, propagation, trace, type TextMapSetter } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { startTracing, type Tracing } from "../../src/observability/tracing.js";
import { OrderState, type Order } from "../../src/gen/ticketing/v1/order_service.js";
import type { Hold } from "../../src/gen/ticketing/v1/reservation_service.js";
import { ALWAYS_APPROVE } from "../../src/payments/simulator.js";
import { call, uid, type TestApp } from "../support/app.js";
import { openSaleEvent, startCheckoutStack, watchUntilFinal, type CheckoutStack } from "../support/checkout.js";

let stack: CheckoutStack | undefined;
let tracing: Tracing | undefined;

afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  await tracing?.shutdown();
  tracing = undefined;
  trace.disable();
});

const metadataSetter: TextMapSetter<Metadata> = { set: (metadata, key, value) => metadata.set(key, value) };

/** What a calling service sends: the active trace context as `traceparent` metadata. */
function tracedMetadata(): Metadata {
  const metadata = new Metadata();
  propagation.inject(context.active(), metadata, metadataSetter);
  return metadata;
}

/** Holds two seats, creates an order and follows it to its final state. */
async function purchase(t: TestApp, eventId: string, metadata: () => Metadata): Promise<{ hold: Hold; final: Order }> {
  const buyerId = uid("buyer");
  const { hold } = await call(
    t.reservations,
    t.reservations.holdSeats,
    {
      eventId,
      buyerId,
      admissionToken: "",
      requestId: uid("r"),
      selection: { $case: "seats", value: { seatIds: ["A-1-1", "A-1-2"] } },
    },
    metadata(),
  );
  const { order } = await call(
    t.orders,
    t.orders.createOrder,
    {
      eventId,
      holdId: hold!.holdId,
      holdIds: [],
      buyerId,
      idempotencyKey: uid("k"),
      payment: { paymentMethodToken: ALWAYS_APPROVE },
    },
    metadata(),
  );
  const states = await watchUntilFinal(t, order!.orderId);
  return { hold: hold!, final: states[states.length - 1]! };
}

/** The trace's spans once every span's parent has arrived (workflow spans leave the sandbox when they end). */
async function completeTrace(
  exporter: InMemorySpanExporter,
  traceId: string,
  mustHave: string[],
): Promise<ReadableSpan[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const ids = new Set(spans.map((s) => s.spanContext().spanId));
    const complete =
      spans.every((s) => !s.parentSpanId || ids.has(s.parentSpanId)) &&
      mustHave.every((n) => spans.some((s) => s.name === n));
    if (complete || Date.now() > deadline) return spans;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A logger made by createLogger whose lines land in an array. */
function capturedLogger(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger("info", "test", {
    write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
  });
  return { log, lines };
}

describe("traces", () => {
  it("with tracing off, a purchase works and nothing makes a span, even with a tracer provider registered", async () => {
    // A global provider someone else registered: our code must not feed it while our tracing is off.
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    stack = await startCheckoutStack();
    const eventId = await openSaleEvent(stack.t);
    const { final } = await purchase(stack.t, eventId, () => new Metadata());
    expect(final.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual([]);
  });

  it("log lines carry the trace and span ids of the active span when tracing is on, and only then", async () => {
    const off = capturedLogger();
    off.log.info("no tracing");
    expect(off.lines[0]).not.toHaveProperty("trace_id");

    tracing = await startTracing({ serviceName: "ticketing-test", exporter: new InMemorySpanExporter() });
    const { log, lines } = capturedLogger();
    const span = tracing.tracer.startSpan("work");
    context.with(trace.setSpan(context.active(), span), () => {
      log.info("inside");
      log.child({ requestId: "r1" }).info({ extra: 1 }, "inside, child");
    });
    span.end();
    log.info("outside");
    const ids = { trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId };
    expect(lines[0]).toMatchObject({ msg: "inside", ...ids });
    expect(lines[1]).toMatchObject({ msg: "inside, child", requestId: "r1", extra: 1, ...ids });
    expect(lines[2]).toMatchObject({ msg: "outside" });
    expect(lines[2]).not.toHaveProperty("trace_id");
  });

  it("one purchase is one trace: the gRPC calls, Redis, Temporal's Update-with-Start, the workflow, its activities, MySQL and the payment", async () => {
    const exporter = new InMemorySpanExporter();
    tracing = await startTracing({ serviceName: "ticketing-test", exporter });
    stack = await startCheckoutStack();
    const t = stack.t;
    const eventId = await openSaleEvent(t);

    // The buyer's service traces the purchase and passes the context on every call.
    const root = trace.getTracer("test-buyer").startSpan("purchase");
    const traceId = root.spanContext().traceId;
    const { final } = await context.with(trace.setSpan(context.active(), root), () =>
      purchase(t, eventId, tracedMetadata),
    );
    root.end();
    expect(final.state).toBe(OrderState.ORDER_STATE_CONFIRMED);

    // The checkout's current shape (workflows/checkout.ts, "lean-checkout").
    const activities = ["beginCheckout", "authorizePayment", "sellSeats", "capturePayment", "completeOrder"];
    const expected = [
      "purchase",
      "ticketing.v1.ReservationService/HoldSeats",
      "EVALSHA hold_seats",
      "ticketing.v1.OrderService/CreateOrder",
      "UpdateWithStartWorkflow:createOrder",
      "RunWorkflow:checkout",
      ...activities.map((a) => `RunActivity:${a}`),
      "payment authorize",
      "payment capture",
      "mysql commitSale",
    ];
    const spans = await completeTrace(exporter, traceId, expected);
    const names = spans.map((s) => s.name);
    for (const name of expected) expect(names, `span ${name}`).toContain(name);

    // Parent links intact: one root (the buyer's span), every other span's parent is in the trace.
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const roots = spans.filter((s) => !s.parentSpanId);
    expect(roots.map((s) => s.name)).toEqual(["purchase"]);
    for (const s of spans) if (s.parentSpanId) expect(byId.has(s.parentSpanId), `parent of ${s.name}`).toBe(true);

    const named = (name: string) => spans.find((s) => s.name === name)!;
    const parentOf = (name: string) => byId.get(named(name).parentSpanId!)?.name;
    // The server spans continue the caller's traceparent and carry method and code.
    const holdCall = named("ticketing.v1.ReservationService/HoldSeats");
    expect(parentOf("ticketing.v1.ReservationService/HoldSeats")).toBe("purchase");
    expect(holdCall.attributes["rpc.method"]).toBe("HoldSeats");
    expect(holdCall.attributes["rpc.grpc.status_code"]).toBe(0);
    expect(parentOf("EVALSHA hold_seats")).toBe("ticketing.v1.ReservationService/HoldSeats");
    expect(parentOf("UpdateWithStartWorkflow:createOrder")).toBe("ticketing.v1.OrderService/CreateOrder");
    // The payment and the MySQL transaction happen inside their activities.
    expect(parentOf("payment authorize")).toBe("RunActivity:authorizePayment");
    expect(parentOf("mysql commitSale")).toBe("RunActivity:sellSeats");
    // Each activity descends from the workflow run.
    const descendsFrom = (span: ReadableSpan, ancestor: string): boolean => {
      for (let p = byId.get(span.parentSpanId ?? ""); p; p = byId.get(p.parentSpanId ?? ""))
        if (p.name === ancestor) return true;
      return false;
    };
    for (const a of activities) expect(descendsFrom(named(`RunActivity:${a}`), "RunWorkflow:checkout"), a).toBe(true);
  });
});
