// Order use cases on the API side: CreateOrder starts (or finds) the checkout
// workflow with Update-with-Start; reads come from MySQL; state changes are
// pushed through Redis pub/sub.
import {
  WithStartWorkflowOperation,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from "@temporalio/client";
import { status as grpcStatus } from "@grpc/grpc-js";
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError } from "@temporalio/common";
import { AppError, dependencyUnavailable, isConnectionError, type Reason } from "../domain/errors.js";
import type { Holds } from "../holds/holds.js";
import { cancelOrderUpdate, checkout, createOrderUpdate } from "../../workflows/checkout.js";
import { refundOrder, refundTickets } from "../../workflows/refund-order.js";
import { createHash } from "node:crypto";
import { invalidArgument } from "../domain/errors.js";
import type { FieldViolation } from "../domain/errors.js";
import type { OrderNotifier } from "./notifier.js";
import {
  checkoutWorkflowId,
  FINAL_ORDER_STATES,
  orderIdForHolds,
  type CheckoutInput,
  refundWorkflowId,
  ticketRefundWorkflowId,
  type Order,
} from "./order.js";
import { orderRequestHash, type OrderFilter, type OrderStore } from "./order-store.js";
import type { RefundOptions } from "./activities.js";

export interface CreateOrderRequest {
  eventId: string;
  /** 1..MAX_ORDER_HOLDS distinct holds, in any order. */
  holdIds: readonly string[];
  buyerId: string;
  idempotencyKey: string;
  paymentMethodToken: string;
}

export interface OrdersDeps {
  store: OrderStore;
  holds: Holds;
  temporal: Client;
  taskQueue: string;
  notifier: OrderNotifier;
  paymentWindowMs: number;
  /**
   * How often one query checks every watched order of this process for a
   * change whose message was lost (a publish that failed); 5 s by default.
   */
  watchSweepMs?: number;
}

/** A WatchOrder stream waiting for its order to change. */
interface OrderWatcher {
  /** The version it sent last (watchVersion). */
  version: string;
  wake(): void;
}

/** What a watcher compares to tell a change; OrderStore.watchVersions computes the same. */
function watchVersion(order: Order): string {
  return `${order.state}:${order.updateTime.getTime()}:${order.tickets.length}`;
}

/** Orders read per query of the watch sweep. */
const SWEEP_BATCH = 500;

/** Business failures of the checkout's first step that CreateOrder answers with. */
const REFUSAL_REASONS: Reason[] = [
  "HOLD_EXPIRED",
  "HOLD_NOT_ACTIVE",
  "HOLD_NOT_FOUND",
  "HOLD_NOT_OWNED",
  "SALE_CLOSED",
  "IDEMPOTENCY_KEY_REUSED",
];

/**
 * An idempotency key names one request: the same key with other holds, or
 * the same holds with another payload (payment method), is refused. Orders
 * recorded before request hashes existed are compared by holds only.
 */
function refuseOtherRequest(prior: Order, holdIds: readonly string[], requestHash: string): void {
  const sameHolds =
    prior.holds
      .map((h) => h.holdId)
      .sort()
      .join(",") === [...holdIds].sort().join(",");
  if (!sameHolds || (prior.requestHash !== "" && prior.requestHash !== requestHash)) {
    throw new AppError(
      "IDEMPOTENCY_KEY_REUSED",
      !sameHolds
        ? `idempotency key already used for order ${prior.orderId} of other holds`
        : `idempotency key already used for order ${prior.orderId} with another request`,
      { metadata: { order_id: prior.orderId } },
    );
  }
}

/** The checkout refused the order before it began: createOrderUpdate failed with one of REFUSAL_REASONS. */
function checkoutRefusal(err: unknown): AppError | undefined {
  if (!(err instanceof WorkflowUpdateFailedError) || !(err.cause instanceof ApplicationFailure)) return undefined;
  const type = err.cause.type;
  const reason = REFUSAL_REASONS.find((r) => r === type);
  return reason === undefined ? undefined : new AppError(reason, err.cause.message);
}

/** How long CancelOrder waits for Temporal when its call has no deadline. */
const CANCEL_DEFAULT_WAIT_MS = 10_000;

/** Temporal's calls cut by withDeadline (gRPC DEADLINE_EXCEEDED), or an update's wait that timed out. */
function isTemporalDeadline(err: unknown): boolean {
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
  for (let e: unknown = err; e && typeof e === "object"; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === grpcStatus.DEADLINE_EXCEEDED) return true;
  }
  return false;
}

