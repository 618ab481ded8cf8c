// The hold sweeper on a real Temporal dev server with the real worker.
import { Client, Connection } from "@temporalio/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventKeys } from "../../src/adapters/redis/keys.js";
import type { RunningWorker } from "../../src/worker.js";
import { holdSweeper, holdSweeperWorkflowId } from "../../workflows/hold-sweeper.js";
import { uid } from "../support/app.js";
import { freshMysqlDatabase, testEnv, type FreshDatabase } from "../support/env.js";
import { openEvent, redisFixture, type Fixture } from "../support/inventory.js";
import { startTestWorker } from "../support/worker.js";

let f: Fixture;
let worker: RunningWorker;
let client: Client;
let connection: Connection;
let db: FreshDatabase;
const taskQueue = uid("sweeper");

beforeAll(async () => {
  const env = testEnv();
  f = redisFixture();
  db = await freshMysqlDatabase("sweeper");
  worker = (await startTestWorker(db.url, { TEMPORAL_TASK_QUEUE: taskQueue })).running;
  connection = await Connection.connect({ address: env.temporalAddress });
  client = new Client({ connection });
});

afterAll(async () => {
  await worker?.stop();
  await connection?.close();
  await f?.close();
  await db?.drop();
});

describe("hold sweeper workflow", () => {
  it("reclaims expired holds on its timer, publishes the release, and ends when the sale closes", async () => {
    const layout = await openEvent(f, { ttlSeconds: 1, gaCapacity: 5 });
    const seatHold = await f.holds.holdSeats(
      { eventId: layout.eventId, buyerId: uid("b"), requestId: uid("r"), admissionToken: "" },
      ["A-1-1", "A-1-2"],
    );
    const gaHold = await f.holds.holdQuantity(
      { eventId: layout.eventId, buyerId: uid("b"), requestId: uid("r"), admissionToken: "" },
      "FLOOR",
      3,
    );
    const k = eventKeys(layout.eventId);

    const handle = await client.workflow.start(holdSweeper, {
      taskQueue,
      workflowId: holdSweeperWorkflowId(layout.eventId),
      args: [{ eventId: layout.eventId }],
    });

    // Stored state turns EXPIRED only when the sweeper reclaims (reads compute it earlier).
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await f.redis.zcard(k.expiries)) > 0) await new Promise((r) => setTimeout(r, 200));
    expect(await f.redis.zcard(k.expiries)).toBe(0);
    expect(await f.redis.hget(k.hold(seatHold.holdId), "state")).toBe("E");
    expect(await f.redis.hget(k.hold(gaHold.holdId), "state")).toBe("E");
    expect(await f.redis.hgetall(k.seats)).toEqual({});
    expect(await f.redis.hget(k.ga("FLOOR"), "held")).toBe("0");
    const changes = await f.redis.xrange(k.changes, "-", "+");
    expect(changes.some(([, fields]) => fields.join(" ") === "t F s A-1-1,A-1-2")).toBe(true);

    await f.inventory.setSaleState(layout.eventId, "CLOSED");
    await handle.result();
    const description = await handle.describe();
    expect(description.status.name).toBe("COMPLETED");
  });
});

describe("hold sweeper started by OpenSale", () => {
  it("runs for the open sale and returns expired holds to sale, as the seat map shows", async () => {
    const { startCheckoutStack, openSaleEvent, holdSeats } = await import("../support/checkout.js");
    const { call } = await import("../support/app.js");
    const s = await startCheckoutStack();
    try {
      const eventId = await openSaleEvent(s.t, {
        holdPolicy: { ttlSeconds: 10, maxExtensions: 0, maxLifetimeSeconds: 10 },
      });
      const handle = client.workflow.getHandle(holdSweeperWorkflowId(eventId));
      expect((await handle.describe()).status.name).toBe("RUNNING");
      const hold = await holdSeats(s.t, eventId, uid("b"), ["A-1-1"]);
      const k = eventKeys(eventId);
      expect(await s.t.app.redis.zcard(k.expiries)).toBe(1);
      const seatMap = async () =>
        (await call(s.t.events, s.t.events.getSeatMap, { eventId })).sections[0]!.rows[0]!.states;
      expect(await seatMap()).toBe("HFFFFFFFFF");
      // After the expiry the sweeper reclaims the hold on its timer.
      const deadline = hold.expireTime!.getTime() + 8_000;
      while (Date.now() < deadline && (await s.t.app.redis.zcard(k.expiries)) > 0)
        await new Promise((r) => setTimeout(r, 250));
      expect(await s.t.app.redis.zcard(k.expiries)).toBe(0);
      expect(await s.t.app.redis.hget(k.hold(hold.holdId), "state")).toBe("E");
      expect(await seatMap()).toBe("FFFFFFFFFF");
      await call(s.t.events, s.t.events.closeSale, { eventId, requestId: uid("close") }, s.t.operator);
      await handle.result();
    } finally {
      await s.stop();
    }
  });
});
