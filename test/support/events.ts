// An event as CreateEvent takes it, for tests that need one and care only about
// a few of its fields: one reserved row A-1, one price, sale not yet open.
import { SaleState, type Event } from "../../src/gen/ticketing/v1/event_service.js";

export interface OneRowEvent {
  name?: string;
  seatCount?: number;
  priceMinor?: string;
  maxTicketsPerBuyer?: number;
}

/** Row A-1 of `seatCount` seats (4) at `priceMinor` (1000) EUR; `overrides` replace whole fields (e.g. waitingRoom). */
export function oneRowEvent(eventId: string, o: OneRowEvent = {}, overrides: Partial<Event> = {}): Event {
  return {
    eventId,
    name: o.name ?? "Test night",
    venue: "Hall",
    saleState: SaleState.SALE_STATE_UNSPECIFIED,
    maxTicketsPerBuyer: o.maxTicketsPerBuyer ?? 4,
    currencyCode: "EUR",
    priceCategories: [{ priceCategoryId: "std", name: "Standard", priceMinor: o.priceMinor ?? "1000" }],
    sections: [
      {
        sectionId: "A",
        name: "Stalls",
        layout: {
          $case: "reserved",
          value: { rows: [{ rowId: "1", firstSeatNumber: 1, seatCount: o.seatCount ?? 4, priceCategoryId: "std" }] },
        },
      },
    ],
    capacity: 0,
    currencyMinorDigits: 0,
    refundCutoffSeconds: 0,
    ...overrides,
  };
}
