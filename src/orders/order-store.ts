// Orders, their items and payment records in MySQL, the source of truth.
// The UNIQUE key on order_items (event_id, sold_seat_id) makes a double sale
// impossible; a conditional UPDATE keeps general admission within capacity.
import { createHash } from "node:crypto";
import type { PoolConnection, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import { isDuplicateKey, type MysqlPool } from "../adapters/mysql/pool.js";
import { inSpan, tracerInTrace } from "../observability/tracing.js";
import { timesMinor, totalMinor } from "../domain/money.js";
import {
  holdsOfPlan,
  type CheckoutPlan,
  type Order,
  type OrderHold,
  type OrderState,
  type OrderTicket,
} from "./order.js";

/** The seats were sold to someone else (Redis lost a hold) or GA capacity ran out. */
export class SeatsLostError extends Error {
  override name = "SeatsLostError";
}

/** What MySQL says of one hold's seats (OrderStore.seatTruth; lua/repair_seats.lua's ARGV[2]). */
export interface SeatTruth {
  /** Seats an order owns, with that order's hold id. */
  sold: [seatId: string, holdId: string][];
  /** Seats no order owns. */
  free: string[];
  /** The section's sold count (general admission), else null. */
  gaSold: number | null;
  /** Places the buyer bought in the event (unreleased order items). */
  bought: number;
  /** Whether the hold's own order owns its seats or places now. */
  mine: boolean;
}

/**
 * What makes two CreateOrder requests of one buyer and idempotency key the
 * same request: the event, the set of holds (in any order) and the payment
 * method, hashed (the token itself is never stored). An order of one hold
 * hashes as it did before orders had several.
 */
export function orderRequestHash(req: {
  eventId: string;
  holdIds: readonly string[];
  paymentMethodToken: string;
}): string {
  const holds = req.holdIds.length === 1 ? req.holdIds[0] : [...req.holdIds].sort();
  return createHash("sha256")
    .update(JSON.stringify([req.eventId, holds, req.paymentMethodToken]))
    .digest("hex");
}

/** Which orders OrderStore.list returns: a buyer's, an event's, or both; empty fields match anything. */
export interface OrderFilter {
  buyerId?: string;
  eventId?: string;
  state?: OrderState;
}

/**
 * OrderStore.list's query: a page by keyset on (created_at, order_id), so
 * orders inserted meanwhile (newer than every page read) never shift it.
 * The page's ids come from an index alone (ix_orders_event_created covers an
 * event's filters; ix_orders_buyer serves a buyer's few orders), then their
 * rows by primary key: asked for whole rows at once, MariaDB walks the index
 * from the newest order down to the token, so a page deep in a 50,000-order
 * event read ~45,000 entries (230 ms) instead of its own.
 */
export function listQuery(
  filter: OrderFilter,
  pageSize: number,
  after?: { createdAt: Date; orderId: string },
): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const [column, value] of [
    ["buyer_id", filter.buyerId],
    ["event_id", filter.eventId],
    ["state", filter.state],
  ] as const) {
    if (!value) continue;
    where.push(`${column} = ?`);
    params.push(value);
  }
  if (where.length === 0) throw new Error("OrderStore.list: a filter needs a buyer or an event");
  if (after) {
    // `created_at <= ?` bounds the index range by itself; the OR breaks ties by order_id.
    where.push("created_at <= ? AND (created_at < ? OR order_id < ?)");
    params.push(after.createdAt, after.createdAt, after.orderId);
  }
  const sql = `SELECT o.* FROM orders o JOIN (
      SELECT order_id FROM orders WHERE ${where.join(" AND ")}
       ORDER BY created_at DESC, order_id DESC LIMIT ${Number(pageSize)}
    ) page ON page.order_id = o.order_id
    ORDER BY o.created_at DESC, o.order_id DESC`;
  return { sql, params };
}

/**
 * How recording a pending order went. "HOLD_IN_ORDER": a hold of the plan is
 * part of another order already (order_holds' primary key).
 */
export type InsertPendingResult = "INSERTED" | "EXISTS" | "IDEMPOTENCY_KEY_REUSED" | "HOLD_IN_ORDER";

export class OrderStore {
  constructor(
    private readonly mysql: MysqlPool,
    /** Told how long each checkout took, from the order's creation to its final state (metrics). */
    private readonly onCheckoutEnded?: (outcome: OrderState, seconds: number) => void,
  ) {}

