// The API's RotateSigningKey and RetireSigningKey for ticket keys, run by the
// worker, the only process that holds their KEKs (src/tickets/key-admin.ts).
// One activity each; retiring is idempotent, and a rotation retried after a
// lost answer only makes one more key (every key verifies until retired).
import { proxyActivities } from "@temporalio/workflow";
import type { KeyRecord, TicketKeyActivities } from "../src/tickets/key-activities.js";

const keys = proxyActivities<TicketKeyActivities>({
  startToCloseTimeout: "20 seconds",
  retry: { initialInterval: "500 milliseconds", maximumInterval: "5 seconds", maximumAttempts: 5 },
});

export async function rotateTicketKey(): Promise<KeyRecord> {
  return keys.rotateTicketKey();
}

export async function retireTicketKey(kid: string): Promise<{ key: KeyRecord; signingKey: KeyRecord } | null> {
  return keys.retireTicketKey(kid);
}
