// The authenticator a process runs with, from its configuration: the
// deployment's issuer, or (no issuer configured, never in production) the
// local development issuer under AUTH_LOCAL_ISSUER_DIR.
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { Authenticator, CallBudget } from "./authenticator.js";
import { KeyRing, type JwksSource } from "./key-ring.js";
import { ensureLocalIssuer } from "./local-issuer.js";
import { TokenVerifier } from "./verifier.js";

export async function createAuthenticator(config: Config, log: Logger): Promise<Authenticator> {
  let issuer = config.AUTH_ISSUER;
  let audience = config.AUTH_AUDIENCE;
  let source: JwksSource;
  if (!issuer) {
    const local = await ensureLocalIssuer(config.AUTH_LOCAL_ISSUER_DIR);
    issuer = local.issuer;
    audience = local.audience;
    source = { kind: "file", path: local.jwksFile };
    log.warn(
      { jwks: local.jwksFile, issuer },
      "no AUTH_ISSUER configured: verifying tokens of the local development issuer (npm run token)",
    );
  } else if (config.AUTH_JWKS_FILE) source = { kind: "file", path: config.AUTH_JWKS_FILE };
  else if (config.AUTH_JWKS_URL) source = { kind: "url", url: config.AUTH_JWKS_URL };
  else source = { kind: "discovery", issuer };

  const keys = new KeyRing(
    source,
    {
      refreshMs: config.AUTH_JWKS_REFRESH_SECONDS * 1000,
      cooldownMs: config.AUTH_JWKS_COOLDOWN_SECONDS * 1000,
      timeoutMs: 5_000,
    },
    (err) => log.warn({ err, keys: keys.describe() }, "could not fetch the identity provider's keys"),
  );
  const verifier = new TokenVerifier({
    keys,
    issuer,
    audience,
    algorithms: config.AUTH_ALGORITHMS,
    clockToleranceSeconds: config.AUTH_CLOCK_TOLERANCE_SECONDS,
    eventsClaim: config.AUTH_EVENTS_CLAIM,
    cacheSize: config.AUTH_TOKEN_CACHE_SIZE,
  });
  const budget =
    config.AUTH_CALL_BUDGET_PER_SECOND > 0
      ? new CallBudget(config.AUTH_CALL_BUDGET_PER_SECOND, config.AUTH_CALL_BUDGET_BURST)
      : undefined;
  log.info({ issuer, audience, keys: keys.describe(), algorithms: config.AUTH_ALGORITHMS }, "authentication on");
  return new Authenticator(verifier, budget);
}
