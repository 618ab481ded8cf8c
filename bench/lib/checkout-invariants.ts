// Invariants after the checkout bench, read from MySQL, the payment simulator's
// ledger and Redis, compared with what the driver saw: every order final,
// captured payments = CONFIRMED orders, no seat sold twice (MySQL and the
// Redis seat map agree), one ticket per sold seat, every call accounted for.
import type { RowDataPacket } from "mysql2/promise";
import type { MysqlPool } from "../../src/adapters/mysql/pool.js";
import type { RedisClient } from "../../src/adapters/redis/client.js";
import { eventKeys } from "../../src/adapters/redis/keys.js";
import type { BareRoundStats, BuyerRecord } from "./checkout-driver.js";
import type { Check } from "./invariants.js";

const FINAL = new Set(["CONFIRMED", "FAILED", "CANCELLED", "REFUNDED"]);

const list = (xs: string[], n = 5) =>
  xs.length > n ? `${xs.slice(0, n).join(", ")}, … (${xs.length})` : xs.join(", ");

/** Adds one check. */
type Add = (name: string, ok: boolean, detail: string) => void;

/** Checkouts against MySQL, the payment ledger and Redis, from what the driver saw of each buyer. */
export async function checkoutChecks(o: {
  mysql: MysqlPool;
  redis: RedisClient;
  eventId: string;
  capacity: number;
  records: BuyerRecord[];
}): Promise<{ checks: Check[]; facts: Record<string, number> }> {
  const { mysql, redis, eventId, records } = o;
  const checks: Check[] = [];
  const add: Add = (name, ok, detail) => checks.push({ name, ok, detail });
  const { createOk } = driverChecks(add, records);
  const { orders } = await orderChecks(add, mysql, eventId, createOk);
  const { confirmed, captured } = await ledgerChecks(add, mysql, orders);
  const { sold } = await mysqlSeatChecks(add, mysql, eventId, orders, o.capacity);
  await redisSeatChecks(add, redis, eventId, sold);
  const { nTickets } = await ticketChecks(add, mysql, eventId, sold);
  return {
    checks,
    facts: {
      buyers: records.length,
      orders: orders.length,
      confirmed: confirmed.length,
      captured: captured.size,
      soldSeats: sold.length,
      tickets: nTickets,
    },
  };
}

/** What the driver saw: every call accounted for, every checkout CONFIRMED. */
function driverChecks(add: Add, records: BuyerRecord[]): { createOk: BuyerRecord[] } {
  const holdCalls = records.filter((r) => r.holdCode !== undefined);
  const holdsOk = records.filter((r) => r.holdCode === "OK");
  const createCalls = records.filter((r) => r.createCode !== undefined);
  const createOk = records.filter((r) => r.createCode === "OK");
  const watchCalls = records.filter((r) => r.watchCode !== undefined);
  const watchOk = records.filter((r) => r.watchCode === "OK");
  const finalSeen = records.filter((r) => r.finalState !== undefined);
  add(
    "every call accounted for (driver)",
    holdCalls.length === records.length &&
      createCalls.length === holdsOk.length &&
      watchCalls.length === createOk.length &&
      finalSeen.length === watchOk.length &&
      watchOk.length === createOk.length,
    `${records.length} buyers → ${holdCalls.length} HoldSeats (${holdsOk.length} OK) → ${createCalls.length} CreateOrder (${createOk.length} OK; ${records.reduce((a, r) => a + (r.createRetries ?? 0), 0)} earlier attempts retried with the same key) → ${watchCalls.length} WatchOrder (${watchOk.length} ended on a final state)`,
  );
  const unexpected = finalSeen.filter((r) => r.finalState !== "CONFIRMED");
  add(
    "every checkout CONFIRMED (tok_approve, decline ratio 0)",
    unexpected.length === 0 && finalSeen.length === records.length,
    unexpected.length === 0
      ? `${finalSeen.length} of ${records.length} CONFIRMED`
      : `${unexpected.length} not: ${list(unexpected.map((r) => `${r.orderId}=${r.finalState}/${r.failureReason ?? ""}`))}`,
  );
  return { createOk };
}

