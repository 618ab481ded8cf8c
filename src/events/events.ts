// Event use cases: create (validated, MySQL first, then the live state in
// Redis), read, sale state changes, the live seat map and summary, and
// rebuilding Redis from MySQL on demand, at start-up and whenever a read finds
// the live state gone.
import { createHash, randomBytes } from "node:crypto";
import { AppError, type FieldViolation, invalidArgument } from "../domain/errors.js";
import { isCurrencyCode, MAX_PRICE_MINOR, MAX_TICKETS_PER_ORDER } from "../domain/money.js";
import { SHORT_ID_PATTERN, Validator } from "../domain/validation.js";
import type { SeatMapDelta, SeatMapWatchHub } from "./seat-map-watch.js";
import type { Logger } from "../logger.js";
import type { EventStore, StoredEvent } from "./event-store.js";
import { LiveState } from "./live-state.js";
import { rowStates, type Inventory, type SeatMapSnapshot } from "./inventory.js";
import {
  capacityOf,
  SeatIndex,
  type AdaptiveAdmission,
  type Area,
  type EventLayout,
  type HoldPolicy,
  type Point,
  type RowPosition,
  type SaleState,
  type SeatPosition,
  type SectionLayout,
  type WaitingRoomSettings,
} from "./layout.js";
import { checkSeatPlan, toArea, toOutline, toRowPlacement } from "./seat-plan.js";
import { adaptiveAdmission } from "./adaptive-admission.js";

// ---- input ----------------------------------------------------------------

/** CreateEvent's event as the caller sent it, not validated yet (proto shapes, domain types). */
export interface EventDraft {
  eventId: string;
  name: string;
  venue: string;
  startTime?: Date | undefined;
  saleOpenTime?: Date | undefined;
  saleCloseTime?: Date | undefined;
  /** Unset: every default. */
  holdPolicy?: HoldPolicy | undefined;
  maxTicketsPerBuyer: number;
  /** Unset: off, with default settings. */
  waitingRoom?: WaitingRoomSettings | undefined;
  refundCutoffSeconds?: number | undefined;
  currencyCode: string;
  /** priceMinor as the int64 decimal string the wire carries. */
  priceCategories: { priceCategoryId: string; name: string; priceMinor: string }[];
  sections: SectionDraft[];
}

export interface SectionDraft {
  sectionId: string;
  name: string;
  /** At most one of reserved and generalAdmission is set (a proto oneof). */
  reserved?:
    | {
        rows: {
          rowId: string;
          firstSeatNumber: number;
          seatCount: number;
          priceCategoryId: string;
          placement?: { position?: RowPosition | undefined; seats: SeatPosition[] } | undefined;
        }[];
      }
    | undefined;
  generalAdmission?: { capacity: number; priceCategoryId: string; area?: Area | undefined } | undefined;
  /** The seat plan's outline of the section. */
  outline?: { points: Point[] } | undefined;
}

/** UpdateWaitingRoom: the fields left undefined keep their value. */
export interface WaitingRoomUpdate {
  eventId: string;
  requestId: string;
  admissionsPerSecond?: number | undefined;
  maxShopping?: number | undefined;
  sessionSeconds?: number | undefined;
  /** Replaces the whole adaptive block (enabled false: off). */
  adaptive?: Partial<AdaptiveAdmission> | undefined;
}

export interface CreateEventInput {
  requestId: string;
  /** Undefined when the request had no event. */
  event: EventDraft | undefined;
}

// ---- output ---------------------------------------------------------------

export interface Counts {
  capacity: number;
  free: number;
  held: number;
  sold: number;
}

export interface SeatMap {
  eventId: string;
  version: bigint;
  sections: {
    sectionId: string;
    /** Reserved seating: one per row; empty for general admission. */
    rows: { rowId: string; firstSeatNumber: number; states: string }[];
    counts: Counts;
  }[];
}

export interface EventSummary {
  eventId: string;
  saleState: SaleState;
  total: Counts;
  sections: { sectionId: string; counts: Counts }[];
  categories: { priceCategoryId: string; counts: Counts }[];
}

// ---- limits ---------------------------------------------------------------

export const LIMITS = {
  textMax: 200,
  priceCategories: 50,
  sections: 500,
  rowsPerSection: 1000,
  seatsPerRow: 500,
  firstSeatNumberMax: 100_000,
  gaCapacity: 200_000,
  totalCapacity: 200_000,
  ttl: [10, 3600],
  maxExtensions: [0, 10],
  maxLifetimeMax: 7200,
  maxTicketsPerBuyer: [1, MAX_TICKETS_PER_ORDER],
  refundCutoffSeconds: [0, 365 * 86_400],
  admissionsPerSecond: [1, 10_000],
  maxShopping: [1, 1_000_000],
  sessionSeconds: [60, 7200],
  pageSize: [1, 100],
} as const;

