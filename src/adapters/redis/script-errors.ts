// The one place where a script's refusal becomes the error the caller sees.
// The script families decode replies into these refusals; use cases pass
// them here with what only they know (which hold, which section, ...).
import { AppError, type Reason } from "../../domain/errors.js";

/** A script said no (lua/*.lua headers list each code). */
export type Refusal =
  /** The sale is not OPEN: SCHEDULED, PAUSED or CLOSED. */
  | { code: "SALE"; state: string }
  /** The buyer's ticket limit: already held or bought `counted` of at most `limit`. */
  | { code: "LIMIT"; counted: number; limit: number }
  /** Seats taken (hold_seats names them; hold_best_available found no free block: none). */
  | { code: "TAKEN"; seats: string[] }
  | { code: "INSUFFICIENT"; free: number }
  | { code: "NO_SECTION" }
  | { code: "NOT_FOUND" }
  | { code: "NOT_OWNED" }
  | { code: "EXPIRED" }
  | { code: "PINNED" }
  | { code: "SOLD" }
  /** The hold is in another state (one letter: A P S R E). */
  | { code: "NOT_ACTIVE"; state: string }
  /** extend_hold's LIMIT: no extensions left, or the hold's lifetime is used up. */
  | { code: "EXTENSION_LIMIT"; reached: string }
  /** The buyer's rate limit (waiting room); retry after this many ms. */
  | { code: "RATE"; retryAfterMs: number }
  /** The waiting room's sale is closed. */
  | { code: "CLOSED" }
  /** A hold script: the request id made a hold for another request (a different payload). */
  | { code: "REUSED"; holdId: string };

/** What the caller knows that the reply does not say. */
export interface RefusalContext {
  eventId?: string;
  holdId?: string;
  sectionId?: string;
  /** Best available: how many adjacent seats were asked for. */
  quantity?: number;
  /** LIMIT: when holds may have expired and freed the buyer's budget. */
  limitRetryAfterMs?: number;
  /** RATE: the RPC that was limited. */
  method?: string;
  /** REUSED: the request id that was reused. */
  requestId?: string;
}

const STATE_BY_CODE: Record<string, string> = { A: "ACTIVE", P: "PINNED", S: "SOLD", R: "RELEASED", E: "EXPIRED" };
const SALE_REASONS: Record<string, Reason> = {
  SCHEDULED: "SALE_NOT_OPEN",
  PAUSED: "SALE_PAUSED",
  CLOSED: "SALE_CLOSED",
};

export function refusalError(r: Refusal, at: RefusalContext = {}): AppError {
  switch (r.code) {
    case "SALE":
      return new AppError(SALE_REASONS[r.state] ?? "SALE_NOT_OPEN", `the sale is ${r.state.toLowerCase()}`, {
        metadata: { sale_state: r.state },
      });
    case "LIMIT":
      return new AppError(
        "LIMIT_EXCEEDED",
        `buyer already holds or bought ${r.counted} of at most ${r.limit} tickets`,
        {
          metadata: { counted: String(r.counted), limit: String(r.limit) },
          ...(at.limitRetryAfterMs === undefined ? {} : { retryAfterMs: at.limitRetryAfterMs }),
        },
      );
    case "TAKEN":
      if (r.seats.length === 0) {
        return new AppError("SEATS_UNAVAILABLE", `no ${at.quantity ?? ""} adjacent seats are free`, {
          metadata: { quantity: String(at.quantity ?? "") },
        });
      }
      return new AppError("SEATS_UNAVAILABLE", `seats already taken: ${r.seats.join(", ")}`, {
        metadata: { taken_seats: r.seats.join(",") },
      });
    case "INSUFFICIENT":
      return new AppError("INSUFFICIENT_CAPACITY", `only ${r.free} places left in ${at.sectionId ?? ""}`, {
        metadata: { available: String(r.free) },
      });
    case "NO_SECTION":
      return new AppError("SECTION_NOT_FOUND", `no general-admission section ${at.sectionId ?? ""}`);
    case "NOT_FOUND":
      return new AppError("HOLD_NOT_FOUND", `hold ${at.holdId ?? ""} not found`);
    case "NOT_OWNED":
      return new AppError("HOLD_NOT_OWNED", `hold ${at.holdId ?? ""} belongs to another buyer`);
    case "EXPIRED":
      return new AppError("HOLD_EXPIRED", `hold ${at.holdId ?? ""} has expired`);
    case "PINNED":
      return new AppError("HOLD_NOT_ACTIVE", `hold ${at.holdId ?? ""} is being paid for`, {
        metadata: { hold_state: "PINNED" },
      });
    case "SOLD":
      return new AppError("HOLD_NOT_ACTIVE", `hold ${at.holdId ?? ""} is sold`, { metadata: { hold_state: "SOLD" } });
    case "NOT_ACTIVE": {
      const state = STATE_BY_CODE[r.state];
      return new AppError("HOLD_NOT_ACTIVE", `hold ${at.holdId ?? ""} is ${state?.toLowerCase() ?? "not active"}`, {
        metadata: { hold_state: state ?? r.state },
      });
    }
    case "EXTENSION_LIMIT":
      return new AppError(
        "EXTENSION_LIMIT_REACHED",
        r.reached === "lifetime"
          ? `hold ${at.holdId ?? ""} has reached its maximum lifetime`
          : `hold ${at.holdId ?? ""} has no extensions left`,
        { metadata: { limit: r.reached } },
      );
    case "RATE": {
      const ms = Math.max(1, r.retryAfterMs);
      const method = at.method ?? "";
      return new AppError(
        "RATE_LIMITED",
        `too many ${method} calls for this buyer; retry in ${Math.ceil(ms / 1000)} s`,
        { metadata: { method }, retryAfterMs: ms },
      );
    }
    case "CLOSED":
      return new AppError("SALE_CLOSED", "the sale is closed", {
        metadata: { event_id: at.eventId ?? "", sale_state: "CLOSED" },
      });
    case "REUSED":
      return new AppError(
        "REQUEST_ID_REUSED",
        `request_id ${at.requestId ?? ""} was used before for a different request (hold ${r.holdId})`,
        { metadata: { request_id: at.requestId ?? "", hold_id: r.holdId } },
      );
  }
}

/** A reply code no header lists: a script and its caller disagree (a bug, never the caller's fault). */
export function unexpectedReply(script: string, code: unknown): Error {
  return new Error(`${script} answered an unexpected ${String(code)}`);
}
