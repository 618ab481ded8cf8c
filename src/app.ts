// The API's composition root: builds every dependency from the configuration,
// wires the services, starts serving, and knows how to stop in order.
import cluster from "node:cluster";
import type { Server as HttpServer } from "node:http";
import { Client, Connection } from "@temporalio/client";
import type { Config } from "./config.js";
import { temporalClientInterceptors } from "./observability/tracing.js";
import { createRedis, type RedisClient } from "./adapters/redis/client.js";
import { migrate } from "./adapters/mysql/migrate.js";
import { createMysqlPool, type MysqlPool } from "./adapters/mysql/pool.js";
import { Scripts } from "./adapters/redis/scripts.js";
import { EventStore } from "./events/event-store.js";
import { Events } from "./events/events.js";
import { Inventory } from "./events/inventory.js";
import { LiveState } from "./events/live-state.js";
import { SeatMapWatchHub } from "./events/seat-map-watch.js";
import { Holds } from "./holds/holds.js";
import { Sweepers } from "./holds/sweepers.js";
import { createAdmission, createQueue } from "./queue/index.js";
import { OrderNotifier } from "./orders/notifier.js";
import { createTicketTokens, Tickets } from "./tickets/tickets.js";
import { workerTicketKeyAdmin } from "./tickets/key-admin.js";
import { ringKeyAdmin } from "./signing/key-admin.js";
import { OrderStore } from "./orders/order-store.js";
import { Orders } from "./orders/orders.js";
import { CallPipeline, type CallLimits } from "./grpc/handlers.js";
import { createAuthenticator } from "./identity/from-config.js";
import { buildServer, listen, serverCredentials, shutdownServer } from "./grpc/server.js";
import { createServices } from "./grpc/services/index.js";
import { HealthMonitor } from "./health.js";
import type { Logger } from "./logger.js";
import { Metrics } from "./metrics.js";
import { MysqlSeedLedger } from "./queue/seed-ledger.js";
import { shareMetricsWithPrimary } from "./observability/metrics-cluster.js";
import { DomainMetrics } from "./observability/metrics-domain.js";
import { EventLabels } from "./observability/metrics-events.js";
import { registerFunnelMetrics } from "./observability/metrics-funnel.js";
import { dataConverter } from "./temporal/data-converter.js";

export interface RunningApp {
  grpcPort: number;
  metricsPort: number | undefined;
  redis: RedisClient;
  mysql: MysqlPool;
  health: HealthMonitor;
  /** Graceful: health NOT_SERVING, stop taking calls, drain, close pools. */
  stop(): Promise<void>;
}