export const DEFAULTS = {
  ttlSeconds: 600,
  maxExtensions: 1,
  maxTicketsPerBuyer: 8,
  admissionsPerSecond: 50,
  maxShopping: 1000,
  sessionSeconds: 600,
  pageSize: 20,
} as const;

/** A BadRequest lists at most this many violations (a 200,000-seat mistake must not make a huge trailer). */
const MAX_VIOLATIONS = 40;
const PRICE_CATEGORY_ID = /^[A-Za-z0-9_-]{1,32}$/;

export interface EventsDeps {
  store: EventStore;
  inventory: Inventory;
  log: Logger;
  /** Fans seat-map changes out to WatchSeatMap (API processes only). */
  hub?: SeatMapWatchHub;
  /** Called after a sale (re)opens, e.g. to start its hold sweeper. */
  onSaleOpened?: (eventId: string) => Promise<void>;
  /** The waiting room's committed shuffle-seed hash for an event (committed on first ask). */
  seedCommitment?: (eventId: string) => Promise<string>;
  /** Repairs of the live state, shared with the hold path and the waiting room; one of its own by default. */
  liveState?: LiveState;
}

/** Where the event's buyers are, from the queue to the door. */
export interface EventFunnel {
  waiting: number;
  shopping: number;
  activeHolds: number;
  ordersPending: number;
  ordersConfirmed: number;
  ordersFailed: number;
  ordersCancelled: number;
  ordersRefunded: number;
  ticketsValid: number;
  ticketsCheckedIn: number;
}

/** What the metrics show beyond the summary, from the same reads (metrics-funnel.ts). */
export interface EventHealth {
  /** Of those waiting, how many are in the pre-queue (all of them until the room opens). */
  preQueue: number;
  /** Admissions per second the waiting room measured over its last window. */
  admissionRate: number;
  /** Most buyers shopping at once (the waiting room's setting); 0 without a waiting room. */
  maxShopping: number;
  /** Holds past their expiry that the sweeper has not reclaimed yet. */
  expiredHolds: number;
  /** Seats MySQL says are sold (the oversell canary compares it with the capacity). */
  soldSeatsInMysql: number;
  /** Payments authorized and neither captured nor voided yet, and the oldest one's age. */
  paymentsAuthorized: number;
  oldestAuthorizedSeconds: number;
}

export type SeatMapWatchUpdate = { kind: "snapshot"; seatMap: SeatMap } | { kind: "delta"; delta: SeatMapDelta };

/** The seat map of a snapshot: one state string per row, counts per section. */
export function seatMapOf(index: SeatIndex, snapshot: SeatMapSnapshot): SeatMap {
  const summary = summarize(index, snapshot);
  const sections = index.layout.sections.map((section, i) => ({
    sectionId: section.sectionId,
    rows: (section.rows ?? []).map((row) => ({
      rowId: row.rowId,
      firstSeatNumber: row.firstSeatNumber,
      states: rowStates(snapshot, section.sectionId, row),
    })),
    counts: summary.sections[i]!.counts,
  }));
  return { eventId: index.layout.eventId, version: snapshot.version, sections };
}

export class Events {
  private readonly store: EventStore;
  private readonly inventory: Inventory;
  private readonly log: Logger;
  private readonly hub: SeatMapWatchHub | undefined;
  private readonly onSaleOpened: ((eventId: string) => Promise<void>) | undefined;
  private readonly seedCommitment: ((eventId: string) => Promise<string>) | undefined;
  private readonly live: LiveState;

  constructor(deps: EventsDeps) {
    this.store = deps.store;
    this.inventory = deps.inventory;
    this.log = deps.log;
    this.hub = deps.hub;
    this.onSaleOpened = deps.onSaleOpened;
    this.seedCommitment = deps.seedCommitment;
    this.live = deps.liveState ?? new LiveState(deps);
  }

  // ---- create / read ------------------------------------------------------

  /** Validates everything, writes MySQL, then loads Redis. Idempotent by request id. */
  async createEvent(input: CreateEventInput): Promise<StoredEvent> {
    const { requestId, layout, requestHash } = validateCreateEvent(input);
    const { eventId, created } = await this.store.insertEvent(layout, "SCHEDULED", requestId, requestHash);
    this.live.created(eventId);
    if (created) {
      await this.live.ensureLive(eventId, layout);
      return this.withCommitment({ layout, saleState: (await this.store.saleState(eventId)) ?? "SCHEDULED" });
    }
    // A retry: the first attempt may have written MySQL and then failed on Redis.
    const stored = await this.requireStored(eventId);
    await this.live.ensureLive(eventId, stored.layout);
    return this.withCommitment(stored);
  }

