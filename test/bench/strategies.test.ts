// The seat-hold strategies of `npm run bench:strategies` on the test stack's real
// Redis and MySQL, with a tiny workload (10 seats, 300 buyers, 16 in flight):
// each correct strategy must hold no seat twice, leave the store equal to what
// the buyers were told, and account for every call. Each test has its own
// event id (Redis keys) and the file its own MySQL database.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { assertValidWorkload, checkRound, makeVenue, makeWorkload, runRound } from "../../bench/strategies/driver.js";
import { LuaHold } from "../../bench/strategies/lua-hold.js";
import { MysqlForUpdate } from "../../bench/strategies/mysql-for-update.js";
import { MysqlOptimistic } from "../../bench/strategies/mysql-optimistic.js";
import { RedisLock } from "../../bench/strategies/redis-lock.js";
import type { HoldStrategy } from "../../bench/strategies/types.js";
import { freshMysqlDatabase, testEnv, type FreshDatabase } from "../support/env.js";

const BUYERS = 300;
let counter = 0;
/** A fresh event id: its own Redis keys and MySQL rows. */
const uid = (prefix: string) => `${prefix}_${process.pid}_${Date.now().toString(36)}_${(counter++).toString(36)}`;
const CONCURRENCY = 16;

let db: FreshDatabase;
beforeAll(async () => {
  db = await freshMysqlDatabase("bench_strategies");
});
afterAll(async () => {
  await db?.drop();
});

const lockOptions = (attempts: number) => ({
  redisUrl: testEnv().redisUrl,
  maxAttempts: attempts,
  lockTtlMs: 2000,
  backoffBaseMs: 1,
  backoffCapMs: 16,
});

const correct: [string, () => HoldStrategy][] = [
  ["mysql-for-update", () => new MysqlForUpdate({ mysqlUrl: db.url, poolSize: 8, maxAttempts: 5 })],
  ["mysql-optimistic", () => new MysqlOptimistic({ mysqlUrl: db.url, poolSize: 8, maxAttempts: 10 })],
  // A generous lock budget: this test is about correctness, not about how many give up.
  ["redis-setnx-lock", () => new RedisLock(lockOptions(1000))],
  ["lua-hold", () => new LuaHold(testEnv().redisUrl)],
];

describe("seat-hold strategies under contention (10 seats, 300 buyers)", () => {
  it.each(correct)(
    "%s: no seat held twice, store = what buyers were told, every call accounted for",
    async (_name, make) => {
      const strategy = make();
      try {
        const venue = makeVenue(uid("ev"), 1, 10, 4);
        const workload = makeWorkload({ buyers: BUYERS, seatIds: venue.seatIds, maxSeats: 4, seed: 20261123 });
        assertValidWorkload(venue, workload);
        const r = await runRound(strategy, venue, workload, { concurrency: CONCURRENCY, round: 1 });

        expect(r.checks.filter((c) => !c.ok)).toEqual([]);
        expect(r.held + r.taken + r.failed).toBe(BUYERS);
        expect(r.oversoldSeats).toBe(0);
        expect(r.failed).toBe(0);
        // The race really happened: someone won, far more lost, and nothing is over capacity.
        expect(r.held).toBeGreaterThan(0);
        expect(r.taken).toBeGreaterThan(BUYERS / 2);
        expect(r.seatsHeld).toBeGreaterThan(0);
        expect(r.seatsHeld).toBeLessThanOrEqual(10);
      } finally {
        await strategy.close();
      }
    },
  );

  it("redis-setnx-lock: a lock nobody releases makes holds fail after the retry budget, and writes nothing", async () => {
    const strategy = new RedisLock(lockOptions(3));
    const redis = new Redis(testEnv().redisUrl);
    try {
      const venue = makeVenue(uid("ev"), 1, 10, 4);
      await strategy.reset(venue);
      await redis.set(`{sx:${venue.eventId}}:lock`, "someone-else", "PX", 60_000);
      const out = await strategy.hold("b1", ["A-1-1", "A-1-2"]);
      expect(out).toEqual({ status: "failed", attempts: 3, reason: "lock not acquired in 3 attempts" });
      expect((await strategy.readHolders()).size).toBe(0);
      // The other holder's lock is untouched: a failed hold never deletes a lock it does not own.
      expect(await redis.get(`{sx:${venue.eventId}}:lock`)).toBe("someone-else");
    } finally {
      redis.disconnect();
      await strategy.close();
    }
  });
});

describe("the round checks", () => {
  const venue = makeVenue("ev_checks", 1, 4, 4);
  const workload = {
    seed: 1,
    seatsRequested: 5,
    requests: [
      { buyerId: "b0", seatIds: ["A-1-1", "A-1-2"] },
      { buyerId: "b1", seatIds: ["A-1-2", "A-1-3"] },
      { buyerId: "b2", seatIds: ["A-1-4"] },
    ],
  };

  it("accept a clean round", () => {
    const outcomes = [
      { status: "held", attempts: 1 },
      { status: "taken", attempts: 1 },
      { status: "held", attempts: 2 },
    ] as const;
    const holders = new Map([
      ["A-1-1", "b0"],
      ["A-1-2", "b0"],
      ["A-1-4", "b2"],
    ]);
    const { checks, oversoldSeats } = checkRound(venue, workload, outcomes, holders);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(oversoldSeats).toBe(0);
  });

  it("catch a seat promised to two buyers, a partial hold and a lost call", () => {
    const outcomes = [{ status: "held", attempts: 1 }, { status: "held", attempts: 1 }, undefined] as const;
    // The later writer overwrote A-1-2: b0 was told it holds a seat the store gives to b1.
    const holders = new Map([
      ["A-1-1", "b0"],
      ["A-1-2", "b1"],
      ["A-1-3", "b1"],
    ]);
    const { checks, oversoldSeats } = checkRound(venue, workload, outcomes, holders);
    const broken = checks.filter((c) => !c.ok).map((c) => c.name);
    expect(oversoldSeats).toBe(1);
    expect(broken).toEqual([
      "every call accounted for (held + taken + failed = calls)",
      "no oversell: no seat promised to two buyers",
      "held seats in the store = union of the successful holds",
      "all or nothing: each successful buyer holds every seat it asked for",
    ]);
  });

  it("refuse a workload no strategy should see", () => {
    const bad =
      (seatIds: string[], buyerId = "b0") =>
      () =>
        assertValidWorkload(venue, { seed: 1, seatsRequested: seatIds.length, requests: [{ buyerId, seatIds }] });
    expect(bad(["A-9-9"])).toThrow(/A-9-9, not a seat of event/);
    expect(bad(["A-1-1", "A-1-1"])).toThrow(/names a seat twice/);
    expect(bad(["A-1-1", "A-1-2", "A-1-3", "A-1-4", "A-1-5"])).toThrow(/asks for 5 seats/);
    expect(bad([])).toThrow(/asks for no seat/);
    expect(bad(["A-1-1"], "b}x")).toThrow(/is not \[A-Za-z0-9_-\]/);
  });
});