export async function startApp(config: Config, log: Logger): Promise<RunningApp> {
  const metrics = new Metrics();
  const redis = createRedis({ url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES });
  redis.on("error", (err: Error) => log.debug({ err: err.message }, "redis connection error"));
  const mysql = createMysqlPool(config.MYSQL_URL, config.MYSQL_POOL_SIZE);
  const temporal = Connection.lazy({ address: config.TEMPORAL_ADDRESS });

  const schema = new SchemaKeeper(mysql, log);
  await schema.ensure();

  const health = new HealthMonitor(
    {
      redis: () => redis.ping(),
      mysql: () => schema.ensure().then(() => mysql.query("SELECT 1")),
      temporal: () => temporal.healthService.check({}),
    },
    log,
  );
  await health.start(config.HEALTH_CHECK_INTERVAL_MS);

  const auth = await createAuthenticator(config, log);
  const pipeline = new CallPipeline({
    log,
    metrics,
    auth,
    publicReads: config.AUTH_PUBLIC_READS === "on",
    limits: callLimits(config),
  });
  // Built in dependency order, each from what is already there. Three
  // capabilities reach each other only through smaller parts built first: the
  // live-state repair (events' rebuild from MySQL: the holds and the waiting
  // room ask it about an event Redis lost), the admission gate (the holds check
  // its tokens) and the holds (the seat-map feeds and the waiting room reclaim
  // expired holds through them).
  const scripts = new Scripts(redis);
  const inventory = new Inventory({ redis, scripts });
  const eventStore = new EventStore(mysql);
  // Metrics of the domain: events label values only while their sale is on (or recently was).
  const eventLabels = new EventLabels(
    () => eventStore.eventIdsWithOpenOrScheduledSales(),
    config.METRICS_EVENT_RETENTION_SECONDS * 1000,
  );
  const domainMetrics = new DomainMetrics(metrics.registry, eventLabels);
  const liveState = new LiveState({
    store: eventStore,
    inventory,
    log,
    unknownEventTtlMs: config.UNKNOWN_EVENT_TTL_MS,
    onUnknownEventLookup: (source) => domainMetrics.unknownEventLookups.inc({ answered_from: source }),
  });
  const missingInventory = (eventId: string) => liveState.explainMissing(eventId);
  const admission = createAdmission({ config, log, mysql });
  const holds = new Holds({
    redis,
    scripts,
    inventory,
    gate: admission.gate,
    missingInventory,
    observer: domainMetrics,
  });
  const reclaim = (eventId: string) => holds.reclaimExpired(eventId);
  const hub = new SeatMapWatchHub({ redis, inventory, reclaim, log });
  const orderStore = new OrderStore(mysql);
  // The waiting room (#4) reclaims expired holds when they are all that keeps an event sold out.
  const queue = createQueue({
    config,
    log,
    redis,
    scripts,
    inventory,
    admission,
    reclaim,
    missingInventory,
    seedLedger: new MysqlSeedLedger(mysql),
    onStateLost: () => domainMetrics.queueStateLost.inc(),
    onPollBatch: (polls, reads) => domainMetrics.pollBatch(polls, reads),
    checkoutBacklog: (eventId) => orderStore.pendingCheckouts(eventId),
    onAdmissionRate: (eventId, rate) => domainMetrics.admissionRateIs(eventId, rate),
    onAdmissionRateChange: (eventId, d) => domainMetrics.admissionRateChanged(eventId, d.from, d.to, d.reasons),
  });
  queue.ticker.onStep((eventId, step) => domainMetrics.admissions(eventId, step.admitted));
  // With tracing on, Temporal calls (CreateOrder's Update-with-Start) carry the call's trace into the workflow.
  const temporalClient = new Client({
    connection: temporal,
    namespace: config.TEMPORAL_NAMESPACE,
    // Payloads (payment tokens, buyer ids) encrypted before they reach Temporal.
    dataConverter: dataConverter(config),
    interceptors: temporalClientInterceptors(),
  });
  const sweepers = new Sweepers({ temporal: temporalClient, taskQueue: config.TEMPORAL_TASK_QUEUE, log });
  const events = new Events({
    store: eventStore,
    inventory,
    log,
    hub,
    liveState,
    onSaleOpened: (id) => sweepers.ensure(id),
    seedCommitment: async (id) => (await queue.room.commitment(id)).seedSha256,
  });
  if (config.METRICS_FUNNEL === "on") {
    registerFunnelMetrics(metrics.registry, { summary: (id) => events.getEventSummary(id), events: eventLabels, log });
  }
  await queue.start();
  // Events whose live state Redis lost are loaded before serving; reads and sale
  // changes repair any that remain (or that Redis loses later) on demand.
  await events.rebuildMissing().catch((err: unknown) => log.warn({ err }, "start-up inventory rebuild failed"));
  // Sweepers of sales that are not closed (started in the background; best effort).
  void events
    .openSaleIds()
    .then((ids) => Promise.all(ids.map((id) => sweepers.ensure(id))))
    .catch((err: unknown) => log.warn({ err }, "could not list sales to sweep"));
  // Verify-only: no KEKs, no private column read; the worker signs tickets
  // and creates their keys (until its first start there are none).
  const ticketKeys = createTicketTokens(
    mysql,
    { rotateAfterSeconds: config.SIGNING_KEY_ROTATE_SECONDS, refreshMs: config.SIGNING_KEY_REFRESH_MS, threads: 0 },
    log,
  );
  await ticketKeys.ring
    .start()
    .catch((err: unknown) => log.warn({ err }, "ticket key ring not loaded yet; VerifyTicket answers UNAVAILABLE"));
  ticketKeys.ring.startRefreshing();
  const tickets = new Tickets({ mysql, tokens: ticketKeys.tokens });
  const notifier = new OrderNotifier(redis);
  const orders = new Orders({
    store: orderStore,
    holds,
    temporal: temporalClient,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    notifier,
    paymentWindowMs: config.PAYMENT_WINDOW_SECONDS * 1000,
    watchSweepMs: config.ORDER_WATCH_SWEEP_MS,
  });
  const services = createServices(pipeline, {
    config,
    scripts,
    holds,
    events,
    orders,
    queue: {
      ...queue,
      ticketTokens: ticketKeys.tokens,
      keyAdmin: {
        admission: ringKeyAdmin(admission.ring),
        ticket: workerTicketKeyAdmin({
          temporal: temporalClient,
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          ring: ticketKeys.ring,
        }),
      },
    },
    tickets,
    signals: queue.signals,
  });
  const server = buildServer(services, health.implementation, {
    maxReceiveMessageBytes: Math.max(config.GRPC_MAX_MESSAGE_BYTES, config.GRPC_CREATE_EVENT_MAX_MESSAGE_BYTES),
    maxConcurrentStreams: config.GRPC_MAX_CONCURRENT_STREAMS,
  });
  const grpcPort = await listen(server, config.GRPC_ADDRESS, serverCredentials(config));

  let metricsServer: HttpServer | undefined;
  let metricsPort: number | undefined;
  // In a cluster (API_PROCESSES > 1) the primary serves every process's metrics in one scrape.
  if (cluster.isWorker) shareMetricsWithPrimary(metrics.registry);
  else if (config.METRICS_ADDRESS !== "off") {
    ({ server: metricsServer, port: metricsPort } = await metrics.serve(config.METRICS_ADDRESS));
  }
  log.info({ grpcPort, metricsPort }, "ticketing api serving");

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      health.shutdown();
      pipeline.closeStreams();
      hub.stopFollowing();
      const how = await shutdownServer(server, config.SHUTDOWN_GRACE_MS);
      log.info({ how }, "grpc server stopped");
      await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
      await queue.stop();
      ticketKeys.ring.stop();
      await ticketKeys.pool.close();
      await Promise.allSettled([notifier.close(), redis.quit(), mysql.end(), temporal.close()]);
    })());

  return { grpcPort, metricsPort, redis, mysql, health, stop };
}

