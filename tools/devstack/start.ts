// `npm start`: local development in one command.
//
// For each of REDIS_URL, MYSQL_URL, TEMPORAL_ADDRESS that is unset, starts the
// dependency on a free port with its data kept under .local/ (git-ignored):
//   Redis      .local/redis/ (appendonly), log .local/redis.log
//   MariaDB    .local/mysql/ (datadir), log .local/mariadb.log
//   Temporal   .local/temporal.db (SQLite, WAL), web UI on, log .local/temporal.log,
//              at the worker's CPU niceness (WORKER_NICE, default 10)
// then runs the API (src/main.ts) and the worker (src/worker.ts) with those
// addresses in their env. Ctrl-C / SIGTERM stops the API and the worker first,
// then the dependencies it started.
import fs from "node:fs";
import path from "node:path";
import { killAllSync, launch, repoRoot, startMysql, startRedis, startTemporal, type ManagedProcess } from "./stack.js";
import { workerNiceFromEnv } from "../../src/worker-priority.js";
import { handleCommandLine } from "../../src/cli.js";

handleCommandLine({
  name: "start",
  usage: ["npm start [-- --help]", "node --import tsx tools/devstack/start.ts [--help]"],
  description: [
    "Local development in one command. For each of REDIS_URL, MYSQL_URL and",
    "TEMPORAL_ADDRESS that is unset, starts that dependency on a free port with its data",
    "in .local/ (redis-server; MariaDB; the Temporal dev server with its web UI, built",
    "into .tools/bin on the first run: a few minutes, with progress), then the API and",
    "the worker with those addresses. Ctrl-C stops the API and the worker, then what it",
    "started.",
  ].join("\n"),
  extraVariables: [
    ["REDIS_URL", "use this Redis instead of starting one (or REDIS_CLUSTER_NODES)"],
    ["MYSQL_URL", "use this MySQL or MariaDB instead of starting one"],
    ["TEMPORAL_ADDRESS", "use this Temporal frontend instead of starting the dev server"],
    ["WORKER_NICE", "CPU niceness of the worker and of the Temporal dev server it starts"],
  ],
});

const localDir = path.join(repoRoot, ".local");
const t0 = Date.now();
const say = (msg: string) => process.stderr.write(`[start] ${msg}\n`);
const rel = (p: string) => path.relative(process.cwd(), p) || p;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface Dep {
  name: string;
  stop(): Promise<void>;
}
const deps: Dep[] = [];
const apps: ManagedProcess[] = [];
let shuttingDown: Promise<never> | undefined;
let signalled = false;

function onSignal(sig: NodeJS.Signals) {
  if (signalled || shuttingDown) {
    say(`${sig} again: killing everything now`);
    killAllSync("SIGKILL");
    process.exit(130);
  }
  signalled = true;
  say(`${sig}: shutting down (press Ctrl-C again to kill)`);
  // During start-up main() notices `signalled` once every dependency is up (or failed).
  if (apps.length > 0) void shutdown(0);
}
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);
process.on("SIGHUP", onSignal);

function shutdown(code: number): Promise<never> {
  shuttingDown ??= (async () => {
    const t = Date.now();
    // the API and the worker first (they drain), then what they depend on
    await Promise.all(apps.map((a) => a.stop(15_000)));
    const results = await Promise.allSettled(
      deps
        .splice(0)
        .reverse()
        .map((d) => d.stop()),
    );
    for (const r of results) if (r.status === "rejected") say(`stop failed: ${String(r.reason)}`);
    say(`stopped in ${seconds(Date.now() - t)}`);
    process.exit(code);
  })();
  return shuttingDown;
}

