// Every RPC against every kind of caller: no token, each kind of bad token, a
// buyer on their own things, a buyer on another buyer's things, a gate of
// another event, the right gate, and an operator. Each cell asserts the gRPC
// code and the ErrorInfo reason, through the real API with real JWTs.
import { createHmac, generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { credentials, Metadata, status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeStatus } from "../../src/grpc/errors.js";
import { Event, EventServiceClient } from "../../src/gen/ticketing/v1/event_service.js";
import { OrderServiceClient, OrderState } from "../../src/gen/ticketing/v1/order_service.js";
import { QueueServiceClient } from "../../src/gen/ticketing/v1/queue_service.js";
import {
  HoldBestAvailableRequest,
  ReservationServiceClient,
  type Hold,
} from "../../src/gen/ticketing/v1/reservation_service.js";
import { TicketServiceClient } from "../../src/gen/ticketing/v1/ticket_service.js";
import { signJwt } from "../../src/identity/local-issuer.js";
import { call, uid } from "../support/app.js";
import {
  holdSeats,
  openSaleEvent,
  startCheckoutStack,
  watchUntilFinal,
  type CheckoutStack,
} from "../support/checkout.js";
import { bearer, issuer } from "../support/identity.js";

let s: CheckoutStack;
let clients: {
  events: EventServiceClient;
  queue: QueueServiceClient;
  reservations: ReservationServiceClient;
  orders: OrderServiceClient;
  tickets: TicketServiceClient;
};
let ev: string; // alice's event: holds, orders, tickets
let other: string; // another event (the wrong gate's)
let spare: string; // for the operator's sale changes
let wr: string; // an event with its waiting room on
const holds: Record<string, Hold> = {};
let orderId = "";
let cancelOrderId = "";
let ticketCode = "";

const ALICE = "alice_matrix";
const BOB = "bob_matrix";

type Caller = "none" | "alice" | "bob" | "gateOther" | "gateRight" | "operator";
const callerMetadata = (c: Caller): Metadata => {
  switch (c) {
    case "none":
      return new Metadata();
    case "alice":
      return bearer({ buyer: ALICE });
    case "bob":
      return bearer({ buyer: BOB });
    case "gateOther":
      return bearer({ gate: "south-9", events: [other] });
    case "gateRight":
      return bearer({ gate: "north-1", events: [ev] });
    case "operator":
      return bearer({ operator: "ops-matrix" });
  }
};

/** What a call answered: "OK" or "<CODE>:<REASON>". */
type Outcome = string;

function outcomeOf(err: unknown): Outcome {
  const d = decodeStatus(err as ServiceError);
  return `${status[d.code]}:${d.errorInfo?.reason ?? "?"}`;
}

async function unary<Req>(
  client: object,
  method: (r: Req, m: Metadata, o: object, cb: (e: ServiceError | null, r: unknown) => void) => unknown,
  req: Req,
  md: Metadata,
): Promise<Outcome> {
  return call(client, method as never, req, md).then(
    () => "OK",
    (err: unknown) => outcomeOf(err),
  );
}

/** A server stream: OK once its first message arrives (then cancelled), else its error. */
function stream(open: (md: Metadata) => ClientReadableStream<unknown>, md: Metadata): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = open(md);
    s.on("data", () => {
      resolve("OK");
      s.cancel();
    });
    s.on("error", (err: ServiceError) => {
      if (err.code !== status.CANCELLED) resolve(outcomeOf(err));
    });
  });
}

const OK = "OK";
const SCOPE = "PERMISSION_DENIED:SCOPE_MISSING";
const BAD_REQUEST = "INVALID_ARGUMENT:VALIDATION_FAILED";
const GATE = "PERMISSION_DENIED:GATE_EVENT_MISMATCH";
let seat = 0;
const nextSeat = () => {
  seat++;
  return `A-${seat <= 10 ? 1 : 2}-${((seat - 1) % 10) + 1}`;
};

interface Row {
  rpc: string;
  run: (md: Metadata) => Promise<Outcome>;
  /** Expected per caller; the order of the keys is the order of the calls. */
  expect: Partial<Record<Caller, Outcome>>;
  public?: boolean;
}

