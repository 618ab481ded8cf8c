// Invariant checks on an event's Redis state after a run: read the seats hash
// (raw and through Inventory.snapshot) and every hold the event indexes, and
// compare them with what the load generator says happened.
import { eventKeys } from "../../src/adapters/redis/keys.js";
import { SeatIndex, type EventLayout } from "../../src/events/layout.js";
import type { BenchRedis } from "./events.js";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface EventState {
  eventId: string;
  capacity: number;
  holds: { holdId: string; buyer: string; state: string; seats: string[] }[];
  /** Raw seats hash: seatId -> "<expiresMs>|<holdId>" or "S|<holdId>". */
  seatValues: Map<string, string>;
  /** Inventory.snapshot: seats not free at one instant ("H" or "S"). */
  snapshotSeats: Map<string, "F" | "H" | "S">;
  nowMs: number;
  version: number;
}

/** Reads the event's whole live state: every hold in its expiry index, the seats hash, a snapshot. */
export async function readEventState(b: BenchRedis, layout: EventLayout): Promise<EventState> {
  const k = eventKeys(layout.eventId);
  const holdIds = await b.redis.zrange(k.expiries, "0", "-1");
  const holds: EventState["holds"] = [];
  for (let i = 0; i < holdIds.length; i += 5000) {
    const part = holdIds.slice(i, i + 5000);
    const pipeline = b.redis.pipeline();
    for (const id of part) pipeline.hmget(k.hold(id), "buyer", "state", "kind", "seats");
    const replies = (await pipeline.exec()) ?? [];
    part.forEach((holdId, j) => {
      const [err, value] = replies[j] ?? [null, null];
      if (err) throw err;
      const [buyer, state, kind, seats] = (value as (string | null)[]) ?? [];
      holds.push({
        holdId,
        buyer: buyer ?? "",
        state: `${kind ?? "?"}${state ?? "?"}`,
        seats: seats ? seats.split(",") : [],
      });
    });
  }
  const raw = await b.redis.hgetall(k.seats);
  const seatValues = new Map(Object.entries(raw));
  const snapshot = await b.inventory.snapshot(new SeatIndex(layout));
  const version = Number((await b.redis.get(k.version)) ?? 0);
  return {
    eventId: layout.eventId,
    capacity: layout.capacity,
    holds,
    seatValues,
    snapshotSeats: snapshot.seats,
    nowMs: snapshot.nowMs,
    version,
  };
}

/** Seat-level invariants that hold for any event at any time. */
export function seatChecks(s: EventState, index: SeatIndex): Check[] {
  const checks: Check[] = [];
  const owner = new Map<string, string>();
  const doubles: string[] = [];
  const badHolds: string[] = [];
  for (const h of s.holds) {
    if (h.state !== "RA") badHolds.push(`${h.holdId}:${h.state}`);
    for (const seat of h.seats) {
      const prev = owner.get(seat);
      if (prev !== undefined) doubles.push(`${seat} in ${prev} and ${h.holdId}`);
      owner.set(seat, h.holdId);
    }
  }
  checks.push({
    name: "no seat in two holds",
    ok: doubles.length === 0,
    detail:
      doubles.length === 0
        ? `${owner.size} seats held by ${s.holds.length} holds, each seat in exactly one`
        : `${doubles.length} seats in two holds, e.g. ${doubles.slice(0, 5).join("; ")}`,
  });
  checks.push({
    name: "every indexed hold is an active reserved-seat hold",
    ok: badHolds.length === 0,
    detail:
      badHolds.length === 0
        ? `${s.holds.length} holds, all kind R, state A`
        : `${badHolds.length} are not, e.g. ${badHolds.slice(0, 5).join(", ")}`,
  });
  const unknown = [...owner.keys()].filter((seat) => !index.seat(seat));
  checks.push({
    name: "every held seat exists in the layout",
    ok: unknown.length === 0,
    detail: unknown.length === 0 ? "yes" : `${unknown.length} do not, e.g. ${unknown.slice(0, 5).join(", ")}`,
  });

  const held = [...s.snapshotSeats].filter(([, st]) => st === "H").map(([id]) => id);
  const sold = [...s.snapshotSeats].filter(([, st]) => st === "S").length;
  const heldSet = new Set(held);
  const missing = [...owner.keys()].filter((seat) => !heldSet.has(seat));
  const extra = held.filter((seat) => !owner.has(seat));
  const wrongOwner: string[] = [];
  for (const [seat, value] of s.seatValues) {
    const holdId = value.slice(value.indexOf("|") + 1);
    const expected = owner.get(seat);
    if (!value.startsWith("S|") && expected !== holdId)
      wrongOwner.push(`${seat}=${value} (holds say ${expected ?? "nobody"})`);
  }
  checks.push({
    name: "held seats = union of the successful holds' seats",
    ok: missing.length === 0 && extra.length === 0 && wrongOwner.length === 0,
    detail:
      missing.length + extra.length + wrongOwner.length === 0
        ? `snapshot shows ${held.length} held seats, exactly the union of the holds' seats; every seats-hash entry names the hold that claims it`
        : `missing from snapshot ${missing.length} (${missing.slice(0, 3).join(",")}), held by no hold ${extra.length} (${extra.slice(0, 3).join(",")}), hash names another hold ${wrongOwner.length} (${wrongOwner.slice(0, 3).join("; ")})`,
  });
  checks.push({
    name: "sold + held ≤ capacity",
    ok: sold + held.length <= s.capacity,
    detail: `sold ${sold} + held ${held.length} = ${sold + held.length} of ${s.capacity}`,
  });
  return checks;
}
