// The audit after a simulated on-sale: MySQL (orders, items, sections,
// tickets), the payment simulator's ledger (simulated_payments), Redis (live
// seat state, the waiting room's records) and the API itself (VerifyTicket,
// GetSigningKeys), compared with what the buyers saw. Any check not ok fails
// the run.
import { createHash, createPublicKey } from "node:crypto";
import { jwtVerify } from "jose";
import type { RowDataPacket } from "mysql2/promise";
import { createMysqlPool, type MysqlPool } from "../../src/adapters/mysql/pool.js";
import { createRedis, type RedisClient } from "../../src/adapters/redis/client.js";
import { eventKeys, queueKeys } from "../../src/adapters/redis/keys.js";
import { TicketState } from "../../src/gen/ticketing/v1/ticket_service.js";
import { Clients } from "./clients.js";
import type { SimResult, Target } from "./driver.js";
import { describeRefusals, Metrics } from "./metrics.js";
import { capacityOf } from "./scenario.js";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface AuditResult {
  ok: boolean;
  checks: Check[];
  facts: Record<string, number | string>;
  settleMs: number;
}

export interface AuditOptions {
  result: SimResult;
  target: Target;
  mysqlUrl: string;
  redisUrl: string;
  redisClusterNodes?: { host: string; port: number }[];
  log?: (msg: string) => void;
}

const FINAL = new Set(["CONFIRMED", "FAILED", "CANCELLED", "REFUNDED"]);
const FIFO_BASE = 2 ** 52;
const list = (xs: string[], n = 5) =>
  xs.length > n ? `${xs.slice(0, n).join(", ")}, … (${xs.length})` : xs.join(", ");
const fmt = (x: number) => x.toLocaleString("en-US");

async function rows(mysql: MysqlPool, sql: string, params: unknown[]): Promise<RowDataPacket[]> {
  const [r] = await mysql.query<RowDataPacket[]>(sql, params);
  return r;
}

