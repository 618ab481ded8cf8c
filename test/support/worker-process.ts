// The real worker (src/worker.ts) as a child process, so a test can kill it
// with SIGKILL mid-checkout and start another in its place.
import { spawn, type ChildProcess } from "node:child_process";
import { testEnv } from "./env.js";

export interface WorkerProcesses {
  /** Starts a worker; resolves once it polls its task queue. */
  start(): Promise<ChildProcess>;
  /** SIGKILL, then waits for the exit. */
  kill(worker: ChildProcess): Promise<void>;
  /** Kills every worker still running (for afterAll). */
  stopAll(): void;
}

/** Workers of the API whose database is `mysqlUrl`, on `taskQueue`, with `env` on top of the test stack's. */
export function workerProcesses(
  mysqlUrl: string,
  taskQueue: string,
  env: Record<string, string> = {},
): WorkerProcesses {
  const started: ChildProcess[] = [];
  const running = (w: ChildProcess) => w.exitCode === null && w.signalCode === null;
  return {
    start() {
      const stack = testEnv();
      const child = spawn(process.execPath, ["--import", "tsx", "src/worker.ts"], {
        env: {
          ...process.env,
          REDIS_URL: stack.redisUrl,
          ...(stack.redisClusterNodes
            ? { REDIS_CLUSTER_NODES: stack.redisClusterNodes.map((n) => `${n.host}:${n.port}`).join(",") }
            : {}),
          MYSQL_URL: mysqlUrl,
          TEMPORAL_ADDRESS: stack.temporalAddress,
          TEMPORAL_TASK_QUEUE: taskQueue,
          LOG_LEVEL: "info",
          // Not what these tests check, and the suites running beside them on a
          // shared machine would starve a niced worker past the tests' timeouts.
          WORKER_NICE: "0",
          PAYMENT_RECONCILE_EVERY_SECONDS: "0",
          // Workers of parallel test files: /metrics on a free port, no SDK exporter on a fixed one.
          WORKER_METRICS_ADDRESS: "127.0.0.1:0",
          TEMPORAL_METRICS_ADDRESS: "off",
          ...env,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      started.push(child);
      return new Promise((resolve, reject) => {
        let out = "";
        const onData = (d: Buffer) => {
          if (process.env.DEBUG_WORKER) process.stderr.write(d); // DEBUG_WORKER=1 npm test -- ...: see its log
          out += d.toString();
          if (out.includes("ticketing worker running")) resolve(child);
        };
        child.stdout.on("data", onData);
        child.stderr.on("data", onData);
        child.once("exit", (code) =>
          reject(new Error(`worker exited with ${code} before running:\n${out.slice(-2000)}`)),
        );
      });
    },
    async kill(worker) {
      if (!running(worker)) return;
      const exited = new Promise((resolve) => worker.once("exit", resolve));
      worker.kill("SIGKILL");
      await exited;
    },
    stopAll() {
      for (const w of started) if (running(w)) w.kill("SIGKILL");
    },
  };
}