/** The refund policy refused: the refund workflow failed with one of its rules. */
function refundRefusal(err: unknown): AppError | undefined {
  if (!(err instanceof WorkflowFailedError) || !(err.cause instanceof ApplicationFailure)) return undefined;
  const type = err.cause.type;
  const reason = REFUND_RULES.find((r) => r === type);
  return reason === undefined ? undefined : new AppError(reason, err.cause.message);
}

const REFUND_RULES: Reason[] = ["REFUND_WINDOW_CLOSED", "TICKETS_CHECKED_IN"];

/**
 * A partial refund's id: the order and its sorted ticket ids, hashed. The
 * same tickets give the same id, whatever their order in the request: one
 * workflow (refund-<orderId>-<refundId>) and one provider refund
 * (<orderId>:payment:refund:<refundId>) per set.
 */
export function refundIdOf(orderId: string, ticketIds: readonly string[]): string {
  return createHash("sha256")
    .update(JSON.stringify([orderId, [...ticketIds].sort()]))
    .digest("hex")
    .slice(0, 24);
}

/** ticket_ids of a CancelOrder: each a ticket of this order, each once; else INVALID_ARGUMENT. */
function checkTicketIds(order: Order, ticketIds: readonly string[]): void {
  const mine = new Set(order.tickets.map((t) => t.ticketId));
  const seen = new Set<string>();
  const violations: FieldViolation[] = [];
  ticketIds.forEach((id, i) => {
    if (!mine.has(id)) violations.push({ field: `ticket_ids[${i}]`, description: "is not a ticket of this order" });
    else if (seen.has(id)) violations.push({ field: `ticket_ids[${i}]`, description: "is named twice" });
    seen.add(id);
  });
  if (violations.length > 0) throw invalidArgument(violations);
}

export class Orders {
  constructor(private readonly deps: OrdersDeps) {}

