// Entry point of the Temporal worker process: the checkout and refund
// workflows, the hold sweeper, and their activities.
import { fileURLToPath } from "node:url";
import { NativeConnection, Runtime, Worker } from "@temporalio/worker";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { createRedis } from "./adapters/redis/client.js";
import { Scripts } from "./adapters/redis/scripts.js";
import { Inventory } from "./events/inventory.js";
import { migrate } from "./adapters/mysql/migrate.js";
import { createMysqlPool } from "./adapters/mysql/pool.js";
import { EventStore } from "./events/event-store.js";
import { Events } from "./events/events.js";
import { createHoldActivities } from "./holds/activities.js";
import { createOrderActivities } from "./orders/activities.js";
import { OrderNotifier } from "./orders/notifier.js";
import { OrderStore } from "./orders/order-store.js";
import { PaymentSimulator } from "./payments/simulator.js";
import { completeShopping } from "./queue/waiting-room.js";
import { createTicketTokens, Tickets } from "./tickets/tickets.js";
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
  const mysql = createMysqlPool(config.MYSQL_URL, config.MYSQL_POOL_SIZE);
  // Either process may start first; migrations are idempotent and locked.
  await migrate(mysql);
  const scripts = new Scripts(redis);
  const inventory = new Inventory(redis, scripts);
  const holds = new Holds(redis, scripts, inventory);
  const events = new Events({ store: new EventStore(mysql), inventory, log });
  const notifier = new OrderNotifier(redis);
  const payments = new PaymentSimulator(mysql, {
    latencyMs: config.PAYMENT_SIM_LATENCY_MS,
    declineRatio: config.PAYMENT_SIM_DECLINE_RATIO,
    failureRatio: config.PAYMENT_SIM_FAILURE_RATIO,
    lostResponseRatio: config.PAYMENT_SIM_LOST_RESPONSE_RATIO,
  });
  const ticketKeys = createTicketTokens(
    mysql,
    { rotateAfterSeconds: config.SIGNING_KEY_ROTATE_SECONDS, refreshMs: config.SIGNING_KEY_REFRESH_MS, threads: config.SIGNING_THREADS },
    log,
  );
  await ticketKeys.ring.start();
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    workflowsPath: WORKFLOWS_PATH,
    activities: {
      ...createHoldActivities({ redis, holds }),
      ...createOrderActivities({
        holds,
        inventory,
        orders: new OrderStore(mysql),
        payments,
        notifier,
        tickets: new Tickets(mysql, ticketKeys.tokens),
        completeShopping: (eventId, buyerId) => completeShopping(scripts, eventId, buyerId),
        rebuildEvent: async (eventId) => void (await events.rebuildInventory(eventId)),
        log,
      }),
    },
  });
  const done = worker.run().finally(async () => {
    ticketKeys.ring.stop();
    await ticketKeys.pool.close();
    await connection.close();
    await Promise.allSettled([redis.quit(), mysql.end()]);
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