  /**
   * Records the order as PENDING_PAYMENT, with its holds (order_holds), in
   * one transaction; a second call for the same order changes nothing
   * ("EXISTS"). "IDEMPOTENCY_KEY_REUSED" when another order of the buyer
   * holds the idempotency key (UNIQUE (buyer_id, idempotency_key)): two
   * checkouts raced with one key, and this one lost. "HOLD_IN_ORDER" when
   * another order has one of its holds.
   */
  async insertPending(o: CheckoutPlan, requestHash: string): Promise<InsertPendingResult> {
    return this.transaction("insertPending", async (conn) => {
      const [r] = await conn.execute<ResultSetHeader>(
        `INSERT IGNORE INTO orders (order_id, event_id, hold_id, buyer_id, state, failure_reason, section_id, quantity,
           amount_minor, currency_code, created_at, updated_at, idempotency_key, seat_ids, request_hash)
         VALUES (?, ?, ?, ?, 'PENDING_PAYMENT', NULL, ?, ?, ?, ?, NOW(3), NOW(3), ?, ?, ?)`,
        [
          o.orderId,
          o.eventId,
          o.holdId,
          o.buyerId,
          o.sectionId || null,
          o.quantity,
          o.amountMinor,
          o.currencyCode,
          o.idempotencyKey,
          o.seatIds.join(","),
          requestHash,
        ],
      );
      if (r.affectedRows !== 1) {
        const [rows] = await conn.execute<RowDataPacket[]>(
          "SELECT order_id FROM orders WHERE order_id = ? OR (buyer_id = ? AND idempotency_key = ?)",
          [o.orderId, o.buyerId, o.idempotencyKey],
        );
        if (rows.some((row) => row.order_id === o.orderId)) return "EXISTS";
        // Else the key's order, or the order of this plan's first hold (UNIQUE (event_id, hold_id)).
        return rows.length > 0 ? "IDEMPOTENCY_KEY_REUSED" : "HOLD_IN_ORDER";
      }
      const holds = holdsOfPlan(o);
      try {
        await conn.execute(
          `INSERT INTO order_holds (event_id, hold_id, order_id, seat_ids, section_id, quantity)
           VALUES ${holds.map(() => "(?, ?, ?, ?, ?, ?)").join(",")}`,
          holds.flatMap((h) => [o.eventId, h.holdId, o.orderId, h.seatIds.join(","), h.sectionId || null, h.quantity]),
        );
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        await conn.rollback();
        return "HOLD_IN_ORDER";
      }
      return "INSERTED";
    });
  }

  async recordAuthorization(
    orderId: string,
    authorizationId: string,
    amountMinor: number,
    currencyCode: string,
  ): Promise<void> {
    await this.mysql.execute(
      `INSERT INTO payments (payment_id, order_id, provider_reference, state, amount_minor, currency_code, created_at, updated_at)
       VALUES (?, ?, ?, 'AUTHORIZED', ?, ?, NOW(3), NOW(3))
       ON DUPLICATE KEY UPDATE payment_id = payment_id`,
      [`pay_${orderId}`, orderId, authorizationId, amountMinor, currencyCode],
    );
  }

  async setPaymentState(orderId: string, state: "CAPTURED" | "VOIDED" | "REFUNDED" | "DECLINED"): Promise<void> {
    await this.mysql.execute("UPDATE payments SET state = ?, updated_at = NOW(3) WHERE order_id = ?", [state, orderId]);
  }

  /**
   * Claims the seats and places of every hold of the order; throws
   * SeatsLostError when another order owns a seat or capacity ran out, and
   * then claims none. Idempotent: an order whose items exist is left as it is.
   */
  async commitSale(o: CheckoutPlan): Promise<void> {
    const prices = new Map(o.prices);
    const holds = holdsOfPlan(o);
    // Reserved items: one per seat, with the hold that held it.
    const seatItems = holds.flatMap((h) =>
      h.seatIds.map((s) => [o.orderId, o.eventId, s, s, prices.get(s) ?? 0, 1, h.holdId]),
    );
    const gaPlaces = new Map<string, number>();
    for (const h of holds) if (h.sectionId) gaPlaces.set(h.sectionId, (gaPlaces.get(h.sectionId) ?? 0) + h.quantity);
    const insertSeats = (conn: Pick<PoolConnection, "execute">) =>
      conn.execute(
        `INSERT INTO order_items (order_id, event_id, seat_id, sold_seat_id, price_minor, quantity, hold_id) VALUES ${seatItems.map(() => "(?, ?, ?, ?, ?, ?, ?)").join(",")}`,
        seatItems.flat(),
      );
    if (gaPlaces.size > 0) {
      // General admission (and any seats beside it): one transaction, so a
      // section out of places or a seat sold to another order claims nothing.
      await this.transaction("commitSale", async (conn) => {
        const [existing] = await conn.execute<RowDataPacket[]>("SELECT 1 FROM order_items WHERE order_id = ? LIMIT 1", [
          o.orderId,
        ]);
        if (existing.length > 0) return;
        for (const [sectionId, quantity] of gaPlaces) {
          const [r] = await conn.execute<ResultSetHeader>(
            "UPDATE sections SET sold = sold + ? WHERE event_id = ? AND section_id = ? AND sold + ? <= capacity",
            [quantity, o.eventId, sectionId, quantity],
          );
          if (r.affectedRows !== 1)
            throw new SeatsLostError(`section ${sectionId} has fewer than ${quantity} places left`);
          await conn.execute(
            "INSERT INTO order_items (order_id, event_id, seat_id, sold_seat_id, price_minor, quantity) VALUES (?, ?, ?, NULL, ?, ?)",
            [o.orderId, o.eventId, sectionId, prices.get(sectionId) ?? 0, quantity],
          );
        }
        if (seatItems.length === 0) return;
        try {
          await insertSeats(conn);
        } catch (err) {
          if (isDuplicateKey(err)) throw new SeatsLostError("a seat of this order was sold to another order");
          throw err;
        }
      });
      return;
    }
    // Reserved seats only: one INSERT of every item is atomic by itself (all
    // rows or none), so no transaction and one round trip. A duplicate key is
    // either a retry of this order (its items are there: the primary key
    // (order_id, seat_id)) or a seat sold to another order (UNIQUE (event_id, sold_seat_id)).
    await this.traced("mysql commitSale", "commitSale", async () => {
      try {
        await insertSeats(this.mysql);
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const [existing] = await this.mysql.execute<RowDataPacket[]>(
          "SELECT 1 FROM order_items WHERE order_id = ? LIMIT 1",
          [o.orderId],
        );
        if (existing.length > 0) return;
        throw new SeatsLostError("a seat of this order was sold to another order");
      }
    });
  }

