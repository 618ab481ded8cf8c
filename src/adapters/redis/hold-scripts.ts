// The hold scripts (lua/hold_*.lua, extend, pin, release, sell, unsell): each
// a function with named inputs and a decoded reply. This module alone knows
// their KEYS order and reply layout; the headers in lua/ are the contract.
import { eventKeys, holdFreeingKeys, queueKeys } from "./keys.js";
import type { ScriptArgv, ScriptReply, ScriptRunner } from "./runner.js";
import { unexpectedReply, type Refusal } from "./script-errors.js";

type RefusalOf<C extends Refusal["code"]> = Extract<Refusal, { code: C }>;

export interface HoldMade {
  code: "OK";
  holdId: string;
  createdMs: number;
  expiresMs: number;
}
/** The hold exists: this request already made it. */
export interface HoldReplay {
  code: "REPLAY";
  holdId: string;
}
/** The hold exists, made by another request under the same request id (the stored request hash differs). */
export interface HoldReused {
  code: "REUSED";
  holdId: string;
}
/** The event's inventory is not loaded. */
export interface NoEvent {
  code: "NO_EVENT";
}

export type HoldSeatsReply = HoldMade | HoldReplay | NoEvent | RefusalOf<"SALE" | "LIMIT" | "TAKEN" | "REUSED">;
export type HoldQuantityReply =
  HoldMade | HoldReplay | NoEvent | RefusalOf<"SALE" | "LIMIT" | "INSUFFICIENT" | "NO_SECTION" | "REUSED">;
export type HoldBestAvailableReply =
  | (HoldMade & { seatIds: string[] })
  | HoldReplay
  | NoEvent
  /** The event's row lists are missing (loaded before they existed): write them and call again. */
  | { code: "NO_ROWS" }
  | RefusalOf<"SALE" | "LIMIT" | "TAKEN" | "REUSED">;
export type ExtendHoldReply =
  | { code: "OK"; expiresMs: number }
  | { code: "REPLAY" }
  | RefusalOf<"NOT_FOUND" | "NOT_OWNED" | "EXPIRED" | "NOT_ACTIVE" | "EXTENSION_LIMIT">;
type PinRefusal = RefusalOf<"NOT_FOUND" | "NOT_OWNED" | "EXPIRED" | "SOLD" | "NOT_ACTIVE" | "SALE">;
/** expiresMs: one per hold, in the order given; a refusal names the hold it concerns. */
export type PinHoldsReply = { code: "OK"; expiresMs: number[] } | (PinRefusal & { holdId: string });
export type ReleaseHoldReply =
  /** Ended now (state E: it had expired; R: released); its seats are free. */
  | { code: "ENDED"; state: string }
  /** Ended earlier (R or E). */
  | { code: "FINAL"; state: string }
  /** Mode expire: the hold is not expired (extended meanwhile). */
  | { code: "ACTIVE" }
  | RefusalOf<"NOT_FOUND" | "NOT_OWNED" | "SOLD" | "PINNED">;

interface HoldKeyInput {
  eventId: string;
  holdId: string;
  /** The buyer the hold belongs to. */
  buyerId: string;
}

interface NewHoldInput extends HoldKeyInput {
  /** The event has a waiting room: the hold also takes the buyer off its admitted-without-hold list. */
  waitingRoom: boolean;
  /**
   * The hash of what the request asks for, stored with the hold: a later call
   * under the same hold id with another hash is answered REUSED, not REPLAY.
   */
  requestHash: string;
}

/** A hold of an event's general-admission section, or "" for reserved seats. */
interface SectionInput extends HoldKeyInput {
  sectionId: string;
}

export class HoldScripts {
  constructor(private readonly runner: ScriptRunner) {}

  /** lua/hold_seats.lua: specific seats, all or nothing. */
  holdSeats(i: NewHoldInput & { seatIds: readonly string[] }): Promise<HoldSeatsReply> {
    const k = eventKeys(i.eventId);
    // One array in EVALSHA's layout (count, KEYS, ARGV): the hot path builds nothing else.
    const argv: ScriptArgv = [
      i.waitingRoom ? 8 : 7,
      k.meta,
      k.seats,
      k.hold(i.holdId),
      k.buyer(i.buyerId),
      k.expiries,
      k.version,
      k.changes,
    ];
    if (i.waitingRoom) argv.push(queueKeys(i.eventId).fresh);
    argv.push(i.holdId, i.buyerId, i.requestHash);
    for (const seatId of i.seatIds) argv.push(seatId);
    return this.runner.run("hold_seats", argv).then(decodeNewHold) as Promise<HoldSeatsReply>;
  }

