// Starts the per-event hold sweeper workflow (workflow id from the event, so
// starting it twice finds the running one). Best effort: hold expiry is exact
// without it, so a Temporal outage only delays returning memory and telling
// watchers; the next OpenSale or API start tries again.
import type { Client } from "@temporalio/client";
import type { Logger } from "../logger.js";
import { holdSweeper, holdSweeperWorkflowId } from "../../workflows/hold-sweeper.js";

export interface SweepersDeps {
  temporal: Client;
  taskQueue: string;
  log: Logger;
}

export class Sweepers {
  private readonly temporal: Client;
  private readonly taskQueue: string;
  private readonly log: Logger;

  constructor(deps: SweepersDeps) {
    this.temporal = deps.temporal;
    this.taskQueue = deps.taskQueue;
    this.log = deps.log;
  }

  async ensure(eventId: string): Promise<void> {
    try {
      await this.temporal.workflow.start(holdSweeper, {
        workflowId: holdSweeperWorkflowId(eventId),
        taskQueue: this.taskQueue,
        args: [{ eventId }],
        workflowIdConflictPolicy: "USE_EXISTING",
      });
    } catch (err) {
      this.log.warn({ err, eventId }, "hold sweeper not started; expiry stays exact, reclaiming waits");
    }
  }
}
