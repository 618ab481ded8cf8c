// The waiting room: joining, where a buyer stands, leaving, completing, and
// the admission step. Every decision is one Lua script (lua/queue_*.lua); the
// step may run from any API instance at any time (see lua/queue_step.lua).
import { createHash, randomBytes } from "node:crypto";
import type { RedisClient } from "../adapters/redis/client.js";
import { eventKeys, queueKeys } from "../adapters/redis/keys.js";
import type { ScriptReply, Scripts } from "../adapters/redis/scripts.js";
import { AppError } from "../domain/errors.js";
import { ID_PATTERN, Validator } from "../domain/validation.js";
import type { Inventory } from "../events/inventory.js";
import type { SeatIndex } from "../events/layout.js";
import type { AdmissionTokens } from "./admission.js";

export type QueueState =
  "PRE_QUEUE" | "WAITING" | "ADMITTED" | "EXPIRED" | "SOLD_OUT" | "LEFT" | "COMPLETED" | "SALE_CLOSED";

export interface QueueTicket {
  eventId: string;
  buyerId: string;
  state: QueueState;
  /** 1-based place among those waiting; 0 when not waiting (or still in the unshuffled pre-queue). */
  position: number;
  peopleAhead: number;
  estimatedWaitSeconds: number;
  /** Set when ADMITTED. */
  admissionToken: string;
  admissionExpireTime: Date | undefined;
  joinTime: Date | undefined;
  seatsMayReturn: boolean;
  shuffleSeedSha256: string;
  /** Revealed once the sale opened. */
  shuffleSeed: string;
  admissionRate: number;
  maxTickets: number;
}

export interface StepResult {
  status: "NO_EVENT" | "SCHEDULED" | "OPEN" | "PAUSED" | "CLOSED";
  version: number;
  admitted: number;
  expired: number;
  skipped: number;
  waiting: number;
  shopping: number;
  free: number;
  soldOut: boolean;
  seatsMayReturn: boolean;
  /** Holds past their expiry that nobody reclaimed yet: their seats are about to come back. */
  expiredHolds: number;
  /** Shoppers admitted within the first-hold grace who hold nothing yet (counted against `free`). */
  awaitingFirstHold: number;
  nowMs: number;
}

export interface WaitingRoomOptions {
  /** A waiting buyer unseen this long is skipped at the head of the line; 0 = never. */
  abandonMs: number;
  /**
   * How long an admitted shopper who holds nothing yet counts against the
   * seats left (so admission does not let in more buyers than seats); after
   * that they no longer hold back the line.
   */
  firstHoldGraceMs: number;
  /**
   * A gap between admission steps this long means no API instance was
   * stepping (an outage): waiting buyers then get a full `abandonMs` to be
   * seen again before anyone is skipped as abandoned.
   */
  outageMs: number;
  rateLimitWindowMs: number;
  /** Per buyer and window; 0 = unlimited. */
  joinLimit: number;
  positionLimit: number;
  /** Most buyers one step looks at (admitted plus skipped). */
  maxScanPerStep?: number;
}

/** What a buyer's ticket needs of the room (room_brief in lua/includes/queue.lua). */
export interface RoomBrief {
  saleState: string;
  openedMs: number | undefined;
  seedHash: string;
  seed: string;
  soldOut: boolean;
  seatsMayReturn: boolean;
  measuredRate: number;
}

/** The room as WatchQueue's feed sees it (room_view in lua/includes/queue.lua). */
export interface RoomView extends RoomBrief {
  version: number;
  waiting: number;
}

export interface BuyerView {
  /** W A L E X C, or '' when the buyer never joined. */
  code: string;
  position: number;
  joinMs: number;
  sessionExpiresMs: number;
  admittedMs: number;
}

const DEFAULT_MAX_SCAN = 5000;

export class WaitingRoom {
  private readonly maxScan: number;
  /** Events whose seed this process saw committed: no new candidate needed. */
  private readonly committed = new Set<string>();

  constructor(
    private readonly redis: RedisClient,
    private readonly scripts: Scripts,
    private readonly inventory: Inventory,
    private readonly admission: AdmissionTokens,
    private readonly options: WaitingRoomOptions,
    /** Explains an event with no live inventory (unknown, or being rebuilt). */
    private readonly missingInventory: (eventId: string) => Promise<AppError> = async (eventId) =>
      new AppError("EVENT_NOT_FOUND", `event ${eventId} not found`, { metadata: { event_id: eventId } }),
  ) {
    this.maxScan = options.maxScanPerStep ?? DEFAULT_MAX_SCAN;
  }

