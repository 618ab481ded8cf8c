// The waiting-room scripts (lua/queue_*.lua, set_admission_rate.lua): each a function with named
// inputs and a decoded reply. This module alone knows their KEYS order and
// reply layouts (room_brief, buyer_brief, room_view: lua/includes/queue.lua).
import { eventKeys, queueKeys } from "./keys.js";
import type { ScriptArgv, ScriptReply, ScriptRunner } from "./runner.js";
import { unexpectedReply, type Refusal } from "./script-errors.js";

/** What a buyer's ticket needs of the room (room_brief). */
export interface RoomBrief {
  saleState: string;
  openedMs: number | undefined;
  seedHash: string;
  seed: string;
  soldOut: boolean;
  seatsMayReturn: boolean;
  measuredRate: number;
}

/** The room as WatchQueue's feed sees it (room_view). */
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

type Rate = Extract<Refusal, { code: "RATE" }>;

export type QueueJoinReply =
  | { code: "OK"; created: boolean; room: RoomBrief; buyer: BuyerView }
  | { code: "NO_EVENT" }
  | Extract<Refusal, { code: "CLOSED" }>
  | Rate
  /** A pre-queue join found no committed seed and was given no candidate: call again with one. */
  | { code: "NEED_SEED" };

export type QueuePositionReply = { code: "OK"; room: RoomBrief; buyer: BuyerView } | { code: "NO_EVENT" } | Rate;

/** One buyer's part of a poll batch (lua/queue_poll.lua); count: the buyer's polls in the window after this call's (0 when none were added). */
export type PollEntry =
  /** Known to the process: place at its read minus the buyers popped since and those who left ahead since. */
  | { kind: "K"; count: number }
  /** Read: the buyer's view, and their score while waiting (undefined otherwise). */
  | { kind: "B"; count: number; buyer: BuyerView; score: number | undefined };

export type QueuePollReply =
  | {
      code: "OK";
      nowMs: number;
      room: RoomBrief;
      /** Members the steps popped from the head so far, places given up so far, the highest score popped. */
      popped: number;
      left: number;
      head: number | undefined;
      /** Scores of the places given up since `knownLeft`, oldest first (empty when known places are not trusted). */
      givenUp: number[];
      entries: PollEntry[];
    }
  | { code: "NO_EVENT" };

export interface PollInput {
  eventId: string;
  seed: string;
  seedHash: string;
  /** The rate-limit window and its number (the API's clock / windowMs). */
  windowMs: number;
  window: number;
  /** The counters the process last saw; knownLeft undefined = trust nothing known. */
  knownLeft: number | undefined;
  knownPopped: number;
  /**
   * Each buyer once: polls to add to their count in the window (0 = not
   * counted in Redis this time), whether to note them as still there (a
   * known buyer noted lately need not be; an unknown one always is), and
   * the score known for them (undefined = read them).
   */
  buyers: readonly { buyerId: string; add: number; note: boolean; score: number | undefined }[];
}

export type QueueWatchReply = { code: "OK"; nowMs: number; room: RoomView; buyers: BuyerView[] } | { code: "NO_EVENT" };

/** A buyer's call, rate limited per window; `seed` and `seedHash` are a candidate ('' when one is committed). */
interface BuyerCallInput {
  eventId: string;
  buyerId: string;
  seed: string;
  seedHash: string;
  /** Calls per window; 0 = no limit. */
  limit: number;
  windowMs: number;
}

export interface StepInput {
  eventId: string;
  /** Every general-admission section of the event. */
  gaSectionIds: readonly string[];
  /** The next three stand in for settings the live state lacks (it carries them: see lua/queue_step.lua). */
  admissionsPerSecond: number;
  maxShopping: number;
  sessionMs: number;
  abandonMs: number;
  reservedSeats: number;
  maxScan: number;
  /** Capped at the session by the script. */
  graceMs: number;
  outageMs: number;
}

export class QueueScripts {
  constructor(private readonly runner: ScriptRunner) {}

  /** lua/queue_join.lua: idempotent per buyer. */
  join(i: BuyerCallInput): Promise<QueueJoinReply> {
    return this.runner.run<string>("queue_join", buyerCallArgv(i, "j")).then((reply): QueueJoinReply => {
      const f = reply.split("|");
      const code = f[0];
      if (code === "OK") return { code, created: f[1] === "1", room: roomBrief(f, 2), buyer: buyerBrief(f, 9) };
      if (code === "NO_EVENT" || code === "CLOSED" || code === "NEED_SEED") return { code };
      if (code === "RATE") return { code, retryAfterMs: Number(f[1]) };
      throw unexpectedReply("queue_join", reply);
    });
  }

  /** lua/queue_position.lua: where the buyer stands (and that they are still there). */
  position(i: BuyerCallInput): Promise<QueuePositionReply> {
    return this.runner.run<string>("queue_position", buyerCallArgv(i, "p")).then((reply): QueuePositionReply => {
      const f = reply.split("|");
      const code = f[0];
      if (code === "OK") return { code, room: roomBrief(f, 1), buyer: buyerBrief(f, 8) };
      if (code === "NO_EVENT") return { code };
      if (code === "RATE") return { code, retryAfterMs: Number(f[1]) };
      throw unexpectedReply("queue_position", reply);
    });
  }

