// Data for bench/rpcs.ts, made before the measured rounds: holds to check out
// (HoldSeats over the real API, one per CreateOrder call), the wait until
// every order of a CreateOrder round is final (WatchOrder over the real API,
// which also hands back each confirmed order's ticket codes), and the ghz
// --data-file JSON arrays of every RPC (one message per call; ghz takes
// element "request number mod length").
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import { Metadata, type ServiceError } from "@grpc/grpc-js";
import { OrderState, type Order } from "../../src/gen/ticketing/v1/order_service.js";
import { orderIdForHold } from "../../src/orders/order.js";
import { codeName, type BuyerRecord, type CheckoutDriver, type SeatAllocator } from "./checkout-driver.js";
import type { GridShape } from "./events.js";

type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: { deadline?: number },
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

function unary<Req, Res>(client: object, method: Unary<Req, Res>, req: Req, timeoutMs = 60_000): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, req, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

/** `concurrency` loops over 0..count-1. */
async function pool(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (let i = next++; i < count; i = next++) await work(i);
    }),
  );
}

export function writeJsonArray(file: string, rows: object[]): void {
  fs.writeFileSync(file, `[\n${rows.map((r) => JSON.stringify(r)).join(",\n")}\n]\n`);
}

/** One prepared checkout: the hold made beforehand and what became of it. */
export interface PreparedCheckout {
  record: BuyerRecord;
  eventId: string;
  buyerId: string;
  holdId: string;
  orderId: string;
  idempotencyKey: string;
  seatIds: string[];
  /** Ticket codes of the confirmed order (from WatchOrder's final message). */
  tickets: { ticketId: string; seatId: string; code: string }[];
}

/**
 * `count` holds of `seats` seats each on the checkout event, through
 * HoldSeats on the real API. Every one must succeed: a CreateOrder call
 * is later made for each, so a failed hold would leave a call unaccounted.
 */
export async function prepareHolds(o: {
  driver: CheckoutDriver;
  seats: SeatAllocator;
  runId: string;
  first: number;
  count: number;
  seatsPerHold: number;
  concurrency?: number;
}): Promise<PreparedCheckout[]> {
  const out: PreparedCheckout[] = new Array(o.count);
  const failures: string[] = [];
  await pool(o.count, o.concurrency ?? 32, async (k) => {
    const i = o.first + k;
    const seatIds = o.seats.take(o.seatsPerHold);
    if (!seatIds) throw new Error(`the checkout event has no ${o.seatsPerHold} seats left for hold ${i}`);
    const buyerId = `${o.runId}-cb${i}`;
    const record: BuyerRecord = { buyer: i, seats: seatIds.length };
    const t = performance.now();
    try {
      const res = await unary(o.driver.reservations, o.driver.reservations.holdSeats, {
        eventId: o.driver.eventId,
        buyerId,
        admissionToken: "",
        requestId: `${o.runId}-ch${i}`,
        selection: { $case: "seats", value: { seatIds } },
      });
      record.holdCode = "OK";
      record.holdMs = performance.now() - t;
      const holdId = res.hold!.holdId;
      out[k] = {
        record,
        eventId: o.driver.eventId,
        buyerId,
        holdId,
        orderId: orderIdForHold(holdId),
        idempotencyKey: `${o.runId}-ck${i}`,
        seatIds,
        tickets: [],
      };
    } catch (err) {
      failures.push(`hold ${i}: ${codeName((err as ServiceError).code)} ${(err as Error).message}`);
    }
  });
  if (failures.length)
    throw new Error(
      `${failures.length} of ${o.count} holds for CreateOrder failed: ${failures.slice(0, 3).join("; ")}`,
    );
  return out;
}

export function createOrderRows(list: PreparedCheckout[]): object[] {
  return list.map((p) => ({
    event_id: p.eventId,
    hold_id: p.holdId,
    buyer_id: p.buyerId,
    idempotency_key: p.idempotencyKey,
    payment: { payment_method_token: "tok_approve" },
  }));
}

const FINAL = new Set([
  OrderState.ORDER_STATE_CONFIRMED,
  OrderState.ORDER_STATE_FAILED,
  OrderState.ORDER_STATE_CANCELLED,
  OrderState.ORDER_STATE_REFUNDED,
]);
const stateName = (s: OrderState) => OrderState[s]?.replace(/^ORDER_STATE_/, "") ?? String(s);

