// The running API through real clients: health, reflection via the real
// grpcurl, error details in the trailer, metrics, and migrations.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../src/adapters/mysql/migrate.js";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../../src/gen/grpc/health/v1/health.js";
import { call, callError, startTestApp, uid, type TestApp } from "../support/app.js";

const exec = promisify(execFile);
const GRPCURL = new URL("../../.tools/bin/grpcurl", import.meta.url).pathname;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

async function grpcurl(...args: string[]): Promise<string> {
  if (!existsSync(GRPCURL)) throw new Error(`grpcurl is not installed at ${GRPCURL}: run \`npm run tools\``);
  const { stdout } = await exec(GRPCURL, ["-plaintext", ...args]);
  return stdout;
}

describe("the API server", () => {
  it("reports per-service health from its dependencies", async () => {
    const health = new HealthClient(t.address, credentials.createInsecure());
    try {
      for (const service of ["", "ticketing.v1.ReservationService", "ticketing.v1.EventService"]) {
        const res = await call(health, health.check, { service });
        expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      }
      const unknown = await call(health, health.check, { service: "nope.Service" }).catch((e: { code: number }) => e);
      expect((unknown as { code: number }).code).toBe(status.NOT_FOUND);
    } finally {
      health.close();
    }
  });

  it("lists and describes every service through the real grpcurl, and answers Health/Check", async () => {
    const list = await grpcurl(t.address, "list");
    for (const s of ["EventService", "QueueService", "ReservationService", "OrderService", "TicketService"]) {
      expect(list).toContain(`ticketing.v1.${s}`);
    }
    expect(list).toContain("grpc.health.v1.Health");
    const describe = await grpcurl(t.address, "describe", "ticketing.v1.ReservationService.HoldSeats");
    expect(describe).toContain(
      "rpc HoldSeats ( .ticketing.v1.HoldSeatsRequest ) returns ( .ticketing.v1.HoldSeatsResponse )",
    );
    expect(await grpcurl(t.address, "grpc.health.v1.Health/Check")).toContain('"status": "SERVING"');
  });

  it("sends the reason and every field violation in the status details", async () => {
    const err = await callError(t.reservations, t.reservations.holdSeats, {
      eventId: "bad}id",
      buyerId: "",
      requestId: uid("r"),
      admissionToken: "",
      selection: { $case: "seats", value: { seatIds: [] } },
    });
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.errorInfo).toMatchObject({ reason: "VALIDATION_FAILED", domain: "ticketing" });
    expect(err.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["event_id", "buyer_id", "seats.seat_ids"]);
  });

  it("echoes the caller's request id and counts calls by method and code", async () => {
    const md = new Metadata();
    md.set("x-request-id", "req-abc-123");
    const trailers = await new Promise<Metadata>((resolve) => {
      const c = t.reservations.getHold({ eventId: uid("e"), holdId: "h1" }, md, () => undefined);
      c.on("status", (s: { metadata: Metadata }) => resolve(s.metadata));
    });
    expect(trailers.get("x-request-id")).toEqual(["req-abc-123"]);
    const body = await (await fetch(`http://127.0.0.1:${t.app.metricsPort}/metrics`)).text();
    expect(body).toMatch(
      /grpc_server_handled_total\{grpc_service="ticketing.v1.ReservationService",grpc_method="GetHold",grpc_code="NOT_FOUND"\} [1-9]/,
    );
    expect(body).toContain("grpc_server_handling_seconds_bucket");
  });

  it("runs migrations again without harm", async () => {
    const again = await migrate(t.app.mysql);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied.length).toBeGreaterThan(0);
    const [rows] = await t.app.mysql.query("SELECT COUNT(*) AS n FROM schema_migrations");
    expect((rows as { n: number }[])[0]!.n).toBe(again.alreadyApplied.length);
  });
});
