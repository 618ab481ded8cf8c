// Bounded resources at the transport: request size per method (refused before
// decoding), HTTP/2 streams per connection, and open watch streams per process
// and per caller. Each refusal is RESOURCE_EXHAUSTED with a stable reason.
import http2 from "node:http2";
import { status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreateEventRequest, SaleState } from "../../src/gen/ticketing/v1/event_service.js";
import { decodeStatus, type DecodedStatus } from "../../src/grpc/errors.js";
import { call, callError, startTestApp, uid, type TestApp } from "../support/app.js";
import { openSaleEvent } from "../support/checkout.js";
import { bearer } from "../support/identity.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    GRPC_MAX_CONCURRENT_STREAMS: "40",
    WATCHERS_PER_METHOD: "3",
    WATCHERS_PER_PRINCIPAL: "2",
  });
});
afterAll(async () => {
  await t?.stop();
});

type Opened = { stream: ClientReadableStream<unknown>; outcome: "open" | DecodedStatus };

/** Opens a stream and waits for its first message ("open") or its refusal. */
function open(start: () => ClientReadableStream<unknown>): Promise<Opened> {
  return new Promise((resolve) => {
    const stream = start();
    stream.once("data", () => resolve({ stream, outcome: "open" }));
    stream.on("error", (err: ServiceError) => resolve({ stream, outcome: decodeStatus(err) }));
  });
}

function reasonOf(o: Opened): string {
  return o.outcome === "open" ? "open" : `${status[o.outcome.code]}:${o.outcome.errorInfo?.reason ?? "?"}`;
}

/** A CreateEvent of `sections` sections of `rows` rows of `seatsPerRow` seats. */
function venue(sections: number, rows: number, seatsPerRow: number): CreateEventRequest {
  return CreateEventRequest.fromPartial({
    requestId: uid("create"),
    event: {
      eventId: uid("ev"),
      name: "Stadium",
      venue: "Stadium",
      saleState: SaleState.SALE_STATE_UNSPECIFIED,
      maxTicketsPerBuyer: 6,
      currencyCode: "EUR",
      priceCategories: [{ priceCategoryId: "std", name: "Standard", priceMinor: "5000" }],
      sections: Array.from({ length: sections }, (_, s) => ({
        sectionId: `S${s + 1}`,
        name: `Stand ${s + 1}`,
        layout: {
          $case: "reserved" as const,
          value: {
            rows: Array.from({ length: rows }, (_, i) => ({
              rowId: String(i + 1),
              firstSeatNumber: 1,
              seatCount: seatsPerRow,
              priceCategoryId: "std",
            })),
          },
        },
      })),
    },
  });
}

