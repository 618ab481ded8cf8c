// One buyer's journey through the real services, and a bot's. Every call goes
// through Clients (recorded in Metrics); what the audit needs afterwards is
// kept in the buyer's record.
import { Metadata, status } from "@grpc/grpc-js";
import type { Event } from "../../src/gen/ticketing/v1/event_service.js";
import { OrderState, type Order, type WatchOrderResponse } from "../../src/gen/ticketing/v1/order_service.js";
import { QueueState, type QueueTicket, type WatchQueueResponse } from "../../src/gen/ticketing/v1/queue_service.js";
import type { Hold } from "../../src/gen/ticketing/v1/reservation_service.js";
import { orderIdForHolds } from "../../src/orders/order.js";
import { RpcError, isCode, type ClientSet, type Clients } from "./clients.js";
import type { Metrics } from "./metrics.js";
import type { Scenario } from "./scenario.js";
import type { LiveSeatMap } from "./seatmap.js";

export interface OrderRecord {
  orderId: string;
  /** The holds it pays for (two for a buyer who held twice). */
  holdIds: string[];
  quantity: number;
  state?: string;
  failureReason?: string;
  tickets: { ticketId: string; seatId: string; code: string }[];
}

export interface BuyerRecord {
  id: string;
  bot: boolean;
  /** Scheduled arrival, ms relative to the open (negative: pre-queue). */
  scheduledMs: number;
  /** Wall-clock ms of the first JoinQueue request sent and its answer. */
  joinSentMs?: number;
  joinAnsweredMs?: number;
  joins: number;
  /** The state JoinQueue answered with. */
  joinState?: string;
  /** Wall-clock ms when the buyer first learnt of its admission. */
  admittedSeenMs?: number;
  holdIds: string[];
  orders: OrderRecord[];
  outcome?: string;
  /** Bots: a hold without a token that the gate let through. */
  gateBreach?: boolean;
  /** A double-submitted CreateOrder that answered two different orders. */
  idempotencyBreach?: string;
}

export interface SimContext {
  s: Scenario;
  clients: Clients;
  metrics: Metrics;
  eventId: string;
  event: Event;
  waitingRoom: boolean;
  seatMap: LiveSeatMap | undefined;
  /** GA sections and their capacities (for choosing one). */
  gaSections: { id: string; capacity: number }[];
  /** Set once the run is past maxSeconds: buyers stop where they are. */
  stopping: boolean;
  /** Aborted at the hard stop: streams are cancelled. */
  stopSignal: AbortSignal;
  rnd: () => number;
  /** Called when a buyer's first call (JoinQueue / first hold) completed. */
  onStarted: () => void;
}

const FINAL_ORDER = new Set([
  OrderState.ORDER_STATE_CONFIRMED,
  OrderState.ORDER_STATE_FAILED,
  OrderState.ORDER_STATE_CANCELLED,
  OrderState.ORDER_STATE_REFUNDED,
]);

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

function pickWeighted<K extends string>(weights: Record<K, number>, r: number): K {
  const entries = Object.entries(weights) as [K, number][];
  const total = entries.reduce((a, [, w]) => a + Math.max(0, w), 0);
  let x = r * total;
  for (const [k, w] of entries) {
    x -= Math.max(0, w);
    if (x < 0) return k;
  }
  return entries[entries.length - 1]![0];
}

function queueStateName(s: QueueState): string {
  return QueueState[s]?.replace(/^QUEUE_STATE_/, "") ?? String(s);
}

function isFinalTicket(t: QueueTicket): boolean {
  return (
    t.state === QueueState.QUEUE_STATE_ADMITTED ||
    t.state === QueueState.QUEUE_STATE_EXPIRED ||
    t.state === QueueState.QUEUE_STATE_LEFT ||
    t.state === QueueState.QUEUE_STATE_COMPLETED ||
    t.state === QueueState.QUEUE_STATE_SALE_CLOSED ||
    (t.state === QueueState.QUEUE_STATE_SOLD_OUT && !t.seatsMayReturn)
  );
}

