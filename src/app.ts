// The API's composition root: builds every dependency from the configuration,
// wires the services, starts serving, and knows how to stop in order.
import type { Server as HttpServer } from "node:http";
import { Connection } from "@temporalio/client";
import type { Config } from "./config.js";
import { createRedis, type RedisClient } from "./adapters/redis/client.js";
import { migrate } from "./adapters/mysql/migrate.js";
import { createMysqlPool, type MysqlPool } from "./adapters/mysql/pool.js";
import { Scripts } from "./adapters/redis/scripts.js";
import { Inventory } from "./events/inventory.js";
import { Holds } from "./holds/holds.js";
import { CallPipeline } from "./grpc/handlers.js";
import { buildServer, listen, serverCredentials, shutdownServer } from "./grpc/server.js";
import { createServices } from "./grpc/services/index.js";
import { HealthMonitor } from "./health.js";
import type { Logger } from "./logger.js";
import { Metrics } from "./metrics.js";

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

  const pipeline = new CallPipeline({ log, metrics, operatorToken: config.OPERATOR_TOKEN });
  const scripts = new Scripts(redis);
  const inventory = new Inventory(redis, scripts);
  const holds = new Holds(redis, scripts, inventory);
  const services = createServices(pipeline, { config, log, redis, mysql, scripts, inventory, holds });
  const server = buildServer(services, health.implementation);
  const grpcPort = await listen(server, config.GRPC_ADDRESS, serverCredentials(config));

  let metricsServer: HttpServer | undefined;
  let metricsPort: number | undefined;
  if (config.METRICS_ADDRESS !== "off") {
    ({ server: metricsServer, port: metricsPort } = await metrics.serve(config.METRICS_ADDRESS));
  }
  log.info({ grpcPort, metricsPort }, "ticketing api serving");

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      health.shutdown();
      pipeline.closeStreams();
      const how = await shutdownServer(server, config.SHUTDOWN_GRACE_MS);
      log.info({ how }, "grpc server stopped");
      await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
      await Promise.allSettled([redis.quit(), mysql.end(), temporal.close()]);
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