/** Opens a stream once a slot is free (a stream cancelled just before may not have given its slot back yet). */
async function openWhenFree(start: () => ClientReadableStream<unknown>): Promise<Opened> {
  for (let i = 0; ; i++) {
    const o = await open(start);
    if (reasonOf(o) !== "RESOURCE_EXHAUSTED:STREAM_LIMIT_REACHED" || i >= 500) return o;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("request size", () => {
  it("refuses a HoldSeats over its method's limit before decoding it, and a 16 MiB body from its length alone", async () => {
    const eventId = await openSaleEvent(t);
    const request = (seatIds: string[]) => ({
      eventId,
      buyerId: uid("b"),
      admissionToken: "",
      requestId: uid("r"),
      selection: { $case: "seats" as const, value: { seatIds } },
    });
    // 100 KiB of seat ids: over HoldSeats's 64 KiB, under the server's receive limit.
    const big = await callError(
      t.reservations,
      t.reservations.holdSeats,
      request(Array.from({ length: 2000 }, (_, i) => `A-1-${i}`.padEnd(48, "0"))),
    );
    expect(big.code).toBe(status.RESOURCE_EXHAUSTED);
    // Not VALIDATION_FAILED (what decoding and validating would answer): the handler never saw it.
    expect(big.errorInfo?.reason).toBe("MESSAGE_TOO_LARGE");
    expect(big.errorInfo?.metadata).toMatchObject({ method: "HoldSeats", limit_bytes: String(64 * 1024) });

    // 16 MiB: over the server's receive limit, refused by grpc-js from the message's length prefix.
    const huge = await callError(t.reservations, t.reservations.holdSeats, request(["x".repeat(16 * 1024 * 1024)]));
    expect(huge.code).toBe(status.RESOURCE_EXHAUSTED);

    // A small one still holds.
    const ok = await call(t.reservations, t.reservations.holdSeats, request(["A-1-1"]));
    expect(ok.hold?.seatIds).toEqual(["A-1-1"]);
  });

  it("lets CreateEvent take a 100,000-seat venue", async () => {
    // Even in rows of one seat (100 sections of 1,000 rows), the worst case, 100,000 seats fit CreateEvent's limit.
    expect(CreateEventRequest.encode(venue(100, 1000, 1)).finish().length).toBeLessThan(8 * 1024 * 1024);
    // A venue whose CreateEvent is over the 64 KiB every other method takes is created.
    const request = venue(6, 900, 2);
    expect(CreateEventRequest.encode(request).finish().length).toBeGreaterThan(64 * 1024);
    const created = await call(t.events, t.events.createEvent, request, t.operator);
    expect(created.event?.capacity).toBe(10_800);
  });
});

describe("streams", () => {
  it("advertises grpc.max_concurrent_streams to every connection", async () => {
    const session = http2.connect(`http://${t.address}`);
    try {
      const settings = await new Promise<http2.Settings>((resolve, reject) => {
        session.once("remoteSettings", resolve);
        session.once("error", reject);
      });
      expect(settings.maxConcurrentStreams).toBe(40);
    } finally {
      session.close();
    }
  });

  it("caps open watch streams per caller and per process, and frees a slot when a stream ends", async () => {
    const eventId = await openSaleEvent(t);
    const opened: Opened[] = [];
    const watch = (buyer: string) => open(() => t.events.watchSeatMap({ eventId }, bearer({ buyer })));
    try {
      // One buyer: two streams, then STREAM_LIMIT_REACHED (principal), across the watch methods.
      opened.push(await openWhenFree(() => t.events.watchSeatMap({ eventId }, bearer({ buyer: "alice" }))));
      opened.push(await watch("alice"));
      expect(opened.map(reasonOf)).toEqual(["open", "open"]);
      const third = await watch("alice");
      expect(reasonOf(third)).toBe("RESOURCE_EXHAUSTED:STREAM_LIMIT_REACHED");
      const refusal = third.outcome as DecodedStatus;
      expect(refusal.errorInfo?.metadata).toMatchObject({ method: "WatchSeatMap", limit: "principal", max: "2" });
      expect(Number(refusal.retryInfo?.retryDelay?.seconds ?? 0)).toBeGreaterThan(0);
      const order = await open(() => t.orders.watchOrder({ orderId: "o_missing" }, bearer({ buyer: "alice" })));
      expect(reasonOf(order)).toBe("RESOURCE_EXHAUSTED:STREAM_LIMIT_REACHED");

      // Another buyer: the process's third WatchSeatMap, then the method's cap for everyone.
      opened.push(await watch("bob"));
      expect(reasonOf(opened[2]!)).toBe("open");
      const fourth = await watch("carol");
      expect(reasonOf(fourth)).toBe("RESOURCE_EXHAUSTED:STREAM_LIMIT_REACHED");
      expect((fourth.outcome as DecodedStatus).errorInfo?.metadata).toMatchObject({ limit: "process", max: "3" });
      // The cap is per method: carol may still watch an order (hers or not: the handler answers).
      const carolOrder = await open(() => t.orders.watchOrder({ orderId: "o_missing" }, bearer({ buyer: "carol" })));
      expect(reasonOf(carolOrder)).toBe("NOT_FOUND:ORDER_NOT_FOUND");

      // A stream that ends gives its slots back.
      opened.shift()!.stream.cancel();
      const again = await openWhenFree(() => t.events.watchSeatMap({ eventId }, bearer({ buyer: "carol" })));
      expect(reasonOf(again)).toBe("open");
      opened.push(again);
    } finally {
      for (const o of opened) o.stream.cancel();
    }
  });

  it("bounds an operator (who acts for many buyers) by the per-method cap only", async () => {
    const eventId = await openSaleEvent(t);
    const streams: Opened[] = [];
    try {
      // The previous test's streams give their slots back as the server sees them cancelled.
      for (let i = 0; i < 3; i++)
        streams.push(await openWhenFree(() => t.events.watchSeatMap({ eventId }, t.operator)));
      expect(streams.map(reasonOf)).toEqual(["open", "open", "open"]);
      const fourth = await open(() => t.events.watchSeatMap({ eventId }, t.operator));
      expect((fourth.outcome as DecodedStatus).errorInfo?.metadata).toMatchObject({ limit: "process" });
    } finally {
      for (const o of streams) o.stream.cancel();
    }
  });
});
