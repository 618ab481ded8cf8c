// Graceful shutdown: a call in flight finishes, new calls are refused, and
// the real process exits 0 on SIGTERM.
import { spawn } from "node:child_process";
import { credentials, Server, ServerCredentials, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { bindService } from "../../src/grpc/bind.js";
import { CallPipeline } from "../../src/grpc/handlers.js";
import { listen, shutdownServer } from "../../src/grpc/server.js";
import { ReservationServiceClient, ReservationServiceService } from "../../src/gen/ticketing/v1/reservation_service.js";
import { createLogger } from "../../src/logger.js";
import { Metrics } from "../../src/metrics.js";
import { authInterceptor, testAuthenticator } from "../support/identity.js";
import { call, freePort } from "../support/app.js";
import { freshMysqlDatabase, testEnv } from "../support/env.js";

describe("graceful shutdown", () => {
  it("lets a call in flight finish and refuses new ones", async () => {
    const pipeline = new CallPipeline({
      log: createLogger("silent", "t"),
      metrics: new Metrics(),
      auth: testAuthenticator(),
      publicReads: false,
    });
    let started!: () => void;
    const inFlight = new Promise<void>((r) => (started = r));
    let aborted = false;
    const server = new Server();
    server.addService(
      ReservationServiceService,
      bindService(pipeline, ReservationServiceService, {
        async getHold(req, ctx) {
          started();
          ctx.signal.addEventListener("abort", () => (aborted = true));
          await new Promise((r) => setTimeout(r, 300));
          return {
            hold: {
              holdId: req.holdId,
              eventId: req.eventId,
              buyerId: "b",
              state: 1,
              seatIds: [],
              sectionId: "",
              quantity: 1,
              extensionsUsed: 0,
              maxExtensions: 0,
            },
          };
        },
      }),
    );
    const port = await listen(server, "127.0.0.1:0", ServerCredentials.createInsecure());
    const client = new ReservationServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
      interceptors: [authInterceptor],
    });
    const slow = call(client, client.getHold, { eventId: "e", holdId: "h1" });
    await inFlight;
    const shutdown = shutdownServer(server, 5000);
    const res = await slow;
    expect(res.hold?.holdId).toBe("h1");
    expect(aborted).toBe(false);
    expect(await shutdown).toBe("graceful");
    const late = await call(client, client.getHold, { eventId: "e", holdId: "h2" }, undefined).catch(
      (e: { code: number }) => e,
    );
    expect((late as { code: number }).code).toBe(status.UNAVAILABLE);
    client.close();
  });

  it("exits 0 on SIGTERM after serving", async () => {
    const env = testEnv();
    const db = await freshMysqlDatabase("shutdown");
    const port = await freePort();
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: {
        ...process.env,
        GRPC_ADDRESS: `127.0.0.1:${port}`,
        METRICS_ADDRESS: "off",
        REDIS_URL: env.redisUrl,
        MYSQL_URL: db.url,
        TEMPORAL_ADDRESS: env.temporalAddress,
        LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // Wait for the condition (a busy machine may take long to start the process), bounded by the test timeout.
    for (let i = 0; i < 550 && !out.includes("ticketing api serving"); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain("ticketing api serving");
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(out).toContain('"how":"graceful"');
    await db.drop();
  });
});
