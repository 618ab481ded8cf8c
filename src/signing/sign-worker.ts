// Piscina worker: signs one batch of JWS signing inputs with Ed25519. One task
// per batch, because a task costs more than a signature (TOOLCHAIN.md).
import { createPrivateKey, sign, type KeyObject } from "node:crypto";

export interface SignBatch {
  /** kid -> PKCS#8 PEM of every key the batch uses. */
  keys: Record<string, string>;
  /** `base64url(header).base64url(payload)` with the kid that signs it. */
  items: { kid: string; input: string }[];
}

const imported = new Map<string, KeyObject>();

function keyFor(kid: string, pem: string | undefined): KeyObject {
  let key = imported.get(kid);
  if (!key) {
    if (!pem) throw new Error(`no key material for ${kid}`);
    key = createPrivateKey(pem);
    imported.set(kid, key);
  }
  return key;
}

/** Signs every item; returns the base64url signatures in order. */
export function signBatch(batch: SignBatch): string[] {
  return batch.items.map((item) =>
    sign(null, Buffer.from(item.input), keyFor(item.kid, batch.keys[item.kid])).toString("base64url"),
  );
}

export default signBatch;
