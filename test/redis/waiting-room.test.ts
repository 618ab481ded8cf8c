// The waiting room against real Redis (single node, and the cluster in the
// cluster run): order, the pre-queue shuffle, rate and cap with several
// instances stepping at once, freed slots, and inventory-aware admission.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queueKeys } from "../../src/adapters/redis/keys.js";
import { rowSeatIds } from "../../src/events/layout.js";
import { AdmissionTicker } from "../../src/queue/admission-ticker.js";
import { preQueueOrder, type StepResult } from "../../src/queue/waiting-room.js";
import { createLogger } from "../../src/logger.js";
import { uid } from "../support/app.js";
import { admittedOf, codes, instance, ownRedisForThisFile, roomEvent, sleep, type Instance } from "./queue-fixture.js";

// A Redis of this file's own: other files' API instances would step its rooms.
ownRedisForThisFile();
let a: Instance;
beforeAll(() => {
  a = instance();
});
afterAll(async () => {
  await a.close();
});

const buyers = (n: number, prefix = "b") =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, "0")}_${uid("x")}`);

/** Waits until `condition` holds (polling), failing after `ms`: for conditions, never for a time. */
async function waitFor(condition: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  for (const until = Date.now() + ms; !(await condition());) {
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms: ${condition.toString()}`);
    await sleep(20);
  }
}

async function joinAll(i: Instance, eventId: string, ids: string[]): Promise<void> {
  for (let k = 0; k < ids.length; k += 200) {
    await Promise.all(ids.slice(k, k + 200).map((b) => i.room.join(eventId, b)));
  }
}

