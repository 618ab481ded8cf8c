// Runs one scenario against a running API: creates the event, lets the
// pre-queue join, opens the sale, releases the rest of the buyers on the
// arrival curve, and waits for every journey (bounded by run.maxSeconds).
import { setMaxListeners } from "node:events";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { type Event, SaleState } from "../../src/gen/ticketing/v1/event_service.js";
import { Bot, Buyer, type BuyerRecord, type SimContext } from "./buyers.js";
import { Clients } from "./clients.js";
import { Progress } from "./display.js";
import type { LocalIssuer } from "../../src/identity/local-issuer.js";
import { FaultInjector, type FaultTargets } from "./faults.js";
import { Metrics } from "./metrics.js";
import { capacityOf, type Scenario } from "./scenario.js";
import { LiveSeatMap } from "./seatmap.js";
import { reservedPlan } from "./venue-plan.js";

export interface Target {
  /** host:port of the API */
  address: string;
  /** Signs the buyers' and the operator's tokens (the API verifies them with its JWKS). */
  issuer: LocalIssuer;
}

export interface SimResult {
  scenario: Scenario;
  runId: string;
  eventId: string;
  event: Event;
  records: BuyerRecord[];
  metrics: Metrics;
  /** Wall-clock ms */
  startedMs: number;
  openedMs: number;
  endedMs: number;
  /** SHA-256 of the pre-queue seed as GetEvent showed it before the open. */
  seedHashBeforeOpen: string;
  /** Journeys still running when the driver gave up on them. */
  unfinished: number;
  stoppedAtMaxSeconds: boolean;
}

export interface RunOptions {
  target: Target;
  scenario: Scenario;
  /** Progress output; quiet: sample only. */
  out?: { write(s: string): unknown; isTTY?: boolean };
  quiet?: boolean;
  /** Seeded randomness (default Math.random). */
  rnd?: () => number;
  eventId?: string;
  log?: (msg: string) => void;
  /** What the scenario's faults act on; required when it has any. */
  faultTargets?: FaultTargets;
  /** The event's current admission rate (from the live state), sampled into the timeline every second. */
  admissionRate?: (eventId: string) => Promise<number | undefined>;
}

