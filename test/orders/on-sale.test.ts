// The whole buyer journey on an event with its waiting room on: join, be
// admitted, hold with the admission token, pay, get tickets that verify
// offline with the published keys, and free the shopping slot.
import { createPublicKey } from "node:crypto";
import { jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { OrderState } from "../../src/gen/ticketing/v1/order_service.js";
import { QueueState, type QueueTicket } from "../../src/gen/ticketing/v1/queue_service.js";
import { call, callError, uid } from "../support/app.js";
import { createOrder, openSaleEvent, checkoutStackForThisFile, watchUntilFinal } from "../support/checkout.js";

const s = checkoutStackForThisFile({ QUEUE_TICK_MS: "20" });

async function admittedTicket(eventId: string, buyerId: string): Promise<QueueTicket> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { ticket } = await call(s.t.queue, s.t.queue.getQueuePosition, { eventId, buyerId });
    if (ticket!.state === QueueState.QUEUE_STATE_ADMITTED) return ticket!;
    if (Date.now() > deadline) throw new Error(`not admitted: ${JSON.stringify(ticket)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("an on-sale with the waiting room on", () => {
  it("takes a buyer from the queue to checked-in tickets, and frees their shopping slot", async () => {
    const eventId = await openSaleEvent(s.t, {
      waitingRoom: {
        enabled: true,
        admissionsPerSecond: 100,
        maxShopping: 1,
        sessionSeconds: 600,
        shuffleSeedSha256: "",
      },
    });
    const alice = uid("alice");
    const bob = uid("bob");
    await call(s.t.queue, s.t.queue.joinQueue, { eventId, buyerId: alice, requestId: uid("j") });
    await call(s.t.queue, s.t.queue.joinQueue, { eventId, buyerId: bob, requestId: uid("j") });
    const ticket = await admittedTicket(eventId, alice);
    // One shopper at a time: Bob waits while Alice shops.
    expect((await call(s.t.queue, s.t.queue.getQueuePosition, { eventId, buyerId: bob })).ticket!.state).toBe(
      QueueState.QUEUE_STATE_WAITING,
    );

    // The gate: no token, or Alice's token for Bob, is refused.
    const select = { $case: "seats" as const, value: { seatIds: ["A-1-5", "A-1-6"] } };
    const missing = await callError(s.t.reservations, s.t.reservations.holdSeats, {
      eventId,
      buyerId: alice,
      admissionToken: "",
      requestId: uid("r"),
      selection: select,
    });
    expect(missing.errorInfo?.reason).toBe("ADMISSION_TOKEN_MISSING");
    const stolen = await callError(s.t.reservations, s.t.reservations.holdSeats, {
      eventId,
      buyerId: bob,
      admissionToken: ticket.admissionToken,
      requestId: uid("r"),
      selection: select,
    });
    expect(stolen.errorInfo?.reason).toBe("ADMISSION_TOKEN_INVALID");

    const { hold } = await call(s.t.reservations, s.t.reservations.holdSeats, {
      eventId,
      buyerId: alice,
      admissionToken: ticket.admissionToken,
      requestId: uid("r"),
      selection: select,
    });
    const order = await createOrder(s.t, hold!, "tok_approve");
    const states = await watchUntilFinal(s.t, order.orderId);
    const confirmed = states[states.length - 1]!;
    expect(confirmed.state).toBe(OrderState.ORDER_STATE_CONFIRMED);

    // Buying completes Alice's session, so Bob is let in.
    expect((await call(s.t.queue, s.t.queue.getQueuePosition, { eventId, buyerId: alice })).ticket!.state).toBe(
      QueueState.QUEUE_STATE_COMPLETED,
    );
    expect((await admittedTicket(eventId, bob)).state).toBe(QueueState.QUEUE_STATE_ADMITTED);

    // A door scanner verifies a ticket offline with the ticket keys from GetSigningKeys.
    const { keys } = await call(s.t.queue, s.t.queue.getSigningKeys, {});
    const ticketKeys = keys.filter((k) => k.purpose === "ticket");
    expect(ticketKeys.length).toBeGreaterThan(0);
    expect(keys.some((k) => k.purpose === "admission")).toBe(true);
    const code = confirmed.tickets[0]!.code;
    const { payload, protectedHeader } = await jwtVerify(code, async (header) => {
      const jwk = ticketKeys.find((k) => k.kid === header.kid)!;
      return createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: "jwk" });
    });
    expect(protectedHeader.typ).toBe("ticket");
    expect(payload).toMatchObject({ eid: eventId, oid: order.orderId, tid: confirmed.tickets[0]!.ticketId });
    const scanned = await call(s.t.tickets, s.t.tickets.checkIn, { code, gateId: "main", requestId: uid("scan") });
    expect(scanned.ticket!.seatId).toBe(confirmed.tickets[0]!.seatId);

    // The funnel in GetEventSummary: Bob shops, Alice bought two tickets and one is checked in.
    const summary = await call(s.t.events, s.t.events.getEventSummary, { eventId });
    expect(summary.funnel).toEqual({
      waiting: 0,
      shopping: 1,
      activeHolds: 0,
      ordersPending: 0,
      ordersConfirmed: 1,
      ordersFailed: 0,
      ordersCancelled: 0,
      ordersRefunded: 0,
      ticketsValid: 2,
      ticketsCheckedIn: 1,
      // Measured over windows of at least 5 s: 0 or more, whichever window this is.
      admissionsPerSecond: expect.any(Number) as number,
    });
    expect(summary.total).toMatchObject({ sold: 2, held: 0 });
  });
});
