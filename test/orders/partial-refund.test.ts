// Partial refunds (CancelOrder with ticket_ids): only the named tickets are
// revoked, only their seats or places go back on sale, the payment is
// refunded by their prices, and the order stays CONFIRMED until no valid
// ticket is left. Against the real stack: MySQL, Redis, Temporal and the
// payment simulator's ledger.
import { status, type ServiceError } from "@grpc/grpc-js";
import type { RowDataPacket } from "mysql2/promise";
import { describe, expect, it } from "vitest";
import { decodeStatus } from "../../src/grpc/errors.js";
import { OrderState, type Order } from "../../src/gen/ticketing/v1/order_service.js";
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
import { bearer } from "../support/identity.js";

const s = checkoutStackForThisFile();

async function confirmed(order: Order): Promise<Order> {
  expect((await watchUntilFinal(s.t, order.orderId)).pop()!.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
  return (await call(s.t.orders, s.t.orders.getOrder, { orderId: order.orderId })).order!;
}

async function seatOrder(eventId: string, buyerId: string, seatIds: string[]): Promise<Order> {
  return confirmed(await createOrder(s.t, await holdSeats(s.t, eventId, buyerId, seatIds), "tok_approve"));
}

async function floorOrder(eventId: string, buyerId: string, quantity: number): Promise<Order> {
  const res = await call(s.t.reservations, s.t.reservations.holdSeats, {
    eventId,
    buyerId,
    admissionToken: "",
    requestId: uid("r"),
    selection: { $case: "generalAdmission", value: { sectionId: "FLOOR", quantity } },
  });
  return confirmed(await createOrder(s.t, res.hold!, "tok_approve"));
}

const refund = (order: Order, ticketIds: string[]) =>
  call(
    s.t.orders,
    s.t.orders.cancelOrder,
    { orderId: order.orderId, buyerId: "", requestId: uid("x"), force: false, ticketIds },
    bearer({ buyer: order.buyerId }),
  );
const refundError = (order: Order, ticketIds: string[]) =>
  callError(
    s.t.orders,
    s.t.orders.cancelOrder,
    { orderId: order.orderId, buyerId: "", requestId: uid("x"), force: false, ticketIds },
    bearer({ buyer: order.buyerId }),
  );

const ticketOf = (order: Order, seatId: string) => order.tickets.find((t) => t.seatId === seatId)!;

async function seatMap(eventId: string) {
  const map = await call(s.t.events, s.t.events.getSeatMap, { eventId });
  const a = map.sections.find((x) => x.sectionId === "A")!;
  return { row1: a.rows[0]!.states, floor: map.sections.find((x) => x.sectionId === "FLOOR")!.counts! };
}

/** The seats MySQL says an order owns now. */
async function soldSeats(orderId: string): Promise<string[]> {
  const [rows] = await s.t.app.mysql.query<RowDataPacket[]>(
    "SELECT sold_seat_id FROM order_items WHERE order_id = ? AND sold_seat_id IS NOT NULL ORDER BY sold_seat_id",
    [orderId],
  );
  return rows.map((r) => String(r.sold_seat_id));
}

/** The simulator's ledger of an order's payment: state, refunded amount and partial refunds made. */
async function ledger(orderId: string) {
  const key = `${orderId}:payment`;
  const [rows] = await s.t.app.mysql.query<RowDataPacket[]>(
    "SELECT state, refunded_minor FROM simulated_payments WHERE idempotency_key = ?",
    [key],
  );
  const [refunds] = await s.t.app.mysql.query<RowDataPacket[]>(
    "SELECT amount_minor FROM simulated_refunds WHERE idempotency_key = ? ORDER BY amount_minor",
    [key],
  );
  return {
    state: String(rows[0]!.state),
    refunded: Number(rows[0]!.refunded_minor),
    refunds: refunds.map((r) => Number(r.amount_minor)),
  };
}

async function ticketState(code: string): Promise<TicketState | string> {
  try {
    return (await call(s.t.tickets, s.t.tickets.verifyTicket, { code })).ticket!.state;
  } catch (err) {
    return decodeStatus(err as ServiceError).errorInfo?.reason ?? "error";
  }
}

describe("partial refunds", () => {
  it("refunds 1 of 3 reserved seats, then the rest: seats, tickets, ledger and order agree at each step", async () => {
    const eventId = await openSaleEvent(s.t);
    // A-1 seats cost 50.00 each: 150.00 in all.
    const order = await seatOrder(eventId, uid("pr"), ["A-1-1", "A-1-2", "A-1-3"]);
    expect(order.amountMinor).toBe("15000");
    expect(order.refundedAmountMinor).toBe("0");
    expect((await seatMap(eventId)).row1).toBe("SSSFFFFFFF");

    const one = ticketOf(order, "A-1-2");
    const after = (await refund(order, [one.ticketId])).order!;
    expect(after.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    expect(after.refundedAmountMinor).toBe("5000");
    expect(after.tickets.filter((t) => t.revoked).map((t) => t.ticketId)).toEqual([one.ticketId]);
    expect((await seatMap(eventId)).row1).toBe("SFSFFFFFFF");
    expect(await soldSeats(order.orderId)).toEqual(["A-1-1", "A-1-3"]);
    expect(await ledger(order.orderId)).toEqual({ state: "CAPTURED", refunded: 5000, refunds: [5000] });
    expect(await ticketState(one.code)).toBe(TicketState.TICKET_STATE_REVOKED);
    expect(await ticketState(ticketOf(order, "A-1-1").code)).toBe(TicketState.TICKET_STATE_VALID);
    const scan = await callError(s.t.tickets, s.t.tickets.checkIn, {
      code: one.code,
      gateId: "door-1",
      requestId: uid("scan"),
    });
    expect(scan.errorInfo?.reason).toBe("TICKET_REVOKED");

    // The freed seat sells again to someone else; the order's other seats do not.
    const other = await seatOrder(eventId, uid("next"), ["A-1-2"]);
    expect(await soldSeats(other.orderId)).toEqual(["A-1-2"]);

    // The same refund again changes nothing (idempotent: same set, same refund).
    const again = (await refund(order, [one.ticketId])).order!;
    expect(again.refundedAmountMinor).toBe("5000");
    expect(await ledger(order.orderId)).toEqual({ state: "CAPTURED", refunded: 5000, refunds: [5000] });
    expect((await seatMap(eventId)).row1).toBe("SSSFFFFFFF");

    // The rest, by a whole-order CancelOrder: only the tickets still valid.
    const rest = (await refund(order, [])).order!;
    expect(rest.state).toBe(OrderState.ORDER_STATE_REFUNDED);
    expect(rest.refundedAmountMinor).toBe("15000");
    expect(rest.tickets.every((t) => t.revoked)).toBe(true);
    expect(await ledger(order.orderId)).toEqual({ state: "REFUNDED", refunded: 15000, refunds: [5000, 10000] });
    // The other buyer's seat A-1-2 stays sold to them.
    expect((await seatMap(eventId)).row1).toBe("FSFFFFFFFF");
    expect(await soldSeats(order.orderId)).toEqual([]);
    expect(await soldSeats(other.orderId)).toEqual(["A-1-2"]);
  });

  it("refunds 2 of 3 general-admission places: the section's sold count drops by 2, in MySQL and the seat map", async () => {
    const eventId = await openSaleEvent(s.t);
    const order = await floorOrder(eventId, uid("ga"), 3);
    expect(order.tickets).toHaveLength(3);
    expect((await seatMap(eventId)).floor).toMatchObject({ capacity: 20, sold: 3, free: 17 });

    const [a, b, c] = order.tickets;
    const after = (await refund(order, [a!.ticketId, b!.ticketId])).order!;
    expect(after.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    expect(after.refundedAmountMinor).toBe("4000");
    expect((await seatMap(eventId)).floor).toMatchObject({ sold: 1, free: 19 });
    const [sections] = await s.t.app.mysql.query<RowDataPacket[]>(
      "SELECT sold FROM sections WHERE event_id = ? AND section_id = 'FLOOR'",
      [eventId],
    );
    expect(Number(sections[0]!.sold)).toBe(1);
    expect(await ledger(order.orderId)).toEqual({ state: "CAPTURED", refunded: 4000, refunds: [4000] });
    expect(await ticketState(c!.code)).toBe(TicketState.TICKET_STATE_VALID);
    expect(await ticketState(a!.code)).toBe(TicketState.TICKET_STATE_REVOKED);

    const last = (await refund(order, [c!.ticketId])).order!;
    expect(last.state).toBe(OrderState.ORDER_STATE_REFUNDED);
    expect(last.refundedAmountMinor).toBe("6000");
    expect((await seatMap(eventId)).floor).toMatchObject({ sold: 0, free: 20 });
    expect(await ledger(order.orderId)).toEqual({ state: "REFUNDED", refunded: 6000, refunds: [2000, 4000] });
  });

  it("runs two partial refunds of different tickets at once: both refund exactly their amounts", async () => {
    const eventId = await openSaleEvent(s.t);
    // Two front seats (50.00) and one back seat (30.00).
    const order = await seatOrder(eventId, uid("cc"), ["A-1-1", "A-1-2", "A-2-1"]);
    const [x, y] = await Promise.all([
      refund(order, [ticketOf(order, "A-1-1").ticketId]),
      refund(order, [ticketOf(order, "A-2-1").ticketId]),
    ]);
    expect([x.order!.state, y.order!.state]).toEqual([
      OrderState.ORDER_STATE_CONFIRMED,
      OrderState.ORDER_STATE_CONFIRMED,
    ]);
    const now = (await call(s.t.orders, s.t.orders.getOrder, { orderId: order.orderId })).order!;
    expect(now.refundedAmountMinor).toBe("8000");
    expect(await ledger(order.orderId)).toEqual({ state: "CAPTURED", refunded: 8000, refunds: [3000, 5000] });
    expect(await soldSeats(order.orderId)).toEqual(["A-1-2"]);
    // Redis agrees: only A-1-2 still sold (A-2-1 is the first seat of row 2).
    const map = await call(s.t.events, s.t.events.getSeatMap, { eventId });
    expect(map.sections.find((x) => x.sectionId === "A")!.rows.map((r) => r.states)).toEqual([
      "FSFFFFFFFF",
      "FFFFFFFFFF",
    ]);
  });

  it("refunds one ticket asked for twice at once, and one named again in another set, only once", async () => {
    const eventId = await openSaleEvent(s.t);
    const order = await seatOrder(eventId, uid("tw"), ["A-1-1", "A-1-2", "A-1-3"]);
    const t1 = ticketOf(order, "A-1-1").ticketId;
    await Promise.all([refund(order, [t1]), refund(order, [t1])]);
    expect(await ledger(order.orderId)).toEqual({ state: "CAPTURED", refunded: 5000, refunds: [5000] });
    // A set naming it again with another ticket refunds only the other one (skipped, not refused).
    const t2 = ticketOf(order, "A-1-2").ticketId;
    const after = (await refund(order, [t2, t1])).order!;
    expect(after.refundedAmountMinor).toBe("10000");
    expect(await ledger(order.orderId)).toEqual({ state: "CAPTURED", refunded: 10000, refunds: [5000, 5000] });
    expect(await soldSeats(order.orderId)).toEqual(["A-1-3"]);
  });

  it("a whole-order refund racing a partial one of a GA order refunds the capture once, and every place comes back", async () => {
    const eventId = await openSaleEvent(s.t);
    for (let i = 0; i < 3; i++) {
      const order = await floorOrder(eventId, uid("wr"), 3);
      await Promise.all([refund(order, []), refund(order, [order.tickets[0]!.ticketId])]);
      const now = (await call(s.t.orders, s.t.orders.getOrder, { orderId: order.orderId })).order!;
      expect(now.state).toBe(OrderState.ORDER_STATE_REFUNDED);
      expect(now.refundedAmountMinor).toBe("6000");
      const l = await ledger(order.orderId);
      expect(l.state).toBe("REFUNDED");
      expect(l.refunded).toBe(6000);
      expect(l.refunds.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(6000);
      const [sections] = await s.t.app.mysql.query<RowDataPacket[]>(
        "SELECT sold FROM sections WHERE event_id = ? AND section_id = 'FLOOR'",
        [eventId],
      );
      expect(Number(sections[0]!.sold)).toBe(0);
    }
  });

  it("lets exactly one of a partial refund and a scan of the same ticket win, every time", async () => {
    const eventId = await openSaleEvent(s.t);
    for (let i = 0; i < 4; i++) {
      const order = await seatOrder(eventId, uid("race"), [`A-2-${2 * i + 1}`, `A-2-${2 * i + 2}`]);
      const ticket = order.tickets[0]!;
      const [refunded, admitted] = await Promise.allSettled([
        refund(order, [ticket.ticketId]),
        call(s.t.tickets, s.t.tickets.checkIn, { code: ticket.code, gateId: "door-1", requestId: uid("scan") }),
      ]);
      const now = (await call(s.t.orders, s.t.orders.getOrder, { orderId: order.orderId })).order!;
      expect(now.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
      if (refunded.status === "fulfilled") {
        expect(admitted.status).toBe("rejected");
        expect(decodeStatus((admitted as PromiseRejectedResult).reason as ServiceError).errorInfo?.reason).toBe(
          "TICKET_REVOKED",
        );
        expect(now.refundedAmountMinor).toBe("3000");
      } else {
        expect(decodeStatus(refunded.reason as ServiceError).errorInfo?.reason).toBe("TICKETS_CHECKED_IN");
        expect(admitted.status).toBe("fulfilled");
        expect(now.refundedAmountMinor).toBe("0");
        expect(await ledgerState(s.t, order.orderId)).toBe("CAPTURED");
      }
      // The other ticket is untouched either way.
      expect(await ticketState(order.tickets[1]!.code)).toBe(TicketState.TICKET_STATE_VALID);
    }
  });

  it("refuses unknown and repeated ticket ids with field violations, and a checked-in ticket by the policy", async () => {
    const eventId = await openSaleEvent(s.t);
    const order = await seatOrder(eventId, uid("val"), ["A-1-5", "A-1-6"]);
    const otherOrder = await seatOrder(eventId, uid("val2"), ["A-1-7"]);
    const [a, b] = order.tickets;

    const foreign = await refundError(order, [a!.ticketId, otherOrder.tickets[0]!.ticketId]);
    expect(foreign.code).toBe(status.INVALID_ARGUMENT);
    expect(foreign.errorInfo?.reason).toBe("VALIDATION_FAILED");
    expect(foreign.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["ticket_ids[1]"]);

    const twice = await refundError(order, [a!.ticketId, b!.ticketId, a!.ticketId]);
    expect(twice.code).toBe(status.INVALID_ARGUMENT);
    expect(twice.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["ticket_ids[2]"]);

    const malformed = await refundError(order, ["not a ticket id!"]);
    expect(malformed.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["ticket_ids[0]"]);

    // A failed order answers ORDER_FINAL, with ticket ids or without.
    const declined = await createOrder(s.t, await holdSeats(s.t, eventId, uid("dec"), ["A-1-9"]), "tok_decline");
    expect((await watchUntilFinal(s.t, declined.orderId)).pop()!.state).toBe(OrderState.ORDER_STATE_FAILED);
    const final = await refundError(declined, [a!.ticketId]);
    expect([final.code, final.errorInfo?.reason]).toEqual([status.FAILED_PRECONDITION, "ORDER_FINAL"]);

    // Nothing changed by the refused calls.
    expect(await ledger(order.orderId)).toEqual({ state: "CAPTURED", refunded: 0, refunds: [] });

    // b checked in: refunding b is refused, refunding a (not checked in) is not.
    await call(s.t.tickets, s.t.tickets.checkIn, { code: b!.code, gateId: "door-1", requestId: uid("scan") });
    const checkedIn = await refundError(order, [b!.ticketId]);
    expect(checkedIn.code).toBe(status.FAILED_PRECONDITION);
    expect(checkedIn.errorInfo?.reason).toBe("TICKETS_CHECKED_IN");
    const ok = (await refund(order, [a!.ticketId])).order!;
    expect(ok.refundedAmountMinor).toBe("5000");
    expect(ok.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
  });
});
