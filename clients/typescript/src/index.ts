// @ticketing/client: the Ticketing gRPC API for TypeScript.
//   const api = connect("tickets.internal:443", { credentials: credentials.createSsl(), token });
//   api.reservations.holdSeats(request, (err, hold) => { const e = decodeError(err); ... });
// Messages and clients are re-exported per service; the service config, the
// token interceptor and the error decoder come with them.
export * from "./connect.js";
export * from "./errors.js";
export * from "./service-config.js";
export { REASONS, type Reason } from "./reasons.js";
// Where each seat of GetEvent's rows is drawn (the seat plan): rowSeatPlacements(row), seatOnRow, areaCorners.
export * from "./geometry.js";
export * as common from "./gen/ticketing/v1/common.js";
export * as events from "./gen/ticketing/v1/event_service.js";
export * as reservations from "./gen/ticketing/v1/reservation_service.js";
export * as orders from "./gen/ticketing/v1/order_service.js";
export * as queue from "./gen/ticketing/v1/queue_service.js";
export * as tickets from "./gen/ticketing/v1/ticket_service.js";
export { EventServiceClient } from "./gen/ticketing/v1/event_service.js";
export { ReservationServiceClient } from "./gen/ticketing/v1/reservation_service.js";
export { OrderServiceClient } from "./gen/ticketing/v1/order_service.js";
export { QueueServiceClient } from "./gen/ticketing/v1/queue_service.js";
export { TicketServiceClient } from "./gen/ticketing/v1/ticket_service.js";
export { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