  /** Adds the pre-queue seed commitment to events with a waiting room (committed at creation, at the latest). */
  private async withCommitment(stored: StoredEvent): Promise<StoredEvent> {
    if (!stored.layout.waitingRoom.enabled || !this.seedCommitment) return stored;
    return { ...stored, shuffleSeedSha256: await this.seedCommitment(stored.layout.eventId) };
  }

  /** Events whose sale is not closed. */
  openSaleIds(): Promise<string[]> {
    return this.store.eventIdsWithOpenOrScheduledSales();
  }

  async getEvent(eventId: string): Promise<StoredEvent> {
    return this.withCommitment(await this.requireStored(eventId));
  }

  async listEvents(pageSize: number, pageToken: string): Promise<{ events: StoredEvent[]; nextPageToken: string }> {
    const v = new Validator();
    if (pageSize !== 0) v.int("page_size", pageSize, LIMITS.pageSize[0], LIMITS.pageSize[1]);
    v.check();
    return this.store.listEvents(pageSize || DEFAULTS.pageSize, pageToken);
  }

  // ---- sale state ---------------------------------------------------------

  /** SCHEDULED or PAUSED → OPEN; OPEN stays OPEN; a CLOSED sale never reopens (SALE_CLOSED). */
  async openSale(eventId: string): Promise<StoredEvent> {
    const opened = await this.transition(eventId, "OPEN", (from) => {
      if (from === "CLOSED") throw saleError("SALE_CLOSED", eventId, from, "the sale is closed and never reopens");
    });
    await this.onSaleOpened?.(eventId);
    return opened;
  }

  /** OPEN → PAUSED; PAUSED stays PAUSED; anything else is SALE_NOT_OPEN. */
  pauseSale(eventId: string): Promise<StoredEvent> {
    return this.transition(eventId, "PAUSED", (from) => {
      if (from !== "OPEN" && from !== "PAUSED") {
        throw saleError("SALE_NOT_OPEN", eventId, from, `the sale is ${from.toLowerCase()}, not open`);
      }
    });
  }

  /** Any state → CLOSED, for good. */
  closeSale(eventId: string): Promise<StoredEvent> {
    return this.transition(eventId, "CLOSED", () => undefined);
  }

  /**
   * MySQL first (the truth), then Redis, under the event's lock so that two
   * operators (or a rebuild) cannot leave Redis with a state MySQL does not have.
   */
  private async transition(eventId: string, to: SaleState, check: (from: SaleState) => void): Promise<StoredEvent> {
    return this.live.locked(eventId, async () => {
      const stored = await this.requireStored(eventId);
      const from = stored.saleState;
      if (from !== to) {
        check(from);
        if (!(await this.store.setSaleState(eventId, to, from))) {
          // Someone changed it outside the lock (not through this class); let the caller retry.
          throw new AppError("INTERNAL", `the sale state of ${eventId} changed concurrently; retry`);
        }
      }
      // Also when unchanged: a retry repairs a Redis that missed the first attempt.
      if (!(await this.inventory.setSaleState(eventId, to))) {
        this.log.warn({ eventId }, "live inventory missing on a sale state change; rebuilding from MySQL");
        await this.inventory.load(stored.layout, to, await this.store.soldState(eventId));
      }
      return { layout: stored.layout, saleState: to };
    });
  }

  // ---- waiting room -------------------------------------------------------

