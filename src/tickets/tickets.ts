// Tickets: one per seat (or general-admission place) of a confirmed order,
// each with a signed code a door scanner verifies offline with the public
// keys from GetSigningKeys (a compact JWT, EdDSA, typ "ticket": short enough
// for a QR code). Check-in admits a ticket once; the primary key of
// check_ins makes the second scan lose, whoever scans first.
import type { RowDataPacket } from "mysql2/promise";
import { isDuplicateKey, type MysqlPool } from "../adapters/mysql/pool.js";
import { AppError } from "../domain/errors.js";
import type { Logger } from "../logger.js";
import { KeyRing } from "../signing/key-ring.js";
import { SigningPool } from "../signing/pool.js";
import { TokenError, TokenService } from "../signing/tokens.js";
import type { OrderHold, OrderTicket } from "../orders/order.js";
import type { CodecKey } from "../temporal/payload-codec.js";

export const TICKET_TOKEN_TYPE = "ticket";
/** Ticket codes stay valid this long at most (a sale rarely opens more than a year ahead). */
export const TICKET_MAX_LIFETIME_SECONDS = 400 * 86_400;

export type TicketState = "VALID" | "CHECKED_IN" | "REVOKED";

export interface Ticket {
  ticketId: string;
  eventId: string;
  orderId: string;
  seatId: string;
  state: TicketState;
  checkInTime: Date | undefined;
  checkInGate: string;
}

export interface TicketKeysOptions {
  rotateAfterSeconds: number;
  refreshMs: number;
  threads: number;
  /** The worker's TICKET_SIGNING_KEKS; absent in the API, whose ring verifies only. */
  keks?: CodecKey[];
}

/** The "ticket" key ring with its own signing pool: the worker signs (with KEKs), the API verifies. */
export function createTicketTokens(
  mysql: MysqlPool,
  options: TicketKeysOptions,
  log: Logger,
): { ring: KeyRing; pool: SigningPool; tokens: TokenService } {
  const ring = new KeyRing(
    mysql,
    {
      purpose: "ticket",
      maxTokenLifetimeSeconds: TICKET_MAX_LIFETIME_SECONDS,
      rotateAfterSeconds: options.rotateAfterSeconds,
      refreshMs: options.refreshMs,
      ...(options.keks ? { keks: options.keks } : {}),
    },
    log,
  );
  const pool = new SigningPool({ threads: options.threads });
  return { ring, pool, tokens: new TokenService(ring, pool) };
}

export interface TicketsDeps {
  mysql: MysqlPool;
  /** The "ticket" ring's tokens: signing in the worker, verifying only in the API. */
  tokens: TokenService;
}

export class Tickets {
  private readonly mysql: MysqlPool;
  private readonly tokens: TokenService;

  constructor(deps: TicketsDeps) {
    this.mysql = deps.mysql;
    this.tokens = deps.tokens;
  }

  /**
   * Signs one code per seat, then one per general-admission place (each
   * section's places numbered from 1: `<section>#<n>`, whichever of the
   * order's holds they came from). Ids derive from the order, so issuing
   * twice gives the same tickets.
   */
  async sign(
    order: { orderId: string; eventId: string; holds: readonly OrderHold[] },
    validUntil: Date,
  ): Promise<OrderTicket[]> {
    const places = new Map<string, number>();
    for (const h of order.holds) if (h.sectionId) places.set(h.sectionId, (places.get(h.sectionId) ?? 0) + h.quantity);
    const seats = [
      ...order.holds.flatMap((h) => h.seatIds),
      ...[...places].flatMap(([section, n]) => Array.from({ length: n }, (_, i) => `${section}#${i + 1}`)),
    ];
    const maxUntil = Date.now() + TICKET_MAX_LIFETIME_SECONDS * 1000 - 60_000;
    const expiresAt = new Date(Math.min(validUntil.getTime(), maxUntil));
    return Promise.all(
      seats.map(async (seatId, i) => {
        const ticketId = `t_${order.orderId.replace(/^o_/, "")}_${i + 1}`;
        const code = await this.tokens.sign(
          { tid: ticketId, eid: order.eventId, oid: order.orderId, seat: seatId },
          { expiresAt, type: TICKET_TOKEN_TYPE },
        );
        return { ticketId, seatId, code };
      }),
    );
  }

  /** The ticket a code names, after checking its signature, expiry and key. */
  async verify(code: string): Promise<Ticket> {
    let claims;
    try {
      claims = (await this.tokens.verify(code, TICKET_TOKEN_TYPE)).claims;
    } catch (err) {
      if (err instanceof TokenError) {
        throw new AppError("TICKET_CODE_INVALID", `ticket code refused: ${err.message}`, {
          metadata: { problem: err.problem },
          fieldViolations: [{ field: "code", description: err.message }],
        });
      }
      throw err;
    }
    const ticket = await this.get(String(claims.tid));
    if (!ticket || ticket.eventId !== claims.eid)
      throw new AppError("TICKET_NOT_FOUND", `ticket ${String(claims.tid)} not found`);
    return ticket;
  }

