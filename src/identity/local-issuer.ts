// A local identity provider for development and tests: an Ed25519 key pair on
// disk and its JWKS, so that a machine with no OpenID issuer still runs with
// authentication on. The server verifies its tokens exactly as it verifies a
// real issuer's (through the JWKS file); `npm run token` signs them. Never
// used in production (the config refuses to start without an issuer there).
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
  type JsonWebKey,
  type KeyObject,
} from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { JWK } from "jose";
import { SCOPES } from "./principal.js";

export const LOCAL_ISSUER = "ticketing-local";
export const LOCAL_AUDIENCE = "ticketing";

export interface LocalIssuer {
  dir: string;
  jwksFile: string;
  issuer: string;
  audience: string;
  /** Signs a token for a buyer, an operator or a gate scanner (synchronous: Ed25519 costs ~25 µs). */
  sign(claims: TokenClaims, options?: SignOptions): string;
}

export type TokenClaims =
  | { buyer: string }
  | { operator: string }
  | { gate: string; events: string[] }
  | { subject: string; scopes: string[]; events?: string[] };

export interface SignOptions {
  /** Lifetime; default one hour. */
  ttlSeconds?: number;
  /** Backdate or postdate (tests of exp and nbf). */
  notBeforeSeconds?: number;
  issuedAtSeconds?: number;
  issuer?: string;
  audience?: string;
}

const PRIVATE_FILE = "issuer-private.jwk.json";
const JWKS_FILE = "jwks.json";

/** The issuer whose keys are in `dir`, created there (with a new key pair) if absent. */
export async function ensureLocalIssuer(dir: string): Promise<LocalIssuer> {
  const privateFile = path.join(dir, PRIVATE_FILE);
  const jwksFile = path.join(dir, JWKS_FILE);
  let privateJwk: JWK;
  try {
    privateJwk = JSON.parse(await readFile(privateFile, "utf8")) as JWK;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    privateJwk = await createKeyPair(dir, privateFile, jwksFile);
  }
  const key = createPrivateKey({ key: privateJwk as JsonWebKey, format: "jwk" });
  const kid = privateJwk.kid ?? "local";
  return {
    dir,
    jwksFile,
    issuer: LOCAL_ISSUER,
    audience: LOCAL_AUDIENCE,
    sign: (claims, options = {}) => signToken(key, kid, claims, options),
  };
}

async function createKeyPair(dir: string, privateFile: string, jwksFile: string): Promise<JWK> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync("ed25519");
  const kid = `local-${randomUUID().slice(0, 8)}`;
  const privateJwk: JWK = { ...privateKey.export({ format: "jwk" }), kid, alg: "EdDSA", use: "sig" };
  const publicJwk: JWK = { ...createPublicKey(privateKey).export({ format: "jwk" }), kid, alg: "EdDSA", use: "sig" };
  // Written whole, then renamed: a server reading the JWKS never sees half a file.
  await writeAtomically(privateFile, JSON.stringify(privateJwk), 0o600);
  await writeAtomically(jwksFile, JSON.stringify({ keys: [publicJwk] }, null, 2), 0o644);
  return privateJwk;
}

async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, file);
}

function signToken(key: KeyObject, kid: string, claims: TokenClaims, o: SignOptions): string {
  const now = Math.floor(Date.now() / 1000);
  const iat = o.issuedAtSeconds ?? now;
  const { subject, scopes, events } = describe(claims);
  const payload: Record<string, unknown> = {
    iss: o.issuer ?? LOCAL_ISSUER,
    aud: o.audience ?? LOCAL_AUDIENCE,
    sub: subject,
    iat,
    exp: iat + (o.ttlSeconds ?? 3600),
    jti: randomUUID(),
    scope: scopes.join(" "),
  };
  if (o.notBeforeSeconds !== undefined) payload.nbf = o.notBeforeSeconds;
  if (events.length > 0) payload.events = events;
  return signJwt(key, { alg: "EdDSA", kid, typ: "JWT" }, payload);
}

/** A compact JWS of the header and payload, signed with an Ed25519 key. */
export function signJwt(key: KeyObject, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${base64url(header)}.${base64url(payload)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString("base64url")}`;
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

function describe(claims: TokenClaims): { subject: string; scopes: string[]; events: string[] } {
  if ("buyer" in claims) return { subject: claims.buyer, scopes: [SCOPES.buy], events: [] };
  if ("operator" in claims) return { subject: claims.operator, scopes: [SCOPES.operate], events: [] };
  if ("gate" in claims) return { subject: claims.gate, scopes: [SCOPES.scan], events: claims.events };
  return { subject: claims.subject, scopes: claims.scopes, events: claims.events ?? [] };
}
