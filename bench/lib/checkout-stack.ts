// The stack of the benches that run checkouts (bench:checkout, bench:rpcs):
// our own Temporal dev server (unless TEMPORAL_ADDRESS), Redis and MariaDB
// (lib/stack.ts), the API, the product's worker (payment simulator without
// latency or declines) and, for bench:checkout, the bare worker of
// bench/checkout-baseline/. Stopped in that order's reverse: the workers, then
// the API and the stores, then our Temporal.
import path from "node:path";
import { freePort } from "../../tools/devstack/stack.js";
import {
  startOwnTemporal,
  startWorkerProcess,
  stopOwned,
  waitForPollers,
  type TemporalDb,
  type WorkerProcess,
} from "./checkout-procs.js";
import { say, startApi, startBenchStack, stopAll, type ApiProcess, type BenchStack } from "./stack.js";

export interface CheckoutStackOptions {
  runId: string;
  tmp: string;
  grpcurl: string;
  temporalDb: TemporalDb;
  temporalArgs?: string[];
  /** CPU niceness of our Temporal (the workers get theirs through `workerEnv.WORKER_NICE`). */
  temporalNice?: number;
  /** Added to the product worker's environment (and the bare worker's WORKER_NICE). */
  workerEnv?: Record<string, string>;
  /** Also start the bare worker (bench/checkout-baseline/worker.ts) on `<runId>-bare`. */
  bare?: boolean;
}

export interface CheckoutStack {
  temporal: { address: string; pid?: number; command: string; own: boolean };
  stack: BenchStack;
  api: ApiProcess;
  worker: WorkerProcess;
  bare?: WorkerProcess;
  taskQueue: string;
  bareQueue: string;
}

export async function startCheckoutStack(o: CheckoutStackOptions): Promise<CheckoutStack> {
  const reuse = process.env.TEMPORAL_ADDRESS;
  // startBenchStack sees TEMPORAL_ADDRESS and starts no (in-memory) Temporal of its own
  const port = reuse ? undefined : await freePort();
  if (port !== undefined) process.env.TEMPORAL_ADDRESS = `127.0.0.1:${port}`;
  const [temporal, stack] = await Promise.all([
    port === undefined
      ? {
          address: reuse!,
          pid: undefined,
          command: `TEMPORAL_ADDRESS=${reuse} (not ours: its CPU is not measured)`,
          own: false,
        }
      : startOwnTemporalAt(o, port),
    startBenchStack(o.tmp),
  ]);
  const taskQueue = `${o.runId}-checkout`;
  const bareQueue = `${o.runId}-bare`;
  process.env.TEMPORAL_TASK_QUEUE = taskQueue;
  const workerEnv = {
    REDIS_URL: stack.redisUrl,
    MYSQL_URL: stack.mysqlUrl,
    LOG_LEVEL: "warn",
    METRICS_ADDRESS: "off",
    PAYMENT_SIM_LATENCY_MS: "0",
    PAYMENT_SIM_DECLINE_RATIO: "0",
    PAYMENT_SIM_FAILURE_RATIO: "0",
    PAYMENT_SIM_LOST_RESPONSE_RATIO: "0",
    ...o.workerEnv,
  };
  // the API first (it migrates the database), the workers meanwhile
  const apiStarting = startApi(stack, o.tmp, o.grpcurl);
  const worker = await startWorkerProcess({
    name: "worker",
    script: "src/worker.ts",
    env: workerEnv,
    taskQueue,
    temporalAddress: temporal.address,
    dir: o.tmp,
  });
  const nice = o.workerEnv?.WORKER_NICE;
  const bare = o.bare
    ? await startWorkerProcess({
        name: "bare-worker",
        script: "bench/checkout-baseline/worker.ts",
        env: nice === undefined ? {} : { WORKER_NICE: nice },
        taskQueue: bareQueue,
        temporalAddress: temporal.address,
        dir: o.tmp,
      })
    : undefined;
  const [api] = await Promise.all([apiStarting, waitForPollers(temporal.address, bare ? [worker, bare] : [worker])]);
  say(`api:      ${api.address} (pid ${api.pid})`);
  return { temporal, stack, api, worker, bare, taskQueue, bareQueue };
}

async function startOwnTemporalAt(o: CheckoutStackOptions, port: number): Promise<CheckoutStack["temporal"]> {
  const nice = o.temporalNice ?? 0;
  const h = await startOwnTemporal(path.join(o.tmp, "temporal"), o.temporalDb, port, o.temporalArgs ?? [], nice);
  say(
    `temporal: ${h.address} (pid ${h.pid}, ${o.temporalDb === "file" ? "SQLite file, WAL + synchronous=normal" : "in memory"}, nice ${nice})`,
  );
  return { address: h.address, pid: h.pid, command: h.command, own: true };
}

/** The workers first, then the API and the stores (stopAll), then our Temporal. */
export async function stopCheckoutStack(): Promise<void> {
  await stopOwned((o) => o.name !== "temporal dev server");
  await stopAll();
  await stopOwned();
}