  /** JoinQueue: the buyer's ticket, and whether this call created it. */
  async join(eventId: string, buyerId: string): Promise<{ ticket: QueueTicket; created: boolean }> {
    const index = await this.room(eventId, buyerId);
    let reply = await this.runJoin(eventId, buyerId);
    if (reply === "NEED_SEED") {
      // Redis lost the room since this process saw its seed: commit a new one.
      this.committed.delete(eventId);
      reply = await this.runJoin(eventId, buyerId);
    }
    const f = reply.split("|");
    if (f[0] !== "OK") {
      if (f[0] === "RATE") throw rateLimited("JoinQueue", Number(f[1]));
      if (f[0] === "NO_EVENT") throw await this.missingInventory(eventId);
      if (f[0] === "CLOSED") {
        throw new AppError("SALE_CLOSED", "the sale is closed", {
          metadata: { event_id: eventId, sale_state: "CLOSED" },
        });
      }
      throw new Error(`queue_join answered ${reply}`);
    }
    const room = this.noteCommitted(eventId, roomBrief(f, 2));
    const buyer = buyerBrief(f, 9);
    const ticket = this.unsignedTicket(index, buyerId, room, buyer);
    return {
      ticket: ticket.state === "ADMITTED" ? await this.sign(index, ticket, buyer) : ticket,
      created: f[1] === "1",
    };
  }

  private runJoin(eventId: string, buyerId: string): Promise<string> {
    const q = queueKeys(eventId);
    const [seed, hash] = this.candidateSeed(eventId);
    return this.scripts.run(
      "queue_join",
      [eventKeys(eventId).meta, q.meta, q.line, q.recs, q.seen, q.rateLimit("j", buyerId)],
      [buyerId, seed, hash, this.options.joinLimit, this.options.rateLimitWindowMs],
    ) as unknown as Promise<string>;
  }

  /** GetQueuePosition: the buyer's ticket (with the admission token once admitted). */
  async position(eventId: string, buyerId: string): Promise<QueueTicket> {
    const index = await this.room(eventId, buyerId);
    const { room, buyer } = await this.view(eventId, buyerId, this.options.positionLimit);
    if (!buyer.code) {
      throw new AppError("QUEUE_TICKET_NOT_FOUND", `buyer ${buyerId} is not in the waiting room of ${eventId}`, {
        metadata: { event_id: eventId, buyer_id: buyerId },
      });
    }
    const ticket = this.unsignedTicket(index, buyerId, room, buyer);
    return ticket.state === "ADMITTED" ? this.sign(index, ticket, buyer) : ticket;
  }

  /** LeaveQueue: gives up the place or the shopping slot at once. Idempotent. */
  async leave(eventId: string, buyerId: string): Promise<void> {
    await this.room(eventId, buyerId);
    await this.end(eventId, buyerId, "L");
  }

  /**
   * For checkout: the buyer's order completed, so their shopping slot is free
   * for the next buyer. Harmless when the buyer is not shopping (or the event
   * has no waiting room).
   */
  async completeShopping(eventId: string, buyerId: string): Promise<void> {
    await completeShopping(this.scripts, eventId, buyerId);
  }

  /** One admission step for the event; undefined when it has no live state or no waiting room. */
  async step(eventId: string): Promise<StepResult | undefined> {
    const index = await this.inventory.index(eventId);
    if (!index?.layout.waitingRoom.enabled) return undefined;
    const wr = index.layout.waitingRoom;
    const k = eventKeys(eventId);
    const q = queueKeys(eventId);
    let reserved = 0;
    for (const s of index.layout.sections) for (const r of s.rows ?? []) reserved += r.seatCount;
    const reply = await this.scripts.run(
      "queue_step",
      [
        k.meta,
        q.meta,
        q.line,
        q.recs,
        q.shop,
        q.seen,
        k.seats,
        k.expiries,
        q.fresh,
        ...index.gaSections().map((s) => k.ga(s.sectionId)),
      ],
      [
        wr.admissionsPerSecond,
        wr.maxShopping,
        wr.sessionSeconds * 1000,
        this.options.abandonMs,
        reserved,
        this.maxScan,
        Math.min(this.options.firstHoldGraceMs, wr.sessionSeconds * 1000),
        this.options.outageMs,
      ],
    );
    const n = (i: number) => Number(reply[i] ?? 0);
    return {
      status: String(reply[0]) as StepResult["status"],
      version: n(1),
      admitted: n(2),
      expired: n(3),
      skipped: n(4),
      waiting: n(5),
      shopping: n(6),
      free: n(7),
      soldOut: reply[8] === "1",
      seatsMayReturn: reply[9] === "1",
      expiredHolds: n(10),
      nowMs: n(11),
      awaitingFirstHold: n(12),
    };
  }

