// GetQueuePosition at the floor: the polls one API process takes for one event
// during a short tick (QUEUE_POLL_BATCH_MS) share one script call
// (lua/queue_poll.lua), which rate-limits each buyer, notes each as still there
// (a known buyer at most every noteEveryMs, a tenth of the abandon time at
// most) and reads only what the process does not know. The process knows the place
// of each waiting buyer it has read since the opening, with the room's
// `popped` and `left` counters at that read, and the scores of the places
// given up since (each batch hands it the new ones). Only the steps (from the
// head) and LeaveQueue take anyone out of the line, and joiners go to the
// back, so a known buyer's place is their place at the read, minus the buyers
// popped since, minus those who left since from ahead of them (the script says
// when that no longer holds and reads them again: the step reached them, or
// Redis lost the room, or too many left since). Every answer is exact as of
// its batch, never behind it. Every waiter settles: with the batch's answer,
// or its error (Redis down: UNAVAILABLE for the polls of that tick).
import type { AppError } from "../domain/errors.js";
import type { BuyerView, QueueScripts, RoomBrief } from "../adapters/redis/queue-scripts.js";
import { refusalError } from "../adapters/redis/script-errors.js";

export interface PollAnswer {
  room: RoomBrief;
  buyer: BuyerView;
}

interface Waiter {
  resolve: (a: PollAnswer) => void;
  reject: (err: unknown) => void;
}

/** A waiting buyer's place as last read: their score, 1-based place, and the room's `popped` and `left` then. */
interface Place {
  score: number;
  position: number;
  popped: number;
  left: number;
  joinMs: number;
  /** When a batch last noted the buyer as still there (this process's clock). */
  notedMs: number;
}

/** Known places kept per event at most; past it they are dropped and read again. */
const MAX_KNOWN = 250_000;
/** Scores of places given up kept per event; a place read before the oldest is read again. */
const MAX_GIVEN_UP = 2_000;

class EventPolls {
  pending = new Map<string, Waiter[]>();
  firstAtMs = 0;
  timer: NodeJS.Timeout | undefined;
  inFlight = false;
  readonly known = new Map<string, Place>();
  /** The counters as of the last batch; knownLeft undefined: nothing known can be trusted. */
  knownLeft: number | undefined;
  knownPopped = 0;
  /** givenUp[j]: the score of the place given up as number givenUpBase + j + 1. */
  givenUp: number[] = [];
  givenUpBase = 0;
  /** Polls per buyer in the current rate-limit window, counted here (see PollBatcher.counted). */
  localWindow = -1;
  readonly localCounts = new Map<string, number>();

  forget(left: number): void {
    this.known.clear();
    this.givenUp = [];
    this.givenUpBase = left;
  }

  /** Whether the buyer of a known place gave it up since it was read (they are read again). */
  gaveUp(place: Place): boolean {
    for (let j = place.left - this.givenUpBase; j < this.givenUp.length; j++)
      if (this.givenUp[j] === place.score) return true;
    return false;
  }

  /** Buyers who left ahead of a place since it was read. */
  leftAhead(place: Place): number {
    let n = 0;
    for (let j = place.left - this.givenUpBase; j < this.givenUp.length; j++) if (this.givenUp[j]! < place.score) n++;
    return n;
  }
}

export interface PollStats {
  /** Script calls (one per event per tick with polls). */
  batches: number;
  /** Polls answered (or refused) through a batch. */
  polls: number;
  /** Buyers the batches read (record + ZRANK) instead of answering from a known place. */
  reads: number;
}

export interface PollBatcherDeps {
  scripts: QueueScripts;
  /** How long the first poll of a tick waits for others to join its batch. */
  batchMs: number;
  /** Polls per buyer and window (0 = none), and the window. */
  limit: number;
  windowMs: number;
  /**
   * A known buyer noted as still there this recently is not noted again
   * (a fraction of the abandon time: the buyer stays far from it).
   */
  noteEveryMs: number;
  /** A candidate seed while the event may have none (['', ''] once one is known). */
  candidateSeed: (eventId: string) => Promise<[string, string]>;
  /** The batch's room, checked against the recorded commitment (may throw QUEUE_STATE_LOST). */
  checkRoom: (eventId: string, room: RoomBrief) => Promise<RoomBrief>;
  missingInventory: (eventId: string) => Promise<AppError>;
  /** Told after every batch (metrics). */
  onBatch?: (polls: number, reads: number) => void;
}