/** MySQL orders: one per successful CreateOrder, each final, in the state WatchOrder reported. */
async function orderChecks(
  add: Add,
  mysql: MysqlPool,
  eventId: string,
  createOk: BuyerRecord[],
): Promise<{ orders: RowDataPacket[] }> {
  const [orders] = await mysql.query<RowDataPacket[]>(
    "SELECT order_id, hold_id, state, quantity FROM orders WHERE event_id = ?",
    [eventId],
  );
  const byId = new Map(orders.map((r) => [String(r.order_id), r]));
  const seenIds = new Set(createOk.map((r) => r.orderId!));
  const missing = [...seenIds].filter((id) => !byId.has(id));
  const extra = [...byId.keys()].filter((id) => !seenIds.has(id));
  add(
    "orders in MySQL = successful CreateOrder calls",
    missing.length === 0 && extra.length === 0,
    `${orders.length} orders for the event, ${seenIds.size} CreateOrder OK; missing ${missing.length}${missing.length ? ` (${list(missing)})` : ""}, unknown ${extra.length}${extra.length ? ` (${list(extra)})` : ""}`,
  );
  const notFinal = orders.filter((r) => !FINAL.has(String(r.state)));
  const states: Record<string, number> = {};
  for (const r of orders) states[String(r.state)] = (states[String(r.state)] ?? 0) + 1;
  add(
    "every order reached a final state",
    notFinal.length === 0,
    `${JSON.stringify(states)}${notFinal.length ? `; not final: ${list(notFinal.map((r) => `${r.order_id}=${r.state}`))}` : ""}`,
  );
  const disagree = createOk.filter((r) => byId.get(r.orderId!) && String(byId.get(r.orderId!)!.state) !== r.finalState);
  add(
    "MySQL order state = the final state WatchOrder reported",
    disagree.length === 0,
    disagree.length === 0
      ? `all ${createOk.length} agree`
      : `${disagree.length} differ: ${list(disagree.map((r) => `${r.orderId}: watch ${r.finalState}, MySQL ${byId.get(r.orderId!)!.state}`))}`,
  );
  return { orders };
}

/** The payment simulator's ledger: captured = CONFIRMED, nothing left authorized. */
async function ledgerChecks(
  add: Add,
  mysql: MysqlPool,
  orders: RowDataPacket[],
): Promise<{ confirmed: string[]; captured: Set<string> }> {
  const confirmed = orders.filter((r) => String(r.state) === "CONFIRMED").map((r) => String(r.order_id));
  const keys = orders.map((r) => `${r.order_id}:payment`);
  const [ledger] = keys.length
    ? await mysql.query<RowDataPacket[]>(
        "SELECT idempotency_key, state FROM simulated_payments WHERE idempotency_key IN (?)",
        [keys],
      )
    : [[] as RowDataPacket[]];
  const captured = new Set(ledger.filter((r) => String(r.state) === "CAPTURED").map((r) => String(r.idempotency_key)));
  const ledgerStates: Record<string, number> = {};
  for (const r of ledger) ledgerStates[String(r.state)] = (ledgerStates[String(r.state)] ?? 0) + 1;
  const confirmedNotCaptured = confirmed.filter((id) => !captured.has(`${id}:payment`));
  const capturedNotConfirmed = [...captured].filter((k) => !confirmed.includes(k.replace(/:payment$/, "")));
  const authorizedLeft = ledger.filter((r) => String(r.state) === "AUTHORIZED").map((r) => String(r.idempotency_key));
  add(
    "captured payments (simulated_payments CAPTURED) = CONFIRMED orders",
    confirmedNotCaptured.length === 0 && capturedNotConfirmed.length === 0 && captured.size === confirmed.length,
    `${confirmed.length} CONFIRMED, ${captured.size} CAPTURED; ledger ${JSON.stringify(ledgerStates)}` +
      (confirmedNotCaptured.length ? `; confirmed without capture: ${list(confirmedNotCaptured)}` : "") +
      (capturedNotConfirmed.length ? `; captured without confirmation: ${list(capturedNotConfirmed)}` : ""),
  );
  add(
    "no authorization left dangling (AUTHORIZED in the ledger)",
    authorizedLeft.length === 0,
    authorizedLeft.length === 0 ? "none" : list(authorizedLeft),
  );
  return { confirmed, captured };
}

