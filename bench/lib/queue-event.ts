// The waiting-room event bench:queue and bench:poll run against: one section
// of 100 seats, the waiting room on, created and opened over gRPC, and the
// unary-call helper both use with the generated clients.
import { Metadata, type ServiceError } from "@grpc/grpc-js";
import {
  SaleState,
  type CreateEventRequest,
  type CreateEventResponse,
  type Event,
  type EventServiceClient,
} from "../../src/gen/ticketing/v1/event_service.js";

type Unary<Req, Res> = (req: Req, md: Metadata, cb: (e: ServiceError | null, r: Res) => void) => unknown;

/** A generated client's unary method as a promise. */
export function call<Req, Res>(client: object, method: Unary<Req, Res>, req: Req, md = new Metadata()): Promise<Res> {
  return new Promise((resolve, reject) => method.call(client, req, md, (e, r) => (e ? reject(e) : resolve(r))));
}

/** Creates the event (CreateEvent) and opens its sale (OpenSale); returns its id. */
export async function createQueueEvent(
  events: EventServiceClient,
  o: { eventId: string; name: string; admissionsPerSecond: number; maxShopping: number; sessionSeconds: number },
): Promise<string> {
  const md = new Metadata();
  const event: Event = {
    eventId: o.eventId,
    name: o.name,
    venue: "Hall",
    startTime: undefined,
    saleOpenTime: undefined,
    saleCloseTime: undefined,
    saleState: SaleState.SALE_STATE_UNSPECIFIED,
    holdPolicy: undefined,
    maxTicketsPerBuyer: 4,
    waitingRoom: {
      enabled: true,
      admissionsPerSecond: o.admissionsPerSecond,
      maxShopping: o.maxShopping,
      sessionSeconds: o.sessionSeconds,
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
          value: { rows: [{ rowId: "1", seatCount: 100, priceCategoryId: "std", firstSeatNumber: 1 }] },
        },
      },
    ],
    capacity: 0,
    currencyMinorDigits: 0,
    refundCutoffSeconds: 0,
    createTime: undefined,
  };
  const { event: created } = await call<CreateEventRequest, CreateEventResponse>(
    events,
    events.createEvent,
    { requestId: `c_${event.eventId}`, event },
    md,
  );
  await call(events, events.openSale, { eventId: created!.eventId, requestId: `o_${event.eventId}` }, md);
  return created!.eventId;
}
