// Holds: the hot path. Validates against the cached layout, then one Lua
// script decides atomically (lua/hold_*.lua); touches Redis only.
import { hash } from "node:crypto";
import { AppError } from "../domain/errors.js";
import type { RedisClient } from "../adapters/redis/client.js";
import type {
  HoldBestAvailableReply,
  HoldMade,
  HoldQuantityReply,
  HoldScripts,
  HoldSeatsReply,
} from "../adapters/redis/hold-scripts.js";
import { eventKeys } from "../adapters/redis/keys.js";
import { refusalError } from "../adapters/redis/script-errors.js";
import type { Scripts } from "../adapters/redis/scripts.js";
import type { Inventory } from "../events/inventory.js";
import { bestAvailableFilter, type SeatIndex } from "../events/layout.js";
import { Validator } from "../domain/validation.js";

export type HoldState = "ACTIVE" | "PINNED" | "SOLD" | "RELEASED" | "EXPIRED";

export interface Hold {
  holdId: string;
  eventId: string;
  buyerId: string;
  state: HoldState;
  seatIds: string[];
  /** General admission only. */
  sectionId: string;
  quantity: number;
  createTime: Date;
  expireTime: Date;
  extensionsUsed: number;
  maxExtensions: number;
}

/** Decides whether a buyer may hold for an event whose waiting room is on (the admission token). */
export interface AdmissionGate {
  check(index: SeatIndex, buyerId: string, token: string): Promise<void>;
}

/** Where the hold path reports script times and outcomes (metrics); a no-op by default. */
export interface HoldObserver {
  /** After a hold script answered; `code` is its first reply element (OK, REPLAY, TAKEN, LIMIT, ...). */
  holdScriptDone(script: string, startedNs: bigint, eventId: string, kind: string, code: string): void;
  /** A hold this process ended (a sale is counted by the checkout instead). */
  holdEnded(eventId: string, reason: "released" | "checkout_failed" | "expired", count: number): void;
}

const UNOBSERVED: HoldObserver = { holdScriptDone: () => undefined, holdEnded: () => undefined };

interface HoldTarget {
  eventId: string;
  buyerId: string;
  requestId: string;
  admissionToken: string;
}

const STATE_BY_CODE: Record<string, HoldState> = { A: "ACTIVE", P: "PINNED", S: "SOLD", R: "RELEASED", E: "EXPIRED" };

/**
 * A hold's id is derived from the event, the buyer and the request id, so the
 * hold itself is what makes a hold request idempotent: a retry addresses the
 * same key and the script answers REPLAY (no separate request record to
 * write), or REUSED when the hold was made for another request (the hold
 * keeps holdRequestHash of what it was made for). 96 bits of SHA-256: ids do not collide; request ids are meant to be
 * single use (a UUID per attempt), and a retry finds its hold for a day past
 * the hold's end (lua/includes/common.lua).
 */
export function holdIdFor(eventId: string, buyerId: string, requestId: string): string {
  return `h_${hash("sha256", `${eventId}\n${buyerId}\n${requestId}`, "base64url").slice(0, 16)}`;
}

/**
 * The hash of what a hold request asks for, stored with the hold
 * (lua/includes/common.lua): a request id reused for another request is
 * answered REQUEST_ID_REUSED instead of the first hold. Who asks and under
 * which request id are already in the hold id; the admission token is a
 * credential, not part of what is asked (a retry may carry a fresh one).
 * Seat ids are sorted: the same seats in another order are the same request.
 */
export function holdRequestHash(
  what:
    | { kind: "seats"; seatIds: readonly string[] }
    | { kind: "quantity"; sectionId: string; quantity: number }
    | { kind: "best"; quantity: number; filter: string },
): string {
  const text =
    what.kind === "seats"
      ? `seats\n${[...what.seatIds].sort().join(",")}`
      : what.kind === "quantity"
        ? `quantity\n${what.sectionId}\n${what.quantity}`
        : `best\n${what.quantity}\n${what.filter}`;
  return hash("sha256", text, "base64url").slice(0, 16);
}

export interface HoldsDeps {
  redis: RedisClient;
  scripts: Scripts;
  inventory: Inventory;
  /**
   * Checks admission tokens on events whose waiting room is on. Without one
   * (a process that never takes holds, such as the worker) such holds are
   * refused: fail closed.
   */
  gate?: AdmissionGate;
  /** Explains an event with no live inventory: unknown, or being rebuilt. EVENT_NOT_FOUND by default. */
  missingInventory?: (eventId: string) => Promise<AppError>;
  /** Script times and hold outcomes (metrics); none by default. */
  observer?: HoldObserver;
}

type NewHold = Pick<Hold, "seatIds" | "sectionId" | "quantity">;

