// Redis is the live store of holds and sold seats; it runs with an
// append-only file (REDIS_DURABILITY_ARGS: appendonly yes, appendfsync
// everysec) everywhere the product starts it. This test SIGKILLs such a Redis
// mid-sale, restarts it on the same data directory and port, and checks that
// the holds and sold seats are still there and no seat can be taken twice.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createRedis, type RedisClient } from "../../src/adapters/redis/client.js";
import { eventKeys } from "../../src/adapters/redis/keys.js";
import { Scripts } from "../../src/adapters/redis/scripts.js";
import { AppError } from "../../src/domain/errors.js";
import { Inventory } from "../../src/events/inventory.js";
import { rowSeatIds } from "../../src/events/layout.js";
import { Holds, type Hold } from "../../src/holds/holds.js";
import { REDIS_DURABILITY_ARGS, repoRoot, startRedis, type RedisHandle } from "../../tools/devstack/stack.js";
import { uid } from "../support/app.js";
import { stackRedisClusterNodes, testEnv } from "../support/env.js";
import { randomSample, testLayout } from "../support/inventory.js";

let dir: string;
let redis: RedisHandle | undefined;
let client: RedisClient;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ticketing-durability-"));
  redis = await startRedis({ dir, persistent: true });
  client = createRedis({ url: redis.url });
  // While Redis is down the calls fail (and say so); the connection's own errors are expected here.
  client.on("error", () => undefined);
});
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Polls `check` until it returns true (no fixed sleeps: the condition itself). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("Redis durability", () => {
  it("runs the product's Redis with AOF: the test stack, its cluster nodes and compose", async () => {
    expect(REDIS_DURABILITY_ARGS).toEqual(["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]);
    // The Redis and every Redis Cluster node this test run's stack started (test/run.ts).
    const stores = [testEnv().redisUrl, ...(stackRedisClusterNodes() ?? []).map((n) => `redis://${n.host}:${n.port}`)];
    expect(stores.length).toBeGreaterThan(1);
    for (const url of stores) {
      const node = new Redis(url, { lazyConnect: true });
      try {
        expect(await node.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
        expect(await node.config("GET", "appendfsync")).toEqual(["appendfsync", "everysec"]);
      } finally {
        node.disconnect();
      }
    }
    const compose = parse(fs.readFileSync(path.join(repoRoot, "docker-compose.yml"), "utf8")) as {
      services: { redis: { command: string[] } };
    };
    expect(compose.services.redis.command).toEqual(["redis-server", ...REDIS_DURABILITY_ARGS]);
  });

  it(
    "keeps every acknowledged hold and sold seat across a SIGKILL mid-sale, and sells no seat twice after",
    { timeout: 120_000 },
    async () => {
      const scripts = new Scripts(client);
      const inventory = new Inventory({ redis: client, scripts });
      const holds = new Holds({ redis: client, scripts, inventory });
      const layout = testLayout({ rows: 10, seatsPerRow: 20, limit: 4 });
      await inventory.load(layout, "OPEN", { seatIds: [], gaSold: new Map(), boughtByBuyer: new Map() });
      const eventId = layout.eventId;
      const all = layout.sections[0]!.rows!.flatMap((r) => rowSeatIds("A", r));
      const target = () => ({ eventId, buyerId: uid("b"), requestId: uid("r"), admissionToken: "" });

      // Sold before the kill: held, pinned by a checkout, marked sold after "MySQL committed".
      const sold: Hold[] = [];
      for (let i = 0; i < 5; i++) {
        const hold = await holds.holdSeats(target(), [`A-1-${2 * i + 1}`, `A-1-${2 * i + 2}`]);
        await holds.pinHolds(eventId, [hold.holdId], hold.buyerId, `o_${hold.holdId}`, 60_000);
        expect(await holds.markSold(hold)).toBe("OK");
        sold.push(hold);
      }

      // Mid-sale: buyers keep holding random pairs of seats while Redis is killed.
      const acked: Hold[] = [];
      let selling = true;
      let killed = false;
      const buyers = Array.from({ length: 8 }, async () => {
        while (selling) {
          try {
            acked.push(await holds.holdSeats(target(), randomSample(all, 2)));
          } catch (err) {
            // Lost the seat to another buyer, or (after the kill) Redis is gone: the call fails fast.
            if (!(err instanceof AppError) && !killed) throw err;
          }
        }
      });
      await until("40 holds acknowledged", async () => acked.length >= 40);
      // Every hold acknowledged so far is in the AOF (written to the file, the
      // kernel's page cache) once Redis's AOF buffer is empty: what a crash of
      // redis-server alone must never lose.
      const acknowledged = [...acked];
      await until("the AOF buffer written", async () => /aof_buffer_length:0\b/.test(await client.info("persistence")));
      const port = redis!.port;
      killed = true;
      process.kill(redis!.pid, "SIGKILL");
      await redis!.exited;
      selling = false;
      await Promise.all(buyers);

      // Restarted on the same directory and port: the product's client reconnects by itself.
      redis = await startRedis({ dir, persistent: true, port });
      await until("the client reconnected", async () => (await client.ping()) === "PONG");

      const k = eventKeys(eventId);
      for (const hold of sold) {
        const after = await holds.getHold(eventId, hold.holdId);
        expect(after).toMatchObject({ state: "SOLD", seatIds: hold.seatIds, buyerId: hold.buyerId });
        for (const seat of hold.seatIds) expect(await client.hget(k.seats, seat)).toBe(`S|${hold.holdId}`);
      }
      for (const hold of acknowledged) {
        const after = await holds.getHold(eventId, hold.holdId);
        expect(after).toMatchObject({ state: "ACTIVE", seatIds: hold.seatIds, buyerId: hold.buyerId });
        for (const seat of hold.seatIds)
          expect((await client.hget(k.seats, seat))?.endsWith(`|${hold.holdId}`)).toBe(true);
      }

      // Whatever else made it into the file is whole: each taken seat names a
      // hold that lists it, and no seat is in two live holds.
      const values = await client.hgetall(k.seats);
      const owner = new Map<string, string>();
      for (const [seat, value] of Object.entries(values)) {
        const holdId = value.slice(value.indexOf("|") + 1);
        const hold = await holds.getHold(eventId, holdId);
        expect(hold.seatIds).toContain(seat);
        expect(["ACTIVE", "SOLD"]).toContain(hold.state);
        expect(owner.has(seat)).toBe(false);
        owner.set(seat, holdId);
      }
      expect(owner.size).toBeGreaterThanOrEqual(10 + 2 * acknowledged.length);

      // After the restart every seat is offered to a new buyer: exactly the free ones are held,
      // never a sold seat or one still held from before the kill.
      const retry = await Promise.allSettled(all.map((seat) => holds.holdSeats(target(), [seat])));
      const newlyHeld = retry.flatMap((r) => (r.status === "fulfilled" ? r.value.seatIds : []));
      const refused = retry.flatMap((r, i) =>
        r.status === "rejected" && (r.reason as AppError).reason === "SEATS_UNAVAILABLE" ? [all[i]!] : [],
      );
      expect(newlyHeld.length + refused.length).toBe(all.length);
      expect(refused.sort()).toEqual([...owner.keys()].sort());
      for (const hold of sold) for (const seat of hold.seatIds) expect(newlyHeld).not.toContain(seat);
    },
  );
});
