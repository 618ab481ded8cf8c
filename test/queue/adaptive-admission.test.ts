// Adaptive admission (AIMD) through real servers: its settings' validation at
// CreateEvent and UpdateWaitingRoom; a healthy event's rate raised step by
// step up to its most; a breached holds p99 (fed into the signals every
// process publishes) cutting it by the factor down to its least; the signals
// real holds publish; and an event without it, whose rate never moves while
// the controller decides for another one beside it.
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventKeys, queueKeys } from "../../src/adapters/redis/keys.js";
import { SaleState, type AdaptiveAdmission, type Event } from "../../src/gen/ticketing/v1/event_service.js";
import { bucketOf, p99Ms, LATENCY_BOUNDS_MS } from "../../src/queue/admission-signals.js";
import { decideRate } from "../../src/queue/adaptive-admission.js";
import { call, callError, startTestApp, uid, type TestApp } from "../support/app.js";
import { ownRedisForThisFile } from "../redis/queue-fixture.js";
import { scrape } from "../observability/prom-text.js";

ownRedisForThisFile();

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ QUEUE_TICK_MS: "50", QUEUE_POSITION_LIMIT: "0", QUEUE_JOIN_LIMIT: "0" });
});
afterAll(async () => {
  await t?.stop();
});

/** Zero fields take their defaults; the wire needs each one set. */
const ZERO: AdaptiveAdmission = {
  enabled: true,
  minAdmissionsPerSecond: 0,
  maxAdmissionsPerSecond: 0,
  stepPerInterval: 0,
  cutFactor: 0,
  intervalSeconds: 0,
  targetHoldP99Ms: 0,
  targetCheckoutBacklog: 0,
  targetErrorRatio: 0,
};

const LENIENT: Partial<AdaptiveAdmission> = {
  targetHoldP99Ms: 60_000,
  targetCheckoutBacklog: 1_000_000,
  targetErrorRatio: 1,
};

function eventWith(rate: number, adaptive?: Partial<AdaptiveAdmission>): Event {
  return {
    eventId: uid("ev"),
    name: "Adaptive admission",
    venue: "Hall",
    startTime: undefined,
    saleOpenTime: undefined,
    saleCloseTime: undefined,
    saleState: SaleState.SALE_STATE_UNSPECIFIED,
    holdPolicy: undefined,
    maxTicketsPerBuyer: 4,
    waitingRoom: {
      enabled: true,
      admissionsPerSecond: rate,
      maxShopping: 1000,
      sessionSeconds: 600,
      shuffleSeedSha256: "",
      adaptive: adaptive && { ...ZERO, ...adaptive },
    },
    currencyCode: "EUR",
    priceCategories: [{ priceCategoryId: "std", name: "Standard", priceMinor: "4500" }],
    sections: [
      {
        sectionId: "A",
        name: "Stalls",
        layout: {
          $case: "reserved",
          value: { rows: [{ rowId: "1", seatCount: 50, priceCategoryId: "std", firstSeatNumber: 1 }] },
        },
      },
    ],
    capacity: 0,
    currencyMinorDigits: 0,
    refundCutoffSeconds: 0,
    createTime: undefined,
  };
}

/** Publishes, for each of the next seconds, `holds` holds that took about `ms` each, as every process would. */
async function feedHolds(eventId: string, seconds: number, holds: number, ms: number): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  for (let s = now - 2; s < now + seconds; s++) {
    const key = queueKeys(eventId).signals(s);
    await t.app.redis.del(key);
    await t.app.redis.hset(key, "n", holds, "c", holds, `h${bucketOf(ms)}`, holds);
    await t.app.redis.pexpire(key, 120_000);
  }
}

/** Creates the event, opens its sale and has a buyer join, so every API process steps (and controls) it. */
async function openWithBuyer(event: Event): Promise<string> {
  const { event: created } = await call(t.events, t.events.createEvent, { requestId: uid("r"), event }, t.operator);
  const eventId = created!.eventId;
  await call(t.events, t.events.openSale, { eventId, requestId: uid("r") }, t.operator);
  await call(t.queue, t.queue.joinQueue, { eventId, buyerId: uid("b"), requestId: uid("r") });
  return eventId;
}

const liveRate = async (eventId: string) => Number(await t.app.redis.hget(eventKeys(eventId).meta, "wr_rate"));

