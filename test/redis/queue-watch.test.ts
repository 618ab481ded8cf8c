// WatchQueue's fan-out against real Redis: one feed per event per process,
// one batched read per change (not one per watcher), the token to the
// admitted watcher, and a slow watcher coalesced to the latest ticket.
import { setMaxListeners } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { AdmissionTicker } from "../../src/queue/admission-ticker.js";
import { QueueWatchHub } from "../../src/queue/queue-watch.js";
import type { QueueTicket } from "../../src/queue/waiting-room.js";
import { uid } from "../support/app.js";
import { instance, ownRedisForThisFile, roomEvent, sleep, type Instance } from "./queue-fixture.js";

let a: Instance;
// A Redis of this file's own: other files' API instances would step its rooms.
ownRedisForThisFile();
beforeAll(() => {
  a = instance();
});
afterAll(async () => {
  await a.close();
});

async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out");
    await sleep(10);
  }
}

describe("WatchQueue fan-out", () => {
  it("serves many watchers from one feed with one batched read per change", async () => {
    const log = createLogger("silent", "test");
    const ticker = new AdmissionTicker({
      redis: a.redis,
      room: a.room,
      reclaim: async () => undefined,
      log,
      intervalMs: 20,
    });
    const hub = new QueueWatchHub({ room: a.room, ticker, log, keepAliveMs: 30_000, minReadIntervalMs: 50 });
    let reads = 0;
    const views = a.room.views.bind(a.room);
    a.room.views = (eventId, buyers) => {
      reads++;
      return views(eventId, buyers);
    };
    const layout = await roomEvent(a, { rate: 1000, maxShopping: 1 });
    const ids = Array.from({ length: 1001 }, (_, i) => `v${String(i).padStart(4, "0")}_${uid("x")}`);
    for (let i = 0; i < ids.length; i += 200)
      await Promise.all(ids.slice(i, i + 200).map((b) => a.room.join(layout.eventId, b)));
    await sleep(10);
    expect((await ticker.stepNow(layout.eventId))?.admitted).toBe(1); // ids[0] shops; everyone else waits
    ticker.track(layout.eventId);
    ticker.start();
    const controller = new AbortController();
    setMaxListeners(0, controller.signal); // one signal for 1,000 watchers
    const got = new Map<string, QueueTicket[]>();
    let release!: () => void;
    const slow = ids[500]!;
    const gate = new Promise<void>((r) => (release = r));
    const streams = ids.slice(1).map((b) =>
      hub.watch(layout.eventId, b, controller.signal, async (t) => {
        const list = got.get(b) ?? [];
        list.push(t);
        got.set(b, list);
        // The slow watcher stalls after its first message.
        if (b === slow && list.length === 1) await gate;
      }),
    );
    try {
      await until(() => got.size === 1000);
      expect(hub.feedCount).toBe(1);
      expect(hub.watcherCount).toBe(1000);
      expect(got.get(ids[1]!)![0]).toMatchObject({ state: "WAITING", position: 1 });
      expect(got.get(ids[1000]!)![0]).toMatchObject({ state: "WAITING", position: 1000 });

      // Three buyers at the head leave in turn: everyone behind moves up three places.
      reads = 0;
      for (let i = 0; i < 3; i++) {
        await a.room.leave(layout.eventId, ids[i]!);
        // The next in line is admitted by the ticker (and gets its token) before leaving in turn.
        if (i < 2) await until(() => got.get(ids[i + 1]!)!.at(-1)!.state === "ADMITTED");
      }
      await until(() => got.get(ids[1000]!)!.at(-1)!.position === 997);
      // ids[1] and ids[2] were admitted in turn, got their tokens and their streams ended; ids[3] shops now.
      for (const b of ids.slice(1, 4)) {
        const last = got.get(b)!.at(-1)!;
        expect(last.state).toBe("ADMITTED");
        expect(last.admissionToken).toMatch(/^token:/);
      }
      expect(hub.watcherCount).toBe(1000 - 3);
      // A handful of batched reads for three changes and a thousand watchers, not one per watcher.
      expect(reads).toBeLessThan(30);
      for (const b of ids.slice(4)) {
        if (b === slow) continue;
        expect(got.get(b)!.at(-1)!.position).toBe(ids.indexOf(b) - 3);
      }

      // The stalled watcher gets only the latest ticket once it drains, not every step it missed.
      release();
      await until(() => got.get(slow)!.length >= 2);
      await sleep(100);
      const slowTickets = got.get(slow)!;
      expect(slowTickets.length).toBe(2);
      expect(slowTickets[1]!.position).toBe(500 - 3);
    } finally {
      release();
      controller.abort();
      await Promise.allSettled(streams);
      ticker.stop();
    }
    expect(hub.feedCount).toBe(0);
  });
});
