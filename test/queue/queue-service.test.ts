// QueueService and the hold gate through real servers and generated clients:
// join, position, leave, watch, signing keys, and HoldSeats refusing what it
// must, with two API instances sharing Redis and MySQL.
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SaleState, type Event } from "../../src/gen/ticketing/v1/event_service.js";
import { QueueState, type QueueTicket, type WatchQueueResponse } from "../../src/gen/ticketing/v1/queue_service.js";
import { queueKeys } from "../../src/adapters/redis/keys.js";
import { decodeStatus } from "../../src/grpc/errors.js";
import { call, callError, startTestApp, uid, type TestApp } from "../support/app.js";

let t: TestApp;
let t2: TestApp;
beforeAll(async () => {
  t = await startTestApp({ QUEUE_TICK_MS: "20", QUEUE_POSITION_LIMIT: "0", QUEUE_JOIN_LIMIT: "0" });
  // A second instance on the same Redis and MySQL, with a tight join limit.
  t2 = await startTestApp({
    QUEUE_TICK_MS: "20",
    MYSQL_URL: t.config.MYSQL_URL,
    QUEUE_JOIN_LIMIT: "2",
    QUEUE_RATE_WINDOW_MS: "5000",
  });
});
afterAll(async () => {
  await t2?.stop();
  await t?.stop();
});

interface RoomSettings {
  enabled?: boolean;
  rate?: number;
  maxShopping?: number;
  open?: boolean;
  /** Seats in the one row (default 20). */
  seats?: number;
}

async function createEvent(o: RoomSettings = {}): Promise<string> {
  const event: Event = {
    eventId: uid("ev"),
    name: "Queue night",
    venue: "Hall",
    startTime: undefined,
    saleOpenTime: undefined,
    saleCloseTime: undefined,
    saleState: SaleState.SALE_STATE_UNSPECIFIED,
    holdPolicy: undefined,
    maxTicketsPerBuyer: 4,
    waitingRoom: {
      enabled: o.enabled ?? true,
      admissionsPerSecond: o.rate ?? 50,
      maxShopping: o.maxShopping ?? 100,
      sessionSeconds: 60,
      shuffleSeedSha256: "",
    },
    currencyCode: "EUR",
    priceCategories: [{ priceCategoryId: "std", name: "Standard", priceMinor: "4500" }],
    sections: [
      {
        sectionId: "A",
        name: "Stalls",
        layout: {
          $case: "reserved",
          value: { rows: [{ rowId: "1", seatCount: o.seats ?? 20, priceCategoryId: "std", firstSeatNumber: 1 }] },
        },
      },
    ],
    capacity: 0,
    currencyMinorDigits: 0,
    refundCutoffSeconds: 0,
    createTime: undefined,
  };
  const { event: created } = await call(t.events, t.events.createEvent, { requestId: uid("r"), event }, t.operator);
  if (o.open ?? true)
    await call(t.events, t.events.openSale, { eventId: created!.eventId, requestId: uid("r") }, t.operator);
  return created!.eventId;
}

const join = (eventId: string, buyerId: string, app = t) =>
  call(app.queue, app.queue.joinQueue, { eventId, buyerId, requestId: uid("r") });
const position = (eventId: string, buyerId: string, app = t) =>
  call(app.queue, app.queue.getQueuePosition, { eventId, buyerId });
const leave = (eventId: string, buyerId: string) =>
  call(t.queue, t.queue.leaveQueue, { eventId, buyerId, requestId: uid("r") });
const hold = (eventId: string, buyerId: string, admissionToken: string, seatIds: string[], app = t) =>
  call(app.reservations, app.reservations.holdSeats, {
    eventId,
    buyerId,
    requestId: uid("r"),
    admissionToken,
    selection: { $case: "seats", value: { seatIds } },
  });
