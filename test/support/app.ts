// Starts the real API (src/app.ts) on a free port against the test stack, with
// a fresh MySQL database, and gives generated clients for every service.
import { createServer } from "node:net";
import type { DestinationStream } from "pino";
import { credentials, Metadata, type CallOptions, type ServiceError } from "@grpc/grpc-js";
import { startApp, type RunningApp } from "../../src/app.js";
import { loadConfig, type Config } from "../../src/config.js";
import { decodeStatus, type DecodedStatus } from "../../src/grpc/errors.js";
import { EventServiceClient } from "../../src/gen/ticketing/v1/event_service.js";
import { OrderServiceClient } from "../../src/gen/ticketing/v1/order_service.js";
import { QueueServiceClient } from "../../src/gen/ticketing/v1/queue_service.js";
import { ReservationServiceClient } from "../../src/gen/ticketing/v1/reservation_service.js";
import { TicketServiceClient } from "../../src/gen/ticketing/v1/ticket_service.js";
import { createLogger } from "../../src/logger.js";
import { freshMysqlDatabase, testEnv } from "./env.js";
import { authEnv, authInterceptor, operatorMetadata } from "./identity.js";

export interface TestApp {
  app: RunningApp;
  config: Config;
  address: string;
  events: EventServiceClient;
  queue: QueueServiceClient;
  reservations: ReservationServiceClient;
  orders: OrderServiceClient;
  tickets: TicketServiceClient;
  /** Metadata carrying an operator's token. */
  operator: Metadata;
  stop(): Promise<void>;
}

export async function startTestApp(
  env: Record<string, string> = {},
  opts: { logTo?: DestinationStream } = {},
): Promise<TestApp> {
  const stack = testEnv();
  const db = await freshMysqlDatabase("app");
  const config = loadConfig({
    GRPC_ADDRESS: "127.0.0.1:0",
    METRICS_ADDRESS: "127.0.0.1:0",
    REDIS_URL: stack.redisUrl,
    ...(stack.redisClusterNodes
      ? { REDIS_CLUSTER_NODES: stack.redisClusterNodes.map((n) => `${n.host}:${n.port}`).join(",") }
      : {}),
    MYSQL_URL: db.url,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    ...authEnv(),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    SHUTDOWN_GRACE_MS: "3000",
    ...env,
  });
  const app = await startApp(config, createLogger(config.LOG_LEVEL, "ticketing-test", opts.logTo));
  const address = `127.0.0.1:${app.grpcPort}`;
  const insecure = credentials.createInsecure();
  const operator = operatorMetadata();
  // Calls without a token of their own get their buyer's (or the operator's): see identity.ts.
  const options = { interceptors: [authInterceptor] };
  const clients = {
    events: new EventServiceClient(address, insecure, options),
    queue: new QueueServiceClient(address, insecure, options),
    reservations: new ReservationServiceClient(address, insecure, options),
    orders: new OrderServiceClient(address, insecure, options),
    tickets: new TicketServiceClient(address, insecure, options),
  };
  return {
    app,
    config,
    address,
    ...clients,
    operator,
    async stop() {
      for (const c of Object.values(clients)) c.close();
      await app.stop();
      await db.drop();
    },
  };
}

// The four-argument overload: the one TypeScript infers from a generated method.
type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

/** Calls a generated client method as a promise. */
export function call<Req, Res>(
  client: object,
  method: UnaryMethod<Req, Res>,
  request: Req,
  metadata: Metadata = new Metadata(),
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, metadata, {}, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** Calls and expects failure; returns the decoded status with its details. */
export async function callError<Req, Res>(
  client: object,
  method: UnaryMethod<Req, Res>,
  request: Req,
  metadata: Metadata = new Metadata(),
): Promise<DecodedStatus> {
  try {
    await call(client, method, request, metadata);
  } catch (err) {
    return decodeStatus(err as ServiceError);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

let counter = 0;
/** A unique id for this test run (events, buyers, request ids). */
export function uid(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${(counter++).toString(36)}`;
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}
