// The live state of events in Redis: loading it from the source of truth,
// the cached layout the hot path validates against, sale state, and the
// seat map read at one instant.
import { AppError } from "../domain/errors.js";
import type { RedisClient } from "../adapters/redis/client.js";
import { eventKeys, queueKeys } from "../adapters/redis/keys.js";
import type { GaCounts, InventoryScripts, LiveSeatState } from "../adapters/redis/inventory-scripts.js";
import type { Scripts } from "../adapters/redis/scripts.js";
import {
  bestAvailableRowChunks,
  rowSeatIds,
  SeatIndex,
  withoutPlan,
  type EventLayout,
  type SaleState,
} from "./layout.js";

export type { LiveSeatState };

/** What the source of truth says is sold, for (re)loading Redis. */
export interface SoldState {
  seatIds: string[];
  /** General admission: sold quantity by section id. */
  gaSold: Map<string, number>;
  /** Seats bought per buyer, for the per-buyer limit. */
  boughtByBuyer: Map<string, number>;
}

export interface SeatMapSnapshot {
  nowMs: number;
  version: bigint;
  saleState: SaleState | "";
  /** State of each reserved seat that is not free, with expired holds already free. */
  seats: Map<string, LiveSeatState>;
  /** General admission counts by section id (held excludes expired holds). */
  ga: Map<string, GaCounts>;
}

export interface EventActivity {
  waiting: number;
  shopping: number;
  activeHolds: number;
  /** Holds past their expiry still listed (the sweeper has not reclaimed them yet). */
  expiredHolds: number;
  /** The waiting room opened (before that, everyone waiting is in the pre-queue). */
  queueOpened: boolean;
  /** Admissions per second measured by the waiting room over its last window (0 before any). */
  admissionRate: number;
  /** The waiting room's max shopping in the live state (UpdateWaitingRoom changes it); undefined when absent. */
  maxShopping: number | undefined;
}

export interface InventoryDeps {
  redis: RedisClient;
  scripts: Scripts;
}

export class Inventory {
  private readonly layouts = new Map<string, SeatIndex>();
  private readonly redis: RedisClient;
  private readonly scripts: InventoryScripts;

  constructor(deps: InventoryDeps) {
    this.redis = deps.redis;
    this.scripts = deps.scripts.inventory;
  }

  /** Writes settings, layout (without its seat plan) and sold state; drops every existing hold. */
  async load(full: EventLayout, saleState: SaleState, sold: SoldState): Promise<{ version: bigint }> {
    const layout = withoutPlan(full);
    const { version } = await this.scripts.loadInventory({
      eventId: layout.eventId,
      state: saleState,
      ttlMs: layout.holdPolicy.ttlSeconds * 1000,
      limit: layout.maxTicketsPerBuyer,
      maxExtensions: layout.holdPolicy.maxExtensions,
      maxLifetimeMs: layout.holdPolicy.maxLifetimeSeconds * 1000,
      waitingRoom: liveWaitingRoom(layout),
      soldSeats: sold.seatIds,
      gaSections: layout.sections
        .filter((s) => s.generalAdmission)
        .map((s) => ({
          sectionId: s.sectionId,
          capacity: s.generalAdmission?.capacity ?? 0,
          sold: sold.gaSold.get(s.sectionId) ?? 0,
        })),
      buyers: [...sold.boughtByBuyer].map(([buyerId, bought]) => ({ buyerId, bought })),
      rows: bestAvailableRowChunks(layout),
      layoutJson: JSON.stringify(layout),
    });
    this.layouts.set(layout.eventId, new SeatIndex(layout));
    return { version };
  }

  /**
   * Writes the best-available row lists of an event loaded before they
   * existed (hold_best_available.lua answers NO_ROWS). They derive from the
   * immutable layout, so writing them again, or from two processes at once,
   * writes the same thing.
   */
  async writeBestAvailableRows(index: SeatIndex): Promise<void> {
    const fields = bestAvailableRowChunks(index.layout);
    if (fields.length > 0) await this.redis.hset(eventKeys(index.layout.eventId).rows, ...fields);
  }

  /** The event's layout if this process has it cached (no Redis read). */
  cachedIndex(eventId: string): SeatIndex | undefined {
    return this.layouts.get(eventId);
  }