export class Holds {
  private readonly redis: RedisClient;
  private readonly scripts: HoldScripts;
  private readonly inventory: Inventory;
  private readonly gate: AdmissionGate | undefined;
  private readonly missingInventory: (eventId: string) => Promise<AppError>;
  private readonly observer: HoldObserver;

  constructor(deps: HoldsDeps) {
    this.redis = deps.redis;
    this.scripts = deps.scripts.holds;
    this.inventory = deps.inventory;
    this.gate = deps.gate;
    this.missingInventory =
      deps.missingInventory ?? (async (eventId) => new AppError("EVENT_NOT_FOUND", `event ${eventId} not found`));
    this.observer = deps.observer ?? UNOBSERVED;
  }

  /** Specific reserved seats, all or nothing. */
  async holdSeats(target: HoldTarget, seatIds: string[]): Promise<Hold> {
    const ready = this.admitNow(target);
    const index = ready ?? (await this.admit(target));
    const v = new Validator();
    const seen = new Set<string>();
    seatIds.forEach((id, i) => {
      if (seen.has(id)) v.add(`seats.seat_ids[${i}]`, `duplicate seat ${id}`);
      else if (!index.seat(id)) v.add(`seats.seat_ids[${i}]`, `no seat ${id} in this event`);
      seen.add(id);
    });
    this.checkQuantity(v, "seats.seat_ids", seatIds.length, index);
    if (!v.ok) {
      const unknown = v.violations.some((x) => x.description.startsWith("no seat"));
      if (unknown && v.violations.every((x) => x.description.startsWith("no seat"))) {
        throw new AppError("SEAT_NOT_FOUND", v.violations.map((x) => x.description).join("; "), {
          fieldViolations: v.violations,
        });
      }
      v.check();
    }
    const holdId = holdIdFor(target.eventId, target.buyerId, target.requestId);
    const started = process.hrtime.bigint();
    const reply = await this.scripts.holdSeats({
      eventId: target.eventId,
      holdId,
      buyerId: target.buyerId,
      waitingRoom: index.layout.waitingRoom.enabled,
      requestHash: holdRequestHash({ kind: "seats", seatIds }),
      seatIds,
    });
    this.observer.holdScriptDone("hold_seats", started, target.eventId, "seats", reply.code);
    if (reply.code === "OK")
      return this.newHold(target, index, reply, { seatIds, sectionId: "", quantity: seatIds.length });
    return this.holdRefused(target, index, reply, { sectionId: "", quantity: seatIds.length });
  }

  /** A quantity in a general-admission section. */
  async holdQuantity(target: HoldTarget, sectionId: string, quantity: number): Promise<Hold> {
    const ready = this.admitNow(target);
    const index = ready ?? (await this.admit(target));
    const section = index.section(sectionId);
    if (!section?.generalAdmission) {
      throw new AppError("SECTION_NOT_FOUND", `no general-admission section ${sectionId} in this event`, {
        fieldViolations: [{ field: "general_admission.section_id", description: "no such general-admission section" }],
      });
    }
    const v = new Validator();
    this.checkQuantity(v, "general_admission.quantity", quantity, index);
    v.check();
    const holdId = holdIdFor(target.eventId, target.buyerId, target.requestId);
    const started = process.hrtime.bigint();
    const reply = await this.scripts.holdQuantity({
      eventId: target.eventId,
      holdId,
      buyerId: target.buyerId,
      waitingRoom: index.layout.waitingRoom.enabled,
      requestHash: holdRequestHash({ kind: "quantity", sectionId, quantity }),
      sectionId,
      quantity,
    });
    this.observer.holdScriptDone("hold_quantity", started, target.eventId, "quantity", reply.code);
    if (reply.code === "OK") return this.newHold(target, index, reply, { seatIds: [], sectionId, quantity });
    return this.holdRefused(target, index, reply, { sectionId, quantity });
  }

