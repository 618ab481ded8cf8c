// The knobs of `bench:strategies`, read from the environment (BENCH_STRATEGY_*,
// BENCH_ROUNDS); a bad one throws with its name before anything starts.
import { envNumber } from "../lib/env.js";

function onOff(name: string, fallback: boolean): boolean {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  if (v === "on") return true;
  if (v === "off") return false;
  throw new Error(`${name}=${v}: expected on or off`);
}

function whole(name: string, fallback: number, min: number): number {
  const n = envNumber(name, fallback);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${n}: expected a whole number ≥ ${min}`);
  return n;
}

/** Short codes for event ids (ids stay well under 64 characters). */
export const CODES: Record<string, string> = {
  "mysql-for-update": "fu",
  "mysql-optimistic": "op",
  "redis-setnx-lock": "lk",
  "lua-hold": "lua",
  "redis-naive-broken": "nv",
};

function only(): string[] {
  const names = (process.env.BENCH_STRATEGY_ONLY ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !Object.hasOwn(CODES, n));
  if (unknown.length)
    throw new Error(
      `BENCH_STRATEGY_ONLY: no strategy ${unknown.join(", ")} (there are ${Object.keys(CODES).join(", ")})`,
    );
  return names;
}

export function readSettings(started: Date) {
  return {
    buyers: whole("BENCH_STRATEGY_BUYERS", 20_000, 1),
    concurrency: whole("BENCH_STRATEGY_CONCURRENCY", 64, 1),
    rounds: whole("BENCH_ROUNDS", 3, 1),
    warmupCalls: whole("BENCH_STRATEGY_WARMUP", 2_000, 0),
    seed: whole("BENCH_STRATEGY_SEED", started.getTime() % 2 ** 31 || 1, 1),
    mysqlPool: whole("BENCH_STRATEGY_MYSQL_POOL", 16, 1),
    forUpdateAttempts: whole("BENCH_STRATEGY_FOR_UPDATE_ATTEMPTS", 5, 1),
    optimisticAttempts: whole("BENCH_STRATEGY_OPTIMISTIC_ATTEMPTS", 10, 1),
    lockAttempts: whole("BENCH_STRATEGY_LOCK_ATTEMPTS", 50, 1),
    lockTtlMs: whole("BENCH_STRATEGY_LOCK_TTL_MS", 2_000, 1),
    lockBackoffBaseMs: 1,
    lockBackoffCapMs: 16,
    naive: onOff("BENCH_STRATEGY_NAIVE", true),
    only: only(),
    roundTimeoutS: whole("BENCH_STRATEGY_ROUND_TIMEOUT_S", 600, 1),
    rows: 4,
    seatsPerRow: 25,
    maxSeatsPerBuyer: 4,
  };
}

export type Settings = ReturnType<typeof readSettings>;
