// GetQueuePosition's batches through the API (src/queue/poll-batcher.ts): the
// polls of a tick share one script call (counted by
// ticketing_queue_poll_batches_total and ticketing_queue_polls_total), and
// with Redis gone every poll of the tick answers UNAVAILABLE (none hangs), and
// polls work again once Redis is back. The API runs on a Redis of its own,
// which this test stops and starts again on the same data and port.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SaleState, type Event } from "../../src/gen/ticketing/v1/event_service.js";
import { QueueState } from "../../src/gen/ticketing/v1/queue_service.js";
import { startRedis, type RedisHandle } from "../../tools/devstack/stack.js";
import { scrape, valueOf } from "../observability/prom-text.js";
import { call, callError, startTestApp, uid, type TestApp } from "../support/app.js";

let dir: string;
let redis: RedisHandle | undefined;
let t: TestApp;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ticketing-queue-poll-"));
  redis = await startRedis({ dir, persistent: true });
  t = await startTestApp({
    REDIS_URL: redis.url,
    QUEUE_TICK_MS: "20",
    QUEUE_POLL_BATCH_MS: "30",
    QUEUE_POSITION_LIMIT: "0",
    QUEUE_JOIN_LIMIT: "0",
  });
});
afterAll(async () => {
  await t?.stop();
  await redis?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function createEvent(): Promise<string> {
  const event: Event = {
    eventId: uid("ev"),
    name: "Poll night",
    venue: "Hall",
    startTime: undefined,
    saleOpenTime: undefined,
    saleCloseTime: undefined,
    saleState: SaleState.SALE_STATE_UNSPECIFIED,
    holdPolicy: undefined,
    maxTicketsPerBuyer: 4,
    // One shopper at a time, and the first one never leaves: everyone else keeps waiting.
    waitingRoom: { enabled: true, admissionsPerSecond: 10, maxShopping: 1, sessionSeconds: 600, shuffleSeedSha256: "" },
    currencyCode: "EUR",
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
    currencyMinorDigits: 0,
    refundCutoffSeconds: 0,
    createTime: undefined,
  };
  const { event: created } = await call(t.events, t.events.createEvent, { requestId: uid("r"), event }, t.operator);
  await call(t.events, t.events.openSale, { eventId: created!.eventId, requestId: uid("r") }, t.operator);
  return created!.eventId;
}

const position = (eventId: string, buyerId: string) =>
  call(t.queue, t.queue.getQueuePosition, { eventId, buyerId }).then((r) => r.ticket!);

async function counters(): Promise<{ batches: number; polls: number }> {
  const { families } = await scrape(t.app.metricsPort!);
  return {
    batches: valueOf(families, "ticketing_queue_poll_batches_total") ?? 0,
    polls: valueOf(families, "ticketing_queue_polls_total") ?? 0,
  };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("GetQueuePosition in batches", () => {
  it("answers concurrent polls with far fewer script calls than polls, in line order", async () => {
    const eventId = await createEvent();
    const buyers = Array.from({ length: 60 }, (_, i) => `${String(i).padStart(3, "0")}_${uid("b")}`);
    for (const b of buyers) await call(t.queue, t.queue.joinQueue, { eventId, buyerId: b, requestId: uid("r") });
    await until(
      "the first buyer admitted",
      async () => (await position(eventId, buyers[0]!)).state === QueueState.QUEUE_STATE_ADMITTED,
    );

    const before = await counters();
    const tickets = await Promise.all(buyers.slice(1).map((b) => position(eventId, b)));
    const after = await counters();
    expect(after.polls - before.polls).toBe(59);
    expect(after.batches - before.batches).toBeGreaterThanOrEqual(1);
    expect(after.batches - before.batches).toBeLessThan(12);
    expect(tickets.map((x) => Number(x.position))).toEqual(buyers.slice(1).map((_, k) => k + 1));
    expect(tickets.every((x) => x.state === QueueState.QUEUE_STATE_WAITING)).toBe(true);
  });

  it("answers UNAVAILABLE for every poll while Redis is gone, and polls work again once it is back", async () => {
    const eventId = await createEvent();
    const [first, second] = [uid("first"), uid("second")];
    for (const b of [first, second])
      await call(t.queue, t.queue.joinQueue, { eventId, buyerId: b, requestId: uid("r") });
    await until(
      "the first buyer admitted",
      async () => (await position(eventId, first)).state === QueueState.QUEUE_STATE_ADMITTED,
    );
    expect(Number((await position(eventId, second)).position)).toBe(1);

    const port = redis!.port;
    await redis!.stop();
    const errors = await Promise.all(
      Array.from({ length: 20 }, () => callError(t.queue, t.queue.getQueuePosition, { eventId, buyerId: second })),
    );
    for (const err of errors) expect(err.code).toBe(status.UNAVAILABLE);

    redis = await startRedis({ dir, persistent: true, port });
    await until("polls answered again", async () => Number((await position(eventId, second)).position) === 1);
    const back = await Promise.all(Array.from({ length: 5 }, () => position(eventId, second)));
    expect(back.map((x) => [x.state, Number(x.position)])).toEqual(
      Array.from({ length: 5 }, () => [QueueState.QUEUE_STATE_WAITING, 1]),
    );
  });
});