  /**
   * The seed commitment of the event's pre-queue shuffle, committing one now
   * if there is none yet (for GetEvent; JoinQueue commits at the latest). The
   * seed itself only once the sale opened.
   */
  async commitment(eventId: string): Promise<{ seedSha256: string; seed: string }> {
    const { room } = await this.view(eventId, "_", 0);
    return { seedSha256: room.seedHash, seed: room.seed };
  }

  /** Views of many buyers at once (WatchQueue's feed); notes each as still there. */
  async views(
    eventId: string,
    buyerIds: string[],
  ): Promise<{ room: RoomView; buyers: BuyerView[]; nowMs: number } | undefined> {
    const q = queueKeys(eventId);
    const reply = await this.scripts.run(
      "queue_watch",
      [eventKeys(eventId).meta, q.meta, q.line, q.recs, q.seen],
      buyerIds,
    );
    if (reply[0] !== "OK") return undefined;
    const room = roomView(reply[2] as ScriptReply, 0);
    const flat = reply[3] as ScriptReply;
    const buyers = buyerIds.map((_, i) => buyerView(flat, i * 5));
    return { room, buyers, nowMs: Number(reply[1]) };
  }

  /** The ticket a buyer sees, from the views; signs the admission token when admitted. */
  ticket(index: SeatIndex, buyerId: string, room: RoomBrief, buyer: BuyerView): Promise<QueueTicket> {
    const ticket = this.unsignedTicket(index, buyerId, room, buyer);
    return ticket.state === "ADMITTED" ? this.sign(index, ticket, buyer) : Promise.resolve(ticket);
  }

  /** The ticket without its admission token (the only part that needs the signing pool). */
  private unsignedTicket(index: SeatIndex, buyerId: string, room: RoomBrief, buyer: BuyerView): QueueTicket {
    const layout = index.layout;
    const rate = room.measuredRate > 0 ? room.measuredRate : layout.waitingRoom.admissionsPerSecond;
    let state: QueueState;
    switch (buyer.code) {
      case "W":
        if (room.saleState === "CLOSED") state = "SALE_CLOSED";
        else if (room.openedMs === undefined) state = "PRE_QUEUE";
        else if (room.soldOut) state = "SOLD_OUT";
        else state = "WAITING";
        break;
      case "A":
        state = "ADMITTED";
        break;
      case "L":
        state = "LEFT";
        break;
      case "C":
        state = "COMPLETED";
        break;
      default:
        state = "EXPIRED";
    }
    const waiting = state === "WAITING" || state === "SOLD_OUT";
    const position = waiting ? buyer.position : 0;
    const ticket: QueueTicket = {
      eventId: layout.eventId,
      buyerId,
      state,
      position,
      peopleAhead: Math.max(0, position - 1),
      estimatedWaitSeconds: state === "WAITING" ? Math.ceil(position / rate) : 0,
      admissionToken: "",
      admissionExpireTime: undefined,
      joinTime: buyer.joinMs ? new Date(buyer.joinMs) : undefined,
      seatsMayReturn: state === "SOLD_OUT" && room.seatsMayReturn,
      shuffleSeedSha256: room.seedHash,
      shuffleSeed: room.seed,
      admissionRate: rate,
      maxTickets: layout.maxTicketsPerBuyer,
    };
    return ticket;
  }

  private async sign(index: SeatIndex, ticket: QueueTicket, buyer: BuyerView): Promise<QueueTicket> {
    const layout = index.layout;
    ticket.admissionExpireTime = new Date(buyer.sessionExpiresMs);
    ticket.admissionToken = await this.admission.issue({
      eventId: layout.eventId,
      buyerId: ticket.buyerId,
      maxTickets: layout.maxTicketsPerBuyer,
      admittedMs: buyer.admittedMs,
      expiresMs: buyer.sessionExpiresMs,
    });
    return ticket;
  }

  /** The event's layout after checking the ids, that it exists and that its waiting room is on. */
  async room(eventId: string, buyerId: string): Promise<SeatIndex> {
    // The usual case first (on every poll): two pattern tests, no Validator.
    if (!ID_PATTERN.test(eventId) || !ID_PATTERN.test(buyerId)) {
      const v = new Validator();
      v.id("event_id", eventId);
      v.id("buyer_id", buyerId);
      v.check();
    }
    const index = await this.inventory.index(eventId);
    if (!index) throw await this.missingInventory(eventId);
    if (!index.layout.waitingRoom.enabled) {
      throw new AppError("WAITING_ROOM_DISABLED", `event ${eventId} has no waiting room: hold without a token`, {
        metadata: { event_id: eventId },
      });
    }
    return index;
  }

