// Redis-side measurements: INFO cpu, an event's seat-map version (INCR'd by
// every successful hold), cleanup, and the Lua ceiling via redis-benchmark.
import { createHash } from "node:crypto";
import type { RedisClient } from "../../src/adapters/redis/client.js";
import { eventKeys } from "../../src/adapters/redis/keys.js";
import { scriptSource } from "../../src/adapters/redis/scripts.js";
import { run } from "./stack.js";

/** used_cpu_sys + used_cpu_user of the Redis server, in seconds. */
export async function redisCpuSeconds(redis: RedisClient): Promise<number> {
  const info = await redis.info("cpu");
  const get = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, "m").exec(info)?.[1] ?? NaN);
  return get("used_cpu_sys") + get("used_cpu_user");
}

/** Calls and microseconds spent executing scripts (EVALSHA + EVAL), from INFO commandstats: script time without network I/O. */
export async function scriptStats(redis: RedisClient): Promise<{ calls: number; usec: number }> {
  const info = await redis.info("commandstats");
  let calls = 0;
  let usec = 0;
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/gm)) {
    calls += Number(m[1]);
    usec += Number(m[2]);
  }
  return { calls, usec };
}

/** Socket reads and writes Redis served (INFO stats): with calls, how well the clients batch. */
export async function redisIoStats(redis: RedisClient): Promise<{ reads: number; writes: number }> {
  const info = await redis.info("stats");
  const get = (k: string) => Number(new RegExp(`^${k}:(\\d+)`, "m").exec(info)?.[1] ?? NaN);
  return { reads: get("total_reads_processed"), writes: get("total_writes_processed") };
}

export async function eventVersion(redis: RedisClient, eventId: string): Promise<number> {
  return Number((await redis.get(eventKeys(eventId).version)) ?? 0);
}

/** UNLINKs every key of an event (SCAN by its hash tag). */
export async function dropEvent(redis: RedisClient, eventId: string): Promise<number> {
  const pattern = `{ev:${eventId}}:*`;
  let cursor = "0";
  let dropped = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 5000);
    cursor = next;
    if (keys.length > 0) {
      await redis.unlink(...keys);
      dropped += keys.length;
    }
  } while (cursor !== "0");
  return dropped;
}

export function holdSeatsSha(): { sha: string; source: string } {
  const source = scriptSource("hold_seats");
  return { sha: createHash("sha1").update(source).digest("hex"), source };
}

export interface CeilingRun {
  command: string;
  eventId: string;
  calls: number;
  /** redis-benchmark's requests per second (every reply, whatever it said). */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Successful holds: the event's version delta (each OK INCRs it once). */
  ok: number;
  /** Calls that changed nothing: TAKEN (a random seat id drawn twice), or, far less likely, REPLAY/LIMIT. */
  notOk: number;
  redisCpuSeconds: number;
  redisCpuUsPerCall: number;
  /** Script execution time per call (INFO commandstats), without network I/O. */
  scriptUsPerCall: number;
  benchmarkCpuSeconds: number;
  wallSeconds: number;
  exitCode: number | null;
}

/**
 * `redis-benchmark -n N -c C -r 100000000 EVALSHA <sha> 7 <keys> <args>`: each
 * `__rand_int__` becomes an independent 12-digit random number per call, so
 * every call is a fresh 2-seat hold attempt for a new buyer with a new hold id
 * (the id the API derives from the request).
 */
export async function runCeiling(o: {
  redis: RedisClient;
  host: string;
  port: number;
  eventId: string;
  sha: string;
  calls: number;
  clients: number;
}): Promise<CeilingRun> {
  const k = eventKeys(o.eventId);
  const R = "__rand_int__";
  const keys = [k.meta, k.seats, k.hold(`h${R}`), k.buyer(`b${R}`), k.expiries, k.version, k.changes];
  // holdId, buyerId, request hash (any string: each hold is new), then the seats.
  const args = [`h${R}`, `b${R}`, `q${R}`, `C-1-${R}`, `C-2-${R}`];
  const cmd = [
    "-h",
    o.host,
    "-p",
    String(o.port),
    "-n",
    String(o.calls),
    "-c",
    String(o.clients),
    "-r",
    "100000000",
    "--csv",
    "EVALSHA",
    o.sha,
    String(keys.length),
    ...keys,
    ...args,
  ];
  const v0 = await eventVersion(o.redis, o.eventId);
  const c0 = await redisCpuSeconds(o.redis);
  const s0 = await scriptStats(o.redis);
  const started = process.hrtime.bigint();
  const r = await run("bash", ["-c", '"$@"; rc=$?; times >&2; exit $rc', "rb-timed", "redis-benchmark", ...cmd], {
    timeoutMs: 10 * 60_000,
  });
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const c1 = await redisCpuSeconds(o.redis);
  const s1 = await scriptStats(o.redis);
  const v1 = await eventVersion(o.redis, o.eventId);
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const row = r.stdout
    .trim()
    .split("\n")
    .find((l) => l.startsWith('"EVALSHA'));
  const fields = row ? [...row.matchAll(/"([^"]*)"/g)].map((m) => m[1]!) : [];
  const timesLine =
    r.stderr
      .trim()
      .split("\n")
      .filter((l) => /^\d+m[\d.]+s \d+m[\d.]+s$/.test(l.trim()))
      .pop() ?? "";
  let benchCpu = 0;
  for (const m of timesLine.matchAll(/(\d+)m([\d.]+)s/g)) benchCpu += Number(m[1]) * 60 + Number(m[2]);
  const ok = v1 - v0;
  return {
    command: ["redis-benchmark", ...cmd].map((a) => (/[\s{}"']/.test(a) ? `'${a}'` : a)).join(" "),
    eventId: o.eventId,
    calls: o.calls,
    rps: Number(fields[1] ?? NaN),
    p50Ms: Number(fields[4] ?? NaN),
    p99Ms: Number(fields[6] ?? NaN),
    ok,
    notOk: o.calls - ok,
    redisCpuSeconds: c1 - c0,
    redisCpuUsPerCall: ((c1 - c0) / o.calls) * 1e6,
    scriptUsPerCall: (s1.usec - s0.usec) / Math.max(1, s1.calls - s0.calls),
    benchmarkCpuSeconds: benchCpu,
    wallSeconds,
    exitCode: r.code,
  };
}
