// The seats table both MySQL strategies use (each its own table): one row per
// seat, the buyer holding it (NULL when free) and a version for optimistic
// writers. A round's reset deletes the previous event's rows and inserts the
// new event's seats, all free.
import type { PoolConnection, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import { createMysqlPool, type MysqlPool } from "../../src/adapters/mysql/pool.js";
import type { Check } from "../lib/invariants.js";
import type { Venue } from "./types.js";

/** InnoDB chose this transaction as a deadlock victim (it is already rolled back). */
export const ER_LOCK_DEADLOCK = 1213;
/** innodb_lock_wait_timeout elapsed waiting for a row lock. */
export const ER_LOCK_WAIT_TIMEOUT = 1205;

export function errnoOf(err: unknown): number | undefined {
  const n = typeof err === "object" && err !== null ? (err as { errno?: unknown }).errno : undefined;
  return typeof n === "number" ? n : undefined;
}

const TABLE = /^[a-z_]{1,48}$/;

export class SeatTable {
  readonly pool: MysqlPool;
  private eventId: string | undefined;
  private venueSeats = 0;
  private created = false;

  constructor(
    mysqlUrl: string,
    readonly table: string,
    readonly poolSize: number,
  ) {
    if (!TABLE.test(table)) throw new Error(`table name ${table} is not [a-z_]`);
    this.pool = createMysqlPool(mysqlUrl, poolSize);
  }

  get event(): string {
    if (this.eventId === undefined) throw new Error(`${this.table}: hold() before reset()`);
    return this.eventId;
  }

  async reset(venue: Venue): Promise<void> {
    if (!this.created) {
      await this.pool.query(
        `CREATE TABLE IF NOT EXISTS ${this.table} (
           event_id VARCHAR(64) NOT NULL,
           seat_id VARCHAR(32) NOT NULL,
           holder VARCHAR(64) NULL,
           version INT UNSIGNED NOT NULL DEFAULT 0,
           PRIMARY KEY (event_id, seat_id)
         ) ENGINE=InnoDB`,
      );
      this.created = true;
    }
    if (this.eventId !== undefined)
      await this.pool.query(`DELETE FROM ${this.table} WHERE event_id = ?`, [this.eventId]);
    await this.pool.query(`DELETE FROM ${this.table} WHERE event_id = ?`, [venue.eventId]);
    await this.pool.query(`INSERT INTO ${this.table} (event_id, seat_id) VALUES ?`, [
      venue.seatIds.map((s) => [venue.eventId, s]),
    ]);
    this.eventId = venue.eventId;
    this.venueSeats = venue.seatIds.length;
  }

  async readHolders(): Promise<Map<string, string>> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT seat_id, holder FROM ${this.table} WHERE event_id = ? AND holder IS NOT NULL`,
      [this.event],
    );
    return new Map(rows.map((r) => [String(r.seat_id), String(r.holder)]));
  }

  /** Every seat row is still there, once: a hold must update rows, never add or lose them. */
  async rowsCheck(): Promise<Check> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM ${this.table} WHERE event_id = ?`,
      [this.event],
    );
    const n = Number(rows[0]?.n ?? 0);
    return {
      name: "the seats table has one row per seat",
      ok: n === this.venueSeats,
      detail: `${n} rows for ${this.venueSeats} seats`,
    };
  }

  async close(): Promise<void> {
    try {
      if (this.created) await this.pool.query(`DROP TABLE IF EXISTS ${this.table}`);
    } finally {
      await this.pool.end();
    }
  }
}

/**
 * Runs fn in a transaction on a pooled connection: COMMIT when it returns
 * normally, ROLLBACK when it returns { rollback: true } or throws. A connection
 * that broke is destroyed rather than handed back to the pool.
 */
export async function inTransaction<T>(
  pool: MysqlPool,
  fn: (conn: PoolConnection) => Promise<{ value: T; rollback?: boolean }>,
): Promise<T> {
  const conn = await pool.getConnection();
  let healthy = true;
  try {
    await conn.beginTransaction();
    const r = await fn(conn);
    if (r.rollback) await conn.rollback();
    else await conn.commit();
    return r.value;
  } catch (err) {
    if ((err as { fatal?: boolean }).fatal) healthy = false;
    else {
      try {
        await conn.rollback();
      } catch {
        healthy = false;
      }
    }
    throw err;
  } finally {
    if (healthy) conn.release();
    else conn.destroy();
  }
}

export function affected(result: unknown): number {
  return (result as ResultSetHeader).affectedRows;
}
