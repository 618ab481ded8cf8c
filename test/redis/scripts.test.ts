// The contract between lua/ and the typed script layer (src/adapters/redis):
// every script has exactly one typed caller, and every call passes as many
// KEYS as the script's header lists. Real Redis; the runner under test only
// records each call's KEYS count on its way through.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisScriptRunner, SCRIPT_NAMES, type ScriptArgv, type ScriptName } from "../../src/adapters/redis/runner.js";
import { Scripts } from "../../src/adapters/redis/scripts.js";
import type { RedisClient } from "../../src/adapters/redis/client.js";
import { repoRoot } from "../../tools/devstack/stack.js";
import { Inventory } from "../../src/events/inventory.js";
import { SeatIndex, type EventLayout } from "../../src/events/layout.js";
import { Holds } from "../../src/holds/holds.js";
import { completeShopping, WaitingRoom } from "../../src/queue/waiting-room.js";
import { uid } from "../support/app.js";
import { testLayout, testRedis } from "../support/inventory.js";
import { fakeAdmission, roomOptions, sleep } from "./queue-fixture.js";

const LUA = path.join(repoRoot, "lua");
const luaScripts = fs
  .readdirSync(LUA)
  .filter((f) => f.endsWith(".lua"))
  .map((f) => f.slice(0, -".lua".length))
  .sort();

/** How many KEYS a header allows: the required ones, then each optional group whole; or at least the required ones. */
interface KeysContract {
  allowed: number[];
  variadicFrom: number | undefined;
}

/**
 * Reads a script's header (its leading --[[ ]] comment): `KEYS[n]`,
 * `KEYS[a..b]`, and an open `KEYS[a..]` / `KEYS[a .. 9+3g]` (any number
 * more). An entry whose line says "only" is optional, all of its range or
 * none (e.g. "(general admission only)").
 */
export function keysContract(source: string): KeysContract {
  const header = /^--\[\[([\s\S]*?)\]\]/.exec(source)?.[1];
  if (!header) throw new Error("no --[[ header ]]");
  const entries: { from: number; to: number; optional: boolean; open: boolean }[] = [];
  for (const line of header.split("\n")) {
    for (const m of line.matchAll(/KEYS\[([^\]]+)\]/g)) {
      const inner = m[1]!.trim();
      const optional = /\bonly\b/.test(line);
      const single = /^(\d+)$/.exec(inner);
      const range = /^(\d+)\s*\.\.\s*(\d+)$/.exec(inner);
      const open = /^(\d+)/.exec(inner);
      if (single) entries.push({ from: Number(single[1]), to: Number(single[1]), optional, open: false });
      else if (range) entries.push({ from: Number(range[1]), to: Number(range[2]), optional, open: false });
      else if (open) entries.push({ from: Number(open[1]), to: Number(open[1]), optional, open: true });
      // `KEYS[10+3g ..]`: continues an open list already counted
      else if (!entries.some((e) => e.open)) throw new Error(`cannot read KEYS[${inner}]`);
    }
  }
  let next = 1;
  let required = 0;
  const allowed: number[] = [];
  let variadicFrom: number | undefined;
  for (const e of entries) {
    if (variadicFrom !== undefined) break;
    if (e.from !== next) throw new Error(`KEYS[${e.from}] follows KEYS[${next - 1}]: a gap or an overlap`);
    if (e.open) {
      variadicFrom = e.from;
      break;
    }
    if (!e.optional && allowed.length > 0) throw new Error(`KEYS[${e.from}] is required after an optional one`);
    if (e.optional) allowed.push(e.to);
    else required = e.to;
    next = e.to + 1;
  }
  return { allowed: [required, ...allowed], variadicFrom };
}

