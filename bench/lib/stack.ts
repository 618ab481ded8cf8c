// The bench's own isolated stack: Redis, MariaDB and an in-memory Temporal dev
// server on free ports in a temp dir (or whatever REDIS_URL / MYSQL_URL /
// TEMPORAL_ADDRESS point at), then the API as a separate process. Everything
// started here is stopped by PID: at the end, on failure and on Ctrl-C.
import { benchAuthEnv } from "./identity.js";
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import {
  canConnect,
  freePort,
  killAllSync,
  launch,
  repoRoot,
  startMysql,
  startRedis,
  startTemporal,
  tail,
  waitUntilReady,
  type ManagedProcess,
} from "../../tools/devstack/stack.js";

export interface Stoppable {
  name: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

export interface BenchStack {
  redisUrl: string;
  redisHost: string;
  redisPort: number;
  mysqlUrl: string;
  temporalAddress: string;
  /** true when the bench started it (false: reused from the env). */
  own: { redis: boolean; mysql: boolean; temporal: boolean };
  /** PIDs of what the bench started, by name. */
  pids: Record<string, number>;
}

const stoppables: Stoppable[] = [];
/** Short-lived children (ghz, redis-benchmark) to kill on Ctrl-C. */
const transient = new Set<number>();
let stopping: Promise<void> | undefined;

export function say(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export function trackTransient(pid: number | undefined): () => void {
  if (pid === undefined) return () => {};
  transient.add(pid);
  return () => transient.delete(pid);
}

/** Stops everything started here, last started first (the API before its stores). */
export function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const pid of transient) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    for (const s of stoppables.splice(0).reverse()) {
      try {
        await s.stop();
        say(`stopped ${s.name}${s.pid ? ` (pid ${s.pid})` : ""}`);
      } catch (err) {
        say(`stopping ${s.name} failed: ${String(err)}`);
      }
    }
  })();
  return stopping;
}

let signalled = false;
export function installSignalHandlers(onStop: () => void = () => {}): void {
  const handler = (sig: NodeJS.Signals) => {
    if (signalled) {
      killAllSync("SIGKILL");
      process.exit(130);
    }
    signalled = true;
    say(`${sig}: stopping everything the bench started (again to kill)`);
    onStop();
    void stopAll().finally(() => process.exit(130));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  process.on("SIGHUP", handler);
}

export async function startBenchStack(dir: string): Promise<BenchStack> {
  const own = { redis: false, mysql: false, temporal: false };
  const pids: Record<string, number> = {};
  const tasks: Promise<void>[] = [];
  let redisUrl = process.env.REDIS_URL ?? "";
  let mysqlUrl = process.env.MYSQL_URL ?? "";
  let temporalAddress = process.env.TEMPORAL_ADDRESS ?? "";

  if (redisUrl) say(`redis: using REDIS_URL=${redisUrl} (shared: its CPU figures include other clients)`);
  else {
    tasks.push(
      startRedis({ dir: path.join(dir, "redis") }).then((h) => {
        stoppables.push({ name: "redis-server", pid: h.pid, stop: h.stop });
        own.redis = true;
        pids.redis = h.pid;
        redisUrl = h.url;
        say(`redis:    ${h.url} (pid ${h.pid})`);
      }),
    );
  }
  if (mysqlUrl) say(`mysql: using MYSQL_URL=${mysqlUrl}`);
  else {
    tasks.push(
      startMysql({ dir: path.join(dir, "mysql") }).then((h) => {
        stoppables.push({ name: "mariadbd", pid: h.pid, stop: h.stop });
        own.mysql = true;
        pids.mysql = h.pid;
        mysqlUrl = h.url;
        say(`mariadb:  ${h.url} (pid ${h.pid})`);
      }),
    );
  }
  if (temporalAddress) say(`temporal: using TEMPORAL_ADDRESS=${temporalAddress}`);
  else {
    tasks.push(
      startTemporal({ dir: path.join(dir, "temporal") }).then((h) => {
        stoppables.push({ name: "temporal dev server", pid: h.pid, stop: h.stop });
        own.temporal = true;
        pids.temporal = h.pid;
        temporalAddress = h.address;
        say(`temporal: ${h.address} (pid ${h.pid}, in memory)`);
      }),
    );
  }
  const results = await Promise.allSettled(tasks);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length > 0)
    throw new Error(`the stack did not start:\n${failed.map((f) => String(f.reason?.message ?? f.reason)).join("\n")}`);
  const u = new URL(redisUrl);
  return {
    redisUrl,
    redisHost: u.hostname,
    redisPort: Number(u.port || 6379),
    mysqlUrl,
    temporalAddress,
    own,
    pids,
  };
}