describe("waiting room", () => {
  it("admits buyers who join after the sale opened in exactly their join order, and a second join keeps the place", async () => {
    const layout = await roomEvent(a, { rate: 40, maxShopping: 1000 });
    const ids = buyers(40);
    for (const b of ids) await a.room.join(layout.eventId, b); // one at a time: a known order
    const again = await a.room.join(layout.eventId, ids[5]!);
    expect(again.created).toBe(false);
    expect(again.ticket.position).toBe(6);
    expect(again.ticket.state).toBe("WAITING");

    // Step until everyone is in; after every step the admitted are a prefix of the join order.
    let admitted: string[] = [];
    const seen: number[] = [];
    while (admitted.length < ids.length) {
      await a.room.step(layout.eventId);
      admitted = await admittedOf(a.room, layout.eventId, ids);
      expect(admitted).toEqual(ids.slice(0, admitted.length));
      if (seen.at(-1) !== admitted.length) seen.push(admitted.length);
      await sleep(20);
    }
    // It really went step by step, not all at once.
    expect(seen.length).toBeGreaterThan(5);
  });

  it("shuffles the pre-queue at opening by the committed seed, which anyone can check once revealed", async () => {
    const layout = await roomEvent(a, { state: "SCHEDULED", rate: 25 });
    const early = buyers(60, "early");
    await joinAll(a, layout.eventId, early);
    const before = await a.room.position(layout.eventId, early[0]!);
    expect(before.state).toBe("PRE_QUEUE");
    expect(before.position).toBe(0);
    expect(before.shuffleSeedSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(before.shuffleSeed).toBe("");
    // Stepping before the sale opens admits nobody.
    expect((await a.room.step(layout.eventId))?.admitted).toBe(0);

    await a.inventory.setSaleState(layout.eventId, "OPEN");
    const late = buyers(10, "late");
    for (const b of late) await a.room.join(layout.eventId, b);
    const after = await a.room.position(layout.eventId, early[0]!);
    expect(after.shuffleSeedSha256).toBe(before.shuffleSeedSha256);
    expect(createHash("sha256").update(after.shuffleSeed).digest("hex")).toBe(before.shuffleSeedSha256);

    // The revealed seed reproduces the order: pre-queue shuffled, then the late joiners in order.
    const expected = [...preQueueOrder(after.shuffleSeed, early), ...late];
    expect(expected.slice(0, 60)).not.toEqual(early); // it is a shuffle
    const positions = await Promise.all(expected.map((b) => a.room.position(layout.eventId, b)));
    expect(positions.map((t) => t.position)).toEqual(expected.map((_, i) => i + 1));

    let admitted: string[] = [];
    while (admitted.length < expected.length) {
      await a.room.step(layout.eventId);
      admitted = await admittedOf(a.room, layout.eventId, expected);
      expect(admitted).toEqual(expected.slice(0, admitted.length));
      await sleep(25);
    }
  });

  it("commits a new seed when Redis lost the room's, even in a process that saw the old one", async () => {
    const layout = await roomEvent(a, { state: "SCHEDULED" });
    const first = await a.room.join(layout.eventId, uid("p"));
    await a.redis.del(queueKeys(layout.eventId).meta);
    const second = await a.room.join(layout.eventId, uid("p"));
    expect(second.ticket.state).toBe("PRE_QUEUE");
    expect(second.ticket.shuffleSeedSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(second.ticket.shuffleSeedSha256).not.toBe(first.ticket.shuffleSeedSha256);
  });

  it("follows the configured rate and never exceeds max shopping with several instances stepping at once", async () => {
    const instances = [a, instance(), instance(), instance()];
    try {
      // Rate: 20 per second, plenty waiting, no cap in the way.
      const layout = await roomEvent(a, { rate: 20, maxShopping: 100_000 });
      const ids = buyers(400, "r");
      await joinAll(a, layout.eventId, ids);
      // The first step spends what the bucket gathered since the opening (up to a second's worth).
      const primed = (await a.room.step(layout.eventId))!;
      const results: StepResult[] = [];
      const until = Date.now() + 3000;
      await Promise.all(
        instances.map(async (inst) => {
          while (Date.now() < until) {
            results.push((await inst.room.step(layout.eventId))!);
            await sleep(Math.random() * 30);
          }
        }),
      );
      const times = results.map((r) => r.nowMs);
      const elapsedMs = Math.max(...times) - primed.nowMs;
      const admitted = results.reduce((n, r) => n + r.admitted, 0);
      expect((await admittedOf(a.room, layout.eventId, ids)).length).toBe(admitted + primed.admitted);
      const expected = (20 * elapsedMs) / 1000;
      expect(Math.abs(admitted - expected)).toBeLessThanOrEqual(Math.max(2, expected * 0.05));

      // Cap: 300 per second, but at most 25 shopping at once.
      const capped = await roomEvent(a, { rate: 300, maxShopping: 25 });
      const more = buyers(200, "c");
      await joinAll(a, capped.eventId, more);
      const capResults: StepResult[] = [];
      const end = Date.now() + 1000;
      await Promise.all(
        instances.map(async (inst) => {
          while (Date.now() < end) {
            capResults.push((await inst.room.step(capped.eventId))!);
            await sleep(Math.random() * 10);
          }
        }),
      );
      expect(Math.max(...capResults.map((r) => r.shopping))).toBe(25);
      expect(capResults.reduce((n, r) => n + r.admitted, 0)).toBe(25);
      expect(await a.redis.zcard(queueKeys(capped.eventId).shop)).toBe(25);
    } finally {
      await Promise.all(instances.slice(1).map((i) => i.close()));
    }
  });

  it("frees a slot at once when a buyer leaves or completes, and when a session expires", async () => {
    const layout = await roomEvent(a, { rate: 1000, maxShopping: 2, sessionSeconds: 1 });
    const [p, q, r, s, t] = buyers(5);
    for (const b of [p!, q!, r!, s!]) await a.room.join(layout.eventId, b);
    await sleep(5);
    await a.room.step(layout.eventId);
    expect(await admittedOf(a.room, layout.eventId, [p!, q!, r!, s!])).toEqual([p, q]);

    await a.room.leave(layout.eventId, p!);
    await a.room.leave(layout.eventId, p!); // idempotent
    await a.room.step(layout.eventId);
    expect(await admittedOf(a.room, layout.eventId, [p!, q!, r!, s!])).toEqual([q, r]);

    await a.room.completeShopping(layout.eventId, q!);
    await a.room.step(layout.eventId);
    expect(await admittedOf(a.room, layout.eventId, [p!, q!, r!, s!])).toEqual([r, s]);
    expect((await a.room.position(layout.eventId, p!)).state).toBe("LEFT");
    expect((await a.room.position(layout.eventId, q!)).state).toBe("COMPLETED");

    await a.room.join(layout.eventId, t!);
    await a.room.step(layout.eventId);
    expect((await a.room.position(layout.eventId, t!)).state).toBe("WAITING");
    const admittedS = await a.room.position(layout.eventId, s!);
    await sleep(admittedS.admissionExpireTime!.getTime() - Date.now() + 20);
    // Read before any step: the expired session already reads as expired.
    expect((await a.room.position(layout.eventId, r!)).state).toBe("EXPIRED");
    const step = await a.room.step(layout.eventId);
    expect(step?.expired).toBe(2);
    expect(await admittedOf(a.room, layout.eventId, [r!, s!, t!])).toEqual([t]);

    // A buyer who left joins again at the back.
    const rejoined = await a.room.join(layout.eventId, p!);
    expect(rejoined.created).toBe(true);
    expect(rejoined.ticket.state).toBe("WAITING");
  });

  it("skips buyers who stopped asking where they stand, so abandoned places never stall the line", async () => {
    // Long enough that the buyer who keeps asking (every 50 ms) is never silent that long, however busy the machine.
    const abandonMs = 1500;
    const b = instance({ abandonMs });
    try {
      const layout = await roomEvent(b, { rate: 1000, maxShopping: 1 });
      const [gone, here] = buyers(2);
      await b.room.join(layout.eventId, gone!);
      const joined = Date.now();
      await b.room.join(layout.eventId, here!);
      while (Date.now() - joined < abandonMs + 100) {
        await sleep(50);
        await b.room.position(layout.eventId, here!);
      }
      const step = await b.room.step(layout.eventId);
      expect(step?.skipped).toBe(1);
      expect(step?.admitted).toBe(1);
      expect((await b.room.position(layout.eventId, here!)).state).toBe("ADMITTED");
      expect((await b.room.position(layout.eventId, gone!)).state).toBe("EXPIRED");
    } finally {
      await b.close();
    }
  });

  it("judges a buyer who comes back by their new join, not by when they were last seen before they left", async () => {
    const b = instance({ abandonMs: 300 });
    try {
      const layout = await roomEvent(b, { rate: 1000, maxShopping: 1 });
      const [back, fresh] = buyers(2);
      await b.room.join(layout.eventId, back!);
      // seen now, then gone for longer than the abandon time
      expect((await b.room.position(layout.eventId, back!)).state).toBe("WAITING");
      await b.room.leave(layout.eventId, back!);
      await sleep(400);
      // A new joiner is never seen before they ask: their join time counts instead.
      const rejoined = await b.room.join(layout.eventId, back!);
      expect(rejoined).toMatchObject({ created: true, ticket: { state: "WAITING", position: 1 } });
      expect((await b.room.join(layout.eventId, fresh!)).ticket.position).toBe(2);
      const step = await b.room.step(layout.eventId);
      expect(step).toMatchObject({ skipped: 0, admitted: 1 });
      expect((await b.room.position(layout.eventId, back!)).state).toBe("ADMITTED");
      expect((await b.room.position(layout.eventId, fresh!)).position).toBe(1);
    } finally {
      await b.close();
    }
  });

  it("skips nobody as abandoned for not being seen while admission itself was down", async () => {
    const b = instance({ abandonMs: 300, outageMs: 600 });
    try {
      const layout = await roomEvent(b, { rate: 1000, maxShopping: 1 });
      const [shopper, back, silent] = buyers(3);
      for (const id of [shopper!, back!, silent!]) await b.room.join(layout.eventId, id);
      await sleep(5);
      expect((await b.room.step(layout.eventId))?.admitted).toBe(1);
      // No step and no position call for longer than both the abandon time and the outage gap:
      // every API instance was down, and nobody could say they were still there.
      await sleep(800);
      await b.room.leave(layout.eventId, shopper!);
      const afterOutage = await b.room.step(layout.eventId);
      expect(afterOutage).toMatchObject({ skipped: 0, admitted: 1 });
      expect((await b.room.position(layout.eventId, back!)).state).toBe("ADMITTED");
      // Once steps run again, silence counts again.
      await sleep(350);
      await b.room.leave(layout.eventId, back!);
      const later = await b.room.step(layout.eventId);
      expect(later).toMatchObject({ skipped: 1, admitted: 0 });
      expect((await b.room.position(layout.eventId, silent!)).state).toBe("EXPIRED");
    } finally {
      await b.close();
    }
  });

  it("pauses admission when everything is held or sold, says whether seats may return, and resumes when they do", async () => {
    const layout = await roomEvent(a, { rows: 1, seatsPerRow: 2, gaCapacity: 2, rate: 1000, maxShopping: 100 });
    const ids = buyers(6);
    await joinAll(a, layout.eventId, ids.slice(0, 1));
    await sleep(5);
    await a.room.step(layout.eventId);
    // Everything held: by one buyer outside the queue, for the test's sake.
    const holder = uid("holder");
    const target = { eventId: layout.eventId, buyerId: holder, requestId: uid("r"), admissionToken: "" };
    const seats = await a.holds.holdSeats(target, ["A-1-1", "A-1-2"]);
    await a.holds.holdQuantity({ ...target, requestId: uid("r") }, "FLOOR", 2);
    for (const b of ids.slice(1)) await a.room.join(layout.eventId, b);
    await sleep(5);
    const paused = await a.room.step(layout.eventId);
    expect(paused).toMatchObject({ admitted: 0, soldOut: true, seatsMayReturn: true, free: 0 });
    const waiting = await a.room.position(layout.eventId, ids[1]!);
    expect(waiting).toMatchObject({ state: "SOLD_OUT", seatsMayReturn: true, position: 1 });
    await sleep(20);
    expect((await a.room.step(layout.eventId))?.admitted).toBe(0);

    // Two seats come back: admission resumes, but the first admitted buyer, who
    // holds nothing yet, already has a claim on one of them.
    await a.holds.releaseHold(layout.eventId, seats.holdId, holder);
    await sleep(20);
    const resumed = await a.room.step(layout.eventId);
    expect(resumed).toMatchObject({ soldOut: false, free: 2, admitted: 1, awaitingFirstHold: 2 });
    expect(await admittedOf(a.room, layout.eventId, ids)).toEqual(ids.slice(0, 2));
    expect((await a.room.position(layout.eventId, ids[2]!)).state).toBe("WAITING");

    // Sold with no hold pending: sold out for good.
    const sold = await roomEvent(a, {
      rows: 1,
      seatsPerRow: 3,
      rate: 1000,
      soldSeats: rowSeatIds("A", { rowId: "1", firstSeatNumber: 1, seatCount: 3, priceCategoryId: "std" }),
    });
    await a.room.join(sold.eventId, ids[0]!);
    const final = await a.room.step(sold.eventId);
    expect(final).toMatchObject({ soldOut: true, seatsMayReturn: false, admitted: 0 });
    expect(await a.room.position(sold.eventId, ids[0]!)).toMatchObject({ state: "SOLD_OUT", seatsMayReturn: false });
  });

  it("drives admission from every instance's ticker, and reclaims expired holds that keep an event sold out", async () => {
    const b = instance();
    const log = createLogger("silent", "test");
    const tickers = [a, b].map(
      (i) =>
        new AdmissionTicker({
          redis: i.redis,
          room: i.room,
          reclaim: (id) => i.holds.reclaimExpired(id),
          log,
          intervalMs: 20,
        }),
    );
    try {
      const layout = await roomEvent(a, { rows: 1, seatsPerRow: 2, ttlSeconds: 3, rate: 1000, maxShopping: 100 });
      const holder = uid("holder");
      const held = await a.holds.holdSeats(
        { eventId: layout.eventId, buyerId: holder, requestId: uid("r"), admissionToken: "" },
        ["A-1-1", "A-1-2"],
      );
      const expiresAt = held.expireTime.getTime();
      const ids = buyers(3);
      for (const id of ids) await a.room.join(layout.eventId, id);
      // Each step with when it ended: a step that ended before the hold expired saw everything held.
      const steps: (StepResult & { at: number })[] = [];
      tickers.forEach((t) => t.onStep((id, r) => id === layout.eventId && steps.push({ ...r, at: Date.now() })));
      tickers[0]!.announce(layout.eventId); // the other finds it in the shared set of waiting rooms
      tickers.forEach((t) => t.start());
      const whileHeld = () => steps.filter((r) => r.at < expiresAt);
      // Waits for the conditions themselves (a busy machine only makes it slower), not for a time.
      await waitFor(() => whileHeld().length > 4 || Date.now() >= expiresAt);
      expect(whileHeld().length).toBeGreaterThan(4);
      expect(whileHeld().every((r) => r.soldOut && r.seatsMayReturn)).toBe(true);
      expect(await admittedOf(a.room, layout.eventId, ids)).toEqual([]);

      // The hold expires; nobody sweeps it, but the tickers reclaim it themselves and admission
      // resumes: two seats, two buyers in (the third waits for one of them to hold, leave or idle).
      await waitFor(async () => (await admittedOf(a.room, layout.eventId, ids)).length >= 2);
      await waitFor(() => steps.some((r) => r.admitted > 0));
      expect(await admittedOf(a.room, layout.eventId, ids)).toEqual(ids.slice(0, 2));
      expect((await a.room.position(layout.eventId, ids[2]!)).state).toBe("WAITING");
      // No step lets in more buyers without a hold than there are free seats (whichever process ran it).
      for (const r of steps) expect(r.awaitingFirstHold).toBeLessThanOrEqual(Math.max(0, r.free));
      expect((await a.holds.getHold(layout.eventId, held.holdId)).state).toBe("EXPIRED");
    } finally {
      tickers.forEach((t) => t.stop());
      await b.close();
    }
  });

  it("lets in no more buyers than seats: an admitted buyer counts against the seats left until they hold, leave or idle past the grace", async () => {
    // The grace is long enough for the holds below to happen within it on a busy machine.
    const b = instance({ firstHoldGraceMs: 3000 });
    const others = [instance({ firstHoldGraceMs: 3000 }), instance({ firstHoldGraceMs: 3000 })];
    try {
      const layout = await roomEvent(b, { rows: 1, seatsPerRow: 4, gaCapacity: 2, rate: 1000, maxShopping: 100 });
      const fresh = queueKeys(layout.eventId).fresh;
      const ids = buyers(12);
      await joinAll(b, layout.eventId, ids);
      await sleep(20);
      // Three instances step at once, again and again: six seats, six buyers in, however it interleaves.
      const results = (
        await Promise.all(
          [b, ...others].map(async (inst) => {
            const mine: StepResult[] = [];
            for (let k = 0; k < 15; k++) mine.push((await inst.room.step(layout.eventId))!);
            return mine;
          }),
        )
      ).flat();
      expect(results.reduce((n, r) => n + r.admitted, 0)).toBe(6);
      expect(await admittedOf(b.room, layout.eventId, ids)).toEqual(ids.slice(0, 6));
      expect(results.every((r) => r.awaitingFirstHold <= 6 && !r.soldOut)).toBe(true);

      // Holding takes a buyer off the list whatever the kind of hold; their seats now count as held.
      const target = (buyerId: string) => ({
        eventId: layout.eventId,
        buyerId,
        requestId: uid("r"),
        admissionToken: "",
      });
      await b.holds.holdSeats(target(ids[0]!), ["A-1-1"]);
      await b.holds.holdBestAvailable(target(ids[1]!), 2, { priceCategoryId: "", sectionId: "" });
      await b.holds.holdQuantity(target(ids[2]!), "FLOOR", 1);
      expect(await b.redis.zrange(fresh, "0", "-1")).toEqual(expect.arrayContaining(ids.slice(3, 6)));
      expect(await b.redis.zcard(fresh)).toBe(3);
      // 6 - 4 held = 2 free, 3 admitted still to hold: nobody more comes in.
      expect(await b.room.step(layout.eventId)).toMatchObject({
        free: 2,
        admitted: 0,
        awaitingFirstHold: 3,
        soldOut: false,
      });

      // Two of those leave: one seat is unclaimed again, and the next buyer comes in.
      await b.room.leave(layout.eventId, ids[3]!);
      expect(await b.room.step(layout.eventId)).toMatchObject({ free: 2, admitted: 0, awaitingFirstHold: 2 });
      await b.room.leave(layout.eventId, ids[4]!);
      expect(await b.room.step(layout.eventId)).toMatchObject({ free: 2, admitted: 1, awaitingFirstHold: 2 });
      expect(await admittedOf(b.room, layout.eventId, ids)).toEqual([...ids.slice(0, 3), ids[5], ids[6]]);

      // The others never hold: past the grace they stop counting, and the line moves on.
      await sleep(3100);
      expect(await b.room.step(layout.eventId)).toMatchObject({ free: 2, admitted: 2, awaitingFirstHold: 2 });
      expect((await b.room.position(layout.eventId, ids[7]!)).state).toBe("ADMITTED");
      expect((await b.room.position(layout.eventId, ids[8]!)).state).toBe("ADMITTED");
      expect((await b.room.position(layout.eventId, ids[9]!)).state).toBe("WAITING");
    } finally {
      await Promise.all([b, ...others].map((i) => i.close()));
    }
  });

  it("refuses bad input and changes nothing", async () => {
    const layout = await roomEvent(a);
    await expect(a.room.join(uid("nope"), "b1")).rejects.toMatchObject({ reason: "EVENT_NOT_FOUND" });
    await expect(a.room.join(layout.eventId, "bad}id")).rejects.toMatchObject({ reason: "VALIDATION_FAILED" });
    await expect(a.room.join(layout.eventId, "")).rejects.toMatchObject({ reason: "VALIDATION_FAILED" });
    await expect(a.room.join(layout.eventId, "x".repeat(65))).rejects.toMatchObject({ reason: "VALIDATION_FAILED" });
    await expect(a.room.position(layout.eventId, uid("never"))).rejects.toMatchObject({
      reason: "QUEUE_TICKET_NOT_FOUND",
    });
    await a.inventory.setSaleState(layout.eventId, "CLOSED");
    await expect(a.room.join(layout.eventId, uid("late"))).rejects.toMatchObject({ reason: "SALE_CLOSED" });
    expect(await codes(a.room, layout.eventId, ["bad}id"])).toEqual(new Map([["bad}id", ""]]));
    expect(await a.redis.zcard(queueKeys(layout.eventId).line)).toBe(0);

    const off = await roomEvent(a);
    off.waitingRoom.enabled = false;
    await a.inventory.load(off, "OPEN", { seatIds: [], gaSold: new Map(), boughtByBuyer: new Map() });
    await expect(a.room.join(off.eventId, "b1")).rejects.toMatchObject({ reason: "WAITING_ROOM_DISABLED" });
  });

  it("rate-limits joins and position reads per buyer, with a retry delay", async () => {
    const b = instance({ joinLimit: 2, positionLimit: 3, rateLimitWindowMs: 5000 });
    try {
      const layout = await roomEvent(b);
      const buyer = uid("eager");
      await b.room.join(layout.eventId, buyer);
      await b.room.join(layout.eventId, buyer);
      const err = await b.room.join(layout.eventId, buyer).catch((e: unknown) => e);
      expect(err).toMatchObject({ reason: "RATE_LIMITED" });
      expect((err as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
      expect((err as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(5000);
      for (let k = 0; k < 3; k++) await b.room.position(layout.eventId, buyer);
      await expect(b.room.position(layout.eventId, buyer)).rejects.toMatchObject({ reason: "RATE_LIMITED" });
      // Another buyer is not affected.
      await b.room.join(layout.eventId, uid("calm"));
    } finally {
      await b.close();
    }
  });
});
