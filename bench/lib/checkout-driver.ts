// Drives checkouts end to end for bench/checkout.ts: buyers that HoldSeats (one
// or two seats), CreateOrder (tok_approve) and follow WatchOrder until a final
// state, over the real gRPC API; and the bare workflows (the baseline of the
// product's current shape, or the previous shape as a comparison), started
// with Update-with-Start straight on the Temporal client and awaited with
// result().
// Every call's outcome is tallied by gRPC code, so every call is accounted for.
import { benchClientOptions } from "./identity.js";
import { performance } from "node:perf_hooks";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { WithStartWorkflowOperation, type Client } from "@temporalio/client";
import { EventServiceClient, SaleState, type Event } from "../../src/gen/ticketing/v1/event_service.js";
import { OrderServiceClient, OrderState, type Order } from "../../src/gen/ticketing/v1/order_service.js";
import { ReservationServiceClient } from "../../src/gen/ticketing/v1/reservation_service.js";
import { seatId } from "../../src/events/layout.js";
import { bareCheckout, bareCreateOrderUpdate, previousShapeCheckout } from "../checkout-baseline/workflows.js";

export const codeName = (code: number | undefined): string =>
  code === undefined ? "UNKNOWN" : (status[code] ?? `CODE_${code}`);

type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: { deadline?: number },
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

