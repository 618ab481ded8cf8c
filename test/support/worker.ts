// Starts the real Temporal worker (src/worker.ts) against the test stack on
// its own task queue, so test files never take each other's tasks.
import { DefaultLogger, Runtime } from "@temporalio/worker";
import { loadConfig, type Config } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { startWorker, type RunningWorker } from "../../src/worker.js";
import { uid } from "./app.js";
import { testEnv } from "./env.js";

export interface TestWorker {
  running: RunningWorker;
  config: Config;
  taskQueue: string;
}

/** `mysqlUrl`: the database of the API the worker serves (startTestApp's). */
let runtimeInstalled = false;

/** The SDK logs every failed activity at WARN; expected business failures would flood test output. */
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    const wanted = (process.env.TEST_LOG_LEVEL ?? "").toUpperCase();
    const level = (["TRACE", "DEBUG", "INFO", "WARN"] as const).find((l) => l === wanted) ?? "ERROR";
    Runtime.install({ logger: new DefaultLogger(level) });
  } catch {
    // Already installed in this process.
  }
}

export async function startTestWorker(mysqlUrl: string, env: Record<string, string> = {}): Promise<TestWorker> {
  quietRuntime();
  const stack = testEnv();
  const taskQueue = env.TEMPORAL_TASK_QUEUE ?? uid("tq");
  const config = loadConfig({
    REDIS_URL: stack.redisUrl,
    ...(stack.redisClusterNodes
      ? { REDIS_CLUSTER_NODES: stack.redisClusterNodes.map((n) => `${n.host}:${n.port}`).join(",") }
      : {}),
    MYSQL_URL: mysqlUrl,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    PAYMENT_SIM_LATENCY_MS: "0",
    // Test workers share the machine: their /metrics on a free port, no SDK exporter (no Runtime here installs one).
    WORKER_METRICS_ADDRESS: "127.0.0.1:0",
    TEMPORAL_METRICS_ADDRESS: "off",
    // No reconciliation schedule unless a test asks for one (test/orders/reconcile.test.ts).
    PAYMENT_RECONCILE_EVERY_SECONDS: "0",
    ...env,
  });
  const running = await startWorker(config, createLogger(config.LOG_LEVEL, "test-worker"));
  return { running, config, taskQueue };
}
