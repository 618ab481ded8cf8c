// Several API processes on one port (API_PROCESSES > 1, node:cluster): the
// primary forks the workers, which share GRPC_ADDRESS (the primary accepts
// connections and hands them out round-robin), and serves ONE /metrics on
// METRICS_ADDRESS: prom-client's AggregatorRegistry asks every worker for its
// registry over IPC and sums counters and histograms. So a scrape counts the
// calls of every process, and Prometheus needs one target per host.
//
// The funnel gauges describe shared state (Redis, MySQL): only one worker
// computes them (METRICS_FUNNEL=on for it, off for the others), so their sum
// is that worker's value and the state is read once per scrape, not N times.
//
// Signals: the primary forwards SIGTERM/SIGINT to every worker (each drains
// gracefully) and exits when all have; a second signal kills them.
import cluster, { type Worker } from "node:cluster";
import type { Server } from "node:http";
import { AggregatorRegistry, type Registry } from "prom-client";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { serveMetrics } from "../metrics.js";

/** In a cluster worker: answers the primary's metric requests with this registry. */
export function shareMetricsWithPrimary(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one adds the IPC listener that answers the primary.
  new AggregatorRegistry();
}

/** Restarts within this window count towards giving up (a worker that cannot start). */
const CRASH_WINDOW_MS = 60_000;
const MAX_CRASHES = 5;

export async function runApiPrimary(config: Config, log: Logger): Promise<void> {
  const aggregator = new AggregatorRegistry();
  let metricsServer: Server | undefined;
  let metricsPort: number | undefined;
  if (config.METRICS_ADDRESS !== "off") {
    ({ server: metricsServer, port: metricsPort } = await serveMetrics(
      config.METRICS_ADDRESS,
      aggregator.contentType,
      () => aggregator.clusterMetrics(),
    ));
  }

  // Which worker computes the funnel gauges; its replacement inherits the role.
  let funnelWorker: Worker | undefined;
  const crashes: number[] = [];
  let stopping = false;

  const fork = (funnel: boolean): Worker => {
    const worker = cluster.fork({
      // The primary serves the metrics; a worker binding the same port would take half the scrapes.
      METRICS_ADDRESS: "off",
      METRICS_FUNNEL: funnel && config.METRICS_FUNNEL === "on" ? "on" : "off",
    });
    if (funnel) funnelWorker = worker;
    return worker;
  };

  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    const now = Date.now();
    crashes.push(now);
    while (crashes.length > 0 && crashes[0]! < now - CRASH_WINDOW_MS) crashes.shift();
    if (crashes.length > MAX_CRASHES) {
      log.error({ pid: worker.process.pid, code, signal }, "api workers keep exiting; stopping");
      void stop(1);
      return;
    }
    log.warn({ pid: worker.process.pid, code, signal }, "api worker exited; starting another");
    setTimeout(() => {
      if (!stopping) fork(worker === funnelWorker);
    }, 1000).unref();
  });

  const listening = new Set<number>();
  const ready = new Promise<void>((resolve) => {
    cluster.on("listening", (worker) => {
      listening.add(worker.id);
      if (listening.size === config.API_PROCESSES) resolve();
    });
  });
  for (let i = 0; i < config.API_PROCESSES; i++) fork(i === 0);
  await ready;
  log.info(
    {
      grpcAddress: config.GRPC_ADDRESS,
      processes: config.API_PROCESSES,
      metricsPort,
      pids: workers().map((w) => w.process.pid),
    },
    "ticketing api serving (cluster)",
  );

  async function stop(exitCode: number): Promise<void> {
    stopping = true;
    const running = workers();
    const exited = Promise.all(
      running.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once("exit", () => resolve())))),
    );
    for (const w of running) w.process.kill("SIGTERM");
    // Each worker drains within SHUTDOWN_GRACE_MS; past that and a margin, no more waiting.
    const timer = setTimeout(() => {
      log.warn("api workers did not stop in time; killing them");
      for (const w of workers()) w.process.kill("SIGKILL");
    }, config.SHUTDOWN_GRACE_MS + 5000);
    await exited;
    clearTimeout(timer);
    await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
    log.info({ exitCode }, "api cluster stopped");
    process.exit(exitCode);
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn({ signal }, "second signal: killing the api workers");
      for (const w of workers()) w.process.kill("SIGKILL");
      process.exit(1);
    }
    log.info({ signal }, "shutting down the api workers");
    void stop(0);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

function workers(): Worker[] {
  return Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
}
