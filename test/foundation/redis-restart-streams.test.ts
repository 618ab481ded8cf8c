// A Redis crash mid-sale: Redis (with its append-only file) is killed with
// SIGKILL and started again on the same data and port. The waiting rooms are
// intact (the pre-queue's order, the line's positions, the committed seed),
// and every open WatchSeatMap and WatchQueue stream either carries on (the
// next change reaches it) or ends with UNAVAILABLE, so a client reconnects;
// none goes silent.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Metadata, status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WatchSeatMapResponse } from "../../src/gen/ticketing/v1/event_service.js";
import { QueueState, type WatchQueueResponse } from "../../src/gen/ticketing/v1/queue_service.js";
import { startRedis, type RedisHandle } from "../../tools/devstack/stack.js";
import { call, startTestApp, uid, type TestApp } from "../support/app.js";
import { openSaleEvent } from "../support/checkout.js";
import { bearer } from "../support/identity.js";

let dir: string;
let redis: RedisHandle;
let t: TestApp;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ticketing-restart-"));
  redis = await startRedis({ dir, persistent: true });
  t = await startTestApp({ REDIS_URL: redis.url, QUEUE_TICK_MS: "20" });
}, 120_000);
afterAll(async () => {
  await t?.stop();
  await redis?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A stream's messages since a mark, and how it ended. */
class Followed<T> {
  readonly messages: T[] = [];
  ended: status | "ok" | undefined;
  constructor(stream: ClientReadableStream<T>) {
    stream.on("data", (m: T) => this.messages.push(m));
    stream.on("error", (err: ServiceError) => (this.ended ??= err.code));
    stream.on("end", () => (this.ended ??= "ok"));
  }
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Retries a call refused while Redis is away, as a client retries UNAVAILABLE. */
async function retried<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if ((err as ServiceError).code !== status.UNAVAILABLE || attempt > 200) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe("a waiting room when Redis crashes and comes back", () => {
  it("keeps the lines' order, the buyers' positions and the committed seed", async () => {
    // A paused sale's line (nobody is let in, so nothing may move), and an open line.
    const roomSettings = {
      enabled: true,
      admissionsPerSecond: 1,
      maxShopping: 1,
      sessionSeconds: 60,
      shuffleSeedSha256: "",
    };
    const paused = await openSaleEvent(t, { waitingRoom: roomSettings });
    await call(t.events, t.events.pauseSale, { eventId: paused, requestId: uid("p") }, t.operator);
    const line = await openSaleEvent(t, { waitingRoom: roomSettings });
    const buyers = Array.from({ length: 8 }, (_, i) => uid(`d${i}`));
    for (const eventId of [paused, line])
      for (const buyerId of buyers) await call(t.queue, t.queue.joinQueue, { eventId, buyerId, requestId: uid("j") });
    const where = (eventId: string) =>
      Promise.all(
        buyers.map(async (buyerId) => {
          const { ticket } = await call(t.queue, t.queue.getQueuePosition, { eventId, buyerId });
          return { state: ticket!.state, position: ticket!.position, seed: ticket!.shuffleSeedSha256 };
        }),
      );
    const before = { paused: await where(paused), line: await where(line) };
    expect(before.paused.every((b) => /^[0-9a-f]{64}$/.test(b.seed))).toBe(true);
    expect(before.paused.map((b) => b.state)).toEqual(buyers.map(() => QueueState.QUEUE_STATE_WAITING));

    process.kill(redis.pid, "SIGKILL");
    await redis.exited;
    redis = await startRedis({ dir, persistent: true, port: redis.port });

    const after = { paused: await retried(() => where(paused)), line: await retried(() => where(line)) };
    // The paused line is exactly as it was; the open line may only have moved on (people let in), never reordered.
    expect(after.paused).toEqual(before.paused);
    const waiting = (w: typeof before.line) =>
      w.filter((b) => b.state === QueueState.QUEUE_STATE_WAITING).map((b) => Number(b.position));
    const [was, is] = [waiting(before.line), waiting(after.line)];
    expect(is.length).toBeLessThanOrEqual(was.length);
    for (let i = 1; i < is.length; i++) expect(is[i]!).toBeGreaterThan(is[i - 1]!);
    expect(after.line.map((b) => b.seed)).toEqual(before.line.map((b) => b.seed));
  }, 120_000);
});

describe("open streams when Redis crashes and comes back", () => {
  it("carry on or end with UNAVAILABLE, never silence", async () => {
    const eventId = await openSaleEvent(t);
    const roomId = await openSaleEvent(t, {
      waitingRoom: { enabled: true, admissionsPerSecond: 1, maxShopping: 1, sessionSeconds: 60, shuffleSeedSha256: "" },
    });
    const buyers = ["q1", "q2", "q3"].map((b) => uid(b));
    for (const buyerId of buyers) {
      await call(t.queue, t.queue.joinQueue, { eventId: roomId, buyerId, requestId: uid("j") });
    }
    const seatMap = new Followed<WatchSeatMapResponse>(t.events.watchSeatMap({ eventId }, new Metadata()));
    const last = buyers[buyers.length - 1]!;
    const queue = new Followed<WatchQueueResponse>(
      t.queue.watchQueue({ eventId: roomId, buyerId: "" }, bearer({ buyer: last })),
    );
    await waitFor("both streams' first message", () => seatMap.messages.length > 0 && queue.messages.length > 0);

    process.kill(redis.pid, "SIGKILL");
    await redis.exited;
    const seatMapMark = seatMap.messages.length;
    const queueMark = queue.messages.length;
    redis = await startRedis({ dir, persistent: true, port: redis.port });

    // A change on each side once Redis is back: a hold, and the line moving (the first buyer leaves).
    await retried(() =>
      call(t.reservations, t.reservations.holdSeats, {
        eventId,
        buyerId: uid("h"),
        admissionToken: "",
        requestId: uid("r"),
        selection: { $case: "seats", value: { seatIds: ["A-1-1"] } },
      }),
    );
    await retried(() =>
      call(t.queue, t.queue.leaveQueue, { eventId: roomId, buyerId: buyers[0]!, requestId: uid("l") }),
    );

    await waitFor(
      "the seat map stream to carry the hold or end with UNAVAILABLE",
      () => seatMap.ended === status.UNAVAILABLE || seatMap.messages.length > seatMapMark,
    );
    // Moved: fewer people ahead, or let in (a keep-alive repeating the old place does not count).
    const aheadBefore = Number(queue.messages[queueMark - 1]!.ticket!.peopleAhead);
    const moved = (m: WatchQueueResponse) =>
      Number(m.ticket!.peopleAhead) < aheadBefore || m.ticket!.state === QueueState.QUEUE_STATE_ADMITTED;
    await waitFor(
      "the queue stream to move or end with UNAVAILABLE",
      () => queue.ended === status.UNAVAILABLE || queue.messages.slice(queueMark).some(moved),
    );
    // Whatever it did, it did not end any other way.
    expect([undefined, status.UNAVAILABLE, status.CANCELLED]).toContain(seatMap.ended);
    expect([undefined, status.UNAVAILABLE, status.CANCELLED]).toContain(queue.ended);
    console.log(
      `after the restart: WatchSeatMap ${seatMap.ended === undefined ? `carried on (${seatMap.messages.length - seatMapMark} messages)` : `ended ${seatMap.ended}`}; ` +
        `WatchQueue ${queue.ended === undefined ? `carried on (${queue.messages.length - queueMark} messages, last ${QueueState[queue.messages[queue.messages.length - 1]!.ticket!.state]}, ${aheadBefore} ahead before)` : `ended ${queue.ended}`}`,
    );
  }, 180_000);
});
