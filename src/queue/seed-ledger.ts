// Where a waiting room's seed commitment is recorded outside Redis (MySQL,
// events.queue_seed_sha256), so that a room Redis lost is told apart from a
// room that never committed one (see WaitingRoom, QUEUE_STATE_LOST).
import type { ResultSetHeader, RowDataPacket } from "mysql2";
import type { MysqlPool } from "../adapters/mysql/pool.js";

export interface SeedLedger {
  /** The SHA-256 (hex) of the seed committed for the event's pre-queue, if one was recorded. */
  recorded(eventId: string): Promise<string | undefined>;
  /** Records the commitment unless one is recorded already; returns the recorded one. */
  record(eventId: string, seedSha256: string): Promise<string>;
}

export class MysqlSeedLedger implements SeedLedger {
  /** Recorded commitments this process has seen (they change only by an operator's hand). */
  private readonly known = new Map<string, string>();

  constructor(private readonly mysql: MysqlPool) {}

  async recorded(eventId: string): Promise<string | undefined> {
    const cached = this.known.get(eventId);
    if (cached) return cached;
    const [rows] = await this.mysql.execute<RowDataPacket[]>(
      "SELECT queue_seed_sha256 FROM events WHERE event_id = ?",
      [eventId],
    );
    const sha = rows[0]?.queue_seed_sha256 as string | null | undefined;
    if (sha) this.remember(eventId, sha);
    return sha ?? undefined;
  }

  async record(eventId: string, seedSha256: string): Promise<string> {
    await this.mysql.execute<ResultSetHeader>(
      "UPDATE events SET queue_seed_sha256 = ? WHERE event_id = ? AND queue_seed_sha256 IS NULL",
      [seedSha256, eventId],
    );
    this.known.delete(eventId);
    return (await this.recorded(eventId)) ?? seedSha256;
  }

  private remember(eventId: string, sha: string): void {
    if (this.known.size > 10_000) this.known.clear();
    this.known.set(eventId, sha);
  }
}
