// The one interface every seat-hold strategy of `npm run bench:strategies`
// implements, and the small helpers they share. A strategy owns its store's
// shape (a MySQL table, a Redis hash, the product's Lua-managed keys); the
// driver (driver.ts) only sees hold() outcomes and the store read back.
import type { Check } from "../lib/invariants.js";

/** The strategy every throughput is divided by: the product's hold. */
export const BASELINE = "lua-hold";

/** One event's seats: every strategy gets the same seat ids. */
export interface Venue {
  /** Unique per strategy and round: [A-Za-z0-9_], safe in Redis keys and SQL values. */
  eventId: string;
  /** Rows of section A ("A-<row>-<n>"), as bench/lib/events.ts gridLayout numbers them. */
  rows: number;
  seatsPerRow: number;
  seatIds: string[];
  /** Most seats one buyer may ask for (the product's per-buyer limit). */
  maxSeatsPerBuyer: number;
}

export type HoldOutcome =
  | { status: "held"; attempts: number }
  /** A clean refusal: at least one seat is held by someone else. */
  | { status: "taken"; attempts: number }
  /** Anything else: errors, retries or lock waits exhausted, deadlocks past the retry bound. */
  | { status: "failed"; attempts: number; reason: string };

export interface HoldStrategy {
  /** Short id used in tables and file names. */
  readonly name: string;
  /** What the strategy does, one line. */
  readonly label: string;
  /** false only for a deliberately broken baseline: its oversell is reported, not failed. */
  readonly claimsCorrect: boolean;
  /** Settings worth printing with the results (pool sizes, retry bounds). */
  readonly settings: Record<string, string | number>;
  /** A fresh store for a round: every seat of the venue free, the previous round's state gone. */
  reset(venue: Venue): Promise<void>;
  /** All-or-nothing hold of seatIds for buyerId on the venue of the last reset(). */
  hold(buyerId: string, seatIds: string[]): Promise<HoldOutcome>;
  /** The store's view after a round: seat id -> the buyer holding it (free seats absent). */
  readHolders(): Promise<Map<string, string>>;
  /** Store-specific invariant checks (e.g. the product's own hold index), beyond the common ones. */
  extraChecks?(): Promise<Check[]>;
  /** Drops what reset() created and closes connections. */
  close(): Promise<void>;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** "Full jitter" exponential backoff: a random wait in [0, min(cap, base * 2^attempt)) ms. */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}

/** The seats of a venue in section A, rows 1..rows, seats 1..seatsPerRow. */
export function venueSeats(rows: number, seatsPerRow: number): string[] {
  const ids: string[] = [];
  for (let r = 1; r <= rows; r++) for (let n = 1; n <= seatsPerRow; n++) ids.push(`A-${r}-${n}`);
  return ids;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Refuses a request no strategy should see: the driver checks the workload
 * with this before a round, so a bad workload stops the bench with a clear
 * message instead of showing up as one strategy's "failures".
 */
export function requestProblem(
  venue: Venue,
  known: ReadonlySet<string>,
  buyerId: string,
  seatIds: string[],
): string | undefined {
  if (!ID.test(buyerId)) return `buyer id ${JSON.stringify(buyerId)} is not [A-Za-z0-9_-]{1,64}`;
  if (seatIds.length === 0) return `buyer ${buyerId} asks for no seat`;
  if (seatIds.length > venue.maxSeatsPerBuyer)
    return `buyer ${buyerId} asks for ${seatIds.length} seats, more than ${venue.maxSeatsPerBuyer}`;
  if (new Set(seatIds).size !== seatIds.length) return `buyer ${buyerId} names a seat twice`;
  const unknown = seatIds.find((s) => !known.has(s));
  if (unknown !== undefined) return `buyer ${buyerId} asks for ${unknown}, not a seat of event ${venue.eventId}`;
  return undefined;
}

/** A short, stable description of an error for the failure tally (no ids, no stack). */
export function errorReason(err: unknown): string {
  if (typeof err === "object" && err !== null) {
    const e = err as { code?: unknown; errno?: unknown; reason?: unknown; message?: unknown };
    if (typeof e.reason === "string") return e.reason;
    if (typeof e.code === "string") return e.code;
    if (typeof e.message === "string") return e.message.slice(0, 80);
  }
  return String(err).slice(0, 80);
}
