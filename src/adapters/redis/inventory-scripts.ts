// The live-inventory scripts (lua/load_inventory.lua, set_sale_state.lua,
// set_waiting_room.lua, seat_map.lua): each a function with named inputs and a decoded reply. This
// module alone knows their KEYS order and reply layouts.
import { eventKeys, holdFreeingKeys } from "./keys.js";
import type { ScriptArgv, ScriptReply, ScriptRunner } from "./runner.js";

/** A reserved seat's live state: free, held, sold. */
export type LiveSeatState = "F" | "H" | "S";

export interface GaCounts {
  capacity: number;
  held: number;
  sold: number;
}

export interface LoadInventoryInput {
  eventId: string;
  state: string;
  ttlMs: number;
  limit: number;
  maxExtensions: number;
  maxLifetimeMs: number;
  /** The waiting room's settings (queue_step.lua reads them from the live state). */
  waitingRoom: WaitingRoomLive;
  soldSeats: readonly string[];
  gaSections: readonly { sectionId: string; capacity: number; sold: number }[];
  /** Seats each buyer bought, for the per-buyer limit. */
  buyers: readonly { buyerId: string; bought: number }[];
  /** Best-available row lists: field, chunk, field, chunk... (events/layout.ts bestAvailableRowChunks). */
  rows: readonly string[];
  /** Stored as is. */
  layoutJson: string;
}

/** The waiting room's settings as the live state keeps them. */
export interface WaitingRoomLive {
  admissionsPerSecond: number;
  maxShopping: number;
  sessionMs: number;
  /** Adaptive admission's settings as JSON; "" when off. */
  adaptiveJson: string;
}

export interface SeatMapReply {
  nowMs: number;
  version: bigint;
  /** '' when the inventory is not loaded. */
  saleState: string;
  /** Each reserved seat that is not free, with expired holds already free. */
  seats: Map<string, LiveSeatState>;
  /** By section id (held excludes expired holds). */
  ga: Map<string, GaCounts>;
}

/** What MySQL says of one hold's seats (lua/repair_seats.lua's ARGV[2]). */
export interface SeatTruthInput {
  /** Seats an order owns, with that order's hold id. */
  sold: readonly (readonly [string, string])[];
  /** Seats no order owns. */
  free: readonly string[];
  /** The section's sold count (general admission), else null. */
  gaSold: number | null;
  /** Places the buyer bought in the event. */
  bought: number;
  /** Whether the hold's own order owns its seats now. */
  mine: boolean;
}

export class InventoryScripts {
  constructor(private readonly runner: ScriptRunner) {}

  /** lua/load_inventory.lua: a new epoch; every hold made before is dropped. */
  loadInventory(i: LoadInventoryInput): Promise<{ epoch: number; version: bigint }> {
    const k = eventKeys(i.eventId);
    const argv: ScriptArgv = [
      9 + 3 * i.gaSections.length + i.buyers.length,
      k.meta,
      k.seats,
      k.layout,
      k.expiries,
      k.version,
      k.changes,
      k.rowHints,
      k.rowCursor,
      k.rows,
    ];
    for (const s of i.gaSections) argv.push(k.ga(s.sectionId), k.gaQuantities(s.sectionId), k.gaExpiries(s.sectionId));
    for (const b of i.buyers) argv.push(k.buyer(b.buyerId));
    const config = {
      state: i.state,
      ttlMs: i.ttlMs,
      limit: i.limit,
      maxExtensions: i.maxExtensions,
      maxLifetimeMs: i.maxLifetimeMs,
      wrRate: i.waitingRoom.admissionsPerSecond,
      wrMax: i.waitingRoom.maxShopping,
      wrSessionMs: i.waitingRoom.sessionMs,
      wrAdaptive: i.waitingRoom.adaptiveJson,
      soldSeats: i.soldSeats,
      // In KEYS order, as the script pairs them.
      ga: i.gaSections.map((s) => [s.capacity, s.sold]),
      buyers: i.buyers.map((b) => b.bought),
      rows: i.rows,
    };
    argv.push(JSON.stringify(config), i.layoutJson);
    return this.runner
      .run("load_inventory", argv)
      .then((r) => ({ epoch: Number(r[0]), version: BigInt(String(r[1])) }));
  }

