// From the `authorization` header to a principal: the bearer token verified
// (TokenVerifier), then each buyer's call budget taken. Synchronous for a
// token seen before, so the hot path does not wait a turn for it.
import { AppError } from "../domain/errors.js";
import type { Principal } from "./principal.js";
import type { TokenVerifier } from "./verifier.js";

/** The principal of a public call made without a token: it may do nothing a scope grants. */
export const ANONYMOUS: Principal = {
  subject: "",
  buyer: false,
  operator: false,
  scanner: false,
  scanEvents: new Set(),
  via: "jwt",
};

/**
 * Services that authenticate with a client certificate (mutual TLS): a
 * certificate's subjectAltName entry, as OpenSSL names it ("URI:spiffe://…",
 * "DNS:…"), mapped to the principal it stands for.
 */
export type CertificatePrincipals = ReadonlyMap<string, Principal>;

/** What the call pipeline asks of authentication. */
export interface CallAuthenticator {
  /** The caller's principal, synchronously when it can be had without waiting. */
  authenticate(header: unknown, peerSubjectAltName?: () => string | undefined): Principal | Promise<Principal>;
}

export class Authenticator implements CallAuthenticator {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly budget: CallBudget | undefined,
    private readonly certificates: CertificatePrincipals = new Map(),
  ) {}

  /**
   * The principal an `authorization` header value proves or, without one, the
   * principal the client certificate's subjectAltName maps to. A bearer token
   * wins: a service passing its buyer's token along acts as that buyer.
   */
  authenticate(header: unknown, peerSubjectAltName?: () => string | undefined): Principal | Promise<Principal> {
    if (typeof header !== "string" || header.length === 0) {
      const byCertificate = this.certificates.size > 0 ? this.certificatePrincipal(peerSubjectAltName?.()) : undefined;
      if (byCertificate) return byCertificate;
      throw new AppError("TOKEN_MISSING", "this call needs authorization: Bearer <token from the issuer>");
    }
    if (!/^bearer /i.test(header)) throw new AppError("TOKEN_INVALID", "authorization must be Bearer <token>");
    const verified = this.verifier.verify(header.slice(7).trim());
    if (!this.budget) return verified;
    if (verified instanceof Promise) return verified.then((p) => this.charge(p));
    return this.charge(verified);
  }

  private certificatePrincipal(subjectAltName: string | undefined): Principal | undefined {
    if (!subjectAltName) return undefined;
    for (const entry of subjectAltName.split(", ")) {
      const principal = this.certificates.get(entry);
      if (principal) return principal;
    }
    return undefined;
  }

  private charge(principal: Principal): Principal {
    if (principal.buyer && !principal.operator) this.budget!.take(principal.subject);
    return principal;
  }
}

/**
 * The benchmarks' unauthenticated baseline (BENCH_AUTH_BASELINE=on, which the
 * configuration allows only with BENCH_NOOP on and never in production):
 * every call is the one operator principal a bench token would give, and no
 * header is read. bench:holds measures HoldSeats against it beside the same
 * calls with authentication on, so the cost of authentication is a figure.
 */
export class BenchBaselineAuthenticator implements CallAuthenticator {
  private readonly principal: Principal = {
    subject: "bench",
    buyer: false,
    operator: true,
    scanner: false,
    scanEvents: new Set(),
    via: "unauthenticated-bench-baseline",
  };

  authenticate(): Principal {
    return this.principal;
  }
}

/**
 * Calls per second per buyer, per process (a token bucket each): a bot with
 * one identity cannot flood, and a made-up buyer id no longer buys a fresh
 * allowance, since the subject comes from the issuer.
 */
export class CallBudget {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxSubjects = 200_000,
  ) {}

  take(subject: string, nowMs = Date.now()): void {
    let b = this.buckets.get(subject);
    if (!b) {
      if (this.buckets.size >= this.maxSubjects) this.forgetFull(nowMs);
      b = { tokens: this.burst, atMs: nowMs };
      this.buckets.set(subject, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((nowMs - b.atMs) / 1000) * this.perSecond);
      b.atMs = nowMs;
    }
    if (b.tokens < 1) {
      const retryAfterMs = Math.ceil(((1 - b.tokens) / this.perSecond) * 1000);
      throw new AppError("CALL_BUDGET_EXCEEDED", `too many calls from ${subject}; retry in ${retryAfterMs} ms`, {
        retryAfterMs,
      });
    }
    b.tokens -= 1;
  }

  /** Drops the buckets that have refilled (they are the same as no bucket), or the older half if none has. */
  private forgetFull(nowMs: number): void {
    for (const [subject, b] of this.buckets) {
      if (b.tokens + ((nowMs - b.atMs) / 1000) * this.perSecond >= this.burst) this.buckets.delete(subject);
    }
    if (this.buckets.size < this.maxSubjects) return;
    let n = this.buckets.size / 2;
    for (const subject of this.buckets.keys()) {
      if (n-- <= 0) break;
      this.buckets.delete(subject);
    }
  }
}