  /** The best adjacent block of `quantity` seats, optionally in one category or section. */
  async holdBestAvailable(
    target: HoldTarget,
    quantity: number,
    filter: { priceCategoryId: string; sectionId: string },
  ): Promise<Hold> {
    const ready = this.admitNow(target);
    const index = ready ?? (await this.admit(target));
    const v = new Validator();
    this.checkQuantity(v, "quantity", quantity, index);
    if (
      filter.priceCategoryId &&
      !index.layout.priceCategories.some((c) => c.priceCategoryId === filter.priceCategoryId)
    ) {
      v.add("price_category_id", "no such price category in this event");
    }
    if (filter.sectionId && !index.section(filter.sectionId)?.rows) {
      v.add("section_id", "no such reserved-seating section in this event");
    }
    v.check();
    if (index.longestRow(filter.priceCategoryId, filter.sectionId) < quantity) {
      throw new AppError("SEATS_UNAVAILABLE", `no row has ${quantity} seats together`, {
        metadata: { quantity: String(quantity) },
      });
    }
    const filterKey = bestAvailableFilter(filter.priceCategoryId, filter.sectionId);
    const input = {
      eventId: target.eventId,
      holdId: holdIdFor(target.eventId, target.buyerId, target.requestId),
      buyerId: target.buyerId,
      waitingRoom: index.layout.waitingRoom.enabled,
      requestHash: holdRequestHash({ kind: "best", quantity, filter: filterKey }),
      quantity,
      filter: filterKey,
    };
    const started = process.hrtime.bigint();
    let reply = await this.scripts.holdBestAvailable(input);
    if (reply.code === "NO_ROWS") {
      await this.inventory.writeBestAvailableRows(index);
      reply = await this.scripts.holdBestAvailable(input);
    }
    this.observer.holdScriptDone("hold_best_available", started, target.eventId, "best_available", reply.code);
    if (reply.code === "OK") {
      return this.newHold(target, index, reply, { seatIds: reply.seatIds, sectionId: "", quantity });
    }
    if (reply.code === "NO_ROWS")
      throw new Error("hold_best_available found no row lists right after they were written");
    return this.holdRefused(target, index, reply, { sectionId: "", quantity });
  }

  async getHold(eventId: string, holdId: string): Promise<Hold> {
    const k = eventKeys(eventId);
    const [fields, epoch, now] = await Promise.all([
      this.redis.hgetall(k.hold(holdId)),
      this.redis.hget(k.meta, "epoch"),
      this.nowMs(),
    ]);
    if (!fields.buyer) throw new AppError("HOLD_NOT_FOUND", `hold ${holdId} not found in event ${eventId}`);
    return toHold(eventId, holdId, fields, epoch, now);
  }

  async extendHold(eventId: string, holdId: string, buyerId: string, requestId: string): Promise<Hold> {
    const hold = await this.getHold(eventId, holdId);
    const reply = await this.scripts.extendHold({ eventId, holdId, buyerId, sectionId: hold.sectionId, requestId });
    if (reply.code === "OK" || reply.code === "REPLAY") return this.getHold(eventId, holdId);
    throw refusalError(reply, { holdId });
  }

  /** Releases for the buyer (idempotent), or for the system (`buyerId` undefined: a failed checkout). */
  async releaseHold(eventId: string, holdId: string, buyerId: string | undefined): Promise<Hold> {
    const hold = await this.getHold(eventId, holdId);
    if (buyerId !== undefined && hold.buyerId !== buyerId) throw refusalError({ code: "NOT_OWNED" }, { holdId });
    const ended = await this.release(hold, buyerId === undefined ? "system" : "buyer", buyerId ?? "");
    if (ended) this.observer.holdEnded(eventId, buyerId === undefined ? "checkout_failed" : "released", 1);
    return this.getHold(eventId, holdId);
  }

  /**
   * Pins the holds of one order for checkout, all or none (lua/pin_hold.lua),
   * so none can expire while payment is in flight. A refusal names the hold
   * (metadata hold_id) and leaves every hold as it was.
   */
  async pinHolds(eventId: string, holdIds: readonly string[], buyerId: string, orderId: string, pinMs: number) {
    const holds = await Promise.all(
      holdIds.map((holdId) =>
        this.getHold(eventId, holdId).catch((err: unknown) => {
          if (err instanceof AppError) err.metadata.hold_id = holdId;
          throw err;
        }),
      ),
    );
    const reply = await this.scripts.pinHolds({ eventId, buyerId, orderId, holds, pinMs });
    if (reply.code !== "OK") {
      const err = refusalError(reply, { holdId: reply.holdId });
      err.metadata.hold_id = reply.holdId;
      throw err;
    }
    return holds.map((h, i): Hold => ({ ...h, state: "PINNED", expireTime: new Date(reply.expiresMs[i]!) }));
  }

  /**
   * Marks a hold sold after MySQL committed the sale; "MISSING" when Redis no
   * longer has the hold in this epoch (the caller repairs this hold's seats from MySQL).
   */
  markSold(hold: Pick<Hold, "eventId" | "holdId" | "buyerId" | "sectionId">): Promise<"OK" | "MISSING"> {
    return this.scripts.sellHold(hold);
  }

  /** Puts a refunded hold's seats back on sale; "MISSING" as for markSold. */
  markUnsold(hold: Pick<Hold, "eventId" | "holdId" | "buyerId" | "sectionId">): Promise<"OK" | "MISSING"> {
    return this.scripts.unsellHold(hold);
  }

