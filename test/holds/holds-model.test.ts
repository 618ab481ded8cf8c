// Property-based: random sequences of hold, release, extend and rebuild
// against a simple in-memory model; after every step the outcome and the
// live seat map must match the model.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../../src/domain/errors.js";
import { uid } from "../support/app.js";
import { openEvent, redisFixture, type Fixture } from "../support/inventory.js";

const SEATS = ["A-1-1", "A-1-2", "A-1-3", "A-1-4", "A-2-1", "A-2-2", "A-2-3", "A-2-4"];
const BUYERS = ["b0", "b1", "b2"];
const LIMIT = 4;
const GA_CAPACITY = 5;
const MAX_EXTENSIONS = 1;

type Op =
  | { kind: "holdSeats"; buyer: number; seats: number[] }
  | { kind: "holdGa"; buyer: number; quantity: number }
  | { kind: "release"; buyer: number; hold: number }
  | { kind: "extend"; buyer: number; hold: number }
  | { kind: "rebuild" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("holdSeats" as const),
    buyer: fc.nat(BUYERS.length - 1),
    seats: fc.uniqueArray(fc.nat(SEATS.length - 1), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant("holdGa" as const),
    buyer: fc.nat(BUYERS.length - 1),
    quantity: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({ kind: fc.constant("release" as const), buyer: fc.nat(BUYERS.length - 1), hold: fc.nat(20) }),
  fc.record({ kind: fc.constant("extend" as const), buyer: fc.nat(BUYERS.length - 1), hold: fc.nat(20) }),
  fc.constant({ kind: "rebuild" as const }),
);

interface ModelHold {
  id: string;
  buyer: string;
  seats: string[];
  ga: number;
  active: boolean;
  extensions: number;
}

class Model {
  holds: ModelHold[] = [];
  owner = new Map<string, string>();
  gaHeld = 0;

  count(buyer: string): number {
    return this.holds.filter((h) => h.active && h.buyer === buyer).reduce((n, h) => n + h.seats.length + h.ga, 0);
  }

  /** The reason the real system must give, or "OK". */
  holdSeats(buyer: string, seats: string[]): string {
    if (this.count(buyer) + seats.length > LIMIT) return "LIMIT_EXCEEDED";
    if (seats.some((s) => this.owner.has(s))) return "SEATS_UNAVAILABLE";
    return "OK";
  }

  holdGa(buyer: string, quantity: number): string {
    if (this.count(buyer) + quantity > LIMIT) return "LIMIT_EXCEEDED";
    if (quantity > GA_CAPACITY - this.gaHeld) return "INSUFFICIENT_CAPACITY";
    return "OK";
  }

  add(hold: ModelHold): void {
    this.holds.push(hold);
    for (const s of hold.seats) this.owner.set(s, hold.id);
    this.gaHeld += hold.ga;
  }

  release(hold: ModelHold): void {
    if (!hold.active) return;
    hold.active = false;
    for (const s of hold.seats) this.owner.delete(s);
    this.gaHeld -= hold.ga;
  }

  rebuild(): void {
    for (const h of this.holds) h.active = false;
    this.owner.clear();
    this.gaHeld = 0;
  }
}

let f: Fixture;
beforeAll(() => {
  f = redisFixture();
});
afterAll(async () => {
  await f.close();
});

const reasonOf = (e: unknown) => (e instanceof AppError ? e.reason : `unexpected: ${String(e)}`);

describe("holds against a model", () => {
  it("agree on every outcome and on the seat map after every step", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        const layout = await openEvent(f, {
          rows: 2,
          seatsPerRow: 4,
          gaCapacity: GA_CAPACITY,
          limit: LIMIT,
          maxExtensions: MAX_EXTENSIONS,
          ttlSeconds: 300,
        });
        const eventId = layout.eventId;
        const model = new Model();
        const t = (buyer: string) => ({ eventId, buyerId: buyer, requestId: uid("r"), admissionToken: "" });

        for (const op of ops) {
          if (op.kind === "holdSeats") {
            const buyer = BUYERS[op.buyer]!;
            const seats = op.seats.map((i) => SEATS[i]!);
            const expected = model.holdSeats(buyer, seats);
            const got = await f.holds.holdSeats(t(buyer), seats).then((h) => {
              model.add({ id: h.holdId, buyer, seats, ga: 0, active: true, extensions: 0 });
              return "OK";
            }, reasonOf);
            expect(got).toBe(expected);
          } else if (op.kind === "holdGa") {
            const buyer = BUYERS[op.buyer]!;
            const expected = model.holdGa(buyer, op.quantity);
            const got = await f.holds.holdQuantity(t(buyer), "FLOOR", op.quantity).then((h) => {
              model.add({ id: h.holdId, buyer, seats: [], ga: op.quantity, active: true, extensions: 0 });
              return "OK";
            }, reasonOf);
            expect(got).toBe(expected);
          } else if (op.kind === "release" || op.kind === "extend") {
            const hold = model.holds[op.hold % Math.max(1, model.holds.length)];
            if (!hold) continue;
            const buyer = BUYERS[op.buyer]!;
            if (op.kind === "release") {
              const expected = buyer !== hold.buyer ? "HOLD_NOT_OWNED" : "OK";
              const got = await f.holds.releaseHold(eventId, hold.id, buyer).then((h) => {
                expect(h.state).toBe("RELEASED");
                return "OK";
              }, reasonOf);
              expect(got).toBe(expected);
              if (got === "OK") model.release(hold);
            } else {
              const expected =
                buyer !== hold.buyer
                  ? "HOLD_NOT_OWNED"
                  : !hold.active
                    ? "HOLD_NOT_ACTIVE"
                    : hold.extensions >= MAX_EXTENSIONS
                      ? "EXTENSION_LIMIT_REACHED"
                      : "OK";
              const got = await f.holds.extendHold(eventId, hold.id, buyer, uid("x")).then(() => "OK", reasonOf);
              expect(got).toBe(expected);
              if (got === "OK") hold.extensions++;
            }
          } else {
            await f.inventory.load(layout, "OPEN", { seatIds: [], gaSold: new Map(), boughtByBuyer: new Map() });
            model.rebuild();
          }

          const snapshot = await f.inventory.snapshot((await f.inventory.index(eventId))!);
          expect([...snapshot.seats.keys()].sort()).toEqual([...model.owner.keys()].sort());
          expect(snapshot.ga.get("FLOOR")?.held).toBe(model.gaHeld);
          for (const h of model.holds) {
            expect((await f.holds.getHold(eventId, h.id)).state).toBe(h.active ? "ACTIVE" : "RELEASED");
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});