  /** The event's layout from this process's cache, else from Redis; undefined when not loaded. */
  async index(eventId: string): Promise<SeatIndex | undefined> {
    const cached = this.layouts.get(eventId);
    if (cached) return cached;
    const json = await this.redis.get(eventKeys(eventId).layout);
    if (!json) return undefined;
    const layout = JSON.parse(json, (key, value: unknown) =>
      /Time$/.test(key) && typeof value === "string" ? new Date(value) : value,
    ) as EventLayout;
    const index = new SeatIndex(layout);
    this.layouts.set(eventId, index);
    return index;
  }

  /** Like index(), but a missing layout is an error the caller can act on. */
  async requireIndex(eventId: string): Promise<SeatIndex> {
    const index = await this.index(eventId);
    if (!index)
      throw new AppError("INVENTORY_NOT_LOADED", `event ${eventId} has no live inventory`, { retryAfterMs: 1000 });
    return index;
  }

  /**
   * The waiting room's settings in the live state (every process's next
   * admission step reads them) and in the cached layout; the current rate
   * only with `restartRate`. False when the event's inventory is not loaded.
   */
  async setWaitingRoom(layout: EventLayout, restartRate: boolean): Promise<boolean> {
    const set = await this.scripts.setWaitingRoom({
      eventId: layout.eventId,
      settings: liveWaitingRoom(layout),
      layoutJson: JSON.stringify(layout),
      restartRate,
    });
    if (set) this.layouts.set(layout.eventId, new SeatIndex(layout));
    return set;
  }

  /** The sale state in the live state; "" when the event's inventory is not loaded. */
  async saleState(eventId: string): Promise<SaleState | ""> {
    return ((await this.redis.hget(eventKeys(eventId).meta, "state")) ?? "") as SaleState | "";
  }

  /** Sets the sale state where the live state exists; false when it does not. */
  async setSaleState(eventId: string, state: SaleState): Promise<boolean> {
    return this.scripts.setSaleState({ eventId, state });
  }

  /**
   * Buyers in the waiting room's line (all of them in the pre-queue until the
   * room opens), shopping now, the measured admission rate, holds not ended
   * yet and those past their expiry that nobody reclaimed yet. Every command
   * is issued at once: one round trip (one auto-pipelined write on a single
   * Redis), and in the same write as a snapshot issued alongside.
   */
  async activity(eventId: string): Promise<EventActivity> {
    const q = queueKeys(eventId);
    const k = eventKeys(eventId);
    const [waiting, shopping, activeHolds, expiredHolds, room, maxShopping] = await Promise.all([
      this.redis.zcard(q.line),
      this.redis.zcard(q.shop),
      this.redis.zcard(k.expiries),
      // The local clock is close enough here: the count only feeds the "sweeper behind" alert.
      this.redis.zcount(k.expiries, "-inf", Date.now()),
      this.redis.hmget(q.meta, "opened", "rate"),
      this.redis.hget(k.meta, "wr_max"),
    ]);
    return {
      waiting,
      shopping,
      activeHolds,
      expiredHolds,
      queueOpened: Boolean(room[0]),
      admissionRate: Number(room[1] ?? 0),
      maxShopping: maxShopping === null ? undefined : Number(maxShopping),
    };
  }

  async snapshot(index: SeatIndex): Promise<SeatMapSnapshot> {
    const map = await this.scripts.seatMap({
      eventId: index.layout.eventId,
      gaSectionIds: index.gaSections().map((s) => s.sectionId),
    });
    return { ...map, saleState: map.saleState as SaleState | "" };
  }
}

function liveWaitingRoom(layout: EventLayout) {
  const wr = layout.waitingRoom;
  return {
    admissionsPerSecond: wr.admissionsPerSecond,
    maxShopping: wr.maxShopping,
    sessionMs: wr.sessionSeconds * 1000,
    adaptiveJson: wr.adaptive ? JSON.stringify(wr.adaptive) : "",
  };
}

/** One character per seat of a row ('F', 'H', 'S'), in seat-number order. */
export function rowStates(snapshot: SeatMapSnapshot, sectionId: string, row: Parameters<typeof rowSeatIds>[1]): string {
  return rowSeatIds(sectionId, row)
    .map((id) => snapshot.seats.get(id) ?? "F")
    .join("");
}
