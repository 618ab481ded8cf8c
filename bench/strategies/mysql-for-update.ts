// Pessimistic locking in MySQL: one transaction per hold that locks the
// requested seat rows (SELECT ... FOR UPDATE, in primary-key order so two
// buyers never lock in opposite orders), checks they are all free, marks them
// held by the buyer and commits. Refusals lock the rows too: every call, held
// or not, queues behind whoever holds those row locks.
import type { RowDataPacket } from "mysql2/promise";
import { errorReason, sleep, backoffMs, type HoldOutcome, type HoldStrategy, type Venue } from "./types.js";
import { ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, SeatTable, affected, errnoOf, inTransaction } from "./mysql-store.js";

export interface ForUpdateOptions {
  mysqlUrl: string;
  poolSize: number;
  /** Attempts when InnoDB picks the transaction as a deadlock victim or a lock wait times out. */
  maxAttempts: number;
  table?: string;
}

export class MysqlForUpdate implements HoldStrategy {
  readonly name = "mysql-for-update";
  readonly label = "MySQL transaction: SELECT … FOR UPDATE the seats, check, UPDATE, COMMIT";
  readonly claimsCorrect = true;
  readonly settings: Record<string, string | number>;
  private readonly seats: SeatTable;

  constructor(private readonly o: ForUpdateOptions) {
    this.seats = new SeatTable(o.mysqlUrl, o.table ?? "bench_seats_for_update", o.poolSize);
    this.settings = {
      "mysql2 pool": o.poolSize,
      "attempts on deadlock / lock wait timeout": o.maxAttempts,
      isolation: "REPEATABLE READ (default)",
    };
  }

  reset(venue: Venue): Promise<void> {
    return this.seats.reset(venue);
  }

  async hold(buyerId: string, seatIds: string[]): Promise<HoldOutcome> {
    const table = this.seats.table;
    const eventId = this.seats.event;
    const sorted = [...seatIds].sort();
    for (let attempt = 1; ; attempt++) {
      try {
        const status = await inTransaction(this.seats.pool, async (conn) => {
          const [rows] = await conn.query<RowDataPacket[]>(
            `SELECT seat_id, holder FROM ${table} WHERE event_id = ? AND seat_id IN (?) ORDER BY seat_id FOR UPDATE`,
            [eventId, sorted],
          );
          if (rows.length !== sorted.length)
            throw new Error(`${sorted.length - rows.length} of the seats do not exist`);
          if (rows.some((r) => r.holder !== null)) return { value: "taken" as const, rollback: true };
          const [res] = await conn.query(
            `UPDATE ${table} SET holder = ?, version = version + 1 WHERE event_id = ? AND seat_id IN (?)`,
            [buyerId, eventId, sorted],
          );
          // The rows are locked by this transaction: anything but all of them means a bug, not a race.
          if (affected(res) !== sorted.length)
            throw new Error(`UPDATE changed ${affected(res)} of ${sorted.length} locked rows`);
          return { value: "held" as const };
        });
        return { status, attempts: attempt };
      } catch (err) {
        const errno = errnoOf(err);
        const retryable = errno === ER_LOCK_DEADLOCK || errno === ER_LOCK_WAIT_TIMEOUT;
        if (!retryable || attempt >= this.o.maxAttempts) {
          return {
            status: "failed",
            attempts: attempt,
            reason: retryable ? `${errorReason(err)} after ${attempt} attempts` : errorReason(err),
          };
        }
        await sleep(backoffMs(attempt, 1, 20));
      }
    }
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
