// Money is whole minor units: prices and quantities are bounded so that no
// order total leaves the exact integer range, and the arithmetic is checked
// all the same. A checkout at the bounds prices its order exactly.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  isCurrencyCode,
  MAX_PRICE_MINOR,
  MAX_TICKETS_PER_ORDER,
  minorUnitDigits,
  timesMinor,
  totalMinor,
} from "../../src/domain/money.js";
import { OrderState } from "../../src/gen/ticketing/v1/order_service.js";
import { call, uid } from "../support/app.js";
import {
  createOrder,
  openSaleEvent,
  startCheckoutStack,
  watchUntilFinal,
  type CheckoutStack,
} from "../support/checkout.js";

describe("money arithmetic", () => {
  it("keeps the largest order inside the exact integer range", () => {
    expect(Number.isSafeInteger(MAX_PRICE_MINOR * MAX_TICKETS_PER_ORDER)).toBe(true);
    expect(timesMinor(MAX_PRICE_MINOR, MAX_TICKETS_PER_ORDER)).toBe(1_000_000_000_000);
    expect(totalMinor(Array(MAX_TICKETS_PER_ORDER).fill(MAX_PRICE_MINOR))).toBe(1_000_000_000_000);
  });

  it("refuses, rather than rounds, anything outside it", () => {
    expect(() => totalMinor([Number.MAX_SAFE_INTEGER, 1])).toThrow(/exact integer range/);
    expect(() => timesMinor(2 ** 52, 4)).toThrow(/exact integer range/);
    expect(() => totalMinor([1.5])).toThrow(/whole number/);
    expect(() => totalMinor([-1])).toThrow(/whole number/);
  });

  it("knows ISO 4217 codes and their minor-unit exponents", () => {
    expect(["EUR", "USD", "JPY", "KWD"].every(isCurrencyCode)).toBe(true);
    expect(["ABC", "eur", "EURO", ""].some(isCurrencyCode)).toBe(false);
    expect(["EUR", "JPY", "KWD", "CLP", "BHD"].map(minorUnitDigits)).toEqual([2, 0, 3, 0, 3]);
  });
});

describe("a checkout at the bounds", () => {
  let s: CheckoutStack;
  beforeAll(async () => {
    s = await startCheckoutStack();
  }, 120_000);
  afterAll(() => s?.stop());

  it("charges price × quantity exactly for the most places one buyer may take at the highest price", async () => {
    const eventId = await openSaleEvent(s.t, {
      maxTicketsPerBuyer: 20,
      priceCategories: [
        { priceCategoryId: "front", name: "Front", priceMinor: "5000" },
        { priceCategoryId: "back", name: "Back", priceMinor: "3000" },
        { priceCategoryId: "floor", name: "Floor", priceMinor: String(MAX_PRICE_MINOR) },
      ],
    });
    const held = await call(s.t.reservations, s.t.reservations.holdSeats, {
      eventId,
      buyerId: "big-spender",
      admissionToken: "",
      requestId: uid("r"),
      selection: { $case: "generalAdmission", value: { sectionId: "FLOOR", quantity: 20 } },
    });
    const order = await createOrder(s.t, held.hold!, "tok_approve");
    expect(order.amountMinor).toBe(String(20 * MAX_PRICE_MINOR));
    const final = (await watchUntilFinal(s.t, order.orderId)).pop()!;
    expect(final.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    expect(final.amountMinor).toBe("200000000000");
  });
});
