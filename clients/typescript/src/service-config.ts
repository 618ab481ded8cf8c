// The gRPC service config every channel of connect() carries: a default
// deadline for unary calls, none for the Watch streams (they live as long as
// the caller wants), and a retry policy on UNAVAILABLE for the calls that are
// safe to send twice: reads, and writes made idempotent by their request_id,
// idempotency_key or per-buyer place. CheckIn, CancelOrder, LeaveQueue,
// ExtendHold and ReleaseHold are not retried by the channel: a retry after a
// lost answer would report ALREADY_CHECKED_IN, ORDER_FINAL or a used extension,
// so the caller decides.

const SERVICE = "ticketing.v1";

/** Methods retried on UNAVAILABLE, by service. */
export const RETRIED_METHODS: Readonly<Record<string, readonly string[]>> = {
  EventService: [
    "CreateEvent",
    "GetEvent",
    "ListEvents",
    "OpenSale",
    "PauseSale",
    "CloseSale",
    "UpdateWaitingRoom",
    "GetSeatMap",
    "GetEventSummary",
    "RebuildInventory",
  ],
  ReservationService: ["HoldSeats", "HoldBestAvailable", "GetHold"],
  OrderService: ["CreateOrder", "GetOrder", "ListOrders", "ListEventOrders"],
  QueueService: ["JoinQueue", "GetQueuePosition", "GetSigningKeys", "RetireSigningKey"],
  TicketService: ["VerifyTicket", "ListRevokedTickets"],
};

/** Server-streaming methods: no default deadline. */
export const STREAM_METHODS: Readonly<Record<string, readonly string[]>> = {
  EventService: ["WatchSeatMap"],
  OrderService: ["WatchOrder"],
  QueueService: ["WatchQueue"],
};

export interface ServiceConfigOptions {
  /** Deadline of a unary call that sets none itself; default 10 s. */
  defaultDeadlineSeconds?: number;
  /** Attempts in all (first try included) of a retried call; default 4, grpc-js allows at most 5. */
  maxAttempts?: number;
}

const name = (methods: Readonly<Record<string, readonly string[]>>) =>
  Object.entries(methods).flatMap(([service, ms]) =>
    ms.map((method) => ({ service: `${SERVICE}.${service}`, method })),
  );

/** The service config as grpc-js takes it (`grpc.service_config`, JSON). */
export function serviceConfig(o: ServiceConfigOptions = {}): string {
  const timeout = `${o.defaultDeadlineSeconds ?? 10}s`;
  const services = ["EventService", "ReservationService", "OrderService", "QueueService", "TicketService"];
  return JSON.stringify({
    methodConfig: [
      // The most specific name wins: a method entry over its service's entry.
      { name: services.map((s) => ({ service: `${SERVICE}.${s}` })), timeout },
      {
        name: name(RETRIED_METHODS),
        timeout,
        retryPolicy: {
          maxAttempts: o.maxAttempts ?? 4,
          initialBackoff: "0.1s",
          maxBackoff: "2s",
          backoffMultiplier: 2,
          retryableStatusCodes: ["UNAVAILABLE"],
        },
      },
      { name: name(STREAM_METHODS) },
    ],
  });
}