  /** lua/hold_quantity.lua: a quantity of a general-admission section. */
  holdQuantity(i: NewHoldInput & { sectionId: string; quantity: number }): Promise<HoldQuantityReply> {
    const k = eventKeys(i.eventId);
    const argv: ScriptArgv = [
      i.waitingRoom ? 10 : 9,
      k.meta,
      k.ga(i.sectionId),
      k.gaQuantities(i.sectionId),
      k.gaExpiries(i.sectionId),
      k.hold(i.holdId),
      k.buyer(i.buyerId),
      k.expiries,
      k.version,
      k.changes,
    ];
    if (i.waitingRoom) argv.push(queueKeys(i.eventId).fresh);
    argv.push(i.holdId, i.buyerId, i.sectionId, i.quantity, i.requestHash);
    return this.runner.run("hold_quantity", argv).then(decodeNewHold) as Promise<HoldQuantityReply>;
  }

  /** lua/hold_best_available.lua: the best adjacent block; `filter` as events/layout.ts bestAvailableFilter. */
  holdBestAvailable(i: NewHoldInput & { quantity: number; filter: string }): Promise<HoldBestAvailableReply> {
    const k = eventKeys(i.eventId);
    const argv: ScriptArgv = [
      i.waitingRoom ? 11 : 10,
      k.meta,
      k.seats,
      k.hold(i.holdId),
      k.buyer(i.buyerId),
      k.expiries,
      k.version,
      k.changes,
      k.rowHints,
      k.rows,
      k.rowCursor,
    ];
    if (i.waitingRoom) argv.push(queueKeys(i.eventId).fresh);
    argv.push(i.holdId, i.buyerId, i.quantity, i.filter, i.requestHash);
    return this.runner.run("hold_best_available", argv).then(decodeBestAvailable);
  }

  /** lua/extend_hold.lua: by the event's time-to-live, idempotent per request id. */
  extendHold(i: SectionInput & { requestId: string }): Promise<ExtendHoldReply> {
    const k = eventKeys(i.eventId);
    const argv: ScriptArgv = [
      7,
      k.meta,
      k.hold(i.holdId),
      k.seats,
      k.buyer(i.buyerId),
      k.expiries,
      k.extendRequest(i.holdId, i.requestId),
      // Any key of the event's slot when the hold has no section: the script reads it only for one.
      k.gaExpiries(i.sectionId || "_"),
      i.holdId,
      i.buyerId,
    ];
    return this.runner.run("extend_hold", argv).then((r): ExtendHoldReply => {
      const code = r[0];
      if (code === "OK") return { code, expiresMs: Number(r[1]) };
      if (code === "REPLAY") return { code };
      if (code === "LIMIT") return { code: "EXTENSION_LIMIT", reached: String(r[1]) };
      return holdStateRefusal("extend_hold", r) as ExtendHoldReply;
    });
  }

  /**
   * lua/pin_hold.lua: the holds of one order cannot expire for `pinMs` (a
   * checkout pays for them); all or none.
   */
  pinHolds(i: {
    eventId: string;
    buyerId: string;
    orderId: string;
    holds: readonly { holdId: string; sectionId: string }[];
    pinMs: number;
  }): Promise<PinHoldsReply> {
    const k = eventKeys(i.eventId);
    const argv: ScriptArgv = [4 + 2 * i.holds.length, k.meta, k.seats, k.buyer(i.buyerId), k.expiries];
    // Any key of the event's slot when a hold has no section: the script reads it only for one.
    for (const h of i.holds) argv.push(k.hold(h.holdId), k.gaExpiries(h.sectionId || "_"));
    argv.push(i.buyerId, i.pinMs, i.orderId);
    for (const h of i.holds) argv.push(h.holdId);
    return this.runner.run("pin_hold", argv).then((r): PinHoldsReply => {
      if (r[0] === "OK") return { code: "OK", expiresMs: r.slice(1).map(Number) };
      // Refusals name their hold second: {code, holdId, state?}.
      const holdId = String(r[1]);
      return { ...(holdStateRefusal("pin_hold", [r[0]!, ...r.slice(2)]) as PinRefusal), holdId };
    });
  }

