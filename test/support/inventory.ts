// Redis-level fixtures: a client for the test stack (single Redis or the
// cluster, whichever this run uses) and events loaded straight into Redis.
import { createRedis, type RedisClient } from "../../src/adapters/redis/client.js";
import { Scripts } from "../../src/adapters/redis/scripts.js";
import { Inventory } from "../../src/events/inventory.js";
import { capacityOf, type EventLayout, type SectionLayout } from "../../src/events/layout.js";
import { Holds } from "../../src/holds/holds.js";
import { testEnv } from "./env.js";
import { uid } from "./app.js";

export function testRedis(): RedisClient {
  const env = testEnv();
  return createRedis({ url: env.redisUrl, clusterNodes: env.redisClusterNodes });
}

export interface LayoutOptions {
  rows?: number;
  seatsPerRow?: number;
  gaCapacity?: number;
  ttlSeconds?: number;
  maxExtensions?: number;
  maxLifetimeSeconds?: number;
  limit?: number;
}

/** A small venue: section A with rows 1..n of seats 1..m (category std), and GA when asked. */
export function testLayout(o: LayoutOptions = {}): EventLayout {
  const sections: SectionLayout[] = [
    {
      sectionId: "A",
      name: "Stalls",
      rows: Array.from({ length: o.rows ?? 10 }, (_, i) => ({
        rowId: String(i + 1),
        firstSeatNumber: 1,
        seatCount: o.seatsPerRow ?? 10,
        priceCategoryId: "std",
      })),
    },
  ];
  if (o.gaCapacity) {
    sections.push({
      sectionId: "FLOOR",
      name: "Floor",
      generalAdmission: { capacity: o.gaCapacity, priceCategoryId: "std" },
    });
  }
  const ttl = o.ttlSeconds ?? 600;
  return {
    eventId: uid("ev"),
    name: "Test event",
    venue: "Test hall",
    startTime: undefined,
    saleOpenTime: undefined,
    saleCloseTime: undefined,
    holdPolicy: {
      ttlSeconds: ttl,
      maxExtensions: o.maxExtensions ?? 1,
      maxLifetimeSeconds: o.maxLifetimeSeconds ?? ttl * 2,
    },
    maxTicketsPerBuyer: o.limit ?? 8,
    refundCutoffSeconds: 0,
    waitingRoom: { enabled: false, admissionsPerSecond: 0, maxShopping: 0, sessionSeconds: 0 },
    currencyCode: "EUR",
    priceCategories: [{ priceCategoryId: "std", name: "Standard", priceMinor: 5000 }],
    sections,
    capacity: capacityOf(sections),
    createTime: new Date(),
  };
}

export interface Fixture {
  redis: RedisClient;
  scripts: Scripts;
  inventory: Inventory;
  holds: Holds;
  close(): Promise<void>;
}

export function redisFixture(): Fixture {
  const redis = testRedis();
  const scripts = new Scripts(redis);
  const inventory = new Inventory({ redis, scripts });
  const holds = new Holds({ redis, scripts, inventory });
  return { redis, scripts, inventory, holds, close: async () => void (await redis.quit()) };
}

/** Loads a fresh event with an open sale. */
export async function openEvent(f: Fixture, o: LayoutOptions = {}): Promise<EventLayout> {
  const layout = testLayout(o);
  await f.inventory.load(layout, "OPEN", { seatIds: [], gaSold: new Map(), boughtByBuyer: new Map() });
  return layout;
}

export function randomSample<T>(items: T[], n: number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, n);
}
