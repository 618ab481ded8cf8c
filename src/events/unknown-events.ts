// Event ids MySQL just said do not exist, remembered for a short time so a
// flood of made-up ids (a bot probing, a broken client) costs one MySQL query
// per id and period, not one per call. Lookups of the same id in flight share
// one query. Bounded: past `max` ids the oldest are forgotten first.
//
// Another process may create a remembered id meanwhile: this process answers
// EVENT_NOT_FOUND for it until the memory expires (ttlMs, a second or two).
// An event this process creates is forgotten at once.

/** mysql: the call's own query found nothing; memory: answered without a query of its own. */
export type LookupSource = "mysql" | "memory";

export class UnknownEvents {
  /** eventId -> ms until which it is known not to exist (insertion order = age). */
  private readonly until = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<unknown>>();
  /** Bumped by forget(): a lookup that started before an event was created must not remember it as unknown. */
  private forgets = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly onLookup: (source: LookupSource) => void = () => {},
    private readonly max = 100_000,
  ) {}

  /**
   * `lookup(eventId)` (a MySQL read) unless the id is remembered as unknown;
   * an undefined answer is remembered for ttlMs.
   */
  async find<T>(eventId: string, lookup: (eventId: string) => Promise<T | undefined>): Promise<T | undefined> {
    const until = this.until.get(eventId);
    if (until !== undefined) {
      if (until > Date.now()) {
        this.onLookup("memory");
        return undefined;
      }
      this.until.delete(eventId);
    }
    const running = this.inFlight.get(eventId) as Promise<T | undefined> | undefined;
    if (running) {
      // Shares a query in flight: no query of its own.
      return running.then((found) => {
        if (found === undefined) this.onLookup("memory");
        return found;
      });
    }
    const forgetsBefore = this.forgets;
    const read = lookup(eventId)
      .then((found) => {
        this.onLookup("mysql");
        if (found === undefined && this.forgets === forgetsBefore) this.remember(eventId);
        return found;
      })
      .finally(() => this.inFlight.delete(eventId));
    this.inFlight.set(eventId, read);
    return read;
  }

  /** The event exists now (this process created it). */
  forget(eventId: string): void {
    this.forgets += 1;
    this.until.delete(eventId);
  }

  private remember(eventId: string): void {
    if (this.ttlMs <= 0) return;
    this.until.delete(eventId);
    this.until.set(eventId, Date.now() + this.ttlMs);
    if (this.until.size > this.max) this.until.delete(this.until.keys().next().value!);
  }
}
