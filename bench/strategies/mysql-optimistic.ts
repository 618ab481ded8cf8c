// Optimistic concurrency in MySQL, the way an ORM's version column works: read
// the seats and their versions without locking, refuse at once if one is
// held, else in one transaction UPDATE each seat WHERE version = the version
// read. A row that changed in between updates nothing: roll back, wait a
// jittered moment and read again (the new read tells "taken" from "try again"),
// up to a bound of attempts.
import type { RowDataPacket } from "mysql2/promise";
import { backoffMs, errorReason, sleep, type HoldOutcome, type HoldStrategy, type Venue } from "./types.js";
import { ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, SeatTable, affected, errnoOf, inTransaction } from "./mysql-store.js";

export interface OptimisticOptions {
  mysqlUrl: string;
  poolSize: number;
  /** Read-check-write attempts before giving up with a failure. */
  maxAttempts: number;
  table?: string;
}

export class MysqlOptimistic implements HoldStrategy {
  readonly name = "mysql-optimistic";
  readonly label =
    "MySQL optimistic: read seats + version, UPDATE … WHERE version = ? per seat in a transaction, retry on conflict";
  readonly claimsCorrect = true;
  readonly settings: Record<string, string | number>;
  private readonly seats: SeatTable;

  constructor(private readonly o: OptimisticOptions) {
    this.seats = new SeatTable(o.mysqlUrl, o.table ?? "bench_seats_optimistic", o.poolSize);
    this.settings = {
      "mysql2 pool": o.poolSize,
      "read-check-write attempts": o.maxAttempts,
      backoff: "full jitter, 1 ms doubling, cap 20 ms",
    };
  }

  reset(venue: Venue): Promise<void> {
    return this.seats.reset(venue);
  }

  async hold(buyerId: string, seatIds: string[]): Promise<HoldOutcome> {
    const table = this.seats.table;
    const eventId = this.seats.event;
    let lastConflict = "version conflict";
    for (let attempt = 1; attempt <= this.o.maxAttempts; attempt++) {
      try {
        const [rows] = await this.seats.pool.query<RowDataPacket[]>(
          `SELECT seat_id, holder, version FROM ${table} WHERE event_id = ? AND seat_id IN (?) ORDER BY seat_id`,
          [eventId, seatIds],
        );
        if (rows.length !== seatIds.length)
          return {
            status: "failed",
            attempts: attempt,
            reason: `${seatIds.length - rows.length} of the seats do not exist`,
          };
        if (rows.some((r) => r.holder !== null)) return { status: "taken", attempts: attempt };
        const won = await inTransaction(this.seats.pool, async (conn) => {
          // Primary-key order, so two writers that overlap wait on each other instead of deadlocking.
          for (const r of rows) {
            const [res] = await conn.query(
              `UPDATE ${table} SET holder = ?, version = version + 1 WHERE event_id = ? AND seat_id = ? AND version = ?`,
              [buyerId, eventId, r.seat_id, r.version],
            );
            if (affected(res) !== 1) return { value: false, rollback: true };
          }
          return { value: true };
        });
        if (won) return { status: "held", attempts: attempt };
        lastConflict = "version conflict";
      } catch (err) {
        const errno = errnoOf(err);
        if (errno !== ER_LOCK_DEADLOCK && errno !== ER_LOCK_WAIT_TIMEOUT)
          return { status: "failed", attempts: attempt, reason: errorReason(err) };
        lastConflict = errorReason(err);
      }
      if (attempt < this.o.maxAttempts) await sleep(backoffMs(attempt, 1, 20));
    }
    return {
      status: "failed",
      attempts: this.o.maxAttempts,
      reason: `${lastConflict} on all ${this.o.maxAttempts} attempts`,
    };
  }

  readHolders(): Promise<Map<string, string>> {
    return this.seats.readHolders();
  }

  async extraChecks() {
    return [await this.seats.rowsCheck()];
  }

  close(): Promise<void> {
    return this.seats.close();
  }
}
