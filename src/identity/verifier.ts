// Bearer tokens → principals. A JWT from the deployment's issuer is checked
// with jose: signature against the issuer's keys (an allow-list of asymmetric
// algorithms only), issuer, audience, exp and nbf with a small clock
// tolerance. A verified token is remembered until it expires, in a bounded
// map, so the hot path pays a lookup, not a signature check, per call.
import { createHash } from "node:crypto";
import { errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { AppError, dependencyUnavailable } from "../domain/errors.js";
import { ID_PATTERN } from "../domain/validation.js";
import { KeysUnavailableError, type KeyRing } from "./key-ring.js";
import { principalOf, type Principal } from "./principal.js";

/** Algorithms a deployment may allow: asymmetric only (no `none`, no HMAC with a public key as the secret). */
export const ASYMMETRIC_ALGORITHMS = [
  "EdDSA",
  "Ed25519",
  "ES256",
  "ES384",
  "ES512",
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
] as const;

export interface VerifierOptions {
  keys: KeyRing;
  issuer: string;
  audience: string;
  algorithms: string[];
  clockToleranceSeconds: number;
  /** The claim listing a gate scanner's events. */
  eventsClaim: string;
  /** Most verified tokens remembered. */
  cacheSize: number;
}

interface Remembered {
  principal: Principal;
  expiresAtMs: number;
}

export class TokenVerifier {
  private readonly cache = new Map<string, Remembered>();

  constructor(private readonly options: VerifierOptions) {}

  /** The principal of a bearer token; synchronous when the token was verified before. */
  verify(token: string): Principal | Promise<Principal> {
    const hit = this.cache.get(token);
    if (hit) {
      if (hit.expiresAtMs > Date.now()) return hit.principal;
      this.cache.delete(token);
    }
    return this.verifyNew(token);
  }

  private async verifyNew(token: string): Promise<Principal> {
    const o = this.options;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, o.keys.getKey, {
        issuer: o.issuer,
        audience: o.audience,
        algorithms: o.algorithms,
        clockTolerance: o.clockToleranceSeconds,
        requiredClaims: ["sub", "exp"],
      }));
    } catch (err) {
      throw tokenRefused(err);
    }
    const principal = principalOf(
      subjectId(String(payload.sub)),
      scopesOf(payload),
      listClaim(payload[o.eventsClaim]),
      "jwt",
    );
    if (this.cache.size >= o.cacheSize) {
      // Forget the oldest entry (Map keeps insertion order).
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(token, { principal, expiresAtMs: (payload.exp ?? 0) * 1000 });
    return principal;
  }
}

/**
 * The id a subject acts under. Ids reach Redis key names, so they follow the
 * id rules; a subject that does not (Auth0's `auth0|123`, an email) acts under
 * a stable digest of itself instead.
 */
export function subjectId(sub: string): string {
  if (ID_PATTERN.test(sub)) return sub;
  return `sub_${createHash("sha256").update(sub).digest("base64url").slice(0, 32)}`;
}

/** Scopes from OAuth's space-separated `scope`, or `scp` (a list or a string) as Okta and Entra ID send them. */
function scopesOf(payload: JWTPayload): string[] {
  return [...listClaim(payload.scope), ...listClaim(payload.scp)];
}

function listClaim(value: unknown): string[] {
  if (typeof value === "string") return value.split(" ").filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return [];
}

/** The AppError a verification failure is answered with; anything unexpected comes back as it was. */
function tokenRefused(err: unknown): unknown {
  if (err instanceof KeysUnavailableError) return dependencyUnavailable("identity provider", err);
  if (err instanceof joseErrors.JWTExpired) return new AppError("TOKEN_EXPIRED", "bearer token expired");
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === "nbf") return new AppError("TOKEN_NOT_YET_VALID", "bearer token is not valid yet");
    return new AppError("TOKEN_INVALID", `bearer token refused: ${err.message}`, { metadata: { claim: err.claim } });
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) {
    return new AppError("TOKEN_INVALID", "bearer token refused: no key of the issuer matches its key id");
  }
  if (err instanceof joseErrors.JOSEError) {
    return new AppError("TOKEN_INVALID", `bearer token refused: ${err.message}`, { metadata: { problem: err.code } });
  }
  // jose throws plain errors for some malformed input (e.g. bad base64 in the header).
  if (err instanceof TypeError || err instanceof SyntaxError) {
    return new AppError("TOKEN_INVALID", "bearer token refused: malformed");
  }
  return err;
}