function rows(): Row[] {
  const c = clients;
  const r = () => uid("r");
  const hold = (md: Metadata, buyerId = "") =>
    unary(
      c.reservations,
      c.reservations.holdSeats,
      {
        eventId: ev,
        buyerId,
        admissionToken: "",
        requestId: r(),
        selection: { $case: "seats" as const, value: { seatIds: [nextSeat()] } },
      },
      md,
    );
  const buyerWrites = { alice: OK, bob: OK, gateRight: SCOPE, operator: BAD_REQUEST };
  return [
    // EventService
    {
      rpc: "CreateEvent",
      run: (md) =>
        unary(c.events, c.events.createEvent, { requestId: r(), event: Event.fromPartial(eventOf(uid("mx"))) }, md),
      expect: { alice: SCOPE, gateRight: SCOPE, operator: OK },
    },
    { rpc: "GetEvent", run: (md) => unary(c.events, c.events.getEvent, { eventId: ev }, md), expect: all(OK) },
    {
      rpc: "ListEvents",
      run: (md) => unary(c.events, c.events.listEvents, { pageSize: 1, pageToken: "" }, md),
      expect: all(OK),
    },
    { rpc: "GetSeatMap", run: (md) => unary(c.events, c.events.getSeatMap, { eventId: ev }, md), expect: all(OK) },
    {
      rpc: "WatchSeatMap",
      run: (md) => stream((m) => c.events.watchSeatMap({ eventId: ev }, m), md),
      expect: all(OK),
    },
    {
      rpc: "GetEventSummary",
      run: (md) => unary(c.events, c.events.getEventSummary, { eventId: ev }, md),
      expect: { alice: SCOPE, gateRight: SCOPE, operator: OK },
    },
    ...(["pauseSale", "openSale", "rebuildInventory", "closeSale"] as const).map((m): Row => ({
      rpc: m,
      run: (md) => unary(c.events, c.events[m], { eventId: spare, requestId: r() }, md),
      expect: { alice: SCOPE, bob: SCOPE, gateRight: SCOPE, operator: OK },
    })),
    {
      // The operator gets past the rights to the event's own refusal (it has no waiting room).
      rpc: "UpdateWaitingRoom",
      run: (md) =>
        unary(c.events, c.events.updateWaitingRoom, { eventId: spare, requestId: r(), admissionsPerSecond: 5 }, md),
      expect: {
        alice: SCOPE,
        bob: SCOPE,
        gateRight: SCOPE,
        operator: "FAILED_PRECONDITION:WAITING_ROOM_DISABLED",
      },
    },
    // ReservationService
    { rpc: "HoldSeats", run: (md) => hold(md), expect: buyerWrites },
    {
      rpc: "HoldSeats naming alice",
      run: (md) => hold(md, ALICE),
      expect: { alice: OK, bob: "PERMISSION_DENIED:BUYER_MISMATCH", gateRight: SCOPE, operator: OK },
    },
    {
      rpc: "HoldBestAvailable",
      run: (md) =>
        unary(
          c.reservations,
          c.reservations.holdBestAvailable,
          HoldBestAvailableRequest.fromPartial({ eventId: ev, admissionToken: "", requestId: r(), quantity: 1 }),
          md,
        ),
      expect: buyerWrites,
    },
    {
      rpc: "GetHold",
      run: (md) => unary(c.reservations, c.reservations.getHold, { eventId: ev, holdId: holds.get!.holdId }, md),
      expect: { alice: OK, bob: "NOT_FOUND:HOLD_NOT_FOUND", gateRight: "NOT_FOUND:HOLD_NOT_FOUND", operator: OK },
    },
    {
      rpc: "ExtendHold",
      run: (md) =>
        unary(
          c.reservations,
          c.reservations.extendHold,
          { eventId: ev, holdId: holds.extend!.holdId, buyerId: "", requestId: r() },
          md,
        ),
      expect: { bob: "NOT_FOUND:HOLD_NOT_FOUND", gateRight: SCOPE, operator: BAD_REQUEST, alice: OK },
    },
    {
      rpc: "ReleaseHold",
      run: (md) =>
        unary(
          c.reservations,
          c.reservations.releaseHold,
          { eventId: ev, holdId: holds.release!.holdId, buyerId: "", requestId: r() },
          md,
        ),
      expect: { bob: "NOT_FOUND:HOLD_NOT_FOUND", gateRight: SCOPE, operator: BAD_REQUEST, alice: OK },
    },
    // OrderService
    {
      rpc: "CreateOrder",
      run: (md) =>
        unary(
          c.orders,
          c.orders.createOrder,
          {
            eventId: ev,
            holdId: holds.order!.holdId,
            holdIds: [],
            buyerId: "",
            idempotencyKey: "k-matrix",
            payment: { paymentMethodToken: "tok_approve" },
          },
          md,
        ),
      expect: { bob: "NOT_FOUND:HOLD_NOT_FOUND", gateRight: SCOPE, operator: BAD_REQUEST, alice: OK },
    },
    {
      rpc: "GetOrder",
      run: (md) => unary(c.orders, c.orders.getOrder, { orderId }, md),
      expect: { alice: OK, bob: "NOT_FOUND:ORDER_NOT_FOUND", gateRight: "NOT_FOUND:ORDER_NOT_FOUND", operator: OK },
    },
    {
      rpc: "WatchOrder",
      run: (md) => stream((m) => c.orders.watchOrder({ orderId }, m), md),
      expect: { alice: OK, bob: "NOT_FOUND:ORDER_NOT_FOUND", gateRight: "NOT_FOUND:ORDER_NOT_FOUND", operator: OK },
    },
    {
      rpc: "ListOrders",
      run: (md) => unary(c.orders, c.orders.listOrders, { buyerId: "", eventId: ev, pageSize: 5, pageToken: "" }, md),
      expect: buyerWrites,
    },
    {
      rpc: "ListEventOrders",
      run: (md) =>
        unary(
          c.orders,
          c.orders.listEventOrders,
          { eventId: ev, state: OrderState.ORDER_STATE_UNSPECIFIED, buyerId: "", pageSize: 5, pageToken: "" },
          md,
        ),
      expect: { alice: SCOPE, bob: SCOPE, gateRight: SCOPE, operator: OK },
    },
    // QueueService
    {
      rpc: "JoinQueue",
      run: (md) => unary(c.queue, c.queue.joinQueue, { eventId: wr, buyerId: "", requestId: r() }, md),
      expect: buyerWrites,
    },
    {
      rpc: "GetQueuePosition",
      run: (md) => unary(c.queue, c.queue.getQueuePosition, { eventId: wr, buyerId: "" }, md),
      expect: buyerWrites,
    },
    {
      rpc: "WatchQueue",
      run: (md) => stream((m) => c.queue.watchQueue({ eventId: wr, buyerId: "" }, m), md),
      expect: buyerWrites,
    },
    {
      rpc: "LeaveQueue",
      run: (md) => unary(c.queue, c.queue.leaveQueue, { eventId: wr, buyerId: "", requestId: r() }, md),
      expect: buyerWrites,
    },
    {
      rpc: "GetSigningKeys",
      run: (md) => unary(c.queue, c.queue.getSigningKeys, {}, md),
      expect: all(OK),
      public: true,
    },
    {
      rpc: "RotateSigningKey",
      run: (md) => unary(c.queue, c.queue.rotateSigningKey, { purpose: "admission" }, md),
      expect: { alice: SCOPE, bob: SCOPE, gateRight: SCOPE, operator: OK },
    },
    {
      // The operator gets past the rights to the key's own refusal (no such key).
      rpc: "RetireSigningKey",
      run: (md) => unary(c.queue, c.queue.retireSigningKey, { kid: "no-such-key" }, md),
      expect: { alice: SCOPE, bob: SCOPE, gateRight: SCOPE, operator: "NOT_FOUND:SIGNING_KEY_NOT_FOUND" },
    },
    // TicketService
    {
      rpc: "VerifyTicket",
      run: (md) => unary(c.tickets, c.tickets.verifyTicket, { code: ticketCode }, md),
      expect: { alice: SCOPE, bob: SCOPE, gateOther: GATE, gateRight: OK, operator: OK },
    },
    {
      rpc: "ListRevokedTickets",
      run: (md) => unary(c.tickets, c.tickets.listRevokedTickets, { eventId: ev, pageSize: 10, pageToken: "" }, md),
      expect: { alice: SCOPE, gateOther: GATE, gateRight: OK, operator: OK },
    },
    {
      rpc: "CheckIn",
      run: (md) => unary(c.tickets, c.tickets.checkIn, { code: ticketCode, gateId: "", requestId: "scan-1" }, md),
      // The operator must name its gate; the right gate admits; a second scan is refused.
      expect: { alice: SCOPE, gateOther: GATE, operator: BAD_REQUEST, gateRight: OK },
    },
    {
      rpc: "CancelOrder",
      run: (md) =>
        unary(
          c.orders,
          c.orders.cancelOrder,
          { orderId: cancelOrderId, buyerId: "", requestId: r(), force: false, ticketIds: [] },
          md,
        ),
      expect: { bob: "NOT_FOUND:ORDER_NOT_FOUND", gateRight: SCOPE, operator: BAD_REQUEST, alice: OK },
    },
  ];
}

