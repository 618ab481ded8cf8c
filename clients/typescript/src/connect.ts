// One call to get every service's client on one address, with the token on
// every call and the service config's deadlines and retries.
import {
  credentials as grpcCredentials,
  InterceptingCall,
  type ChannelCredentials,
  type ChannelOptions,
  type Interceptor,
} from "@grpc/grpc-js";
import { EventServiceClient } from "./gen/ticketing/v1/event_service.js";
import { OrderServiceClient } from "./gen/ticketing/v1/order_service.js";
import { QueueServiceClient } from "./gen/ticketing/v1/queue_service.js";
import { ReservationServiceClient } from "./gen/ticketing/v1/reservation_service.js";
import { TicketServiceClient } from "./gen/ticketing/v1/ticket_service.js";
import { serviceConfig, type ServiceConfigOptions } from "./service-config.js";

/** A bearer token, or a function that gives the current one (called per call: return a cached token). */
export type TokenSource = string | (() => string | Promise<string>);

export interface ConnectOptions extends ServiceConfigOptions {
  /** Channel credentials: `credentials.createSsl(...)` in production; default insecure (local use). */
  credentials?: ChannelCredentials;
  /**
   * The caller's token, sent as `authorization: Bearer <token>` on every call
   * that does not set that header itself. A storefront passes its signed-in
   * buyer's token per call instead, in the call's metadata.
   */
  token?: TokenSource;
  /** More grpc-js channel options (e.g. keepalive); the service config is set by connect. */
  channelOptions?: ChannelOptions;
}

export interface TicketingClient {
  events: EventServiceClient;
  reservations: ReservationServiceClient;
  orders: OrderServiceClient;
  queue: QueueServiceClient;
  tickets: TicketServiceClient;
  /** Closes every client's channel. */
  close(): void;
}

/** Adds `authorization: Bearer <token>` to calls that carry none. */
export function bearerToken(token: TokenSource): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        if (metadata.get("authorization").length > 0) return next(metadata, listener);
        const withToken = (t: string) => {
          metadata.set("authorization", `Bearer ${t}`);
          next(metadata, listener);
        };
        if (typeof token === "string") return withToken(token);
        // grpc-js holds the call's messages until next() runs.
        Promise.resolve()
          .then(token)
          .then(withToken, (err: unknown) => {
            listener.onReceiveStatus?.({
              code: 16, // UNAUTHENTICATED
              details: `could not get a token: ${err instanceof Error ? err.message : String(err)}`,
              metadata,
            });
          });
      },
    });
}

/** Clients of every Ticketing service on `address` (host:port). */
export function connect(address: string, o: ConnectOptions = {}): TicketingClient {
  const channelCredentials = o.credentials ?? grpcCredentials.createInsecure();
  const options = {
    ...o.channelOptions,
    "grpc.service_config": serviceConfig(o),
    ...(o.token !== undefined ? { interceptors: [bearerToken(o.token)] } : {}),
  };
  const clients = {
    events: new EventServiceClient(address, channelCredentials, options),
    reservations: new ReservationServiceClient(address, channelCredentials, options),
    orders: new OrderServiceClient(address, channelCredentials, options),
    queue: new QueueServiceClient(address, channelCredentials, options),
    tickets: new TicketServiceClient(address, channelCredentials, options),
  };
  return {
    ...clients,
    close() {
      for (const c of Object.values(clients)) c.close();
    },
  };
}
