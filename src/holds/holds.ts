// Holds: the hot path. Validates against the cached layout, then one Lua
// script decides atomically (lua/hold_*.lua); touches Redis only.
import { hash } from "node:crypto";
import { AppError, type Reason } from "../domain/errors.js";
import type { RedisClient } from "../adapters/redis/client.js";
import { eventKeys, queueKeys } from "../adapters/redis/keys.js";
import type { ScriptReply, Scripts } from "../adapters/redis/scripts.js";
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

/**
 * The waiting-room seam: decides whether a buyer may hold for an event.
 * Admission tokens arrive with the waiting-room issue (#4); until then the
 * gate refuses every hold on an event whose waiting room is on (fail closed).
 */
export interface AdmissionGate {
  check(index: SeatIndex, buyerId: string, token: string): Promise<void>;
}

export const waitingRoomNotYetAvailable: AdmissionGate = {
  async check(index) {
    if (index.layout.waitingRoom.enabled) {
      throw new AppError(
        "ADMISSION_TOKEN_INVALID",
        "this event's waiting room is on, and admission tokens are not issued yet (issue #4)",
      );
    }
  },
};

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
const SALE_REASONS: Record<string, Reason> = {
  SCHEDULED: "SALE_NOT_OPEN",
  PAUSED: "SALE_PAUSED",
  CLOSED: "SALE_CLOSED",
};

/**
 * A hold's id is derived from the event, the buyer and the request id, so the
 * hold itself is what makes a hold request idempotent: a retry addresses the
 * same key and the script answers REPLAY (no separate request record to
 * write). 96 bits of SHA-256: ids do not collide; request ids are meant to be
 * single use (a UUID per attempt), and a retry finds its hold for a day past
 * the hold's end (lua/includes/common.lua).
 */
export function holdIdFor(eventId: string, buyerId: string, requestId: string): string {
  return `h_${hash("sha256", `${eventId}\n${buyerId}\n${requestId}`, "base64url").slice(0, 16)}`;
}