  /**
   * UpdateWaitingRoom: the fields given replace the event's waiting-room
   * settings, within CreateEvent's bounds. MySQL first (the truth), then the
   * live state, where every process's next admission step reads them; under
   * the event's lock, like a sale state change.
   */
  async updateWaitingRoom(input: WaitingRoomUpdate): Promise<StoredEvent> {
    const v = new Validator();
    v.id("event_id", input.eventId);
    v.id("request_id", input.requestId);
    const { admissionsPerSecond, maxShopping, sessionSeconds, adaptive } = input;
    if (
      admissionsPerSecond === undefined &&
      maxShopping === undefined &&
      sessionSeconds === undefined &&
      adaptive === undefined
    ) {
      v.add(
        "admissions_per_second",
        "set at least one of admissions_per_second, max_shopping, session_seconds, adaptive",
      );
    }
    if (admissionsPerSecond !== undefined)
      v.int("admissions_per_second", admissionsPerSecond, ...LIMITS.admissionsPerSecond);
    if (maxShopping !== undefined) v.int("max_shopping", maxShopping, ...LIMITS.maxShopping);
    if (sessionSeconds !== undefined) v.int("session_seconds", sessionSeconds, ...LIMITS.sessionSeconds);
    v.check();
    const { eventId } = input;
    return this.live.locked(eventId, async () => {
      const stored = await this.requireStored(eventId);
      const wr = stored.layout.waitingRoom;
      if (!wr.enabled) {
        throw new AppError("WAITING_ROOM_DISABLED", `event ${eventId} has no waiting room`, {
          metadata: { event_id: eventId },
        });
      }
      const waitingRoom: WaitingRoomSettings = {
        enabled: true,
        admissionsPerSecond: admissionsPerSecond ?? wr.admissionsPerSecond,
        maxShopping: maxShopping ?? wr.maxShopping,
        sessionSeconds: sessionSeconds ?? wr.sessionSeconds,
      };
      // The adaptive rate starts from admissions_per_second, so it must lie within the adaptive bounds.
      const check = new Validator();
      const nextAdaptive =
        adaptive === undefined
          ? wr.adaptive
          : adaptiveAdmission(check, "adaptive", adaptive, waitingRoom.admissionsPerSecond);
      if (adaptive === undefined && nextAdaptive && admissionsPerSecond !== undefined) {
        const { minAdmissionsPerSecond: min, maxAdmissionsPerSecond: max } = nextAdaptive;
        if (admissionsPerSecond < min || admissionsPerSecond > max)
          check.add("admissions_per_second", `must lie in the adaptive bounds ${min}..${max}`);
      }
      check.check();
      if (nextAdaptive) waitingRoom.adaptive = nextAdaptive;
      await this.store.setWaitingRoom(eventId, waitingRoom);
      const layout: EventLayout = { ...stored.layout, waitingRoom };
      // The current rate restarts from admissions_per_second when it is given or adaptive admission
      // turns on or off; otherwise an adaptive rate goes on from where the controller left it.
      const restartRate = admissionsPerSecond !== undefined || Boolean(nextAdaptive) !== Boolean(wr.adaptive);
      if (!(await this.inventory.setWaitingRoom(layout, restartRate))) {
        this.log.warn({ eventId }, "live inventory missing on a waiting room change; rebuilding from MySQL");
        await this.inventory.load(layout, stored.saleState, await this.store.soldState(eventId));
      }
      this.log.info({ eventId, from: wr, to: waitingRoom }, "waiting room settings changed");
      return this.withCommitment({ ...stored, layout });
    });
  }

  // ---- live views ---------------------------------------------------------

  /**
   * Exact as of the call. A process that follows the event (it keeps doing
   * so a while after each call) answers from its live map after reading only
   * the changes since its last read, not the whole seats hash.
   */
  async getSeatMap(eventId: string): Promise<SeatMap> {
    const { index, snapshot } = await this.currentSnapshot(eventId);
    return seatMapOf(index, snapshot);
  }

  /**
   * Streams the seat map until `signal` aborts: a snapshot, then merged
   * deltas (and a new snapshot if the watcher fell behind or the inventory
   * was rebuilt).
   */
  async watchSeatMap(
    eventId: string,
    signal: AbortSignal,
    deliver: (update: SeatMapWatchUpdate) => Promise<void>,
  ): Promise<void> {
    if (!this.hub) throw new Error("Events was built without a SeatMapWatchHub");
    const hub = this.hub;
    // A process that already follows the event serves the snapshot from its feed.
    const followed = hub.follows(eventId) ? await this.inventory.index(eventId) : undefined;
    const { index, snapshot } = followed ? { index: followed, snapshot: undefined } : await this.liveSnapshot(eventId);
    await hub.watch(
      index,
      signal,
      (update) =>
        deliver(update.kind === "snapshot" ? { kind: "snapshot", seatMap: seatMapOf(index, update.snapshot) } : update),
      snapshot,
    );
  }

  /**
   * GetEventSummary, and the metrics' funnel gauges (one source): seats by
   * state, the funnel, and what the metrics show beyond it (`health`). The
   * seat map and the Redis counts are read in one round trip, MySQL's counts
   * meanwhile.
   */
  async getEventSummary(eventId: string): Promise<EventSummary & { funnel: EventFunnel; health: EventHealth }> {
    const [{ index, snapshot }, activity, counts] = await Promise.all([
      this.followedOrLiveSnapshot(eventId),
      this.inventory.activity(eventId),
      this.store.funnelCounts(eventId),
    ]);
    const orders = (state: string) => counts.orders.get(state) ?? 0;
    return {
      ...summarize(index, snapshot),
      funnel: {
        waiting: activity.waiting,
        shopping: activity.shopping,
        activeHolds: activity.activeHolds,
        ordersPending: orders("PENDING_PAYMENT"),
        ordersConfirmed: orders("CONFIRMED"),
        ordersFailed: orders("FAILED"),
        ordersCancelled: orders("CANCELLED"),
        ordersRefunded: orders("REFUNDED"),
        ticketsValid: counts.ticketsValid,
        ticketsCheckedIn: counts.checkedIn,
      },
      health: {
        preQueue: activity.queueOpened ? 0 : activity.waiting,
        admissionRate: activity.admissionRate,
        maxShopping: index.layout.waitingRoom.enabled
          ? (activity.maxShopping ?? index.layout.waitingRoom.maxShopping)
          : 0,
        expiredHolds: activity.expiredHolds,
        soldSeatsInMysql: counts.soldSeats,
        paymentsAuthorized: counts.paymentsAuthorized,
        oldestAuthorizedSeconds: counts.oldestAuthorizedSeconds,
      },
    };
  }

