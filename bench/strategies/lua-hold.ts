// Our hold: the product's own path, not a copy of it. The event is loaded
// with the product's Inventory (sale OPEN, waiting room off, the venue's seats)
// and every hold is Holds.holdSeats, which validates against the cached layout
// and runs lua/hold_seats.lua by SHA: one atomic script per hold, no lock, no
// retry. SEATS_UNAVAILABLE is the clean refusal; any other error is a failure.
import { SeatIndex, type EventLayout } from "../../src/events/layout.js";
import { Holds } from "../../src/holds/holds.js";
import { AppError } from "../../src/domain/errors.js";
import { benchRedis, gridLayout, loadOpenEvent, type BenchRedis } from "../lib/events.js";
import { readEventState, seatChecks, type Check } from "../lib/invariants.js";
import { dropEvent } from "../lib/redis.js";
import { errorReason, type HoldOutcome, type HoldStrategy, type Venue } from "./types.js";

export class LuaHold implements HoldStrategy {
  readonly name = "lua-hold";
  readonly label = "Ours: Holds.holdSeats → lua/hold_seats.lua (one atomic script per hold)";
  readonly claimsCorrect = true;
  readonly settings: Record<string, string | number> = {
    client: "one ioredis connection (the product's createRedis: auto-pipelining)",
    path: "src/holds/holds.ts Holds.holdSeats, event loaded with Inventory.load",
  };
  private readonly b: BenchRedis;
  private readonly holds: Holds;
  private layout: EventLayout | undefined;

  constructor(redisUrl: string) {
    this.b = benchRedis(redisUrl);
    this.holds = new Holds({ redis: this.b.redis, scripts: this.b.scripts, inventory: this.b.inventory });
  }

  private get current(): EventLayout {
    if (!this.layout) throw new Error("lua-hold: hold() before reset()");
    return this.layout;
  }

  async reset(venue: Venue): Promise<void> {
    if (this.layout) await dropEvent(this.b.redis, this.layout.eventId);
    await dropEvent(this.b.redis, venue.eventId);
    const layout = gridLayout(
      venue.eventId,
      { sections: 1, rowsPerSection: venue.rows, seatsPerRow: venue.seatsPerRow },
      venue.maxSeatsPerBuyer,
      "A",
    );
    if (layout.capacity !== venue.seatIds.length)
      throw new Error(`layout has ${layout.capacity} seats, venue ${venue.seatIds.length}`);
    await loadOpenEvent(this.b, layout);
    this.layout = layout;
  }

  async hold(buyerId: string, seatIds: string[]): Promise<HoldOutcome> {
    try {
      await this.holds.holdSeats(
        { eventId: this.current.eventId, buyerId, requestId: `r-${buyerId}`, admissionToken: "" },
        seatIds,
      );
      return { status: "held", attempts: 1 };
    } catch (err) {
      if (err instanceof AppError && err.reason === "SEATS_UNAVAILABLE") return { status: "taken", attempts: 1 };
      return { status: "failed", attempts: 1, reason: errorReason(err) };
    }
  }

  async readHolders(): Promise<Map<string, string>> {
    const state = await readEventState(this.b, this.current);
    const buyerOf = new Map(state.holds.map((h) => [h.holdId, h.buyer]));
    const holders = new Map<string, string>();
    for (const [seat, value] of state.seatValues) {
      const holdId = value.slice(value.indexOf("|") + 1);
      holders.set(seat, buyerOf.get(holdId) ?? `(hold ${holdId} not indexed)`);
    }
    return holders;
  }

  /** The product's own seat invariants (bench/lib/invariants.ts), as bench:holds checks them. */
  async extraChecks(): Promise<Check[]> {
    const state = await readEventState(this.b, this.current);
    return seatChecks(state, new SeatIndex(this.current)).map((c) => ({ ...c, name: `product: ${c.name}` }));
  }

  async close(): Promise<void> {
    try {
      if (this.layout) await dropEvent(this.b.redis, this.layout.eventId);
    } finally {
      await this.b.close();
    }
  }
}