/** Waits (bounded) until every order of the event is in a final state; returns the ms waited. */
async function settle(mysql: MysqlPool, eventId: string, boundMs: number, log: (m: string) => void): Promise<number> {
  const t0 = Date.now();
  let said = 0;
  for (;;) {
    const r = await rows(
      mysql,
      "SELECT COUNT(*) AS n FROM orders WHERE event_id = ? AND state NOT IN ('CONFIRMED','FAILED','CANCELLED','REFUNDED')",
      [eventId],
    );
    const open = Number(r[0]?.n ?? 0);
    if (open === 0 || Date.now() - t0 > boundMs) return Date.now() - t0;
    if (Date.now() - said > 5000) {
      log(`audit: waiting for ${open} checkouts still running (up to ${Math.round(boundMs / 1000)} s)`);
      said = Date.now();
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function audit(o: AuditOptions): Promise<AuditResult> {
  const { result } = o;
  const s = result.scenario;
  const log = o.log ?? ((m: string) => process.stderr.write(`[sim] ${m}\n`));
  const eventId = result.eventId;
  const checks: Check[] = [];
  const facts: Record<string, number | string> = {};
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const mysql = createMysqlPool(o.mysqlUrl, 4);
  const redis: RedisClient = createRedis({ url: o.redisUrl, clusterNodes: o.redisClusterNodes });
  const clients = new Clients(o.target.address, 2, o.target.issuer, new Metrics(), 30_000);
  const cap = capacityOf(s);
  try {
    const settleMs = await settle(mysql, eventId, s.run.settleSeconds * 1000, log);
    const c: AuditContext = { o, result, s, eventId, add, mysql, redis, clients, cap, settleMs, facts, log };
    const v = {} as AuditValues;
    Object.assign(v, await auditOrders(c));
    Object.assign(v, await auditSeats(c, v));
    Object.assign(v, await auditPayments(c, v));
    await auditBuyerLimit(c);
    await auditWaitingRoom(c, v);
    Object.assign(v, await auditTickets(c, v));
    await auditFailover(c);

    // --- the run itself
    add(
      "every buyer's journey ended (the run accounts for every buyer)",
      result.unfinished === 0 && result.records.every((b) => b.outcome !== undefined),
      `${fmt(result.records.filter((b) => b.outcome !== undefined).length)} of ${fmt(result.records.length)} ended; ${result.unfinished} still running when the driver stopped waiting`,
    );

    Object.assign(facts, {
      orders: v.orders.length,
      confirmedOrders: v.confirmed.length,
      placesSold: v.sold.length + v.gaSold,
      capacity: cap.total,
      tickets: v.live.length,
      capturedMinor: v.capturedTotal,
    });
    return { ok: checks.every((c) => c.ok), checks, facts, settleMs };
  } finally {
    clients.close();
    await mysql.end();
    redis.disconnect();
  }
}

/** What every part of the audit reads: the run, the stores and where checks go. */
interface AuditContext {
  o: AuditOptions;
  result: SimResult;
  s: SimResult["scenario"];
  eventId: string;
  add: (name: string, ok: boolean, detail: string) => void;
  mysql: MysqlPool;
  redis: RedisClient;
  clients: Clients;
  cap: ReturnType<typeof capacityOf>;
  settleMs: number;
  facts: Record<string, number | string>;
  log: (m: string) => void;
}

/** What a part of the audit found that a later part reads. */
interface AuditValues {
  orders: RowDataPacket[];
  byId: Map<string, RowDataPacket>;
  sold: RowDataPacket[];
  gaSold: number;
  itemsBy: Map<string, { q: number; amount: number }>;
  confirmed: RowDataPacket[];
  capturedTotal: number;
  live: RowDataPacket[];
}

/** The audit's checks of orders. */
async function auditOrders(c: AuditContext): Promise<Pick<AuditValues, "orders" | "byId">> {
  const { result, eventId, add, mysql, settleMs } = c;
  const orders = await rows(
    mysql,
    "SELECT order_id, hold_id, buyer_id, state, failure_reason, section_id, quantity, amount_minor FROM orders WHERE event_id = ?",
    [eventId],
  );
  const byId = new Map(orders.map((r) => [String(r.order_id), r]));
  const states: Record<string, number> = {};
  for (const r of orders) states[String(r.state)] = (states[String(r.state)] ?? 0) + 1;
  const notFinal = orders.filter((r) => !FINAL.has(String(r.state)));
  add(
    "every order reached a final state",
    notFinal.length === 0,
    `${fmt(orders.length)} orders ${JSON.stringify(states)} after waiting ${(settleMs / 1000).toFixed(1)} s${notFinal.length ? `; not final: ${list(notFinal.map((r) => `${r.order_id}=${r.state}`))}` : ""}`,
  );
  const clientOrders = result.records.flatMap((b) => b.orders.map((x) => ({ ...x, buyer: b.id })));
  const missing = clientOrders.filter((x) => !byId.has(x.orderId));
  const disagree = clientOrders.filter(
    (x) => x.state && x.state !== "UNKNOWN" && byId.has(x.orderId) && String(byId.get(x.orderId)!.state) !== x.state,
  );
  const given = new Set(clientOrders.map((x) => x.orderId));
  const unknown = orders.filter((r) => !given.has(String(r.order_id)));
  add(
    "orders in MySQL = the orders buyers were given, in the state they saw",
    missing.length === 0 && disagree.length === 0 && unknown.length === 0,
    `${fmt(clientOrders.length)} orders given to buyers, ${fmt(orders.length)} in MySQL; missing ${missing.length}${missing.length ? ` (${list(missing.map((x) => x.orderId))})` : ""}, ` +
      `unknown ${unknown.length}${unknown.length ? ` (${list(unknown.map((r) => String(r.order_id)))})` : ""}, state differs ${disagree.length}${disagree.length ? ` (${list(disagree.map((x) => `${x.orderId}: saw ${x.state}, MySQL ${byId.get(x.orderId)!.state}`))})` : ""}`,
  );
  const breaches = result.records.filter((b) => b.idempotencyBreach);
  // A hold is in one order at most, whether as an order's first hold
  // (orders.hold_id) or any of its holds (order_holds); every order has its
  // holds, the first among them; every hold is its order's buyer's own.
  const perHold = await rows(
    mysql,
    `SELECT hold_id, COUNT(DISTINCT order_id) AS n FROM (
       SELECT hold_id, order_id FROM orders WHERE event_id = ?
       UNION ALL SELECT hold_id, order_id FROM order_holds WHERE event_id = ?) x
     GROUP BY hold_id HAVING COUNT(DISTINCT order_id) > 1`,
    [eventId, eventId],
  );
  const orderHolds = await rows(mysql, "SELECT order_id, hold_id FROM order_holds WHERE event_id = ?", [eventId]);
  const holdsBy = new Map<string, string[]>();
  for (const r of orderHolds)
    holdsBy.set(String(r.order_id), [...(holdsBy.get(String(r.order_id)) ?? []), String(r.hold_id)]);
  const holdless = orders.filter((r) => !holdsBy.get(String(r.order_id))?.includes(String(r.hold_id)));
  const holdOwner = new Map(result.records.flatMap((b) => b.holdIds.map((h) => [h, b.id] as const)));
  const foreign = orderHolds.filter(
    (r) => holdOwner.get(String(r.hold_id)) !== String(byId.get(String(r.order_id))?.buyer_id),
  );
  const multi = [...holdsBy.values()].filter((h) => h.length > 1);
  add(
    "idempotency: a double-submitted CreateOrder answers one order; one order per hold, each hold its buyer's",
    breaches.length === 0 && perHold.length === 0 && holdless.length === 0 && foreign.length === 0,
    `${fmt(result.metrics.stats("CreateOrder").calls)} CreateOrder calls; ${breaches.length} double submits answered two orders${breaches.length ? ` (${list(breaches.map((b) => b.idempotencyBreach!))})` : ""}; ` +
      `${perHold.length} holds with several orders${perHold.length ? ` (${list(perHold.map((r) => String(r.hold_id)))})` : ""}; ` +
      `${fmt(multi.length)} orders over several holds (${fmt(multi.reduce((n, h) => n + h.length, 0))} holds)` +
      (holdless.length ? `; orders without their holds: ${list(holdless.map((r) => String(r.order_id)))}` : "") +
      (foreign.length ? `; holds of another buyer: ${list(foreign.map((r) => `${r.hold_id} in ${r.order_id}`))}` : ""),
  );
  return { orders, byId };
}

/** The audit's checks of seats and places. */
async function auditSeats(
  c: AuditContext,
  v: AuditValues,
): Promise<Pick<AuditValues, "sold" | "gaSold" | "itemsBy" | "confirmed">> {
  const { eventId, add, mysql, redis, cap } = c;
  const { orders, byId } = v;
  const dups = await rows(
    mysql,
    "SELECT sold_seat_id, COUNT(*) AS n FROM order_items WHERE event_id = ? AND sold_seat_id IS NOT NULL GROUP BY sold_seat_id HAVING COUNT(*) > 1",
    [eventId],
  );
  const sold = await rows(
    mysql,
    // The hold that held the seat (an order over several holds has one per seat; older items: the order's).
    "SELECT i.sold_seat_id, i.order_id, COALESCE(i.hold_id, o.hold_id) AS hold_id, o.state FROM order_items i JOIN orders o ON o.order_id = i.order_id WHERE i.event_id = ? AND i.sold_seat_id IS NOT NULL",
    [eventId],
  );
  add(
    "no seat sold twice (order_items)",
    dups.length === 0,
    dups.length === 0
      ? `${fmt(sold.length)} reserved seats sold, each once`
      : `${dups.length} seats sold more than once: ${list(dups.map((d) => `${d.sold_seat_id}×${d.n}`))}`,
  );
  const unknownSeats = await rows(
    mysql,
    "SELECT i.sold_seat_id FROM order_items i LEFT JOIN seats s ON s.event_id = i.event_id AND s.seat_id = i.sold_seat_id WHERE i.event_id = ? AND i.sold_seat_id IS NOT NULL AND s.seat_id IS NULL",
    [eventId],
  );
  const gaItems = await rows(
    mysql,
    "SELECT i.seat_id AS section_id, SUM(i.quantity) AS q FROM order_items i WHERE i.event_id = ? AND i.sold_seat_id IS NULL AND i.released_at IS NULL GROUP BY i.seat_id",
    [eventId],
  );
  const sections = await rows(mysql, "SELECT section_id, kind, capacity, sold FROM sections WHERE event_id = ?", [
    eventId,
  ]);
  const gaDetail: string[] = [];
  let gaOk = true;
  let gaSold = 0;
  for (const sec of sections.filter((x) => String(x.kind) === "GA")) {
    const id = String(sec.section_id);
    const items = Number(gaItems.find((g) => String(g.section_id) === id)?.q ?? 0);
    const capacity = Number(sec.capacity);
    const ok = items <= capacity && Number(sec.sold) === items && capacity === cap.ga[id];
    gaOk &&= ok;
    gaSold += items;
    gaDetail.push(`${id} ${fmt(items)}/${fmt(capacity)} (sections.sold ${fmt(Number(sec.sold))})`);
  }
  add(
    "sold ≤ capacity (reserved and each general-admission section)",
    sold.length <= cap.reserved && unknownSeats.length === 0 && gaOk,
    `reserved ${fmt(sold.length)}/${fmt(cap.reserved)}${unknownSeats.length ? `, ${unknownSeats.length} sold seats not in the layout` : ""}; GA ${gaDetail.join(", ") || "none"}`,
  );
  const itemsPerOrder = await rows(
    mysql,
    "SELECT i.order_id, SUM(i.quantity) AS q, SUM(i.price_minor * i.quantity) AS amount FROM order_items i WHERE i.event_id = ? AND i.released_at IS NULL GROUP BY i.order_id",
    [eventId],
  );
  const itemsBy = new Map(itemsPerOrder.map((r) => [String(r.order_id), { q: Number(r.q), amount: Number(r.amount) }]));
  const confirmed = orders.filter((r) => String(r.state) === "CONFIRMED");
  const wrongItems = confirmed.filter((r) => itemsBy.get(String(r.order_id))?.q !== Number(r.quantity));
  const itemsOfUnconfirmed = [...itemsBy.keys()].filter((id) => String(byId.get(id)?.state) !== "CONFIRMED");
  add(
    "what is sold = the items of the CONFIRMED orders (nothing sold for an order that did not confirm)",
    wrongItems.length === 0 && itemsOfUnconfirmed.length === 0,
    `${fmt(confirmed.length)} CONFIRMED orders, ${fmt(sold.length + gaSold)} places sold` +
      (wrongItems.length ? `; quantity ≠ items: ${list(wrongItems.map((r) => String(r.order_id)))}` : "") +
      (itemsOfUnconfirmed.length ? `; items kept by unconfirmed orders: ${list(itemsOfUnconfirmed)}` : ""),
  );

  // Redis agrees with MySQL
  const k = eventKeys(eventId);
  const seatHash = cap.reserved > 0 ? await redis.hgetall(k.seats) : {};
  const soldMysql = new Map(sold.map((r) => [String(r.sold_seat_id), String(r.hold_id)]));
  const redisSold = Object.entries(seatHash).filter(([, v]) => v.startsWith("S|"));
  const wrongInRedis = [...soldMysql].filter(([seat, hold]) => seatHash[seat] !== `S|${hold}`);
  const extraInRedis = redisSold.filter(([seat]) => !soldMysql.has(seat));
  const gaRedis: string[] = [];
  let gaRedisOk = true;
  for (const id of Object.keys(cap.ga)) {
    const h = await redis.hmget(k.ga(id), "capacity", "held", "sold");
    const [c, held, so] = h.map((x) => Number(x ?? 0));
    const mysqlSold = Number(sections.find((x) => String(x.section_id) === id)?.sold ?? -1);
    const ok = so! === mysqlSold && so + held! <= c!;
    gaRedisOk &&= ok;
    gaRedis.push(`${id}: sold ${so} held ${held} of ${c}${ok ? "" : ` (MySQL sold ${mysqlSold})`}`);
  }
  add(
    "Redis agrees with MySQL (every sold seat S with the hold that held it, nothing else S; GA sold counts equal; sold + held ≤ capacity)",
    wrongInRedis.length === 0 && extraInRedis.length === 0 && gaRedisOk,
    `${fmt(redisSold.length)} seats S in Redis, ${fmt(soldMysql.size)} sold in MySQL` +
      (wrongInRedis.length
        ? `; wrong in Redis: ${list(wrongInRedis.map(([s2, h]) => `${s2}=${seatHash[s2] ?? "free"} (sold to ${h})`))}`
        : "") +
      (extraInRedis.length ? `; S in Redis only: ${list(extraInRedis.map(([s2, v]) => `${s2}=${v}`))}` : "") +
      (gaRedis.length ? `; GA ${gaRedis.join(", ")}` : ""),
  );
  return { sold, gaSold, itemsBy, confirmed };
}

/** The audit's checks of payments (the simulator's ledger). */
async function auditPayments(c: AuditContext, v: AuditValues): Promise<Pick<AuditValues, "capturedTotal">> {
  const { add, mysql } = c;
  const { orders, byId, itemsBy, confirmed } = v;
  const keys = orders.map((r) => `${r.order_id}:payment`);
  const ledger: RowDataPacket[] = [];
  for (let i = 0; i < keys.length; i += 5000) {
    ledger.push(
      ...(await rows(
        mysql,
        "SELECT idempotency_key, state, amount_minor FROM simulated_payments WHERE idempotency_key IN (?)",
        [keys.slice(i, i + 5000)],
      )),
    );
  }
  const ledgerBy = new Map(ledger.map((r) => [String(r.idempotency_key).replace(/:payment$/, ""), r]));
  const ledgerStates: Record<string, number> = {};
  for (const r of ledger) ledgerStates[String(r.state)] = (ledgerStates[String(r.state)] ?? 0) + 1;
  const confirmedNotCaptured = confirmed
    .filter((r) => String(ledgerBy.get(String(r.order_id))?.state) !== "CAPTURED")
    .map((r) => String(r.order_id));
  const capturedNotConfirmed = ledger.filter(
    (r) =>
      String(r.state) === "CAPTURED" &&
      String(byId.get(String(r.idempotency_key).replace(/:payment$/, ""))?.state) !== "CONFIRMED",
  );
  const amountWrong = confirmed.filter((r) => {
    const l = ledgerBy.get(String(r.order_id));
    const items = itemsBy.get(String(r.order_id));
    return !l || Number(l.amount_minor) !== Number(r.amount_minor) || items?.amount !== Number(r.amount_minor);
  });
  const capturedTotal = ledger
    .filter((r) => String(r.state) === "CAPTURED")
    .reduce((a, r) => a + Number(r.amount_minor), 0);
  const confirmedTotal = confirmed.reduce((a, r) => a + Number(r.amount_minor), 0);
  add(
    "captured payments = CONFIRMED orders, with their amounts",
    confirmedNotCaptured.length === 0 &&
      capturedNotConfirmed.length === 0 &&
      amountWrong.length === 0 &&
      capturedTotal === confirmedTotal,
    `${fmt(confirmed.length)} CONFIRMED, ${fmt(ledgerStates.CAPTURED ?? 0)} CAPTURED; captured ${fmt(capturedTotal)} = confirmed ${fmt(confirmedTotal)} minor units: ${capturedTotal === confirmedTotal}; ledger ${JSON.stringify(ledgerStates)}` +
      (confirmedNotCaptured.length ? `; confirmed without capture: ${list(confirmedNotCaptured)}` : "") +
      (capturedNotConfirmed.length
        ? `; captured without confirmation: ${list(capturedNotConfirmed.map((r) => String(r.idempotency_key)))}`
        : "") +
      (amountWrong.length
        ? `; amount differs (order/ledger/items): ${list(amountWrong.map((r) => String(r.order_id)))}`
        : ""),
  );
  const dangling = orders.filter((r) => {
    const st = String(r.state);
    const l = ledgerBy.get(String(r.order_id));
    if (st === "CONFIRMED") return false;
    if (st === "REFUNDED") return !l || String(l.state) !== "REFUNDED";
    return l !== undefined && !["VOIDED", "DECLINED"].includes(String(l.state));
  });
  add(
    "every authorization of an order that did not confirm is voided (or declined, or never made); refunds only for REFUNDED orders",
    dangling.length === 0,
    dangling.length === 0
      ? `${fmt(orders.length - confirmed.length)} unconfirmed orders: ledger ${JSON.stringify(
          orders
            .filter((r) => String(r.state) !== "CONFIRMED")
            .reduce<Record<string, number>>((acc, r) => {
              const st = String(ledgerBy.get(String(r.order_id))?.state ?? "none");
              acc[st] = (acc[st] ?? 0) + 1;
              return acc;
            }, {}),
        )}`
      : `${dangling.length}: ${list(dangling.map((r) => `${r.order_id} ${r.state}/${ledgerBy.get(String(r.order_id))?.state ?? "none"}`))}`,
  );
  return { capturedTotal };
}

/** The audit's checks of the per-buyer limit. */
async function auditBuyerLimit(c: AuditContext): Promise<void> {
  const { result, s, eventId, add, mysql } = c;
  const perBuyer = await rows(
    mysql,
    "SELECT buyer_id, SUM(quantity) AS q FROM orders WHERE event_id = ? AND state = 'CONFIRMED' GROUP BY buyer_id",
    [eventId],
  );
  const over = perBuyer.filter((r) => Number(r.q) > s.event.maxTicketsPerBuyer);
  const botBuyers = new Set(result.records.filter((b) => b.bot).map((b) => b.id));
  const botMax = Math.max(0, ...perBuyer.filter((r) => botBuyers.has(String(r.buyer_id))).map((r) => Number(r.q)));
  add(
    `per-buyer limit (${s.event.maxTicketsPerBuyer}) holds, bots included`,
    over.length === 0,
    `${fmt(perBuyer.length)} buyers bought; most by one buyer ${Math.max(0, ...perBuyer.map((r) => Number(r.q)))}, by one bot ${botMax}${over.length ? `; over the limit: ${list(over.map((r) => `${r.buyer_id}=${r.q}`))}` : ""}`,
  );
}

/** The audit's checks of the waiting room. */
async function auditWaitingRoom(c: AuditContext, v: AuditValues): Promise<void> {
  const { result, s, eventId, add, redis, facts } = c;
  const { confirmed } = v;
  if (s.event.waitingRoom.enabled) {
    const qk = queueKeys(eventId);
    const recsRaw = await redis.hgetall(qk.recs);
    const [seed, seedHash] = await redis.hmget(qk.meta, "seed", "seed_hash");
    type Rec = { buyer: string; state: string; join: number; score: number; admitted: number };
    const recs: Rec[] = [];
    for (const [buyer, v] of Object.entries(recsRaw)) {
      const m = /^(\w)\|(\d+)\|([\d.e+]+)\|(\d+)\|(\d+)$/.exec(v);
      if (m) recs.push({ buyer, state: m[1]!, join: Number(m[2]), score: Number(m[3]), admitted: Number(m[5]) });
    }
    const recBy = new Map(recs.map((r) => [r.buyer, r]));
    facts.queueRecords = recs.length;
    const recStates: Record<string, number> = {};
    for (const r of recs) recStates[r.state] = (recStates[r.state] ?? 0) + 1;

    // 1. the line's own order: admitted times never decrease along the line
    const byScore = [...recs].sort((a, b) => a.score - b.score || (a.buyer < b.buyer ? -1 : 1));
    let maxAdmitted = 0;
    let maxAdmittedScore = -1;
    const outOfOrder: string[] = [];
    for (const r of byScore) {
      if (r.admitted > 0) {
        if (r.admitted < maxAdmitted)
          outOfOrder.push(`${r.buyer} admitted ${maxAdmitted - r.admitted} ms before someone ahead`);
        maxAdmitted = Math.max(maxAdmitted, r.admitted);
        maxAdmittedScore = Math.max(maxAdmittedScore, r.score);
      }
    }
    const passedOver = recs.filter((r) => r.state === "W" && r.score < maxAdmittedScore);
    const client = new Map(result.records.map((b) => [b.id, b]));
    const wronglySkipped = recs.filter(
      (r) =>
        r.state === "X" && !/abandoned|stopped/.test(client.get(r.buyer)?.outcome ?? "") && !client.get(r.buyer)?.bot,
    );
    add(
      "fair queue: admission follows the line (no one admitted before someone ahead; no waiting buyer passed over)",
      outOfOrder.length === 0 && passedOver.length === 0,
      `${fmt(recs.filter((r) => r.admitted > 0).length)} admitted of ${fmt(recs.length)} in the room ${JSON.stringify(recStates)}` +
        (outOfOrder.length ? `; out of order: ${list(outOfOrder)}` : "") +
        (passedOver.length ? `; still waiting behind someone admitted: ${list(passedOver.map((r) => r.buyer))}` : ""),
    );
    add(
      "no buyer who kept watching or polling was skipped as abandoned",
      wronglySkipped.length === 0,
      wronglySkipped.length === 0
        ? `${fmt(recStates.X ?? 0)} skipped as abandoned, all of them buyers who went silent`
        : `${wronglySkipped.length} skipped while present: ${list(wronglySkipped.map((r) => `${r.buyer} (${client.get(r.buyer)?.outcome ?? "?"})`))}`,
    );

    // 2. client-side join order: A answered before B asked ⇒ A ahead of B, and admitted no later
    const post = result.records
      .filter((b) => b.joins === 1 && !b.bot && b.joinSentMs !== undefined && b.joinAnsweredMs !== undefined)
      .map((b) => ({ b, r: recBy.get(b.id) }))
      .filter((x): x is { b: (typeof x)["b"]; r: Rec } => x.r !== undefined && x.r.score >= FIFO_BASE);
    const byAnswered = [...post].sort((x, y) => x.b.joinAnsweredMs! - y.b.joinAnsweredMs!);
    const bySent = [...post].sort((x, y) => x.b.joinSentMs! - y.b.joinSentMs!);
    let ai = 0;
    let maxScoreA = -1;
    let maxAdmA = 0;
    const joinInversions: string[] = [];
    const admInversions: string[] = [];
    for (const B of bySent) {
      while (ai < byAnswered.length && byAnswered[ai]!.b.joinAnsweredMs! < B.b.joinSentMs!) {
        const A = byAnswered[ai++]!;
        maxScoreA = Math.max(maxScoreA, A.r.score);
        if (A.r.admitted > 0) maxAdmA = Math.max(maxAdmA, A.r.admitted);
      }
      if (maxScoreA >= B.r.score) joinInversions.push(B.b.id);
      if (B.r.admitted > 0 && maxAdmA > B.r.admitted)
        admInversions.push(`${B.b.id} (${maxAdmA - B.r.admitted} ms early)`);
    }
    add(
      "admission follows join order as the buyers saw it (after the open: whoever's JoinQueue returned before another's was sent is ahead, and admitted no later)",
      joinInversions.length === 0 && admInversions.length === 0,
      `${fmt(post.length)} buyers joined after the open; placed out of order ${joinInversions.length}${joinInversions.length ? ` (${list(joinInversions)})` : ""}, admitted out of order ${admInversions.length}${admInversions.length ? ` (${list(admInversions)})` : ""}`,
    );

    // 3. the pre-queue shuffle: committed before the open, and the revealed seed gives the order
    const pre = recs.filter((r) => r.score < FIFO_BASE);
    const seedOk =
      Boolean(seed) &&
      createHash("sha256").update(seed!).digest("hex") === seedHash &&
      (!result.seedHashBeforeOpen || result.seedHashBeforeOpen === seedHash);
    const badScore = seed
      ? pre.filter(
          (r) =>
            Number.parseInt(createHash("sha1").update(`${seed}:${r.buyer}`).digest("hex").slice(0, 13), 16) !== r.score,
        )
      : pre;
    add(
      "pre-queue shuffle: the revealed seed matches the hash committed before the open and gives every pre-queue place",
      pre.length === 0 || (seedOk && badScore.length === 0),
      pre.length === 0
        ? "nobody joined before the open"
        : `${fmt(pre.length)} joined before the open; seed hash before the open ${result.seedHashBeforeOpen.slice(0, 12) || "?"}…, committed ${String(seedHash).slice(0, 12)}…, SHA-256(seed) matches: ${seedOk}; places not from the seed: ${badScore.length}`,
    );

    // 4. the gate: every buyer who bought was admitted; no hold without a token
    const notAdmitted = [...new Set(confirmed.map((r) => String(r.buyer_id)))].filter(
      (b) => !(recBy.get(b)?.admitted ?? 0),
    );
    const gateBreaches = result.records.filter((b) => b.gateBreach);
    add(
      "gate: nobody holds without an admission token; every buyer who bought was admitted",
      notAdmitted.length === 0 && gateBreaches.length === 0,
      `${fmt(new Set(confirmed.map((r) => String(r.buyer_id))).size)} buyers bought, ${notAdmitted.length} of them never admitted${notAdmitted.length ? ` (${list(notAdmitted)})` : ""}; ` +
        `${result.records.filter((b) => b.bot).length} bots tried without a token, ${gateBreaches.length} got a hold`,
    );
  }
}

/** The audit's checks of tickets. */
async function auditTickets(c: AuditContext, v: AuditValues): Promise<Pick<AuditValues, "live">> {
  const { result, s, eventId, add, mysql, clients } = c;
  const { byId, confirmed } = v;
  const ticketRows = await rows(
    mysql,
    "SELECT t.ticket_id, t.order_id, t.seat_id, t.state FROM tickets t WHERE t.event_id = ?",
    [eventId],
  );
  const live = ticketRows.filter((t) => String(t.state) !== "REVOKED");
  const expected = confirmed.reduce((a, r) => a + Number(r.quantity), 0);
  const ticketsOfUnconfirmed = live.filter((t) => String(byId.get(String(t.order_id))?.state) !== "CONFIRMED");
  add(
    "one ticket per sold place, only for CONFIRMED orders",
    live.length === expected && ticketsOfUnconfirmed.length === 0,
    `${fmt(live.length)} tickets, CONFIRMED orders hold ${fmt(expected)} places${ticketsOfUnconfirmed.length ? `; tickets of unconfirmed orders: ${list(ticketsOfUnconfirmed.map((t) => String(t.ticket_id)))}` : ""}`,
  );
  const received = result.records.flatMap((b) =>
    b.orders
      .filter((x) => x.state === "CONFIRMED")
      .flatMap((x) => x.tickets.map((t) => ({ ...t, orderId: x.orderId }))),
  );
  const sample = received.slice(0, Math.min(received.length, 20_000));
  const { keys: sk } = await clients.call(
    "GetSigningKeys",
    clients.sets[0]!.queue,
    clients.sets[0]!.queue.getSigningKeys,
    {},
  );
  const ticketKeys = sk.filter((x) => x.purpose === "ticket");
  let offlineBad = 0;
  for (const t of sample) {
    try {
      const { payload } = await jwtVerify(t.code, async (h) => {
        const jwk = ticketKeys.find((x) => x.kid === h.kid);
        if (!jwk) throw new Error(`no key ${h.kid}`);
        return createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: "jwk" });
      });
      if (payload.eid !== eventId || payload.oid !== t.orderId || payload.tid !== t.ticketId) offlineBad++;
    } catch {
      offlineBad++;
    }
  }
  const toVerify = received.slice(0, s.run.verifyTickets);
  let onlineBad = 0;
  const bad: string[] = [];
  const set = clients.sets[0]!;
  for (let i = 0; i < toVerify.length; i += 32) {
    await Promise.all(
      toVerify.slice(i, i + 32).map(async (t) => {
        try {
          const { ticket } = await clients.call("VerifyTicket", set.tickets, set.tickets.verifyTicket, {
            code: t.code,
          });
          if (
            !ticket ||
            ticket.state !== TicketState.TICKET_STATE_VALID ||
            ticket.orderId !== t.orderId ||
            ticket.seatId !== t.seatId ||
            ticket.eventId !== eventId
          ) {
            onlineBad++;
            bad.push(`${t.ticketId}: ${JSON.stringify(ticket)}`);
          }
        } catch (err) {
          onlineBad++;
          bad.push(`${t.ticketId}: ${(err as Error).message}`);
        }
      }),
    );
  }
  add(
    "tickets verify: offline with the published ticket keys, and VerifyTicket (VALID, same order and seat)",
    offlineBad === 0 && onlineBad === 0 && received.length === expected,
    `${fmt(received.length)} tickets received by buyers (${fmt(expected)} expected); offline ${fmt(sample.length - offlineBad)}/${fmt(sample.length)} ok; VerifyTicket ${fmt(toVerify.length - onlineBad)}/${fmt(toVerify.length)} ok${bad.length ? ` (${list(bad, 3)})` : ""}`,
  );
  return { live };
}

/** The audit's checks of a Redis Cluster failover: refused calls are UNAVAILABLE (retried), never INTERNAL or UNKNOWN. */
async function auditFailover(c: AuditContext): Promise<void> {
  const { result, add } = c;
  const failovers = result.metrics.faults.filter(
    (x) => x.kind === "redis-failover" && !x.note.startsWith("not injected"),
  );
  if (failovers.length > 0) {
    const outcomeOf = (holdId: string) => result.records.find((b) => b.holdIds.includes(holdId))?.outcome ?? "?";
    add(
      "a Redis Cluster failover: calls refused only with UNAVAILABLE (no INTERNAL or UNKNOWN), and the replica took over",
      failovers.every((x) => x.failover && x.refusals && x.refusals.unexpected === 0),
      failovers
        .map((x) =>
          x.failover
            ? `master :${x.failover.killedPort} killed, replica :${x.failover.promotedPort} serving ${(x.failover.promotedAfterMs / 1000).toFixed(1)} s later; ` +
              `refused ${describeRefusals(x.refusals)}; ` +
              (x.failover.lostHolds.length
                ? `${x.failover.lostHolds.length} holds the old master had were not replicated and are gone (their buyers' journeys: ${list(x.failover.lostHolds.map(outcomeOf))})`
                : "no hold lost with the old master")
            : x.note,
        )
        .join("; "),
    );
  }
}
