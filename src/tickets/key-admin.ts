// Ticket keys are the worker's: only it holds TICKET_SIGNING_KEKS, so only it
// signs ticket codes and creates, rotates or retires ticket keys. The API's
// RotateSigningKey and RetireSigningKey for them start a short workflow on
// the worker's task queue (workflows/ticket-keys.ts) whose activity does it
// with the worker's ring, then re-read the API's verify-only ring so its
// JWKS has the change at once.
import { randomUUID } from "node:crypto";
import { TimeoutFailure, WorkflowFailedError, type Client } from "@temporalio/client";
import { dependencyUnavailable } from "../domain/errors.js";
import type { SigningKeyAdmin } from "../signing/key-admin.js";
import type { KeyRing } from "../signing/key-ring.js";
import { retireTicketKey, rotateTicketKey } from "../../workflows/ticket-keys.js";
import { fromRecord } from "./key-activities.js";

/** How long the API waits for a worker to do it before answering UNAVAILABLE. */
const WORKER_WAIT_MS = 30_000;

/** The API's side: the workflows on the worker's task queue, then a re-read of `ring` (verify-only). */
export function workerTicketKeyAdmin(deps: {
  temporal: Client;
  taskQueue: string;
  ring: KeyRing;
  workerWaitMs?: number;
}): SigningKeyAdmin {
  const { temporal, taskQueue, ring } = deps;
  const workflowExecutionTimeout = deps.workerWaitMs ?? WORKER_WAIT_MS;
  const onWorker = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      // No worker took the task in time, or Temporal is down: retry later.
      if (err instanceof WorkflowFailedError && err.cause instanceof TimeoutFailure) {
        throw dependencyUnavailable("worker", err);
      }
      if (!(err instanceof WorkflowFailedError)) throw dependencyUnavailable("temporal", err);
      throw err;
    } finally {
      await ring.load().catch(() => undefined);
    }
  };
  return {
    rotate: () =>
      onWorker(async () =>
        fromRecord(
          await temporal.workflow.execute(rotateTicketKey, {
            workflowId: `ticket-key-rotate-${randomUUID()}`,
            taskQueue,
            workflowExecutionTimeout,
          }),
        ),
      ),
    async retire(kid) {
      // A kid that is no ticket key needs no worker.
      if (!(await ring.find(kid))) return undefined;
      const retired = await onWorker(() =>
        temporal.workflow.execute(retireTicketKey, {
          workflowId: `ticket-key-retire-${kid}`,
          taskQueue,
          args: [kid],
          workflowIdConflictPolicy: "USE_EXISTING",
          workflowExecutionTimeout,
        }),
      );
      return retired ? { key: fromRecord(retired.key), signingKey: fromRecord(retired.signingKey) } : undefined;
    },
  };
}
