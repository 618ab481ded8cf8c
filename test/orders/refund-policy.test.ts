// The refund policy: refunds end refund_cutoff_seconds before the event
// starts, and an order with a checked-in ticket is not refunded, unless an
// operator forces it. A refund and a scan of the same ticket race through one
// locked MySQL row: exactly one of them wins, every time.
import { status, type ServiceError } from "@grpc/grpc-js";
import { decodeStatus } from "../../src/grpc/errors.js";
import { describe, expect, it } from "vitest";
import { OrderState, type Order } from "../../src/gen/ticketing/v1/order_service.js";
import { TicketState } from "../../src/gen/ticketing/v1/ticket_service.js";
import { call, callError, uid } from "../support/app.js";
import {
  createOrder,
  holdSeats,
  openSaleEvent,
  checkoutStackForThisFile,
  watchUntilFinal,
} from "../support/checkout.js";
import { bearer } from "../support/identity.js";

const s = checkoutStackForThisFile();

const HOUR_MS = 3_600_000;

/** A confirmed order of one seat, with its ticket. */
async function confirmedOrder(eventId: string, buyerId: string, seatId: string): Promise<Order> {
  const hold = await holdSeats(s.t, eventId, buyerId, [seatId]);
  const order = await createOrder(s.t, hold, "tok_approve");
  expect((await watchUntilFinal(s.t, order.orderId)).pop()!.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
  return (await call(s.t.orders, s.t.orders.getOrder, { orderId: order.orderId })).order!;
}

const cancel = (order: Order, force = false) =>
  call(
    s.t.orders,
    s.t.orders.cancelOrder,
    { orderId: order.orderId, buyerId: force ? order.buyerId : "", requestId: uid("x"), force, ticketIds: [] },
    force ? s.t.operator : bearer({ buyer: order.buyerId }),
  );
const scan = (order: Order) =>
  call(s.t.tickets, s.t.tickets.checkIn, { code: order.tickets[0]!.code, gateId: "door-1", requestId: uid("scan") });

const reasonOf = (r: PromiseSettledResult<unknown>) =>
  r.status === "rejected" ? decodeStatus(r.reason as ServiceError).errorInfo?.reason : "none";

describe("the refund policy", () => {
  it("refunds before the cutoff, refuses inside it (the tickets stay valid), and an operator may force it", async () => {
    const early = await openSaleEvent(s.t, {
      startTime: new Date(Date.now() + 3 * HOUR_MS),
      refundCutoffSeconds: 7200,
    });
    const late = await openSaleEvent(s.t, { startTime: new Date(Date.now() + HOUR_MS), refundCutoffSeconds: 7200 });
    const event = await call(s.t.events, s.t.events.getEvent, { eventId: late });
    expect(event.event?.refundCutoffSeconds).toBe(7200);

    const refundable = await confirmedOrder(early, "rp-early", "A-1-1");
    expect((await cancel(refundable)).order?.state).toBe(OrderState.ORDER_STATE_REFUNDED);

    const tooLate = await confirmedOrder(late, "rp-late", "A-1-1");
    const refused = await callError(
      s.t.orders,
      s.t.orders.cancelOrder,
      { orderId: tooLate.orderId, buyerId: "", requestId: uid("x"), force: false, ticketIds: [] },
      bearer({ buyer: tooLate.buyerId }),
    );
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(refused.errorInfo?.reason).toBe("REFUND_WINDOW_CLOSED");
    const still = await call(s.t.orders, s.t.orders.getOrder, { orderId: tooLate.orderId });
    expect(still.order?.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    expect((await scan(tooLate)).ticket?.state).toBe(TicketState.TICKET_STATE_CHECKED_IN);

    // A buyer cannot force; an operator can, past both rules (late, and checked in).
    const notOperator = await callError(
      s.t.orders,
      s.t.orders.cancelOrder,
      { orderId: tooLate.orderId, buyerId: "", requestId: uid("x"), force: true, ticketIds: [] },
      bearer({ buyer: tooLate.buyerId }),
    );
    expect(notOperator.errorInfo?.reason).toBe("SCOPE_MISSING");
    expect((await cancel(tooLate, true)).order?.state).toBe(OrderState.ORDER_STATE_REFUNDED);
  });

  it("refuses to refund an order with a checked-in ticket", async () => {
    const eventId = await openSaleEvent(s.t);
    const order = await confirmedOrder(eventId, "rp-scanned", "A-1-1");
    await scan(order);
    const refused = await callError(
      s.t.orders,
      s.t.orders.cancelOrder,
      { orderId: order.orderId, buyerId: "", requestId: uid("x"), force: false, ticketIds: [] },
      bearer({ buyer: order.buyerId }),
    );
    expect(refused.errorInfo?.reason).toBe("TICKETS_CHECKED_IN");
    const seatMap = await call(s.t.events, s.t.events.getSeatMap, { eventId });
    const row = seatMap.sections.find((x) => x.sectionId === "A")!.rows.find((r) => r.rowId === "1")!;
    expect(row.states[0]).toBe("S"); // not put back on sale
  });

  it("lets exactly one of a refund and a scan of the same ticket win", async () => {
    const eventId = await openSaleEvent(s.t);
    const orders = await Promise.all(
      Array.from({ length: 8 }, (_, i) => confirmedOrder(eventId, `rp-race-${i}`, `A-2-${i + 1}`)),
    );
    const outcomes = await Promise.all(
      orders.map(async (order) => {
        const [refund, admitted] = await Promise.allSettled([cancel(order), scan(order)]);
        return { order, refund, admitted };
      }),
    );
    for (const { order, refund, admitted } of outcomes) {
      const final = (await call(s.t.orders, s.t.orders.getOrder, { orderId: order.orderId })).order!;
      if (refund.status === "fulfilled") {
        // The refund took the ticket first: the scan found it revoked.
        expect(admitted.status).toBe("rejected");
        expect(reasonOf(admitted)).toBe("TICKET_REVOKED");
        expect(final.state).toBe(OrderState.ORDER_STATE_REFUNDED);
      } else {
        // The scan took it first: the refund was refused, and the order stands.
        expect(admitted.status).toBe("fulfilled");
        expect(reasonOf(refund)).toBe("TICKETS_CHECKED_IN");
        expect(final.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
      }
    }
  });
});