type Wait =
  | { kind: "ticket"; ticket: QueueTicket }
  | { kind: "abandoned" }
  | { kind: "stopped" }
  | { kind: "error"; err: unknown };

export class Buyer {
  private readonly set: ClientSet;
  private readonly abandonAtMs: number | undefined;
  private readonly abandonStep: "queue" | "admitted" | "hold" | undefined;
  private readonly explicit: boolean;
  private readonly storm: boolean;
  private readonly watch: boolean;
  private readonly wanted: number;
  private readonly choice: "seats" | "bestAvailable" | "generalAdmission";
  /** Holds twice (the wanted tickets split in two) before paying for both in one order. */
  private readonly holdTwice: boolean;
  private token = "";
  private tokenExpiresMs = Infinity;
  private requestSeq = 0;
  private started = false;

  constructor(
    private readonly c: SimContext,
    readonly rec: BuyerRecord,
  ) {
    const { s, rnd } = c;
    this.set = c.clients.pick();
    const a = s.abandon;
    const r = rnd();
    if (r < a.inQueue) this.abandonStep = "queue";
    else if (r < a.inQueue + a.afterAdmission) this.abandonStep = "admitted";
    else if (r < a.inQueue + a.afterAdmission + a.afterHold) this.abandonStep = "hold";
    this.abandonAtMs = this.abandonStep === "queue" ? rnd() * a.inQueueWithinSeconds * 1000 : undefined;
    this.explicit = rnd() < a.explicitShare;
    this.storm = rnd() < s.refreshStorm.share;
    this.watch = rnd() < s.buyer.watchShare;
    this.wanted = Math.min(s.event.maxTicketsPerBuyer, Number(pickWeighted(s.buyer.tickets, rnd())));
    this.choice = pickWeighted(s.buyer.choice, rnd());
    // Drawn only when the knob is on, so scenarios without it replay the same buyers.
    this.holdTwice = s.buyer.holdTwice > 0 && this.wanted > 1 && rnd() < s.buyer.holdTwice;
  }

  private get m(): Metrics {
    return this.c.metrics;
  }

  private rid(kind: string): string {
    return `${this.rec.id}-${kind}${(this.requestSeq++).toString(36)}`;
  }

  private markStarted(): void {
    if (this.started) return;
    this.started = true;
    this.c.onStarted();
  }

  private think(): Promise<void> {
    const { min, max } = this.c.s.buyer.thinkMs;
    return sleep(min + this.c.rnd() * (max - min), this.c.stopSignal);
  }

  private finish(outcome: string): void {
    this.rec.outcome = outcome;
    this.m.outcome(outcome);
  }

  /** The whole journey; never throws. */
  async run(): Promise<void> {
    this.m.funnel.arrived++;
    try {
      if (this.c.waitingRoom) {
        const entered = await this.queue();
        if (!entered) return;
      } else {
        this.markStarted();
      }
      await this.shop();
    } catch (err) {
      this.finish(
        `error:${err instanceof RpcError ? `${err.method}/${err.reason ?? err.code}` : (err as Error).message?.slice(0, 60)}`,
      );
    } finally {
      this.markStarted();
    }
  }

  // --- the waiting room

