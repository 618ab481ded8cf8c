// Adaptive admission (AIMD): for an event whose waiting room has it on, one
// API process per interval decides the admission rate from the event-wide
// signals, and writes it where UpdateWaitingRoom writes the rate (the meta
// hash's wr_rate), so every process's next admission step uses it.
//
// Every API process checks each waiting room it steps twice a second; the
// first to take the interval's lease (a Redis key that expires with the
// interval) decides it. No process is special: any of them dying changes
// nothing but who takes the next lease. The decision reads the signals every
// process published for the interval (src/queue/admission-signals.ts) and
// the checkouts in flight (orders PENDING_PAYMENT, from MySQL): all under
// their targets, the rate grows by the step (up to the most); any over, it is
// cut by the factor (down to the least).
import { randomUUID } from "node:crypto";
import type { RedisClient } from "../adapters/redis/client.js";
import { eventKeys, queueKeys } from "../adapters/redis/keys.js";
import type { Scripts } from "../adapters/redis/scripts.js";
import type { AdaptiveAdmission } from "../events/layout.js";
import type { Logger } from "../logger.js";
import { p99Ms, readSignals, type IntervalSignals } from "./admission-signals.js";

/** How often each process looks at each room's adaptive settings and lease. */
const CHECK_EVERY_MS = 500;

export type RateReason = "healthy" | "idle" | "hold_p99" | "checkout_backlog" | "error_ratio";

export interface Signals {
  holdP99Ms: number;
  holds: number;
  checkoutBacklog: number;
  errorRatio: number;
  calls: number;
}

export interface RateDecision {
  from: number;
  to: number;
  /** The signals over their targets ("healthy" when none). */
  reasons: RateReason[];
}

/**
 * The AIMD rule: every signal under its target adds the step (≤ max); any
 * over multiplies by the factor (≥ min). An interval without a single hold
 * ("idle": nobody admitted is shopping, e.g. while the room is paused or
 * sold out) is no evidence the backend could take more: the rate stays, so
 * it does not climb to the max while nothing tests it.
 */
export function decideRate(a: AdaptiveAdmission, rate: number, s: Signals): RateDecision {
  const reasons: RateReason[] = [];
  if (s.holdP99Ms > a.targetHoldP99Ms) reasons.push("hold_p99");
  if (s.checkoutBacklog > a.targetCheckoutBacklog) reasons.push("checkout_backlog");
  if (s.errorRatio > a.targetErrorRatio) reasons.push("error_ratio");
  if (reasons.length === 0 && s.holds === 0) return { from: rate, to: rate, reasons: ["idle"] };
  const next = reasons.length === 0 ? rate + a.stepPerInterval : Math.floor(rate * a.cutFactor);
  const to = Math.min(a.maxAdmissionsPerSecond, Math.max(a.minAdmissionsPerSecond, next));
  return { from: rate, to, reasons: reasons.length === 0 ? ["healthy"] : reasons };
}

export function signalsOf(published: IntervalSignals, checkoutBacklog: number): Signals {
  return {
    holdP99Ms: Math.round(p99Ms(published) * 10) / 10,
    holds: published.holds,
    checkoutBacklog,
    errorRatio: published.calls > 0 ? published.failed / published.calls : 0,
    calls: published.calls,
  };
}

export interface AdaptiveAdmissionDeps {
  redis: RedisClient;
  scripts: Scripts;
  log: Logger;
  /** The event's orders in PENDING_PAYMENT now (OrderStore.pendingCheckouts). */
  checkoutBacklog: (eventId: string) => Promise<number>;
  /** The rooms to look at: those this process steps (AdmissionTicker.tracked). */
  events: () => Iterable<string>;
  /** The current rate of an adaptive room, as read (metrics gauge); undefined once it is off. */
  onRate?: (eventId: string, rate: number | undefined) => void;
  /** A rate this process changed (metrics counter). */
  onChange?: (eventId: string, decision: RateDecision, signals: Signals) => void;
  checkEveryMs?: number;
}

export class AdaptiveAdmissionController {
  /** This process's name on the lease (logs say who decided). */
  readonly id = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private readonly adaptive = new Set<string>();

  constructor(private readonly deps: AdaptiveAdmissionDeps) {}

  start(): void {
    this.timer ??= setInterval(() => void this.checkAll(), this.deps.checkEveryMs ?? CHECK_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async checkAll(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await Promise.all(
        [...this.deps.events()].map((eventId) =>
          this.check(eventId).catch((err: unknown) =>
            this.deps.log.warn({ err, eventId }, "adaptive admission check failed"),
          ),
        ),
      );
    } finally {
      this.checking = false;
    }
  }

  /**
   * Looks at one room: reports its current rate, and decides the next one when
   * adaptive admission is on and this process takes the interval's lease.
   * Returns the decision it made, if any.
   */
  async check(eventId: string): Promise<RateDecision | undefined> {
    const [json, rateText] = await this.deps.redis.hmget(eventKeys(eventId).meta, "wr_adaptive", "wr_rate");
    if (!json) {
      if (this.adaptive.delete(eventId)) this.deps.onRate?.(eventId, undefined);
      return undefined;
    }
    const settings = JSON.parse(json) as AdaptiveAdmission;
    const rate = Number(rateText);
    this.adaptive.add(eventId);
    this.deps.onRate?.(eventId, rate);
    const intervalMs = settings.intervalSeconds * 1000;
    const leased = await this.deps.redis.set(queueKeys(eventId).controlLease, this.id, "PX", intervalMs, "NX");
    if (leased !== "OK") return undefined;

    const nowSecond = Math.floor(Date.now() / 1000);
    const [published, backlog] = await Promise.all([
      readSignals(this.deps.redis, eventId, nowSecond - settings.intervalSeconds, nowSecond),
      this.deps.checkoutBacklog(eventId),
    ]);
    const signals = signalsOf(published, backlog);
    const decision = decideRate(settings, rate, signals);
    if (decision.to === rate) return decision;
    if (!(await this.deps.scripts.queue.setAdmissionRate({ eventId, from: rate, to: decision.to }))) return undefined;
    this.deps.onRate?.(eventId, decision.to);
    this.deps.onChange?.(eventId, decision, signals);
    this.deps.log.info(
      {
        eventId,
        from: decision.from,
        to: decision.to,
        reasons: decision.reasons,
        signals,
        targets: {
          holdP99Ms: settings.targetHoldP99Ms,
          checkoutBacklog: settings.targetCheckoutBacklog,
          errorRatio: settings.targetErrorRatio,
        },
        controller: this.id,
      },
      decision.to > decision.from ? "admission rate raised" : "admission rate cut",
    );
    return decision;
  }
}