export interface ApiProcess {
  address: string;
  port: number;
  pid: number;
  logFile: string;
  command: string;
  proc: ManagedProcess;
}

/**
 * The API as its own process: `node --import tsx src/main.ts`, ready once ReservationService is SERVING.
 * `opts.name` names its log file and its entry in stopAll (several APIs side by side); `opts.env` is added to its environment.
 */
export async function startApi(
  stack: BenchStack,
  dir: string,
  grpcurl: string,
  opts: { name?: string; env?: Record<string, string> } = {},
): Promise<ApiProcess> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const name = opts.name ?? "api";
  const logFile = path.join(dir, `${name}.log`);
  const extraNodeArgs = (process.env.BENCH_API_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const args = [...extraNodeArgs, "--import", "tsx", "src/main.ts"];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GRPC_ADDRESS: address,
    METRICS_ADDRESS: "off",
    LOG_LEVEL: "warn",
    BENCH_NOOP: "on",
    REDIS_URL: stack.redisUrl,
    MYSQL_URL: stack.mysqlUrl,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    ...benchAuthEnv,
    ...opts.env,
  };
  delete env.REDIS_CLUSTER_NODES;
  const proc = launch(`${name} :${port}`, process.execPath, args, { logFile, cwd: repoRoot, env, graceMs: 15_000 });
  stoppables.push({ name, pid: proc.pid, stop: () => proc.stop(15_000) });
  await waitUntilReady(
    proc,
    "ReservationService SERVING",
    async () => {
      if (!(await canConnect(port))) return false;
      const out = await run(grpcurl, [
        "-plaintext",
        "-max-time",
        "2",
        "-d",
        '{"service":"ticketing.v1.ReservationService"}',
        address,
        "grpc.health.v1.Health/Check",
      ]);
      return out.code === 0 && /SERVING/.test(out.output) && !/NOT_SERVING/.test(out.output);
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
  const extraEnv = Object.entries(opts.env ?? {})
    .map(([k, v]) => `${k}=${v} `)
    .join("");
  const command = `${extraEnv}GRPC_ADDRESS=${address} METRICS_ADDRESS=off LOG_LEVEL=warn BENCH_NOOP=on REDIS_URL=${stack.redisUrl} MYSQL_URL=${stack.mysqlUrl} TEMPORAL_ADDRESS=${stack.temporalAddress} node ${args.join(" ")}`;
  return { address, port, pid: proc.pid, logFile, command, proc };
}

/** Runs a short command to completion; collects stdout+stderr. */
export function run(
  command: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; output: string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: opts.cwd ?? repoRoot,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const untrack = trackTransient(child.pid);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    const finish = (code: number | null) => {
      clearTimeout(timer);
      untrack();
      resolve({ code, output: stdout + stderr, stdout, stderr });
    };
    child.once("error", (err) => {
      stderr += `\n${err.message}`;
      finish(-1);
    });
    child.once("close", (code) => finish(code));
  });
}

export function apiLogTail(api: ApiProcess | undefined): string {
  return api ? tail(api.logFile, 30) : "";
}

export function ensureDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