  /** Gives the order's seats or places back (refund, compensation). Idempotent. */
  async releaseSale(orderId: string): Promise<void> {
    await this.transaction("releaseSale", async (conn) => {
      const [items] = await conn.execute<RowDataPacket[]>(
        "SELECT event_id, seat_id, sold_seat_id, quantity, released_quantity FROM order_items WHERE order_id = ? AND released_at IS NULL FOR UPDATE",
        [orderId],
      );
      for (const item of items) {
        if (item.sold_seat_id === null) {
          // Places a partial refund gave back already are not given back twice.
          await conn.execute("UPDATE sections SET sold = sold - ? WHERE event_id = ? AND section_id = ?", [
            Number(item.quantity) - Number(item.released_quantity),
            item.event_id,
            item.seat_id,
          ]);
        }
      }
      await conn.execute(
        "UPDATE order_items SET sold_seat_id = NULL, released_at = NOW(3), released_quantity = quantity WHERE order_id = ? AND released_at IS NULL",
        [orderId],
      );
    });
  }

  /**
   * What MySQL says of one hold's seats right now, to repair Redis from
   * (src/orders/seat-repair.ts): which of its seats an order owns (and that
   * order's hold), which are free, the section's sold count (general
   * admission), how many places the buyer bought in the event, and whether
   * the hold's own order owns its seats (general admission: places of its
   * section; an order over several holds has one item per section).
   */
  async seatTruth(target: {
    eventId: string;
    holdId: string;
    buyerId: string;
    seatIds: string[];
    sectionId: string;
  }): Promise<SeatTruth> {
    const { eventId, holdId, buyerId, seatIds, sectionId } = target;
    const [seatRows, gaRows, boughtRows, mineRows] = await Promise.all([
      seatIds.length === 0
        ? Promise.resolve([] as RowDataPacket[])
        : this.mysql
            .execute<RowDataPacket[]>(
              `SELECT oi.sold_seat_id, COALESCE(oi.hold_id, o.hold_id) AS hold_id
                 FROM order_items oi JOIN orders o ON o.order_id = oi.order_id
               WHERE oi.event_id = ? AND oi.sold_seat_id IN (${seatIds.map(() => "?").join(",")})`,
              [eventId, ...seatIds],
            )
            .then(([rows]) => rows),
      sectionId
        ? this.mysql
            .execute<RowDataPacket[]>("SELECT sold FROM sections WHERE event_id = ? AND section_id = ?", [
              eventId,
              sectionId,
            ])
            .then(([rows]) => rows)
        : Promise.resolve([] as RowDataPacket[]),
      this.mysql
        .execute<RowDataPacket[]>(
          `SELECT COALESCE(SUM(oi.quantity - oi.released_quantity), 0) AS n FROM order_items oi JOIN orders o ON o.order_id = oi.order_id
           WHERE oi.event_id = ? AND o.buyer_id = ? AND oi.released_at IS NULL`,
          [eventId, buyerId],
        )
        .then(([rows]) => rows),
      sectionId
        ? this.mysql
            .execute<RowDataPacket[]>(
              `SELECT 1 FROM order_holds oh JOIN order_items oi ON oi.order_id = oh.order_id
                WHERE oh.event_id = ? AND oh.hold_id = ? AND oi.seat_id = ? AND oi.released_at IS NULL LIMIT 1`,
              [eventId, holdId, sectionId],
            )
            .then(([rows]) => rows)
        : Promise.resolve([] as RowDataPacket[]),
    ]);
    const owners = new Map(seatRows.map((r) => [String(r.sold_seat_id), String(r.hold_id)]));
    return {
      sold: seatIds.filter((s) => owners.has(s)).map((s): [string, string] => [s, owners.get(s)!]),
      free: seatIds.filter((s) => !owners.has(s)),
      gaSold: sectionId && gaRows[0] ? Number(gaRows[0].sold) : null,
      bought: Number(boughtRows[0]?.n ?? 0),
      mine: sectionId ? mineRows.length > 0 : seatIds.length > 0 && seatIds.every((s) => owners.get(s) === holdId),
    };
  }