  /** lua/queue_poll.lua: one tick's position polls of one event (see PollInput). */
  poll(i: PollInput): Promise<QueuePollReply> {
    const q = queueKeys(i.eventId);
    const argv: ScriptArgv = [
      7,
      eventKeys(i.eventId).meta,
      q.meta,
      q.line,
      q.recs,
      q.seen,
      q.pollRate(i.window),
      q.lefts,
      i.seed,
      i.seedHash,
      i.windowMs,
      i.knownLeft === undefined ? "" : i.knownLeft,
      i.knownPopped,
    ];
    for (const b of i.buyers)
      argv.push(b.buyerId, b.note || b.score === undefined ? b.add : `-${b.add}`, b.score === undefined ? "" : b.score);
    return this.runner.run("queue_poll", argv).then((r): QueuePollReply => {
      if (r[0] === "NO_EVENT") return { code: "NO_EVENT" };
      if (r[0] !== "OK" || r.length !== 7 + i.buyers.length) throw unexpectedReply("queue_poll", r);
      const entries: PollEntry[] = [];
      for (let n = 7; n < r.length; n++) {
        const e = r[n];
        // known: the count alone, as an integer (the cheapest reply there is)
        if (typeof e === "number") {
          entries.push({ kind: "K", count: e });
          continue;
        }
        const f = String(e).split("|");
        if (f[1] !== "B") throw unexpectedReply("queue_poll", e);
        entries.push({
          kind: "B",
          count: Number(f[0]),
          buyer: buyerBrief(f, 2),
          score: f[7] ? Number(f[7]) : undefined,
        });
      }
      return {
        code: "OK",
        nowMs: Number(r[1]),
        room: roomBrief(String(r[2]).split("|"), 0),
        popped: Number(r[3]),
        left: Number(r[4]),
        head: r[5] === "" ? undefined : Number(r[5]),
        givenUp: (r[6] as ScriptReply).map(Number),
        entries,
      };
    });
  }

  /** lua/queue_watch.lua: many buyers' views in one call, in `buyerIds` order. */
  watch(i: { eventId: string; buyerIds: readonly string[] }): Promise<QueueWatchReply> {
    const q = queueKeys(i.eventId);
    const argv: ScriptArgv = [5, eventKeys(i.eventId).meta, q.meta, q.line, q.recs, q.seen, ...i.buyerIds];
    return this.runner.run("queue_watch", argv).then((r): QueueWatchReply => {
      if (r[0] !== "OK") return { code: "NO_EVENT" };
      const flat = r[3] as ScriptReply;
      return {
        code: "OK",
        nowMs: Number(r[1]),
        room: roomView(r[2] as ScriptReply),
        buyers: i.buyerIds.map((_, n) => buyerView(flat, n * 5)),
      };
    });
  }

  /** lua/queue_leave.lua: mode L leaves, C completes (an order confirmed). Idempotent. */
  leave(i: {
    eventId: string;
    buyerId: string;
    mode: "L" | "C";
  }): Promise<{ previousState: string; newState: string }> {
    const q = queueKeys(i.eventId);
    const argv: ScriptArgv = [7, q.meta, q.line, q.recs, q.shop, q.fresh, q.lefts, q.seen, i.buyerId, i.mode];
    return this.runner
      .run("queue_leave", argv)
      .then((r) => ({ previousState: String(r[1] ?? ""), newState: String(r[2] ?? "") }));
  }

  /** lua/queue_step.lua: one admission step. */
  step(i: StepInput): Promise<StepResult> {
    const k = eventKeys(i.eventId);
    const q = queueKeys(i.eventId);
    const argv: ScriptArgv = [
      9 + i.gaSectionIds.length,
      k.meta,
      q.meta,
      q.line,
      q.recs,
      q.shop,
      q.seen,
      k.seats,
      k.expiries,
      q.fresh,
    ];
    for (const sectionId of i.gaSectionIds) argv.push(k.ga(sectionId));
    argv.push(
      i.admissionsPerSecond,
      i.maxShopping,
      i.sessionMs,
      i.abandonMs,
      i.reservedSeats,
      i.maxScan,
      i.graceMs,
      i.outageMs,
    );
    return this.runner.run("queue_step", argv).then((r): StepResult => {
      const n = (at: number) => Number(r[at] ?? 0);
      return {
        status: String(r[0]) as StepResult["status"],
        version: n(1),
        admitted: n(2),
        expired: n(3),
        skipped: n(4),
        waiting: n(5),
        shopping: n(6),
        free: n(7),
        soldOut: r[8] === "1",
        seatsMayReturn: r[9] === "1",
        expiredHolds: n(10),
        nowMs: n(11),
        awaitingFirstHold: n(12),
      };
    });
  }

  /**
   * lua/set_admission_rate.lua: adaptive admission's new rate, set only while
   * it is on and the current rate is still `from`; whether it was set.
   */
  setAdmissionRate(i: { eventId: string; from: number; to: number }): Promise<boolean> {
    return this.runner
      .run<number>("set_admission_rate", [1, eventKeys(i.eventId).meta, i.from, i.to])
      .then((set) => Number(set) === 1);
  }
}

function buyerCallArgv(i: BuyerCallInput, kind: "j" | "p"): ScriptArgv {
  const q = queueKeys(i.eventId);
  return [
    6,
    eventKeys(i.eventId).meta,
    q.meta,
    q.line,
    q.recs,
    q.seen,
    q.rateLimit(kind, i.buyerId),
    i.buyerId,
    i.seed,
    i.seedHash,
    i.limit,
    i.windowMs,
  ];
}

/** room_brief's 7 fields from a reply split at '|'. */
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

/** room_view's 9 fields. */
function roomView(r: ScriptReply): RoomView {
  const s = (i: number) => String(r[i] ?? "");
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

/** buyer_view's 5 fields, from `at` in the flattened list. */
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
