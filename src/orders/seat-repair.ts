// Repairs the live state of one hold's seats from MySQL, the truth, when
// Redis no longer has the hold as the checkout or refund expects (sell_hold
// or unsell_hold answered MISSING, or the hold hash is gone), and after a
// partial refund released some of a sold hold's seats. Only the seats
// concerned are written (lua/repair_seats.lua): a rebuild of the whole event
// would drop every live hold and start a new epoch, and under steady
// checkout traffic each pinned hold of the old epoch would start another.
import type { Scripts } from "../adapters/redis/scripts.js";
import type { Logger } from "../logger.js";
import type { OrderStore } from "./order-store.js";

export interface RepairTarget {
  eventId: string;
  holdId: string;
  buyerId: string;
  seatIds: string[];
  sectionId: string;
}

export type RepairResult = "OK" | "NOT_LOADED";

export class SeatRepair {
  constructor(
    private readonly scripts: Scripts,
    private readonly orders: OrderStore,
    private readonly log: Logger,
  ) {}

  /**
   * Writes the sold or free state MySQL gives the target's seats into Redis.
   * Idempotent. "NOT_LOADED" when the event has no live state at all (the
   * API's rebuild loads it; a checkout or refund never rebuilds an event).
   * Redis or MySQL errors propagate, so the activity is retried.
   */
  async repair(target: RepairTarget): Promise<RepairResult> {
    const truth = await this.orders.seatTruth(target);
    const { result, changed } = await this.scripts.inventory.repairSeats({ ...target, truth });
    this.log.info(
      {
        eventId: target.eventId,
        holdId: target.holdId,
        result,
        changed,
        sold: truth.sold.length,
        free: truth.free.length,
      },
      "hold's seats repaired from mysql",
    );
    return result;
  }
}