  /** lua/set_sale_state.lua: false when the event's inventory is not loaded. */
  setSaleState(i: { eventId: string; state: string }): Promise<boolean> {
    return this.runner
      .run<number>("set_sale_state", [1, eventKeys(i.eventId).meta, i.state])
      .then((updated) => Number(updated) === 1);
  }

  /**
   * lua/set_waiting_room.lua: the waiting room's settings and the layout
   * carrying them; the current rate only with `restartRate` (else an
   * adaptive rate goes on). False when the event's inventory is not loaded.
   */
  setWaitingRoom(i: {
    eventId: string;
    settings: WaitingRoomLive;
    layoutJson: string;
    restartRate: boolean;
  }): Promise<boolean> {
    const k = eventKeys(i.eventId);
    const s = i.settings;
    return this.runner
      .run<number>("set_waiting_room", [
        2,
        k.meta,
        k.layout,
        i.restartRate ? s.admissionsPerSecond : "",
        s.maxShopping,
        s.sessionMs,
        i.layoutJson,
        s.adaptiveJson,
      ])
      .then((updated) => Number(updated) === 1);
  }

  /**
   * lua/repair_seats.lua: writes one hold's seats' sold or free state from
   * MySQL's `truth`, touching no other hold and not the epoch. NOT_LOADED when
   * the event has no live state at all.
   */
  repairSeats(i: {
    eventId: string;
    holdId: string;
    buyerId: string;
    sectionId: string;
    truth: SeatTruthInput;
  }): Promise<{ result: "OK" | "NOT_LOADED"; changed: number }> {
    const keys = holdFreeingKeys(i);
    const argv: ScriptArgv = [keys.length, ...keys, i.holdId, JSON.stringify(i.truth), i.sectionId];
    return this.runner.run("repair_seats", argv).then((r) => ({
      result: String(r[0]) === "OK" ? "OK" : "NOT_LOADED",
      changed: Number(r[1] ?? 0),
    }));
  }

  /** lua/seat_map.lua: the live seat state at one instant (read only). */
  seatMap(i: { eventId: string; gaSectionIds: readonly string[] }): Promise<SeatMapReply> {
    const k = eventKeys(i.eventId);
    const argv: ScriptArgv = [3 + 3 * i.gaSectionIds.length, k.meta, k.seats, k.version];
    for (const id of i.gaSectionIds) argv.push(k.ga(id), k.gaQuantities(id), k.gaExpiries(id));
    return this.runner.run("seat_map", argv).then((r) => {
      const nowMs = Number(r[0]);
      const seats = new Map<string, LiveSeatState>();
      const flat = r[3] as ScriptReply;
      for (let n = 0; n < flat.length; n += 2) {
        const state = seatState(String(flat[n + 1]), nowMs);
        if (state !== "F") seats.set(String(flat[n]), state);
      }
      const counts = (r[4] as ScriptReply).map(Number);
      const ga = new Map<string, GaCounts>();
      i.gaSectionIds.forEach((id, n) => {
        ga.set(id, { capacity: counts[n * 3] ?? 0, held: counts[n * 3 + 1] ?? 0, sold: counts[n * 3 + 2] ?? 0 });
      });
      return { nowMs, version: BigInt(String(r[1])), saleState: String(r[2]), seats, ga };
    });
  }
}

/** Reads a seats-hash value ("<expiresMs>|<holdId>" or "S|<holdId>", keys.ts) at nowMs: an expired hold is free. */
export function seatState(value: string, nowMs: number): LiveSeatState {
  if (value.startsWith("S|")) return "S";
  const expires = Number(value.slice(0, value.indexOf("|")));
  return expires > nowMs ? "H" : "F";
}