/** Follows the live rate until `done` says so; returns every distinct value seen, in order. */
async function followRate(eventId: string, done: (rates: number[]) => boolean, ms = 40_000): Promise<number[]> {
  const rates: number[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const rate = await liveRate(eventId);
    if (rates[rates.length - 1] !== rate) rates.push(rate);
    if (done(rates)) return rates;
    if (Date.now() > deadline) throw new Error(`rate never got there; saw ${rates.join(" → ")}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("adaptive admission's rule", () => {
  const a = {
    enabled: true,
    minAdmissionsPerSecond: 5,
    maxAdmissionsPerSecond: 30,
    stepPerInterval: 4,
    cutFactor: 0.5,
    intervalSeconds: 1,
    targetHoldP99Ms: 100,
    targetCheckoutBacklog: 10,
    targetErrorRatio: 0.05,
  };
  const healthy = { holdP99Ms: 50, holds: 100, checkoutBacklog: 3, errorRatio: 0, calls: 100 };

  it("adds the step while every signal is under target, multiplies by the factor when any is over", () => {
    expect(decideRate(a, 10, healthy)).toEqual({ from: 10, to: 14, reasons: ["healthy"] });
    expect(decideRate(a, 28, healthy).to).toBe(30);
    expect(decideRate(a, 20, { ...healthy, holdP99Ms: 101 })).toEqual({ from: 20, to: 10, reasons: ["hold_p99"] });
    expect(decideRate(a, 20, { ...healthy, checkoutBacklog: 11, errorRatio: 0.2 }).reasons).toEqual([
      "checkout_backlog",
      "error_ratio",
    ]);
    expect(decideRate(a, 8, { ...healthy, errorRatio: 0.06 }).to).toBe(5);
    // No hold at all in the interval: no evidence for more, the rate stays (a breach still cuts).
    expect(decideRate(a, 10, { ...healthy, holds: 0, holdP99Ms: 0 })).toEqual({ from: 10, to: 10, reasons: ["idle"] });
    expect(decideRate(a, 10, { ...healthy, holds: 0, holdP99Ms: 0, checkoutBacklog: 11 }).to).toBe(5);
  });

  it("reads the p99 from the histogram of every process's holds", () => {
    const buckets = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
    buckets[bucketOf(3)] = 98;
    buckets[bucketOf(900)] = 2;
    const p99 = p99Ms({ holds: 100, buckets, calls: 100, failed: 0 });
    expect(p99).toBeGreaterThan(750);
    expect(p99).toBeLessThanOrEqual(1000);
    expect(p99Ms({ holds: 0, buckets: buckets.map(() => 0), calls: 0, failed: 0 })).toBe(0);
  });
});

describe("adaptive admission", () => {
  it("validates its settings at CreateEvent and UpdateWaitingRoom, naming every bad field", async () => {
    const bad = await callError(
      t.events,
      t.events.createEvent,
      {
        requestId: uid("r"),
        event: eventWith(50, {
          minAdmissionsPerSecond: 60,
          maxAdmissionsPerSecond: 100,
          cutFactor: 1.5,
          intervalSeconds: 61,
          targetErrorRatio: 2,
        }),
      },
      t.operator,
    );
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.errorInfo?.reason).toBe("VALIDATION_FAILED");
    const p = "event.waiting_room.adaptive";
    expect(bad.badRequest!.fieldViolations.map((v) => v.field).sort()).toEqual([
      `${p}.cut_factor`,
      `${p}.interval_seconds`,
      `${p}.min_admissions_per_second`,
      `${p}.target_error_ratio`,
    ]);

    // Off by default: no adaptive block comes back.
    const { event: plain } = await call(
      t.events,
      t.events.createEvent,
      { requestId: uid("r"), event: eventWith(50) },
      t.operator,
    );
    expect(plain!.waitingRoom!.adaptive).toBeUndefined();
    const eventId = plain!.eventId;
    const update = (fields: object) =>
      callError(t.events, t.events.updateWaitingRoom, { eventId, requestId: uid("r"), ...fields }, t.operator);
    const minOverMax = await update({
      adaptive: { ...ZERO, minAdmissionsPerSecond: 20, maxAdmissionsPerSecond: 10 },
    });
    expect(minOverMax.code).toBe(status.INVALID_ARGUMENT);
    expect(minOverMax.badRequest!.fieldViolations.map((v) => v.field)).toEqual(["adaptive.max_admissions_per_second"]);

    // Turned on live, with defaults for the fields left zero; then a fixed rate outside its bounds is refused.
    const { event: on } = await call(
      t.events,
      t.events.updateWaitingRoom,
      { eventId, requestId: uid("r"), adaptive: { ...ZERO, maxAdmissionsPerSecond: 80 } },
      t.operator,
    );
    expect(on!.waitingRoom!.adaptive).toMatchObject({
      enabled: true,
      minAdmissionsPerSecond: 1,
      maxAdmissionsPerSecond: 80,
      stepPerInterval: 5,
      cutFactor: 0.5,
      intervalSeconds: 5,
    });
    const outside = await update({ admissionsPerSecond: 81 });
    expect(outside.badRequest!.fieldViolations.map((v) => v.field)).toEqual(["admissions_per_second"]);
    // MySQL keeps it: GetEvent reads it back.
    const { event: read } = await call(t.events, t.events.getEvent, { eventId }, t.operator);
    expect(read!.waitingRoom!.adaptive?.maxAdmissionsPerSecond).toBe(80);
  });

  it("raises a healthy event's rate step by step up to its most, and says so in the metrics", async () => {
    const settings = {
      ...LENIENT,
      minAdmissionsPerSecond: 1,
      maxAdmissionsPerSecond: 13,
      stepPerInterval: 4,
      intervalSeconds: 1,
    };
    const event = eventWith(5, settings);
    // Quick holds for the next seconds: an interval without any hold leaves the rate where it is.
    await feedHolds(event.eventId, 30, 50, 3);
    const idle = await openWithBuyer(eventWith(5, settings));
    const eventId = await openWithBuyer(event);
    const rates = await followRate(eventId, (r) => r[r.length - 1] === 13);
    expect(rates).toEqual([5, 9, 13]);
    // Decided over the same seconds, the room nobody held in kept its rate.
    expect(await liveRate(idle)).toBe(5);

    const { text } = await scrape(t.app.metricsPort!);
    expect(text).toMatch(new RegExp(`ticketing_admission_rate\\{event_id="${eventId}"\\} 13`));
    expect(text).toMatch(
      new RegExp(`ticketing_admission_rate_changes_total\\{event_id="${eventId}",direction="up",reason="healthy"\\} 2`),
    );
  });

  it("cuts the rate by the factor while the holds' p99 is over its target, down to its least", async () => {
    const event = eventWith(40, {
      minAdmissionsPerSecond: 5,
      maxAdmissionsPerSecond: 100,
      stepPerInterval: 5,
      cutFactor: 0.5,
      intervalSeconds: 1,
      targetHoldP99Ms: 50,
      targetCheckoutBacklog: 1000,
      targetErrorRatio: 1,
    });
    // Every process's holds took about a second, for the next several seconds (as the processes publish them).
    await feedHolds(event.eventId, 12, 100, 1000);
    const eventId = await openWithBuyer(event);
    const rates = await followRate(eventId, (r) => r[r.length - 1] === 5);
    expect(rates).toEqual([40, 20, 10, 5]);
    // Holds are quick again: the rate grows by the step.
    await feedHolds(eventId, 30, 50, 3);
    await followRate(eventId, (r) => r[r.length - 1] === 10);
    const { text } = await scrape(t.app.metricsPort!);
    expect(text).toMatch(
      new RegExp(
        `ticketing_admission_rate_changes_total\\{event_id="${eventId}",direction="down",reason="hold_p99"\\} 3`,
      ),
    );
  });

  it("publishes real holds' times and outcomes event-wide, and never moves a rate it does not control", async () => {
    const fixed = await openWithBuyer(eventWith(7));
    const adaptiveEvent = eventWith(5, {
      ...LENIENT,
      minAdmissionsPerSecond: 1,
      maxAdmissionsPerSecond: 17,
      stepPerInterval: 4,
      intervalSeconds: 1,
    });
    await feedHolds(adaptiveEvent.eventId, 30, 50, 3);
    const adaptive = await openWithBuyer(adaptiveEvent);
    // A hold without an admission token: refused, but handled, so it counts.
    const since = Math.floor(Date.now() / 1000);
    const refused = await callError(t.reservations, t.reservations.holdSeats, {
      eventId: fixed,
      buyerId: "b1",
      requestId: uid("r"),
      admissionToken: "",
      selection: { $case: "seats", value: { seatIds: ["A-1-1"] } },
    });
    expect(refused.errorInfo?.reason).toBe("ADMISSION_TOKEN_MISSING");
    const published = await followPublished(fixed, since);
    expect(published).toMatchObject({ n: "1", c: "1" });
    expect(published.e).toBeUndefined();

    // The controller decides the adaptive event's rate interval after interval...
    await followRate(adaptive, (r) => r[r.length - 1] === 17);
    // ...and the fixed one's stayed as set, with no interval ever leased for it.
    expect(await liveRate(fixed)).toBe(7);
    expect(await t.app.redis.exists(queueKeys(fixed).controlLease)).toBe(0);
  });
});

/** The first published second from `since` on that has the event's signals in it. */
async function followPublished(eventId: string, since: number): Promise<Record<string, string>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    for (let s = since; s <= Math.floor(Date.now() / 1000); s++) {
      const h = await t.app.redis.hgetall(queueKeys(eventId).signals(s));
      if (Object.keys(h).length > 0) return h;
    }
    if (Date.now() > deadline) throw new Error("no signals published");
    await new Promise((r) => setTimeout(r, 50));
  }
}