  /** Joins and waits; true once admitted with a token. */
  private async queue(): Promise<boolean> {
    const { eventId } = this.c;
    const q = this.set.queue;
    let ticket: QueueTicket | undefined;
    this.rec.joinSentMs = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        ticket = (
          await this.c.clients.call("JoinQueue", q, q.joinQueue, {
            eventId,
            buyerId: this.rec.id,
            requestId: this.rid("j"),
          })
        ).ticket;
        this.rec.joins++;
        break;
      } catch (err) {
        // Rate-limited: wait as told. (UNAVAILABLE and deadlines are retried by clients.call.)
        if (attempt < 5 && isCode(err, status.RESOURCE_EXHAUSTED)) {
          await sleep(err.retryAfterMs ?? 200 * 2 ** attempt);
          continue;
        }
        this.markStarted();
        if (isCode(err, status.FAILED_PRECONDITION) && err.reason === "SALE_CLOSED") {
          this.finish("closed");
          return false;
        }
        throw err;
      }
    }
    this.rec.joinAnsweredMs = Date.now();
    this.markStarted();
    this.m.funnel.joined++;
    this.rec.joinState = queueStateName(ticket!.state);
    if (!ticket) throw new Error("JoinQueue answered no ticket");
    const joinedAt = Date.now();

    let storm: Promise<void> | undefined;
    if (this.storm) storm = this.refreshStorm();

    let result: Wait;
    if (isFinalTicket(ticket)) result = { kind: "ticket", ticket };
    else {
      this.m.funnel.waiting++;
      try {
        result = await this.awaitAdmission(joinedAt);
      } finally {
        this.m.funnel.waiting--;
      }
    }
    await storm;
    if (result.kind === "abandoned") {
      this.finish(this.explicit ? "abandoned-queue (left)" : "abandoned-queue (silent)");
      return false;
    }
    if (result.kind === "stopped") {
      this.finish("stopped-waiting");
      return false;
    }
    if (result.kind === "error") throw result.err;
    const t = result.ticket;
    if (t.state !== QueueState.QUEUE_STATE_ADMITTED) {
      this.finish(
        t.state === QueueState.QUEUE_STATE_SOLD_OUT
          ? "sold-out-in-queue"
          : `queue-${queueStateName(t.state).toLowerCase()}`,
      );
      return false;
    }
    this.token = t.admissionToken;
    this.tokenExpiresMs = t.admissionExpireTime?.getTime() ?? Infinity;
    this.rec.admittedSeenMs = Date.now();
    this.m.funnel.admitted++;
    this.m.span("queue wait (join → admission seen)", this.rec.admittedSeenMs - joinedAt);
    return true;
  }

  private async awaitAdmission(joinedAt: number): Promise<Wait> {
    const abandon = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    if (this.abandonAtMs !== undefined)
      timer = setTimeout(() => abandon.abort(), Math.max(0, joinedAt + this.abandonAtMs - Date.now()));
    const onStop = () => abandon.abort();
    this.c.stopSignal.addEventListener("abort", onStop, { once: true });
    try {
      let r: Wait = this.watch ? await this.watchQueue(abandon.signal) : { kind: "error", err: new Error("poll") };
      if (r.kind === "error" && !abandon.signal.aborted) r = await this.pollQueue(abandon.signal);
      if (abandon.signal.aborted && (r.kind !== "ticket" || r.ticket.state !== QueueState.QUEUE_STATE_ADMITTED)) {
        if (this.c.stopSignal.aborted) return { kind: "stopped" };
        if (this.explicit) await this.leave();
        return { kind: "abandoned" };
      }
      return r;
    } finally {
      clearTimeout(timer);
      this.c.stopSignal.removeEventListener("abort", onStop);
    }
  }

  private watchQueue(signal: AbortSignal): Promise<Wait> {
    return new Promise((resolve) => {
      const t0 = performance.now();
      let last: QueueTicket | undefined;
      let settled = false;
      const stream = this.set.queue.watchQueue({ eventId: this.c.eventId, buyerId: this.rec.id }, new Metadata());
      const done = (w: Wait) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        resolve(w);
      };
      const onAbort = () => stream.cancel();
      signal.addEventListener("abort", onAbort, { once: true });
      stream.on("data", (msg: WatchQueueResponse) => {
        if (msg.ticket) last = msg.ticket;
      });
      stream.on("error", (err) => {
        if (signal.aborted) {
          done(last && isFinalTicket(last) ? { kind: "ticket", ticket: last } : { kind: "abandoned" });
          return;
        }
        const e = this.c.clients.recordStream("WatchQueue", t0, err as never);
        done({ kind: "error", err: e });
      });
      stream.on("end", () => {
        this.c.clients.recordStream("WatchQueue", t0, undefined);
        if (last && isFinalTicket(last)) done({ kind: "ticket", ticket: last });
        else if (signal.aborted) done({ kind: "abandoned" });
        else {
          this.m.anomaly(
            `WatchQueue for ${this.rec.id} ended without a final ticket (${last ? queueStateName(last.state) : "no message"})`,
          );
          done({ kind: "error", err: new Error("WatchQueue ended early") });
        }
      });
    });
  }

  private async pollQueue(signal: AbortSignal): Promise<Wait> {
    const q = this.set.queue;
    const base = this.c.s.buyer.pollIntervalMs;
    for (let errors = 0; ;) {
      if (signal.aborted) return { kind: "abandoned" };
      try {
        const { ticket } = await this.c.clients.call("GetQueuePosition", q, q.getQueuePosition, {
          eventId: this.c.eventId,
          buyerId: this.rec.id,
        });
        if (ticket && isFinalTicket(ticket)) return { kind: "ticket", ticket };
        errors = 0;
        await sleep(base * (0.5 + this.c.rnd()), signal);
      } catch (err) {
        if (isCode(err, status.RESOURCE_EXHAUSTED)) {
          await sleep(err.retryAfterMs ?? base, signal);
          continue;
        }
        if (++errors > 10) return { kind: "error", err };
        await sleep(Math.min(5000, 200 * 2 ** errors), signal);
      }
    }
  }

  private async refreshStorm(): Promise<void> {
    const { calls, intervalMs } = this.c.s.refreshStorm;
    const q = this.set.queue;
    for (let i = 0; i < calls && !this.c.stopping; i++) {
      try {
        await this.c.clients.call("GetQueuePosition", q, q.getQueuePosition, {
          eventId: this.c.eventId,
          buyerId: this.rec.id,
        });
      } catch {
        /* counted */
      }
      await sleep(intervalMs);
    }
  }

  private async leave(): Promise<void> {
    if (!this.c.waitingRoom) return;
    const q = this.set.queue;
    try {
      await this.c.clients.call("LeaveQueue", q, q.leaveQueue, {
        eventId: this.c.eventId,
        buyerId: this.rec.id,
        requestId: this.rid("l"),
      });
    } catch {
      /* counted */
    }
  }

  // --- shopping

  private async shop(): Promise<void> {
    if (this.abandonStep === "admitted") {
      if (this.explicit) await this.leave();
      this.finish(this.explicit ? "abandoned-admitted (left)" : "abandoned-admitted (silent)");
      return;
    }
    let declinedRetries = 0;
    for (;;) {
      await this.think();
      if (this.c.stopping) return this.finish("stopped-shopping");
      const first = Math.ceil(this.wanted / 2);
      const hold = await this.hold(this.holdTwice ? first : this.wanted);
      if (!hold) return;
      const holds = [hold];
      this.m.funnel.holding++;
      let released = false;
      try {
        if (this.holdTwice) {
          // A second pick before paying: seats gone by then leave the first hold to pay for alone.
          await this.think();
          const second = await this.hold(this.wanted - first, true);
          if (second) holds.push(second);
        }
        if (this.abandonStep === "hold") {
          if (this.explicit) for (const h of holds) await this.release(h);
          released = true;
          if (this.explicit) await this.leave();
          return this.finish(this.explicit ? "abandoned-hold (released)" : "abandoned-hold (silent)");
        }
        await this.think();
      } finally {
        this.m.funnel.holding--;
      }
      if (released) return;
      const order = await this.order(holds);
      if (!order) return;
      if (order.state === "CONFIRMED") return this.finish("confirmed");
      if (
        order.failureReason === "PAYMENT_DECLINED" &&
        declinedRetries === 0 &&
        this.c.rnd() < this.c.s.buyer.retryAfterDecline &&
        Date.now() < this.tokenExpiresMs - 5000
      ) {
        declinedRetries++;
        continue;
      }
      if (this.explicit) await this.leave();
      return this.finish(
        order.failureReason === "PAYMENT_DECLINED"
          ? "declined"
          : `order-${(order.state ?? "").toLowerCase()}:${order.failureReason ?? ""}`,
      );
    }
  }

  private gaSection(): string {
    const g = this.c.gaSections;
    const total = g.reduce((a, x) => a + x.capacity, 0);
    let r = this.c.rnd() * total;
    for (const x of g) if ((r -= x.capacity) < 0) return x.id;
    return g[g.length - 1]!.id;
  }

  /** One hold attempt of the buyer's kind; throws RpcError. */
  private async tryHold(quantity: number): Promise<Hold> {
    const r = this.set.reservations;
    const base = {
      eventId: this.c.eventId,
      buyerId: this.rec.id,
      admissionToken: this.token,
      requestId: this.rid("h"),
    };
    if (this.choice === "generalAdmission") {
      const res = await this.c.clients.call("HoldSeats(GA)", r, r.holdSeats, {
        ...base,
        selection: { $case: "generalAdmission", value: { sectionId: this.gaSection(), quantity } },
      });
      return res.hold!;
    }
    if (this.choice === "seats") {
      const seatIds = this.c.seatMap?.pick(quantity, this.c.rnd);
      if (seatIds) {
        const res = await this.c.clients.call("HoldSeats", r, r.holdSeats, {
          ...base,
          selection: { $case: "seats", value: { seatIds } },
        });
        return res.hold!;
      }
      // nothing free on the map the buyer sees: ask for the best instead
    }
    const res = await this.c.clients.call("HoldBestAvailable", r, r.holdBestAvailable, {
      ...base,
      quantity,
      priceCategoryId: "",
      sectionId: "",
    });
    return res.hold!;
  }

  /** A hold of `quantity`; a second hold (`second`) that fails ends nothing: the buyer pays for the first. */
  private async hold(quantity: number, second = false): Promise<Hold | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        const hold = await this.tryHold(quantity);
        this.rec.holdIds.push(hold.holdId);
        this.m.funnel.holdsMade++;
        return hold;
      } catch (err) {
        if (!(err instanceof RpcError)) throw err;
        const retryable =
          err.code === status.ABORTED || err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED;
        if (retryable && attempt < this.c.s.buyer.holdAttempts && !this.c.stopping) {
          // Seats taken or not enough left: maybe fewer, after a look at the map again.
          if (err.reason === "INSUFFICIENT_CAPACITY" && quantity > 1) quantity--;
          await this.think();
          continue;
        }
        if (second) return undefined;
        if (this.explicit || retryable) await this.leave();
        if (err.code === status.ABORTED) this.finish("no-seats");
        else if (err.reason === "SALE_CLOSED" || err.reason === "SALE_PAUSED") this.finish("closed");
        else if (err.reason === "ADMISSION_TOKEN_INVALID" && Date.now() >= this.tokenExpiresMs)
          this.finish("session-expired");
        else this.finish(`hold-error:${err.reason ?? err.code}`);
        return undefined;
      }
    }
  }

  private async release(hold: Hold): Promise<void> {
    const r = this.set.reservations;
    try {
      await this.c.clients.call("ReleaseHold", r, r.releaseHold, {
        eventId: this.c.eventId,
        holdId: hold.holdId,
        buyerId: this.rec.id,
        requestId: this.rid("r"),
      });
    } catch {
      /* counted */
    }
  }

  /**
   * CreateOrder for one hold, or for two in one order (hold_ids); twice with
   * the same key for a double-submitter. Then follows it to a final state.
   */
  private async order(holds: Hold[]): Promise<OrderRecord | undefined> {
    const o = this.set.orders;
    const holdIds = holds.map((h) => h.holdId);
    const req = {
      eventId: this.c.eventId,
      holdId: holds.length === 1 ? holdIds[0]! : "",
      holdIds: holds.length === 1 ? [] : holdIds,
      buyerId: this.rec.id,
      idempotencyKey: this.rid("k"),
      payment: { paymentMethodToken: `tok_sim_${this.rec.id}` },
    };
    const double = this.c.rnd() < this.c.s.buyer.doubleSubmit;
    let order: Order;
    try {
      const calls = [this.c.clients.call("CreateOrder", o, o.createOrder, req)];
      if (double) calls.push(this.c.clients.call("CreateOrder", o, o.createOrder, req));
      const results = await Promise.allSettled(calls);
      const ok = results
        .filter((r): r is PromiseFulfilledResult<{ order?: Order }> => r.status === "fulfilled")
        .map((r) => r.value.order!);
      if (ok.length === 0) throw (results[0] as PromiseRejectedResult).reason;
      order = ok[0]!;
      if (ok.length === 2 && ok[0]!.orderId !== ok[1]!.orderId) {
        this.rec.idempotencyBreach = `${ok[0]!.orderId} != ${ok[1]!.orderId}`;
        this.m.anomaly(
          `CreateOrder twice with key ${req.idempotencyKey} answered two orders: ${this.rec.idempotencyBreach}`,
        );
      }
    } catch (err) {
      if (!(err instanceof RpcError)) throw err;
      // A call that never answered may still have made the order (one per
      // set of holds): the buyer looks before giving up, as a storefront would.
      const made =
        err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED
          ? await this.orderOfHolds(holdIds)
          : undefined;
      if (!made) {
        if (this.explicit) await this.leave();
        this.finish(`order-error:${err.reason ?? err.code}`);
        return undefined;
      }
      order = made;
    }
    const rec: OrderRecord = {
      orderId: order.orderId,
      holdIds,
      quantity: order.quantity || holds.reduce((n, h) => n + (h.seatIds.length || h.quantity), 0),
      tickets: [],
    };
    this.rec.orders.push(rec);
    this.m.funnel.paid++;
    this.m.funnel.paying++;
    const t0 = Date.now();
    let final: Order | undefined;
    try {
      final = await this.follow(order.orderId);
    } finally {
      this.m.funnel.paying--;
    }
    if (!final) {
      rec.state = "UNKNOWN";
      this.finish("order-unresolved");
      return undefined;
    }
    this.m.span("checkout (CreateOrder → final state seen)", Date.now() - t0);
    rec.state = OrderState[final.state]?.replace(/^ORDER_STATE_/, "") ?? String(final.state);
    rec.failureReason = final.failureReason || undefined;
    if (final.state === OrderState.ORDER_STATE_CONFIRMED) {
      rec.tickets = final.tickets.map((t) => ({ ticketId: t.ticketId, seatId: t.seatId, code: t.code }));
      this.m.funnel.confirmed++;
      this.m.funnel.ticketsBought += rec.tickets.length;
    } else this.m.funnel.failedOrders++;
    return rec;
  }

  /** The order of a set of holds, if CreateOrder made one (its id derives from theirs); undefined if not, or unknown. */
  private async orderOfHolds(holdIds: string[]): Promise<Order | undefined> {
    const o = this.set.orders;
    try {
      const orderId = orderIdForHolds(this.c.eventId, holdIds);
      const { order } = await this.c.clients.call("GetOrder", o, o.getOrder, { orderId });
      return order;
    } catch {
      return undefined;
    }
  }

  /** WatchOrder until final; on a broken stream, GetOrder every second. */
  private async follow(orderId: string): Promise<Order | undefined> {
    const viaWatch = await new Promise<Order | undefined>((resolve) => {
      const t0 = performance.now();
      let last: Order | undefined;
      const stream = this.set.orders.watchOrder({ orderId }, new Metadata(), {
        deadline: Date.now() + (this.c.s.run.maxSeconds + this.c.s.run.settleSeconds) * 1000,
      });
      stream.on("data", (m: WatchOrderResponse) => {
        if (m.order) last = m.order;
      });
      stream.on("error", (err) => {
        this.c.clients.recordStream("WatchOrder", t0, err as never);
        resolve(last && FINAL_ORDER.has(last.state) ? last : undefined);
      });
      stream.on("end", () => {
        this.c.clients.recordStream("WatchOrder", t0, undefined);
        resolve(last && FINAL_ORDER.has(last.state) ? last : undefined);
      });
    });
    if (viaWatch) return viaWatch;
    const o = this.set.orders;
    const until = Date.now() + this.c.s.run.settleSeconds * 1000;
    while (Date.now() < until) {
      try {
        const { order } = await this.c.clients.call("GetOrder", o, o.getOrder, { orderId });
        if (order && FINAL_ORDER.has(order.state)) return order;
      } catch {
        /* counted */
      }
      await sleep(1000);
    }
    return undefined;
  }
}

