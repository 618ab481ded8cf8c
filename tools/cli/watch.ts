// watch EVENT_ID: the funnel of an on-sale, refreshed in place. Counts come
// from GetEventSummary every --interval; seats held per second from the
// WatchSeatMap stream (every seat that turns held, and general-admission held
// counts going up); orders per second from the summary's order counts; the
// holds' p99 from the API's Prometheus /metrics when --metrics names it.
import { common, status, type events, type ServiceError } from "../../clients/typescript/src/index.js";
import { intOption, positional, table, unary, UsageError, type Command } from "./common.js";
import { saleState } from "./events.js";

interface Sample {
  atMs: number;
  summary: events.GetEventSummaryResponse;
  seatsHeld: number;
  orders: number;
  holdBuckets: Map<number, number> | undefined;
}

export interface Frame {
  eventId: string;
  saleState: string;
  waiting: number;
  shopping: number;
  admittedPerSecond: number;
  seatsHeldPerSecond: number | null;
  ordersPerSecond: number | null;
  holdP99Ms: number | null;
  activeHolds: number;
  orders: { pending: number; confirmed: number; failed: number; cancelled: number; refunded: number };
  seats: { capacity: number; free: number; held: number; sold: number };
  sections: { sectionId: string; capacity: number; free: number; held: number; sold: number }[];
}

const HOLD_METHODS = new Set(["HoldSeats", "HoldBestAvailable"]);

/** Cumulative HoldSeats + HoldBestAvailable latency buckets (le seconds -> count) from Prometheus text. */
export function holdBuckets(text: string): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const line of text.split("\n")) {
    const m = /^grpc_server_handling_seconds_bucket\{([^}]*)\} (\S+)/.exec(line);
    if (!m) continue;
    const method = /grpc_method="([^"]*)"/.exec(m[1]!)?.[1];
    const le = /le="([^"]*)"/.exec(m[1]!)?.[1];
    if (!method || !HOLD_METHODS.has(method) || !le) continue;
    const bound = le === "+Inf" ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(m[2]));
  }
  return buckets;
}

/** The p99 between two cumulative bucket sets (upper bound of the bucket it falls in), in ms; null without calls. */
export function p99Between(before: Map<number, number> | undefined, after: Map<number, number>): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const delta = bounds.map((b) => (after.get(b) ?? 0) - (before?.get(b) ?? 0));
  const total = delta[delta.length - 1] ?? 0;
  if (total <= 0) return null;
  const i = delta.findIndex((n) => n >= total * 0.99);
  return bounds[i] === Infinity ? Infinity : bounds[i]! * 1000;
}

function frameOf(prev: Sample, cur: Sample): Frame {
  const s = cur.summary;
  const f = s.funnel!;
  const seconds = (cur.atMs - prev.atMs) / 1000;
  const rate = (a: number, b: number) => (seconds > 0 ? Math.max(0, b - a) / seconds : null);
  const counts = (c: events.SectionSummary["counts"]) => ({
    capacity: c?.capacity ?? 0,
    free: c?.free ?? 0,
    held: c?.held ?? 0,
    sold: c?.sold ?? 0,
  });
  return {
    eventId: s.eventId,
    saleState: saleState(s.saleState),
    waiting: f.waiting,
    shopping: f.shopping,
    admittedPerSecond: f.admissionsPerSecond,
    seatsHeldPerSecond: rate(prev.seatsHeld, cur.seatsHeld),
    ordersPerSecond: rate(prev.orders, cur.orders),
    holdP99Ms: cur.holdBuckets ? p99Between(prev.holdBuckets, cur.holdBuckets) : null,
    activeHolds: f.activeHolds,
    orders: {
      pending: f.ordersPending,
      confirmed: f.ordersConfirmed,
      failed: f.ordersFailed,
      cancelled: f.ordersCancelled,
      refunded: f.ordersRefunded,
    },
    seats: counts(s.total),
    sections: s.sections.map((x) => ({ sectionId: x.sectionId, ...counts(x.counts) })),
  };
}

const num = (n: number | null, digits = 1) => (n === null ? "-" : n === Infinity ? "> 10 s" : n.toFixed(digits));