export class Holds {
  constructor(
    private readonly redis: RedisClient,
    private readonly scripts: Scripts,
    private readonly inventory: Inventory,
    private readonly gate: AdmissionGate = waitingRoomNotYetAvailable,
    /** Explains an event with no live inventory: unknown, or being rebuilt. */
    private readonly missingInventory: (eventId: string) => Promise<AppError> = async (eventId) =>
      new AppError("EVENT_NOT_FOUND", `event ${eventId} not found`),
    private readonly observer: HoldObserver = UNOBSERVED,
  ) {}

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
    const k = eventKeys(target.eventId);
    const started = process.hrtime.bigint();
    const reply = await this.scripts.run(
      "hold_seats",
      [
        k.meta,
        k.seats,
        k.hold(holdId),
        k.buyer(target.buyerId),
        k.expiries,
        k.version,
        k.changes,
        ...firstHoldKeys(target.eventId, index),
      ],
      [holdId, target.buyerId, ...seatIds],
    );
    this.observer.holdScriptDone("hold_seats", started, target.eventId, "seats", String(reply[0]));
    return this.holdResult(target, index, reply, { seatIds, sectionId: "", quantity: seatIds.length });
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
    const k = eventKeys(target.eventId);
    const started = process.hrtime.bigint();
    const reply = await this.scripts.run(
      "hold_quantity",
      [
        k.meta,
        k.ga(sectionId),
        k.gaQuantities(sectionId),
        k.gaExpiries(sectionId),
        k.hold(holdId),
        k.buyer(target.buyerId),
        k.expiries,
        k.version,
        k.changes,
        ...firstHoldKeys(target.eventId, index),
      ],
      [holdId, target.buyerId, sectionId, quantity],
    );
    this.observer.holdScriptDone("hold_quantity", started, target.eventId, "quantity", String(reply[0]));
    return this.holdResult(target, index, reply, { seatIds: [], sectionId, quantity });
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
    const holdId = holdIdFor(target.eventId, target.buyerId, target.requestId);
    const k = eventKeys(target.eventId);
    const keys = [
      k.meta,
      k.seats,
      k.hold(holdId),
      k.buyer(target.buyerId),
      k.expiries,
      k.version,
      k.changes,
      k.rowHints,
      k.rows,
      k.rowCursor,
      ...firstHoldKeys(target.eventId, index),
    ];
    const args = [holdId, target.buyerId, quantity, bestAvailableFilter(filter.priceCategoryId, filter.sectionId)];
    const started = process.hrtime.bigint();
    let reply = await this.scripts.run("hold_best_available", keys, args);
    if (reply[0] === "NO_ROWS") {
      await this.inventory.writeBestAvailableRows(index);
      reply = await this.scripts.run("hold_best_available", keys, args);
    }
    this.observer.holdScriptDone("hold_best_available", started, target.eventId, "best_available", String(reply[0]));
    if (reply[0] === "TAKEN") {
      throw new AppError("SEATS_UNAVAILABLE", `no ${quantity} adjacent seats are free`, {
        metadata: { quantity: String(quantity) },
      });
    }
    const seatIds = reply.slice(4).map(String);
    return this.holdResult(target, index, reply, { seatIds, sectionId: "", quantity });
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
    const k = eventKeys(eventId);
    const reply = await this.scripts.run(
      "extend_hold",
      [
        k.meta,
        k.hold(holdId),
        k.seats,
        k.buyer(buyerId),
        k.expiries,
        k.extendRequest(holdId, requestId),
        k.gaExpiries(hold.sectionId || "_"),
      ],
      [holdId, buyerId],
    );
    const code = String(reply[0]);
    if (code === "OK" || code === "REPLAY") return this.getHold(eventId, holdId);
    throw holdError(code, String(reply[1] ?? ""), holdId);
  }

  /** Releases for the buyer (idempotent), or for the system (`buyerId` undefined: a failed checkout). */
  async releaseHold(eventId: string, holdId: string, buyerId: string | undefined): Promise<Hold> {
    const hold = await this.getHold(eventId, holdId);
    if (buyerId !== undefined && hold.buyerId !== buyerId) throw holdError("NOT_OWNED", "", holdId);
    const reply = await this.runRelease(hold, buyerId === undefined ? "system" : "buyer", buyerId ?? "");
    if (reply[0] === "ENDED")
      this.observer.holdEnded(eventId, buyerId === undefined ? "checkout_failed" : "released", 1);
    return this.getHold(eventId, holdId);
  }

  /** Pins an active hold for checkout so it cannot expire while payment is in flight. */
  async pinHold(eventId: string, holdId: string, buyerId: string, pinMs: number): Promise<Hold> {
    const hold = await this.getHold(eventId, holdId);
    const k = eventKeys(eventId);
    const reply = await this.scripts.run(
      "pin_hold",
      [k.meta, k.hold(holdId), k.seats, k.buyer(buyerId), k.expiries, k.gaExpiries(hold.sectionId || "_")],
      [holdId, buyerId, pinMs],
    );
    const code = String(reply[0]);
    if (code !== "OK") throw holdError(code, String(reply[1] ?? ""), holdId);
    return { ...hold, state: "PINNED", expireTime: new Date(Number(reply[1])) };
  }

  /**
   * Marks a hold sold after MySQL committed the sale; "MISSING" when Redis no
   * longer has the hold in this epoch (the caller rebuilds from MySQL).
   */
  async markSold(hold: Pick<Hold, "eventId" | "holdId" | "buyerId" | "sectionId">): Promise<"OK" | "MISSING"> {
    const k = eventKeys(hold.eventId);
    const keys = [k.meta, k.hold(hold.holdId), k.seats, k.buyer(hold.buyerId), k.expiries, k.version, k.changes];
    if (hold.sectionId) keys.push(k.ga(hold.sectionId), k.gaQuantities(hold.sectionId), k.gaExpiries(hold.sectionId));
    const reply = await this.scripts.run("sell_hold", keys, [hold.holdId]);
    return reply[0] === "OK" ? "OK" : "MISSING";
  }

  /** Puts a refunded hold's seats back on sale; "MISSING" as for markSold. */
  async markUnsold(hold: Pick<Hold, "eventId" | "holdId" | "buyerId" | "sectionId">): Promise<"OK" | "MISSING"> {
    const k = eventKeys(hold.eventId);
    const keys = [
      k.meta,
      k.hold(hold.holdId),
      k.seats,
      k.buyer(hold.buyerId),
      k.version,
      k.changes,
      k.rowHints,
      k.rowCursor,
    ];
    if (hold.sectionId) keys.push(k.ga(hold.sectionId));
    const reply = await this.scripts.run("unsell_hold", keys, [hold.holdId]);
    return reply[0] === "OK" ? "OK" : "MISSING";
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
      const reply = await this.runRelease(hold, "expire", "");
      if (reply[0] === "ENDED") reclaimed++;
    }
    if (reclaimed > 0) this.observer.holdEnded(eventId, "expired", reclaimed);
    return reclaimed;
  }

  /** Redis's clock, the one the scripts judge expiry by. */
  private async nowMs(): Promise<number> {
    const [seconds, micros] = await this.redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  private runRelease(hold: Hold, mode: "buyer" | "system" | "expire", asking: string): Promise<ScriptReply> {
    const k = eventKeys(hold.eventId);
    const keys = [
      k.meta,
      k.hold(hold.holdId),
      k.seats,
      k.buyer(hold.buyerId),
      k.expiries,
      k.version,
      k.changes,
      k.rowHints,
      k.rowCursor,
    ];
    if (hold.sectionId) keys.push(k.ga(hold.sectionId), k.gaQuantities(hold.sectionId), k.gaExpiries(hold.sectionId));
    return this.scripts.run("release_hold", keys, [hold.holdId, asking, mode]).then((reply) => {
      const code = String(reply[0]);
      if (code === "ENDED" || code === "FINAL" || code === "ACTIVE") return reply;
      throw holdError(code, "", hold.holdId);
    });
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
    if (index.layout.waitingRoom.enabled) await this.gate.check(index, target.buyerId, target.admissionToken);
    return index;
  }

  private checkQuantity(v: Validator, field: string, quantity: number, index: SeatIndex): void {
    const limit = index.layout.maxTicketsPerBuyer;
    if (!Number.isInteger(quantity) || quantity < 1) v.add(field, "must hold at least one seat");
    else if (quantity > limit) v.add(field, `at most ${limit} tickets per buyer for this event`);
  }

  /** The new hold (synchronously: the common case), or the refusal's error. */
  private holdResult(
    target: HoldTarget,
    index: SeatIndex,
    reply: ScriptReply,
    what: { seatIds: string[]; sectionId: string; quantity: number },
  ): Hold | Promise<Hold> {
    if (reply[0] !== "OK") return this.holdRefused(target, index, reply, what);
    return {
      holdId: String(reply[1]),
      eventId: target.eventId,
      buyerId: target.buyerId,
      state: "ACTIVE",
      seatIds: what.seatIds,
      sectionId: what.sectionId,
      quantity: what.quantity,
      createTime: new Date(Number(reply[2])),
      expireTime: new Date(Number(reply[3])),
      extensionsUsed: 0,
      maxExtensions: index.layout.holdPolicy.maxExtensions,
    };
  }

  private async holdRefused(
    target: HoldTarget,
    index: SeatIndex,
    reply: ScriptReply,
    what: { seatIds: string[]; sectionId: string; quantity: number },
  ): Promise<Hold> {
    const code = String(reply[0]);
    switch (code) {
      case "REPLAY":
        return this.getHold(target.eventId, String(reply[1]));
      case "NO_EVENT":
        throw await this.missingInventory(target.eventId);
      case "SALE": {
        const state = String(reply[1]);
        throw new AppError(SALE_REASONS[state] ?? "SALE_NOT_OPEN", `the sale is ${state.toLowerCase()}`, {
          metadata: { sale_state: state },
        });
      }
      case "LIMIT":
        throw new AppError(
          "LIMIT_EXCEEDED",
          `buyer already holds or bought ${String(reply[1])} of at most ${String(reply[2])} tickets`,
          {
            metadata: { counted: String(reply[1]), limit: String(reply[2]) },
            retryAfterMs: index.layout.holdPolicy.ttlSeconds * 1000,
          },
        );
      case "TAKEN": {
        const taken = reply.slice(1).map(String);
        throw new AppError("SEATS_UNAVAILABLE", `seats already taken: ${taken.join(", ")}`, {
          metadata: { taken_seats: taken.join(",") },
        });
      }
      case "INSUFFICIENT":
        throw new AppError("INSUFFICIENT_CAPACITY", `only ${String(reply[1])} places left in ${what.sectionId}`, {
          metadata: { available: String(reply[1]) },
        });
      case "NO_SECTION":
        throw new AppError("SECTION_NOT_FOUND", `no general-admission section ${what.sectionId}`);
      default:
        throw new Error(`unexpected hold script reply ${code}`);
    }
  }
}