/**
 * A bot: tries the gate without a token, joins many times, polls without
 * backoff, and once in fires many holds at once for the most tickets allowed,
 * retrying refusals without backoff; then orders whatever it got.
 */
export class Bot {
  private readonly set: ClientSet;
  private seq = 0;

  constructor(
    private readonly c: SimContext,
    readonly rec: BuyerRecord,
  ) {
    this.set = c.clients.pick();
  }

  private rid(kind: string): string {
    return `${this.rec.id}-${kind}${(this.seq++).toString(36)}`;
  }

  async run(): Promise<void> {
    const { c, rec } = this;
    c.metrics.funnel.arrived++;
    let started = false;
    const start = () => {
      if (!started) c.onStarted();
      started = true;
    };
    try {
      const max = c.s.event.maxTicketsPerBuyer;
      let token = "";
      if (c.waitingRoom) {
        if (c.s.bots.tryWithoutToken) {
          try {
            const h = await this.holdOnce("", max);
            rec.gateBreach = true;
            rec.holdIds.push(h.holdId);
            c.metrics.anomaly(`bot ${rec.id} held ${h.holdId} without an admission token`);
          } catch {
            /* the gate refused, as it must */
          }
        }
        const q = this.set.queue;
        rec.joinSentMs = Date.now();
        const joins = await Promise.allSettled(
          Array.from({ length: c.s.bots.joins }, () =>
            c.clients.call("JoinQueue", q, q.joinQueue, {
              eventId: c.eventId,
              buyerId: rec.id,
              requestId: this.rid("j"),
            }),
          ),
        );
        rec.joinAnsweredMs = Date.now();
        rec.joins = joins.filter((j) => j.status === "fulfilled").length;
        start();
        if (rec.joins === 0) return this.finish("bot-could-not-join");
        c.metrics.funnel.joined++;
        const first = (joins.find((j) => j.status === "fulfilled") as PromiseFulfilledResult<{ ticket?: QueueTicket }>)
          .value.ticket;
        rec.joinState = first ? queueStateName(first.state) : undefined;
        // poll without backoff, ignoring RetryInfo
        let ticket = first;
        c.metrics.funnel.waiting++;
        try {
          while (!c.stopping && !(ticket && isFinalTicket(ticket))) {
            await sleep(c.s.bots.pollIntervalMs, c.stopSignal);
            try {
              ticket = (
                await c.clients.call("GetQueuePosition", q, q.getQueuePosition, { eventId: c.eventId, buyerId: rec.id })
              ).ticket;
            } catch {
              /* counted; no backoff */
            }
          }
        } finally {
          c.metrics.funnel.waiting--;
        }
        if (!ticket || ticket.state !== QueueState.QUEUE_STATE_ADMITTED)
          return this.finish(
            c.stopping ? "bot-stopped" : `bot-${ticket ? queueStateName(ticket.state).toLowerCase() : "?"}`,
          );
        token = ticket.admissionToken;
        rec.admittedSeenMs = Date.now();
        c.metrics.funnel.admitted++;
      }
      start();
      // many holds at once, each for the most allowed, each retried without backoff
      const holds = await Promise.all(
        Array.from({ length: c.s.bots.holdsPerIdentity }, async () => {
          for (let i = 0; i < 3 && !c.stopping; i++) {
            try {
              return await this.holdOnce(token, max);
            } catch (err) {
              if (!(err instanceof RpcError) || err.code !== status.ABORTED) return undefined;
            }
          }
          return undefined;
        }),
      );
      const got = holds.filter((h): h is Hold => Boolean(h));
      for (const h of got) rec.holdIds.push(h.holdId);
      c.metrics.funnel.holdsMade += got.length;
      if (got.length === 0) return this.finish("bot-no-hold");
      const o = this.set.orders;
      const results = await Promise.all(
        got.map(async (h) => {
          try {
            const { order } = await c.clients.call("CreateOrder", o, o.createOrder, {
              eventId: c.eventId,
              holdId: h.holdId,
              holdIds: [],
              buyerId: rec.id,
              idempotencyKey: this.rid("k"),
              payment: { paymentMethodToken: `tok_sim_${rec.id}` },
            });
            const r: OrderRecord = {
              orderId: order!.orderId,
              holdIds: [h.holdId],
              quantity: order!.quantity,
              tickets: [],
            };
            rec.orders.push(r);
            c.metrics.funnel.paid++;
            const final = await this.poll(order!.orderId);
            r.state = final ? (OrderState[final.state]?.replace(/^ORDER_STATE_/, "") ?? "?") : "UNKNOWN";
            r.failureReason = final?.failureReason || undefined;
            if (final?.state === OrderState.ORDER_STATE_CONFIRMED) {
              r.tickets = final.tickets.map((t) => ({ ticketId: t.ticketId, seatId: t.seatId, code: t.code }));
              c.metrics.funnel.confirmed++;
              c.metrics.funnel.ticketsBought += r.tickets.length;
            } else c.metrics.funnel.failedOrders++;
            return r.state;
          } catch {
            return "ERROR";
          }
        }),
      );
      this.finish(results.includes("CONFIRMED") ? "bot-confirmed" : "bot-no-order");
    } catch (err) {
      this.finish(`bot-error:${(err as Error).message?.slice(0, 60)}`);
    } finally {
      start();
    }
  }

