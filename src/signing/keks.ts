// The key-encryption keys (KEKs) of each purpose's signing keys, from
// configuration: ADMISSION_SIGNING_KEKS for the API (it signs admission
// tokens), TICKET_SIGNING_KEKS for the worker (it signs ticket codes; the
// API only verifies them, from the public keys). The last KEK listed wraps
// new keys; every listed one unwraps. Required in production by the process
// that signs the purpose; elsewhere, unset means the development KEK below.
import { ConfigError, type Config } from "../config.js";
import { configuredKeyList } from "../key-list.js";
import type { CodecKey } from "../temporal/payload-codec.js";

/** Every purpose of a signing key (what RotateSigningKey accepts). */
export const KEY_PURPOSES = ["admission", "ticket"] as const;
export type KeyPurpose = (typeof KEY_PURPOSES)[number];

type KekConfig = Pick<
  Config,
  | "NODE_ENV"
  | "ADMISSION_SIGNING_KEKS"
  | "ADMISSION_SIGNING_KEKS_FILE"
  | "TICKET_SIGNING_KEKS"
  | "TICKET_SIGNING_KEKS_FILE"
>;

/**
 * Published, so it protects nothing: it keeps development and tests on the
 * same sealed rows as production. Never accepted with NODE_ENV=production.
 */
export const DEVELOPMENT_KEK: CodecKey = {
  id: "development",
  key: Buffer.from("QQHcxSwB6FPpMXbvXnOK/4htTbIYg8EgSkHee610i98=", "base64"),
};

const VARIABLE = { admission: "ADMISSION_SIGNING_KEKS", ticket: "TICKET_SIGNING_KEKS" } as const;

/** The KEKs of `purpose`; a ConfigError when they are missing in production or malformed. */
export function signingKeks(config: KekConfig, purpose: KeyPurpose, readFile?: (path: string) => string): CodecKey[] {
  const variable = VARIABLE[purpose];
  const keys = configuredKeyList(variable, config[variable], config[`${variable}_FILE`], readFile);
  if (keys) return keys;
  if (config.NODE_ENV === "production") {
    throw new ConfigError(
      `invalid configuration:\n  ${variable}: is required in production (or ${variable}_FILE): it encrypts the ${purpose} signing keys at rest`,
    );
  }
  return [DEVELOPMENT_KEK];
}
