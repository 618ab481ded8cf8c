// Entry point of the Temporal worker process: the checkout and refund
// workflows, the hold sweeper, and their activities.
import type { Server as HttpServer } from "node:http";
import { fileURLToPath } from "node:url";
import { NativeConnection, Runtime, Worker } from "@temporalio/worker";
import { handleCommandLine } from "./cli.js";
import { ConfigError, loadConfig, paymentProvider, type Config } from "./config.js";
import { startTracing, temporalWorkerTracing, tracesExporter, type Tracing } from "./observability/tracing.js";
import { traceGateway } from "./payments/traced-gateway.js";
import { createRedis } from "./adapters/redis/client.js";
import { Scripts } from "./adapters/redis/scripts.js";
import { Inventory } from "./events/inventory.js";
import { migrateWhenReachable } from "./adapters/mysql/migrate.js";
import { createMysqlPool } from "./adapters/mysql/pool.js";
import { EventStore } from "./events/event-store.js";
import { Events } from "./events/events.js";
import { createHoldActivities } from "./holds/activities.js";
import { createOrderActivities, paymentKeyOf } from "./orders/activities.js";
import { createReconcileActivities } from "./orders/reconcile.js";
import { ensureReconcileSchedule } from "./temporal/schedules.js";
import { OrderNotifier } from "./orders/notifier.js";
import { OrderStore } from "./orders/order-store.js";
import { createPaymentGateway, describeProvider } from "./payments/provider.js";
import { SeatRepair } from "./orders/seat-repair.js";
import { completeShopping } from "./queue/waiting-room.js";
import { createTicketTokens, Tickets } from "./tickets/tickets.js";
import { createTicketKeyActivities } from "./tickets/key-activities.js";
import { signingKeks } from "./signing/keks.js";
import { Holds } from "./holds/holds.js";
import { createLogger, type Logger } from "./logger.js";
import { Metrics } from "./metrics.js";
import { withActivityMetrics } from "./observability/metrics-activities.js";
import { DomainMetrics } from "./observability/metrics-domain.js";
import { EventLabels } from "./observability/metrics-events.js";
import { MeteredPaymentGateway } from "./payments/metered.js";
import { lowerPriority } from "./worker-priority.js";
import { dataConverter } from "./temporal/data-converter.js";
import { workflowCode } from "./workflow-code.js";

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker has shut down. */
  done: Promise<void>;
  /** Where this worker's /metrics is served; undefined when WORKER_METRICS_ADDRESS is off. */
  metricsPort: number | undefined;
  stop(): Promise<void>;
}

export async function startWorker(config: Config, log: Logger): Promise<RunningWorker> {
  // First: a worker that would take money the wrong way does not start (ConfigError).
  const provider = paymentProvider(config);
  // Payloads encrypted in Temporal's history (the API's client uses the same keys).
  const converter = dataConverter(config);
  const redis = createRedis({ url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES });
  redis.on("error", (err: Error) => log.debug({ err: err.message }, "redis connection error"));
  const mysql = createMysqlPool(config.MYSQL_URL, config.MYSQL_POOL_SIZE);
  // Either process may start first; migrations are idempotent and locked. A
  // worker started before MySQL answers waits for it rather than exiting.
  await migrateWhenReachable(mysql, {
    onRetry: (err, attempt, delayMs) =>
      log.warn({ err, attempt, retryInMs: delayMs }, "MySQL unreachable: the worker waits for it to apply migrations"),
  });
  const scripts = new Scripts(redis);
  const inventory = new Inventory({ redis, scripts });
  const events = new Events({ store: new EventStore(mysql), inventory, log });
  // This process's metrics (no funnel gauges: the API exports those once for all).
  const metrics = new Metrics();
  const domainMetrics = new DomainMetrics(
    metrics.registry,
    new EventLabels(() => events.openSaleIds(), config.METRICS_EVENT_RETENTION_SECONDS * 1000),
  );
  const holds = new Holds({ redis, scripts, inventory, observer: domainMetrics });
  const notifier = new OrderNotifier(redis);
  const payments = traceGateway(createPaymentGateway(provider, mysql, config));
  // Every provider call timed and counted by operation and result.
  const meteredPayments = new MeteredPaymentGateway(payments, domainMetrics.payment);
  const ticketKeys = createTicketTokens(
    mysql,
    {
      rotateAfterSeconds: config.SIGNING_KEY_ROTATE_SECONDS,
      refreshMs: config.SIGNING_KEY_REFRESH_MS,
      threads: config.SIGNING_THREADS,
      // Only the worker holds the ticket keys' KEKs: it signs ticket codes.
      keks: signingKeks(config, "ticket"),
    },
    log,
  );
  await ticketKeys.ring.start();
  const orderStore = new OrderStore(mysql, (outcome, seconds) => domainMetrics.checkout.observe({ outcome }, seconds));
  const seatRepair = new SeatRepair(scripts, orderStore, log);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  // With tracing on: workflow and activity spans, continuing the client's trace.
  const traceOptions = temporalWorkerTracing();
  // The workflow code: the build's bundle when compiled, the sources under tsx.
  // Tracing's interceptors (when on) and the activity timer both run.
  const code = workflowCode(withActivityMetrics(traceOptions.interceptors, domainMetrics.activity));
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    dataConverter: converter,
    ...traceOptions,
    ...code,
    activities: {
      ...createHoldActivities({ redis, holds }),
      ...createTicketKeyActivities(ticketKeys.ring),
      ...createOrderActivities({
        holds,
        inventory,
        orders: orderStore,
        payments: meteredPayments,
        notifier,
        tickets: new Tickets({ mysql, tokens: ticketKeys.tokens }),
        completeShopping: (eventId, buyerId) => completeShopping(scripts, eventId, buyerId),
        repairSeats: (target) => seatRepair.repair(target),
        log,
      }),
      ...createReconcileActivities({
        orders: orderStore,
        payments: meteredPayments,
        log,
        registry: metrics.registry,
        olderThanSeconds: config.PAYMENT_RECONCILE_AFTER_SECONDS,
        batch: 500,
        paymentKeyOf,
      }),
    },
  });
  const reconcileSchedule = await ensureReconcileSchedule(config, log);
  let metricsServer: HttpServer | undefined;
  let metricsPort: number | undefined;
  if (config.WORKER_METRICS_ADDRESS !== "off") {
    const sdk = config.TEMPORAL_METRICS_ADDRESS;
    ({ server: metricsServer, port: metricsPort } = await metrics.serve(
      config.WORKER_METRICS_ADDRESS,
      sdk === "off" ? undefined : () => temporalSdkMetrics(sdk, log),
    ));
  }
  const done = worker.run().finally(async () => {
    await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
    ticketKeys.ring.stop();
    await ticketKeys.pool.close();
    await connection.close();
    await Promise.allSettled([redis.quit(), mysql.end()]);
  });
  log.info(
    {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      metricsPort,
      ...describeProvider(provider),
      payloadsEncrypted: Boolean(converter.payloadCodecs),
      reconcileSchedule,
      workflows:
        code.workflowBundle && "codePath" in code.workflowBundle ? code.workflowBundle.codePath : code.workflowsPath,
    },
    "ticketing worker running",
  );
  return {
    worker,
    done,
    metricsPort,
    async stop() {
      if (worker.getState() === "RUNNING") worker.shutdown();
      await done;
    },
  };
}