export class PollBatcher {
  private readonly events = new Map<string, EventPolls>();
  readonly stats: PollStats = { batches: 0, polls: 0, reads: 0 };

  constructor(private readonly deps: PollBatcherDeps) {}

  /** The buyer's view and the room's, as of the batch this poll joins. */
  poll(eventId: string, buyerId: string): Promise<PollAnswer> {
    let ev = this.events.get(eventId);
    if (!ev) {
      if (this.events.size >= 10_000) this.dropIdle();
      this.events.set(eventId, (ev = new EventPolls()));
    }
    const e = ev;
    return new Promise<PollAnswer>((resolve, reject) => {
      if (e.pending.size === 0) e.firstAtMs = Date.now();
      const list = e.pending.get(buyerId);
      if (list) list.push({ resolve, reject });
      else e.pending.set(buyerId, [{ resolve, reject }]);
      this.schedule(eventId, e);
    });
  }

  /** Known places of an event (tests, benchmarks). */
  knownCount(eventId: string): number {
    return this.events.get(eventId)?.known.size ?? 0;
  }

  private schedule(eventId: string, e: EventPolls): void {
    if (e.timer || e.inFlight || e.pending.size === 0) return;
    const waitMs = Math.max(0, e.firstAtMs + this.deps.batchMs - Date.now());
    e.timer = setTimeout(() => {
      e.timer = undefined;
      void this.send(eventId, e);
    }, waitMs);
  }

  private async send(eventId: string, e: EventPolls): Promise<void> {
    const pending = e.pending;
    e.pending = new Map();
    e.inFlight = true;
    try {
      await this.run(eventId, e, pending);
    } catch (err) {
      // Whatever went wrong, nobody is left hanging.
      for (const list of pending.values()) for (const w of list) w.reject(err);
    } finally {
      e.inFlight = false;
      this.schedule(eventId, e);
    }
  }

