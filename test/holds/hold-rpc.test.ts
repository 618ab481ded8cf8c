// The contention classic through the real server: 10,000 concurrent
// HoldSeats for 100 seats, random 1-4 seats each.
import { authInterceptor, operatorMetadata } from "../support/identity.js";
import { credentials, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeStatus } from "../../src/grpc/errors.js";
import { ReservationServiceClient } from "../../src/gen/ticketing/v1/reservation_service.js";
import { call, callError, startTestApp, uid, type TestApp } from "../support/app.js";
import { openSaleEvent } from "../support/checkout.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

describe("HoldSeats under contention", () => {
  it("holds each of 100 seats at most once across 10,000 concurrent requests, and accounts for every call", async () => {
    // 5 rows of 20 seats; a per-buyer limit of 4 (each request is its own buyer).
    const eventId = await openSaleEvent(t, {
      maxTicketsPerBuyer: 4,
      sections: [
        {
          sectionId: "A",
          name: "Stalls",
          layout: {
            $case: "reserved",
            value: {
              rows: Array.from({ length: 5 }, (_, r) => ({
                rowId: String(r + 1),
                firstSeatNumber: 1,
                seatCount: 20,
                priceCategoryId: "front",
              })),
            },
          },
        },
      ],
    });
    const all = Array.from({ length: 100 }, (_, i) => `A-${1 + Math.floor(i / 20)}-${1 + (i % 20)}`);
    // Several channels, as several calling services would have.
    const clients = Array.from(
      { length: 4 },
      () => new ReservationServiceClient(t.address, credentials.createInsecure(), { interceptors: [authInterceptor] }),
    );
    const pick = () => {
      const n = 1 + Math.floor(Math.random() * 4);
      const set = new Set<string>();
      while (set.size < n) set.add(all[Math.floor(Math.random() * all.length)]!);
      return [...set];
    };
    const operator = operatorMetadata();
    const results = await Promise.allSettled(
      Array.from({ length: 10_000 }, (_, i) => {
        const client = clients[i % clients.length]!;
        // The operator acts for each buyer: one token verified, so the test measures contention, not signatures.
        return call(
          client,
          client.holdSeats,
          {
            eventId,
            buyerId: uid("b"),
            admissionToken: "",
            requestId: uid("r"),
            selection: { $case: "seats", value: { seatIds: pick() } },
          },
          operator,
        );
      }),
    );
    for (const c of clients) c.close();

    const held: string[] = [];
    const codes: Record<string, number> = {};
    for (const r of results) {
      if (r.status === "fulfilled") {
        held.push(...r.value.hold!.seatIds);
        codes.OK = (codes.OK ?? 0) + 1;
      } else {
        const d = decodeStatus(r.reason as ServiceError);
        const key = `${status[d.code]}:${d.errorInfo?.reason ?? "?"}`;
        codes[key] = (codes[key] ?? 0) + 1;
      }
    }
    // Every call is either a hold or a clean "lost the race".
    expect(Object.keys(codes).sort()).toEqual(["ABORTED:SEATS_UNAVAILABLE", "OK"]);
    expect((codes.OK ?? 0) + (codes["ABORTED:SEATS_UNAVAILABLE"] ?? 0)).toBe(10_000);
    // No seat in two holds, and the live map shows exactly the held seats.
    expect(new Set(held).size).toBe(held.length);
    const map = await call(t.events, t.events.getSeatMap, { eventId });
    const shownHeld = map.sections[0]!.rows.flatMap((row) =>
      [...row.states].flatMap((c, i) => (c === "H" ? [`A-${row.rowId}-${row.firstSeatNumber + i}`] : [])),
    );
    expect(shownHeld.sort()).toEqual([...held].sort());
    // With 10,000 tries at random sets, nearly every seat ends up held.
    expect(held.length).toBeGreaterThan(90);
  });
});

describe("HoldSeats and HoldBestAvailable request ids", () => {
  it("answer ALREADY_EXISTS REQUEST_ID_REUSED for a request id reused with another payload", async () => {
    const eventId = await openSaleEvent(t, { maxTicketsPerBuyer: 4 });
    const operator = operatorMetadata();
    const buyerId = uid("b");
    const requestId = uid("r");
    const seats = (seatIds: string[]) => ({
      eventId,
      buyerId,
      admissionToken: "",
      requestId,
      selection: { $case: "seats" as const, value: { seatIds } },
    });
    const first = await call(t.reservations, t.reservations.holdSeats, seats(["A-1-1"]), operator);
    const again = await call(t.reservations, t.reservations.holdSeats, seats(["A-1-1"]), operator);
    expect(again.hold!.holdId).toBe(first.hold!.holdId);

    const reused = await callError(t.reservations, t.reservations.holdSeats, seats(["A-1-2"]), operator);
    expect(reused.code).toBe(status.ALREADY_EXISTS);
    expect(reused.errorInfo?.reason).toBe("REQUEST_ID_REUSED");
    expect(reused.errorInfo?.metadata.request_id).toBe(requestId);

    const best = await callError(
      t.reservations,
      t.reservations.holdBestAvailable,
      { eventId, buyerId, admissionToken: "", requestId, quantity: 1, priceCategoryId: "", sectionId: "" },
      operator,
    );
    expect(best.code).toBe(status.ALREADY_EXISTS);
    expect(best.errorInfo?.reason).toBe("REQUEST_ID_REUSED");
  });
});
