// The simulator's own stack: Redis (or a Redis Cluster with replicas, when the
// scenario asks for one), MariaDB and a Temporal dev server on free ports (or
// what REDIS_URL / REDIS_CLUSTER_NODES / MYSQL_URL / TEMPORAL_ADDRESS point at), then the
// API and the worker as separate processes with the scenario's env. Everything
// started here is stopped by PID: at the end, on failure and on Ctrl-C.
import { ensureLocalIssuer, type LocalIssuer } from "../../src/identity/local-issuer.js";
import path from "node:path";
import { Connection } from "@temporalio/client";
import { credentials, Metadata } from "@grpc/grpc-js";
import {
  freePort,
  killAllSync,
  launch,
  repoRoot,
  sleep,
  startMysql,
  startRedis,
  startRedisCluster,
  startTemporal,
  tail,
  waitUntilReady,
  type ManagedProcess,
  type RedisClusterHandle,
} from "../../tools/devstack/stack.js";
import { QueueServiceClient } from "../../src/gen/ticketing/v1/queue_service.js";

export interface Owned {
  name: string;
  pid: number;
  stop(): Promise<void>;
}

const owned: Owned[] = [];

export function say(msg: string): void {
  process.stderr.write(`[sim ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Stops what this module started, last started first. */
export async function stopOwned(): Promise<void> {
  for (const o of owned.splice(0).reverse()) {
    try {
      await o.stop();
      say(`stopped ${o.name} (pid ${o.pid})`);
    } catch (err) {
      say(`stopping ${o.name} (pid ${o.pid}) failed: ${String(err)}`);
    }
  }
}

let signalled = false;
export function installSignalHandlers(): void {
  const handler = (sig: NodeJS.Signals) => {
    if (signalled) {
      killAllSync("SIGKILL");
      process.exit(130);
    }
    signalled = true;
    say(`${sig}: stopping everything the simulator started (again to kill)`);
    void stopOwned().finally(() => process.exit(130));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  process.on("SIGHUP", handler);
}

export interface Stores {
  redisUrl: string;
  /** REDIS_CLUSTER_NODES ("host:port,...") when the stack runs a Redis Cluster. */
  redisClusterNodes?: string | undefined;
  /** The Redis Cluster this module started (faults act on its nodes). */
  redisCluster?: RedisClusterHandle | undefined;
  mysqlUrl: string;
  temporalAddress: string;
  temporalUiUrl?: string | undefined;
  pids: Record<string, number>;
  /** Starts a store this module started again on its data and port (after a crash fault); resolves with its pid. */
  restart: { redis?: () => Promise<number> };
}

export interface StoreOptions {
  /** Keep data here across runs (the demo: .local/) instead of a temp dir. */
  persistentDir?: string;
  /** Serve the Temporal web UI. */
  ui?: boolean;
  /** Run a Redis Cluster (the scenario's `redisCluster`) instead of one Redis; REDIS_CLUSTER_NODES reuses one. */
  redisCluster?: { masters: number; replicas: number; nodeTimeoutMs: number } | undefined;
}

export async function startStores(dir: string, o: StoreOptions = {}): Promise<Stores> {
  const pids: Record<string, number> = {};
  const restart: Stores["restart"] = {};
  const tasks: Promise<void>[] = [];
  let redisUrl = process.env.REDIS_URL ?? "";
  let redisClusterNodes: string | undefined;
  let redisCluster: RedisClusterHandle | undefined;
  let mysqlUrl = process.env.MYSQL_URL ?? "";
  let temporalAddress = process.env.TEMPORAL_ADDRESS ?? "";
  let temporalUiUrl: string | undefined;
  const p = o.persistentDir;
  const c = o.redisCluster;
  if (c && p) throw new Error("a Redis Cluster runs in a temp dir only, not with persistentDir");
  if (c && process.env.REDIS_CLUSTER_NODES) {
    redisClusterNodes = process.env.REDIS_CLUSTER_NODES;
    redisUrl = `redis://${redisClusterNodes.split(",")[0]}`;
    say(`redis: using REDIS_CLUSTER_NODES=${redisClusterNodes}`);
  } else if (c)
    tasks.push(
      (async () => {
        const h = await startRedisCluster({
          dir: path.join(dir, "redis-cluster"),
          masters: c.masters,
          replicas: c.replicas,
          nodeTimeoutMs: c.nodeTimeoutMs,
        });
        owned.push({ name: `redis cluster (${h.processes.size} nodes)`, pid: h.pids[0]!, stop: h.stop });
        for (const [port, proc] of h.processes) pids[`redis:${port}`] = proc.pid;
        redisCluster = h;
        redisClusterNodes = h.nodesEnv;
        redisUrl = `redis://${h.nodes[0]!.host}:${h.nodes[0]!.port}`;
        say(
          `redis:    cluster of ${c.masters} masters × ${1 + c.replicas} (cluster-node-timeout ${c.nodeTimeoutMs} ms), ports ${[...h.processes.keys()].join(", ")}`,
        );
      })(),
    );
  else if (redisUrl) say(`redis: using REDIS_URL=${redisUrl}`);
  else
    tasks.push(
      (async () => {
        const options = p
          ? { dir: p, dataDir: path.join(p, "redis"), persistent: true }
          : { dir: path.join(dir, "redis"), persistent: true };
        const h = await startRedis(options);
        const entry: Owned = { name: "redis-server", pid: h.pid, stop: h.stop };
        owned.push(entry);
        pids.redis = h.pid;
        redisUrl = h.url;
        say(`redis:    ${h.url} (pid ${h.pid})`);
        restart.redis = async () => {
          const again = await startRedis({ ...options, port: h.port });
          Object.assign(entry, { pid: again.pid, stop: again.stop });
          pids.redis = again.pid;
          return again.pid;
        };
      })(),
    );
  if (mysqlUrl) say(`mysql: using MYSQL_URL=${mysqlUrl}`);
  else
    tasks.push(
      startMysql(p ? { dir: p, dataDir: path.join(p, "mysql"), durable: true } : { dir: path.join(dir, "mysql") }).then(
        (h) => {
          owned.push({ name: "mariadbd", pid: h.pid, stop: h.stop });
          pids.mysql = h.pid;
          mysqlUrl = h.url;
          say(`mariadb:  ${h.url} (pid ${h.pid})`);
        },
      ),
    );
  if (temporalAddress) say(`temporal: using TEMPORAL_ADDRESS=${temporalAddress}`);
  else
    tasks.push(
      startTemporal(
        p
          ? { dir: p, dbFile: path.join(p, "temporal.db"), ui: o.ui ?? false }
          : { dir: path.join(dir, "temporal"), ui: o.ui ?? false },
      ).then((h) => {
        owned.push({ name: "temporal dev server", pid: h.pid, stop: h.stop });
        pids.temporal = h.pid;
        temporalAddress = h.address;
        temporalUiUrl = h.uiUrl;
        say(
          `temporal: ${h.address} (pid ${h.pid}${p ? `, data ${path.join(p, "temporal.db")}` : ", in memory"}${h.uiUrl ? `, web UI ${h.uiUrl}` : ""})`,
        );
      }),
    );
  const results = await Promise.allSettled(tasks);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length > 0)
    throw new Error(`the stack did not start:\n${failed.map((f) => String(f.reason?.message ?? f.reason)).join("\n")}`);
  return { redisUrl, redisClusterNodes, redisCluster, mysqlUrl, temporalAddress, temporalUiUrl, pids, restart };
}