/** Applies migrations once MySQL answers; until then MySQL calls fail UNAVAILABLE. */
class SchemaKeeper {
  private done = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly mysql: MysqlPool,
    private readonly log: Logger,
  ) {}

  ensure(): Promise<void> {
    if (this.done) return Promise.resolve();
    this.running ??= migrate(this.mysql)
      .then((result) => {
        this.done = true;
        if (result.applied.length > 0) this.log.info({ applied: result.applied }, "migrations applied");
      })
      .catch((err: unknown) => {
        this.log.warn({ err }, "migrations not applied yet; MySQL unreachable?");
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }
}

/** The configured bounds of every call (README, "Operating it safely"). */
export function callLimits(
  config: Pick<
    Config,
    "GRPC_MAX_MESSAGE_BYTES" | "GRPC_CREATE_EVENT_MAX_MESSAGE_BYTES" | "WATCHERS_PER_METHOD" | "WATCHERS_PER_PRINCIPAL"
  >,
): CallLimits {
  return {
    maxMessageBytes: (method) =>
      method === "/ticketing.v1.EventService/CreateEvent"
        ? config.GRPC_CREATE_EVENT_MAX_MESSAGE_BYTES
        : config.GRPC_MAX_MESSAGE_BYTES,
    watchersPerMethod: config.WATCHERS_PER_METHOD,
    watchersPerPrincipal: config.WATCHERS_PER_PRINCIPAL,
  };
}