function unary<Req, Res>(
  client: object,
  method: Unary<Req, Res>,
  req: Req,
  md = new Metadata(),
  timeoutMs = 60_000,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, req, md, { deadline: Date.now() + timeoutMs }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

const FINAL = new Set([
  OrderState.ORDER_STATE_CONFIRMED,
  OrderState.ORDER_STATE_FAILED,
  OrderState.ORDER_STATE_CANCELLED,
  OrderState.ORDER_STATE_REFUNDED,
]);
const stateName = (s: OrderState) => OrderState[s]?.replace(/^ORDER_STATE_/, "") ?? String(s);

/** The checkout event: sections C0..C<n-1> of `rows` rows of `seatsPerRow` seats, one price. */
export interface CheckoutEventShape {
  sections: number;
  rows: number;
  seatsPerRow: number;
}

export function checkoutEvent(eventId: string, shape: CheckoutEventShape): Event {
  return {
    eventId,
    name: `Checkout bench ${eventId}`,
    venue: "Bench arena",
    saleState: SaleState.SALE_STATE_UNSPECIFIED,
    // holds live an hour: nothing expires while the bench runs
    holdPolicy: { ttlSeconds: 3600, maxExtensions: 1, maxLifetimeSeconds: 7200 },
    maxTicketsPerBuyer: 6,
    currencyCode: "EUR",
    priceCategories: [{ priceCategoryId: "std", name: "Standard", priceMinor: "5000" }],
    sections: Array.from({ length: shape.sections }, (_, s) => ({
      sectionId: `C${s}`,
      name: `Section ${s}`,
      layout: {
        $case: "reserved" as const,
        value: {
          rows: Array.from({ length: shape.rows }, (_, r) => ({
            rowId: String(r + 1),
            firstSeatNumber: 1,
            seatCount: shape.seatsPerRow,
            priceCategoryId: "std",
          })),
        },
      },
    })),
    capacity: 0,
    currencyMinorDigits: 0,
    refundCutoffSeconds: 0,
  };
}

/** hands out seats of the checkout event in order; undefined once exhausted. */
export class SeatAllocator {
  private next = 0;
  constructor(private readonly shape: CheckoutEventShape) {}
  get capacity(): number {
    return this.shape.sections * this.shape.rows * this.shape.seatsPerRow;
  }
  get used(): number {
    return this.next;
  }
  take(n: number): string[] | undefined {
    if (this.next + n > this.capacity) return undefined;
    const out: string[] = [];
    for (let k = 0; k < n; k++) {
      const i = this.next++;
      const perSection = this.shape.rows * this.shape.seatsPerRow;
      const s = Math.floor(i / perSection);
      const r = Math.floor((i % perSection) / this.shape.seatsPerRow);
      out.push(seatId(`C${s}`, String(r + 1), (i % this.shape.seatsPerRow) + 1));
    }
    return out;
  }
}

export interface BuyerRecord {
  buyer: number;
  seats: number;
  holdCode?: string;
  holdMs?: number;
  orderId?: string;
  createCode?: string;
  /** performance.now() when CreateOrder was sent. */
  createSentAt?: number;
  createMs?: number;
  /** CreateOrder calls retried (UNAVAILABLE, DEADLINE_EXCEEDED) before the one counted in createCode, and their codes. */
  createRetries?: number;
  createRetryCodes?: string[];
  watchCode?: string;
  finalState?: string;
  failureReason?: string;
  /** performance.now() when WatchOrder delivered the final state. */
  finalAt?: number;
  /** CreateOrder sent -> final state seen. */
  checkoutMs?: number;
  tickets?: number;
}

/** CreateOrder attempts per buyer, the first included. */
const CREATE_ATTEMPTS = 5;

export interface CallTally {
  calls: number;
  codes: Record<string, number>;
}

export interface CheckoutRoundStats {
  label: string;
  buyers: number;
  /** Buyers that completed a CONFIRMED checkout. */
  confirmed: number;
  /** first CreateOrder sent -> last final state seen, seconds. */
  windowSeconds: number;
  /** confirmed / window. */
  rate: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  createOrderMs: { p50: number; p99: number };
  holdMs: { p50: number; p99: number };
  calls: {
    HoldSeats: CallTally;
    CreateOrder: CallTally;
    "CreateOrder (retried attempts)"?: CallTally;
    WatchOrder: CallTally;
  };
  finalStates: Record<string, number>;
  failureReasons: Record<string, number>;
  seatsExhausted: boolean;
  /** workflow ids (checkout-<orderId>) of the confirmed buyers, for history sampling. */
  workflowIds: string[];
  /** performance.now() of the first CreateOrder and the last final state. */
  firstStart: number;
  lastEnd: number;
  records: BuyerRecord[];
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

function tally(records: BuyerRecord[], key: "holdCode" | "createCode" | "watchCode"): CallTally {
  const codes: Record<string, number> = {};
  let calls = 0;
  for (const r of records) {
    const c = r[key];
    if (c === undefined) continue;
    calls++;
    codes[c] = (codes[c] ?? 0) + 1;
  }
  return { calls, codes };
}

/** The CreateOrder attempts a buyer retried (same key) before its last one, by code. */
function retriedTally(records: BuyerRecord[]): CallTally {
  const codes: Record<string, number> = {};
  let calls = 0;
  for (const r of records) {
    for (const c of r.createRetryCodes ?? []) {
      calls++;
      codes[c] = (codes[c] ?? 0) + 1;
    }
  }
  return { calls, codes };
}

export function summarizeCheckouts(label: string, records: BuyerRecord[], seatsExhausted: boolean): CheckoutRoundStats {
  const done = records.filter((r) => r.finalAt !== undefined);
  const starts = records.map((r) => r.createSentAt).filter((x): x is number => x !== undefined);
  const firstStart = starts.length ? Math.min(...starts) : NaN;
  const lastEnd = done.length ? Math.max(...done.map((r) => r.finalAt!)) : NaN;
  const confirmed = records.filter((r) => r.finalState === "CONFIRMED");
  const lat = confirmed.map((r) => r.checkoutMs!).sort((a, b) => a - b);
  const create = records
    .map((r) => r.createMs)
    .filter((x): x is number => x !== undefined)
    .sort((a, b) => a - b);
  const hold = records
    .map((r) => r.holdMs)
    .filter((x): x is number => x !== undefined)
    .sort((a, b) => a - b);
  const windowSeconds = (lastEnd - firstStart) / 1000;
  const finalStates: Record<string, number> = {};
  const failureReasons: Record<string, number> = {};
  for (const r of records) {
    if (r.finalState) finalStates[r.finalState] = (finalStates[r.finalState] ?? 0) + 1;
    if (r.failureReason) failureReasons[r.failureReason] = (failureReasons[r.failureReason] ?? 0) + 1;
  }
  return {
    label,
    buyers: records.length,
    confirmed: confirmed.length,
    windowSeconds: r2(windowSeconds),
    rate: r2(confirmed.length / windowSeconds),
    latencyMs: {
      p50: r2(percentile(lat, 50)),
      p90: r2(percentile(lat, 90)),
      p99: r2(percentile(lat, 99)),
      max: r2(lat[lat.length - 1] ?? NaN),
    },
    createOrderMs: { p50: r2(percentile(create, 50)), p99: r2(percentile(create, 99)) },
    holdMs: { p50: r2(percentile(hold, 50)), p99: r2(percentile(hold, 99)) },
    calls: {
      HoldSeats: tally(records, "holdCode"),
      CreateOrder: tally(records, "createCode"),
      "CreateOrder (retried attempts)": retriedTally(records),
      WatchOrder: tally(records, "watchCode"),
    },
    finalStates,
    failureReasons,
    seatsExhausted,
    workflowIds: confirmed.map((r) => `checkout-${r.orderId}`),
    firstStart,
    lastEnd,
    records,
  };
}

/** A pool of `concurrency` loops taking buyer numbers until `count` or stop(). */
async function pool(
  concurrency: number,
  next: () => number | undefined,
  work: (i: number) => Promise<void>,
): Promise<void> {
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next(); i !== undefined; i = next()) await work(i);
    }),
  );
}

