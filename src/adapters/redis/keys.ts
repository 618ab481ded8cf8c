// Every Redis key, built in one place. Each key of an event carries the hash
// tag {ev:<eventId>}, so one script touches one cluster slot. Ids are
// validated (domain/validation.ts) before they get here: a `}` in an id would
// move the key to another slot.

function buildEventKeys(eventId: string) {
  const tag = `{ev:${eventId}}`;
  return {
    /**
     * HASH: state, ttl, maxext, maxlife, limit, epoch; the waiting room's wr_rate, wr_max, wr_session_ms and
     * wr_adaptive (adaptive admission's settings as JSON, '' when off).
     */
    meta: `${tag}:meta`,
    /** STRING: the layout JSON (seat map, prices, settings; without the seat plan: layout.ts withoutPlan). */
    layout: `${tag}:layout`,
    /** HASH seatId -> "<expiresMs>|<holdId>" while held, "S|<holdId>" when sold; absent when free. */
    seats: `${tag}:seats`,
    /** ZSET holdId -> expiresMs of every hold that may still be active. */
    expiries: `${tag}:exp`,
    /** STRING: the seat-map version, incremented with every change. */
    version: `${tag}:version`,
    /** STREAM of seat changes, entry id "<version>-0". */
    changes: `${tag}:changes`,
    /** HASH: the hold (lua/includes/common.lua); its id derives from event, buyer and request id. */
    hold: (holdId: string) => `${tag}:hold:${holdId}`,
    /** HASH: s<epoch> -> seats bought; h<holdId> -> "<epoch>|<qty>|<expiresMs>". */
    buyer: (buyerId: string) => `${tag}:buyer:${buyerId}`,
    /** STRING, for idempotent extensions. */
    extendRequest: (holdId: string, requestId: string) => `${tag}:ext:${holdId}:${requestId}`,
    /**
     * HASH rowPrefix -> "<largestFreeBlock>|<validUntilMs>": what the last
     * best-available scan learned of a row, so later scans skip rows that
     * cannot fit the quantity (lua/hold_best_available.lua).
     */
    rowHints: `${tag}:rowhints`,
    /** HASH "<filter>#<chunk>" -> rows a best-available filter picks from, in order (events/layout.ts bestAvailableRowChunks). */
    rows: `${tag}:rows`,
    /** HASH filter -> "<leading rows known full>|<validUntilMs>" (lua/hold_best_available.lua). */
    rowCursor: `${tag}:rowcursor`,
    /** General admission: HASH capacity, held, sold. */
    ga: (sectionId: string) => `${tag}:ga:${sectionId}`,
    /** HASH holdId -> quantity held in the section. */
    gaQuantities: (sectionId: string) => `${tag}:ga:${sectionId}:q`,
    /** ZSET holdId -> expiresMs of the section's holds. */
    gaExpiries: (sectionId: string) => `${tag}:ga:${sectionId}:exp`,
  };
}

/**
 * Builds each event's key set once per process: the hot path asks for it on
 * every call, and building it costs a string per key and a closure per
 * parameterised key (each named, under tsx) every time.
 */
function perEvent<T extends object>(build: (eventId: string) => T): (eventId: string) => Readonly<T> {
  const cache = new Map<string, Readonly<T>>();
  return (eventId) => {
    let keys = cache.get(eventId);
    if (!keys) {
      if (cache.size >= 10_000) cache.clear(); // bounded; rebuilding is cheap
      keys = Object.freeze(build(eventId));
      cache.set(eventId, keys);
    }
    return keys;
  };
}

export const eventKeys = perEvent(buildEventKeys);

export type EventKeys = ReturnType<typeof eventKeys>;

/**
 * The KEYS of a script that frees one hold's seats, in the order both
 * lua/release_hold.lua and lua/repair_seats.lua declare: the event's hold
 * bookkeeping, then, for a general-admission hold, its section's keys.
 */
export function holdFreeingKeys(i: { eventId: string; holdId: string; buyerId: string; sectionId: string }): string[] {
  const k = eventKeys(i.eventId);
  const keys = [
    k.meta,
    k.hold(i.holdId),
    k.seats,
    k.buyer(i.buyerId),
    k.expiries,
    k.version,
    k.changes,
    k.rowHints,
    k.rowCursor,
  ];
  if (i.sectionId) keys.push(k.ga(i.sectionId), k.gaQuantities(i.sectionId), k.gaExpiries(i.sectionId));
  return keys;
}

/** An event's waiting room (lua/includes/queue.lua describes each key). */
function buildQueueKeys(eventId: string) {
  const tag = `{ev:${eventId}}`;
  return {
    /** HASH: seed, seed_hash, opened, seq, bucket, last, ver, soldout, may_return, rate... */
    meta: `${tag}:q:meta`,
    /** ZSET buyerId -> place (pre-queue: seed shuffle; after opening: 2^52 + join sequence). */
    line: `${tag}:q:line`,
    /** HASH buyerId -> "<state>|<joinMs>|<score>|<sessionExpiresMs>|<admittedMs>". */
    recs: `${tag}:q:recs`,
    /** ZSET buyerId -> session expiry of everyone shopping now. */
    shop: `${tag}:q:shop`,
    /** HASH buyerId -> ms the buyer last asked where they stand. */
    seen: `${tag}:q:seen`,
    /** ZSET buyerId -> admittedMs of shoppers admitted lately who hold nothing yet (counted against the seats left). */
    fresh: `${tag}:q:fresh`,
    /** STRING counter of a buyer's calls in the current rate-limit window (kind: j join, p position). */
    rateLimit: (kind: "j" | "p", buyerId: string) => `${tag}:q:rl:${kind}:${buyerId}`,
    /** LIST: the score of each place given up in the line, newest last (lua/queue_leave.lua). */
    lefts: `${tag}:q:lefts`,
    /** HASH buyerId -> GetQueuePosition polls in rate-limit window number `window` (lua/queue_poll.lua). */
    pollRate: (window: number) => `${tag}:q:prl:${window}`,
    /**
     * HASH of the admission signals every API process published during one
     * wall-clock second (src/queue/admission-signals.ts): n holds, h<i> holds
     * in latency bucket i, c calls, e of them failed. Expires after minutes.
     */
    signals: (second: number) => `${tag}:q:sig:${second}`,
    /** STRING, the id of the process deciding adaptive admission's current interval; expires with it. */
    controlLease: `${tag}:q:aimd`,
  };
}

export const queueKeys = perEvent(buildQueueKeys);

/** SET of event ids whose waiting room may need admission steps (not event-tagged: one key). */
export const WAITING_ROOMS_KEY = "ticketing:waiting-rooms";

/** STRING counter of the benchmark's one-script baseline (NoopService.Eval, lua/bench_one_script.lua). */
export const BENCH_EVAL_KEY = "{bench}:eval";
