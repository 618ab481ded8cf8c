// The worker's side of ticket key administration: the activities of
// workflows/ticket-keys.ts, done with the worker's signing ticket ring (the
// API's side: key-admin.ts).
import { createPublicKey } from "node:crypto";
import type { KeyRing, VerifyingKey } from "../signing/key-ring.js";

/** A key as a workflow payload carries it (JSON: no KeyObject, no Date). */
export interface KeyRecord {
  kid: string;
  purpose: string;
  x: string;
  createdAtMs: number;
  retireAtMs: number | null;
}

export interface TicketKeyActivities {
  rotateTicketKey(): Promise<KeyRecord>;
  retireTicketKey(kid: string): Promise<{ key: KeyRecord; signingKey: KeyRecord } | null>;
}

export const toRecord = (k: VerifyingKey): KeyRecord => ({
  kid: k.kid,
  purpose: k.purpose,
  x: k.x,
  createdAtMs: k.createdAt.getTime(),
  retireAtMs: k.retireAt?.getTime() ?? null,
});

export const fromRecord = (r: KeyRecord): VerifyingKey => ({
  kid: r.kid,
  purpose: r.purpose,
  x: r.x,
  publicKey: createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: r.x }, format: "jwk" }),
  createdAt: new Date(r.createdAtMs),
  retireAt: r.retireAtMs === null ? undefined : new Date(r.retireAtMs),
});

/** The worker's side: its signing ticket ring does the work. */
export function createTicketKeyActivities(ring: KeyRing): TicketKeyActivities {
  return {
    async rotateTicketKey() {
      return toRecord(await ring.rotate());
    },
    async retireTicketKey(kid) {
      const retired = await ring.retire(kid);
      return retired ? { key: toRecord(retired.key), signingKey: toRecord(retired.signingKey) } : null;
    },
  };
}