/** mulberry32: a small seeded PRNG, so a scenario's choices can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function buildEvent(s: Scenario, eventId: string): Event {
  return {
    eventId,
    name: `Simulated on-sale: ${s.name}`,
    venue: "Simulator Arena",
    saleState: SaleState.SALE_STATE_UNSPECIFIED,
    holdPolicy: {
      ttlSeconds: s.event.holdTtlSeconds,
      maxExtensions: 1,
      maxLifetimeSeconds: Math.min(7200, s.event.holdTtlSeconds * 2),
    },
    maxTicketsPerBuyer: s.event.maxTicketsPerBuyer,
    waitingRoom: {
      ...s.event.waitingRoom,
      adaptive: s.event.waitingRoom.adaptive && { enabled: true, ...s.event.waitingRoom.adaptive },
      shuffleSeedSha256: "",
    },
    currencyCode: s.event.currencyCode,
    priceCategories: s.event.sections.map((sec) => ({
      priceCategoryId: `p_${sec.id}`,
      name: sec.name ?? sec.id,
      priceMinor: String(sec.priceMinor),
    })),
    sections: s.event.sections.map((sec) => {
      // The seat plan, where the scenario gives one: each row's line or arc and the section's outline.
      const plan = sec.reserved?.plan && reservedPlan(sec.reserved.plan, sec.reserved.rows, sec.reserved.seatsPerRow);
      return {
        sectionId: sec.id,
        name: sec.name ?? sec.id,
        layout: sec.reserved
          ? {
              $case: "reserved" as const,
              value: {
                rows: Array.from({ length: sec.reserved.rows }, (_, i) => ({
                  rowId: String(i + 1),
                  firstSeatNumber: 1,
                  seatCount: sec.reserved!.seatsPerRow,
                  priceCategoryId: `p_${sec.id}`,
                  ...(plan ? { placement: { position: plan.positions[i], seats: [] } } : {}),
                })),
              },
            }
          : {
              $case: "generalAdmission" as const,
              value: {
                capacity: sec.generalAdmission!.capacity,
                priceCategoryId: `p_${sec.id}`,
                ...(sec.generalAdmission?.area ? { area: sec.generalAdmission.area } : {}),
              },
            },
        ...(plan ? { outline: { points: plan.outline } } : {}),
      };
    }),
    capacity: 0,
    currencyMinorDigits: 0,
    refundCutoffSeconds: 0,
  };
}

/** Arrival offsets (ms from the open), sorted; pre-queue offsets are negative. */
export function arrivalSchedule(s: Scenario, rnd: () => number): number[] {
  const a = s.arrival;
  const pre = s.event.waitingRoom.enabled ? Math.round(s.buyers * a.preQueueShare) : 0;
  const out: number[] = [];
  for (let i = 0; i < pre; i++) out.push(-(0.05 + rnd() * 0.95) * a.preQueueSeconds * 1000 - 1);
  const S = a.spikeSeconds;
  const tau = a.spikeDecaySeconds;
  const mass = 1 - Math.exp(-S / tau);
  for (let i = pre; i < s.buyers; i++) out.push(S <= 0 ? 0 : -tau * Math.log(1 - rnd() * mass) * 1000);
  return out.sort((x, y) => x - y);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** CreateEvent (the operator's call), then the shuffle seed's hash before the open when the waiting room is on. */
async function createEvent(
  clients: Clients,
  s: Scenario,
  eventId: string,
  cap: ReturnType<typeof capacityOf>,
  log: (m: string) => void,
): Promise<{ event: Event; seedHashBeforeOpen: string }> {
  const ev = clients.sets[0]!.events;
  const created = await clients.call(
    "CreateEvent",
    ev,
    ev.createEvent,
    { requestId: `create-${eventId}`.slice(0, 64), event: buildEvent(s, eventId) },
    clients.operator,
    300_000,
  );
  const event = created.event!;
  log(
    `event ${eventId}: ${cap.total.toLocaleString("en-US")} places (${cap.reserved.toLocaleString("en-US")} reserved, GA ${JSON.stringify(cap.ga)}), ` +
      `waiting room ${s.event.waitingRoom.enabled ? `on (${s.event.waitingRoom.admissionsPerSecond}/s, ${s.event.waitingRoom.maxShopping} shopping)` : "off"}, ` +
      `${s.buyers.toLocaleString("en-US")} buyers`,
  );
  let seedHashBeforeOpen = "";
  if (s.event.waitingRoom.enabled) {
    const got = await clients.call("GetEvent", ev, ev.getEvent, { eventId });
    seedHashBeforeOpen = got.event?.waitingRoom?.shuffleSeedSha256 ?? "";
  }
  return { event, seedHashBeforeOpen };
}

/** One record per scheduled arrival; every (1/bots.share)-th buyer is a bot. */
function buyerRecords(s: Scenario, schedule: number[], runId: string): BuyerRecord[] {
  const botEvery = s.bots.share > 0 ? 1 / s.bots.share : Infinity;
  const records: BuyerRecord[] = schedule.map((t, i) => ({
    id: `${runId}-${Number.isFinite(botEvery) && i % Math.round(botEvery) === Math.round(botEvery) - 1 ? "bot" : "b"}${i}`,
    bot: false,
    scheduledMs: Math.round(t),
    joins: 0,
    holdIds: [],
    orders: [],
  }));
  for (const r of records) r.bot = r.id.includes("-bot");
  return records;
}

/** CloseSale (the operator's call); a failure is logged, not thrown. */
async function closeSaleOf(clients: Clients, eventId: string, log: (m: string) => void): Promise<void> {
  const ev = clients.sets[0]!.events;
  try {
    await clients.call(
      "CloseSale",
      ev,
      ev.closeSale,
      { eventId, requestId: `close-${eventId}`.slice(0, 64) },
      clients.operator,
    );
  } catch (err) {
    log(`CloseSale failed: ${(err as Error).message}`);
  }
}

/** Stops the journeys still running: the sale closed, the buyers told to stop, then aborted; each wait bounded. */
async function stopJourneys(o: {
  s: Scenario;
  ctx: SimContext;
  stop: AbortController;
  closeSale: () => Promise<void>;
  pending: () => number;
}): Promise<void> {
  o.ctx.stopping = true;
  await o.closeSale();
  const until = Date.now() + 10_000;
  while (o.pending() > 0 && Date.now() < until) await sleep(100);
  o.stop.abort();
  const hard = Date.now() + (o.s.run.settleSeconds + 30) * 1000;
  while (o.pending() > 0 && Date.now() < hard) await sleep(100);
}

export async function runSimulation(o: RunOptions): Promise<SimResult> {
  const s = o.scenario;
  const log = o.log ?? ((m: string) => process.stderr.write(`[sim] ${m}\n`));
  const rnd = o.rnd ?? Math.random;
  const runId = Date.now().toString(36) + Math.floor(rnd() * 1296).toString(36);
  const eventId = o.eventId ?? `sim-${s.name}-${runId}`.slice(0, 64);
  const metrics = new Metrics();
  const clients = new Clients(
    o.target.address,
    s.run.channels,
    o.target.issuer,
    metrics,
    s.run.callDeadlineMs,
    s.run.unavailableRetrySeconds * 1000,
  );
  const startedMs = Date.now();
  const cap = capacityOf(s);
  const progress = new Progress(metrics, o.out ?? process.stderr, startedMs, o.quiet);
  let seatMap: LiveSeatMap | undefined;
  const faults = new FaultInjector(s.faults, o.faultTargets ?? { storePids: {} }, metrics, log);
  const cannot = faults.check();
  if (cannot.length > 0) throw new Error(`the scenario's faults cannot be injected here:\n  ${cannot.join("\n  ")}`);
  const loop = monitorEventLoopDelay({ resolution: 20 });
  const rateSampler = o.admissionRate
    ? setInterval(() => {
        o.admissionRate!(eventId).then(
          (rate) => (metrics.admissionRate = rate),
          () => undefined,
        );
      }, 1000)
    : undefined;
  loop.enable();
  try {
    // --- the event
    const ev = clients.sets[0]!.events;
    const { event, seedHashBeforeOpen } = await createEvent(clients, s, eventId, cap, log);
    if (s.buyer.choice.seats > 0) {
      seatMap = new LiveSeatMap(clients, eventId);
    }

    const stop = new AbortController();
    setMaxListeners(0, stop.signal);
    let pending = 0;
    let startsInFlight = 0;
    const ctx: SimContext = {
      s,
      clients,
      metrics,
      eventId,
      event,
      waitingRoom: s.event.waitingRoom.enabled,
      seatMap,
      gaSections: Object.entries(cap.ga).map(([id, capacity]) => ({ id, capacity })),
      stopping: false,
      stopSignal: stop.signal,
      rnd,
      onStarted: () => startsInFlight--,
    };

    // --- arrivals
    const schedule = arrivalSchedule(s, rnd);
    const records = buyerRecords(s, schedule, runId);
    const preQueueMs = schedule.length > 0 && schedule[0]! < 0 ? -schedule[0]! + 300 : 0;
    const openedMs = Date.now() + preQueueMs;
    progress.setPhase(preQueueMs > 0 ? "pre-queue" : "");
    progress.start();

    const journeys: Promise<void>[] = [];
    let opened = false;
    const open = async () => {
      await clients.call(
        "OpenSale",
        ev,
        ev.openSale,
        { eventId, requestId: `open-${eventId}`.slice(0, 64) },
        clients.operator,
      );
      opened = true;
      faults.start(openedMs, eventId);
      progress.setPhase("");
      log(
        `sale open (${preQueueMs > 0 ? `${records.filter((r) => r.scheduledMs < 0).length.toLocaleString("en-US")} buyers scheduled before it` : "no pre-queue"})`,
      );
      if (seatMap) await seatMap.start();
    };
    if (preQueueMs === 0) await open();

    let next = 0;
    const maxInFlight = s.arrival.maxStartsInFlight;
    while (next < records.length) {
      const now = Date.now();
      if (!opened && now >= openedMs) await open();
      while (next < records.length && startsInFlight < maxInFlight) {
        const r = records[next]!;
        const due = openedMs + r.scheduledMs;
        if (due > Date.now()) break;
        if (r.scheduledMs >= 0 && !opened) break;
        metrics.arrivalLag.record(Date.now() - due);
        startsInFlight++;
        pending++;
        const j = (r.bot ? new Bot(ctx, r) : new Buyer(ctx, r)).run().finally(() => pending--);
        journeys.push(j);
        next++;
      }
      if (Date.now() - openedMs > s.run.maxSeconds * 1000) break;
      await sleep(5);
    }
    if (!opened) await open();
    log(
      `all ${next.toLocaleString("en-US")} arrivals started ${((Date.now() - openedMs) / 1000).toFixed(1)} s after the open`,
    );

    // --- wait for the journeys, bounded
    let stoppedAtMaxSeconds = false;
    while (pending > 0 && Date.now() - openedMs < s.run.maxSeconds * 1000) await sleep(100);
    // Faults not yet due are dropped; one under way finishes (the app back up, the store thawed).
    await faults.stop();
    const closeSale = () => closeSaleOf(clients, eventId, log);
    if (pending > 0) {
      stoppedAtMaxSeconds = true;
      log(
        `run.maxSeconds (${s.run.maxSeconds} s) reached with ${pending} journeys running: closing the sale, stopping the buyers`,
      );
      progress.setPhase("stopping");
      await stopJourneys({ s, ctx, stop, closeSale, pending: () => pending });
    } else if (s.run.closeSaleAtEnd) {
      await closeSale();
    }
    // arrivals never started (the run hit maxSeconds before their turn)
    for (let i = next; i < records.length; i++) {
      records[i]!.outcome = "never-arrived";
      metrics.outcome("never-arrived");
    }
    const unfinished = pending;
    progress.stop();
    return {
      scenario: s,
      runId,
      eventId,
      event,
      records,
      metrics,
      startedMs,
      openedMs,
      endedMs: Date.now(),
      seedHashBeforeOpen,
      unfinished,
      stoppedAtMaxSeconds,
    };
  } finally {
    await faults.stop();
    clearInterval(rateSampler);
    loop.disable();
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    metrics.loopDelayMs = { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) };
    progress.stop();
    seatMap?.stop();
    clients.close();
  }
}