describe("the typed script layer", () => {
  it("has exactly one typed caller per script in lua/, all in src/adapters/redis", () => {
    expect([...SCRIPT_NAMES].sort()).toEqual(luaScripts);
    const calls = new Map<string, string[]>();
    const walk = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
        const p = path.join(dir, d.name);
        if (d.isDirectory()) return d.name === "gen" ? [] : walk(p);
        return d.name.endsWith(".ts") ? [p] : [];
      });
    for (const file of walk(path.join(repoRoot, "src"))) {
      const source = fs.readFileSync(file, "utf8");
      for (const m of source.matchAll(/\.run(?:<[^>(]*>)?\(\s*"(\w+)"/g)) {
        const where = path.relative(repoRoot, file);
        calls.set(m[1]!, [...(calls.get(m[1]!) ?? []), where]);
      }
    }
    for (const name of luaScripts) {
      expect(calls.get(name), `callers of ${name}`).toHaveLength(1);
      expect(calls.get(name)![0], `caller of ${name}`).toMatch(/^src\/adapters\/redis\//);
    }
    expect([...calls.keys()].sort()).toEqual(luaScripts);
  });

  it("reads the KEYS of a header, with optional groups and open lists", () => {
    expect(
      keysContract(`--[[\n  KEYS[1] a\n  KEYS[2..3] b, c\n  KEYS[4] d (only with x)\n  KEYS[5..7] e (x only)\n]]`),
    ).toEqual({ allowed: [3, 4, 7], variadicFrom: undefined });
    expect(keysContract(`--[[\n  KEYS[1] a  KEYS[2] b\n  KEYS[3..] per section\n]]`)).toEqual({
      allowed: [2],
      variadicFrom: 3,
    });
    expect(() => keysContract(`--[[\n  KEYS[1] a\n  KEYS[3] c\n]]`)).toThrow(/gap/);
    expect(() => keysContract(`--[[\n  KEYS[1] a (only)\n  KEYS[2] b\n]]`)).toThrow(/required after/);
  });

  describe("against Redis", () => {
    let redis: RedisClient;
    const seen: { name: ScriptName; keys: number }[] = [];
    let scripts: Scripts;
    let inventory: Inventory;
    let holds: Holds;
    let room: WaitingRoom;

    beforeAll(() => {
      redis = testRedis();
      const real = new RedisScriptRunner(redis);
      scripts = new Scripts({
        run<R>(name: ScriptName, argv: ScriptArgv): Promise<R> {
          seen.push({ name, keys: Number(argv[0]) });
          return real.run<R>(name, argv);
        },
      });
      inventory = new Inventory({ redis, scripts });
      holds = new Holds({ redis, scripts, inventory, gate: { check: async () => undefined } });
      room = new WaitingRoom({ scripts, inventory, admission: fakeAdmission, options: roomOptions });
    });
    afterAll(async () => {
      await redis?.quit();
    });

    async function load(waitingRoom: boolean, soldTo?: string): Promise<EventLayout> {
      const layout = testLayout({ rows: 2, seatsPerRow: 10, gaCapacity: 50 });
      layout.waitingRoom = waitingRoom
        ? { enabled: true, admissionsPerSecond: 100, maxShopping: 100, sessionSeconds: 600 }
        : layout.waitingRoom;
      await inventory.load(layout, "OPEN", {
        seatIds: soldTo ? ["A-2-10"] : [],
        gaSold: new Map(soldTo ? [["FLOOR", 1]] : []),
        boughtByBuyer: new Map(soldTo ? [[soldTo, 2]] : []),
      });
      return layout;
    }

    /** Every hold script in both shapes: reserved and general admission, then through its whole life. */
    async function holdLife(layout: EventLayout): Promise<void> {
      const eventId = layout.eventId;
      const target = () => ({ eventId, buyerId: uid("b"), requestId: uid("r"), admissionToken: "" });
      const seats = await holds.holdSeats(target(), ["A-1-1", "A-1-2"]);
      const ga = await holds.holdQuantity(target(), "FLOOR", 2);
      const best = await holds.holdBestAvailable(target(), 2, { priceCategoryId: "", sectionId: "" });
      expect([seats.state, ga.state, best.state]).toEqual(["ACTIVE", "ACTIVE", "ACTIVE"]);
      expect(best.seatIds).toHaveLength(2);
      expect((await holds.extendHold(eventId, seats.holdId, seats.buyerId, uid("x"))).extensionsUsed).toBe(1);
      expect((await holds.extendHold(eventId, ga.holdId, ga.buyerId, uid("x"))).extensionsUsed).toBe(1);
      for (const h of [seats, ga]) {
        expect((await holds.pinHolds(eventId, [h.holdId], h.buyerId, `o_${h.holdId}`, 60_000))[0]!.state).toBe(
          "PINNED",
        );
        expect(await holds.markSold(h)).toBe("OK");
        expect(await holds.markUnsold(h)).toBe("OK");
        // The checkout's repair of a lost hold, in both shapes: the seats (or places) are free in MySQL,
        // and the section's sold count is what it is now.
        const gaSold = h.sectionId
          ? ((await inventory.snapshot(new SeatIndex(layout))).ga.get(h.sectionId)?.sold ?? 0)
          : null;
        const repaired = await scripts.inventory.repairSeats({
          eventId,
          holdId: h.holdId,
          buyerId: h.buyerId,
          sectionId: h.sectionId ?? "",
          truth: { sold: [], free: h.seatIds, gaSold, bought: 0, mine: false },
        });
        expect(repaired.result).toBe("OK");
      }
      expect((await holds.releaseHold(eventId, best.holdId, best.buyerId)).state).toBe("RELEASED");
      const gaToRelease = await holds.holdQuantity(target(), "FLOOR", 1);
      expect((await holds.releaseHold(eventId, gaToRelease.holdId, undefined)).state).toBe("RELEASED");
      expect(await holds.reclaimExpired(eventId)).toBe(0);
    }

    it("passes every script as many KEYS as its header lists", async () => {
      // Without a waiting room, with buyers and sales to load, and general admission throughout.
      const plain = await load(false, uid("buyer"));
      await holdLife(plain);
      const snapshot = await inventory.snapshot(new SeatIndex(plain));
      expect(snapshot.seats.get("A-2-10")).toBe("S");
      expect(snapshot.ga.get("FLOOR")).toEqual({ capacity: 50, held: 0, sold: 1 });
      expect(await inventory.setSaleState(plain.eventId, "PAUSED")).toBe(true);
      expect(await inventory.setSaleState(uid("nothing"), "OPEN")).toBe(false);

      // With a waiting room: the holds carry its key of admitted buyers without a hold.
      const wr = await load(true);
      await holdLife(wr);
      const buyer = uid("w");
      expect((await room.join(wr.eventId, buyer)).created).toBe(true);
      // GetEvent's seed commitment (one queue_position call; polls go through queue_poll's batches).
      expect((await room.commitment(wr.eventId)).seedSha256).toMatch(/^[0-9a-f]{64}$/);
      // The admission bucket fills from the opening: step until it lets the buyer in.
      let state = (await room.position(wr.eventId, buyer)).state;
      for (let i = 0; i < 200 && state !== "ADMITTED"; i++) {
        expect((await room.step(wr.eventId))?.status).toBe("OPEN");
        state = (await room.position(wr.eventId, buyer)).state;
        if (state !== "ADMITTED") await sleep(20);
      }
      expect(state).toBe("ADMITTED");
      // UpdateWaitingRoom's write: where the live state is loaded, and nowhere else.
      expect(await inventory.setWaitingRoom({ ...wr, waitingRoom: { ...wr.waitingRoom, maxShopping: 5 } }, false)).toBe(
        true,
      );
      expect(await inventory.setWaitingRoom({ ...wr, eventId: uid("nothing") }, true)).toBe(false);
      // Adaptive admission's decision: refused while it is off.
      expect(await scripts.queue.setAdmissionRate({ eventId: wr.eventId, from: 5, to: 6 })).toBe(false);
      expect((await room.views(wr.eventId, [buyer, uid("nobody")]))?.buyers.map((b) => b.code)).toEqual(["A", ""]);
      await completeShopping(scripts, wr.eventId, buyer);
      await room.leave(wr.eventId, buyer);
      expect((await room.views(wr.eventId, [buyer]))?.buyers[0]?.code).toBe("C");
      expect(await scripts.benchOneScript()).toBeGreaterThan(0);

      expect(new Set(seen.map((s) => s.name))).toEqual(new Set(luaScripts));
      const wrong: string[] = [];
      for (const name of luaScripts) {
        const contract = keysContract(fs.readFileSync(path.join(LUA, `${name}.lua`), "utf8"));
        for (const { keys } of seen.filter((s) => s.name === name)) {
          const ok =
            contract.variadicFrom === undefined
              ? contract.allowed.includes(keys)
              : keys >= contract.variadicFrom - 1 && contract.allowed.includes(contract.variadicFrom - 1);
          if (!ok) wrong.push(`${name}: ${keys} KEYS, header allows ${JSON.stringify(contract)}`);
        }
      }
      expect(wrong).toEqual([]);
      // Both shapes of the scripts whose KEYS depend on the call were exercised.
      const counts = (name: ScriptName) =>
        [...new Set(seen.filter((s) => s.name === name).map((s) => s.keys))].sort((a, b) => a - b);
      expect(counts("hold_seats")).toEqual([7, 8]);
      expect(counts("hold_best_available")).toEqual([10, 11]);
      expect(counts("release_hold")).toEqual([9, 12]);
      expect(counts("sell_hold")).toEqual([7, 10]);
    });
  });
});
