// Workflow payloads encrypted with AES-256-GCM before they reach the Temporal
// server (a PayloadCodec: the SDK runs it on every payload the client and
// the worker send, and the reverse on every payload they receive). Workflow
// inputs (payment method tokens, buyer ids), activity inputs and results,
// local activity markers, queries and updates are all payloads, so Temporal's
// history, the CLI and the web UI show ciphertext unless they are given the
// keys (the codec server, codec-server.ts).
//
// Keys have ids: a payload names the key that sealed it; decoding accepts
// every configured key, encoding uses the newest (the last one listed), so a
// key rotates by appending a new one and dropping the old one once no open
// workflow still needs it (after the longest workflow's retention).
// Payloads that are not encrypted (written before the codec was turned on,
// or recorded histories) decode as they are.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from "@temporalio/common";
// A CommonJS package: Node's ESM loader sees only its default export.
import protos from "@temporalio/proto";

const { temporal } = protos;

export const ENCRYPTED_ENCODING = "binary/encrypted";
export const KEY_ID_METADATA = "encryption-key-id";

export interface CodecKey {
  id: string;
  /** 32 bytes (AES-256). */
  key: Buffer;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
const text = new TextEncoder();
const untext = new TextDecoder();

/**
 * Parses `id:base64,id:base64` (the last is the newest). Throws an Error whose
 * message names the bad entry by id, never by key.
 */
export function parseCodecKeys(value: string): CodecKey[] {
  const keys = value
    .split(/[,\s]+/)
    .filter(Boolean)
    .map((entry, i) => {
      const sep = entry.indexOf(":");
      const id = sep > 0 ? entry.slice(0, sep) : "";
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new Error(`entry ${i + 1} needs an id: id:base64-key`);
      const key = Buffer.from(entry.slice(sep + 1), "base64");
      if (key.length !== 32) throw new Error(`key "${id}" must be 32 bytes, base64 (openssl rand -base64 32)`);
      return { id, key };
    });
  if (keys.length === 0) throw new Error("no key");
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new Error("key ids must be unique");
  return keys;
}

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly newest: CodecKey;

  constructor(keys: CodecKey[]) {
    const newest = keys[keys.length - 1];
    if (!newest) throw new Error("EncryptionCodec needs at least one key");
    this.newest = newest;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", this.newest.key, iv);
      // The key id is authenticated too: a payload cannot be relabelled to another key.
      cipher.setAAD(Buffer.from(this.newest.id));
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: text.encode(ENCRYPTED_ENCODING),
          [KEY_ID_METADATA]: text.encode(this.newest.id),
        },
        data: new Uint8Array(sealed),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || untext.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const idBytes = payload.metadata?.[KEY_ID_METADATA];
      const id = idBytes ? untext.decode(idBytes) : "";
      const key = this.byId.get(id);
      if (!key) throw new Error(`payload encrypted with unknown key id "${id}"`);
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new Error("encrypted payload too short");
      const decipher = createDecipheriv("aes-256-gcm", key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(id));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}