  private async view(eventId: string, buyerId: string, limit: number): Promise<{ room: RoomBrief; buyer: BuyerView }> {
    const q = queueKeys(eventId);
    const [seed, hash] = this.candidateSeed(eventId);
    const reply = (await this.scripts.run(
      "queue_position",
      [eventKeys(eventId).meta, q.meta, q.line, q.recs, q.seen, q.rateLimit("p", buyerId)],
      [buyerId, seed, hash, limit, this.options.rateLimitWindowMs],
    )) as unknown as string;
    const f = reply.split("|");
    if (f[0] !== "OK") {
      if (f[0] === "RATE") throw rateLimited("GetQueuePosition", Number(f[1]));
      if (f[0] === "NO_EVENT") throw await this.missingInventory(eventId);
      throw new Error(`queue_position answered ${reply}`);
    }
    return { room: this.noteCommitted(eventId, roomBrief(f, 1)), buyer: buyerBrief(f, 8) };
  }

  /** A fresh seed and its SHA-256 while the event may have none; the scripts keep it only when it has none yet. */
  private candidateSeed(eventId: string): [string, string] {
    if (this.committed.has(eventId)) return ["", ""];
    const seed = randomBytes(32).toString("hex");
    return [seed, createHash("sha256").update(seed).digest("hex")];
  }

  private noteCommitted<R extends RoomBrief>(eventId: string, room: R): R {
    if (room.seedHash && !this.committed.has(eventId)) {
      if (this.committed.size > 10_000) this.committed.clear();
      this.committed.add(eventId);
    }
    return room;
  }

  private async end(eventId: string, buyerId: string, mode: "L" | "C"): Promise<void> {
    const q = queueKeys(eventId);
    await this.scripts.run("queue_leave", [q.meta, q.line, q.recs, q.shop, q.fresh], [buyerId, mode]);
  }
}

/**
 * A buyer's order completed: their shopping slot goes to the next buyer at
 * once. Needs only the scripts, so the checkout worker can call it (as an
 * idempotent step) without the rest of the waiting room. Harmless when the
 * buyer is not shopping or the event has no waiting room.
 */
export async function completeShopping(scripts: Scripts, eventId: string, buyerId: string): Promise<void> {
  const q = queueKeys(eventId);
  await scripts.run("queue_leave", [q.meta, q.line, q.recs, q.shop, q.fresh], [buyerId, "C"]);
}

function roomView(r: ScriptReply, at: number): RoomView {
  const s = (i: number) => String(r[at + i] ?? "");
  return {
    saleState: s(0),
    openedMs: s(1) ? Number(s(1)) : undefined,
    seedHash: s(2),
    seed: s(3),
    soldOut: s(4) === "1",
    seatsMayReturn: s(5) === "1",
    measuredRate: Number(s(6) || 0),
    version: Number(s(7) || 0),
    waiting: Number(s(8) || 0),
  };
}

/** room_brief's 7 fields from a reply split at '|' (lua/includes/queue.lua). */
function roomBrief(f: string[], at: number): RoomBrief {
  const opened = f[at + 1];
  return {
    saleState: f[at] ?? "",
    openedMs: opened ? Number(opened) : undefined,
    soldOut: f[at + 2] === "1",
    seatsMayReturn: f[at + 3] === "1",
    measuredRate: Number(f[at + 4] || 0),
    seedHash: f[at + 5] ?? "",
    seed: f[at + 6] ?? "",
  };
}

/** buyer_brief's 5 fields from a reply split at '|'. */
function buyerBrief(f: string[], at: number): BuyerView {
  return {
    code: f[at] ?? "",
    position: Number(f[at + 1] || 0),
    joinMs: Number(f[at + 2] || 0),
    sessionExpiresMs: Number(f[at + 3] || 0),
    admittedMs: Number(f[at + 4] || 0),
  };
}

function buyerView(r: ScriptReply, at: number): BuyerView {
  const s = (i: number) => String(r[at + i] ?? "");
  return {
    code: s(0),
    position: Number(s(1) || 0),
    joinMs: Number(s(2) || 0),
    sessionExpiresMs: Number(s(3) || 0),
    admittedMs: Number(s(4) || 0),
  };
}

function rateLimited(method: string, retryAfterMs: number): AppError {
  const ms = Math.max(1, retryAfterMs);
  return new AppError("RATE_LIMITED", `too many ${method} calls for this buyer; retry in ${Math.ceil(ms / 1000)} s`, {
    metadata: { method },
    retryAfterMs: ms,
  });
}

/** Recomputes a pre-queue's order from the revealed seed, as anyone can (see lua/includes/queue.lua). */
export function preQueueOrder(seed: string, buyerIds: string[]): string[] {
  const score = (b: string) =>
    Number.parseInt(createHash("sha1").update(`${seed}:${b}`).digest("hex").slice(0, 13), 16);
  return buyerIds
    .map((b) => ({ b, s: score(b) }))
    .sort((x, y) => x.s - y.s || (x.b < y.b ? -1 : x.b > y.b ? 1 : 0))
    .map((x) => x.b);
}
