// Checkout end to end: the real API, the real worker, the Temporal dev
// server, MySQL, Redis and the payment simulator.
import { status } from "@grpc/grpc-js";
import type { RowDataPacket } from "mysql2/promise";
import { describe, expect, it } from "vitest";
import { OrderState } from "../../src/gen/ticketing/v1/order_service.js";
import { HoldState } from "../../src/gen/ticketing/v1/reservation_service.js";
import { TicketState } from "../../src/gen/ticketing/v1/ticket_service.js";
import { call, callError, uid } from "../support/app.js";
import {
  createOrder,
  holdSeats,
  ledgerState,
  openSaleEvent,
  checkoutStackForThisFile,
  watchUntilFinal,
} from "../support/checkout.js";

const s = checkoutStackForThisFile();

async function seatStates(eventId: string): Promise<string> {
  const map = await call(s.t.events, s.t.events.getSeatMap, { eventId });
  return map.sections
    .find((x) => x.sectionId === "A")!
    .rows.map((r) => r.states)
    .join("/");
}

describe("checkout", () => {
  it("confirms a paid hold: order CONFIRMED, seats sold, payment captured", async () => {
    const eventId = await openSaleEvent(s.t);
    const hold = await holdSeats(s.t, eventId, uid("alice"), ["A-1-1", "A-1-2"]);
    const order = await createOrder(s.t, hold, "tok_approve");
    expect(order.state).toBe(OrderState.ORDER_STATE_PENDING_PAYMENT);
    expect(order.amountMinor).toBe("10000");
    const states = await watchUntilFinal(s.t, order.orderId);
    expect(states[states.length - 1]!.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    expect(await seatStates(eventId)).toBe("SSFFFFFFFF/FFFFFFFFFF");
    expect(await ledgerState(s.t, order.orderId)).toBe("CAPTURED");
    const h = await call(s.t.reservations, s.t.reservations.getHold, { eventId, holdId: hold.holdId });
    expect(h.hold!.state).toBe(HoldState.HOLD_STATE_SOLD);
    // The sold seats cannot be held again.
    const err = await callError(s.t.reservations, s.t.reservations.holdSeats, {
      eventId,
      buyerId: uid("late"),
      admissionToken: "",
      requestId: uid("r"),
      selection: { $case: "seats", value: { seatIds: ["A-1-1"] } },
    });
    expect(err.errorInfo?.reason).toBe("SEATS_UNAVAILABLE");

    // One ticket per seat, each verifies and checks in exactly once.
    const confirmed = (await call(s.t.orders, s.t.orders.getOrder, { orderId: order.orderId })).order!;
    expect(confirmed.tickets.map((t) => t.seatId).sort()).toEqual(["A-1-1", "A-1-2"]);
    const [first, second] = confirmed.tickets;
    const verified = await call(s.t.tickets, s.t.tickets.verifyTicket, { code: first!.code });
    expect(verified.ticket).toMatchObject({
      ticketId: first!.ticketId,
      eventId,
      orderId: order.orderId,
      seatId: first!.seatId,
      state: TicketState.TICKET_STATE_VALID,
    });
    const scan = { code: first!.code, gateId: "north-1", requestId: uid("scan") };
    expect((await call(s.t.tickets, s.t.tickets.checkIn, scan)).ticket!.state).toBe(
      TicketState.TICKET_STATE_CHECKED_IN,
    );
    // The scanner uploading the same scan again is harmless; a second scan is refused, saying where the first was.
    expect((await call(s.t.tickets, s.t.tickets.checkIn, scan)).ticket!.checkInGate).toBe("north-1");
    const twice = await callError(s.t.tickets, s.t.tickets.checkIn, {
      ...scan,
      gateId: "south-2",
      requestId: uid("scan"),
    });
    expect(twice.errorInfo?.reason).toBe("ALREADY_CHECKED_IN");
    expect(twice.errorInfo?.metadata.gate_id).toBe("north-1");
    // Concurrent scans of the other ticket at two gates: exactly one admits it.
    const race = await Promise.allSettled(
      ["east", "west", "east2", "west2"].map((gateId) =>
        call(s.t.tickets, s.t.tickets.checkIn, { code: second!.code, gateId, requestId: uid("scan") }),
      ),
    );
    expect(race.filter((r) => r.status === "fulfilled").length).toBe(1);
    // A forged code (its signature altered) is refused.
    const forged = first!.code.slice(0, -4) + (first!.code.endsWith("AAAA") ? "BBBB" : "AAAA");
    const bad = await callError(s.t.tickets, s.t.tickets.verifyTicket, { code: forged });
    expect(bad.errorInfo?.reason).toBe("TICKET_CODE_INVALID");
    const truncated = await callError(s.t.tickets, s.t.tickets.verifyTicket, { code: first!.code.slice(0, 40) });
    expect(truncated.errorInfo?.reason).toBe("TICKET_CODE_INVALID");
  });

  it("fails a declined payment: FAILED, seats free again, nothing charged", async () => {
    const eventId = await openSaleEvent(s.t);
    const hold = await holdSeats(s.t, eventId, uid("bob"), ["A-2-5", "A-2-6"]);
    const order = await createOrder(s.t, hold, "tok_decline");
    const states = await watchUntilFinal(s.t, order.orderId);
    const last = states[states.length - 1]!;
    expect(last.state).toBe(OrderState.ORDER_STATE_FAILED);
    expect(last.failureReason).toBe("PAYMENT_DECLINED");
    expect(await seatStates(eventId)).toBe("FFFFFFFFFF/FFFFFFFFFF");
    expect(await ledgerState(s.t, order.orderId)).toBe("DECLINED");
    const h = await call(s.t.reservations, s.t.reservations.getHold, { eventId, holdId: hold.holdId });
    expect(h.hold!.state).toBe(HoldState.HOLD_STATE_RELEASED);
  });

  it("makes one order and one charge for the same idempotency key sent ten times at once", async () => {
    const eventId = await openSaleEvent(s.t);
    const hold = await holdSeats(s.t, eventId, uid("carol"), ["A-1-5"]);
    const key = uid("key");
    const orders = await Promise.all(Array.from({ length: 10 }, () => createOrder(s.t, hold, "tok_approve", key)));
    expect(new Set(orders.map((o) => o.orderId)).size).toBe(1);
    await watchUntilFinal(s.t, orders[0]!.orderId);
    const [rows] = await s.t.app.mysql.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM simulated_payments WHERE idempotency_key LIKE ?",
      [`${orders[0]!.orderId}%`],
    );
    expect(rows[0]!.n).toBe(1);
    expect(await ledgerState(s.t, orders[0]!.orderId)).toBe("CAPTURED");
    // The same key for another hold is refused and creates nothing.
    const other = await holdSeats(s.t, eventId, hold.buyerId, ["A-1-6"]);
    const err = await callError(s.t.orders, s.t.orders.createOrder, {
      eventId,
      holdId: other.holdId,
      holdIds: [],
      buyerId: other.buyerId,
      idempotencyKey: key,
      payment: { paymentMethodToken: "tok_approve" },
    });
    expect(err.code).toBe(status.ALREADY_EXISTS);
    expect(err.errorInfo?.reason).toBe("IDEMPOTENCY_KEY_REUSED");
  });

  it("refunds after confirmation: REFUNDED, tickets revoked, seats back on sale", async () => {
    const eventId = await openSaleEvent(s.t);
    const hold = await holdSeats(s.t, eventId, uid("dave"), ["A-1-9", "A-1-10"]);
    const order = await createOrder(s.t, hold, "tok_approve");
    await watchUntilFinal(s.t, order.orderId);
    const cancelled = await call(s.t.orders, s.t.orders.cancelOrder, {
      orderId: order.orderId,
      buyerId: hold.buyerId,
      requestId: uid("c"),
      force: false,
      ticketIds: [],
    });
    expect(cancelled.order!.state).toBe(OrderState.ORDER_STATE_REFUNDED);
    expect(await ledgerState(s.t, order.orderId)).toBe("REFUNDED");
    expect(await seatStates(eventId)).toBe("FFFFFFFFFF/FFFFFFFFFF");
    // Idempotent: cancelling again changes nothing.
    const again = await call(s.t.orders, s.t.orders.cancelOrder, {
      orderId: order.orderId,
      buyerId: hold.buyerId,
      requestId: uid("c"),
      force: false,
      ticketIds: [],
    });
    expect(again.order!.state).toBe(OrderState.ORDER_STATE_REFUNDED);
    // Its tickets are revoked: refused at the door and on the revocation list.
    const refunded = (await call(s.t.orders, s.t.orders.getOrder, { orderId: order.orderId })).order!;
    expect(refunded.tickets).toHaveLength(2);
    const revoked = await callError(s.t.tickets, s.t.tickets.checkIn, {
      code: refunded.tickets[0]!.code,
      gateId: "g1",
      requestId: uid("scan"),
    });
    expect(revoked.errorInfo?.reason).toBe("TICKET_REVOKED");
    const list = await call(s.t.tickets, s.t.tickets.listRevokedTickets, { eventId, pageSize: 0, pageToken: "" });
    expect(list.ticketIds.sort()).toEqual(refunded.tickets.map((t) => t.ticketId).sort());
    const since = await call(s.t.tickets, s.t.tickets.listRevokedTickets, {
      eventId,
      pageSize: 0,
      pageToken: list.nextPageToken,
    });
    expect(since.ticketIds).toEqual([]);
    // The seats sell again, to someone else.
    const next = await holdSeats(s.t, eventId, uid("erin"), ["A-1-9", "A-1-10"]);
    const second = await createOrder(s.t, next, "tok_approve");
    const final = await watchUntilFinal(s.t, second.orderId);
    expect(final[final.length - 1]!.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
  });

  it("refuses expired, foreign and unknown holds with stable reasons, creating nothing", async () => {
    const eventId = await openSaleEvent(s.t);
    const hold = await holdSeats(s.t, eventId, uid("frank"), ["A-2-1"]);
    const foreign = await callError(s.t.orders, s.t.orders.createOrder, {
      eventId,
      holdId: hold.holdId,
      holdIds: [],
      buyerId: uid("mallory"),
      idempotencyKey: uid("k"),
      payment: { paymentMethodToken: "tok_approve" },
    });
    // Another buyer's hold is not found: hold ids cannot be probed.
    expect(foreign.errorInfo?.reason).toBe("HOLD_NOT_FOUND");
    const unknown = await callError(s.t.orders, s.t.orders.createOrder, {
      eventId,
      holdId: "h_nope",
      holdIds: [],
      buyerId: hold.buyerId,
      idempotencyKey: uid("k"),
      payment: { paymentMethodToken: "tok_approve" },
    });
    expect(unknown.errorInfo?.reason).toBe("HOLD_NOT_FOUND");
    const bad = await callError(s.t.orders, s.t.orders.createOrder, {
      eventId,
      holdId: hold.holdId,
      holdIds: [],
      buyerId: hold.buyerId,
      idempotencyKey: "",
      payment: { paymentMethodToken: "has spaces" },
    });
    expect(bad.badRequest?.fieldViolations.map((v) => v.field)).toEqual([
      "idempotency_key",
      "payment.payment_method_token",
    ]);
    const [rows] = await s.t.app.mysql.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM orders WHERE event_id = ?", [
      eventId,
    ]);
    expect(rows[0]!.n).toBe(0);
  });

  it("lists a buyer's orders newest first, page by page, and refuses to cancel a failed one", async () => {
    const eventId = await openSaleEvent(s.t);
    const buyer = uid("lister");
    const made = [];
    for (const seat of ["A-2-7", "A-2-8", "A-2-9"]) {
      made.push(
        await createOrder(
          s.t,
          await holdSeats(s.t, eventId, buyer, [seat]),
          seat === "A-2-9" ? "tok_decline" : "tok_approve",
        ),
      );
    }
    await Promise.all(made.map((o) => watchUntilFinal(s.t, o.orderId)));
    const page1 = await call(s.t.orders, s.t.orders.listOrders, {
      buyerId: buyer,
      eventId,
      pageSize: 2,
      pageToken: "",
    });
    expect(page1.orders.map((o) => o.orderId)).toEqual([made[2]!.orderId, made[1]!.orderId]);
    expect(page1.nextPageToken).not.toBe("");
    const page2 = await call(s.t.orders, s.t.orders.listOrders, {
      buyerId: buyer,
      eventId,
      pageSize: 2,
      pageToken: page1.nextPageToken,
    });
    expect(page2.orders.map((o) => o.orderId)).toEqual([made[0]!.orderId]);
    expect(page2.nextPageToken).toBe("");
    const other = await call(s.t.orders, s.t.orders.listOrders, {
      buyerId: uid("nobody"),
      eventId: "",
      pageSize: 0,
      pageToken: "",
    });
    expect(other.orders).toEqual([]);
    const badToken = await callError(s.t.orders, s.t.orders.listOrders, {
      buyerId: buyer,
      eventId,
      pageSize: 2,
      pageToken: "garbage",
    });
    expect(badToken.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["page_token"]);

    const failed = await callError(s.t.orders, s.t.orders.cancelOrder, {
      orderId: made[2]!.orderId,
      buyerId: buyer,
      requestId: uid("c"),
      force: false,
      ticketIds: [],
    });
    expect(failed.code).toBe(status.FAILED_PRECONDITION);
    expect(failed.errorInfo?.reason).toBe("ORDER_FINAL");
    const foreign = await callError(s.t.orders, s.t.orders.cancelOrder, {
      orderId: made[0]!.orderId,
      buyerId: uid("mallory"),
      requestId: uid("c"),
      force: false,
      ticketIds: [],
    });
    // Another buyer's order is not found: order ids cannot be probed.
    expect(foreign.errorInfo?.reason).toBe("ORDER_NOT_FOUND");
    const missing = await callError(s.t.orders, s.t.orders.getOrder, { orderId: "o_missing" });
    expect(missing.errorInfo?.reason).toBe("ORDER_NOT_FOUND");
  });
});
