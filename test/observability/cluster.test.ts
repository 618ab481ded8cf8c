// Several API processes on one port (API_PROCESSES=2, node:cluster): the real
// src/main.ts as a child process. Connections are spread over both workers,
// the primary's one scrape counts the calls of both, the funnel gauges are
// not doubled, and SIGTERM to the primary stops everything cleanly.
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../tools/devstack/stack.js";
import { EventServiceClient } from "../../src/gen/ticketing/v1/event_service.js";
import { ReservationServiceClient } from "../../src/gen/ticketing/v1/reservation_service.js";
import { call, callError, freePort, uid } from "../support/app.js";
import { authEnv, authInterceptor, operatorMetadata } from "../support/identity.js";
import { freshMysqlDatabase, testEnv, type FreshDatabase } from "../support/env.js";
import { scrape, valueOf } from "./prom-text.js";
import { oneRowEvent } from "../support/events.js";

let api: ChildProcess;
let db: FreshDatabase;
let grpcPort: number;
let metricsPort: number;
let workerPids: number[] = [];
let output = "";
let exited: Promise<number | null>;

beforeAll(async () => {
  const stack = testEnv();
  db = await freshMysqlDatabase("cluster");
  [grpcPort, metricsPort] = [await freePort(), await freePort()];
  api = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: repoRoot,
    env: {
      ...process.env,
      API_PROCESSES: "2",
      GRPC_ADDRESS: `127.0.0.1:${grpcPort}`,
      METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
      REDIS_URL: stack.redisUrl,
      MYSQL_URL: db.url,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      ...authEnv(),
      LOG_LEVEL: "info",
      SHUTDOWN_GRACE_MS: "3000",
      SIGNING_THREADS: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  exited = new Promise((resolve) => api.once("exit", (code) => resolve(code)));
  api.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  api.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 90_000;
  for (;;) {
    const line = output.split("\n").find((l) => l.includes("ticketing api serving (cluster)"));
    if (line) {
      workerPids = (JSON.parse(line) as { pids: number[] }).pids;
      break;
    }
    if (api.exitCode !== null || Date.now() > deadline)
      throw new Error(`the cluster did not start:\n${output.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

afterAll(async () => {
  if (api.exitCode === null && api.signalCode === null) api.kill("SIGKILL");
  for (const pid of workerPids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await db?.drop();
});

/**
 * Established server-side connections on `port` per process (Linux /proc, as
 * `ss -tnp` reads it): socket inodes from /proc/net/tcp, owners from /proc/<pid>/fd.
 */
function connectionOwners(port: number, pids: number[]): Map<number, number> {
  const inodes = new Set<string>();
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // f[1] local address "0100007F:PPPP", f[3] state (01 = ESTABLISHED), f[9] inode
    if (f.length > 9 && f[3] === "01" && parseInt(f[1]!.split(":")[1]!, 16) === port) inodes.add(f[9]!);
  }
  const owners = new Map<number, number>();
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const target = (() => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return "";
        }
      })();
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) owners.set(pid, (owners.get(pid) ?? 0) + 1);
    }
  }
  return owners;
}

describe("API_PROCESSES=2", () => {
  it("serves one port from two worker processes, spreading connections over both", async () => {
    expect(workerPids).toHaveLength(2);
    expect(workerPids).not.toContain(api.pid);
    // Eight clients, eight connections: every call made on each.
    const address = `127.0.0.1:${grpcPort}`;
    const clients = Array.from(
      { length: 8 },
      () =>
        new EventServiceClient(address, credentials.createInsecure(), {
          "grpc.use_local_subchannel_pool": 1,
          interceptors: [authInterceptor],
        }),
    );
    try {
      await Promise.all(
        clients.map(async (c) => {
          for (let i = 0; i < 5; i++) {
            const err = await callError(c, c.getEvent, { eventId: uid("missing") });
            expect(err.errorInfo?.reason).toBe("EVENT_NOT_FOUND");
          }
        }),
      );
      // Which process owns each accepted connection: both workers own some.
      const owners = connectionOwners(grpcPort, [api.pid!, ...workerPids]);
      expect(owners.get(api.pid!) ?? 0).toBe(0);
      for (const pid of workerPids) expect(owners.get(pid) ?? 0, `connections of worker ${pid}`).toBeGreaterThan(0);
      expect([...owners.values()].reduce((a, b) => a + b, 0)).toBe(8);

      // The primary's scrape counts the calls of both workers.
      const { families } = await scrape(metricsPort);
      expect(valueOf(families, "grpc_server_handled_total", { grpc_method: "GetEvent", grpc_code: "NOT_FOUND" })).toBe(
        40,
      );
    } finally {
      for (const c of clients) c.close();
    }
  });

  it("exports the funnel once, not once per process", async () => {
    const address = `127.0.0.1:${grpcPort}`;
    const events = new EventServiceClient(address, credentials.createInsecure(), { interceptors: [authInterceptor] });
    const reservations = new ReservationServiceClient(address, credentials.createInsecure(), {
      interceptors: [authInterceptor],
    });
    const operator = operatorMetadata();
    try {
      const eventId = uid("ev");
      await call(
        events,
        events.createEvent,
        {
          requestId: uid("create"),
          event: oneRowEvent(eventId, { name: "Cluster night", seatCount: 10 }),
        },
        operator,
      );
      await call(events, events.openSale, { eventId, requestId: uid("open") }, operator);
      await call(reservations, reservations.holdSeats, {
        eventId,
        buyerId: uid("b"),
        admissionToken: "",
        requestId: uid("r"),
        selection: { $case: "seats", value: { seatIds: ["A-1-1", "A-1-2"] } },
      });
      const { families } = await scrape(metricsPort);
      expect(valueOf(families, "ticketing_seats", { event_id: eventId, section_id: "A", state: "held" })).toBe(2);
      expect(valueOf(families, "ticketing_seats_capacity", { event_id: eventId, section_id: "A" })).toBe(10);
      expect(
        valueOf(families, "ticketing_hold_attempts_total", { event_id: eventId, kind: "seats", result: "ok" }),
      ).toBe(1);
    } finally {
      events.close();
      reservations.close();
    }
  });

  it("stops every process on SIGTERM to the primary, with exit code 0", async () => {
    api.kill("SIGTERM");
    expect(await exited).toBe(0);
    for (const pid of workerPids) expect(() => process.kill(pid, 0)).toThrow();
    expect(output).toContain("api cluster stopped");
  });
});
