// Two Redis strategies that do the decision in the client, not in Redis:
//  - RedisLock: a per-event lock (SET key token NX PX ttl), retried with
//    jittered backoff up to a bound; under it read the seats (HMGET), check
//    they are free, write them (HSET); release with a compare-and-delete so a
//    lock that expired and was taken by someone else is not deleted.
//  - RedisNaive: the same read-check-write with no lock at all. It is the
//    broken baseline: concurrent buyers read "free" for the same seat and
//    both write, so it oversells. It is here to show what the lock is for.
// Seats live in one hash per event: seatId -> buyerId (absent = free).
import { randomBytes } from "node:crypto";
import { createRedis, type RedisClient } from "../../src/adapters/redis/client.js";
import { backoffMs, errorReason, sleep, type HoldOutcome, type HoldStrategy, type Venue } from "./types.js";
import type { Check } from "../lib/invariants.js";

// Deletes the lock only if it still holds our token (the usual single-instance Redis lock release).
const UNLOCK_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

type UnlockCommand = (key: string, token: string) => Promise<number>;

abstract class RedisSeatHash {
  protected readonly redis: RedisClient;
  private eventId: string | undefined;

  constructor(
    redisUrl: string,
    private readonly prefix: string,
  ) {
    this.redis = createRedis({ url: redisUrl });
  }

  protected keys() {
    if (this.eventId === undefined) throw new Error(`${this.prefix}: hold() before reset()`);
    const tag = `{${this.prefix}:${this.eventId}}`;
    return { seats: `${tag}:seats`, lock: `${tag}:lock` };
  }

  async reset(venue: Venue): Promise<void> {
    if (this.eventId !== undefined) await this.drop();
    this.eventId = venue.eventId;
    await this.drop(); // a key left by an earlier run with the same id
  }

  async readHolders(): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.keys().seats)));
  }

  /** HMGET the seats: true when any of them is held. */
  protected async heldAmong(seatIds: string[]): Promise<boolean> {
    const values = await this.redis.hmget(this.keys().seats, ...seatIds);
    return values.some((v) => v !== null);
  }

  protected async write(buyerId: string, seatIds: string[]): Promise<void> {
    await this.redis.hset(this.keys().seats, Object.fromEntries(seatIds.map((s) => [s, buyerId])));
  }

  private async drop(): Promise<void> {
    const k = this.keys();
    await this.redis.unlink(k.seats, k.lock);
  }

  async close(): Promise<void> {
    try {
      if (this.eventId !== undefined) await this.drop();
    } finally {
      await this.redis.quit();
    }
  }
}

export interface RedisLockOptions {
  redisUrl: string;
  /** SET NX attempts before the hold fails with "lock not acquired". */
  maxAttempts: number;
  /** The lock's PX: how long a crashed holder blocks everyone. */
  lockTtlMs: number;
  backoffBaseMs: number;
  backoffCapMs: number;
}

export class RedisLock extends RedisSeatHash implements HoldStrategy {
  readonly name = "redis-setnx-lock";
  readonly label = "Redis SET NX PX per-event lock + retry, then HMGET, check, HSET, compare-and-delete release";
  readonly claimsCorrect = true;
  readonly settings: Record<string, string | number>;
  private readonly unlock: UnlockCommand;

  constructor(private readonly o: RedisLockOptions) {
    super(o.redisUrl, "sx");
    this.redis.defineCommand("benchUnlock", { numberOfKeys: 1, lua: UNLOCK_LUA });
    this.unlock = (this.redis as unknown as { benchUnlock: UnlockCommand }).benchUnlock.bind(this.redis);
    this.settings = {
      client: "one ioredis connection (the product's createRedis: auto-pipelining)",
      "lock attempts": o.maxAttempts,
      "lock TTL": `${o.lockTtlMs} ms`,
      backoff: `full jitter, ${o.backoffBaseMs} ms doubling, cap ${o.backoffCapMs} ms`,
    };
  }

  async hold(buyerId: string, seatIds: string[]): Promise<HoldOutcome> {
    const k = this.keys();
    const token = randomBytes(12).toString("base64url");
    let attempts = 0;
    try {
      for (;;) {
        attempts++;
        if ((await this.redis.set(k.lock, token, "PX", this.o.lockTtlMs, "NX")) === "OK") break;
        if (attempts >= this.o.maxAttempts)
          return { status: "failed", attempts, reason: `lock not acquired in ${attempts} attempts` };
        await sleep(backoffMs(attempts, this.o.backoffBaseMs, this.o.backoffCapMs));
      }
    } catch (err) {
      return { status: "failed", attempts, reason: errorReason(err) };
    }
    try {
      if (await this.heldAmong(seatIds)) return { status: "taken", attempts };
      await this.write(buyerId, seatIds);
      return { status: "held", attempts };
    } catch (err) {
      return { status: "failed", attempts, reason: errorReason(err) };
    } finally {
      // A failed release leaves the lock to expire after its TTL: everyone waits, nobody oversells.
      await this.unlock(k.lock, token).catch(() => 0);
    }
  }

  async extraChecks(): Promise<Check[]> {
    const left = await this.redis.exists(this.keys().lock);
    return [
      {
        name: "no lock left behind after the round",
        ok: left === 0,
        detail: left === 0 ? "lock key absent" : "the lock key still exists",
      },
    ];
  }
}

export class RedisNaive extends RedisSeatHash implements HoldStrategy {
  readonly name = "redis-naive-broken";
  readonly label = "BROKEN BASELINE: Redis HMGET, check, HSET with no lock (read-check-write race)";
  readonly claimsCorrect = false;
  readonly settings: Record<string, string | number> = {
    client: "one ioredis connection (the product's createRedis: auto-pipelining)",
  };

  constructor(redisUrl: string) {
    super(redisUrl, "sn");
  }

  async hold(buyerId: string, seatIds: string[]): Promise<HoldOutcome> {
    try {
      if (await this.heldAmong(seatIds)) return { status: "taken", attempts: 1 };
      await this.write(buyerId, seatIds);
      return { status: "held", attempts: 1 };
    } catch (err) {
      return { status: "failed", attempts: 1, reason: errorReason(err) };
    }
  }
}
