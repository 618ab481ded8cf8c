// The authenticator a process runs with, from its configuration: the
// deployment's issuer, or (no issuer configured, never in production) the
// local development issuer under AUTH_LOCAL_ISSUER_DIR.
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { ConfigError, type Config } from "../config.js";
import { ID_PATTERN } from "../domain/validation.js";
import type { Logger } from "../logger.js";
import { Authenticator, BenchBaselineAuthenticator, CallBudget, type CallAuthenticator } from "./authenticator.js";
import { KeyRing, type JwksSource } from "./key-ring.js";
import { ensureLocalIssuer } from "./local-issuer.js";
import { principalOf, type Principal } from "./principal.js";
import { TokenVerifier } from "./verifier.js";

export async function createAuthenticator(config: Config, log: Logger): Promise<CallAuthenticator> {
  if (config.BENCH_AUTH_BASELINE === "on") {
    log.warn("authentication is OFF (BENCH_AUTH_BASELINE=on): every call acts as operator 'bench'");
    return new BenchBaselineAuthenticator();
  }
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
  const certificates = config.TLS_CLIENT_PRINCIPALS_FILE
    ? await readCertificatePrincipals(config.TLS_CLIENT_PRINCIPALS_FILE)
    : new Map<string, Principal>();
  log.info(
    { issuer, audience, keys: keys.describe(), algorithms: config.AUTH_ALGORITHMS, certificates: certificates.size },
    "authentication on",
  );
  return new Authenticator(verifier, budget, certificates);
}

const certificateEntry = z.object({
  subject: z.string().regex(ID_PATTERN, "must be 1-64 characters of A-Z a-z 0-9 _ -"),
  scopes: z.array(z.string()).min(1),
  events: z.array(z.string()).default([]),
});

/** TLS_CLIENT_PRINCIPALS_FILE: {"URI:spiffe://acme/gate-north": {"subject": "north-1", "scopes": ["tickets:scan"], "events": ["demo"]}}. */
async function readCertificatePrincipals(file: string): Promise<Map<string, Principal>> {
  const parsed = z.record(z.string(), certificateEntry).safeParse(JSON.parse(await readFile(file, "utf8")));
  if (!parsed.success) throw new ConfigError(`TLS_CLIENT_PRINCIPALS_FILE ${file}: ${parsed.error.message}`);
  return new Map(
    Object.entries(parsed.data).map(([san, e]) => [san, principalOf(e.subject, e.scopes, e.events, "mtls")]),
  );
}
