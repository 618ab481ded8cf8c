// One sweeper per event with an open sale (workflow id hold-sweeper-<eventId>):
// sleeps on a durable timer until the next hold expiry, reclaims expired
// holds in batches (which publishes the releases to the seat-map stream),
// and continues as new before its history grows large. Expiry itself is
// exact without it (the Lua scripts treat expired holds as free); the sweeper
// returns memory and tells watchers.
import { continueAsNew, proxyLocalActivities, sleep } from "@temporalio/workflow";
import type { HoldActivities } from "../src/holds/activities.js";

const { sweepExpiredHolds } = proxyLocalActivities<HoldActivities>({
  startToCloseTimeout: "30 seconds",
  retry: { initialInterval: "1 second", maximumInterval: "30 seconds" },
});

export interface HoldSweeperInput {
  eventId: string;
}

/** Rounds before continue-as-new: each round is a local activity and a timer. */
const ROUNDS_PER_RUN = 200;

export async function holdSweeper(input: HoldSweeperInput): Promise<void> {
  for (let round = 0; round < ROUNDS_PER_RUN; round++) {
    const result = await sweepExpiredHolds(input.eventId);
    if (result.saleClosed && result.nextExpiryInMs === undefined) return;
    // Timers fire on a ~1 s grain on the dev server; a few ms late is fine.
    await sleep(Math.max(1000, result.nextExpiryInMs ?? result.idleWaitMs));
  }
  await continueAsNew<typeof holdSweeper>(input);
}

export function holdSweeperWorkflowId(eventId: string): string {
  return `hold-sweeper-${eventId}`;
}
