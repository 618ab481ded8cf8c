// Entry point of the API process: configuration, then the app, then signals.
import cluster from "node:cluster";
import { handleCommandLine } from "./cli.js";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";

async function main(): Promise<void> {
  handleCommandLine({
    name: "ticketing-api",
    usage: ["npm run serve [-- --help]", "node --import tsx src/main.ts [--help]"],
    description: [
      "Runs the Ticketing API: the gRPC server on GRPC_ADDRESS and its Prometheus",
      "/metrics on METRICS_ADDRESS (API_PROCESSES > 1: that many processes sharing the",
      "port). Needs Redis, MySQL (or MariaDB) and Temporal; SIGTERM or Ctrl-C drains it.",
    ].join("\n"),
  });
  // The app loads only now (it takes seconds under tsx), so --help and a bad
  // command line answer at once.
  const [{ startApp }, { runApiPrimary }, { startTracing, tracesExporter }, { signingKeks }] = await Promise.all([
    import("./app.js"),
    import("./observability/metrics-cluster.js"),
    import("./observability/tracing.js"),
    import("./signing/keks.js"),
  ]);
  let config;
  try {
    config = loadConfig();
    // The API signs admission tokens (ticket codes are the worker's).
    signingKeks(config, "admission");
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ticketing: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // API_PROCESSES > 1: this process only forks the API processes and serves their metrics.
  if (config.API_PROCESSES > 1 && cluster.isPrimary) {
    await runApiPrimary(config, createLogger(config.LOG_LEVEL, "ticketing-api-primary"));
    return;
  }
  // Before the logger and the app: both ask once whether tracing is on.
  const exporter = tracesExporter(config);
  const tracing = exporter && (await startTracing({ serviceName: "ticketing-api", exporter }));
  const log = createLogger(config.LOG_LEVEL, "ticketing-api");
  if (exporter) log.info({ exporter }, "tracing on");
  const app = await startApp(config, log);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      // In a cluster the primary forwards the terminal's signal too; it kills us if it must.
      if (cluster.isWorker) return;
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    log.info({ signal }, "shutting down");
    app
      .stop()
      // Spans still buffered go out before the process ends.
      .then(() => tracing?.shutdown())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `ticketing: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
