// UpdateWaitingRoom through real servers: validation, rights, persistence, a
// rate changed mid-sale (measured from the admission times Redis recorded),
// and a second instance whose cached layout still has the old settings
// admitting by the new ones from its next step.
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queueKeys } from "../../src/adapters/redis/keys.js";
import { SaleState, type Event } from "../../src/gen/ticketing/v1/event_service.js";
import { call, callError, startTestApp, uid, type TestApp } from "../support/app.js";
import { bearer } from "../support/identity.js";

let t: TestApp;
/** Same Redis and MySQL; steps its waiting rooms only every 10 s (the most QUEUE_TICK_MS allows). */
let slow: TestApp;
beforeAll(async () => {
  t = await startTestApp({ QUEUE_TICK_MS: "20", QUEUE_POSITION_LIMIT: "0", QUEUE_JOIN_LIMIT: "0" });
  slow = await startTestApp({
    QUEUE_TICK_MS: "10000",
    MYSQL_URL: t.config.MYSQL_URL,
    QUEUE_POSITION_LIMIT: "0",
    QUEUE_JOIN_LIMIT: "0",
  });
});
afterAll(async () => {
  await slow?.stop();
  await t?.stop();
});

async function createEvent(o: { rate: number; maxShopping: number; seats: number; enabled?: boolean }) {
  const event: Event = {
    eventId: uid("ev"),
    name: "Live admission",
    venue: "Hall",
    startTime: undefined,
    saleOpenTime: undefined,
    saleCloseTime: undefined,
    saleState: SaleState.SALE_STATE_UNSPECIFIED,
    holdPolicy: undefined,
    maxTicketsPerBuyer: 4,
    waitingRoom: {
      enabled: o.enabled ?? true,
      admissionsPerSecond: o.rate,
      maxShopping: o.maxShopping,
      sessionSeconds: 600,
      shuffleSeedSha256: "",
    },
    currencyCode: "EUR",
    priceCategories: [{ priceCategoryId: "std", name: "Standard", priceMinor: "4500" }],
    sections: [
      {
        sectionId: "A",
        name: "Stalls",
        layout: {
          $case: "reserved",
          value: { rows: [{ rowId: "1", seatCount: o.seats, priceCategoryId: "std", firstSeatNumber: 1 }] },
        },
      },
    ],
    capacity: 0,
    currencyMinorDigits: 0,
    refundCutoffSeconds: 0,
    createTime: undefined,
  };
  const { event: created } = await call(t.events, t.events.createEvent, { requestId: uid("r"), event }, t.operator);
  return created!.eventId;
}

const open = (eventId: string) => call(t.events, t.events.openSale, { eventId, requestId: uid("r") }, t.operator);
const join = (app: TestApp, eventId: string, buyerId: string) =>
  call(app.queue, app.queue.joinQueue, { eventId, buyerId, requestId: uid("r") });
const update = (
  app: TestApp,
  eventId: string,
  fields: { admissionsPerSecond?: number; maxShopping?: number; sessionSeconds?: number },
) => call(app.events, app.events.updateWaitingRoom, { eventId, requestId: uid("r"), ...fields }, app.operator);

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The Redis-clock times at which buyers were admitted, in order (recs: state|join|score|sessionExpires|admitted). */
async function admissionTimes(eventId: string): Promise<number[]> {
  const recs = await t.app.redis.hvals(queueKeys(eventId).recs);
  return recs
    .map((r) => r.split("|"))
    .filter((f) => f[0] === "A")
    .map((f) => Number(f[4]))
    .sort((a, b) => a - b);
}

async function shopping(eventId: string): Promise<number> {
  return t.app.redis.zcard(queueKeys(eventId).shop);
}