async function startDependencies(): Promise<Record<string, string>> {
  fs.mkdirSync(localDir, { recursive: true });
  const env: Record<string, string> = {};
  const tasks: Promise<void>[] = [];
  let uiUrl: string | undefined;

  if (process.env.REDIS_URL || process.env.REDIS_CLUSTER_NODES) {
    say(
      `redis: using ${process.env.REDIS_CLUSTER_NODES ? `REDIS_CLUSTER_NODES=${process.env.REDIS_CLUSTER_NODES}` : process.env.REDIS_URL}`,
    );
  } else {
    tasks.push(
      startRedis({ dir: localDir, dataDir: path.join(localDir, "redis"), persistent: true }).then((h) => {
        deps.push({ name: "redis", stop: () => h.stop() });
        env.REDIS_URL = h.url;
        say(`redis:    ${h.url} (pid ${h.pid}, data ${rel(path.join(localDir, "redis"))}, log ${rel(h.logFile)})`);
      }),
    );
  }

  if (process.env.MYSQL_URL) {
    say(`mysql: using ${process.env.MYSQL_URL}`);
  } else {
    tasks.push(
      startMysql({ dir: localDir, dataDir: path.join(localDir, "mysql"), durable: true }).then((h) => {
        deps.push({ name: "mysql", stop: () => h.stop() });
        env.MYSQL_URL = h.url;
        say(`mysql:    ${h.url} (pid ${h.pid}, data ${rel(path.join(localDir, "mysql"))}, log ${rel(h.logFile)})`);
      }),
    );
  }

  if (process.env.TEMPORAL_ADDRESS) {
    say(`temporal: using ${process.env.TEMPORAL_ADDRESS}`);
  } else {
    const temporalNice = workerNiceFromEnv();
    tasks.push(
      // Checkout work is background work next to the API's holds: the server
      // runs at the worker's niceness (WORKER_NICE; the worker sets its own).
      startTemporal({ dir: localDir, dbFile: path.join(localDir, "temporal.db"), ui: true, nice: temporalNice }).then(
        (h) => {
          deps.push({ name: "temporal", stop: () => h.stop() });
          env.TEMPORAL_ADDRESS = h.address;
          uiUrl = h.uiUrl;
          say(
            `temporal: ${h.address} (pid ${h.pid}, nice ${temporalNice}, data ${rel(path.join(localDir, "temporal.db"))}, log ${rel(h.logFile)}), web UI ${h.uiUrl}`,
          );
        },
      ),
    );
  }

  const results = await Promise.allSettled(tasks);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failures.length > 0) {
    for (const f of failures) say(`error: ${f.reason instanceof Error ? f.reason.message : String(f.reason)}`);
    throw new Error("dependencies failed to start");
  }
  if (uiUrl) env.TICKETING_TEMPORAL_UI_URL = uiUrl;
  return env;
}

async function main() {
  let depEnv: Record<string, string>;
  try {
    depEnv = await startDependencies();
  } catch {
    await shutdown(1);
    return;
  }
  if (deps.length > 0) say(`dependencies up in ${seconds(Date.now() - t0)}`);
  if (signalled) {
    await shutdown(0);
    return;
  }

  const env: NodeJS.ProcessEnv = { ...process.env, ...depEnv };
  const children = [
    { name: "api", entry: "src/main.ts" },
    { name: "worker", entry: "src/worker.ts" },
  ];
  for (const c of children) {
    if (!fs.existsSync(path.join(repoRoot, c.entry))) {
      say(`error: ${c.entry} does not exist (yet); nothing to run`);
      await shutdown(1);
      return;
    }
  }
  for (const c of children) {
    const proc = launch(c.name, process.execPath, ["--import", "tsx", c.entry], {
      cwd: repoRoot,
      env,
      inheritOutput: true,
      keepAlive: true,
      graceMs: 15_000,
    });
    apps.push(proc);
    void proc.exited.then((e) => {
      if (shuttingDown) return;
      say(
        `${c.name} (pid ${proc.pid}) ${e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`}; stopping everything`,
      );
      void shutdown(e.code && e.code !== 0 ? e.code : 1);
    });
  }

  const grpc = process.env.GRPC_ADDRESS || "127.0.0.1:50051";
  const metricsUrl = (address: string) => (address === "off" ? "off" : `http://${address}/metrics`);
  const apiMetrics = metricsUrl(process.env.METRICS_ADDRESS || "127.0.0.1:9464");
  const workerMetrics = metricsUrl(process.env.WORKER_METRICS_ADDRESS || "127.0.0.1:9465");
  const ui = depEnv.TICKETING_TEMPORAL_UI_URL ?? "(Temporal not started here: TEMPORAL_ADDRESS was set)";
  say(
    `Ticketing: gRPC ${grpc} | metrics: api ${apiMetrics}, worker ${workerMetrics} | Temporal UI ${ui} | api pid ${apps[0]!.pid}, worker pid ${apps[1]!.pid} | Ctrl-C to stop`,
  );
  say(
    "Prometheus with the shipped scrape config and alerts: see README, Observability (ops/prometheus/prometheus.yml)",
  );
}

await main();
