// When Redis no longer has a hold the way a checkout or refund expects (a
// rebuild dropped it, its hash expired or vanished), the worker repairs only
// that hold's seats from MySQL: it never rebuilds the event, so other
// buyers' live holds survive and the inventory epoch stays. A Redis error is
// retried, never taken for a missing hold.
import type { PoolConnection } from "mysql2/promise";
import { describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { eventKeys } from "../../src/adapters/redis/keys.js";
import { Scripts } from "../../src/adapters/redis/scripts.js";
import { Inventory } from "../../src/events/inventory.js";
import { OrderState } from "../../src/gen/ticketing/v1/order_service.js";
import { HoldState } from "../../src/gen/ticketing/v1/reservation_service.js";
import { Holds } from "../../src/holds/holds.js";
import { createLogger } from "../../src/logger.js";
import { createOrderActivities, type CheckoutPlan } from "../../src/orders/activities.js";
import type { RepairTarget } from "../../src/orders/seat-repair.js";
import { call, uid } from "../support/app.js";
import {
  createOrder,
  holdSeats,
  openSaleEvent,
  checkoutStackForThisFile,
  watchUntilFinal,
} from "../support/checkout.js";

const s = checkoutStackForThisFile();

const epochOf = (eventId: string) => s.t.app.redis.hget(eventKeys(eventId).meta, "epoch");

async function seatMap(eventId: string) {
  const map = await call(s.t.events, s.t.events.getSeatMap, { eventId });
  const a = map.sections.find((x) => x.sectionId === "A")!;
  const floor = map.sections.find((x) => x.sectionId === "FLOOR")!;
  return { rows: a.rows.map((r) => r.states).join("/"), floor: floor.counts! };
}

async function holdFloor(eventId: string, buyerId: string, quantity: number) {
  const res = await call(s.t.reservations, s.t.reservations.holdSeats, {
    eventId,
    buyerId,
    admissionToken: "",
    requestId: uid("r"),
    selection: { $case: "generalAdmission", value: { sectionId: "FLOOR", quantity } },
  });
  return res.hold!;
}

async function holdState(eventId: string, holdId: string) {
  return (await call(s.t.reservations, s.t.reservations.getHold, { eventId, holdId })).hold!.state;
}

describe("seat repair instead of rebuilds", () => {
  it("refunds orders whose hold hashes are gone: other holds survive, the epoch stays", async () => {
    const eventId = await openSaleEvent(s.t);
    const alice = uid("alice");
    const seated = await holdSeats(s.t, eventId, alice, ["A-1-1", "A-1-2"]);
    const floor = await holdFloor(eventId, alice, 3);
    const orders = [await createOrder(s.t, seated, "tok_approve"), await createOrder(s.t, floor, "tok_approve")];
    for (const o of orders) {
      const states = await watchUntilFinal(s.t, o.orderId);
      expect(states[states.length - 1]!.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    }
    // Another buyer holds seats next to them and places on the floor.
    const bob = uid("bob");
    const bobSeats = await holdSeats(s.t, eventId, bob, ["A-1-3"]);
    const bobFloor = await holdFloor(eventId, bob, 2);
    expect(await seatMap(eventId)).toMatchObject({ rows: "SSHFFFFFFF/FFFFFFFFFF", floor: { held: 2, sold: 3 } });

    // Redis loses alice's sold hold hashes (expired a day after purchase, or evicted).
    const k = eventKeys(eventId);
    await s.t.app.redis.del(k.hold(seated.holdId), k.hold(floor.holdId));
    const epoch = await epochOf(eventId);

    for (const o of orders) {
      const refunded = await call(s.t.orders, s.t.orders.cancelOrder, {
        orderId: o.orderId,
        buyerId: alice,
        requestId: uid("c"),
        force: false,
        ticketIds: [],
      });
      expect(refunded.order!.state).toBe(OrderState.ORDER_STATE_REFUNDED);
    }
    // Alice's seats and places are back on sale; bob's holds are untouched.
    expect(await epochOf(eventId)).toBe(epoch);
    expect(await seatMap(eventId)).toMatchObject({ rows: "FFHFFFFFFF/FFFFFFFFFF", floor: { held: 2, sold: 0 } });
    expect(await holdState(eventId, bobSeats.holdId)).toBe(HoldState.HOLD_STATE_ACTIVE);
    expect(await holdState(eventId, bobFloor.holdId)).toBe(HoldState.HOLD_STATE_ACTIVE);
    // Alice may buy again up to her limit: her bought count was repaired too.
    const k2 = await s.t.app.redis.hget(k.buyer(alice), `s${epoch}`);
    expect(Number(k2)).toBe(0);
    const again = await holdSeats(s.t, eventId, alice, ["A-1-1", "A-1-2", "A-1-4", "A-1-5", "A-1-6", "A-1-7"]);
    expect(again.seatIds).toHaveLength(6);
  });

  it("steady checkouts with one RebuildInventory in the middle change the epoch exactly once", async () => {
    const eventId = await openSaleEvent(s.t);
    const e0 = await epochOf(eventId);
    // Hold payments back (the simulator's ledger is locked) so the first
    // checkouts are pinned, in flight, across the rebuild: their hold is of
    // the old epoch when they mark it sold.
    const lock: PoolConnection = await s.t.app.mysql.getConnection();
    let locked = true;
    try {
      await lock.query("LOCK TABLES simulated_payments WRITE");
      const before = [];
      for (let i = 1; i <= 4; i++) {
        before.push(await createOrder(s.t, await holdSeats(s.t, eventId, uid("b"), [`A-1-${i}`]), "tok_approve"));
      }
      await call(s.t.events, s.t.events.rebuildInventory, { eventId, requestId: uid("rb") }, s.t.operator);
      const e1 = await epochOf(eventId);
      expect(e1).not.toBe(e0);
      const after = [];
      for (let i = 1; i <= 4; i++) {
        after.push(await createOrder(s.t, await holdSeats(s.t, eventId, uid("a"), [`A-2-${i}`]), "tok_approve"));
      }
      const live = await holdSeats(s.t, eventId, uid("live"), ["A-1-10"]);
      await lock.query("UNLOCK TABLES");
      locked = false;
      // More checkouts while the first ones finish.
      const more = [];
      for (let i = 5; i <= 7; i++) {
        more.push(await createOrder(s.t, await holdSeats(s.t, eventId, uid("m"), [`A-2-${i}`]), "tok_approve"));
      }
      for (const o of [...before, ...after, ...more]) {
        const states = await watchUntilFinal(s.t, o.orderId);
        expect(states[states.length - 1]!.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
      }
      expect(await epochOf(eventId)).toBe(e1);
      expect((await seatMap(eventId)).rows).toBe("SSSSFFFFFH/SSSSSSSFFF");
      expect(await holdState(eventId, live.holdId)).toBe(HoldState.HOLD_STATE_ACTIVE);
      // The first checkouts really went through the repair (sell_hold said MISSING):
      // their hold hashes were moved to the current epoch by repair_seats.
      for (const o of before) {
        const h = await s.t.app.redis.hmget(eventKeys(eventId).hold(o.holdId), "state", "epoch");
        expect(h).toEqual(["S", e1]);
        expect(await holdState(eventId, o.holdId)).toBe(HoldState.HOLD_STATE_SOLD);
      }
    } finally {
      if (locked) await lock.query("UNLOCK TABLES").catch(() => undefined);
      lock.release();
    }
  });

  it("takes a Redis error for an error to retry, never for a missing hold", async () => {
    // A client to a port nothing listens on, failing at once instead of queueing.
    const dead = new Redis({
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    dead.on("error", () => undefined);
    try {
      const scripts = new Scripts(dead);
      const holds = new Holds({ redis: dead, scripts, inventory: new Inventory({ redis: dead, scripts }) });
      const repaired: RepairTarget[] = [];
      const activities = createOrderActivities({
        holds,
        inventory: new Inventory({ redis: dead, scripts }),
        orders: undefined as never,
        payments: undefined as never,
        notifier: undefined as never,
        tickets: undefined as never,
        completeShopping: () => Promise.resolve(),
        repairSeats: (target) => {
          repaired.push(target);
          return Promise.resolve("OK");
        },
        log: createLogger("silent", "test"),
      });
      const plan: CheckoutPlan = {
        orderId: "o_x",
        eventId: "ev_x",
        holdId: "h_x",
        buyerId: "b_x",
        idempotencyKey: "k",
        seatIds: ["A-1-1"],
        sectionId: "",
        quantity: 1,
        prices: [],
        amountMinor: 0,
        currencyCode: "EUR",
      };
      // The Redis error itself comes out (and Temporal retries the step).
      const redisError = /enableOfflineQueue|ECONNREFUSED|Connection is closed/;
      await expect(activities.releaseSeats(plan)).rejects.toThrow(redisError);
      await expect(activities.markSeatsSold(plan)).rejects.toThrow(redisError);
      expect(repaired).toEqual([]);
    } finally {
      dead.disconnect();
    }
  });
});