export class CheckoutDriver {
  readonly events: EventServiceClient;
  readonly reservations: ReservationServiceClient;
  readonly orders: OrderServiceClient;
  private buyerCounter = 0;

  constructor(
    readonly address: string,
    readonly eventId: string,
    readonly seats: SeatAllocator,
    readonly runId: string,
  ) {
    const insecure = credentials.createInsecure();
    this.events = new EventServiceClient(address, insecure, benchClientOptions);
    this.reservations = new ReservationServiceClient(address, insecure, benchClientOptions);
    this.orders = new OrderServiceClient(address, insecure, benchClientOptions);
  }

  close(): void {
    this.events.close();
    this.reservations.close();
    this.orders.close();
  }

  /** Calls go as the bench operator (bench/lib/identity.ts), acting for the buyer each request names. */
  private operator(): Metadata {
    return new Metadata();
  }

  async createAndOpen(event: Event): Promise<void> {
    await unary(
      this.events,
      this.events.createEvent,
      { requestId: `${this.runId}-create`, event },
      this.operator(),
      120_000,
    );
    await unary(
      this.events,
      this.events.openSale,
      { eventId: event.eventId, requestId: `${this.runId}-open` },
      this.operator(),
    );
  }

  /** One buyer: HoldSeats (1 or 2 seats), CreateOrder, WatchOrder until final. Never throws. */
  private async buyer(i: number, seatIds: string[], rec: BuyerRecord): Promise<void> {
    const buyerId = `${this.runId}-b${i}`;
    let t = performance.now();
    let holdId: string;
    try {
      const res = await unary(this.reservations, this.reservations.holdSeats, {
        eventId: this.eventId,
        buyerId,
        admissionToken: "",
        requestId: `${this.runId}-h${i}`,
        selection: { $case: "seats", value: { seatIds } },
      });
      rec.holdCode = "OK";
      rec.holdMs = performance.now() - t;
      holdId = res.hold!.holdId;
    } catch (err) {
      rec.holdCode = codeName((err as ServiceError).code);
      return;
    }
    t = performance.now();
    rec.createSentAt = t;
    let order: Order;
    // As a client should: UNAVAILABLE and DEADLINE_EXCEEDED are retried with
    // the same idempotency key (the same order comes back), a few times.
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await unary(this.orders, this.orders.createOrder, {
          eventId: this.eventId,
          holdId,
          holdIds: [],
          buyerId,
          idempotencyKey: `${this.runId}-k${i}`,
          payment: { paymentMethodToken: "tok_approve" },
        });
        rec.createCode = "OK";
        rec.createMs = performance.now() - t;
        order = res.order!;
        rec.orderId = order.orderId;
        break;
      } catch (err) {
        const code = (err as ServiceError).code;
        if ((code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED) && attempt < CREATE_ATTEMPTS) {
          rec.createRetries = (rec.createRetries ?? 0) + 1;
          (rec.createRetryCodes ??= []).push(codeName(code));
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        rec.createCode = codeName(code);
        return;
      }
    }
    await new Promise<void>((resolve) => {
      const stream = this.orders.watchOrder({ orderId: order.orderId }, new Metadata(), {
        deadline: Date.now() + 180_000,
      });
      let settled = false;
      const finish = (code: string) => {
        if (settled) return;
        settled = true;
        rec.watchCode = code;
        resolve();
      };
      stream.on("data", (msg: { order?: Order }) => {
        const o = msg.order;
        if (!o || !FINAL.has(o.state) || rec.finalAt !== undefined) return;
        rec.finalAt = performance.now();
        rec.checkoutMs = rec.finalAt - t;
        rec.finalState = stateName(o.state);
        rec.failureReason = o.failureReason || undefined;
        rec.tickets = o.tickets.length;
      });
      stream.on("error", (err: ServiceError) => finish(rec.finalAt !== undefined ? "OK" : codeName(err.code)));
      stream.on("status", (s: { code: number }) => {
        if (s.code === status.OK) finish(rec.finalAt !== undefined ? "OK" : "ENDED_WITHOUT_FINAL_STATE");
      });
    });
  }

  /** A round of exactly `count` buyers at `concurrency`. */
  async round(label: string, count: number, concurrency: number): Promise<CheckoutRoundStats> {
    const records: BuyerRecord[] = [];
    let started = 0;
    let exhausted = false;
    await pool(
      concurrency,
      () => (started < count && !exhausted ? started++ : undefined),
      async () => {
        const i = this.buyerCounter++;
        const n = 1 + (i % 2);
        const seatIds = this.seats.take(n);
        if (!seatIds) {
          exhausted = true;
          return;
        }
        const rec: BuyerRecord = { buyer: i, seats: n };
        records.push(rec);
        await this.buyer(i, seatIds, rec);
      },
    );
    return summarizeCheckouts(label, records, exhausted);
  }

  /** Buyers at `concurrency` until stop(); stop() waits for the ones in flight. */
  continuous(label: string, concurrency: number): { stop(): Promise<CheckoutRoundStats> } {
    const records: BuyerRecord[] = [];
    let stopped = false;
    let exhausted = false;
    const running = pool(
      concurrency,
      () => (stopped || exhausted ? undefined : this.buyerCounter++),
      async (i) => {
        const n = 1 + (i % 2);
        const seatIds = this.seats.take(n);
        if (!seatIds) {
          exhausted = true;
          return;
        }
        const rec: BuyerRecord = { buyer: i, seats: n };
        records.push(rec);
        await this.buyer(i, seatIds, rec);
      },
    );
    return {
      async stop() {
        stopped = true;
        await running;
        return summarizeCheckouts(label, records, exhausted);
      },
    };
  }
}

