// Entry point of the Temporal worker process: the hold sweeper (and, with
// the checkout issue, the checkout workflow) and their activities.
import { fileURLToPath } from "node:url";
import { NativeConnection, Runtime, Worker } from "@temporalio/worker";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { createRedis } from "./adapters/redis/client.js";
import { Scripts } from "./adapters/redis/scripts.js";
import { Inventory } from "./events/inventory.js";
import { createHoldActivities } from "./holds/activities.js";
import { Holds } from "./holds/holds.js";
import { createLogger, type Logger } from "./logger.js";

export const WORKFLOWS_PATH = fileURLToPath(new URL("../workflows/index.ts", import.meta.url));

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker has shut down. */
  done: Promise<void>;
  stop(): Promise<void>;
}

export async function startWorker(config: Config, log: Logger): Promise<RunningWorker> {
  const redis = createRedis({ url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES });
  redis.on("error", (err: Error) => log.debug({ err: err.message }, "redis connection error"));
  const scripts = new Scripts(redis);
  const holds = new Holds(redis, scripts, new Inventory(redis, scripts));
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    workflowsPath: WORKFLOWS_PATH,
    activities: createHoldActivities({ redis, holds }),
  });
  const done = worker.run().finally(async () => {
    await connection.close();
    await redis.quit().catch(() => undefined);
  });
  log.info({ taskQueue: config.TEMPORAL_TASK_QUEUE }, "ticketing worker running");
  return {
    worker,
    done,
    async stop() {
      if (worker.getState() === "RUNNING") worker.shutdown();
      await done;
    },
  };
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ticketing-worker: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL, "ticketing-worker");
  // The worker's own signal handling: SIGTERM/SIGINT drain the worker.
  Runtime.install({ shutdownSignals: ["SIGINT", "SIGTERM"] });
  const running = await startWorker(config, log);
  await running.done;
  log.info("worker stopped");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`ticketing-worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
