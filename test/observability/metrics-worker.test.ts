// The worker process (src/worker.ts, as deployed) serves its own /metrics on
// WORKER_METRICS_ADDRESS, with the Temporal SDK's runtime metrics (its
// Prometheus exporter on TEMPORAL_METRICS_ADDRESS) merged into one valid scrape.
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, uid } from "../support/app.js";
import { freshMysqlDatabase, type FreshDatabase } from "../support/env.js";
import { workerProcesses, type WorkerProcesses } from "../support/worker-process.js";
import { scrape } from "./prom-text.js";

let worker: ChildProcess;
let exited: Promise<number | null>;
let db: FreshDatabase;
let metricsPort: number;
let sdkPort: number;
let workers: WorkerProcesses | undefined;

beforeAll(async () => {
  db = await freshMysqlDatabase("worker_metrics");
  [metricsPort, sdkPort] = [await freePort(), await freePort()];
  workers = workerProcesses(db.url, uid("tq"), {
    WORKER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
    TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${sdkPort}`,
    SIGNING_THREADS: "0",
  });
  worker = await workers.start();
  exited = new Promise((resolve) => worker.once("exit", (code) => resolve(code)));
});

afterAll(async () => {
  workers?.stopAll();
  await db?.drop();
});

describe("worker metrics", () => {
  it("serves its own metrics and the Temporal SDK's in one valid scrape", async () => {
    // The SDK's exporter publishes its first numbers once the worker polls; allow it a few scrapes.
    const deadline = Date.now() + 30_000;
    let names: string[] = [];
    for (;;) {
      const { families } = await scrape(metricsPort);
      names = [...families.keys()];
      if (names.some((n) => n.startsWith("temporal_")) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(names.filter((n) => n.startsWith("temporal_")).length).toBeGreaterThan(3);
    for (const name of [
      "ticketing_activity_seconds",
      "ticketing_payment_gateway_seconds",
      "ticketing_checkout_seconds",
      "process_cpu_user_seconds_total",
    ]) {
      expect(names, name).toContain(name);
    }
    // The SDK's own endpoint serves the same SDK metrics (it is what the worker merges).
    const sdk = await scrape(sdkPort);
    expect([...sdk.families.keys()].every((n) => names.includes(n))).toBe(true);
  });

  it("stops on SIGTERM with exit code 0 and closes its metrics endpoint", async () => {
    worker.kill("SIGTERM");
    expect(await exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${metricsPort}/metrics`)).rejects.toThrow();
  });
});