function all(o: Outcome): Partial<Record<Caller, Outcome>> {
  return { alice: o, bob: o, gateOther: o, gateRight: o, operator: o };
}

function eventOf(eventId: string) {
  return {
    eventId,
    name: "Matrix",
    venue: "Hall",
    currencyCode: "EUR",
    maxTicketsPerBuyer: 50,
    priceCategories: [{ priceCategoryId: "std", name: "Standard", priceMinor: "1000" }],
    sections: [
      {
        sectionId: "A",
        name: "Stalls",
        layout: {
          $case: "reserved" as const,
          value: { rows: [{ rowId: "1", firstSeatNumber: 1, seatCount: 10, priceCategoryId: "std" }] },
        },
      },
    ],
  };
}

/** Tokens that must all be refused, each with its reason. */
function badTokens(): { name: string; token: string; reason: string }[] {
  const now = Math.floor(Date.now() / 1000);
  const jwks = JSON.parse(readFileSync(issuer.jwksFile, "utf8")) as { keys: { kid: string; x: string }[] };
  const kid = jwks.keys[0]!.kid;
  const claims = {
    iss: issuer.issuer,
    aud: issuer.audience,
    sub: ALICE,
    iat: now,
    exp: now + 600,
    scope: "tickets:buy",
  };
  const stranger = generateKeyPairSync("ed25519").privateKey;
  const input = (header: object) =>
    `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  const hs = input({ alg: "HS256", kid, typ: "JWT" });
  return [
    { name: "malformed", token: "not.a.jwt", reason: "TOKEN_INVALID" },
    {
      name: "expired",
      token: issuer.sign({ buyer: ALICE }, { issuedAtSeconds: now - 7200, ttlSeconds: 3600 }),
      reason: "TOKEN_EXPIRED",
    },
    {
      name: "not yet valid",
      token: issuer.sign({ buyer: ALICE }, { notBeforeSeconds: now + 3600 }),
      reason: "TOKEN_NOT_YET_VALID",
    },
    {
      name: "wrong issuer",
      token: issuer.sign({ buyer: ALICE }, { issuer: "https://evil.example" }),
      reason: "TOKEN_INVALID",
    },
    { name: "wrong audience", token: issuer.sign({ buyer: ALICE }, { audience: "other" }), reason: "TOKEN_INVALID" },
    {
      name: "unknown kid",
      token: signJwt(stranger, { alg: "EdDSA", kid: "no-such-kid", typ: "JWT" }, claims),
      reason: "TOKEN_INVALID",
    },
    {
      name: "signed by another key",
      token: signJwt(stranger, { alg: "EdDSA", kid, typ: "JWT" }, claims),
      reason: "TOKEN_INVALID",
    },
    { name: "alg none", token: `${input({ alg: "none", kid, typ: "JWT" })}.`, reason: "TOKEN_INVALID" },
    {
      name: "HS256 with the public key as secret",
      token: `${hs}.${createHmac("sha256", Buffer.from(jwks.keys[0]!.x, "base64url")).update(hs).digest("base64url")}`,
      reason: "TOKEN_INVALID",
    },
  ];
}

beforeAll(async () => {
  s = await startCheckoutStack();
  const address = s.t.address;
  const insecure = credentials.createInsecure();
  // Clients without the test interceptor: every call carries exactly the metadata a cell gives it.
  clients = {
    events: new EventServiceClient(address, insecure),
    queue: new QueueServiceClient(address, insecure),
    reservations: new ReservationServiceClient(address, insecure),
    orders: new OrderServiceClient(address, insecure),
    tickets: new TicketServiceClient(address, insecure),
  };
  ev = await openSaleEvent(s.t, { maxTicketsPerBuyer: 50 });
  other = await openSaleEvent(s.t);
  spare = await openSaleEvent(s.t);
  wr = await openSaleEvent(s.t, {
    waitingRoom: {
      enabled: true,
      admissionsPerSecond: 50,
      maxShopping: 100,
      sessionSeconds: 60,
      shuffleSeedSha256: "",
    },
  });
  seat = 0; // alice's fixtures take row 2 from its end; the cells take seats from row 1's start
  holds.get = await holdSeats(s.t, ev, ALICE, ["A-2-10"]);
  holds.extend = await holdSeats(s.t, ev, ALICE, ["A-2-9"]);
  holds.release = await holdSeats(s.t, ev, ALICE, ["A-2-8"]);
  holds.order = await holdSeats(s.t, ev, ALICE, ["A-2-7"]);
  const paid = await holdSeats(s.t, ev, ALICE, ["A-2-6"]);
  const toCancel = await holdSeats(s.t, ev, ALICE, ["A-2-5"]);
  const order = async (h: Hold) => {
    const res = await call(
      s.t.orders,
      s.t.orders.createOrder,
      {
        eventId: ev,
        holdId: h.holdId,
        holdIds: [],
        buyerId: "",
        idempotencyKey: uid("k"),
        payment: { paymentMethodToken: "tok_approve" },
      },
      bearer({ buyer: ALICE }),
    );
    const states = await watchUntilFinal(s.t, res.order!.orderId);
    const last = states[states.length - 1]!;
    expect(last.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    return last;
  };
  const confirmed = await order(paid);
  orderId = confirmed.orderId;
  ticketCode = confirmed.tickets[0]!.code;
  cancelOrderId = (await order(toCancel)).orderId;
});

afterAll(async () => {
  for (const c of Object.values(clients ?? {})) c.close();
  await s?.stop();
});

describe("authorization matrix", () => {
  it("answers every RPC for every kind of caller with the code and reason its rights call for", async () => {
    const seen: Record<string, Record<string, Outcome>> = {};
    const wanted: Record<string, Record<string, Outcome>> = {};
    for (const row of rows()) {
      seen[row.rpc] = {};
      wanted[row.rpc] = {};
      // No token: only the public RPC answers.
      wanted[row.rpc]!.none = row.public ? OK : "UNAUTHENTICATED:TOKEN_MISSING";
      seen[row.rpc]!.none = await row.run(callerMetadata("none"));
      for (const [caller, outcome] of Object.entries(row.expect) as [Caller, Outcome][]) {
        wanted[row.rpc]![caller] = outcome;
        seen[row.rpc]![caller] = await row.run(callerMetadata(caller));
      }
    }
    expect(seen).toEqual(wanted);
  });

  it("refuses every kind of bad token on every RPC but the public one, with its reason", async () => {
    const tokens = badTokens();
    const seen: Record<string, string[]> = {};
    const wanted: Record<string, string[]> = {};
    for (const row of rows()) {
      if (row.rpc === "CreateEvent") continue; // any refusal is before the handler: one event-service row suffices
      seen[row.rpc] = [];
      wanted[row.rpc] = [];
      for (const t of tokens) {
        wanted[row.rpc]!.push(`${t.name}: ${row.public ? OK : `UNAUTHENTICATED:${t.reason}`}`);
        seen[row.rpc]!.push(`${t.name}: ${await row.run(bearer(t.token))}`);
      }
    }
    expect(seen).toEqual(wanted);
  });

  it("keeps admission tokens bound to the buyer they were issued for", async () => {
    // Alice is admitted to the waiting room's event; her admission token does not let Bob hold.
    const alice = bearer({ buyer: "alice_adm" });
    await call(clients.queue, clients.queue.joinQueue, { eventId: wr, buyerId: "", requestId: uid("r") }, alice);
    const admitted = await waitFor(async () => {
      const res = await call(clients.queue, clients.queue.getQueuePosition, { eventId: wr, buyerId: "" }, alice);
      return res.ticket?.admissionToken || undefined;
    });
    const attempt = (md: Metadata) =>
      unary(
        clients.reservations,
        clients.reservations.holdSeats,
        {
          eventId: wr,
          buyerId: "",
          admissionToken: admitted,
          requestId: uid("r"),
          selection: { $case: "seats" as const, value: { seatIds: ["A-1-1"] } },
        },
        md,
      );
    expect(await attempt(bearer({ buyer: "bob_adm" }))).toBe("PERMISSION_DENIED:ADMISSION_TOKEN_INVALID");
    expect(await attempt(alice)).toBe(OK);
  });
});

async function waitFor<T>(probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}