  /** lua/release_hold.lua: `asking` is the buyer who asks ('' for system and expire). */
  releaseHold(i: SectionInput & { asking: string; mode: "buyer" | "system" | "expire" }): Promise<ReleaseHoldReply> {
    const keys = holdFreeingKeys(i);
    const argv: ScriptArgv = [keys.length, ...keys, i.holdId, i.asking, i.mode];
    return this.runner.run("release_hold", argv).then((r): ReleaseHoldReply => {
      const code = r[0];
      if (code === "ENDED" || code === "FINAL") return { code, state: String(r[1]) };
      if (code === "ACTIVE" || code === "PINNED") return { code };
      return holdStateRefusal("release_hold", r) as ReleaseHoldReply;
    });
  }

  /** lua/sell_hold.lua after MySQL committed the sale; MISSING: Redis lost the hold (rebuild from MySQL). */
  sellHold(i: SectionInput): Promise<"OK" | "MISSING"> {
    const k = eventKeys(i.eventId);
    const argv: ScriptArgv = [
      i.sectionId ? 10 : 7,
      k.meta,
      k.hold(i.holdId),
      k.seats,
      k.buyer(i.buyerId),
      k.expiries,
      k.version,
      k.changes,
    ];
    if (i.sectionId) argv.push(k.ga(i.sectionId), k.gaQuantities(i.sectionId), k.gaExpiries(i.sectionId));
    argv.push(i.holdId);
    return this.runner.run("sell_hold", argv).then(okOrMissing);
  }

  /** lua/unsell_hold.lua after MySQL recorded the refund; MISSING as for sellHold. */
  unsellHold(i: SectionInput): Promise<"OK" | "MISSING"> {
    const k = eventKeys(i.eventId);
    const argv: ScriptArgv = [
      i.sectionId ? 9 : 8,
      k.meta,
      k.hold(i.holdId),
      k.seats,
      k.buyer(i.buyerId),
      k.version,
      k.changes,
      k.rowHints,
      k.rowCursor,
    ];
    if (i.sectionId) argv.push(k.ga(i.sectionId));
    argv.push(i.holdId);
    return this.runner.run("unsell_hold", argv).then(okOrMissing);
  }
}

/**
 * The replies of the three scripts that make a hold (their headers list
 * which codes each answers). OK comes first and reads no more than it must:
 * this is on every hold.
 */
function decodeNewHold(r: ScriptReply): HoldSeatsReply | HoldQuantityReply {
  const code = r[0];
  switch (code) {
    case "OK":
      return { code, holdId: String(r[1]), createdMs: Number(r[2]), expiresMs: Number(r[3]) };
    case "REPLAY":
    case "REUSED":
      return { code, holdId: String(r[1]) };
    case "NO_EVENT":
    case "NO_SECTION":
      return { code };
    case "SALE":
      return { code, state: String(r[1]) };
    case "LIMIT":
      return { code, counted: Number(r[1]), limit: Number(r[2]) };
    case "TAKEN":
      return { code, seats: r.slice(1).map(String) };
    case "INSUFFICIENT":
      return { code, free: Number(r[1]) };
    default:
      throw unexpectedReply("a hold script", code);
  }
}

function decodeBestAvailable(r: ScriptReply): HoldBestAvailableReply {
  const code = r[0];
  if (code === "OK") {
    return {
      code,
      holdId: String(r[1]),
      createdMs: Number(r[2]),
      expiresMs: Number(r[3]),
      seatIds: r.slice(4).map(String),
    };
  }
  if (code === "NO_ROWS") return { code };
  return decodeNewHold(r) as HoldBestAvailableReply;
}

/** The refusals of the scripts that act on an existing hold. */
function holdStateRefusal(script: string, r: ScriptReply): Refusal {
  const code = r[0];
  switch (code) {
    case "NOT_FOUND":
    case "NOT_OWNED":
    case "EXPIRED":
    case "PINNED":
    case "SOLD":
      return { code };
    case "NOT_ACTIVE":
    case "SALE":
      return { code, state: String(r[1]) };
    default:
      throw unexpectedReply(script, code);
  }
}

function okOrMissing(r: ScriptReply): "OK" | "MISSING" {
  return r[0] === "OK" ? "OK" : "MISSING";
}