const holdError = (eventId: string, buyerId: string, admissionToken: string, seatIds: string[]) =>
  callError(t.reservations, t.reservations.holdSeats, {
    eventId,
    buyerId,
    requestId: uid("r"),
    admissionToken,
    selection: { $case: "seats", value: { seatIds } },
  });

async function admitted(eventId: string, buyerId: string, app = t): Promise<QueueTicket> {
  for (let i = 0; i < 200; i++) {
    const { ticket } = await position(eventId, buyerId, app);
    if (ticket!.state === QueueState.QUEUE_STATE_ADMITTED) return ticket!;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${buyerId} was not admitted`);
}

/** Opens a WatchQueue stream and collects its messages until it ends. */
function watch(eventId: string, buyerId: string) {
  const messages: QueueTicket[] = [];
  const stream = t.queue.watchQueue({ eventId, buyerId });
  const waiters: (() => void)[] = [];
  stream.on("data", (m: WatchQueueResponse) => {
    messages.push(m.ticket!);
    for (const w of waiters.splice(0)) w();
  });
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    stream.on("error", (err: ServiceError) => resolve(err));
    stream.on("end", () => resolve(undefined));
  });
  return {
    messages,
    ended,
    cancel: () => stream.cancel(),
    /** Resolves once a message satisfies `pred`. */
    async until(pred: (m: QueueTicket) => boolean, ms = 5000): Promise<QueueTicket> {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = messages.find(pred);
        if (found) return found;
        if (Date.now() > deadline)
          throw new Error(
            `no such message for ${buyerId}: ${JSON.stringify(messages.map((m) => [m.state, m.position]))}`,
          );
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    },
  };
}

describe("QueueService", () => {
  it("joins (idempotently), shows the pre-queue commitment, admits after opening, and leaves", async () => {
    const eventId = await createEvent({ open: false });
    const first = await join(eventId, "alice");
    expect(first.ticket).toMatchObject({ state: QueueState.QUEUE_STATE_PRE_QUEUE, shuffleSeed: "", maxTickets: 4 });
    expect(first.ticket!.shuffleSeedSha256).toMatch(/^[0-9a-f]{64}$/);
    const again = await join(eventId, "alice");
    expect(again.ticket!.joinTime).toEqual(first.ticket!.joinTime);

    await call(t.events, t.events.openSale, { eventId, requestId: uid("r") }, t.operator);
    const ticket = await admitted(eventId, "alice");
    expect(ticket.admissionToken.split(".")).toHaveLength(3);
    expect(ticket.admissionExpireTime!.getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect(ticket.shuffleSeed).toMatch(/^[0-9a-f]{64}$/);

    await leave(eventId, "alice");
    await leave(eventId, "alice");
    expect((await position(eventId, "alice")).ticket!.state).toBe(QueueState.QUEUE_STATE_LEFT);
  });

  it("answers bad input with clear errors and changes nothing", async () => {
    const eventId = await createEvent();
    const unknown = await callError(t.queue, t.queue.joinQueue, { eventId: uid("nope"), buyerId: "b", requestId: "r" });
    expect([unknown.code, unknown.errorInfo?.reason]).toEqual([status.NOT_FOUND, "EVENT_NOT_FOUND"]);
    const bad = await callError(t.queue, t.queue.joinQueue, { eventId, buyerId: "bad buyer}", requestId: "r" });
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["buyer_id"]);
    const missing = await callError(t.queue, t.queue.getQueuePosition, { eventId, buyerId: uid("never") });
    expect([missing.code, missing.errorInfo?.reason]).toEqual([status.NOT_FOUND, "QUEUE_TICKET_NOT_FOUND"]);
    const watchMissing = watch(eventId, uid("never"));
    expect(decodeStatus((await watchMissing.ended)!).errorInfo?.reason).toBe("QUEUE_TICKET_NOT_FOUND");

    const off = await createEvent({ enabled: false });
    const disabled = await callError(t.queue, t.queue.joinQueue, { eventId: off, buyerId: "b", requestId: "r" });
    expect([disabled.code, disabled.errorInfo?.reason]).toEqual([status.FAILED_PRECONDITION, "WAITING_ROOM_DISABLED"]);

    await call(t.events, t.events.closeSale, { eventId, requestId: uid("r") }, t.operator);
    const closed = await callError(t.queue, t.queue.joinQueue, { eventId, buyerId: "late", requestId: "r" });
    expect([closed.code, closed.errorInfo?.reason]).toEqual([status.FAILED_PRECONDITION, "SALE_CLOSED"]);
  });

  it("gates holds: no token, another buyer's, another event's, garbage; and none needed with the room off", async () => {
    const eventId = await createEvent();
    const other = await createEvent();
    await join(eventId, "alice");
    await join(other, "alice");
    const token = (await admitted(eventId, "alice")).admissionToken;
    const otherToken = (await admitted(other, "alice")).admissionToken;

    const none = await holdError(eventId, "alice", "", ["A-1-1"]);
    expect([none.code, none.errorInfo?.reason]).toEqual([status.UNAUTHENTICATED, "ADMISSION_TOKEN_MISSING"]);
    for (const [tok, buyer, problem] of [
      [token, "bob", "wrong_buyer"],
      [otherToken, "alice", "wrong_event"],
      ["garbage", "alice", "malformed"],
      [token.slice(0, -8), "alice", "forged"],
      [token.slice(0, token.lastIndexOf(".")), "alice", "malformed"],
    ] as const) {
      const e = await holdError(eventId, buyer, tok, ["A-1-1"]);
      expect([e.code, e.errorInfo?.reason, e.errorInfo?.metadata.problem]).toEqual([
        status.PERMISSION_DENIED,
        "ADMISSION_TOKEN_INVALID",
        problem,
      ]);
    }
    const best = await callError(t.reservations, t.reservations.holdBestAvailable, {
      eventId,
      buyerId: "alice",
      requestId: uid("r"),
      admissionToken: "",
      quantity: 2,
      priceCategoryId: "",
      sectionId: "",
    });
    expect(best.errorInfo?.reason).toBe("ADMISSION_TOKEN_MISSING");
    // Nothing was held by the refused calls; the good token holds.
    const { hold: held } = await hold(eventId, "alice", token, ["A-1-1"]);
    expect(held!.seatIds).toEqual(["A-1-1"]);
    // The other instance accepts the token too (shared key ring).
    await hold(eventId, "alice", token, ["A-1-2"], t2);

    const off = await createEvent({ enabled: false });
    expect((await hold(off, "anyone", "", ["A-1-1"])).hold!.seatIds).toEqual(["A-1-1"]);
  });

  it("WatchQueue pushes position changes to waiting buyers and ends with the token for the admitted one", async () => {
    const eventId = await createEvent({ maxShopping: 1 });
    const [b0, b1, b2, b3] = ["w0", "w1", "w2", "w3"].map((p) => uid(p)) as [string, string, string, string];
    for (const b of [b0, b1, b2, b3]) await join(eventId, b);
    await admitted(eventId, b0);
    const w1 = watch(eventId, b1);
    const w2 = watch(eventId, b2);
    const w3 = watch(eventId, b3);
    await w1.until((m) => m.state === QueueState.QUEUE_STATE_WAITING && m.position === "1");
    await w2.until((m) => m.position === "2");
    await w3.until((m) => m.position === "3" && m.peopleAhead === "2" && m.estimatedWaitSeconds > 0);

    await leave(eventId, b0);
    const admittedMessage = await w1.until((m) => m.state === QueueState.QUEUE_STATE_ADMITTED);
    expect(await w1.ended).toBeUndefined(); // the stream ended normally after the token
    expect(w1.messages.at(-1)).toEqual(admittedMessage);
    await w2.until((m) => m.position === "1");
    await w3.until((m) => m.position === "2");
    expect((await hold(eventId, b1, admittedMessage.admissionToken, ["A-1-5"])).hold!.buyerId).toBe(b1);

    // Leaving while watching ends that stream with LEFT; the others move up.
    await leave(eventId, b2);
    await w2.until((m) => m.state === QueueState.QUEUE_STATE_LEFT);
    expect(await w2.ended).toBeUndefined();
    await w3.until((m) => m.position === "1");
    // The sale closes: the last watcher is told so, and its stream ends.
    await call(t.events, t.events.closeSale, { eventId, requestId: uid("r") }, t.operator);
    await w3.until((m) => m.state === QueueState.QUEUE_STATE_SALE_CLOSED);
    expect(await w3.ended).toBeUndefined();
  });

  it("admits at the configured rate with both instances' tickers advancing admission at once", async () => {
    // More seats than buyers, and all of them in line before the sale opens: only the rate limits
    // admission, and the line cannot run dry however slowly a busy machine lets the joins through.
    const eventId = await createEvent({ rate: 20, maxShopping: 10_000, seats: 400, open: false });
    const ids = Array.from({ length: 300 }, (_, i) => `r${String(i).padStart(3, "0")}_${uid("x")}`);
    await Promise.all(ids.map((b) => join(eventId, b)));
    await call(t.events, t.events.openSale, { eventId, requestId: uid("r") }, t.operator);
    await position(eventId, ids[0]!, t2); // the second instance steps this event from now on too
    const q = queueKeys(eventId);
    // Until some 2.5 s of admission have passed (the line still holds 12 s more).
    while ((await t.app.redis.zcard(q.shop)) < 50) await new Promise((r) => setTimeout(r, 50));
    // One instant: the shopping count, the opening and the last step (Redis clock).
    const replies = await t.app.redis.multi().zcard(q.shop).hget(q.meta, "opened").hget(q.meta, "last").exec();
    const [shopping, opened, last] = replies!.map(([, v]) => v) as [number, string, string];
    const expected = (20 * (Number(last) - Number(opened))) / 1000;
    expect(Math.abs(Number(shopping) - expected)).toBeLessThanOrEqual(Math.max(3, expected * 0.1));
    // And in line order: nobody still waiting has a place ahead of anyone admitted (records: state|join|place|…).
    const records = Object.values(await t.app.redis.hgetall(q.recs)).map((v) => v.split("|"));
    const places = (states: string[]) => records.filter(([s]) => states.includes(s!)).map(([, , p]) => Number(p));
    const admittedPlaces = places(["A", "E"]);
    expect(admittedPlaces.length).toBeGreaterThanOrEqual(50);
    expect(Math.max(...admittedPlaces)).toBeLessThan(Math.min(...places(["W"])));
  });

  it("serves the signing keys as JWKS, the same on every instance", async () => {
    const [a, b] = await Promise.all([
      call(t.queue, t.queue.getSigningKeys, {}),
      call(t2.queue, t2.queue.getSigningKeys, {}),
    ]);
    expect(a.keys.length).toBeGreaterThanOrEqual(1);
    expect(a.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA" });
    expect(a.keys.map((k) => k.kid)).toEqual(b.keys.map((k) => k.kid));
  });

  it("rate-limits JoinQueue per buyer with RESOURCE_EXHAUSTED and RetryInfo", async () => {
    const eventId = await createEvent();
    await join(eventId, "eager", t2);
    await join(eventId, "eager", t2);
    const e = await callError(
      t2.queue,
      t2.queue.joinQueue,
      { eventId, buyerId: "eager", requestId: "r" },
      new Metadata(),
    );
    expect([e.code, e.errorInfo?.reason]).toEqual([status.RESOURCE_EXHAUSTED, "RATE_LIMITED"]);
    expect(
      Number(e.retryInfo?.retryDelay?.seconds ?? 0) * 1000 + (e.retryInfo?.retryDelay?.nanos ?? 0) / 1e6,
    ).toBeGreaterThan(0);
  });
});
