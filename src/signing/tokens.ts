// Signed tokens (compact JWT, EdDSA, `kid` header) over a key ring: signing
// goes through the batching pool; verification uses jose and remembers every
// token it verified (an LRU keyed by the token string, each entry expiring
// with its token or its key), so checking the same token again costs a map
// lookup instead of an Ed25519 verify (~63 µs, more than a hold).
import { errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import type { KeyRing, VerifyingKey } from "./key-ring.js";
import { UnknownKeyError } from "./key-ring.js";
import type { SigningPool } from "./pool.js";

export type TokenProblem = "malformed" | "forged" | "expired" | "unknown_key" | "wrong_type";

/** Why a token was refused; `problem` is stable, the message is for people. */
export class TokenError extends Error {
  override name = "TokenError";
  constructor(
    readonly problem: TokenProblem,
    message: string,
  ) {
    super(message);
  }
}

export interface SignOptions {
  /** exp; at most the ring's max token lifetime after iat. */
  expiresAt: Date;
  /** iat; defaults to now. Equal inputs give equal tokens (Ed25519 is deterministic). */
  issuedAt?: Date;
  /** JWT `typ` header; verify() can insist on it. */
  type?: string;
}

export interface VerifiedToken {
  kid: string;
  /** The `typ` header. */
  type: string | undefined;
  claims: JWTPayload & Record<string, unknown>;
}

export interface TokenServiceOptions {
  /** Verified tokens remembered (LRU). */
  cacheSize?: number;
  /** Tokens that failed a signature check, remembered briefly so a replayed forgery is cheap too. */
  rejectCacheSize?: number;
  rejectCacheMs?: number;
}

interface CacheEntry {
  token: VerifiedToken;
  /** The earlier of the token's exp and its key's retire time. */
  untilMs: number;
}

const HEADER_CACHE = new Map<string, string>();

export class TokenService {
  private readonly verified = new Map<string, CacheEntry>();
  private readonly rejected = new Map<string, { error: TokenError; untilMs: number }>();
  private readonly cacheSize: number;
  private readonly rejectCacheSize: number;
  private readonly rejectCacheMs: number;
  /** Signature checks actually made (cache misses), for tests and metrics. */
  readonly stats = { verifications: 0, cacheHits: 0 };

  constructor(
    readonly ring: KeyRing,
    private readonly pool: SigningPool,
    options: TokenServiceOptions = {},
  ) {
    this.cacheSize = options.cacheSize ?? 100_000;
    this.rejectCacheSize = options.rejectCacheSize ?? 10_000;
    this.rejectCacheMs = options.rejectCacheMs ?? 60_000;
  }

  /** Signs `payload` as a compact JWT with the ring's current key. */
  async sign(payload: Record<string, unknown>, opts: SignOptions): Promise<string> {
    const key = this.ring.signingKey();
    const iat = Math.floor((opts.issuedAt ?? new Date()).getTime() / 1000);
    const exp = Math.floor(opts.expiresAt.getTime() / 1000);
    if (exp - iat > this.ring.options.maxTokenLifetimeSeconds) {
      throw new Error(
        `token lifetime ${exp - iat} s is longer than the ring's ${this.ring.options.maxTokenLifetimeSeconds} s`,
      );
    }
    const header = encodedHeader(key.kid, opts.type ?? "JWT");
    const body = Buffer.from(JSON.stringify({ ...payload, iat, exp })).toString("base64url");
    const input = `${header}.${body}`;
    const token = `${input}.${await this.pool.sign(key.kid, key.privatePem, input)}`;
    // What this process signed needs no signature check here later (a buyer
    // often holds through the instance that handed out the token).
    const claims = { ...payload, iat, exp } as VerifiedToken["claims"];
    this.remember(token, { kid: key.kid, type: opts.type ?? "JWT", claims }, key);
    return token;
  }

  /**
   * The token's claims if its signature, key and expiry are good; throws
   * TokenError otherwise. `type`: the `typ` header it must carry.
   */
  async verify(token: string, type?: string): Promise<VerifiedToken> {
    const nowMs = Date.now();
    const hit = this.verified.get(token);
    if (hit) {
      // The key may have been retired early since (KeyRing.retire), here or, once reloaded, elsewhere.
      if (hit.untilMs > nowMs && this.ring.isVerifying(hit.token.kid, nowMs)) {
        this.verified.delete(token);
        this.verified.set(token, hit);
        this.stats.cacheHits++;
        return this.checkType(hit.token, token, type);
      }
      this.verified.delete(token);
      if (hit.untilMs > nowMs) throw new TokenError("unknown_key", `key ${hit.token.kid} is retired`);
      throw new TokenError(
        hit.untilMs >= Number(hit.token.claims.exp) * 1000 ? "expired" : "unknown_key",
        "token expired",
      );
    }
    const bad = this.rejected.get(token);
    if (bad && bad.untilMs > nowMs) throw bad.error;

    if (token.length > 4096 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
      throw new TokenError("malformed", "not a compact JWT");
    }
    let key: VerifyingKey | undefined;
    let result;
    try {
      this.stats.verifications++;
      result = await jwtVerify(
        token,
        async (header) => {
          if (header.alg !== "EdDSA") throw new TokenError("malformed", `algorithm ${String(header.alg)} not accepted`);
          if (typeof header.kid !== "string") throw new TokenError("unknown_key", "token has no key id");
          key = await this.ring.verifyingKey(header.kid, nowMs);
          return key.publicKey;
        },
        { algorithms: ["EdDSA"], requiredClaims: ["exp", "iat"], currentDate: new Date(nowMs) },
      );
    } catch (err) {
      const error = toTokenError(err);
      if (error.problem === "forged") this.rememberRejected(token, error, nowMs);
      throw error;
    }
    const verified: VerifiedToken = {
      kid: key!.kid,
      type: result.protectedHeader.typ,
      claims: result.payload,
    };
    this.remember(token, verified, key!);
    return this.checkType(verified, token, type);
  }

  /** Public keys in JWK form (RFC 8037), newest first. */
  jwks(): { kid: string; kty: "OKP"; crv: "Ed25519"; x: string; alg: "EdDSA"; retireTime: Date | undefined }[] {
    return this.ring
      .publicKeys()
      .map((k) => ({ kid: k.kid, kty: "OKP", crv: "Ed25519", x: k.x, alg: "EdDSA", retireTime: k.retireAt }));
  }

  get cachedTokens(): number {
    return this.verified.size;
  }

  private checkType(verified: VerifiedToken, _token: string, type: string | undefined): VerifiedToken {
    if (type !== undefined && verified.type !== type) {
      throw new TokenError("wrong_type", `not a ${type} token`);
    }
    return verified;
  }

  /** Caches a good token until it expires or its key retires, whichever comes first. */
  private remember(token: string, verified: VerifiedToken, key: VerifyingKey): void {
    const untilMs = Math.min(Number(verified.claims.exp) * 1000, key.retireAt?.getTime() ?? Number.POSITIVE_INFINITY);
    this.verified.set(token, { token: verified, untilMs });
    if (this.verified.size > this.cacheSize) this.verified.delete(this.verified.keys().next().value!);
  }

  private rememberRejected(token: string, error: TokenError, nowMs: number): void {
    this.rejected.set(token, { error, untilMs: nowMs + this.rejectCacheMs });
    if (this.rejected.size > this.rejectCacheSize) this.rejected.delete(this.rejected.keys().next().value!);
  }
}

function encodedHeader(kid: string, typ: string): string {
  const cacheKey = `${kid}|${typ}`;
  let encoded = HEADER_CACHE.get(cacheKey);
  if (!encoded) {
    encoded = Buffer.from(JSON.stringify({ alg: "EdDSA", kid, typ })).toString("base64url");
    if (HEADER_CACHE.size > 1000) HEADER_CACHE.clear();
    HEADER_CACHE.set(cacheKey, encoded);
  }
  return encoded;
}

/** The TokenError for a refused token; rethrows failures that are not about the token. */
function toTokenError(err: unknown): TokenError {
  if (err instanceof TokenError) return err;
  if (err instanceof UnknownKeyError) return new TokenError("unknown_key", err.message);
  if (err instanceof joseErrors.JWTExpired) return new TokenError("expired", "token expired");
  if (err instanceof joseErrors.JWSSignatureVerificationFailed)
    return new TokenError("forged", "signature does not verify");
  if (err instanceof joseErrors.JOSEError) return new TokenError("malformed", err.message);
  // Anything else (MySQL down while looking a key up) is not the token's fault.
  throw err;
}