  /**
   * Authorizations older than `olderThanSeconds` that are neither captured
   * nor voided, oldest first, with their order's state: what reconciliation
   * settles (and what TicketingPaymentUnsettled alerts on).
   */
  async unsettledAuthorizations(
    olderThanSeconds: number,
    limit: number,
  ): Promise<{ orderId: string; eventId: string; orderState: OrderState; ageSeconds: number }[]> {
    const [rows] = await this.mysql.execute<RowDataPacket[]>(
      `SELECT p.order_id, o.event_id, o.state, TIMESTAMPDIFF(SECOND, p.created_at, NOW(3)) AS age
         FROM payments p JOIN orders o ON o.order_id = p.order_id
        WHERE p.state = 'AUTHORIZED' AND p.created_at < NOW(3) - INTERVAL ? SECOND
        ORDER BY p.created_at LIMIT ${Number(limit)}`,
      [olderThanSeconds],
    );
    return rows.map((r) => ({
      orderId: String(r.order_id),
      eventId: String(r.event_id),
      orderState: String(r.state) as OrderState,
      ageSeconds: Number(r.age),
    }));
  }

  /** Moves the order to `to` only from one of `from`; returns whether it moved. */
  async transition(orderId: string, to: OrderState, from: OrderState[], failureReason?: string): Promise<boolean> {
    const [r] = await this.mysql.execute<ResultSetHeader>(
      `UPDATE orders SET state = ?, failure_reason = COALESCE(?, failure_reason), updated_at = NOW(3)
        WHERE order_id = ? AND state IN (${from.map(() => "?").join(",")})`,
      [to, failureReason ?? null, orderId, ...from],
    );
    const moved = r.affectedRows === 1;
    // Only the transition that ends a checkout, once (a retried activity finds it moved).
    if (moved && this.onCheckoutEnded && from.includes("PENDING_PAYMENT")) {
      const [rows] = await this.mysql.execute<RowDataPacket[]>(
        "SELECT TIMESTAMPDIFF(MICROSECOND, created_at, updated_at) AS us FROM orders WHERE order_id = ?",
        [orderId],
      );
      if (rows[0]) this.onCheckoutEnded(to, Number(rows[0].us) / 1e6);
    }
    return moved;
  }

