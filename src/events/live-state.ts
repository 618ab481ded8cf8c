// Repairs an event's live state in Redis from MySQL, the truth. Shared by
// Events (reads and sale changes repair on demand) and by the hold path and
// the waiting room, which ask it to explain an event with no live state.
import { AppError } from "../domain/errors.js";
import type { Logger } from "../logger.js";
import type { EventStore, StoredEvent } from "./event-store.js";
import type { Inventory } from "./inventory.js";
import type { EventLayout } from "./layout.js";
import { UnknownEvents, type LookupSource } from "./unknown-events.js";

/** How long a caller waits for another process's change to the same event. */
const LOCK_WAIT_SECONDS = 30;

export interface LiveStateDeps {
  store: EventStore;
  inventory: Inventory;
  log: Logger;
  /** How long an id MySQL does not know is answered EVENT_NOT_FOUND from memory (0: never). */
  unknownEventTtlMs?: number;
  /** Each lookup of an event that turned out unknown or was remembered as unknown, by where it was answered. */
  onUnknownEventLookup?: (source: LookupSource) => void;
}

export class LiveState {
  private readonly store: EventStore;
  private readonly inventory: Inventory;
  private readonly log: Logger;
  private readonly unknown: UnknownEvents;
  /** One live-state repair per event at a time in this process (others wait for it). */
  private readonly repairs = new Map<string, Promise<void>>();

  constructor(deps: LiveStateDeps) {
    this.store = deps.store;
    this.inventory = deps.inventory;
    this.log = deps.log;
    this.unknown = new UnknownEvents(deps.unknownEventTtlMs ?? 0, deps.onUnknownEventLookup);
  }

  /**
   * Makes sure Redis has the event's live state with MySQL's sale state: when
   * it is there, only the sale state is (re)set; when it is missing, the whole
   * state is loaded from MySQL (for a new event, nothing is sold yet). One
   * repair per event at a time in this process, under the event's lock across
   * processes, so it never overwrites a state another call just loaded.
   * Returns whether it loaded.
   */
  ensureLive(eventId: string, layout?: EventLayout): Promise<boolean> {
    const running = this.repairs.get(eventId);
    if (running) return running.then(() => false);
    let loaded = false;
    const repair = this.locked(eventId, async () => {
      const saleState = await this.store.saleState(eventId);
      if (!saleState) throw eventNotFound(eventId);
      if (await this.inventory.setSaleState(eventId, saleState)) return;
      const current = layout ?? (await this.requireStored(eventId)).layout;
      const sold = await this.store.soldState(eventId);
      await this.inventory.load(current, saleState, sold);
      loaded = true;
      this.log.info({ eventId, saleState, soldSeats: sold.seatIds.length }, "live inventory loaded from MySQL");
    }).finally(() => this.repairs.delete(eventId));
    this.repairs.set(eventId, repair);
    return repair.then(() => loaded);
  }

  /**
   * For the hold path and the waiting room: the event has no live state.
   * Unknown → EVENT_NOT_FOUND; known → rebuild it now and answer
   * INVENTORY_NOT_LOADED, which tells the caller to retry.
   */
  async explainMissing(eventId: string): Promise<AppError> {
    const stored = await this.stored(eventId);
    if (!stored) return eventNotFound(eventId);
    await this.ensureLive(eventId, stored.layout);
    return new AppError("INVENTORY_NOT_LOADED", `event ${eventId}'s live inventory was just rebuilt; retry`, {
      retryAfterMs: 0,
    });
  }

  /** Runs `fn` under the event's lock across processes (MySQL's), or answers INVENTORY_NOT_LOADED to retry. */
  async locked<T>(eventId: string, fn: () => Promise<T>): Promise<T> {
    const result = await this.store.withEventLock(eventId, LOCK_WAIT_SECONDS, fn);
    if (!result) {
      throw new AppError("INVENTORY_NOT_LOADED", `event ${eventId} is being changed by another call; retry`, {
        retryAfterMs: 1000,
      });
    }
    return result.value;
  }

  async requireStored(eventId: string): Promise<StoredEvent> {
    const stored = await this.stored(eventId);
    if (!stored) throw eventNotFound(eventId);
    return stored;
  }

  /** The event now exists (this process created it): no longer answered unknown from memory. */
  created(eventId: string): void {
    this.unknown.forget(eventId);
  }

  /** MySQL's record of the event, unless it is remembered as unknown. */
  private stored(eventId: string): Promise<StoredEvent | undefined> {
    return this.unknown.find(eventId, (id) => this.store.getLayout(id));
  }
}

export function eventNotFound(eventId: string): AppError {
  return new AppError("EVENT_NOT_FOUND", `event ${eventId} not found`, { metadata: { event_id: eventId } });
}
