// A dependency down: the server still starts and serves what it can, health
// says which services cannot answer, and their calls fail UNAVAILABLE
// (safe to retry) instead of hanging or crashing.
import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../../src/gen/grpc/health/v1/health.js";
import { call, callError, startTestApp, uid, type TestApp, freePort } from "../support/app.js";

let t: TestApp;
beforeAll(async () => {
  // Redis points at a port where nothing listens.
  t = await startTestApp({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, HEALTH_CHECK_INTERVAL_MS: "200" });
});
afterAll(async () => {
  await t?.stop();
});

describe("with Redis down", () => {
  it("reports the services that need Redis NOT_SERVING and the others SERVING", async () => {
    const health = new HealthClient(t.address, credentials.createInsecure());
    try {
      const statusOf = async (service: string) => (await call(health, health.check, { service })).status;
      expect(await statusOf("")).toBe(HealthCheckResponse_ServingStatus.SERVING);
      expect(await statusOf("ticketing.v1.ReservationService")).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
      expect(await statusOf("ticketing.v1.EventService")).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
      expect(await statusOf("ticketing.v1.TicketService")).toBe(HealthCheckResponse_ServingStatus.SERVING);
    } finally {
      health.close();
    }
  });

  it("answers UNAVAILABLE for a hold, and still serves what needs only MySQL", async () => {
    const err = await callError(t.reservations, t.reservations.holdSeats, {
      eventId: uid("ev"),
      buyerId: uid("b"),
      admissionToken: "",
      requestId: uid("r"),
      selection: { $case: "seats", value: { seatIds: ["A-1-1"] } },
    });
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.errorInfo?.reason).toBe("DEPENDENCY_UNAVAILABLE");
    expect(err.retryInfo?.retryDelay).toBeDefined();
    const orders = await call(t.orders, t.orders.listOrders, {
      buyerId: uid("b"),
      eventId: "",
      pageSize: 0,
      pageToken: "",
    });
    expect(orders.orders).toEqual([]);
  });
});