  private async run(eventId: string, e: EventPolls, pending: Map<string, Waiter[]>): Promise<void> {
    const d = this.deps;
    const buyers: { buyerId: string; polls: number; add: number; note: boolean; score: number | undefined }[] = [];
    const sentAtMs = Date.now();
    const window = d.limit > 0 ? Math.floor(sentAtMs / d.windowMs) : 0;
    if (e.localWindow !== window) {
      e.localCounts.clear();
      e.localWindow = window;
    }
    const sentPlaces: (Place | undefined)[] = [];
    let polls = 0;
    for (const [buyerId, list] of pending) {
      let place = e.knownLeft === undefined ? undefined : e.known.get(buyerId);
      // Read again when who left since is no longer known here, or when they left themselves.
      if (place && (place.left < e.givenUpBase || e.gaveUp(place))) place = undefined;
      const note = !place || sentAtMs - place.notedMs >= d.noteEveryMs;
      buyers.push({
        buyerId,
        polls: list.length,
        add: this.counted(e, buyerId, list.length),
        note,
        score: place?.score,
      });
      sentPlaces.push(place);
      polls += list.length;
    }
    const [seed, seedHash] = await d.candidateSeed(eventId);
    const reply = await d.scripts.poll({
      eventId,
      seed,
      seedHash,
      windowMs: d.windowMs,
      window,
      knownLeft: e.knownLeft,
      knownPopped: e.knownPopped,
      buyers,
    });
    this.stats.batches++;
    this.stats.polls += polls;
    if (reply.code === "NO_EVENT") {
      e.known.clear();
      e.knownLeft = undefined;
      d.onBatch?.(polls, 0);
      throw await d.missingInventory(eventId);
    }
    const room = await d.checkRoom(eventId, reply.room);
    // The script trusted the known places exactly when it handed over every place given up since.
    const opened = room.openedMs !== undefined;
    const trusted =
      opened &&
      e.knownLeft !== undefined &&
      reply.left >= e.knownLeft &&
      reply.popped >= e.knownPopped &&
      reply.givenUp.length === reply.left - e.knownLeft;
    if (trusted) {
      for (const score of reply.givenUp) e.givenUp.push(score);
      if (e.givenUp.length > MAX_GIVEN_UP) {
        const drop = e.givenUp.length - MAX_GIVEN_UP;
        e.givenUp.splice(0, drop);
        e.givenUpBase += drop;
      }
    } else e.forget(reply.left);
    e.knownLeft = opened ? reply.left : undefined;
    e.knownPopped = reply.popped;
    if (e.known.size > MAX_KNOWN) e.known.clear();

    const retryAfterMs = Math.max(1, (window + 1) * d.windowMs - Date.now());
    const rate = () => refusalError({ code: "RATE", retryAfterMs }, { eventId, method: "GetQueuePosition" });
    let reads = 0;
    for (let n = 0; n < buyers.length; n++) {
      const { buyerId, polls: asked, add } = buyers[n]!;
      const list = pending.get(buyerId)!;
      const entry = reply.entries[n]!;
      // Counted in Redis: the polls of this tick the window still had room for (the first ones) are answered.
      const allowed = add > 0 ? Math.max(0, Math.min(asked, d.limit - (entry.count - asked))) : asked;
      let answer: PollAnswer;
      if (entry.kind === "K") {
        if (!trusted) throw new Error("queue_poll answered from a known place the process no longer trusts");
        const place = sentPlaces[n]!;
        const position = place.position - (reply.popped - place.popped) - e.leftAhead(place);
        answer = {
          room,
          buyer: {
            code: "W",
            position: Math.max(1, position),
            joinMs: place.joinMs,
            sessionExpiresMs: 0,
            admittedMs: 0,
          },
        };
        if (position < 1)
          e.known.delete(buyerId); // cannot happen; read them next time if it does
        else if (buyers[n]!.note) place.notedMs = sentAtMs;
      } else {
        reads++;
        answer = { room, buyer: entry.buyer };
        if (opened && entry.buyer.code === "W" && entry.score !== undefined && entry.buyer.position > 0) {
          e.known.set(buyerId, {
            score: entry.score,
            position: entry.buyer.position,
            popped: reply.popped,
            left: reply.left,
            joinMs: entry.buyer.joinMs,
            notedMs: sentAtMs,
          });
        } else e.known.delete(buyerId);
      }
      for (let w = 0; w < list.length; w++) {
        if (w < allowed) list[w]!.resolve(answer);
        else list[w]!.reject(rate());
      }
    }
    this.stats.reads += reads;
    d.onBatch?.(polls, reads);
  }

  /**
   * Polls of this tick to add to the buyer's count in Redis. Each process
   * counts its own polls per buyer and window; a buyer who stays within a
   * quarter of the limit here costs Redis nothing for it (most buyers: they
   * poll every few seconds). Past that, every poll is counted in Redis, the
   * ones made here before included, so the limit holds across processes for
   * anyone who comes near it (at most a quarter of it per process goes
   * uncounted).
   */
  private counted(e: EventPolls, buyerId: string, polls: number): number {
    const limit = this.deps.limit;
    if (limit <= 0) return 0;
    const before = e.localCounts.get(buyerId) ?? 0;
    const after = before + polls;
    e.localCounts.set(buyerId, after);
    const free = Math.floor(limit / 4);
    if (after <= free) return 0;
    return before > free ? polls : after;
  }

  /** Forgets events with nothing pending (their known places are read again when polled). */
  private dropIdle(): void {
    for (const [id, e] of this.events) if (!e.inFlight && !e.timer && e.pending.size === 0) this.events.delete(id);
  }
}