  /** Rebuilds the event's Redis state from MySQL (holds are dropped); returns the counts after. */
  async rebuildInventory(eventId: string): Promise<Counts> {
    await this.live.locked(eventId, async () => {
      const stored = await this.requireStored(eventId);
      await this.inventory.load(stored.layout, stored.saleState, await this.store.soldState(eventId));
    });
    const { index, snapshot } = await this.liveSnapshot(eventId);
    return summarize(index, snapshot).total;
  }

  /**
   * At start-up: loads every event whose sale is not closed and whose live
   * state Redis lost. Returns how many were rebuilt.
   */
  async rebuildMissing(): Promise<number> {
    const ids = await this.store.eventIdsWithOpenOrScheduledSales();
    let rebuilt = 0;
    for (const eventId of ids) {
      try {
        if (await this.live.ensureLive(eventId)) rebuilt++;
      } catch (err) {
        // Deleted meanwhile: nothing to load. Anything else (a dependency down) ends the pass.
        if (!(err instanceof AppError && err.reason === "EVENT_NOT_FOUND")) throw err;
      }
    }
    this.log.info({ events: ids.length, rebuilt }, "start-up inventory check done");
    return rebuilt;
  }

  // ---- internals ----------------------------------------------------------

  private requireStored(eventId: string): Promise<StoredEvent> {
    return this.live.requireStored(eventId);
  }

  /**
   * The live state from this process's seat-map feed when it follows the
   * event (no Redis read), else from Redis; either way the process keeps
   * following the event a while, so the next summary reads nothing.
   */
  private async followedOrLiveSnapshot(eventId: string): Promise<{ index: SeatIndex; snapshot: SeatMapSnapshot }> {
    const followed = this.hub?.followed(eventId);
    const index = followed && (await this.inventory.index(eventId));
    if (followed && index) {
      const saleState = await this.inventory.saleState(eventId);
      if (saleState !== "") {
        this.hub?.keepFollowing(index);
        return { index, snapshot: { ...followed, saleState } };
      }
    }
    const live = await this.liveSnapshot(eventId);
    this.hub?.keepFollowing(live.index, live.snapshot);
    return live;
  }

  /** Like followedOrLiveSnapshot, but with every change made before the call (GetSeatMap). */
  private async currentSnapshot(eventId: string): Promise<{ index: SeatIndex; snapshot: SeatMapSnapshot }> {
    const index = this.hub?.follows(eventId) ? await this.inventory.index(eventId) : undefined;
    if (index) {
      const saleState = await this.inventory.saleState(eventId);
      const snapshot = saleState !== "" ? await this.hub?.caughtUp(eventId, saleState) : undefined;
      if (snapshot) {
        this.hub?.keepFollowing(index);
        return { index, snapshot };
      }
    }
    const live = await this.liveSnapshot(eventId);
    this.hub?.keepFollowing(live.index, live.snapshot);
    return live;
  }

  /** The layout and a snapshot of the live state, rebuilding it first when Redis lost it. */
  private async liveSnapshot(eventId: string): Promise<{ index: SeatIndex; snapshot: SeatMapSnapshot }> {
    let index = await this.inventory.index(eventId);
    if (index) {
      const snapshot = await this.inventory.snapshot(index);
      if (snapshot.saleState !== "") return { index, snapshot };
    }
    // Not live (never loaded here, or Redis lost it): MySQL decides whether the event exists.
    const stored = await this.requireStored(eventId);
    await this.live.ensureLive(eventId, stored.layout);
    index ??= new SeatIndex(stored.layout);
    const snapshot = await this.inventory.snapshot(index);
    if (snapshot.saleState === "") {
      throw new AppError("INVENTORY_NOT_LOADED", `event ${eventId} has no live inventory yet; retry`, {
        retryAfterMs: 1000,
      });
    }
    return { index, snapshot };
  }
}

// ---- validation -----------------------------------------------------------

interface ValidatedCreate {
  requestId: string;
  layout: EventLayout;
  requestHash: string;
}