/**
 * With a waiting room, a hold also takes the buyer off the room's list of
 * admitted shoppers who have not held yet (admission counts those against the
 * seats left; lua/queue_step.lua). Without one, the scripts get no such key.
 */
function firstHoldKeys(eventId: string, index: SeatIndex): string[] {
  return index.layout.waitingRoom.enabled ? [queueKeys(eventId).fresh] : [];
}

function holdError(code: string, detail: string, holdId: string): AppError {
  switch (code) {
    case "NOT_FOUND":
      return new AppError("HOLD_NOT_FOUND", `hold ${holdId} not found`);
    case "NOT_OWNED":
      return new AppError("HOLD_NOT_OWNED", `hold ${holdId} belongs to another buyer`);
    case "EXPIRED":
      return new AppError("HOLD_EXPIRED", `hold ${holdId} has expired`);
    case "PINNED":
      return new AppError("HOLD_NOT_ACTIVE", `hold ${holdId} is being paid for`, {
        metadata: { hold_state: "PINNED" },
      });
    case "SOLD":
      return new AppError("HOLD_NOT_ACTIVE", `hold ${holdId} is sold`, { metadata: { hold_state: "SOLD" } });
    case "NOT_ACTIVE":
      return new AppError(
        "HOLD_NOT_ACTIVE",
        `hold ${holdId} is ${STATE_BY_CODE[detail]?.toLowerCase() ?? "not active"}`,
        {
          metadata: { hold_state: STATE_BY_CODE[detail] ?? detail },
        },
      );
    case "LIMIT":
      return new AppError(
        "EXTENSION_LIMIT_REACHED",
        detail === "lifetime"
          ? `hold ${holdId} has reached its maximum lifetime`
          : `hold ${holdId} has no extensions left`,
        { metadata: { limit: detail } },
      );
    default:
      return new AppError("INTERNAL", `unexpected hold script reply ${code}`);
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
