// GetQueuePosition's batches (src/queue/poll-batcher.ts, lua/queue_poll.lua)
// against real Redis (single node, and the cluster in the cluster run): the
// polls of one tick share one script call, known places are answered without
// reading them again and are never overstated while steps and leaves run, the
// rate limit and the abandonment rule still hold.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queueKeys } from "../../src/adapters/redis/keys.js";
import type { ScriptRunner } from "../../src/adapters/redis/runner.js";
import { uid } from "../support/app.js";
import { instance, ownRedisForThisFile, roomEvent, sleep, type Instance } from "./queue-fixture.js";

/** Counts the script calls by name. */
function counting(calls: Map<string, number>) {
  return (inner: ScriptRunner): ScriptRunner => ({
    run(name, argv) {
      calls.set(name, (calls.get(name) ?? 0) + 1);
      return inner.run(name, argv);
    },
  });
}

const buyers = (n: number, prefix = "p") =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, "0")}_${uid("x")}`);

async function joinInOrder(i: Instance, eventId: string, ids: string[]): Promise<void> {
  for (const b of ids) await i.room.join(eventId, b);
}

/** The buyer's true place in the line now (1-based), or 0 when not in it. */
async function truePlace(i: Instance, eventId: string, buyerId: string): Promise<number> {
  const rank = await i.redis.zrank(queueKeys(eventId).line, buyerId);
  return rank === null ? 0 : rank + 1;
}

let a: Instance;
const calls = new Map<string, number>();
// A Redis of this file's own: other files' API instances would step its rooms.
ownRedisForThisFile();
beforeAll(() => {
  // A long tick: every poll started together surely shares it.
  a = instance({ pollBatchMs: 40 }, counting(calls));
});
afterAll(async () => {
  await a.close();
});

describe("position polls in batches", () => {
  it("answers many concurrent polls of one tick with one script call, then from the places it knows", async () => {
    const layout = await roomEvent(a, { rate: 100, maxShopping: 1 });
    const ids = buyers(200);
    await joinInOrder(a, layout.eventId, ids);
    await a.room.position(layout.eventId, ids[0]!); // the layout cached, as on a busy API

    const before = calls.get("queue_poll") ?? 0;
    const stats = { ...a.room.polls!.stats };
    const tickets = await Promise.all(ids.map((b) => a.room.position(layout.eventId, b)));
    expect((calls.get("queue_poll") ?? 0) - before).toBe(1);
    expect(calls.get("queue_position") ?? 0).toBe(0);
    expect(a.room.polls!.stats.batches - stats.batches).toBe(1);
    expect(a.room.polls!.stats.polls - stats.polls).toBe(200);
    expect(tickets.map((t) => t.position)).toEqual(ids.map((_, k) => k + 1));
    expect(tickets.every((t) => t.state === "WAITING" && t.peopleAhead === t.position - 1)).toBe(true);

    // Admission moves the head; the next tick reads nobody again and every place is still exact.
    const step = await a.room.step(layout.eventId);
    expect(step?.admitted).toBe(1);
    const reads = a.room.polls!.stats.reads;
    const again = await Promise.all(ids.map((b) => a.room.position(layout.eventId, b)));
    expect(a.room.polls!.stats.reads - reads).toBe(1); // only the admitted buyer, whom the step reached
    expect(again[0]!.state).toBe("ADMITTED");
    expect(again[0]!.admissionToken).toContain(ids[0]!);
    expect(again.slice(1).map((t) => t.position)).toEqual(ids.slice(1).map((_, k) => k + 1));
    for (const b of [ids[1]!, ids[100]!, ids[199]!])
      expect(again[ids.indexOf(b)]!.position).toBe(await truePlace(a, layout.eventId, b));
  });

  it("never overstates a place while steps and leaves run from other instances at the same time", async () => {
    const b = instance({ pollBatchMs: 10 });
    const c = instance({ pollBatchMs: 15 });
    try {
      const layout = await roomEvent(a, { rate: 50, maxShopping: 100_000, rows: 10, seatsPerRow: 100 });
      const eventId = layout.eventId;
      const ids = buyers(400, "o");
      await joinInOrder(a, eventId, ids);
      let stepping = true;
      const steps = (async () => {
        while (stepping) {
          await Promise.all([a.room.step(eventId), c.room.step(eventId)]);
          await sleep(5);
        }
      })();
      let left = 0;
      const gone = new Set<string>();
      let goneAnswered = 0;
      let checked = 0;
      let overstated = 0;
      let behind = 0;
      for (let round = 0; round < 40; round++) {
        // Someone gives up their place now and then, near the back or ahead of most of the sample.
        for (const leaver of [
          round % 7 === 3 ? ids[ids.length - 1 - left] : undefined,
          round % 5 === 1 ? ids[150 + 7 * left] : undefined,
        ]) {
          if (!leaver) continue;
          await c.room.leave(eventId, leaver);
          gone.add(leaver);
          left++;
        }
        const sample = ids.filter((_, k) => (k + round) % 9 === 0);
        const places = await Promise.all(sample.map((x) => truePlace(a, eventId, x)));
        const answers = await Promise.all(sample.map((x) => b.room.position(eventId, x)));
        const after = await Promise.all(sample.map((x) => truePlace(a, eventId, x)));
        sample.forEach((_, k) => {
          const t = answers[k]!;
          // A buyer known here who gave up their place is told so, not their old place.
          if (gone.has(sample[k]!) && places[k] === 0) {
            goneAnswered++;
            expect(t.state === "LEFT" || t.state === "ADMITTED" || t.state === "EXPIRED").toBe(true);
          }
          if (t.state !== "WAITING") return;
          checked++;
          // The batch ran between the two reads: its place lies between them (the line only moves up).
          if (t.position > places[k]!) overstated++;
          if (after[k]! > 0 && t.position < after[k]!) behind++;
        });
      }
      stepping = false;
      await steps;
      expect(checked).toBeGreaterThan(100);
      expect(overstated).toBe(0);
      expect(behind).toBe(0);
      expect(left).toBeGreaterThan(10);
      expect(goneAnswered).toBeGreaterThan(0);
      // The places known were used, leaves or not: far fewer reads than polls.
      expect(b.room.polls!.stats.reads).toBeLessThan(b.room.polls!.stats.polls / 2);
    } finally {
      await b.close();
      await c.close();
    }
  });

  it("still notes a known buyer as there, so only the silent one is skipped when their turn comes", async () => {
    // Long enough that the joins below and the first step never take it on a
    // busy machine (the head would be skipped instead of let in).
    const abandonMs = 4000;
    const b = instance({ abandonMs, pollBatchMs: 20 });
    try {
      const layout = await roomEvent(b, { rate: 1000, maxShopping: 1 });
      const [first, gone, here] = buyers(3, "s");
      for (const x of [first!, gone!, here!]) await b.room.join(layout.eventId, x);
      expect(await b.room.step(layout.eventId)).toMatchObject({ admitted: 1 }); // the head moved: places known from here
      await b.room.leave(layout.eventId, first!);
      const reads = b.room.polls!.stats.reads;
      // The one who goes silent asks once first: a place this process knows, then nothing.
      expect((await b.room.position(layout.eventId, gone!)).position).toBe(1);
      const silentFrom = Date.now();
      let polls = 0;
      while (Date.now() - silentFrom < abandonMs + 200) {
        expect((await b.room.position(layout.eventId, here!)).position).toBe(2);
        polls++;
        await sleep(50);
      }
      // After each one's first read the process knew their place: the later polls read nothing, yet said "still here".
      expect(b.room.polls!.stats.reads - reads).toBe(2);
      expect(polls).toBeGreaterThan(5);
      const step = await b.room.step(layout.eventId);
      expect(step).toMatchObject({ skipped: 1, admitted: 1 });
      expect((await b.room.position(layout.eventId, here!)).state).toBe("ADMITTED");
      expect((await b.room.position(layout.eventId, gone!)).state).toBe("EXPIRED");
    } finally {
      await b.close();
    }
  });

  it("rate-limits each buyer across the polls of one tick, with a retry delay", async () => {
    // An hour's window: windows are aligned to the clock, and a boundary crossed
    // between the calls below would hand the eager buyer a fresh allowance.
    const window = 3_600_000;
    const b = instance({ positionLimit: 3, rateLimitWindowMs: window, pollBatchMs: 30 });
    try {
      const layout = await roomEvent(b);
      const [eager, calm] = buyers(2, "r");
      await b.room.join(layout.eventId, eager!);
      await b.room.join(layout.eventId, calm!);
      await b.room.position(layout.eventId, calm!);
      const batches = b.room.polls!.stats.batches;
      const results = await Promise.allSettled([
        ...Array.from({ length: 5 }, () => b.room.position(layout.eventId, eager!)),
        b.room.position(layout.eventId, calm!),
      ]);
      expect(b.room.polls!.stats.batches - batches).toBe(1);
      const eagerResults = results.slice(0, 5);
      expect(eagerResults.filter((r) => r.status === "fulfilled")).toHaveLength(3);
      const refused = eagerResults.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(refused).toHaveLength(2);
      for (const r of refused) {
        expect(r.reason).toMatchObject({ reason: "RATE_LIMITED" });
        expect((r.reason as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
        expect((r.reason as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(window);
      }
      // Another buyer is not affected, and the eager one stays refused in this window.
      expect(results[5]!.status).toBe("fulfilled");
      await expect(b.room.position(layout.eventId, eager!)).rejects.toMatchObject({ reason: "RATE_LIMITED" });
    } finally {
      await b.close();
    }
  });

  it("counts a buyer's polls in Redis only past a quarter of the limit in one process, and holds the limit across processes", async () => {
    const opts = { positionLimit: 8, rateLimitWindowMs: 3_600_000, pollBatchMs: 5 };
    const b = instance(opts);
    const c = instance(opts);
    try {
      const layout = await roomEvent(b);
      const buyer = uid("spread");
      await b.room.join(layout.eventId, buyer);
      const count = async () => {
        const window = Math.floor(Date.now() / opts.rateLimitWindowMs);
        return Number((await b.redis.hget(queueKeys(layout.eventId).pollRate(window), buyer)) ?? 0);
      };
      // Two polls in each process: within a quarter of the limit, nothing counted in Redis.
      for (const x of [b, c, b, c]) expect((await x.room.position(layout.eventId, buyer)).state).toBe("WAITING");
      expect(await count()).toBe(0);
      // Past it, each process counts its polls, the earlier ones included.
      await b.room.position(layout.eventId, buyer);
      expect(await count()).toBe(3);
      await c.room.position(layout.eventId, buyer);
      expect(await count()).toBe(6);
      await b.room.position(layout.eventId, buyer);
      await c.room.position(layout.eventId, buyer);
      expect(await count()).toBe(8);
      // Eight polls made: the ninth is refused, in either process.
      await expect(b.room.position(layout.eventId, buyer)).rejects.toMatchObject({ reason: "RATE_LIMITED" });
      await expect(c.room.position(layout.eventId, buyer)).rejects.toMatchObject({ reason: "RATE_LIMITED" });
    } finally {
      await b.close();
      await c.close();
    }
  });

  it("answers QUEUE_TICKET_NOT_FOUND and EVENT_NOT_FOUND in a batch as one call per poll did", async () => {
    const layout = await roomEvent(a);
    const member = uid("m");
    await a.room.join(layout.eventId, member);
    const [stranger, known] = await Promise.allSettled([
      a.room.position(layout.eventId, uid("stranger")),
      a.room.position(layout.eventId, member),
    ]);
    expect(stranger).toMatchObject({ status: "rejected", reason: { reason: "QUEUE_TICKET_NOT_FOUND" } });
    expect(known).toMatchObject({ status: "fulfilled", value: { state: "WAITING", position: 1 } });
    await expect(a.room.position(uid("nothing"), member)).rejects.toMatchObject({ reason: "EVENT_NOT_FOUND" });
  });
});
