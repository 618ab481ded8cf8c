// The bench's events, loaded straight into Redis the way test/support/inventory.ts
// does (an Inventory on the bench's own ioredis client, sale OPEN, waiting room
// off), and the ghz data files that address their seats.
import fs from "node:fs";
import path from "node:path";
import { createRedis, type RedisClient } from "../../src/adapters/redis/client.js";
import { Scripts } from "../../src/adapters/redis/scripts.js";
import { Inventory } from "../../src/events/inventory.js";
import { capacityOf, seatId, type EventLayout, type SectionLayout } from "../../src/events/layout.js";

export interface BenchRedis {
  redis: RedisClient;
  scripts: Scripts;
  inventory: Inventory;
  close(): Promise<void>;
}

export function benchRedis(url: string): BenchRedis {
  const redis = createRedis({ url });
  const scripts = new Scripts(redis);
  const inventory = new Inventory({ redis, scripts });
  return { redis, scripts, inventory, close: async () => void (await redis.quit()) };
}

export interface GridShape {
  sections: number;
  rowsPerSection: number;
  seatsPerRow: number;
}

export function gridCapacity(g: GridShape): number {
  return g.sections * g.rowsPerSection * g.seatsPerRow;
}

/** Sections S0..S<n-1>, rows 1..r, seats 1..m, one price category. */
export function gridLayout(eventId: string, g: GridShape, limit: number, sectionPrefix = "S"): EventLayout {
  const sections: SectionLayout[] = Array.from({ length: g.sections }, (_, s) => ({
    sectionId: g.sections === 1 ? sectionPrefix : `${sectionPrefix}${s}`,
    name: `Section ${s}`,
    rows: Array.from({ length: g.rowsPerSection }, (_, r) => ({
      rowId: String(r + 1),
      firstSeatNumber: 1,
      seatCount: g.seatsPerRow,
      priceCategoryId: "std",
    })),
  }));
  const ttl = 3600; // nothing expires while the bench runs
  return {
    eventId,
    name: `Bench ${eventId}`,
    venue: "Bench arena",
    startTime: undefined,
    saleOpenTime: undefined,
    saleCloseTime: undefined,
    holdPolicy: { ttlSeconds: ttl, maxExtensions: 1, maxLifetimeSeconds: ttl * 2 },
    maxTicketsPerBuyer: limit,
    refundCutoffSeconds: 0,
    waitingRoom: { enabled: false, admissionsPerSecond: 0, maxShopping: 0, sessionSeconds: 0 },
    currencyCode: "EUR",
    priceCategories: [{ priceCategoryId: "std", name: "Standard", priceMinor: 5000 }],
    sections,
    capacity: capacityOf(sections),
    createTime: new Date(),
  };
}

/** The i-th seat of a grid in section, row, seat order. */
export function gridSeat(g: GridShape, i: number, sectionPrefix = "S"): string {
  const perSection = g.rowsPerSection * g.seatsPerRow;
  const s = Math.floor(i / perSection);
  const inSection = i % perSection;
  const r = Math.floor(inSection / g.seatsPerRow);
  const n = inSection % g.seatsPerRow;
  return seatId(g.sections === 1 ? sectionPrefix : `${sectionPrefix}${s}`, String(r + 1), n + 1);
}

export async function loadOpenEvent(b: BenchRedis, layout: EventLayout): Promise<void> {
  await b.inventory.load(layout, "OPEN", { seatIds: [], gaSold: new Map(), boughtByBuyer: new Map() });
}

export interface HoldRequestJson {
  event_id: string;
  buyer_id: string;
  request_id: string;
  seats: { seat_ids: string[] };
}

/**
 * Writes a JSON array of `count` HoldSeats requests; call i of the file holds
 * seats 2(first+i) and 2(first+i)+1 of the grid: two seats no other call names.
 * ghz uses array element (request number mod length) for unary calls, so a
 * file as long as -n gives every call its own message.
 */
export function writeDistinctHoldsFile(
  file: string,
  o: { eventId: string; grid: GridShape; firstCall: number; count: number; idPrefix: string },
): { bytesPerMessage: number } {
  const capacity = gridCapacity(o.grid);
  if (2 * (o.firstCall + o.count) > capacity) {
    throw new Error(
      `event ${o.eventId} has ${capacity} seats: too few for calls ${o.firstCall}..${o.firstCall + o.count - 1} of 2 seats`,
    );
  }
  const out: string[] = [];
  let bytes = 0;
  for (let i = 0; i < o.count; i++) {
    const c = o.firstCall + i;
    const msg: HoldRequestJson = {
      event_id: o.eventId,
      buyer_id: `${o.idPrefix}-b${c}`,
      request_id: `${o.idPrefix}-r${c}`,
      seats: { seat_ids: [gridSeat(o.grid, 2 * c), gridSeat(o.grid, 2 * c + 1)] },
    };
    const s = JSON.stringify(msg);
    bytes += s.length;
    out.push(s);
  }
  fs.writeFileSync(file, `[\n${out.join(",\n")}\n]\n`);
  return { bytesPerMessage: bytes / o.count };
}

/**
 * Distinct-hold data files on one event, handed out in turn: each file's calls
 * start where the last file's ended, so no two calls of the run name a seat twice.
 */
export class DistinctHoldFiles {
  private firstCall = 0;
  constructor(private readonly o: { dir: string; eventId: string; grid: GridShape; runId: string }) {}

  /** `<dir>/<name>.json` with the next `count` calls; ids are `<runId><name>-b<call>`. */
  next(count: number, name: string): string {
    const file = path.join(this.o.dir, `${name}.json`);
    writeDistinctHoldsFile(file, {
      eventId: this.o.eventId,
      grid: this.o.grid,
      firstCall: this.firstCall,
      count,
      idPrefix: `${this.o.runId}${name}`,
    });
    this.firstCall += count;
    return file;
  }
}

/** `count` Noop requests whose payload makes them about as large as a hold request. */
export function writeNoopFile(file: string, o: { count: number; payloadChars: number; idPrefix: string }): void {
  const out: string[] = [];
  for (let i = 0; i < o.count; i++) {
    const head = `${o.idPrefix}-n${i}-`;
    const payload = (head + "x".repeat(Math.max(0, o.payloadChars - head.length))).slice(
      0,
      Math.max(o.payloadChars, head.length),
    );
    out.push(JSON.stringify({ payload }));
  }
  fs.writeFileSync(file, `[\n${out.join(",\n")}\n]\n`);
}

/** Random 1..maxSeats distinct seats of `seats` per request; unique buyers and request ids. */
export function writeContentionFile(
  file: string,
  o: { eventId: string; seats: string[]; count: number; maxSeats: number; idPrefix: string; seed: number },
): { seatsRequested: number } {
  let state = o.seed >>> 0 || 1;
  const rand = () => {
    // xorshift32: reproducible from the seed recorded in the results
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
  const out: string[] = [];
  let seatsRequested = 0;
  for (let i = 0; i < o.count; i++) {
    const k = 1 + Math.floor(rand() * o.maxSeats);
    const picked = new Set<string>();
    while (picked.size < k) picked.add(o.seats[Math.floor(rand() * o.seats.length)]!);
    seatsRequested += k;
    const msg: HoldRequestJson = {
      event_id: o.eventId,
      buyer_id: `${o.idPrefix}-b${i}`,
      request_id: `${o.idPrefix}-r${i}`,
      seats: { seat_ids: [...picked] },
    };
    out.push(JSON.stringify(msg));
  }
  fs.writeFileSync(file, `[\n${out.join(",\n")}\n]\n`);
  return { seatsRequested };
}