  /**
   * Admits the ticket once. A repeated upload of the same scan (same request
   * id) answers like the first; any other second scan is refused with when
   * and where the first one was.
   */
  async checkIn(
    code: string,
    gateId: string,
    requestId: string,
    /** Throws when this gate may not admit tickets of the event. */
    mayAdmit: (eventId: string) => void = () => {},
  ): Promise<Ticket> {
    const ticket = await this.verify(code);
    mayAdmit(ticket.eventId);
    if (ticket.state === "REVOKED") throw new AppError("TICKET_REVOKED", `ticket ${ticket.ticketId} was revoked`);
    try {
      await this.admit(ticket.ticketId, gateId, requestId);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const [rows] = await this.mysql.execute<RowDataPacket[]>(
        "SELECT gate_id, request_id, checked_in_at FROM check_ins WHERE ticket_id = ?",
        [ticket.ticketId],
      );
      const first = rows[0];
      if (first && first.request_id !== requestId) {
        throw new AppError(
          "ALREADY_CHECKED_IN",
          `ticket ${ticket.ticketId} was already scanned at gate ${String(first.gate_id)}`,
          {
            metadata: {
              gate_id: String(first.gate_id),
              check_in_time: new Date(first.checked_in_at as Date).toISOString(),
            },
          },
        );
      }
    }
    return (await this.get(ticket.ticketId))!;
  }

  /**
   * Records the scan with the ticket locked (FOR UPDATE), as a refund's
   * decision locks it (OrderStore.claimRefund): whichever takes the lock
   * first wins, and the other sees its outcome.
   */
  private async admit(ticketId: string, gateId: string, requestId: string): Promise<void> {
    const conn = await this.mysql.getConnection();
    try {
      await conn.beginTransaction();
      const [rows] = await conn.execute<RowDataPacket[]>(
        "SELECT revoked_at FROM tickets WHERE ticket_id = ? FOR UPDATE",
        [ticketId],
      );
      if (rows[0]?.revoked_at) throw new AppError("TICKET_REVOKED", `ticket ${ticketId} was revoked`);
      await conn.execute(
        "INSERT INTO check_ins (ticket_id, gate_id, request_id, checked_in_at) VALUES (?, ?, ?, NOW(3))",
        [ticketId, gateId, requestId],
      );
      await conn.commit();
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    } finally {
      conn.release();
    }
  }

  /** Revoked ticket ids of an event in revocation order; the page token is the position reached. */
  async listRevoked(
    eventId: string,
    pageSize: number,
    after?: { revokedAt: Date; ticketId: string },
  ): Promise<{ ids: string[]; last?: { revokedAt: Date; ticketId: string } }> {
    const params: unknown[] = [eventId];
    let where = "event_id = ? AND revoked_at IS NOT NULL";
    if (after) {
      where += " AND (revoked_at > ? OR (revoked_at = ? AND ticket_id > ?))";
      params.push(after.revokedAt, after.revokedAt, after.ticketId);
    }
    const [rows] = await this.mysql.query<RowDataPacket[]>(
      `SELECT ticket_id, revoked_at FROM tickets WHERE ${where} ORDER BY revoked_at, ticket_id LIMIT ${Number(pageSize)}`,
      params,
    );
    const last = rows[rows.length - 1];
    return {
      ids: rows.map((r) => String(r.ticket_id)),
      ...(last ? { last: { revokedAt: new Date(last.revoked_at as Date), ticketId: String(last.ticket_id) } } : {}),
    };
  }

  async get(ticketId: string): Promise<Ticket | undefined> {
    const [rows] = await this.mysql.execute<RowDataPacket[]>(
      `SELECT t.ticket_id, t.event_id, t.order_id, t.seat_id, t.state, c.checked_in_at, c.gate_id
         FROM tickets t LEFT JOIN check_ins c ON c.ticket_id = t.ticket_id WHERE t.ticket_id = ?`,
      [ticketId],
    );
    const r = rows[0];
    if (!r) return undefined;
    const state: TicketState = r.state === "REVOKED" ? "REVOKED" : r.checked_in_at ? "CHECKED_IN" : "VALID";
    return {
      ticketId: String(r.ticket_id),
      eventId: String(r.event_id),
      orderId: String(r.order_id),
      seatId: String(r.seat_id),
      state,
      checkInTime: r.checked_in_at ? new Date(r.checked_in_at as Date) : undefined,
      checkInGate: r.gate_id ? String(r.gate_id) : "",
    };
  }
}