export function renderFrame(fr: Frame, at: Date): string {
  const pct = fr.seats.capacity > 0 ? Math.round((100 * fr.seats.free) / fr.seats.capacity) : 0;
  const head = [
    `${fr.eventId}  sale ${fr.saleState}  ${at.toISOString().slice(11, 19)}Z`,
    "",
    table(
      ["waiting", "shopping", "admitted/s", "seats held/s", "orders/s", "hold p99 ms", "active holds"],
      [
        [
          fr.waiting,
          fr.shopping,
          num(fr.admittedPerSecond),
          num(fr.seatsHeldPerSecond),
          num(fr.ordersPerSecond),
          num(fr.holdP99Ms, 1),
          fr.activeHolds,
        ],
      ],
    ),
    `orders: ${fr.orders.confirmed} confirmed, ${fr.orders.pending} paying, ${fr.orders.failed} failed, ` +
      `${fr.orders.cancelled} cancelled, ${fr.orders.refunded} refunded`,
    `seats left: ${fr.seats.free} of ${fr.seats.capacity} (${pct} %), ${fr.seats.held} held, ${fr.seats.sold} sold`,
    "",
  ];
  return (
    head.join("\n") +
    table(
      ["section", "left", "held", "sold", "capacity"],
      fr.sections.map((s) => [s.sectionId, s.free, s.held, s.sold, s.capacity]),
    )
  );
}

const watch: Command = {
  name: "watch",
  args: "EVENT_ID [--interval SECONDS] [--metrics URL] [--once]",
  summary: "a live view of the on-sale's funnel, refreshed in place",
  help: `--interval SECONDS  refresh this often (default 1); rates are over the last interval
--metrics URL       the API's Prometheus endpoint (e.g. http://127.0.0.1:9464/metrics)
                    for the holds' p99; without it p99 shows "-"
--once              print one frame (rates over one interval) and exit
With --json, each frame is one line of JSON. Ctrl-C ends it.`,
  options: { interval: { type: "string" }, metrics: { type: "string" }, once: { type: "boolean" } },
  positionals: 1,
  async run(ctx) {
    const eventId = positional(ctx, 0, "EVENT_ID");
    const intervalMs = (intOption(ctx, "interval") ?? 1) * 1000;
    if (intervalMs <= 0) throw new UsageError("--interval must be at least 1");
    const metricsUrl = ctx.values.metrics as string | undefined;
    const api = ctx.api().events;

    let seatsHeld = 0;
    const gaHeld = new Map<string, number>();
    const stream = api.watchSeatMap({ eventId });
    let streamError: ServiceError | undefined;
    stream.on("data", (m: events.WatchSeatMapResponse) => {
      const u = m.update;
      if (u?.$case === "snapshot") {
        for (const s of u.value.sections) if (s.rows.length === 0) gaHeld.set(s.sectionId, s.counts?.held ?? 0);
      } else if (u?.$case === "delta") {
        seatsHeld += u.value.seats.filter((c) => c.state === common.SeatState.SEAT_STATE_HELD).length;
        for (const s of u.value.sections) {
          const held = s.counts?.held ?? 0;
          seatsHeld += Math.max(0, held - (gaHeld.get(s.sectionId) ?? held));
          gaHeld.set(s.sectionId, held);
        }
      }
    });
    stream.on("error", (err: ServiceError) => {
      if (err.code !== status.CANCELLED) streamError = err; // cancelled: by us, at the end
    });

    const sample = async (): Promise<Sample> => {
      const [summary, holdText] = await Promise.all([
        unary(api, "getEventSummary", { eventId }),
        metricsUrl ? fetch(metricsUrl).then((r) => r.text()) : Promise.resolve(undefined),
      ]);
      if (streamError) throw streamError;
      const f = summary.funnel!;
      return {
        atMs: Date.now(),
        summary,
        seatsHeld,
        orders: f.ordersPending + f.ordersConfirmed + f.ordersFailed + f.ordersCancelled + f.ordersRefunded,
        holdBuckets: holdText === undefined ? undefined : holdBuckets(holdText),
      };
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const show = (frame: Frame, first: boolean) => {
      if (ctx.json) return ctx.out(JSON.stringify(frame) + "\n");
      const text = renderFrame(frame, new Date());
      // In place on a terminal: home, then clear to the end; plain frames otherwise.
      ctx.out(process.stdout.isTTY && !ctx.values.once ? `${first ? "\x1b[2J" : ""}\x1b[H${text}\x1b[J` : text);
    };

    try {
      let prev = await sample();
      for (let first = true; ; first = false) {
        await sleep(intervalMs);
        const cur = await sample();
        show(frameOf(prev, cur), first);
        if (ctx.values.once) return;
        prev = cur;
      }
    } finally {
      stream.cancel();
    }
  },
};

export const watchCommands: Command[] = [watch];
