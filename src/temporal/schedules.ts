// The Temporal Schedules the worker keeps: today one, payment reconciliation
// (workflows/reconcile-payments.ts), every PAYMENT_RECONCILE_EVERY_SECONDS on
// the worker's task queue. Made at the worker's start, or brought up to date
// when it exists (another worker, or an earlier start, made it); overlapping
// runs are skipped.
import { Client, Connection, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from "@temporalio/client";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { dataConverter } from "./data-converter.js";

export const reconcileScheduleId = (taskQueue: string) => `reconcile-payments-${taskQueue}`;

/** Makes or updates the reconciliation schedule; returns its id (undefined when turned off). */
export async function ensureReconcileSchedule(config: Config, log: Logger): Promise<string | undefined> {
  if (config.PAYMENT_RECONCILE_EVERY_SECONDS === 0) return undefined;
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  try {
    const client = new Client({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      dataConverter: dataConverter(config),
    });
    const scheduleId = reconcileScheduleId(config.TEMPORAL_TASK_QUEUE);
    const spec = { intervals: [{ every: config.PAYMENT_RECONCILE_EVERY_SECONDS * 1000 }] };
    const action = {
      type: "startWorkflow" as const,
      workflowType: "reconcilePayments",
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      args: [],
    };
    try {
      await client.schedule.create({ scheduleId, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP } });
      log.info(
        { scheduleId, everySeconds: config.PAYMENT_RECONCILE_EVERY_SECONDS },
        "payment reconciliation scheduled",
      );
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(scheduleId).update((prev) => ({ ...prev, spec, action }));
      log.info(
        { scheduleId, everySeconds: config.PAYMENT_RECONCILE_EVERY_SECONDS },
        "payment reconciliation schedule updated",
      );
    }
    return scheduleId;
  } finally {
    await connection.close();
  }
}