describe("UpdateWaitingRoom", () => {
  it("names every bad field, and needs at least one", async () => {
    const eventId = await createEvent({ rate: 10, maxShopping: 10, seats: 10 });
    const none = await callError(t.events, t.events.updateWaitingRoom, { eventId, requestId: uid("r") }, t.operator);
    expect(none.code).toBe(status.INVALID_ARGUMENT);
    expect(none.errorInfo?.reason).toBe("VALIDATION_FAILED");
    expect(none.badRequest!.fieldViolations.map((v) => v.field)).toEqual(["admissions_per_second"]);
    expect(none.badRequest!.fieldViolations[0]!.description).toMatch(/at least one of/);

    const bad = await callError(
      t.events,
      t.events.updateWaitingRoom,
      { eventId: "no spaces", requestId: "", admissionsPerSecond: 0, maxShopping: 1_000_001, sessionSeconds: 59 },
      t.operator,
    );
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.badRequest!.fieldViolations.map((v) => v.field).sort()).toEqual([
      "admissions_per_second",
      "event_id",
      "max_shopping",
      "request_id",
      "session_seconds",
    ]);
    expect(bad.badRequest!.fieldViolations.find((v) => v.field === "session_seconds")!.description).toMatch(
      /60\.\.7200/,
    );

    // The bounds are CreateEvent's: the edges pass.
    const edges = await update(t, eventId, { admissionsPerSecond: 10_000, maxShopping: 1, sessionSeconds: 7200 });
    expect(edges.event!.waitingRoom).toMatchObject({
      admissionsPerSecond: 10_000,
      maxShopping: 1,
      sessionSeconds: 7200,
    });
  });

  it("answers EVENT_NOT_FOUND for an unknown event and WAITING_ROOM_DISABLED without a waiting room", async () => {
    const missing = await callError(
      t.events,
      t.events.updateWaitingRoom,
      { eventId: uid("none"), requestId: uid("r"), admissionsPerSecond: 5 },
      t.operator,
    );
    expect([missing.code, missing.errorInfo?.reason]).toEqual([status.NOT_FOUND, "EVENT_NOT_FOUND"]);

    const eventId = await createEvent({ rate: 10, maxShopping: 10, seats: 10, enabled: false });
    const off = await callError(
      t.events,
      t.events.updateWaitingRoom,
      { eventId, requestId: uid("r"), admissionsPerSecond: 5 },
      t.operator,
    );
    expect([off.code, off.errorInfo?.reason]).toEqual([status.FAILED_PRECONDITION, "WAITING_ROOM_DISABLED"]);
  });

  it("is for operators only: a buyer is refused", async () => {
    const eventId = await createEvent({ rate: 10, maxShopping: 10, seats: 10 });
    const refused = await callError(
      t.events,
      t.events.updateWaitingRoom,
      { eventId, requestId: uid("r"), admissionsPerSecond: 5 },
      bearer({ buyer: "mallory" }),
    );
    expect([refused.code, refused.errorInfo?.reason]).toEqual([status.PERMISSION_DENIED, "SCOPE_MISSING"]);
    const { event } = await call(t.events, t.events.getEvent, { eventId }, t.operator);
    expect(event!.waitingRoom!.admissionsPerSecond).toBe(10);
  });

  it("changes only the fields set, keeps them in MySQL and in a rebuilt live state", async () => {
    const eventId = await createEvent({ rate: 10, maxShopping: 20, seats: 10 });
    const { event } = await update(t, eventId, { maxShopping: 7 });
    expect(event!.waitingRoom).toMatchObject({
      enabled: true,
      admissionsPerSecond: 10,
      maxShopping: 7,
      sessionSeconds: 600,
    });
    expect(event!.waitingRoom!.shuffleSeedSha256).toMatch(/^[0-9a-f]{64}$/);
    // The other instance reads MySQL.
    const other = await call(slow.events, slow.events.getEvent, { eventId }, slow.operator);
    expect(other.event!.waitingRoom).toMatchObject({ admissionsPerSecond: 10, maxShopping: 7, sessionSeconds: 600 });

    await update(slow, eventId, { sessionSeconds: 120, admissionsPerSecond: 3 });
    const meta = (id: string) => t.app.redis.hmget(`{ev:${id}}:meta`, "wr_rate", "wr_max", "wr_session_ms");
    expect(await meta(eventId)).toEqual(["3", "7", "120000"]);
    // A rebuild from MySQL (as after a restart that lost Redis) brings the same settings back.
    await t.app.redis.hdel(`{ev:${eventId}}:meta`, "wr_rate", "wr_max", "wr_session_ms");
    await call(t.events, t.events.rebuildInventory, { eventId, requestId: uid("r") }, t.operator);
    expect(await meta(eventId)).toEqual(["3", "7", "120000"]);
  });

  it("changes the admission rate mid-sale: the next steps admit at the new rate", async () => {
    const OLD = 4;
    const NEW = 40;
    // More seats and shopping slots than buyers: only the rate limits admission.
    const eventId = await createEvent({ rate: OLD, maxShopping: 10_000, seats: 500 });
    const buyers = Array.from({ length: 160 }, (_, i) => `b${String(i).padStart(3, "0")}`);
    for (const b of buyers) await join(t, eventId, b);
    await open(eventId);

    // At the old rate: measure over 8 admissions, from the times Redis recorded.
    const before = await until("8 admissions at the old rate", async () => {
      const times = await admissionTimes(eventId);
      return times.length >= 8 ? times : undefined;
    });
    await update(t, eventId, { admissionsPerSecond: NEW });
    // Every step from now on reads the new rate (Redis clock, as the admission times).
    const [seconds, micros] = await t.app.redis.time();
    const changedAt = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);

    const after = await until("80 admissions after the change", async () => {
      const times = (await admissionTimes(eventId)).filter((ms) => ms > changedAt);
      return times.length >= 80 ? times : undefined;
    });
    // Admissions per second between the first and the last of each series.
    const rate = (times: number[]) => ((times.length - 1) * 1000) / (times[times.length - 1]! - times[0]!);
    // The token bucket's bound: over T seconds at most rate * T plus one second of burst.
    const withinBucket = (times: number[], perSecond: number) =>
      times.length - 1 <= (perSecond * (times[times.length - 1]! - times[0]!)) / 1000 + perSecond;
    const oldSeries = before.slice(1, 8);
    const newSeries = after.slice(0, 80);
    expect(withinBucket(oldSeries, OLD)).toBe(true);
    expect(withinBucket(newSeries, NEW)).toBe(true);
    // Clearly the new rate: at least half of it, and several times the old one.
    expect(rate(newSeries)).toBeGreaterThan(NEW / 2);
    expect(rate(newSeries)).toBeGreaterThan(rate(oldSeries) * 3);
    // The event says so too.
    const { event } = await call(t.events, t.events.getEvent, { eventId }, t.operator);
    expect(event!.waitingRoom!.admissionsPerSecond).toBe(NEW);
  });

  it("reaches an instance whose cached layout has the old settings: it admits by the new ones", async () => {
    // `t` steps every 20 ms with the layout it cached when buyers joined through it;
    // `slow` (which hardly steps) takes the change.
    const eventId = await createEvent({ rate: 200, maxShopping: 10, seats: 100 });
    const buyers = Array.from({ length: 30 }, (_, i) => `s${String(i).padStart(2, "0")}`);
    for (const b of buyers) await join(t, eventId, b);
    await update(slow, eventId, { maxShopping: 3 });
    await open(eventId);

    const last = () => t.app.redis.hget(queueKeys(eventId).meta, "last");
    /** Waits for `n` more steps (distinct step times; `slow` makes at most one of them). */
    const steps = async (n: number) => {
      const seen = new Set([await last()]);
      await until(`${n} admission steps`, async () => {
        seen.add(await last());
        return seen.size > n ? true : undefined;
      });
    };
    await until("3 shoppers", async () => ((await shopping(eventId)) >= 3 ? true : undefined));
    await steps(20);
    // With its cached max_shopping of 10, `t` would have let in 10 by now.
    expect(await shopping(eventId)).toBe(3);

    await update(slow, eventId, { maxShopping: 8 });
    await until("8 shoppers", async () => ((await shopping(eventId)) >= 8 ? true : undefined));
    await steps(20);
    expect(await shopping(eventId)).toBe(8);
    expect(await t.app.redis.zcard(queueKeys(eventId).line)).toBe(22);
  });
});