  /** The event's checkouts in flight: orders PENDING_PAYMENT (adaptive admission's backlog; from one index). */
  async pendingCheckouts(eventId: string): Promise<number> {
    const [rows] = await this.mysql.execute<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM orders WHERE event_id = ? AND state = 'PENDING_PAYMENT'",
      [eventId],
    );
    return Number(rows[0]?.n ?? 0);
  }

  async insertTickets(orderId: string, eventId: string, tickets: OrderTicket[]): Promise<void> {
    if (tickets.length === 0) return;
    const values = tickets.map(() => "(?, ?, ?, ?, ?, 'VALID', NOW(3))").join(",");
    await this.mysql.execute(
      `INSERT IGNORE INTO tickets (ticket_id, event_id, order_id, seat_id, code, state, created_at) VALUES ${values}`,
      tickets.flatMap((t) => [t.ticketId, eventId, orderId, t.seatId, t.code]),
    );
  }

  /**
   * Decides a refund by the event's policy and revokes the order's tickets,
   * in one transaction with the tickets locked (FOR UPDATE). CheckIn locks its
   * ticket the same way, so a scan and a refund of one ticket serialize: a
   * scan first makes this TICKETS_CHECKED_IN, a refund first makes the scan
   * TICKET_REVOKED. Tickets already revoked mean a decision made earlier (a
   * retry): it stands, whatever the clock says now. `force` (an operator)
   * passes both rules; the rules it passed are returned for the log.
   */
  async claimRefund(orderId: string, force: boolean, now = new Date()): Promise<RefundClaim> {
    return this.transaction("claimRefund", async (conn) => {
      const [tickets] = await conn.execute<RowDataPacket[]>(
        `SELECT t.ticket_id, t.revoked_at, c.ticket_id AS checked_in
           FROM tickets t LEFT JOIN check_ins c ON c.ticket_id = t.ticket_id
          WHERE t.order_id = ? FOR UPDATE`,
        [orderId],
      );
      if (tickets.length > 0 && tickets.every((t) => t.revoked_at !== null)) return { passed: [] };
      const [events] = await conn.execute<RowDataPacket[]>(
        `SELECT e.start_time, e.refund_cutoff_seconds FROM orders o JOIN events e ON e.event_id = o.event_id
          WHERE o.order_id = ?`,
        [orderId],
      );
      const event = events[0];
      const broken: RefundRule[] = [];
      if (event?.start_time instanceof Date) {
        const cutoff = event.start_time.getTime() - Number(event.refund_cutoff_seconds) * 1000;
        if (now.getTime() >= cutoff) broken.push("REFUND_WINDOW_CLOSED");
      }
      if (tickets.some((t) => t.checked_in !== null)) broken.push("TICKETS_CHECKED_IN");
      if (broken.length > 0 && !force) return { refused: broken[0]! };
      await conn.execute(
        "UPDATE tickets SET state = 'REVOKED', revoked_at = NOW(3) WHERE order_id = ? AND revoked_at IS NULL",
        [orderId],
      );
      return { passed: broken };
    });
  }

  /**
   * A partial refund (CancelOrder with ticket_ids), decided and applied in
   * MySQL in one transaction with the order's tickets locked (FOR UPDATE, as
   * claimRefund and CheckIn do, so partial refunds of one order, and a refund
   * and a scan of one ticket, serialize): the refund policy on the named
   * tickets (a checked-in one refuses with TICKETS_CHECKED_IN unless forced),
   * then those not revoked yet are revoked, their items released (a seat's
   * sold_seat_id cleared; general admission: k places off the section's sold
   * count), the amount (their prices, order_items.price_minor) added to the
   * order's refunded_minor and recorded under `refundId`. A named ticket
   * already revoked is skipped: it is never refunded twice. A retry with the
   * same refundId finds its record and returns the amount decided then.
   * `remaining`: the order's tickets still valid after it.
   */
  async claimTicketRefund(
    orderId: string,
    refundId: string,
    ticketIds: string[],
    force: boolean,
    now = new Date(),
  ): Promise<TicketRefundClaim> {
    return this.withRefundLock(orderId, () => this.claimTicketRefundLocked(orderId, refundId, ticketIds, force, now));
  }

  /**
   * `work` while holding the order's refund lock (a MySQL named lock, on a
   * connection of its own): partial refunds take it to decide, and to write
   * the seats' state into Redis from MySQL (releaseRefundedSeats), so no
   * decision changes MySQL between a repair's read and its write, and a
   * repair never writes an older truth over a newer one.
   */
  async withRefundLock<T>(orderId: string, work: () => Promise<T>): Promise<T> {
    const name = `ticketing_refund_${createHash("sha256").update(orderId).digest("hex").slice(0, 32)}`;
    const conn = await this.mysql.getConnection();
    try {
      const [rows] = await conn.query<RowDataPacket[]>("SELECT GET_LOCK(?, 10) AS got", [name]);
      if (Number(rows[0]?.got) !== 1) throw new Error(`order ${orderId}: refund lock not acquired in 10 s`);
      try {
        return await work();
      } finally {
        await conn.query("SELECT RELEASE_LOCK(?)", [name]).catch(() => undefined);
      }
    } finally {
      conn.release();
    }
  }

  private claimTicketRefundLocked(
    orderId: string,
    refundId: string,
    ticketIds: string[],
    force: boolean,
    now: Date,
  ): Promise<TicketRefundClaim> {
    return this.transaction("claimTicketRefund", async (conn) => {
      const [tickets] = await conn.execute<RowDataPacket[]>(
        `SELECT t.ticket_id, t.seat_id, t.revoked_at, c.ticket_id AS checked_in
           FROM tickets t LEFT JOIN check_ins c ON c.ticket_id = t.ticket_id
          WHERE t.order_id = ? FOR UPDATE`,
        [orderId],
      );
      const valid = (t: RowDataPacket) => t.revoked_at === null;
      const [done] = await conn.execute<RowDataPacket[]>(
        "SELECT amount_minor FROM order_refunds WHERE order_id = ? AND refund_id = ?",
        [orderId, refundId],
      );
      if (done[0]) {
        return { amountMinor: Number(done[0].amount_minor), passed: [], remaining: tickets.filter(valid).length };
      }
      const named = new Set(ticketIds);
      const mine = tickets.filter((t) => named.has(String(t.ticket_id)));
      if (mine.length !== named.size) throw new Error(`order ${orderId}: a ticket to refund is not in it`);
      const take = mine.filter(valid);
      const broken: RefundRule[] = [];
      if (take.length > 0) {
        const [events] = await conn.execute<RowDataPacket[]>(
          `SELECT e.start_time, e.refund_cutoff_seconds FROM orders o JOIN events e ON e.event_id = o.event_id
            WHERE o.order_id = ?`,
          [orderId],
        );
        const event = events[0];
        if (event?.start_time instanceof Date) {
          const cutoff = event.start_time.getTime() - Number(event.refund_cutoff_seconds) * 1000;
          if (now.getTime() >= cutoff) broken.push("REFUND_WINDOW_CLOSED");
        }
        if (take.some((t) => t.checked_in !== null)) broken.push("TICKETS_CHECKED_IN");
        if (broken.length > 0 && !force) return { refused: broken[0]! };
      }
      const [items] = await conn.execute<RowDataPacket[]>(
        "SELECT event_id, seat_id, sold_seat_id, price_minor, quantity, released_quantity, released_at FROM order_items WHERE order_id = ? FOR UPDATE",
        [orderId],
      );
      const itemOf = new Map(items.map((i) => [String(i.seat_id), i]));
      // Places per item to give back: 1 per reserved seat, k for k general-admission
      // tickets (their seat ids are "<section>#<n>"; the item is the section's).
      const places = new Map<string, number>();
      for (const t of take) {
        const seat = String(t.seat_id);
        const key = itemOf.has(seat) ? seat : seat.replace(/#\d+$/, "");
        places.set(key, (places.get(key) ?? 0) + 1);
      }
      const amounts: number[] = [];
      for (const [seatId, k] of places) {
        const item = itemOf.get(seatId);
        if (!item) throw new Error(`order ${orderId}: no item for ticket seat ${seatId}`);
        amounts.push(timesMinor(Number(item.price_minor), k));
        if (item.released_at !== null) continue; // given back already (e.g. a compensation)
        if (item.sold_seat_id === null) {
          // General admission: one item of `quantity` places, no seat of its own.
          const left = Number(item.quantity) - Number(item.released_quantity);
          const give = Math.min(k, left);
          if (give > 0) {
            await conn.execute("UPDATE sections SET sold = sold - ? WHERE event_id = ? AND section_id = ?", [
              give,
              item.event_id,
              seatId,
            ]);
            // released_at first: MySQL and MariaDB assign left to right, so it sees the old released_quantity.
            await conn.execute(
              `UPDATE order_items SET released_at = IF(released_quantity + ? >= quantity, NOW(3), NULL),
                      released_quantity = released_quantity + ?
                WHERE order_id = ? AND seat_id = ?`,
              [give, give, orderId, seatId],
            );
          }
        } else {
          await conn.execute(
            `UPDATE order_items SET sold_seat_id = NULL, released_at = NOW(3), released_quantity = quantity
              WHERE order_id = ? AND seat_id = ? AND released_at IS NULL`,
            [orderId, seatId],
          );
        }
      }
      const amountMinor = totalMinor(amounts);
      if (take.length > 0) {
        await conn.query(
          "UPDATE tickets SET state = 'REVOKED', revoked_at = NOW(3) WHERE order_id = ? AND ticket_id IN (?) AND revoked_at IS NULL",
          [orderId, take.map((t) => String(t.ticket_id))],
        );
      }
      await conn.execute(
        "INSERT INTO order_refunds (order_id, refund_id, ticket_ids, amount_minor, created_at) VALUES (?, ?, ?, ?, NOW(3))",
        [orderId, refundId, [...named].sort().join(","), amountMinor],
      );
      await conn.execute(
        "UPDATE orders SET refunded_minor = refunded_minor + ?, updated_at = NOW(3) WHERE order_id = ?",
        [amountMinor, orderId],
      );
      return { amountMinor, passed: broken, remaining: tickets.filter(valid).length - take.length };
    });
  }

  /** Whether a partial refund (claimTicketRefund) was decided for the order. */
  async hasPartialRefunds(orderId: string): Promise<boolean> {
    const [rows] = await this.mysql.execute<RowDataPacket[]>("SELECT 1 FROM order_refunds WHERE order_id = ? LIMIT 1", [
      orderId,
    ]);
    return rows.length > 0;
  }

  /** The order's refunded amount is all of it (a whole-order refund, or the last partial one). */
  async recordFullRefund(orderId: string): Promise<void> {
    await this.mysql.execute(
      "UPDATE orders SET refunded_minor = amount_minor, updated_at = NOW(3) WHERE order_id = ? AND refunded_minor <> amount_minor",
      [orderId],
    );
  }

  async revokeTickets(orderId: string): Promise<void> {
    await this.mysql.execute(
      "UPDATE tickets SET state = 'REVOKED', revoked_at = NOW(3) WHERE order_id = ? AND revoked_at IS NULL",
      [orderId],
    );
  }

  /**
   * What tells WatchOrder that an order changed (watchVersion of orders.ts:
   * state, last update, ticket count), for many orders in one query; an order
   * that does not exist is absent.
   */
  async watchVersions(orderIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (orderIds.length === 0) return out;
    const [rows] = await this.mysql.query<RowDataPacket[]>(
      `SELECT o.order_id, o.state, o.updated_at, COUNT(t.ticket_id) AS tickets
         FROM orders o LEFT JOIN tickets t ON t.order_id = o.order_id
        WHERE o.order_id IN (?) GROUP BY o.order_id, o.state, o.updated_at`,
      [orderIds],
    );
    for (const r of rows) {
      out.set(
        String(r.order_id),
        `${String(r.state)}:${new Date(r.updated_at as Date).getTime()}:${Number(r.tickets)}`,
      );
    }
    return out;
  }

  /** The order with its tickets and its holds. */
  async get(orderId: string): Promise<Order | undefined> {
    const [rows] = await this.mysql.execute<RowDataPacket[]>(
      `${ORDER_WITH_TICKETS} WHERE o.order_id = ? ORDER BY t.seat_id`,
      [orderId],
    );
    // After the order: its holds were committed with it, so a read that found it finds them.
    const orders = ordersOf(rows);
    return orders[0] && withHolds(orders, await this.holdsOf([orderId]))[0];
  }

  /** The holds of each order (order_holds), sorted by hold id (code units, as JavaScript sorts: not MySQL's collation). */
  private async holdsOf(orderIds: readonly string[]): Promise<Map<string, OrderHold[]>> {
    const out = new Map<string, OrderHold[]>();
    if (orderIds.length === 0) return out;
    const [rows] = await this.mysql.query<RowDataPacket[]>(
      "SELECT order_id, hold_id, seat_ids, section_id, quantity FROM order_holds WHERE order_id IN (?)",
      [orderIds],
    );
    for (const r of rows) {
      const id = String(r.order_id);
      out.set(id, [
        ...(out.get(id) ?? []),
        {
          holdId: String(r.hold_id),
          seatIds: r.seat_ids ? String(r.seat_ids).split(",").filter(Boolean) : [],
          sectionId: r.section_id ? String(r.section_id) : "",
          quantity: Number(r.quantity),
        },
      ]);
    }
    for (const holds of out.values()) holds.sort((a, b) => (a.holdId < b.holdId ? -1 : a.holdId > b.holdId ? 1 : 0));
    return out;
  }

  /** The order a buyer made with an idempotency key, if any. */
  async getByIdempotencyKey(buyerId: string, idempotencyKey: string): Promise<Order | undefined> {
    const [rows] = await this.mysql.execute<RowDataPacket[]>(
      "SELECT order_id FROM orders WHERE buyer_id = ? AND idempotency_key = ? LIMIT 1",
      [buyerId, idempotencyKey],
    );
    return rows[0] ? this.get(String(rows[0].order_id)) : undefined;
  }

  /**
   * What CreateOrder needs to know first, in one query: the order of the hold
   * (`byId`), and an order the buyer already made with this idempotency key
   * (`byKey`; often the same one).
   */
  async getForCreate(
    orderId: string,
    buyerId: string,
    idempotencyKey: string,
  ): Promise<{ byId?: Order; byKey?: Order }> {
    const [rows] = await this.mysql.execute<RowDataPacket[]>(
      `${ORDER_WITH_TICKETS} WHERE o.order_id = ? OR (o.buyer_id = ? AND o.idempotency_key = ?) ORDER BY o.order_id, t.seat_id`,
      [orderId, buyerId, idempotencyKey],
    );
    const found = ordersOf(rows);
    const orders = withHolds(found, await this.holdsOf(found.map((o) => o.orderId)));
    return {
      byId: orders.find((o) => o.orderId === orderId),
      byKey: orders.find((o) => o.buyerId === buyerId && rowKey(rows, o.orderId) === idempotencyKey),
    };
  }

  /** The order a hold is part of, if any (order_holds). */
  async getByHold(eventId: string, holdId: string): Promise<Order | undefined> {
    const [rows] = await this.mysql.execute<RowDataPacket[]>(
      "SELECT order_id FROM order_holds WHERE event_id = ? AND hold_id = ?",
      [eventId, holdId],
    );
    return rows[0] ? this.get(String(rows[0].order_id)) : undefined;
  }

  /** Orders matching `filter`, newest first, after `after` (see listQuery). Without tickets. */
  async list(filter: OrderFilter, pageSize: number, after?: { createdAt: Date; orderId: string }): Promise<Order[]> {
    const { sql, params } = listQuery(filter, pageSize, after);
    const [rows] = await this.mysql.query<RowDataPacket[]>(sql, params);
    const orders = rows.map((r) => toOrder(r, []));
    return withHolds(orders, await this.holdsOf(orders.map((o) => o.orderId)));
  }

  async eventExists(eventId: string): Promise<boolean> {
    const [rows] = await this.mysql.execute<RowDataPacket[]>("SELECT 1 FROM events WHERE event_id = ?", [eventId]);
    return rows.length > 0;
  }

  /** `name` names the transaction's span when tracing is on. */
  private transaction<T>(name: string, work: (conn: PoolConnection) => Promise<T>): Promise<T> {
    return this.traced(`mysql transaction ${name}`, name, () => this.inTransaction(work));
  }

  /** `work` in a span `spanName` when tracing is on. */
  private traced<T>(spanName: string, operation: string, work: () => Promise<T>): Promise<T> {
    const tracer = tracerInTrace();
    if (!tracer) return work();
    return inSpan(tracer, spanName, { "db.system": "mysql", "db.operation.name": operation }, work);
  }

  private async inTransaction<T>(work: (conn: PoolConnection) => Promise<T>): Promise<T> {
    const conn = await this.mysql.getConnection();
    try {
      await conn.beginTransaction();
      const result = await work(conn);
      await conn.commit();
      return result;
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    } finally {
      conn.release();
    }
  }
}