/**
 * The Temporal SDK's metrics text, from its own exporter (installed by main();
 * absent when the process installed the runtime without it, as tests do).
 */
async function temporalSdkMetrics(address: string, log: Logger): Promise<string> {
  try {
    const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? await res.text() : "";
  } catch (err) {
    log.debug({ err, address }, "temporal sdk metrics not available");
    return "";
  }
}

async function main(): Promise<void> {
  handleCommandLine({
    name: "ticketing-worker",
    usage: ["npm run worker [-- --help]", "node --import tsx src/worker.ts [--help]"],
    description: [
      "Runs the Temporal worker on TEMPORAL_TASK_QUEUE: the checkout and refund workflows,",
      "the hold sweepers and their activities (payments through the simulator), with its",
      "/metrics on WORKER_METRICS_ADDRESS. Needs Redis, MySQL (or MariaDB) and Temporal;",
      "SIGTERM or Ctrl-C drains it.",
    ].join("\n"),
  });
  let config;
  try {
    config = loadConfig();
    paymentProvider(config);
    dataConverter(config);
    signingKeks(config, "ticket");
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ticketing-worker: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // First, before any thread of the SDK, Piscina or the exporters starts: they
  // inherit it. Checkouts yield the CPU to the API's hold path (WORKER_NICE,
  // src/worker-priority.ts).
  const priority = config.WORKER_NICE > 0 ? lowerPriority(config.WORKER_NICE) : undefined;
  // Before the logger and the worker: both ask once whether tracing is on.
  const exporter = tracesExporter(config);
  const tracing: Tracing | undefined = exporter && (await startTracing({ serviceName: "ticketing-worker", exporter }));
  const log = createLogger(config.LOG_LEVEL, "ticketing-worker");
  if (exporter) log.info({ exporter }, "tracing on");
  if (priority) {
    log.info(
      {
        workerNice: config.WORKER_NICE,
        nice: priority.nice,
        threadsLowered: priority.threads,
        autogroupNice: priority.autogroup,
      },
      "worker cpu priority lowered",
    );
  } else {
    log.info({ workerNice: 0 }, "worker cpu priority unchanged (WORKER_NICE=0)");
  }
  // The worker's own signal handling: SIGTERM/SIGINT drain the worker. The
  // SDK's metrics go to its own Prometheus exporter; /metrics merges them in.
  Runtime.install({
    shutdownSignals: ["SIGINT", "SIGTERM"],
    ...(config.TEMPORAL_METRICS_ADDRESS === "off"
      ? {}
      : {
          telemetryOptions: {
            metrics: {
              prometheus: {
                bindAddress: config.TEMPORAL_METRICS_ADDRESS,
                countersTotalSuffix: true,
                useSecondsForDurations: true,
              },
            },
          },
        }),
  });
  const running = await startWorker(config, log);
  await running.done;
  await tracing?.shutdown();
  log.info("worker stopped");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`ticketing-worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