/** Every field of CreateEvent checked, every violation collected; defaults applied. */
export function validateCreateEvent(input: CreateEventInput, now = new Date()): ValidatedCreate {
  const v = new Validator();
  const requestId = v.id("request_id", input.requestId);
  const e = input.event;
  if (!e) {
    v.add("event", "is required");
    throw invalidArgument(v.violations);
  }
  const p = "event";
  const givenId = v.optionalId(`${p}.event_id`, e.eventId);
  const name = v.text(`${p}.name`, e.name, LIMITS.textMax);
  const venue = v.text(`${p}.venue`, e.venue, LIMITS.textMax);
  if (!isCurrencyCode(e.currencyCode ?? "")) v.add(`${p}.currency_code`, "must be an ISO 4217 currency code, e.g. EUR");
  for (const [field, time] of [
    ["start_time", e.startTime],
    ["sale_open_time", e.saleOpenTime],
    ["sale_close_time", e.saleCloseTime],
  ] as const) {
    if (time && !validTime(time)) v.add(`${p}.${field}`, "must be a time between years 1970 and 9999");
  }
  if (e.saleOpenTime && e.saleCloseTime && validTime(e.saleOpenTime) && validTime(e.saleCloseTime)) {
    if (e.saleOpenTime.getTime() >= e.saleCloseTime.getTime())
      v.add(`${p}.sale_close_time`, "must be after sale_open_time");
  }

  // Hold policy: unset takes every default; set, a zero ttl or lifetime takes its default
  // (zero is not allowed for them) while max_extensions 0 means no extensions.
  const hp = e.holdPolicy;
  const ttlSeconds = hp?.ttlSeconds || DEFAULTS.ttlSeconds;
  v.int(`${p}.hold_policy.ttl_seconds`, ttlSeconds, LIMITS.ttl[0], LIMITS.ttl[1]);
  const maxExtensions = hp ? hp.maxExtensions : DEFAULTS.maxExtensions;
  v.int(`${p}.hold_policy.max_extensions`, maxExtensions, LIMITS.maxExtensions[0], LIMITS.maxExtensions[1]);
  const maxLifetimeSeconds = hp?.maxLifetimeSeconds || Math.min(2 * ttlSeconds, LIMITS.maxLifetimeMax);
  v.int(
    `${p}.hold_policy.max_lifetime_seconds`,
    maxLifetimeSeconds,
    Math.max(ttlSeconds, LIMITS.ttl[0]),
    LIMITS.maxLifetimeMax,
  );

  const maxTicketsPerBuyer = e.maxTicketsPerBuyer || DEFAULTS.maxTicketsPerBuyer;
  v.int(`${p}.max_tickets_per_buyer`, maxTicketsPerBuyer, LIMITS.maxTicketsPerBuyer[0], LIMITS.maxTicketsPerBuyer[1]);
  const refundCutoffSeconds = e.refundCutoffSeconds ?? 0;
  v.int(`${p}.refund_cutoff_seconds`, refundCutoffSeconds, ...LIMITS.refundCutoffSeconds);

  const wr = e.waitingRoom;
  const waitingRoom: WaitingRoomSettings = {
    enabled: wr?.enabled ?? false,
    admissionsPerSecond: wr?.admissionsPerSecond || DEFAULTS.admissionsPerSecond,
    maxShopping: wr?.maxShopping || DEFAULTS.maxShopping,
    sessionSeconds: wr?.sessionSeconds || DEFAULTS.sessionSeconds,
  };
  if (waitingRoom.enabled) {
    v.int(`${p}.waiting_room.admissions_per_second`, waitingRoom.admissionsPerSecond, ...LIMITS.admissionsPerSecond);
    v.int(`${p}.waiting_room.max_shopping`, waitingRoom.maxShopping, ...LIMITS.maxShopping);
    v.int(`${p}.waiting_room.session_seconds`, waitingRoom.sessionSeconds, ...LIMITS.sessionSeconds);
    // Only where it is on (no key otherwise), so requests without it hash as before.
    const adaptive = adaptiveAdmission(v, `${p}.waiting_room.adaptive`, wr?.adaptive, waitingRoom.admissionsPerSecond);
    if (adaptive) waitingRoom.adaptive = adaptive;
  }

  // Price categories.
  const categories = e.priceCategories ?? [];
  if (categories.length < 1 || categories.length > LIMITS.priceCategories) {
    v.add(`${p}.price_categories`, `must have 1..${LIMITS.priceCategories} price categories`);
  }
  const categoryIds = new Set<string>();
  const priceCategories = categories.slice(0, LIMITS.priceCategories).map((c, i) => {
    const f = `${p}.price_categories[${i}]`;
    if (!c.priceCategoryId) v.add(`${f}.price_category_id`, "is required");
    else if (!PRICE_CATEGORY_ID.test(c.priceCategoryId))
      v.add(`${f}.price_category_id`, "must be 1-32 characters of A-Z a-z 0-9 _ -");
    else if (categoryIds.has(c.priceCategoryId))
      v.add(`${f}.price_category_id`, `duplicate price category ${c.priceCategoryId}`);
    else categoryIds.add(c.priceCategoryId);
    v.text(`${f}.name`, c.name, LIMITS.textMax);
    const price = /^\d{1,16}$/.test(c.priceMinor ?? "") ? Number(c.priceMinor) : NaN;
    if (!Number.isSafeInteger(price) || price > MAX_PRICE_MINOR)
      v.add(`${f}.price_minor`, `must be a whole number of minor units, 0..${MAX_PRICE_MINOR}`);
    return { priceCategoryId: c.priceCategoryId, name: c.name, priceMinor: price };
  });
  const knownCategory = (field: string, id: string) => {
    if (!id) v.add(field, "is required");
    else if (!categoryIds.has(id)) v.add(field, `unknown price category ${id}`);
  };

  // Sections.
  const drafts = e.sections ?? [];
  if (drafts.length < 1 || drafts.length > LIMITS.sections)
    v.add(`${p}.sections`, `must have 1..${LIMITS.sections} sections`);
  const sectionIds = new Set<string>();
  const sections: SectionLayout[] = [];
  drafts.slice(0, LIMITS.sections).forEach((s, i) => {
    const f = `${p}.sections[${i}]`;
    if (v.violations.length > MAX_VIOLATIONS) return;
    if (!s.sectionId) v.add(`${f}.section_id`, "is required");
    else if (!SHORT_ID_PATTERN.test(s.sectionId)) v.add(`${f}.section_id`, "must be 1-16 characters of A-Z a-z 0-9 _");
    else if (sectionIds.has(s.sectionId)) v.add(`${f}.section_id`, `duplicate section ${s.sectionId}`);
    else sectionIds.add(s.sectionId);
    v.text(`${f}.name`, s.name, LIMITS.textMax);
    if (s.reserved) {
      const rows = s.reserved.rows ?? [];
      if (rows.length < 1 || rows.length > LIMITS.rowsPerSection) {
        v.add(`${f}.reserved.rows`, `must have 1..${LIMITS.rowsPerSection} rows`);
      }
      const rowIds = new Set<string>();
      const rowLayouts = rows.slice(0, LIMITS.rowsPerSection).map((r, j) => {
        const rf = `${f}.reserved.rows[${j}]`;
        if (v.violations.length <= MAX_VIOLATIONS) {
          if (!r.rowId) v.add(`${rf}.row_id`, "is required");
          else if (!SHORT_ID_PATTERN.test(r.rowId)) v.add(`${rf}.row_id`, "must be 1-16 characters of A-Z a-z 0-9 _");
          else if (rowIds.has(r.rowId)) v.add(`${rf}.row_id`, `duplicate row ${r.rowId} in section ${s.sectionId}`);
          else rowIds.add(r.rowId);
          v.int(`${rf}.seat_count`, r.seatCount, 1, LIMITS.seatsPerRow);
          v.int(`${rf}.first_seat_number`, r.firstSeatNumber || 1, 1, LIMITS.firstSeatNumberMax);
          knownCategory(`${rf}.price_category_id`, r.priceCategoryId);
        }
        return {
          rowId: r.rowId,
          firstSeatNumber: r.firstSeatNumber || 1,
          seatCount: r.seatCount,
          priceCategoryId: r.priceCategoryId,
          ...(r.placement ? { placement: toRowPlacement(r.placement) } : {}),
        };
      });
      sections.push({ sectionId: s.sectionId, name: s.name, rows: rowLayouts, ...outlineOf(s) });
    } else if (s.generalAdmission) {
      const ga = s.generalAdmission;
      v.int(`${f}.general_admission.capacity`, ga.capacity, 1, LIMITS.gaCapacity);
      knownCategory(`${f}.general_admission.price_category_id`, ga.priceCategoryId);
      sections.push({
        sectionId: s.sectionId,
        name: s.name,
        generalAdmission: {
          capacity: ga.capacity,
          priceCategoryId: ga.priceCategoryId,
          ...(ga.area ? { area: toArea(ga.area) } : {}),
        },
        ...outlineOf(s),
      });
    } else {
      v.add(f, "must set exactly one of reserved or general_admission");
    }
  });
  if (v.violations.length <= MAX_VIOLATIONS) checkSeatPlan(v, drafts.slice(0, LIMITS.sections), `${p}.sections`);
  const capacity = capacityOf(sections);
  if (capacity > LIMITS.totalCapacity) {
    v.add(`${p}.sections`, `total capacity ${capacity} is more than ${LIMITS.totalCapacity}`);
  }
  if (!v.ok) throw invalidArgument(capped(v.violations));

  const layout: EventLayout = {
    eventId: givenId || newEventId(),
    name,
    venue,
    startTime: e.startTime,
    saleOpenTime: e.saleOpenTime,
    saleCloseTime: e.saleCloseTime,
    holdPolicy: { ttlSeconds, maxExtensions, maxLifetimeSeconds },
    maxTicketsPerBuyer,
    refundCutoffSeconds,
    waitingRoom,
    currencyCode: e.currencyCode,
    priceCategories,
    sections,
    capacity,
    createTime: now,
  };
  // The hash covers what the caller asked for (the id only if they chose it),
  // after defaults: a retry that spells a default out is the same request.
  const { eventId: _id, createTime: _t, ...rest } = layout;
  const requestHash = createHash("sha256")
    .update(JSON.stringify({ ...rest, eventId: givenId }))
    .digest("hex");
  return { requestId, layout, requestHash };
}