  /** Reclaims holds of the event that expired by now; returns how many were reclaimed. */
  async reclaimExpired(eventId: string, batch = 500): Promise<number> {
    const k = eventKeys(eventId);
    const ids = await this.redis.zrangebyscore(k.expiries, "-inf", await this.nowMs(), "LIMIT", 0, batch);
    let reclaimed = 0;
    for (const holdId of ids) {
      const hold = await this.getHold(eventId, holdId).catch(() => undefined);
      if (!hold) {
        await this.redis.zrem(k.expiries, holdId);
        continue;
      }
      if (await this.release(hold, "expire", "")) reclaimed++;
    }
    if (reclaimed > 0) this.observer.holdEnded(eventId, "expired", reclaimed);
    return reclaimed;
  }

  /** Redis's clock, the one the scripts judge expiry by. */
  private async nowMs(): Promise<number> {
    const [seconds, micros] = await this.redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  /** Whether this call ended the hold (false: it had ended before, or is still active for mode expire). */
  private async release(hold: Hold, mode: "buyer" | "system" | "expire", asking: string): Promise<boolean> {
    const reply = await this.scripts.releaseHold({ ...hold, asking, mode });
    if (reply.code === "ENDED") return true;
    if (reply.code === "FINAL" || reply.code === "ACTIVE") return false;
    throw refusalError(reply, { holdId: hold.holdId });
  }

  /**
   * The hot path's shortcut: the event's layout is cached and it has no
   * waiting room, so there is nothing to wait for (no promise, no await: each
   * costs on every hold). Undefined: go through admit().
   */
  private admitNow(target: HoldTarget): SeatIndex | undefined {
    const index = this.inventory.cachedIndex(target.eventId);
    return index && !index.layout.waitingRoom.enabled ? index : undefined;
  }

  private async admit(target: HoldTarget): Promise<SeatIndex> {
    const index = await this.inventory.index(target.eventId);
    if (!index) throw await this.missingInventory(target.eventId);
    if (index.layout.waitingRoom.enabled) {
      if (!this.gate) throw new AppError("ADMISSION_TOKEN_INVALID", "this process checks no admission tokens");
      await this.gate.check(index, target.buyerId, target.admissionToken);
    }
    return index;
  }

  private checkQuantity(v: Validator, field: string, quantity: number, index: SeatIndex): void {
    const limit = index.layout.maxTicketsPerBuyer;
    if (!Number.isInteger(quantity) || quantity < 1) v.add(field, "must hold at least one seat");
    else if (quantity > limit) v.add(field, `at most ${limit} tickets per buyer for this event`);
  }

  private newHold(target: HoldTarget, index: SeatIndex, made: HoldMade, what: NewHold): Hold {
    return {
      holdId: made.holdId,
      eventId: target.eventId,
      buyerId: target.buyerId,
      state: "ACTIVE",
      seatIds: what.seatIds,
      sectionId: what.sectionId,
      quantity: what.quantity,
      createTime: new Date(made.createdMs),
      expireTime: new Date(made.expiresMs),
      extensionsUsed: 0,
      maxExtensions: index.layout.holdPolicy.maxExtensions,
    };
  }

  /**
   * A hold script did not make a new hold: the earlier one (a retry of the
   * same request), or the refusal's error (REUSED: the request id made a hold
   * for another request).
   */
  private async holdRefused(
    target: HoldTarget,
    index: SeatIndex,
    reply: Exclude<HoldSeatsReply | HoldQuantityReply | HoldBestAvailableReply, { code: "OK" | "NO_ROWS" }>,
    what: { sectionId: string; quantity: number },
  ): Promise<Hold> {
    if (reply.code === "REPLAY") return this.getHold(target.eventId, reply.holdId);
    if (reply.code === "NO_EVENT") throw await this.missingInventory(target.eventId);
    throw refusalError(reply, {
      requestId: target.requestId,
      sectionId: what.sectionId,
      quantity: what.quantity,
      limitRetryAfterMs: index.layout.holdPolicy.ttlSeconds * 1000,
    });
  }
}

/** A hold hash read at nowMs: an active hold past its expiry is EXPIRED; one from an older epoch was dropped by a rebuild. */
export function toHold(
  eventId: string,
  holdId: string,
  f: Record<string, string>,
  epoch: string | null,
  nowMs: number,
): Hold {
  let state = STATE_BY_CODE[f.state ?? ""] ?? "RELEASED";
  const expires = Number(f.expires);
  if ((state === "ACTIVE" || state === "PINNED") && f.epoch !== epoch) state = "RELEASED";
  else if ((state === "ACTIVE" || state === "PINNED") && expires <= nowMs) state = "EXPIRED";
  return {
    holdId,
    eventId,
    buyerId: f.buyer ?? "",
    state,
    seatIds: f.kind === "R" && f.seats ? f.seats.split(",") : [],
    sectionId: f.kind === "G" ? (f.section ?? "") : "",
    quantity: Number(f.qty ?? 0),
    createTime: new Date(Number(f.created)),
    expireTime: new Date(expires),
    extensionsUsed: Number(f.ext ?? 0),
    maxExtensions: Number(f.maxext ?? 0),
  };
}
