// The waiting room: joining, where a buyer stands, leaving, completing, and
// the admission step. Every decision is one Lua script (lua/queue_*.lua); the
// step may run from any API instance at any time (see lua/queue_step.lua).
import { createHash, randomBytes } from "node:crypto";
import type { BuyerView, QueueScripts, RoomBrief, RoomView, StepResult } from "../adapters/redis/queue-scripts.js";
import { refusalError } from "../adapters/redis/script-errors.js";
import type { Scripts } from "../adapters/redis/scripts.js";
import { AppError } from "../domain/errors.js";
import { ID_PATTERN, Validator } from "../domain/validation.js";
import type { Inventory } from "../events/inventory.js";
import type { SeatIndex } from "../events/layout.js";
import type { AdmissionTokens } from "./admission.js";
import { PollBatcher } from "./poll-batcher.js";
import type { SeedLedger } from "./seed-ledger.js";

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
  /**
   * GetQueuePosition: how long the first poll of a tick waits for the others
   * of the same event to share its script call (src/queue/poll-batcher.ts);
   * 0 or unset = one script call per poll (lua/queue_position.lua).
   */
  pollBatchMs?: number;
}

export type { BuyerView, RoomBrief, RoomView, StepResult };

const DEFAULT_MAX_SCAN = 5000;

export interface WaitingRoomDeps {
  scripts: Scripts;
  inventory: Inventory;
  admission: AdmissionTokens;
  options: WaitingRoomOptions;
  /** Explains an event with no live inventory (unknown, or being rebuilt); EVENT_NOT_FOUND by default. */
  missingInventory?: (eventId: string) => Promise<AppError>;
  /**
   * Seed commitments recorded outside Redis. With one, a room whose
   * commitment Redis lost is refused (QUEUE_STATE_LOST) and never given a
   * new seed; without one (tests of the room alone), a new seed is committed.
   */
  seedLedger?: SeedLedger;
  /** Told when a room's state is found lost (metric, log); nothing by default. */
  onStateLost?: (eventId: string, recordedSha256: string) => void;
  /** Told after every batch of position polls (metrics): polls in it, buyers it read. */
  onPollBatch?: (polls: number, reads: number) => void;
}

export class WaitingRoom {
  private readonly scripts: QueueScripts;
  private readonly inventory: Inventory;
  private readonly admission: AdmissionTokens;
  private readonly options: WaitingRoomOptions;
  private readonly missingInventory: (eventId: string) => Promise<AppError>;
  private readonly maxScan: number;
  /** Events whose seed this process saw committed: no new candidate needed. */
  private readonly committed = new Set<string>();
  private readonly seedLedger: SeedLedger | undefined;
  private readonly onStateLost: (eventId: string, recordedSha256: string) => void;
  /** Position polls sharing one script call per event per tick; undefined = one call per poll. */
  readonly polls: PollBatcher | undefined;

  constructor(deps: WaitingRoomDeps) {
    this.scripts = deps.scripts.queue;
    this.inventory = deps.inventory;
    this.admission = deps.admission;
    this.options = deps.options;
    this.missingInventory =
      deps.missingInventory ??
      (async (eventId) =>
        new AppError("EVENT_NOT_FOUND", `event ${eventId} not found`, { metadata: { event_id: eventId } }));
    this.maxScan = deps.options.maxScanPerStep ?? DEFAULT_MAX_SCAN;
    this.seedLedger = deps.seedLedger;
    this.onStateLost = deps.onStateLost ?? (() => undefined);
    const batchMs = deps.options.pollBatchMs ?? 0;
    this.polls =
      batchMs > 0
        ? new PollBatcher({
            scripts: this.scripts,
            batchMs,
            limit: deps.options.positionLimit,
            windowMs: deps.options.rateLimitWindowMs,
            // at most a tenth of the abandon time (10 s at most): a buyer who keeps polling stays far from it
            noteEveryMs: Math.min(10_000, (deps.options.abandonMs || 100_000) / 10),
            candidateSeed: (eventId) => this.candidateSeed(eventId),
            checkRoom: (eventId, room) => this.checkCommitment(eventId, room),
            missingInventory: this.missingInventory,
            onBatch: deps.onPollBatch,
          })
        : undefined;
  }

  /** JoinQueue: the buyer's ticket, and whether this call created it. */
  async join(eventId: string, buyerId: string): Promise<{ ticket: QueueTicket; created: boolean }> {
    const index = await this.room(eventId, buyerId);
    let reply = await this.scripts.join(await this.buyerCall(eventId, buyerId, this.options.joinLimit));
    if (reply.code === "NEED_SEED") {
      // Redis lost the room since its seed was committed: refused when the
      // commitment is on record (never a new seed in silence), else commit one.
      const recorded = await this.ledgerRead(eventId);
      if (recorded) throw this.stateLost(eventId, recorded);
      this.committed.delete(eventId);
      reply = await this.scripts.join(await this.buyerCall(eventId, buyerId, this.options.joinLimit));
    }
    if (reply.code === "NO_EVENT") throw await this.missingInventory(eventId);
    if (reply.code === "NEED_SEED") throw new Error("queue_join asked for a seed it was given");
    if (reply.code !== "OK") throw refusalError(reply, { eventId, method: "JoinQueue" });
    const room = await this.checkCommitment(eventId, reply.room);
    const ticket = this.unsignedTicket(index, buyerId, room, reply.buyer);
    return {
      ticket: ticket.state === "ADMITTED" ? await this.sign(index, ticket, reply.buyer) : ticket,
      created: reply.created,
    };
  }

