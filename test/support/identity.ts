// Identity for tests: one local issuer per test process (an Ed25519 key pair
// and its JWKS file in a temp dir), the same mechanism `npm start` and
// `npm run token` use. The API under test verifies these tokens exactly as it
// verifies a real issuer's, through AUTH_JWKS_FILE.
import os from "node:os";
import path from "node:path";
import { Metadata } from "@grpc/grpc-js";
import { Authenticator, type CallBudget } from "../../src/identity/authenticator.js";
import { bearerInterceptor, requestTokens } from "../../src/identity/client.js";
import { KeyRing } from "../../src/identity/key-ring.js";
import { ensureLocalIssuer, type SignOptions, type TokenClaims } from "../../src/identity/local-issuer.js";
import { TokenVerifier } from "../../src/identity/verifier.js";

export const issuer = await ensureLocalIssuer(path.join(os.tmpdir(), `ticketing-test-issuer-${process.pid}`));

/** The configuration that points an API at the test issuer (call budget off unless a test turns it on). */
export function authEnv(): Record<string, string> {
  return {
    AUTH_ISSUER: issuer.issuer,
    AUTH_AUDIENCE: issuer.audience,
    AUTH_JWKS_FILE: issuer.jwksFile,
    AUTH_CALL_BUDGET_PER_SECOND: "0",
  };
}

export const TEST_OPERATOR = "test-operator";

const cached = new Map<string, string>();
/** A token for the claims, signed once per test process and reused (as a real client would). */
export function tokenFor(claims: TokenClaims, options?: SignOptions): string {
  if (options) return issuer.sign(claims, options);
  const key = JSON.stringify(claims);
  let token = cached.get(key);
  if (!token) cached.set(key, (token = issuer.sign(claims)));
  return token;
}

/** Metadata carrying `authorization: Bearer <token>`. */
export function bearer(tokenOrClaims: string | TokenClaims): Metadata {
  const m = new Metadata();
  const token = typeof tokenOrClaims === "string" ? tokenOrClaims : tokenFor(tokenOrClaims);
  m.set("authorization", `Bearer ${token}`);
  return m;
}

export const operatorMetadata = () => bearer({ operator: TEST_OPERATOR });

/**
 * For test clients: a call that carries no `authorization` gets a token of the
 * buyer its request names (`buyerId`), or else the test operator's. Tests of
 * authentication itself set the header, which is then left alone.
 */
export const authInterceptor = bearerInterceptor(requestTokens(issuer, TEST_OPERATOR));

/** An authenticator that accepts the test issuer's tokens, for tests that build a CallPipeline by hand. */
export function testAuthenticator(budget?: CallBudget): Authenticator {
  const keys = new KeyRing(
    { kind: "file", path: issuer.jwksFile },
    { refreshMs: 60_000, cooldownMs: 0, timeoutMs: 5_000 },
  );
  const verifier = new TokenVerifier({
    keys,
    issuer: issuer.issuer,
    audience: issuer.audience,
    algorithms: ["EdDSA"],
    clockToleranceSeconds: 5,
    eventsClaim: "events",
    cacheSize: 1000,
  });
  return new Authenticator(verifier, budget);
}
