// The sale's state is part of the checkout's pin decision (lua/pin_hold.lua):
// a paused sale still checks out the holds already made, a closed one pins
// none, and a hold pinned before the close runs to its end. Checkouts racing
// a CloseSale each end one way or the other, and only the confirmed ones sell.
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { SaleState } from "../../src/gen/ticketing/v1/event_service.js";
import { HoldState } from "../../src/gen/ticketing/v1/reservation_service.js";
import { OrderState, type Order } from "../../src/gen/ticketing/v1/order_service.js";
import { call, callError, uid } from "../support/app.js";
import {
  createOrder,
  holdSeats,
  openSaleEvent,
  checkoutStackForThisFile,
  watchUntilFinal,
} from "../support/checkout.js";

const s = checkoutStackForThisFile();

const setSale = (eventId: string, to: "pause" | "close") =>
  to === "pause"
    ? call(s.t.events, s.t.events.pauseSale, { eventId, requestId: uid("p") }, s.t.operator)
    : call(s.t.events, s.t.events.closeSale, { eventId, requestId: uid("c") }, s.t.operator);

const finalState = async (orderId: string) => (await watchUntilFinal(s.t, orderId)).pop()!.state;

describe("checkout and the sale's state", () => {
  it("checks out a hold made before the sale paused, while refusing new holds", async () => {
    const eventId = await openSaleEvent(s.t);
    const hold = await holdSeats(s.t, eventId, "pause-buyer", ["A-1-1"]);
    await setSale(eventId, "pause");
    const refused = await callError(s.t.reservations, s.t.reservations.holdSeats, {
      eventId,
      buyerId: "pause-other",
      admissionToken: "",
      requestId: uid("r"),
      selection: { $case: "seats", value: { seatIds: ["A-1-2"] } },
    });
    expect(refused.errorInfo?.reason).toBe("SALE_PAUSED");
    const order = await createOrder(s.t, hold, "tok_approve");
    expect(await finalState(order.orderId)).toBe(OrderState.ORDER_STATE_CONFIRMED);
  });

  it("refuses to check out an unpinned hold once the sale is closed, and leaves the hold as it was", async () => {
    const eventId = await openSaleEvent(s.t);
    const hold = await holdSeats(s.t, eventId, "close-buyer", ["A-1-1"]);
    await setSale(eventId, "close");
    const refused = await callError(s.t.orders, s.t.orders.createOrder, {
      eventId,
      holdId: hold.holdId,
      holdIds: [],
      buyerId: hold.buyerId,
      idempotencyKey: uid("k"),
      payment: { paymentMethodToken: "tok_approve" },
    });
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(refused.errorInfo?.reason).toBe("SALE_CLOSED");
    const after = await call(s.t.reservations, s.t.reservations.getHold, { eventId, holdId: hold.holdId });
    expect(after.hold?.state).toBe(HoldState.HOLD_STATE_ACTIVE);
  });

  it("lets checkouts racing a CloseSale end either confirmed or refused, and sells only the confirmed ones' seats", async () => {
    const eventId = await openSaleEvent(s.t);
    const seats = Array.from({ length: 10 }, (_, i) => `A-2-${i + 1}`);
    const holds = await Promise.all(seats.map((seat, i) => holdSeats(s.t, eventId, `race-${i}`, [seat])));
    const outcomes = await Promise.all([
      ...holds.map((hold) =>
        createOrder(s.t, hold, "tok_approve").then(
          (order: Order) => ({ seat: hold.seatIds[0]!, order }),
          (err: unknown) => ({ seat: hold.seatIds[0]!, err }),
        ),
      ),
      setSale(eventId, "close").then(() => undefined),
    ]);
    const results = outcomes.filter((o) => o !== undefined);
    const sold = new Set<string>();
    for (const r of results) {
      if ("order" in r) {
        // Pinned before the close: it runs to its end.
        expect(await finalState(r.order.orderId)).toBe(OrderState.ORDER_STATE_CONFIRMED);
        sold.add(r.seat);
      } else {
        expect((r.err as { code?: number }).code).toBe(status.FAILED_PRECONDITION);
        expect(String((r.err as Error).message)).toContain("SALE_CLOSED");
      }
    }
    const event = await call(s.t.events, s.t.events.getEvent, { eventId });
    expect(event.event?.saleState).toBe(SaleState.SALE_STATE_CLOSED);
    const map = await call(s.t.events, s.t.events.getSeatMap, { eventId });
    // Row A-2's states, one character per seat from seat 1: 'S' sold.
    const row = map.sections.find((sec) => sec.sectionId === "A")?.rows.find((r) => r.rowId === "2");
    const soldNow = new Set(
      [...(row?.states ?? "")].flatMap((c, i) => (c === "S" ? [`A-2-${(row?.firstSeatNumber ?? 1) + i}`] : [])),
    );
    expect(soldNow).toEqual(sold);
  });
});