/** The refund policy's rules (each the reason its refusal answers with). */
export type RefundRule = "REFUND_WINDOW_CLOSED" | "TICKETS_CHECKED_IN";

/** claimRefund's decision: refused by a rule, or the tickets revoked (with the rules an operator's force passed). */
export type RefundClaim = { refused: RefundRule } | { passed: RefundRule[] };

/** claimTicketRefund's decision: refused by a rule, or the amount to refund and the valid tickets left. */
export type TicketRefundClaim =
  { refused: RefundRule } | { amountMinor: number; passed: RefundRule[]; remaining: number };

/** An order row with its tickets' columns (t_*), one row per ticket (one with NULLs when it has none). */
const ORDER_WITH_TICKETS =
  "SELECT o.*, t.ticket_id AS t_ticket_id, t.seat_id AS t_seat_id, t.code AS t_code, t.revoked_at AS t_revoked_at FROM orders o LEFT JOIN tickets t ON t.order_id = o.order_id";

/** Orders (in the rows' order) from ORDER_WITH_TICKETS rows. */
function ordersOf(rows: RowDataPacket[]): Order[] {
  const byId = new Map<string, { row: RowDataPacket; tickets: RowDataPacket[] }>();
  for (const row of rows) {
    const id = String(row.order_id);
    let o = byId.get(id);
    if (!o) {
      o = { row, tickets: [] };
      byId.set(id, o);
    }
    if (row.t_ticket_id !== null && row.t_ticket_id !== undefined) {
      o.tickets.push({
        ticket_id: row.t_ticket_id as unknown,
        seat_id: row.t_seat_id as unknown,
        code: row.t_code as unknown,
        revoked_at: row.t_revoked_at as unknown,
      } as RowDataPacket);
    }
  }
  return [...byId.values()].map((o) => toOrder(o.row, o.tickets));
}

