// Who is calling: the subject of a verified token and what its scopes let it
// do. Buyers act only as themselves; operators may act for anyone and read
// everything; gate scanners check tickets in for the events they are given.
import { AppError } from "../domain/errors.js";
import { Validator } from "../domain/validation.js";

export const SCOPES = {
  buy: "tickets:buy",
  operate: "tickets:operate",
  scan: "tickets:scan",
} as const;

export interface Principal {
  /** The token's `sub`: a buyer's id, an operator's name or a gate's id. */
  readonly subject: string;
  readonly buyer: boolean;
  readonly operator: boolean;
  readonly scanner: boolean;
  /** Events a gate scanner may check tickets in for (empty for others). */
  readonly scanEvents: ReadonlySet<string>;
  /**
   * Where the identity came from, for the audit log: a verified token, a
   * client certificate, or (the benchmarks' unauthenticated baseline only,
   * BENCH_AUTH_BASELINE) nothing at all.
   */
  readonly via: "jwt" | "mtls" | "unauthenticated-bench-baseline";
}

export function principalOf(
  subject: string,
  scopes: Iterable<string>,
  scanEvents: Iterable<string>,
  via: Principal["via"],
): Principal {
  const s = new Set(scopes);
  return {
    subject,
    buyer: s.has(SCOPES.buy),
    operator: s.has(SCOPES.operate),
    scanner: s.has(SCOPES.scan),
    scanEvents: new Set(scanEvents),
    via,
  };
}

/**
 * The buyer a call acts as. A buyer acts as the token's subject: an empty
 * `buyer_id` means the caller, and naming anyone else is refused. An operator
 * acts for the buyer it names (a support desk), and must name one; pass the
 * request's Validator to report a bad name with the request's other violations.
 */
export function actingBuyer(principal: Principal, requested: string, v?: Validator): string {
  if (principal.operator) {
    // Collected with the request's other violations when the caller passes its Validator.
    const check = v ?? new Validator();
    if (!requested) check.add("buyer_id", "an operator must name the buyer it acts for");
    else check.id("buyer_id", requested);
    if (!v) check.check();
    return requested;
  }
  if (!principal.buyer) throw scopeMissing(SCOPES.buy);
  if (requested && requested !== principal.subject) {
    throw new AppError("BUYER_MISMATCH", "buyer_id names another buyer: a caller acts only as itself", {
      fieldViolations: [{ field: "buyer_id", description: "must be empty or the caller's own subject" }],
    });
  }
  return principal.subject;
}

/** May this principal see a thing that belongs to `owner`? Others' things are answered as not found. */
export function maySee(principal: Principal, owner: string): boolean {
  return principal.operator || (principal.buyer && principal.subject === owner);
}

export function requireOperator(principal: Principal): void {
  if (!principal.operator) throw scopeMissing(SCOPES.operate);
}

/** Operators, or gate scanners (whose events are checked per ticket). */
export function requireScanner(principal: Principal): void {
  if (!principal.operator && !principal.scanner) throw scopeMissing(SCOPES.scan);
}

/** A gate scanner may admit only tickets of its own events. */
export function mayScan(principal: Principal, eventId: string): boolean {
  return principal.operator || (principal.scanner && principal.scanEvents.has(eventId));
}

export function scopeMissing(scope: string): AppError {
  return new AppError("SCOPE_MISSING", `this call needs the scope ${scope}`, { metadata: { scope } });
}