/**
 * After a CreateOrder round: follows WatchOrder for each prepared checkout
 * until its order is final, filling in the record the invariant checks read
 * (createCode "OK" when the order exists, "NO_ORDER" when WatchOrder finds
 * none; the final state WatchOrder saw). ghz only tallies codes, not which
 * call got which: the checks compare its OK count with the orders found.
 */
export async function awaitOrders(
  driver: CheckoutDriver,
  list: PreparedCheckout[],
  o: { timeoutMs: number; concurrency?: number },
): Promise<{ seconds: number; byState: Record<string, number> }> {
  const t0 = performance.now();
  const byState: Record<string, number> = {};
  await pool(list.length, o.concurrency ?? 100, async (k) => {
    const p = list[k]!;
    const rec = p.record;
    await new Promise<void>((resolve) => {
      const stream = driver.orders.watchOrder({ orderId: p.orderId }, new Metadata(), {
        deadline: Date.now() + o.timeoutMs,
      });
      let settled = false;
      let sawOrder = false;
      const finish = (code: string) => {
        if (settled) return;
        settled = true;
        rec.watchCode = code;
        resolve();
      };
      stream.on("data", (msg: { order?: Order }) => {
        const order = msg.order;
        if (!order) return;
        if (!sawOrder) {
          sawOrder = true;
          // the order exists, so the CreateOrder call that made it returned OK (ghz tallies the codes; see the checks)
          rec.createCode = "OK";
          rec.orderId = order.orderId;
        }
        if (!FINAL.has(order.state) || rec.finalState !== undefined) return;
        rec.finalAt = performance.now();
        rec.finalState = stateName(order.state);
        rec.failureReason = order.failureReason || undefined;
        rec.tickets = order.tickets.length;
        p.tickets = order.tickets.map((x) => ({ ticketId: x.ticketId, seatId: x.seatId, code: x.code }));
        byState[rec.finalState] = (byState[rec.finalState] ?? 0) + 1;
      });
      stream.on("error", (err: ServiceError) => {
        if (!sawOrder) {
          // no order for this hold: its CreateOrder call failed (or was never made)
          rec.createCode = codeName(err.code) === "NOT_FOUND" ? "NO_ORDER" : `WATCH_${codeName(err.code)}`;
          rec.watchCode = undefined;
          settled = true;
          resolve();
          return;
        }
        finish(rec.finalState !== undefined ? "OK" : codeName(err.code));
      });
      stream.on("status", (s: { code: number }) => {
        if (s.code === 0 && sawOrder) finish(rec.finalState !== undefined ? "OK" : "ENDED_WITHOUT_FINAL_STATE");
      });
    });
  });
  return { seconds: (performance.now() - t0) / 1000, byState };
}

// --- HoldBestAvailable

/**
 * The HoldBestAvailable event is a grid of small sections; round r owns
 * sections [r·perRound, (r+1)·perRound) and call i names section
 * first + (i mod perRound), so every round fills its sections from empty to
 * the same depth and sees the same work per call. Without section_id the
 * script is handed every row of the event and scans rows best-first: its cost
 * would then grow with everything sold before, round after round.
 */
export function bestAvailableRows(o: {
  eventId: string;
  grid: GridShape;
  firstSection: number;
  sections: number;
  count: number;
  quantity: number;
  idPrefix: string;
}): { rows: object[]; sectionOf: Map<string, string> } {
  const rows: object[] = [];
  const sectionOf = new Map<string, string>();
  for (let i = 0; i < o.count; i++) {
    const s = o.firstSection + (i % o.sections);
    if (s >= o.grid.sections) throw new Error(`HoldBestAvailable needs section ${s}; the event has ${o.grid.sections}`);
    // named the way gridLayout names its sections
    const sectionId = o.grid.sections === 1 ? "S" : `S${s}`;
    const buyerId = `${o.idPrefix}-b${i}`;
    sectionOf.set(buyerId, sectionId);
    rows.push({
      event_id: o.eventId,
      buyer_id: buyerId,
      request_id: `${o.idPrefix}-r${i}`,
      quantity: o.quantity,
      section_id: sectionId,
    });
  }
  return { rows, sectionOf };
}
