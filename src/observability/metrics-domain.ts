// Counters and histograms of things that happen, incremented where they
// happen, in whichever process does them (API or worker): holds and their
// outcomes, admissions, checkout and activity durations, payment calls.
// Label values are bounded: event ids only through EventLabels, never a
// buyer, hold or order id. Counts that must agree with stored state (seats,
// orders, tickets) are not here: metrics-funnel.ts reads them at scrape time.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { HoldObserver } from "../holds/holds.js";
import { EventCounter, type EventLabels } from "./metrics-events.js";

const FAST_BUCKETS = [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const SLOW_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export class DomainMetrics implements HoldObserver {
  private readonly holdAttempts: EventCounter<"kind" | "result">;
  private readonly holdsEnded: EventCounter<"reason">;
  private readonly admitted: EventCounter<never>;
  private readonly holdScript: Histogram<"script">;
  private readonly scriptChildren = new Map<string, Histogram.Internal<"script">>();
  readonly checkout: Histogram<"outcome">;
  readonly activity: Histogram<"activity" | "outcome">;
  readonly payment: Histogram<"operation" | "result">;
  /** Waiting rooms found without their committed seed (Redis lost them): the TicketingQueueStateLost alert. */
  readonly queueStateLost: Counter;
  /** Calls naming an event that does not exist, by answered_from (mysql, memory): src/events/unknown-events.ts. */
  readonly unknownEventLookups: Counter<"answered_from">;
  private readonly pollBatches: Counter;
  private readonly polls: Counter;
  private readonly pollReads: Counter;
  private readonly admissionRate: Gauge<"event_id">;
  private readonly admissionRateChanges: EventCounter<"direction" | "reason">;

  constructor(registry: Registry, events: EventLabels) {
    this.holdAttempts = new EventCounter(events, {
      name: "ticketing_hold_attempts_total",
      help: "Hold requests that reached the hold script, by kind (seats, quantity, best_available) and result (ok, replay, taken, limit, sale, ...).",
      labelNames: ["kind", "result"],
      registry,
    });
    this.holdsEnded = new EventCounter(events, {
      name: "ticketing_holds_ended_total",
      help: "Holds ended other than by a sale: released by the buyer, released by a failed checkout, or reclaimed after expiring.",
      labelNames: ["reason"],
      registry,
    });
    this.admitted = new EventCounter(events, {
      name: "ticketing_queue_admitted_total",
      help: "Buyers let in from the waiting room (counted by the process whose admission step let them in).",
      labelNames: [],
      registry,
    });
    this.holdScript = new Histogram({
      name: "ticketing_hold_script_seconds",
      help: "Time of a hold script call as the API sees it (EVALSHA round trip), by script.",
      labelNames: ["script"],
      buckets: FAST_BUCKETS,
      registers: [registry],
    });
    this.checkout = new Histogram({
      name: "ticketing_checkout_seconds",
      help: "From the order's creation (the checkout's first step, right after CreateOrder) to its final state, by outcome.",
      labelNames: ["outcome"],
      buckets: SLOW_BUCKETS,
      registers: [registry],
    });
    this.activity = new Histogram({
      name: "ticketing_activity_seconds",
      help: "Temporal activity executions in this worker (local and normal), by activity type and outcome (ok, failed).",
      labelNames: ["activity", "outcome"],
      buckets: SLOW_BUCKETS,
      registers: [registry],
    });
    this.payment = new Histogram({
      name: "ticketing_payment_gateway_seconds",
      help: "Payment gateway calls by operation (authorize, capture, void, refund) and result (ok, declined, unavailable, state_error, error).",
      labelNames: ["operation", "result"],
      buckets: SLOW_BUCKETS,
      registers: [registry],
    });
    this.unknownEventLookups = new Counter({
      name: "ticketing_unknown_event_lookups_total",
      help: "Calls naming an event that does not exist, by where the answer came from: mysql (a query of its own, one per id and UNKNOWN_EVENT_TTL_MS) or memory (remembered, or sharing a query in flight). Many: someone is probing made-up ids.",
      labelNames: ["answered_from"],
      registers: [registry],
    });
    this.queueStateLost = new Counter({
      name: "ticketing_queue_state_lost_total",
      help: "Queue calls refused QUEUE_STATE_LOST: a waiting room whose committed seed Redis no longer has (the log names the event).",
      registers: [registry],
    });
    this.pollBatches = new Counter({
      name: "ticketing_queue_poll_batches_total",
      help: "Script calls that answered GetQueuePosition polls: one per event per QUEUE_POLL_BATCH_MS tick with polls (lua/queue_poll.lua).",
      registers: [registry],
    });
    this.polls = new Counter({
      name: "ticketing_queue_polls_total",
      help: "GetQueuePosition polls answered (or refused) through those batches.",
      registers: [registry],
    });
    this.pollReads = new Counter({
      name: "ticketing_queue_poll_reads_total",
      help: "Buyers those batches read from Redis (record and rank) instead of answering from the place this process knew.",
      registers: [registry],
    });
    this.admissionRate = new Gauge({
      name: "ticketing_admission_rate",
      help: "Adaptive admission's current rate (buyers let in per second) of each event that has it on, as this process last read it (every process reads the same value).",
      labelNames: ["event_id"],
      registers: [registry],
    });
    events.onDrop((eventId) => this.admissionRate.remove({ event_id: eventId }));
    this.admissionRateChanges = new EventCounter(events, {
      name: "ticketing_admission_rate_changes_total",
      help: "Adaptive admission's rate changes this process decided, by direction (up, down) and reason (healthy, or the signals over target joined by '+': hold_p99, checkout_backlog, error_ratio).",
      labelNames: ["direction", "reason"],
      registry,
    });
    new Gauge({
      name: "ticketing_metrics_events",
      help: "Events that currently have label values in this process (sale not closed, or closed within the retention).",
      registers: [registry],
      collect: async function (this: Gauge) {
        this.set((await events.current()).length);
      },
    });
  }

  // ---- HoldObserver --------------------------------------------------------

  holdScriptDone(script: string, startedNs: bigint, eventId: string, kind: string, code: string): void {
    let child = this.scriptChildren.get(script);
    if (!child) this.scriptChildren.set(script, (child = this.holdScript.labels({ script })));
    child.observe(Number(process.hrtime.bigint() - startedNs) / 1e9);
    this.holdAttempts.inc(eventId, [kind, code.toLowerCase()]);
  }

  holdEnded(eventId: string, reason: "released" | "checkout_failed" | "expired", count: number): void {
    this.holdsEnded.inc(eventId, [reason], count);
  }

  // ---- waiting room ----------------------------------------------------------

  admissions(eventId: string, n: number): void {
    this.admitted.inc(eventId, [], n);
  }

  /** Adaptive admission's current rate; undefined once it is off. */
  admissionRateIs(eventId: string, rate: number | undefined): void {
    if (rate === undefined) this.admissionRate.remove({ event_id: eventId });
    else this.admissionRate.set({ event_id: eventId }, rate);
  }

  admissionRateChanged(eventId: string, from: number, to: number, reasons: readonly string[]): void {
    this.admissionRateChanges.inc(eventId, [to > from ? "up" : "down", reasons.join("+")]);
  }

  pollBatch(polls: number, reads: number): void {
    this.pollBatches.inc();
    this.polls.inc(polls);
    if (reads > 0) this.pollReads.inc(reads);
  }
}
