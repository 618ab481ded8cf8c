// Envelope encryption of the signing keys' private halves in MySQL
// (signing_keys, migration 011). Each key gets its own random data key (DEK);
// the PKCS#8 private key is sealed under the DEK and the DEK is wrapped under
// a key-encryption key (KEK) from configuration, both AES-256-GCM. The row's
// purpose and kid are authenticated with both (and the KEK id with the DEK),
// so a sealed key moved to another row, or relabelled to another KEK, does
// not open. Re-wrapping under a new KEK touches the DEK only.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { CodecKey } from "../temporal/payload-codec.js";

/** What a row holds of its private key: the KEK's id, the wrapped DEK and the sealed PKCS#8 DER. */
export interface SealedKey {
  kekId: string;
  /** iv (12) + AES-256-GCM(DEK) (32) + tag (16). */
  wrappedDek: Buffer;
  /** iv (12) + AES-256-GCM(PKCS#8 DER) + tag (16). */
  sealed: Buffer;
}

/** The row names a KEK this process is not configured with. Names the ids, never key material. */
export class KekNotConfiguredError extends Error {
  override name = "KekNotConfiguredError";
  constructor(
    readonly kid: string,
    readonly purpose: string,
    readonly kekId: string,
  ) {
    super(
      `signing key ${kid} (${purpose}) is wrapped under key-encryption key "${kekId}", which this process is not configured with`,
    );
  }
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
const DEK_BYTES = 32;

function seal(key: Buffer, plain: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  return Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

function open(key: Buffer, data: Buffer, aad: Buffer): Buffer {
  if (data.length < IV_BYTES + TAG_BYTES) throw new Error("sealed value too short");
  const decipher = createDecipheriv("aes-256-gcm", key, data.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
  return Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
}

const keyAad = (purpose: string, kid: string) => Buffer.from(`signing-key\0${purpose}\0${kid}`);
const dekAad = (purpose: string, kid: string, kekId: string) => Buffer.from(`dek\0${purpose}\0${kid}\0${kekId}`);

/** Seals `pkcs8Der` under a fresh DEK wrapped by `kek`. */
export function sealPrivateKey(pkcs8Der: Buffer, kek: CodecKey, purpose: string, kid: string): SealedKey {
  const dek = randomBytes(DEK_BYTES);
  try {
    return {
      kekId: kek.id,
      wrappedDek: seal(kek.key, dek, dekAad(purpose, kid, kek.id)),
      sealed: seal(dek, pkcs8Der, keyAad(purpose, kid)),
    };
  } finally {
    dek.fill(0);
  }
}

function unwrapDek(row: SealedKey, keks: ReadonlyMap<string, Buffer>, purpose: string, kid: string): Buffer {
  const kek = keks.get(row.kekId);
  if (!kek) throw new KekNotConfiguredError(kid, purpose, row.kekId);
  return open(kek, row.wrappedDek, dekAad(purpose, kid, row.kekId));
}

/** The PKCS#8 DER of a sealed key; KekNotConfiguredError when its KEK is not in `keks`. */
export function openPrivateKey(
  row: SealedKey,
  keks: ReadonlyMap<string, Buffer>,
  purpose: string,
  kid: string,
): Buffer {
  const dek = unwrapDek(row, keks, purpose, kid);
  try {
    return open(dek, row.sealed, keyAad(purpose, kid));
  } finally {
    dek.fill(0);
  }
}

/** The same DEK wrapped under `kek` instead (the sealed key is unchanged). */
export function rewrapDek(
  row: SealedKey,
  keks: ReadonlyMap<string, Buffer>,
  kek: CodecKey,
  purpose: string,
  kid: string,
): Pick<SealedKey, "kekId" | "wrappedDek"> {
  const dek = unwrapDek(row, keks, purpose, kid);
  try {
    return { kekId: kek.id, wrappedDek: seal(kek.key, dek, dekAad(purpose, kid, kek.id)) };
  } finally {
    dek.fill(0);
  }
}
