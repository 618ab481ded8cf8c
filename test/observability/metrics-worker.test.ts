// The worker process (src/worker.ts, as deployed) serves its own /metrics on
// WORKER_METRICS_ADDRESS, with the Temporal SDK's runtime metrics (its
// Prometheus exporter on TEMPORAL_METRICS_ADDRESS) merged into one valid scrape.
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../tools/devstack/stack.js";
import { freePort, uid } from "../support/app.js";
import { freshMysqlDatabase, testEnv, type FreshDatabase } from "../support/env.js";
import { scrape } from "./prom-text.js";

let worker: ChildProcess;
let exited: Promise<number | null>;
let db: FreshDatabase;
let metricsPort: number;
let sdkPort: number;
let output = "";

beforeAll(async () => {
  const stack = testEnv();
  db = await freshMysqlDatabase("worker_metrics");
  [metricsPort, sdkPort] = [await freePort(), await freePort()];
  worker = spawn(process.execPath, ["--import", "tsx", "src/worker.ts"], {
    cwd: repoRoot,
    env: {
      ...process.env,
      REDIS_URL: stack.redisUrl,
      MYSQL_URL: db.url,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      TEMPORAL_TASK_QUEUE: uid("tq"),
      WORKER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
      TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${sdkPort}`,
      LOG_LEVEL: "info",
      SIGNING_THREADS: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  exited = new Promise((resolve) => worker.once("exit", (code) => resolve(code)));
  worker.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  worker.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 90_000;
  while (!output.includes("ticketing worker running")) {
    if (worker.exitCode !== null || Date.now() > deadline)
      throw new Error(`the worker did not start:\n${output.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

afterAll(async () => {
  if (worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
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
