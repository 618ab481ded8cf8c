// Plain numbered SQL files in ./migrations, applied in order at start-up and
// recorded in schema_migrations; re-running is harmless. A named lock keeps
// two processes starting at once from applying the same file twice.
import { readdir, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { RowDataPacket } from "mysql2/promise";
import { isConnectionError } from "../../domain/errors.js";
import type { MysqlPool } from "./pool.js";

const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations/", import.meta.url));
const LOCK_NAME = "ticketing_migrations";

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

export async function migrate(pool: MysqlPool, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const conn = await pool.getConnection();
  try {
    const [lock] = await conn.query<RowDataPacket[]>("SELECT GET_LOCK(?, 60) AS got", [LOCK_NAME]);
    if (lock[0]?.got !== 1) throw new Error("could not take the migration lock within 60 s");
    try {
      await conn.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version INT UNSIGNED NOT NULL PRIMARY KEY,
           name VARCHAR(200) NOT NULL,
           applied_at DATETIME(3) NOT NULL
         )`,
      );
      const [rows] = await conn.query<RowDataPacket[]>("SELECT version FROM schema_migrations");
      const done = new Set(rows.map((r) => Number(r.version)));
      const result: MigrationResult = { applied: [], alreadyApplied: [] };
      for (const file of files) {
        const version = Number(file.slice(0, 3));
        if (done.has(version)) {
          result.alreadyApplied.push(file);
          continue;
        }
        const sql = await readFile(`${dir}/${file}`, "utf8");
        for (const statement of splitStatements(sql)) await conn.query(statement);
        await conn.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, NOW(3))", [
          version,
          file,
        ]);
        result.applied.push(file);
      }
      return result;
    } finally {
      await conn.query("SELECT RELEASE_LOCK(?)", [LOCK_NAME]);
    }
  } finally {
    conn.release();
  }
}

/** Splits on semicolons that end a line, dropping `--` comment lines. */
export function splitStatements(sql: string): string[] {
  return sql
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("--"))
    .join("\n")
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter(Boolean);
}

export interface MigrateWhenReachableOptions {
  /** Told of every attempt that found MySQL unreachable, and how long until the next. */
  onRetry(err: unknown, attempt: number, delayMs: number): void;
  /** The longest wait between attempts (250 ms, doubling up to this). */
  maxDelayMs?: number;
  signal?: AbortSignal;
}

/**
 * migrate(), tried again while MySQL cannot be reached: a process started
 * before its database (or beside a database too busy to accept within the
 * connect timeout) waits for it instead of exiting. Any other error throws.
 */
export async function migrateWhenReachable(pool: MysqlPool, o: MigrateWhenReachableOptions): Promise<MigrationResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrate(pool);
    } catch (err) {
      if (!isConnectionError(err) || o.signal?.aborted) throw err;
      const delayMs = Math.min(o.maxDelayMs ?? 5000, 250 * 2 ** Math.min(attempt - 1, 10));
      o.onRetry(err, attempt, delayMs);
      await sleep(delayMs, undefined, { signal: o.signal });
    }
  }
}