/**
 * Orders with their holds filled in; an order without order_holds rows (one
 * recorded by a version before them) is its one hold.
 */
function withHolds(orders: Order[], holds: Map<string, OrderHold[]>): Order[] {
  return orders.map((o) => ({
    ...o,
    holds: holds.get(o.orderId) ?? [
      { holdId: o.holdId, seatIds: o.seatIds, sectionId: o.sectionId, quantity: o.quantity },
    ],
  }));
}

function rowKey(rows: RowDataPacket[], orderId: string): string | undefined {
  const row = rows.find((r) => String(r.order_id) === orderId);
  return row ? String(row.idempotency_key ?? "") : undefined;
}

function toOrder(row: RowDataPacket, tickets: RowDataPacket[]): Order {
  return {
    orderId: String(row.order_id),
    eventId: String(row.event_id),
    holdId: String(row.hold_id),
    buyerId: String(row.buyer_id),
    state: row.state as OrderState,
    failureReason: row.failure_reason ? String(row.failure_reason) : "",
    seatIds: row.seat_ids ? String(row.seat_ids).split(",").filter(Boolean) : [],
    sectionId: row.section_id ? String(row.section_id) : "",
    quantity: Number(row.quantity),
    holds: [],
    amountMinor: Number(row.amount_minor),
    currencyCode: String(row.currency_code),
    refundedMinor: Number(row.refunded_minor ?? 0),
    tickets: tickets.map((t) => ({
      ticketId: String(t.ticket_id),
      seatId: String(t.seat_id),
      code: String(t.code),
      revoked: t.revoked_at !== null && t.revoked_at !== undefined,
    })),
    createTime: new Date(row.created_at as Date),
    updateTime: new Date(row.updated_at as Date),
    idempotencyKey: String(row.idempotency_key ?? ""),
    requestHash: row.request_hash ? String(row.request_hash) : "",
  };
}
