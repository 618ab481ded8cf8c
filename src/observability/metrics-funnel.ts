// The on-sale funnel as gauges, computed when Prometheus scrapes and not on
// any request: for every event in the label set (EventLabels), one call of
// Events.getEventSummary, the very function GetEventSummary answers with, so
// the dashboard and the API never disagree. That is one Redis round trip and
// a few indexed MySQL counts per event per scrape.
//
// Every gauge is reset and refilled on each scrape, so an event that leaves
// the label set disappears from them at once. Only one process per API
// deployment should export these (METRICS_FUNNEL): they describe shared
// state, and two exporters would double every sum.
import { Counter, Gauge, type Registry } from "prom-client";
import type { EventHealth, EventFunnel, EventSummary } from "../events/events.js";
import type { Logger } from "../logger.js";
import type { EventLabels } from "./metrics-events.js";

type Summary = EventSummary & { funnel: EventFunnel; health: EventHealth };

export interface FunnelDeps {
  summary: (eventId: string) => Promise<Summary>;
  events: EventLabels;
  log: Logger;
}

/** At most this many events are read at once (each takes a MySQL connection per count). */
const CONCURRENCY = 4;
/** The funnel's share of a scrape (Prometheus' scrape timeout is at most its interval, 5 s here). */
const READ_BUDGET_MS = 2500;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`funnel read took over ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function registerFunnelMetrics(registry: Registry, deps: FunnelDeps): void {
  const readErrors = new Counter({
    name: "ticketing_funnel_read_errors_total",
    help: "Events whose funnel could not be read at a scrape (Redis or MySQL unavailable); their gauges are absent from that scrape.",
    registers: [registry],
    // After this scrape's read, so that it counts that read's failures.
    async collect() {
      await read();
    },
  });

  // One read per scrape, shared by every gauge's collect().
  let reading: Promise<Summary[]> | undefined;
  const read = () =>
    (reading ??= readAll().finally(() => {
      reading = undefined;
    }));

  async function readAll(): Promise<Summary[]> {
    const ids = await deps.events.current();
    const out: Summary[] = [];
    let failed = 0;
    // With Redis or MySQL down every read would wait for its timeouts: a scrape
    // answers within READ_BUDGET_MS whatever happens, without the unread events.
    const deadline = Date.now() + READ_BUDGET_MS;
    for (let i = 0; i < ids.length; i += CONCURRENCY) {
      const left = deadline - Date.now();
      if (left <= 0) {
        failed += ids.length - i;
        break;
      }
      const batch = await Promise.allSettled(
        ids.slice(i, i + CONCURRENCY).map((id) => withTimeout(deps.summary(id), left)),
      );
      for (const r of batch) {
        if (r.status === "fulfilled") out.push(r.value);
        else {
          failed++;
          deps.log.debug({ err: r.reason }, "funnel read failed for an event");
        }
      }
    }
    if (failed > 0) {
      readErrors.inc(failed);
      deps.log.warn({ failed, events: ids.length }, "funnel metrics: some events could not be read");
    }
    return out;
  }

  /** A gauge whose values are all replaced at each scrape from the summaries. */
  function gauge<L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    fill: (s: Summary, set: (labels: Record<L, string>, value: number) => void) => void,
  ) {
    new Gauge<"event_id" | L>({
      name,
      help,
      labelNames: ["event_id", ...labelNames],
      registers: [registry],
      async collect() {
        const summaries = await read();
        this.reset();
        for (const s of summaries)
          fill(s, (labels, value) => this.set({ event_id: s.eventId, ...labels } as never, value));
      },
    });
  }

  gauge(
    "ticketing_event_sale_state",
    "1 for the event's current sale state (SCHEDULED, OPEN, PAUSED, CLOSED).",
    ["state"],
    (s, set) => set({ state: s.saleState }, 1),
  );
  gauge("ticketing_event_capacity", "Seats and general-admission places the event sells.", [], (s, set) =>
    set({}, s.total.capacity),
  );
  gauge(
    "ticketing_queue_buyers",
    "Buyers in the waiting room: pre_queue (joined before it opened, not yet placed), waiting (in line), shopping (admitted, session running). pre_queue + waiting = GetEventSummary's funnel.waiting.",
    ["state"],
    (s, set) => {
      set({ state: "pre_queue" }, s.health.preQueue);
      set({ state: "waiting" }, s.funnel.waiting - s.health.preQueue);
      set({ state: "shopping" }, s.funnel.shopping);
    },
  );
  gauge(
    "ticketing_queue_admission_rate",
    "Admissions per second the waiting room measured over its last window (0 before the first).",
    [],
    (s, set) => set({}, s.health.admissionRate),
  );
  gauge(
    "ticketing_queue_max_shopping",
    "Most buyers shopping at once (the waiting room's setting); 0 when the event has no waiting room.",
    [],
    (s, set) => set({}, s.health.maxShopping),
  );
  gauge(
    "ticketing_seats",
    "Seats (general admission: places) by section and state: free, held, sold.",
    ["section_id", "state"],
    (s, set) => {
      for (const section of s.sections) {
        set({ section_id: section.sectionId, state: "free" }, section.counts.free);
        set({ section_id: section.sectionId, state: "held" }, section.counts.held);
        set({ section_id: section.sectionId, state: "sold" }, section.counts.sold);
      }
    },
  );
  gauge("ticketing_seats_capacity", "Seats (general admission: capacity) by section.", ["section_id"], (s, set) => {
    for (const section of s.sections) set({ section_id: section.sectionId }, section.counts.capacity);
  });
  gauge("ticketing_holds_active", "Holds not ended yet (active, or pinned by a checkout).", [], (s, set) =>
    set({}, s.funnel.activeHolds),
  );
  gauge(
    "ticketing_holds_expired_unreclaimed",
    "Holds past their expiry that the sweeper has not reclaimed yet (their seats already read as free).",
    [],
    (s, set) => set({}, s.health.expiredHolds),
  );
  gauge(
    "ticketing_orders",
    "Orders by state: pending, confirmed, failed, cancelled, refunded.",
    ["state"],
    (s, set) => {
      set({ state: "pending" }, s.funnel.ordersPending);
      set({ state: "confirmed" }, s.funnel.ordersConfirmed);
      set({ state: "failed" }, s.funnel.ordersFailed);
      set({ state: "cancelled" }, s.funnel.ordersCancelled);
      set({ state: "refunded" }, s.funnel.ordersRefunded);
    },
  );
  gauge(
    "ticketing_tickets",
    "Tickets issued and not revoked (valid), and of those checked in (checked_in).",
    ["state"],
    (s, set) => {
      set({ state: "valid" }, s.funnel.ticketsValid);
      set({ state: "checked_in" }, s.funnel.ticketsCheckedIn);
    },
  );
  gauge(
    "ticketing_seats_sold_mysql",
    "Seats and places MySQL says are sold (the source of truth); above ticketing_event_capacity means an oversell.",
    [],
    (s, set) => set({}, s.health.soldSeatsInMysql),
  );
  gauge("ticketing_payments_authorized", "Payments authorized and neither captured nor voided yet.", [], (s, set) =>
    set({}, s.health.paymentsAuthorized),
  );
  gauge(
    "ticketing_payments_authorized_oldest_seconds",
    "Age of the oldest payment authorized and neither captured nor voided yet (0 when none).",
    [],
    (s, set) => set({}, s.health.oldestAuthorizedSeconds),
  );
}