  async createOrder(req: CreateOrderRequest): Promise<Order> {
    const { store, holds } = this.deps;
    const holdIds = [...req.holdIds].sort();
    const orderId = orderIdForHolds(req.eventId, holdIds);
    // The holds' order and the buyer's order with this key, in one query.
    const { byId, byKey: prior } = await store.getForCreate(orderId, req.buyerId, req.idempotencyKey);
    const requestHash = orderRequestHash({ ...req, holdIds });
    if (prior) refuseOtherRequest(prior, holdIds, requestHash);
    const existing = prior ?? byId;
    if (existing) {
      if (existing.buyerId !== req.buyerId)
        throw new AppError("HOLD_NOT_OWNED", `hold ${existing.holdId} belongs to another buyer`);
      return existing;
    }
    // Fail fast on holds that cannot be paid for; the workflow re-checks atomically when it pins.
    const several = holdIds.length > 1;
    const refuse = (reason: Reason, holdId: string, message: string, metadata: Record<string, string> = {}) =>
      new AppError(reason, message, { metadata: several ? { ...metadata, hold_id: holdId } : metadata });
    for (const hold of await Promise.all(
      holdIds.map((holdId) =>
        holds.getHold(req.eventId, holdId).catch((err: unknown) => {
          if (err instanceof AppError && several) err.metadata.hold_id = holdId;
          throw err;
        }),
      ),
    )) {
      if (hold.buyerId !== req.buyerId)
        throw refuse("HOLD_NOT_OWNED", hold.holdId, `hold ${hold.holdId} belongs to another buyer`);
      if (hold.state === "EXPIRED") throw refuse("HOLD_EXPIRED", hold.holdId, `hold ${hold.holdId} has expired`);
      // PINNED may be this order's own checkout, begun by a concurrent call; its pin decides.
      if (hold.state !== "ACTIVE" && hold.state !== "PINNED") {
        throw refuse("HOLD_NOT_ACTIVE", hold.holdId, `hold ${hold.holdId} is ${hold.state.toLowerCase()}`, {
          hold_state: hold.state,
        });
      }
    }

    const input: CheckoutInput = {
      orderId,
      eventId: req.eventId,
      holdId: holdIds[0]!,
      holdIds,
      buyerId: req.buyerId,
      idempotencyKey: req.idempotencyKey,
      paymentMethodToken: req.paymentMethodToken,
      paymentWindowMs: this.deps.paymentWindowMs,
    };
    try {
      await this.deps.temporal.workflow.executeUpdateWithStart(createOrderUpdate, {
        args: [req.idempotencyKey],
        updateId: req.idempotencyKey,
        startWorkflowOperation: new WithStartWorkflowOperation(checkout, {
          workflowId: checkoutWorkflowId(orderId),
          taskQueue: this.deps.taskQueue,
          args: [input],
          workflowIdConflictPolicy: "USE_EXISTING",
          // One checkout per set of holds, ever: a finished one is answered from MySQL.
          workflowIdReusePolicy: "REJECT_DUPLICATE",
        }),
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw checkoutRefusal(err) ?? this.translate(err);
    }
    const order = await store.get(orderId);
    if (!order) throw new AppError("HOLD_NOT_ACTIVE", `holds ${holdIds.join(", ")} could not be checked out`);
    // A concurrent call with this key and another payload may have started the checkout first.
    if (order.idempotencyKey === req.idempotencyKey) refuseOtherRequest(order, holdIds, requestHash);
    return order;
  }

  async getOrder(orderId: string): Promise<Order> {
    const order = await this.deps.store.get(orderId);
    if (!order) throw new AppError("ORDER_NOT_FOUND", `order ${orderId} not found`);
    return order;
  }

  /** A buyer's orders (of one event, or of every event with eventId ""), newest first. */
  async listOrders(buyerId: string, eventId: string, pageSize: number, after?: { createdAt: Date; orderId: string }) {
    return this.deps.store.list({ buyerId, eventId }, pageSize, after);
  }

  /** An event's orders, newest first, of one state or buyer when given; EVENT_NOT_FOUND for an unknown event. */
  async listEventOrders(
    eventId: string,
    only: Omit<OrderFilter, "eventId">,
    pageSize: number,
    after?: { createdAt: Date; orderId: string },
  ) {
    const page = await this.deps.store.list({ ...only, eventId }, pageSize, after);
    // Checked only when nothing matched: an order of the event proves it exists.
    if (page.length === 0 && !(await this.deps.store.eventExists(eventId)))
      throw new AppError("EVENT_NOT_FOUND", `event ${eventId} not found`);
    return page;
  }

  /**
   * Before confirmation: void and release. After: refund, revoke tickets,
   * seats back on sale. Idempotent. Answers by `answerBy` (the call's
   * deadline, less a margin for the answer's way back) in every state: a
   * checkout or refund that has not finished by then goes on, and the caller
   * is told so (DEADLINE_EXCEEDED with a reason, then WatchOrder or a retry).
   */
  async cancelOrder(
    orderId: string,
    buyerId: string,
    refund: RefundOptions = { force: false, by: "" },
    answerBy: Date = new Date(Date.now() + CANCEL_DEFAULT_WAIT_MS),
    ticketIds: readonly string[] = [],
  ): Promise<Order> {
    return this.deps.temporal
      .withDeadline(answerBy, () => this.cancel(orderId, buyerId, refund, ticketIds))
      .catch((err: unknown) => {
        if (err instanceof AppError || !isTemporalDeadline(err)) throw err;
        throw new AppError(
          "DEADLINE_EXCEEDED",
          `order ${orderId}: the cancellation did not finish in time; follow WatchOrder, or call again (idempotent)`,
          { retryAfterMs: 1000, cause: err },
        );
      });
  }

  private async cancel(
    orderId: string,
    buyerId: string,
    refund: RefundOptions,
    ticketIds: readonly string[],
  ): Promise<Order> {
    let order = await this.getOrder(orderId);
    if (order.buyerId !== buyerId) throw new AppError("ORDER_NOT_OWNED", `order ${orderId} belongs to another buyer`);
    if (order.state === "FAILED")
      throw new AppError("ORDER_FINAL", `order ${orderId} failed; nothing to cancel`, {
        metadata: { order_state: order.state },
      });
    if (ticketIds.length > 0) checkTicketIds(order, ticketIds);
    try {
      if (order.state === "PENDING_PAYMENT") {
        const outcome = await this.deps.temporal.workflow
          .getHandle(checkoutWorkflowId(orderId))
          .executeUpdate(cancelOrderUpdate);
        order = await this.getOrder(orderId);
        if (outcome.status !== "CONFIRMED") return order;
      }
      // Some tickets, or the rest of an order partly refunded already: a
      // partial refund (a whole-order refund would give back seats that are
      // no longer this order's).
      // Every ticket revoked while CONFIRMED: a refund is finishing; it ends the order.
      const rest = order.tickets.filter((t) => !t.revoked).map((t) => t.ticketId);
      const partlyRefunded = rest.length < order.tickets.length;
      const partial = ticketIds.length > 0 ? [...ticketIds] : partlyRefunded ? rest : undefined;
      if (order.state === "CONFIRMED" && partial?.length === 0) return order;
      if (order.state === "CONFIRMED" && partial) {
        const refundId = refundIdOf(orderId, partial);
        await this.deps.temporal.workflow
          .execute(refundTickets, {
            workflowId: ticketRefundWorkflowId(orderId, refundId),
            taskQueue: this.deps.taskQueue,
            args: [orderId, refundId, partial, refund],
            workflowIdConflictPolicy: "USE_EXISTING",
          })
          .catch((err: unknown) => {
            throw refundRefusal(err) ?? err;
          });
      } else if (order.state === "CONFIRMED") {
        await this.deps.temporal.workflow
          .execute(refundOrder, {
            workflowId: refundWorkflowId(orderId),
            taskQueue: this.deps.taskQueue,
            args: [orderId, refund],
            workflowIdConflictPolicy: "USE_EXISTING",
          })
          .catch((err: unknown) => {
            throw refundRefusal(err) ?? err;
          });
      }
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw this.translate(err);
    }
    return this.getOrder(orderId);
  }

  /**
   * Sends the order now and after every change until it is final or `signal`
   * aborts. A change wakes the stream through Redis pub/sub; no stream polls
   * MySQL on its own: one sweep per process (watchSweep) reads every watched
   * order's version in one query per SWEEP_BATCH orders and wakes only those
   * that changed, covering a change message lost on the way. A lost
   * subscription wakes the watchers itself (notifier.ts).
   */
  async watchOrder(orderId: string, signal: AbortSignal, send: (order: Order) => Promise<void>): Promise<void> {
    let wake: () => void = () => undefined;
    const stop = await this.deps.notifier.listen(orderId, () => wake());
    const onAbort = () => wake();
    signal.addEventListener("abort", onAbort, { once: true });
    const watcher: OrderWatcher = { version: "", wake: () => wake() };
    try {
      for (;;) {
        const changed = new Promise<void>((resolve) => (wake = resolve));
        // Read after listening: a change made meanwhile is not missed.
        const order = await this.getOrder(orderId);
        const version = watchVersion(order);
        if (version !== watcher.version) {
          watcher.version = version;
          await send(order);
        }
        if (FINAL_ORDER_STATES.includes(order.state) || signal.aborted) return;
        this.watch(orderId, watcher);
        await changed;
        if (signal.aborted) return;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.unwatch(orderId, watcher);
      await stop();
    }
  }

  private readonly watchers = new Map<string, Set<OrderWatcher>>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;

  private watch(orderId: string, watcher: OrderWatcher): void {
    let set = this.watchers.get(orderId);
    if (!set) this.watchers.set(orderId, (set = new Set()));
    set.add(watcher);
    if (!this.sweepTimer) {
      this.sweepTimer = setInterval(() => void this.watchSweep(), this.deps.watchSweepMs ?? 5000);
      this.sweepTimer.unref();
    }
  }

  private unwatch(orderId: string, watcher: OrderWatcher): void {
    const set = this.watchers.get(orderId);
    if (!set?.delete(watcher) || set.size > 0) return;
    this.watchers.delete(orderId);
    if (this.watchers.size === 0 && this.sweepTimer) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
  }

  /** The safety net of every WatchOrder stream of this process (see watchOrder). */
  private async watchSweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const ids = [...this.watchers.keys()];
      for (let i = 0; i < ids.length; i += SWEEP_BATCH) {
        const versions = await this.deps.store.watchVersions(ids.slice(i, i + SWEEP_BATCH));
        for (const id of ids.slice(i, i + SWEEP_BATCH)) {
          for (const w of this.watchers.get(id) ?? []) if (versions.get(id) !== w.version) w.wake();
        }
      }
    } catch {
      // MySQL unreachable: the streams keep waiting for their change messages; the next sweep tries again.
    } finally {
      this.sweeping = false;
    }
  }

  private translate(err: unknown): Error {
    return temporalCallError(err);
  }
}

/** A failed call to Temporal as the caller should see it: Temporal down (or busy) is UNAVAILABLE. */
export function temporalCallError(err: unknown): Error {
  // The checkout is started (or will be, by a retry) but did not record the
  // order within Temporal's long poll, e.g. a worker starved of CPU: the
  // same idempotency key answers with the same order.
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
    return new AppError(
      "DEADLINE_EXCEEDED",
      "the checkout did not answer in time; retry with the same idempotency key",
      {
        retryAfterMs: 1000,
        cause: err,
      },
    );
  }
  if (
    isConnectionError(err) ||
    workflowTaskFailing(err) ||
    (err instanceof Error && /UNAVAILABLE|Connection|connect/i.test(err.message) && !(err instanceof AppError))
  ) {
    return dependencyUnavailable("temporal", err);
  }
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Temporal refuses an update (FAILED_PRECONDITION) while the workflow's task
 * is failing: its worker died or timed out mid-task (a Redis failover, a
 * starved CPU) and Temporal retries the task. Transient, so a retry with the
 * same idempotency key answers, rather than an INTERNAL.
 */
function workflowTaskFailing(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (
      /Workflow Task in failed state/i.test(e.message) &&
      (code === undefined || code === grpcStatus.FAILED_PRECONDITION)
    )
      return true;
  }
  return false;
}