export type AppRole = "api" | "worker";

export interface AppProcesses {
  address: string;
  /** The local issuer whose tokens the API accepts. */
  issuer: LocalIssuer;
  /** The running process of each role (a new one after `restart`). */
  readonly api: ManagedProcess;
  readonly worker: ManagedProcess;
  /** Kills the role's process with SIGKILL, as a crash would. */
  crash(role: AppRole): Promise<void>;
  /** Starts the role again as it was first started (same address, env, log) and waits until it answers or polls. */
  restart(role: AppRole): Promise<void>;
  apiLog: string;
  workerLog: string;
  taskQueue: string;
  /** How each was started, for the report. */
  commands: Record<string, string>;
}

/** Resolves once GetSigningKeys answers (the API is up with its key ring). */
async function apiAnswers(address: string): Promise<boolean> {
  const c = new QueueServiceClient(address, credentials.createInsecure());
  try {
    return await new Promise<boolean>((resolve) =>
      c.getSigningKeys({}, new Metadata(), { deadline: Date.now() + 2000 }, (err) => resolve(!err)),
    );
  } finally {
    c.close();
  }
}

async function waitForPollers(
  temporalAddress: string,
  taskQueue: string,
  proc: ManagedProcess,
  logFile: string,
  timeoutMs = 180_000,
): Promise<void> {
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exitInfo) throw new Error(`worker (pid ${proc.pid}) exited before polling:\n${tail(logFile, 30)}`);
      let ready = true;
      for (const taskQueueType of [1, 2]) {
        const r = await connection.workflowService.describeTaskQueue({
          namespace: "default",
          taskQueue: { name: taskQueue },
          taskQueueType,
        });
        // This process's own pollers (identity "<pid>@<host>", the SDK's default): Temporal
        // lists a crashed worker's pollers for a while after it died.
        if (!r.pollers?.some((p) => p.identity?.startsWith(`${proc.pid}@`))) ready = false;
      }
      if (ready) return;
      if (Date.now() > deadline)
        throw new Error(`worker not polling ${taskQueue} after ${timeoutMs / 1000} s:\n${tail(logFile, 30)}`);
      await sleep(300);
    }
  } finally {
    await connection.close();
  }
}

