// What RotateSigningKey and RetireSigningKey do to one purpose's keys: here,
// with a signing ring of this process (ringKeyAdmin), or elsewhere, in the
// process that holds the purpose's KEKs (the API's ticket keys: the worker,
// src/tickets/key-admin.ts).
import type { KeyRing, VerifyingKey } from "./key-ring.js";

export interface SigningKeyAdmin {
  /** A new key signs from now on; the previous ones verify until their retire time. */
  rotate(): Promise<VerifyingKey>;
  /** Retires `kid` now; undefined when the purpose has no such key. Answers it and the key that signs now. */
  retire(kid: string): Promise<{ key: VerifyingKey; signingKey: VerifyingKey } | undefined>;
}

/** Rotation and retirement by a ring that signs (holds the purpose's KEKs). */
export function ringKeyAdmin(ring: KeyRing): SigningKeyAdmin {
  return { rotate: () => ring.rotate(), retire: (kid) => ring.retire(kid) };
}