/** The section's outline for the layout; nothing (not even the key) without one, so old requests hash as before. */
function outlineOf(s: SectionDraft): { outline?: Point[] } {
  return s.outline ? { outline: toOutline(s.outline.points ?? []) } : {};
}

function capped(violations: FieldViolation[]): FieldViolation[] {
  if (violations.length <= MAX_VIOLATIONS) return violations;
  return [
    ...violations.slice(0, MAX_VIOLATIONS),
    { field: "event", description: `more problems not listed; fix the ${MAX_VIOLATIONS} above and retry` },
  ];
}

function validTime(d: Date): boolean {
  const ms = d.getTime();
  return Number.isFinite(ms) && ms >= 0 && d.getUTCFullYear() <= 9999;
}

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/** `ev_` and 16 random base32 characters (80 bits). */
export function newEventId(): string {
  const bytes = randomBytes(10);
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return `ev_${out}`;
}

// ---- counting -------------------------------------------------------------

function counts(capacity: number, held: number, sold: number): Counts {
  return { capacity, free: Math.max(0, capacity - held - sold), held, sold };
}

/** Seats by state for the event, per section and per price category, from one snapshot. */
export function summarize(index: SeatIndex, snapshot: SeatMapSnapshot): EventSummary {
  const layout = index.layout;
  type Tally = { capacity: number; held: number; sold: number };
  const bySection = new Map<string, Tally>();
  const byCategory = new Map<string, Tally>(
    layout.priceCategories.map((c) => [c.priceCategoryId, { capacity: 0, held: 0, sold: 0 }]),
  );
  const category = (id: string) => {
    let t = byCategory.get(id);
    if (!t) byCategory.set(id, (t = { capacity: 0, held: 0, sold: 0 }));
    return t;
  };
  for (const s of layout.sections) {
    const t: Tally = { capacity: 0, held: 0, sold: 0 };
    bySection.set(s.sectionId, t);
    if (s.generalAdmission) {
      const ga = snapshot.ga.get(s.sectionId) ?? { capacity: s.generalAdmission.capacity, held: 0, sold: 0 };
      t.capacity = ga.capacity;
      t.held = ga.held;
      t.sold = ga.sold;
      const c = category(s.generalAdmission.priceCategoryId);
      c.capacity += ga.capacity;
      c.held += ga.held;
      c.sold += ga.sold;
    }
    for (const r of s.rows ?? []) {
      t.capacity += r.seatCount;
      category(r.priceCategoryId).capacity += r.seatCount;
    }
  }
  // Only seats that are not free are in the snapshot.
  for (const [seatId, state] of snapshot.seats) {
    const seat = index.seat(seatId);
    if (!seat) continue;
    const key = state === "S" ? "sold" : "held";
    const t = bySection.get(seat.sectionId);
    if (t) t[key]++;
    category(seat.priceCategoryId)[key]++;
  }
  let total = { capacity: 0, held: 0, sold: 0 };
  for (const t of bySection.values()) {
    total = { capacity: total.capacity + t.capacity, held: total.held + t.held, sold: total.sold + t.sold };
  }
  return {
    eventId: layout.eventId,
    saleState: snapshot.saleState || "SCHEDULED",
    total: counts(total.capacity, total.held, total.sold),
    sections: layout.sections.map((s) => {
      const t = bySection.get(s.sectionId)!;
      return { sectionId: s.sectionId, counts: counts(t.capacity, t.held, t.sold) };
    }),
    categories: [...byCategory].map(([priceCategoryId, t]) => ({
      priceCategoryId,
      counts: counts(t.capacity, t.held, t.sold),
    })),
  };
}

// ---- errors ---------------------------------------------------------------

function saleError(
  reason: "SALE_CLOSED" | "SALE_NOT_OPEN",
  eventId: string,
  state: SaleState,
  message: string,
): AppError {
  return new AppError(reason, message, { metadata: { event_id: eventId, sale_state: state } });
}