export async function startApp(
  stores: Stores,
  dir: string,
  o: {
    apiEnv: Record<string, string>;
    workerEnv: Record<string, string>;
    grpcAddress?: string;
    taskQueue?: string;
    inheritOutput?: boolean;
    logLevel?: string;
  },
): Promise<AppProcesses> {
  const address = o.grpcAddress ?? `127.0.0.1:${await freePort()}`;
  // The API trusts a local issuer of this run's own (no AUTH_ISSUER: the development issuer in that dir).
  const issuer = await ensureLocalIssuer(path.join(dir, "issuer"));
  const taskQueue = o.taskQueue ?? `sim-${Date.now().toString(36)}`;
  const common: Record<string, string> = {
    REDIS_URL: stores.redisUrl,
    ...(stores.redisClusterNodes ? { REDIS_CLUSTER_NODES: stores.redisClusterNodes } : {}),
    MYSQL_URL: stores.mysqlUrl,
    TEMPORAL_ADDRESS: stores.temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    AUTH_LOCAL_ISSUER_DIR: issuer.dir,
    AUTH_CALL_BUDGET_PER_SECOND: "0",
    LOG_LEVEL: o.logLevel ?? "warn",
  };
  // Cluster mode only when these stores are a cluster, never from the caller's env.
  const base: NodeJS.ProcessEnv = { ...process.env };
  delete base.REDIS_CLUSTER_NODES;
  const apiEnv = { ...common, GRPC_ADDRESS: address, METRICS_ADDRESS: "off", ...o.apiEnv };
  const workerEnv = { ...common, WORKER_METRICS_ADDRESS: "off", TEMPORAL_METRICS_ADDRESS: "off", ...o.workerEnv };
  const apiLog = path.join(dir, "api.log");
  const workerLog = path.join(dir, "worker.log");
  const start: Record<AppRole, () => ManagedProcess> = {
    api: () =>
      launch("api", process.execPath, ["--import", "tsx", "src/main.ts"], {
        logFile: apiLog,
        cwd: repoRoot,
        env: { ...base, ...apiEnv },
        graceMs: 15_000,
      }),
    worker: () =>
      launch("worker", process.execPath, ["--import", "tsx", "src/worker.ts"], {
        logFile: workerLog,
        cwd: repoRoot,
        env: { ...base, ...workerEnv },
        graceMs: 20_000,
      }),
  };
  const ready: Record<AppRole, (p: ManagedProcess) => Promise<void>> = {
    api: (p) =>
      waitUntilReady(p, "GetSigningKeys answering", () => apiAnswers(address), { timeoutMs: 120_000, intervalMs: 300 }),
    worker: (p) => waitForPollers(stores.temporalAddress, taskQueue, p, workerLog),
  };
  const grace: Record<AppRole, number> = { api: 15_000, worker: 20_000 };
  const running: Record<AppRole, ManagedProcess> = { api: start.api(), worker: start.worker() };
  for (const role of ["api", "worker"] as const) {
    // The entry follows restarts: it always stops the role's current process.
    owned.push({
      name: role,
      get pid() {
        return running[role].pid;
      },
      stop: () => running[role].stop(grace[role]),
    });
  }
  await Promise.all([ready.api(running.api), ready.worker(running.worker)]);
  say(`api:      ${address} (pid ${running.api.pid}, log ${apiLog})`);
  say(`worker:   task queue ${taskQueue} (pid ${running.worker.pid}, log ${workerLog})`);
  const show = (e: Record<string, string>) =>
    Object.entries(e)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
  return {
    address,
    issuer,
    get api() {
      return running.api;
    },
    get worker() {
      return running.worker;
    },
    async crash(role) {
      const p = running[role];
      if (p.exitInfo) return;
      process.kill(p.pid, "SIGKILL");
      await p.exited;
    },
    async restart(role) {
      if (!running[role].exitInfo) throw new Error(`${role} (pid ${running[role].pid}) is still running`);
      running[role] = start[role]();
      await ready[role](running[role]);
    },
    apiLog,
    workerLog,
    taskQueue,
    commands: {
      api: `${show(apiEnv)} node --import tsx src/main.ts`,
      worker: `${show(workerEnv)} node --import tsx src/worker.ts`,
    },
  };
}

/**
 * The issuer of an API this run did not start: the one `npm start` runs
 * with (AUTH_LOCAL_ISSUER_DIR, default .local/issuer).
 */
export function localIssuer(): Promise<LocalIssuer> {
  return ensureLocalIssuer(process.env.AUTH_LOCAL_ISSUER_DIR || path.join(repoRoot, ".local", "issuer"));
}