  private finish(outcome: string): void {
    this.rec.outcome = outcome;
    this.c.metrics.outcome(outcome);
  }

  private async holdOnce(token: string, quantity: number): Promise<Hold> {
    const { c, rec } = this;
    const r = this.set.reservations;
    const base = { eventId: c.eventId, buyerId: rec.id, admissionToken: token, requestId: this.rid("h") };
    if (c.gaSections.length > 0) {
      const res = await c.clients.call("HoldSeats(GA)", r, r.holdSeats, {
        ...base,
        selection: { $case: "generalAdmission", value: { sectionId: c.gaSections[0]!.id, quantity } },
      });
      return res.hold!;
    }
    const res = await c.clients.call("HoldBestAvailable", r, r.holdBestAvailable, {
      ...base,
      quantity,
      priceCategoryId: "",
      sectionId: "",
    });
    return res.hold!;
  }

  /** Bots poll GetOrder (every 250 ms) instead of watching. */
  private async poll(orderId: string): Promise<Order | undefined> {
    const o = this.set.orders;
    const until = Date.now() + (this.c.s.run.maxSeconds + this.c.s.run.settleSeconds) * 1000;
    while (Date.now() < until) {
      try {
        const { order } = await this.c.clients.call("GetOrder", o, o.getOrder, { orderId });
        if (order && FINAL_ORDER.has(order.state)) return order;
      } catch {
        /* counted */
      }
      await sleep(250);
    }
    return undefined;
  }
}
