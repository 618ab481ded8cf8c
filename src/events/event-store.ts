// Events in MySQL, the source of truth: the seat map written in one
// transaction (with the request id that makes CreateEvent idempotent), sale
// state, and what confirmed orders sold, for (re)loading Redis.
import { createHash } from "node:crypto";
import type { PoolConnection, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import { AppError } from "../domain/errors.js";
import { ID_PATTERN } from "../domain/validation.js";
import { isDuplicateKey, type MysqlPool } from "../adapters/mysql/pool.js";
import type { SoldState } from "./inventory.js";
import type {
  AdaptiveAdmission,
  Area,
  EventLayout,
  Point,
  PriceCategoryLayout,
  RowLayout,
  RowPlacement,
  SaleState,
  SectionLayout,
  WaitingRoomSettings,
} from "./layout.js";

/** Rows per multi-row INSERT: a 50,000-seat venue is 50 statements. */
const BATCH_ROWS = 1000;
const CREATE_EVENT_SCOPE = "CreateEvent";

export interface StoredEvent {
  layout: EventLayout;
  saleState: SaleState;
  /** With the waiting room on: the committed hash of the pre-queue shuffle seed. */
  shuffleSeedSha256?: string;
}

export interface InsertResult {
  eventId: string;
  /** False when the request id was seen before with the same request: a replay. */
  created: boolean;
}

export interface EventPage {
  events: StoredEvent[];
  /** Empty on the last page. */
  nextPageToken: string;
}

/** Where a page of ListEvents continues: after (createdAt, eventId), newest first. */
interface PageCursor {
  createdAtMs: number;
  eventId: string;
}

export interface FunnelCounts {
  orders: Map<string, number>;
  ticketsValid: number;
  checkedIn: number;
  soldSeats: number;
  paymentsAuthorized: number;
  oldestAuthorizedSeconds: number;
}

export class EventStore {
  constructor(private readonly pool: MysqlPool) {}

  /**
   * Writes the event and its whole seat map in one transaction, recording the
   * request id. A retry of the same request returns the event it created; a
   * different request under the same id is REQUEST_ID_REUSED; an event id
   * another request took is EVENT_ALREADY_EXISTS.
   */
  async insertEvent(
    layout: EventLayout,
    saleState: SaleState,
    requestId: string,
    requestHash: string,
  ): Promise<InsertResult> {
    const conn = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      try {
        // The request id first: a concurrent retry waits on this row and then replays.
        try {
          await conn.execute(
            `INSERT INTO idempotency_keys (scope, idempotency_key, resource_id, request_hash, created_at)
             VALUES (?, ?, ?, ?, ?)`,
            [CREATE_EVENT_SCOPE, requestId, layout.eventId, requestHash, sqlTime(layout.createTime)],
          );
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          await conn.rollback();
          return await this.replay(requestId, requestHash);
        }
        try {
          await insertEventRow(conn, layout, saleState);
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          throw new AppError("EVENT_ALREADY_EXISTS", `event ${layout.eventId} already exists`, {
            metadata: { event_id: layout.eventId },
          });
        }
        await insertSeatMap(conn, layout);
        await conn.commit();
        return { eventId: layout.eventId, created: true };
      } catch (err) {
        await conn.rollback().catch(() => undefined);
        throw err;
      }
    } finally {
      conn.release();
    }
  }

  private async replay(requestId: string, requestHash: string): Promise<InsertResult> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      "SELECT resource_id, request_hash FROM idempotency_keys WHERE scope = ? AND idempotency_key = ?",
      [CREATE_EVENT_SCOPE, requestId],
    );
    const row = rows[0];
    if (!row) throw new Error(`idempotency key ${requestId} vanished after a duplicate-key error`);
    if (row.request_hash !== requestHash) {
      throw new AppError("REQUEST_ID_REUSED", `request_id ${requestId} was used before for a different request`, {
        metadata: { request_id: requestId },
      });
    }
    return { eventId: String(row.resource_id), created: false };
  }

  /** The event with its seat map, or undefined when there is no such event. */
  async getLayout(eventId: string): Promise<StoredEvent | undefined> {
    const [events] = await this.pool.execute<RowDataPacket[]>("SELECT * FROM events WHERE event_id = ?", [eventId]);
    const event = events[0];
    if (!event) return undefined;
    const [[categories], [sections], [rows]] = await Promise.all([
      this.pool.execute<RowDataPacket[]>(
        "SELECT price_category_id, name, price_minor FROM price_categories WHERE event_id = ? ORDER BY position",
        [eventId],
      ),
      this.pool.execute<RowDataPacket[]>(
        `SELECT section_id, name, kind, capacity, price_category_id, plan FROM sections
         WHERE event_id = ? ORDER BY position`,
        [eventId],
      ),
      this.pool.execute<RowDataPacket[]>(
        `SELECT section_id, row_id, first_seat_number, seat_count, price_category_id, placement FROM section_rows
         WHERE event_id = ? ORDER BY section_id, position`,
        [eventId],
      ),
    ]);
    const rowsBySection = new Map<string, RowLayout[]>();
    for (const r of rows) {
      const sectionId = String(r.section_id);
      let list = rowsBySection.get(sectionId);
      if (!list) rowsBySection.set(sectionId, (list = []));
      const placement = parsePlan<RowPlacement>(r.placement);
      list.push({
        rowId: String(r.row_id),
        firstSeatNumber: Number(r.first_seat_number),
        seatCount: Number(r.seat_count),
        priceCategoryId: String(r.price_category_id),
        ...(placement ? { placement } : {}),
      });
    }
    const sectionLayouts: SectionLayout[] = sections.map((s) => {
      const plan = parsePlan<SectionPlan>(s.plan);
      const outline = plan?.outline ? { outline: plan.outline } : {};
      return s.kind === "GA"
        ? {
            sectionId: String(s.section_id),
            name: String(s.name),
            generalAdmission: {
              capacity: Number(s.capacity),
              priceCategoryId: String(s.price_category_id),
              ...(plan?.area ? { area: plan.area } : {}),
            },
            ...outline,
          }
        : {
            sectionId: String(s.section_id),
            name: String(s.name),
            rows: rowsBySection.get(String(s.section_id)) ?? [],
            ...outline,
          };
    });
    return toStoredEvent(event, categories.map(toCategory), sectionLayouts);
  }

  /** Events newest first, without their seat maps (price categories included). */
  async listEvents(pageSize: number, pageToken: string): Promise<EventPage> {
    const cursor = pageToken ? decodePageToken(pageToken) : undefined;
    const limit = Math.trunc(pageSize) + 1; // one more tells whether another page follows
    // LIMIT is inlined (a checked integer): MySQL refuses a placeholder there in some versions.
    const [rows] = cursor
      ? await this.pool.execute<RowDataPacket[]>(
          `SELECT * FROM events
           WHERE created_at < ? OR (created_at = ? AND event_id < ?)
           ORDER BY created_at DESC, event_id DESC LIMIT ${limit}`,
          [sqlTime(new Date(cursor.createdAtMs)), sqlTime(new Date(cursor.createdAtMs)), cursor.eventId],
        )
      : await this.pool.execute<RowDataPacket[]>(
          `SELECT * FROM events ORDER BY created_at DESC, event_id DESC LIMIT ${limit}`,
        );
    const page = rows.slice(0, pageSize);
    const ids = page.map((r) => String(r.event_id));
    const categories = new Map<string, PriceCategoryLayout[]>();
    if (ids.length > 0) {
      const [cats] = await this.pool.query<RowDataPacket[]>(
        `SELECT event_id, price_category_id, name, price_minor FROM price_categories
         WHERE event_id IN (?) ORDER BY event_id, position`,
        [ids],
      );
      for (const c of cats) {
        const id = String(c.event_id);
        let list = categories.get(id);
        if (!list) categories.set(id, (list = []));
        list.push(toCategory(c));
      }
    }
    const events = page.map((r) => toStoredEvent(r, categories.get(String(r.event_id)) ?? [], []));
    const last = page[page.length - 1];
    const nextPageToken =
      rows.length > pageSize && last
        ? encodePageToken({ createdAtMs: (last.created_at as Date).getTime(), eventId: String(last.event_id) })
        : "";
    return { events, nextPageToken };
  }

  /** The event's sale state, or undefined when there is no such event. */
  async saleState(eventId: string): Promise<SaleState | undefined> {
    const [rows] = await this.pool.execute<RowDataPacket[]>("SELECT sale_state FROM events WHERE event_id = ?", [
      eventId,
    ]);
    return rows[0] ? (String(rows[0].sale_state) as SaleState) : undefined;
  }

  /**
   * Sets the sale state; with `from`, only while the state is still `from`.
   * Returns whether a row changed.
   */
  async setSaleState(eventId: string, state: SaleState, from?: SaleState): Promise<boolean> {
    const [result] = from
      ? await this.pool.execute<ResultSetHeader>(
          "UPDATE events SET sale_state = ? WHERE event_id = ? AND sale_state = ?",
          [state, eventId, from],
        )
      : await this.pool.execute<ResultSetHeader>("UPDATE events SET sale_state = ? WHERE event_id = ?", [
          state,
          eventId,
        ]);
    return result.affectedRows > 0;
  }

  /** The waiting room's admission settings (UpdateWaitingRoom); whether the event exists. */
  async setWaitingRoom(eventId: string, wr: WaitingRoomSettings): Promise<boolean> {
    const [result] = await this.pool.execute<ResultSetHeader>(
      `UPDATE events SET admissions_per_second = ?, max_shopping = ?, session_seconds = ?, adaptive_admission = ?
        WHERE event_id = ?`,
      [wr.admissionsPerSecond, wr.maxShopping, wr.sessionSeconds, adaptiveJson(wr), eventId],
    );
    return result.affectedRows > 0;
  }

  /** What confirmed orders sold: reserved seats, general-admission quantities, tickets per buyer. */
  /**
   * What MySQL says is sold: every seat an order item still claims (a
   * checkout past its MySQL step owns its seats even before it confirms),
   * general-admission counts, and per buyer the places their unreleased
   * order items hold.
   */
  async soldState(eventId: string): Promise<SoldState> {
    const [[seats], [ga], [buyers]] = await Promise.all([
      this.pool.execute<RowDataPacket[]>(
        "SELECT sold_seat_id FROM order_items WHERE event_id = ? AND sold_seat_id IS NOT NULL",
        [eventId],
      ),
      this.pool.execute<RowDataPacket[]>("SELECT section_id, sold FROM sections WHERE event_id = ? AND kind = 'GA'", [
        eventId,
      ]),
      this.pool.execute<RowDataPacket[]>(
        `SELECT o.buyer_id, SUM(oi.quantity) AS bought FROM order_items oi JOIN orders o ON o.order_id = oi.order_id
         WHERE oi.event_id = ? AND oi.released_at IS NULL GROUP BY o.buyer_id`,
        [eventId],
      ),
    ]);
    return {
      seatIds: seats.map((r) => String(r.sold_seat_id)),
      gaSold: new Map(ga.map((r) => [String(r.section_id), Number(r.sold)])),
      boughtByBuyer: new Map(buyers.map((r) => [String(r.buyer_id), Number(r.bought)])),
    };
  }

  /**
   * Orders of the event by state, its tickets valid and checked in, the seats
   * MySQL says are sold (reserved seats claimed plus general-admission places:
   * the oversell canary compares it with the capacity), and payments
   * authorized but neither captured nor voided yet, with the oldest one's age.
   */
  async funnelCounts(eventId: string): Promise<FunnelCounts> {
    const [[orders], [tickets], [sold], [payments]] = await Promise.all([
      this.pool.execute<RowDataPacket[]>("SELECT state, COUNT(*) AS n FROM orders WHERE event_id = ? GROUP BY state", [
        eventId,
      ]),
      this.pool.execute<RowDataPacket[]>(
        `SELECT COUNT(*) AS valid, COUNT(c.ticket_id) AS checked_in
           FROM tickets t LEFT JOIN check_ins c ON c.ticket_id = t.ticket_id
          WHERE t.event_id = ? AND t.revoked_at IS NULL`,
        [eventId],
      ),
      this.pool.execute<RowDataPacket[]>(
        `SELECT (SELECT COUNT(*) FROM order_items WHERE event_id = ? AND sold_seat_id IS NOT NULL)
              + (SELECT COALESCE(SUM(sold), 0) FROM sections WHERE event_id = ? AND kind = 'GA') AS sold`,
        [eventId, eventId],
      ),
      this.pool.execute<RowDataPacket[]>(
        `SELECT COUNT(*) AS n, COALESCE(TIMESTAMPDIFF(SECOND, MIN(p.created_at), NOW(3)), 0) AS oldest
           FROM payments p JOIN orders o ON o.order_id = p.order_id
          WHERE o.event_id = ? AND p.state = 'AUTHORIZED'`,
        [eventId],
      ),
    ]);
    return {
      orders: new Map(orders.map((r) => [String(r.state), Number(r.n)])),
      ticketsValid: Number(tickets[0]?.valid ?? 0),
      checkedIn: Number(tickets[0]?.checked_in ?? 0),
      soldSeats: Number(sold[0]?.sold ?? 0),
      paymentsAuthorized: Number(payments[0]?.n ?? 0),
      oldestAuthorizedSeconds: Number(payments[0]?.oldest ?? 0),
    };
  }

  /** Events whose sale is not over (scheduled, open or paused): those that need live state. */
  async eventIdsWithOpenOrScheduledSales(): Promise<string[]> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      "SELECT event_id FROM events WHERE sale_state <> 'CLOSED' ORDER BY created_at",
    );
    return rows.map((r) => String(r.event_id));
  }

  /**
   * Runs fn holding a MySQL named lock for the event, so that sale-state
   * changes and Redis (re)loads of one event never interleave, across
   * processes. Returns undefined from the lock wait when it timed out.
   */
  async withEventLock<T>(
    eventId: string,
    timeoutSeconds: number,
    fn: () => Promise<T>,
  ): Promise<{ value: T } | undefined> {
    const conn = await this.pool.getConnection();
    // Lock names are at most 64 characters; event ids alone may be 64.
    const name = `tkt_ev_${createHash("sha1").update(eventId).digest("hex")}`;
    try {
      const [got] = await conn.query<RowDataPacket[]>("SELECT GET_LOCK(?, ?) AS got", [
        name,
        Math.max(0, Math.ceil(timeoutSeconds)),
      ]);
      if (Number(got[0]?.got) !== 1) return undefined;
      try {
        return { value: await fn() };
      } finally {
        await conn.query("SELECT RELEASE_LOCK(?)", [name]).catch(() => undefined);
      }
    } finally {
      conn.release();
    }
  }
}