// --- the bare workflows: the baseline (current shape) and the previous shape

export interface BareRecord {
  i: number;
  workflowId: string;
  startAt: number;
  updateMs?: number;
  endAt?: number;
  totalMs?: number;
  /** "OK" or the error's name/message head. */
  outcome: string;
}

export interface BareRoundStats {
  label: string;
  workflows: number;
  completed: number;
  windowSeconds: number;
  rate: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  updateMs: { p50: number; p99: number };
  outcomes: Record<string, number>;
  workflowIds: string[];
  firstStart: number;
  lastEnd: number;
}

export class BareDriver {
  private counter = 0;
  constructor(
    readonly client: Client,
    readonly taskQueue: string,
    readonly runId: string,
    readonly paymentWindowMs: number,
    /** "bare": the baseline, the product's current shape; "previous": the shape before 2e3c7da */
    readonly kind: "bare" | "previous" = "bare",
  ) {}

  private async one(i: number, rec: BareRecord): Promise<void> {
    const k = this.kind;
    const orderId = `${this.runId}-${k}-o${i}`;
    const key = `${this.runId}-${k}-k${i}`;
    const op = new WithStartWorkflowOperation(k === "previous" ? previousShapeCheckout : bareCheckout, {
      workflowId: rec.workflowId,
      taskQueue: this.taskQueue,
      args: [
        {
          orderId,
          eventId: `${this.runId}_${k}`,
          holdId: `${this.runId}-${k}-h${i}`,
          buyerId: `${this.runId}-${k}-b${i}`,
          idempotencyKey: key,
          paymentMethodToken: "tok_approve",
          paymentWindowMs: this.paymentWindowMs,
        },
      ],
      workflowIdConflictPolicy: "USE_EXISTING",
      workflowIdReusePolicy: "REJECT_DUPLICATE",
    });
    try {
      await this.client.workflow.executeUpdateWithStart(bareCreateOrderUpdate, {
        args: [key],
        updateId: key,
        startWorkflowOperation: op,
      });
      rec.updateMs = performance.now() - rec.startAt;
      const handle = await op.workflowHandle();
      const out = await handle.result();
      rec.endAt = performance.now();
      rec.totalMs = rec.endAt - rec.startAt;
      rec.outcome = out.status === "CONFIRMED" ? "OK" : `status ${out.status}`;
    } catch (err) {
      rec.outcome = err instanceof Error ? `${err.name}: ${err.message.split(":")[0]}` : String(err);
    }
  }