/** Seats in MySQL: none sold twice, sold = the CONFIRMED orders' seats, within capacity. */
async function mysqlSeatChecks(
  add: Add,
  mysql: MysqlPool,
  eventId: string,
  orders: RowDataPacket[],
  capacity: number,
): Promise<{ sold: RowDataPacket[] }> {
  const [dups] = await mysql.query<RowDataPacket[]>(
    "SELECT sold_seat_id, COUNT(*) AS n FROM order_items WHERE event_id = ? AND sold_seat_id IS NOT NULL GROUP BY sold_seat_id HAVING COUNT(*) > 1",
    [eventId],
  );
  const [sold] = await mysql.query<RowDataPacket[]>(
    "SELECT i.sold_seat_id, i.order_id, COALESCE(i.hold_id, o.hold_id) AS hold_id, o.state FROM order_items i JOIN orders o ON o.order_id = i.order_id WHERE i.event_id = ? AND i.sold_seat_id IS NOT NULL",
    [eventId],
  );
  add(
    "no seat sold twice (MySQL order_items.sold_seat_id)",
    dups.length === 0,
    dups.length === 0
      ? `${sold.length} seats sold, each once`
      : `${dups.length} seats sold more than once: ${list(dups.map((d) => `${d.sold_seat_id}×${d.n}`))}`,
  );
  const soldOfUnconfirmed = sold.filter((r) => String(r.state) !== "CONFIRMED");
  const expectedSeats = orders
    .filter((r) => String(r.state) === "CONFIRMED")
    .reduce((a, r) => a + Number(r.quantity), 0);
  add(
    "sold seats = the seats of the CONFIRMED orders",
    soldOfUnconfirmed.length === 0 && sold.length === expectedSeats,
    `${sold.length} sold seats, CONFIRMED orders hold ${expectedSeats}${soldOfUnconfirmed.length ? `; sold for unconfirmed orders: ${list(soldOfUnconfirmed.map((r) => String(r.sold_seat_id)))}` : ""}`,
  );
  add("sold ≤ capacity", sold.length <= capacity, `${sold.length} of ${capacity}`);
  return { sold };
}

/** Redis's seat map agrees with MySQL, and no seat is left held. */
async function redisSeatChecks(add: Add, redis: RedisClient, eventId: string, sold: RowDataPacket[]): Promise<void> {
  const k = eventKeys(eventId);
  const hash = await redis.hgetall(k.seats);
  const wrong: string[] = [];
  for (const r of sold) {
    const v = hash[String(r.sold_seat_id)];
    if (v !== `S|${r.hold_id}`) wrong.push(`${r.sold_seat_id}=${v ?? "free"} (sold to hold ${r.hold_id})`);
  }
  const soldInMysql = new Set(sold.map((r) => String(r.sold_seat_id)));
  const redisSold = Object.entries(hash).filter(([, v]) => v.startsWith("S|"));
  const redisExtra = redisSold.filter(([seat]) => !soldInMysql.has(seat)).map(([seat, v]) => `${seat}=${v}`);
  const stillHeld = Object.entries(hash)
    .filter(([, v]) => !v.startsWith("S|"))
    .map(([seat, v]) => `${seat}=${v}`);
  add(
    "Redis seat map agrees: every sold seat shows S (with its order's hold), no other seat does",
    wrong.length === 0 && redisExtra.length === 0,
    `${redisSold.length} seats S in Redis, ${soldInMysql.size} sold in MySQL` +
      (wrong.length ? `; wrong in Redis: ${list(wrong)}` : "") +
      (redisExtra.length ? `; S in Redis but not sold in MySQL: ${list(redisExtra)}` : ""),
  );
  add(
    "no seat left held (every hold was checked out)",
    stillHeld.length === 0,
    stillHeld.length === 0 ? "none" : `${stillHeld.length}: ${list(stillHeld)}`,
  );
}

/** One ticket per sold seat. */
async function ticketChecks(
  add: Add,
  mysql: MysqlPool,
  eventId: string,
  sold: RowDataPacket[],
): Promise<{ nTickets: number }> {
  const [tickets] = await mysql.query<RowDataPacket[]>(
    "SELECT COUNT(*) AS n, COUNT(DISTINCT seat_id) AS seats FROM tickets WHERE event_id = ? AND revoked_at IS NULL",
    [eventId],
  );
  const nTickets = Number(tickets[0]?.n ?? 0);
  add(
    "one ticket per sold seat",
    nTickets === sold.length && Number(tickets[0]?.seats ?? 0) === sold.length,
    `${nTickets} tickets for ${sold.length} sold seats`,
  );
  return { nTickets };
}

export function bareChecks(rounds: BareRoundStats[]): Check[] {
  const total = rounds.reduce((a, r) => a + r.workflows, 0);
  const done = rounds.reduce((a, r) => a + r.completed, 0);
  const outcomes: Record<string, number> = {};
  for (const r of rounds) for (const [k, v] of Object.entries(r.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
  return [
    {
      name: "every bare workflow started and completed",
      ok: total === done,
      detail: `${done} of ${total} completed; outcomes ${JSON.stringify(outcomes)}`,
    },
  ];
}
