// One reconciliation run (started by the Temporal Schedule
// "reconcile-payments-<task queue>"): settle the authorizations that no
// checkout will settle (src/orders/reconcile.ts). Overlapping runs are
// skipped by the schedule's policy; a failed run is retried by the next.
import { proxyActivities } from "@temporalio/workflow";
import type { ReconcileActivities, ReconcileSummary } from "../src/orders/reconcile.js";

const { reconcilePayments: settle } = proxyActivities<ReconcileActivities>({
  startToCloseTimeout: "5 minutes",
  retry: { initialInterval: "5 seconds", maximumInterval: "1 minute", maximumAttempts: 5 },
});

export async function reconcilePayments(): Promise<ReconcileSummary> {
  return settle();
}