  async round(label: string, count: number, concurrency: number): Promise<BareRoundStats> {
    const records: BareRecord[] = [];
    let started = 0;
    await pool(
      concurrency,
      () => (started < count ? started++ : undefined),
      async () => {
        const i = this.counter++;
        const rec: BareRecord = {
          i,
          workflowId: `${this.kind}-${this.runId}-${i}`,
          startAt: performance.now(),
          outcome: "PENDING",
        };
        records.push(rec);
        await this.one(i, rec);
      },
    );
    const ok = records.filter((r) => r.outcome === "OK");
    const firstStart = Math.min(...records.map((r) => r.startAt));
    const lastEnd = ok.length ? Math.max(...ok.map((r) => r.endAt!)) : NaN;
    const lat = ok.map((r) => r.totalMs!).sort((a, b) => a - b);
    const upd = ok.map((r) => r.updateMs!).sort((a, b) => a - b);
    const outcomes: Record<string, number> = {};
    for (const r of records) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
    const windowSeconds = (lastEnd - firstStart) / 1000;
    return {
      label,
      workflows: records.length,
      completed: ok.length,
      windowSeconds: r2(windowSeconds),
      rate: r2(ok.length / windowSeconds),
      latencyMs: {
        p50: r2(percentile(lat, 50)),
        p90: r2(percentile(lat, 90)),
        p99: r2(percentile(lat, 99)),
        max: r2(lat[lat.length - 1] ?? NaN),
      },
      updateMs: { p50: r2(percentile(upd, 50)), p99: r2(percentile(upd, 99)) },
      outcomes,
      workflowIds: ok.map((r) => r.workflowId),
      firstStart,
      lastEnd,
    };
  }
}
