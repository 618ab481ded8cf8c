// Admission tokens: proof that the waiting room let a buyer in, and the gate
// in front of HoldSeats/HoldBestAvailable that checks them.
import { AppError } from "../domain/errors.js";
import type { SeatIndex } from "../events/layout.js";
import type { AdmissionGate } from "../holds/holds.js";
import { TokenError, type TokenProblem, type TokenService } from "../signing/tokens.js";

/** The JWT `typ` of an admission token (a ticket code has its own). */
export const ADMISSION_TOKEN_TYPE = "admission+jwt";
export const TOKEN_ISSUER = "ticketing";
export const ADMISSION_AUDIENCE = "ticketing.v1.ReservationService";

export interface AdmissionClaims {
  eventId: string;
  buyerId: string;
  /** The buyer's ticket budget: the event's most tickets per buyer. */
  maxTickets: number;
  issuedAt: Date;
  expiresAt: Date;
  kid: string;
}

/** Why a token was refused, in the ADMISSION_TOKEN_INVALID metadata (`problem`). */
export type AdmissionProblem = TokenProblem | "wrong_event" | "wrong_buyer";

/** Admission tokens this process handed out recently, so a buyer polling after admission costs no new signature. */
const ISSUED_CACHE_SIZE = 50_000;

export class AdmissionTokens {
  private readonly issued = new Map<string, Promise<string>>();

  constructor(private readonly tokens: TokenService) {}

  /**
   * The token of one admission. Its times come from the admission itself, so
   * every instance that signs it with the same key makes the same token.
   */
  issue(a: {
    eventId: string;
    buyerId: string;
    maxTickets: number;
    admittedMs: number;
    expiresMs: number;
  }): Promise<string> {
    const key = `${this.tokens.ring.signingKey().kid}|${a.eventId}|${a.buyerId}|${a.maxTickets}|${a.admittedMs}|${a.expiresMs}`;
    let token = this.issued.get(key);
    if (!token) {
      token = this.tokens.sign(
        { iss: TOKEN_ISSUER, aud: ADMISSION_AUDIENCE, sub: a.buyerId, ev: a.eventId, max_tickets: a.maxTickets },
        { issuedAt: new Date(a.admittedMs), expiresAt: new Date(a.expiresMs), type: ADMISSION_TOKEN_TYPE },
      );
      this.issued.set(key, token);
      token.catch(() => this.issued.delete(key));
      if (this.issued.size > ISSUED_CACHE_SIZE) this.issued.delete(this.issued.keys().next().value!);
    }
    return token;
  }

  /** The token's claims when it is good for this event and buyer; AppError otherwise. */
  async check(token: string, eventId: string, buyerId: string): Promise<AdmissionClaims> {
    if (!token) {
      throw new AppError("ADMISSION_TOKEN_MISSING", "this event's waiting room is on: an admission token is required", {
        metadata: { event_id: eventId },
      });
    }
    let verified;
    try {
      verified = await this.tokens.verify(token, ADMISSION_TOKEN_TYPE);
    } catch (err) {
      if (err instanceof TokenError)
        throw invalid(err.problem === "wrong_type" ? "malformed" : err.problem, err.message, eventId);
      throw err;
    }
    const c = verified.claims;
    if (c.iss !== TOKEN_ISSUER || c.aud !== ADMISSION_AUDIENCE)
      throw invalid("malformed", "not an admission token", eventId);
    if (c.ev !== eventId) throw invalid("wrong_event", "the admission token is for another event", eventId);
    if (c.sub !== buyerId) throw invalid("wrong_buyer", "the admission token is for another buyer", eventId);
    return {
      eventId,
      buyerId,
      maxTickets: Number(c.max_tickets ?? 0),
      issuedAt: new Date(Number(c.iat) * 1000),
      expiresAt: new Date(Number(c.exp) * 1000),
      kid: verified.kid,
    };
  }
}

function invalid(problem: AdmissionProblem, message: string, eventId: string): AppError {
  return new AppError("ADMISSION_TOKEN_INVALID", `admission token refused: ${message}`, {
    metadata: { problem, event_id: eventId },
  });
}

/** The real gate: with the waiting room on, a valid admission token for this event and buyer; off, nothing. */
export class TokenAdmissionGate implements AdmissionGate {
  constructor(private readonly admission: AdmissionTokens) {}

  async check(index: SeatIndex, buyerId: string, token: string): Promise<void> {
    if (!index.layout.waitingRoom.enabled) return;
    await this.admission.check(token, index.layout.eventId, buyerId);
  }
}