async function insertEventRow(conn: PoolConnection, layout: EventLayout, saleState: SaleState): Promise<void> {
  await conn.execute(
    `INSERT INTO events (event_id, name, venue, start_time, sale_open_time, sale_close_time, sale_state,
       hold_ttl_seconds, hold_max_extensions, hold_max_lifetime_seconds, max_tickets_per_buyer,
       waiting_room_enabled, admissions_per_second, max_shopping, session_seconds, currency_code, capacity, created_at,
       refund_cutoff_seconds, adaptive_admission)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      layout.eventId,
      layout.name,
      layout.venue,
      sqlTime(layout.startTime),
      sqlTime(layout.saleOpenTime),
      sqlTime(layout.saleCloseTime),
      saleState,
      layout.holdPolicy.ttlSeconds,
      layout.holdPolicy.maxExtensions,
      layout.holdPolicy.maxLifetimeSeconds,
      layout.maxTicketsPerBuyer,
      layout.waitingRoom.enabled ? 1 : 0,
      layout.waitingRoom.admissionsPerSecond,
      layout.waitingRoom.maxShopping,
      layout.waitingRoom.sessionSeconds,
      layout.currencyCode,
      layout.capacity,
      sqlTime(layout.createTime),
      layout.refundCutoffSeconds,
      adaptiveJson(layout.waitingRoom),
    ],
  );
}

/** The adaptive_admission column: the block's JSON while on, NULL while off. */
function adaptiveJson(wr: WaitingRoomSettings): string | null {
  return wr.adaptive ? JSON.stringify(wr.adaptive) : null;
}

async function insertSeatMap(conn: PoolConnection, layout: EventLayout): Promise<void> {
  const e = layout.eventId;
  await insertBatches(
    conn,
    "price_categories (event_id, price_category_id, name, price_minor, position)",
    layout.priceCategories.map((c, i) => [e, c.priceCategoryId, c.name, c.priceMinor, i]),
  );
  await insertBatches(
    conn,
    "sections (event_id, section_id, name, kind, capacity, sold, price_category_id, position, plan)",
    layout.sections.map((s, i) =>
      s.generalAdmission
        ? [
            e,
            s.sectionId,
            s.name,
            "GA",
            s.generalAdmission.capacity,
            0,
            s.generalAdmission.priceCategoryId,
            i,
            sectionPlanJson(s),
          ]
        : [
            e,
            s.sectionId,
            s.name,
            "RESERVED",
            (s.rows ?? []).reduce((n, r) => n + r.seatCount, 0),
            0,
            null,
            i,
            sectionPlanJson(s),
          ],
    ),
  );
  await insertBatches(
    conn,
    "section_rows (event_id, section_id, row_id, first_seat_number, seat_count, price_category_id, position, placement)",
    layout.sections.flatMap((s) =>
      (s.rows ?? []).map((r, i) => [
        e,
        s.sectionId,
        r.rowId,
        r.firstSeatNumber,
        r.seatCount,
        r.priceCategoryId,
        i,
        r.placement ? JSON.stringify(r.placement) : null,
      ]),
    ),
  );
  // Seats are generated batch by batch rather than all at once.
  const columns = "seats (event_id, seat_id, section_id, row_id, seat_number, price_category_id)";
  let batch: unknown[][] = [];
  for (const s of layout.sections) {
    for (const r of s.rows ?? []) {
      for (let n = r.firstSeatNumber; n < r.firstSeatNumber + r.seatCount; n++) {
        batch.push([e, `${s.sectionId}-${r.rowId}-${n}`, s.sectionId, r.rowId, n, r.priceCategoryId]);
        if (batch.length === BATCH_ROWS) {
          await insertBatches(conn, columns, batch);
          batch = [];
        }
      }
    }
  }
  await insertBatches(conn, columns, batch);
}

/** Multi-row prepared INSERTs of at most BATCH_ROWS rows each. */
async function insertBatches(conn: PoolConnection, tableAndColumns: string, rows: unknown[][]): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH_ROWS) {
    const part = rows.slice(i, i + BATCH_ROWS);
    const width = part[0]!.length;
    const tuple = `(${Array.from({ length: width }, () => "?").join(", ")})`;
    const sql = `INSERT INTO ${tableAndColumns} VALUES ${Array.from({ length: part.length }, () => tuple).join(", ")}`;
    await conn.execute(sql, part.flat() as (string | number | null)[]);
  }
}

/** What sections.plan holds: the section's outline and, for general admission, its area. */
interface SectionPlan {
  outline?: Point[];
  area?: Area;
}

function sectionPlanJson(s: SectionLayout): string | null {
  const plan: SectionPlan = {
    ...(s.outline ? { outline: s.outline } : {}),
    ...(s.generalAdmission?.area ? { area: s.generalAdmission.area } : {}),
  };
  return plan.outline || plan.area ? JSON.stringify(plan) : null;
}

/** A plan column: NULL (no plan) or the JSON this store wrote. */
function parsePlan<T>(value: unknown): T | undefined {
  const text = typeof value === "string" ? value : Buffer.isBuffer(value) ? value.toString("utf8") : "";
  return text ? (JSON.parse(text) as T) : undefined;
}

function toCategory(r: RowDataPacket): PriceCategoryLayout {
  return { priceCategoryId: String(r.price_category_id), name: String(r.name), priceMinor: Number(r.price_minor) };
}

function toStoredEvent(
  r: RowDataPacket,
  priceCategories: PriceCategoryLayout[],
  sections: SectionLayout[],
): StoredEvent {
  return {
    saleState: String(r.sale_state) as SaleState,
    layout: {
      eventId: String(r.event_id),
      name: String(r.name),
      venue: String(r.venue),
      startTime: optionalDate(r.start_time),
      saleOpenTime: optionalDate(r.sale_open_time),
      saleCloseTime: optionalDate(r.sale_close_time),
      holdPolicy: {
        ttlSeconds: Number(r.hold_ttl_seconds),
        maxExtensions: Number(r.hold_max_extensions),
        maxLifetimeSeconds: Number(r.hold_max_lifetime_seconds),
      },
      maxTicketsPerBuyer: Number(r.max_tickets_per_buyer),
      refundCutoffSeconds: Number(r.refund_cutoff_seconds),
      waitingRoom: {
        enabled: Boolean(Number(r.waiting_room_enabled)),
        admissionsPerSecond: Number(r.admissions_per_second),
        maxShopping: Number(r.max_shopping),
        sessionSeconds: Number(r.session_seconds),
        ...(r.adaptive_admission ? { adaptive: JSON.parse(String(r.adaptive_admission)) as AdaptiveAdmission } : {}),
      },
      currencyCode: String(r.currency_code),
      priceCategories,
      sections,
      capacity: Number(r.capacity),
      createTime: r.created_at as Date,
    },
  };
}

function optionalDate(value: unknown): Date | undefined {
  return value instanceof Date ? value : undefined;
}

/** A DATETIME(3) literal in UTC, independent of the process time zone. */
function sqlTime(date: Date | undefined): string | null {
  if (!date) return null;
  return date.toISOString().slice(0, 23).replace("T", " ");
}

function encodePageToken(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify({ t: cursor.createdAtMs, id: cursor.eventId })).toString("base64url");
}

/** Decodes a page token; a token this server did not make is VALIDATION_FAILED on page_token. */
export function decodePageToken(token: string): PageCursor {
  const bad = () =>
    new AppError("VALIDATION_FAILED", "page_token is not a token from a previous ListEvents response", {
      fieldViolations: [{ field: "page_token", description: "is not a token from a previous ListEvents response" }],
    });
  if (token.length > 256 || !/^[A-Za-z0-9_-]+$/.test(token)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  const { t, id } = (parsed ?? {}) as { t?: unknown; id?: unknown };
  if (typeof t !== "number" || !Number.isSafeInteger(t) || t < 0 || typeof id !== "string" || !ID_PATTERN.test(id)) {
    throw bad();
  }
  return { createdAtMs: t, eventId: id };
}
