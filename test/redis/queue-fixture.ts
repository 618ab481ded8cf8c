// Waiting-room fixtures over real Redis (single node or the cluster): events
// with the waiting room on, loaded straight into Redis, and a WaitingRoom
// whose admission tokens are stand-ins (token tests live in test/queue).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { RedisScriptRunner, type ScriptRunner } from "../../src/adapters/redis/runner.js";
import { Scripts } from "../../src/adapters/redis/scripts.js";
import type { EventLayout, SaleState } from "../../src/events/layout.js";
import { Inventory } from "../../src/events/inventory.js";
import { Holds } from "../../src/holds/holds.js";
import type { AdmissionTokens } from "../../src/queue/admission.js";
import { WaitingRoom, type WaitingRoomOptions } from "../../src/queue/waiting-room.js";
import type { RedisClient } from "../../src/adapters/redis/client.js";
import { startRedis, startRedisCluster } from "../../tools/devstack/stack.js";
import { testLayout, testRedis, type LayoutOptions } from "../support/inventory.js";

/**
 * Gives the calling test file a Redis (in the cluster run, a Redis Cluster)
 * of its own: the API instances other test files start step every waiting
 * room listed in a shared Redis, and would take the admission steps a test
 * here counts. Call it at the top of the file, before the hooks that build
 * instances; the worker process gets the shared stack back afterwards.
 */
export function ownRedisForThisFile(): void {
  const shared = { REDIS_URL: process.env.REDIS_URL, REDIS_CLUSTER_NODES: process.env.REDIS_CLUSTER_NODES };
  let own: { stop(): Promise<void> } | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ticketing-queue-redis-"));
    if (process.env.REDIS_CLUSTER_NODES) {
      const cluster = await startRedisCluster({ dir });
      process.env.REDIS_CLUSTER_NODES = cluster.nodesEnv;
      own = cluster;
    } else {
      const redis = await startRedis({ dir });
      process.env.REDIS_URL = redis.url;
      own = redis;
    }
  }, 120_000);
  afterAll(async () => {
    await own?.stop();
    for (const [name, value] of Object.entries(shared)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
}

/** Admission tokens that are not signed: `token:<event>:<buyer>:<admittedMs>`. */
export const fakeAdmission = {
  issue: async (a: { eventId: string; buyerId: string; admittedMs: number }) =>
    `token:${a.eventId}:${a.buyerId}:${a.admittedMs}`,
} as unknown as AdmissionTokens;

export const roomOptions: WaitingRoomOptions = {
  abandonMs: 0,
  firstHoldGraceMs: 30_000,
  outageMs: 5_000,
  rateLimitWindowMs: 10_000,
  joinLimit: 0,
  positionLimit: 0,
  // Position polls go through the batch (lua/queue_poll.lua), as in the API.
  pollBatchMs: 5,
};

/** One "API instance": its own Redis connection, scripts, inventory cache and waiting room. */
export interface Instance {
  redis: RedisClient;
  scripts: Scripts;
  inventory: Inventory;
  holds: Holds;
  room: WaitingRoom;
  close(): Promise<void>;
}

export function instance(
  options: Partial<WaitingRoomOptions> = {},
  wrap?: (runner: ScriptRunner) => ScriptRunner,
): Instance {
  const redis = testRedis();
  const scripts = wrap ? new Scripts(wrap(new RedisScriptRunner(redis))) : new Scripts(redis);
  const inventory = new Inventory({ redis, scripts });
  // Gate checks are the API's business; here every hold is let through.
  const holds = new Holds({ redis, scripts, inventory, gate: { check: async () => undefined } });
  const room = new WaitingRoom({
    scripts,
    inventory,
    admission: fakeAdmission,
    options: { ...roomOptions, ...options },
  });
  return { redis, scripts, inventory, holds, room, close: async () => void (await redis.quit()) };
}

export interface RoomEventOptions extends LayoutOptions {
  state?: SaleState;
  rate?: number;
  maxShopping?: number;
  sessionSeconds?: number;
  soldSeats?: string[];
}

/** Loads a fresh event with its waiting room on. */
export async function roomEvent(i: Instance, o: RoomEventOptions = {}): Promise<EventLayout> {
  const layout = testLayout(o);
  layout.waitingRoom = {
    enabled: true,
    admissionsPerSecond: o.rate ?? 100,
    maxShopping: o.maxShopping ?? 1000,
    sessionSeconds: o.sessionSeconds ?? 600,
  };
  await i.inventory.load(layout, o.state ?? "OPEN", {
    seatIds: o.soldSeats ?? [],
    gaSold: new Map(),
    boughtByBuyer: new Map(),
  });
  return layout;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The state code of each buyer (W A L E X C), read in one call. */
export async function codes(room: WaitingRoom, eventId: string, buyers: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < buyers.length; i += 2000) {
    const chunk = buyers.slice(i, i + 2000);
    const v = await room.views(eventId, chunk);
    chunk.forEach((b, j) => out.set(b, v!.buyers[j]!.code));
  }
  return out;
}

export async function admittedOf(room: WaitingRoom, eventId: string, buyers: string[]): Promise<string[]> {
  const c = await codes(room, eventId, buyers);
  return buyers.filter((b) => c.get(b) === "A");
}
