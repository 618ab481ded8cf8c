// Entry point of the bare baseline's Temporal worker process (bench/checkout.ts
// starts it): `node --import tsx bench/checkout-baseline/worker.ts` with
// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TEMPORAL_TASK_QUEUE. Runs both bare
// shapes of ./workflows.ts. Default worker options, as src/worker.ts uses; no
// database, no Redis. Runs at the product worker's CPU priority (WORKER_NICE,
// default 10, set the same way: src/worker-priority.ts) so the comparison stays fair.
import { fileURLToPath } from "node:url";
import { NativeConnection, Runtime, Worker } from "@temporalio/worker";
import { lowerPriority, workerNiceFromEnv } from "../../src/worker-priority.js";
import { createBareActivities } from "./activities.js";

const WORKFLOWS_PATH = fileURLToPath(new URL("./workflows.ts", import.meta.url));

async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233";
  const namespace = process.env.TEMPORAL_NAMESPACE ?? "default";
  const taskQueue = process.env.TEMPORAL_TASK_QUEUE;
  if (!taskQueue) throw new Error("TEMPORAL_TASK_QUEUE is required");
  const nice = workerNiceFromEnv();
  // first, as src/worker.ts does: the SDK's threads inherit it
  const priority = nice > 0 ? lowerPriority(nice) : undefined;
  Runtime.install({ shutdownSignals: ["SIGINT", "SIGTERM"] });
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities: createBareActivities(),
  });
  process.stdout.write(
    `bare checkout worker running on ${taskQueue}, ${priority ? `nice ${priority.nice} (autogroup ${String(priority.autogroup)})` : "WORKER_NICE=0: priority unchanged"}\n`,
  );
  await worker.run();
  await connection.close();
  process.stdout.write("bare checkout worker stopped\n");
}

main().catch((err: unknown) => {
  process.stderr.write(`bare-worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
