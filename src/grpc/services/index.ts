// Every Ticketing service, bound to its handlers. Methods whose issue has not
// landed yet answer UNIMPLEMENTED naming that issue. The holds and CreateOrder
// also report to adaptive admission's signals (src/queue/admission-signals.ts).
import { status } from "@grpc/grpc-js";
import type { Config } from "../../config.js";
import type { Scripts } from "../../adapters/redis/scripts.js";
import type { Events } from "../../events/events.js";
import type { Holds } from "../../holds/holds.js";
import type { Orders } from "../../orders/orders.js";
import type { Tickets } from "../../tickets/tickets.js";
import { NoopServiceService } from "../../gen/ticketing/bench/v1/noop_service.js";
import { EventServiceService } from "../../gen/ticketing/v1/event_service.js";
import { OrderServiceService } from "../../gen/ticketing/v1/order_service.js";
import { QueueServiceService } from "../../gen/ticketing/v1/queue_service.js";
import { ReservationServiceService } from "../../gen/ticketing/v1/reservation_service.js";
import { TicketServiceService } from "../../gen/ticketing/v1/ticket_service.js";
import { bindService } from "../bind.js";
import { toAppError } from "../errors.js";
import type { CallPipeline, UnaryHandler } from "../handlers.js";
import type { AdmissionSignals, SignalCall } from "../../queue/admission-signals.js";
import type { RegisteredService } from "../server.js";
import { eventHandlers } from "./event-service.js";
import { orderHandlers } from "./order-service.js";
import { reservationHandlers } from "./reservation-service.js";
import { ticketHandlers } from "./ticket-service.js";
import { queueHandlers, type QueueServiceDeps } from "./queue-service.js";

export interface ServiceDeps {
  config: Config;
  scripts: Scripts;
  holds: Holds;
  events: Events;
  orders: Orders;
  tickets: Tickets;
  /** The waiting room, its watch hub and the admission token keys. */
  queue: QueueServiceDeps;
  /** Adaptive admission's signals: the holds' times and the failures of holds and CreateOrder. */
  signals: AdmissionSignals;
}

/** The handler, reporting each call's time and status code to the signals of its event. */
function observed<Req extends { eventId: string }, Res>(
  signals: AdmissionSignals,
  call: SignalCall,
  handler: UnaryHandler<Req, Res> | undefined,
): UnaryHandler<Req, Res> | undefined {
  if (!handler) return undefined;
  return async (req, ctx) => {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const res = await handler(req, ctx);
      signals.observe(req.eventId, call, seconds(), status.OK);
      return res;
    } catch (err) {
      signals.observe(req.eventId, call, seconds(), toAppError(err).error.code);
      throw err;
    }
  };
}

export function createServices(pipeline: CallPipeline, deps: ServiceDeps): RegisteredService[] {
  const reservation = reservationHandlers(deps.holds);
  const reservations = {
    ...reservation,
    holdSeats: observed(deps.signals, "hold", reservation.holdSeats),
    holdBestAvailable: observed(deps.signals, "hold", reservation.holdBestAvailable),
  };
  const order = orderHandlers(deps.orders);
  const orders = { ...order, createOrder: observed(deps.signals, "order", order.createOrder) };
  const benchmarkBaseline: RegisteredService[] =
    deps.config.BENCH_NOOP === "on"
      ? [
          {
            name: "ticketing.bench.v1.NoopService",
            definition: NoopServiceService,
            implementation: bindService(pipeline, NoopServiceService, {
              noop: async () => ({}),
              eval: async () => {
                await deps.scripts.benchOneScript();
                return {};
              },
            }),
          },
        ]
      : [];
  const services: RegisteredService[] = [
    ...benchmarkBaseline,
    {
      name: "ticketing.v1.EventService",
      definition: EventServiceService,
      implementation: bindService(pipeline, EventServiceService, eventHandlers(deps.events), {
        access: {
          createEvent: "operator",
          openSale: "operator",
          pauseSale: "operator",
          closeSale: "operator",
          rebuildInventory: "operator",
          updateWaitingRoom: "operator",
          getEventSummary: "operator",
          getEvent: "publicRead",
          listEvents: "publicRead",
          getSeatMap: "publicRead",
          watchSeatMap: "publicRead",
        },
      }),
    },
    {
      name: "ticketing.v1.QueueService",
      definition: QueueServiceService,
      implementation: bindService(pipeline, QueueServiceService, queueHandlers(deps.queue), {
        // Other services verify admission tokens and ticket codes with these keys, without calling us.
        access: { getSigningKeys: "public", rotateSigningKey: "operator", retireSigningKey: "operator" },
      }),
    },
    {
      name: "ticketing.v1.ReservationService",
      definition: ReservationServiceService,
      implementation: bindService(pipeline, ReservationServiceService, reservations),
    },
    {
      name: "ticketing.v1.OrderService",
      definition: OrderServiceService,
      implementation: bindService(pipeline, OrderServiceService, orders, {
        access: { listEventOrders: "operator" },
      }),
    },
    {
      name: "ticketing.v1.TicketService",
      definition: TicketServiceService,
      implementation: bindService(pipeline, TicketServiceService, ticketHandlers(deps.tickets)),
    },
  ];
  // Every request's size is checked against its method's limit before it is decoded.
  return services.map((s) => ({ ...s, definition: pipeline.bounded(s.definition) }));
}
