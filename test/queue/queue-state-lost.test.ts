// Redis loses a waiting room (a flush, a restart without its AOF): its
// committed pre-queue seed is gone. The service says so, with a stable reason
// (FAILED_PRECONDITION QUEUE_STATE_LOST), a metric and an alert, and never
// commits a new seed in silence: not in the process that saw the first seed,
// not in another one that never did.
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queueKeys } from "../../src/adapters/redis/keys.js";
import { SaleState, type Event } from "../../src/gen/ticketing/v1/event_service.js";
import { call, callError, startTestApp, uid, type TestApp } from "../support/app.js";

let t: TestApp;
let t2: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  // Another API process on the same Redis and MySQL.
  t2 = await startTestApp({ MYSQL_URL: t.config.MYSQL_URL });
});
afterAll(async () => {
  await t2?.stop();
  await t?.stop();
});

/** An event whose waiting room is on and whose sale is not open yet: joiners enter the pre-queue. */
async function preQueueEvent(): Promise<string> {
  const event: Event = {
    eventId: uid("ev"),
    name: "Pre-queue night",
    venue: "Hall",
    startTime: undefined,
    saleOpenTime: undefined,
    saleCloseTime: undefined,
    saleState: SaleState.SALE_STATE_UNSPECIFIED,
    holdPolicy: undefined,
    maxTicketsPerBuyer: 4,
    waitingRoom: { enabled: true, admissionsPerSecond: 10, maxShopping: 10, sessionSeconds: 60, shuffleSeedSha256: "" },
    currencyCode: "EUR",
    currencyMinorDigits: 0,
    refundCutoffSeconds: 0,
    priceCategories: [{ priceCategoryId: "std", name: "Standard", priceMinor: "4500" }],
    sections: [
      {
        sectionId: "A",
        name: "Stalls",
        layout: {
          $case: "reserved",
          value: { rows: [{ rowId: "1", seatCount: 20, priceCategoryId: "std", firstSeatNumber: 1 }] },
        },
      },
    ],
    capacity: 0,
    createTime: undefined,
  };
  const { event: created } = await call(t.events, t.events.createEvent, { requestId: uid("r"), event }, t.operator);
  return created!.eventId;
}

async function lostCount(app: TestApp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${app.app.metricsPort}/metrics`)).text();
  return Number(/^ticketing_queue_state_lost_total (\d+)/m.exec(text)?.[1] ?? "NaN");
}

const join = (app: TestApp, eventId: string) =>
  callError(app.queue, app.queue.joinQueue, { eventId, buyerId: uid("b"), requestId: uid("r") });

describe("a waiting room Redis lost", () => {
  it("answers QUEUE_STATE_LOST, counts it, and commits no new seed in any process", async () => {
    const eventId = await preQueueEvent();
    const first = await call(t.queue, t.queue.joinQueue, { eventId, buyerId: uid("b"), requestId: uid("r") });
    const committed =
      first.ticket!.shuffleSeedSha256 ||
      (await call(t.events, t.events.getEvent, { eventId })).event!.waitingRoom!.shuffleSeedSha256;
    expect(committed).toMatch(/^[0-9a-f]{64}$/);
    const [row] = (await t.app.mysql.query("SELECT queue_seed_sha256 AS sha FROM events WHERE event_id = ?", [
      eventId,
    ])) as unknown as [{ sha: string }[]];
    expect(row[0]!.sha).toBe(committed);

    // Redis loses the room: the line, the records and the seed.
    const k = queueKeys(eventId);
    await t.app.redis.del(k.meta, k.line, k.recs, k.seen, k.shop, k.fresh);
    const before = [await lostCount(t), await lostCount(t2)];

    // The process that saw the seed, and one that never did: both refuse.
    for (const app of [t, t2]) {
      const err = await join(app, eventId);
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.errorInfo?.reason).toBe("QUEUE_STATE_LOST");
      expect(err.errorInfo?.metadata).toMatchObject({ event_id: eventId, seed_sha256: committed });
      const position = await callError(app.queue, app.queue.getQueuePosition, { eventId, buyerId: uid("b") });
      expect(position.errorInfo?.reason).toBe("QUEUE_STATE_LOST");
    }
    expect(await lostCount(t)).toBeGreaterThan(before[0]!);
    expect(await lostCount(t2)).toBeGreaterThan(before[1]!);
    // No new seed was committed in Redis, and the record is the first one.
    expect(await t.app.redis.hget(k.meta, "seed_hash")).toBeNull();
    const [after] = (await t.app.mysql.query("SELECT queue_seed_sha256 AS sha FROM events WHERE event_id = ?", [
      eventId,
    ])) as unknown as [{ sha: string }[]];
    expect(after[0]!.sha).toBe(committed);
  });
});