  /** GetQueuePosition: the buyer's ticket (with the admission token once admitted). */
  async position(eventId: string, buyerId: string): Promise<QueueTicket> {
    const index = await this.room(eventId, buyerId);
    const { room, buyer } = this.polls
      ? await this.polls.poll(eventId, buyerId)
      : await this.view(eventId, buyerId, this.options.positionLimit);
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
    await this.scripts.leave({ eventId, buyerId, mode: "L" });
  }

  /**
   * For checkout: the buyer's order completed, so their shopping slot is free
   * for the next buyer. Harmless when the buyer is not shopping (or the event
   * has no waiting room).
   */
  async completeShopping(eventId: string, buyerId: string): Promise<void> {
    await this.scripts.leave({ eventId, buyerId, mode: "C" });
  }

  /**
   * One admission step for the event; undefined when it has no live state or
   * no waiting room. The rate, max shopping and session the script uses are
   * the live state's (UpdateWaitingRoom changes them there); this process's
   * cached layout only stands in for a live state loaded without them.
   */
  async step(eventId: string): Promise<StepResult | undefined> {
    const index = await this.inventory.index(eventId);
    if (!index?.layout.waitingRoom.enabled) return undefined;
    const wr = index.layout.waitingRoom;
    let reserved = 0;
    for (const s of index.layout.sections) for (const r of s.rows ?? []) reserved += r.seatCount;
    return this.scripts.step({
      eventId,
      gaSectionIds: index.gaSections().map((s) => s.sectionId),
      admissionsPerSecond: wr.admissionsPerSecond,
      maxShopping: wr.maxShopping,
      sessionMs: wr.sessionSeconds * 1000,
      abandonMs: this.options.abandonMs,
      reservedSeats: reserved,
      maxScan: this.maxScan,
      graceMs: this.options.firstHoldGraceMs,
      outageMs: this.options.outageMs,
    });
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
    const reply = await this.scripts.watch({ eventId, buyerIds });
    return reply.code === "OK" ? reply : undefined;
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
    const reply = await this.scripts.position(await this.buyerCall(eventId, buyerId, limit));
    if (reply.code === "NO_EVENT") throw await this.missingInventory(eventId);
    if (reply.code !== "OK") throw refusalError(reply, { eventId, method: "GetQueuePosition" });
    return { room: await this.checkCommitment(eventId, reply.room), buyer: reply.buyer };
  }

  /** A join or position call: with a candidate seed while the event may have none. */
  private async buyerCall(eventId: string, buyerId: string, limit: number) {
    const [seed, seedHash] = await this.candidateSeed(eventId);
    return { eventId, buyerId, seed, seedHash, limit, windowMs: this.options.rateLimitWindowMs };
  }

  /**
   * A fresh seed and its SHA-256 while the event may have none; the scripts
   * keep it only when it has none yet. None once a commitment is known here
   * or on record: a room that lost its seed must not get another.
   */
  private async candidateSeed(eventId: string): Promise<[string, string]> {
    if (this.committed.has(eventId)) return ["", ""];
    if (await this.ledgerRead(eventId)) return ["", ""];
    const seed = randomBytes(32).toString("hex");
    return [seed, createHash("sha256").update(seed).digest("hex")];
  }

  /**
   * The room as a script showed it, checked against the recorded commitment:
   * a new commitment is recorded; a room without the recorded one (Redis
   * lost it) is refused with QUEUE_STATE_LOST.
   */
  private async checkCommitment<R extends RoomBrief>(eventId: string, room: R): Promise<R> {
    const ledger = this.seedLedger;
    if (!ledger) return this.noteCommitted(eventId, room);
    if (this.committed.has(eventId) && room.seedHash) return room;
    let recorded: string | undefined;
    try {
      recorded = await ledger.recorded(eventId);
      if (!recorded && room.seedHash) recorded = await ledger.record(eventId, room.seedHash);
    } catch {
      // MySQL unreachable: the room keeps working from Redis; the next call records or checks again.
      return room;
    }
    if (recorded && recorded !== room.seedHash) throw this.stateLost(eventId, recorded);
    return this.noteCommitted(eventId, room);
  }

  /** The recorded commitment; undefined when there is none, no ledger, or MySQL cannot say. */
  private async ledgerRead(eventId: string): Promise<string | undefined> {
    return this.seedLedger?.recorded(eventId).catch(() => undefined);
  }

  private stateLost(eventId: string, recordedSha256: string): AppError {
    this.committed.delete(eventId);
    this.onStateLost(eventId, recordedSha256);
    return new AppError(
      "QUEUE_STATE_LOST",
      `the waiting room of ${eventId} lost its state (its seed commitment ${recordedSha256} is gone from Redis); ` +
        "no new seed is committed until an operator clears the recorded one",
      { metadata: { event_id: eventId, seed_sha256: recordedSha256 } },
    );
  }

  private noteCommitted<R extends RoomBrief>(eventId: string, room: R): R {
    if (room.seedHash && !this.committed.has(eventId)) {
      if (this.committed.size > 10_000) this.committed.clear();
      this.committed.add(eventId);
    }
    return room;
  }
}

/**
 * A buyer's order completed: their shopping slot goes to the next buyer at
 * once. Needs only the scripts, so the checkout worker can call it (as an
 * idempotent step) without the rest of the waiting room. Harmless when the
 * buyer is not shopping or the event has no waiting room.
 */
export async function completeShopping(scripts: Scripts, eventId: string, buyerId: string): Promise<void> {
  await scripts.queue.leave({ eventId, buyerId, mode: "C" });
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
