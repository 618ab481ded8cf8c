// The grpc-js server: the five Ticketing services, grpc.health.v1 and server
// reflection, on plaintext or (mutual) TLS.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Config } from "../config.js";
import { addReflection } from "./reflection.js";

const DESCRIPTORS = fileURLToPath(new URL("../gen/descriptors.binpb", import.meta.url));
const HEALTH_SERVICE = "grpc.health.v1.Health";

export interface RegisteredService {
  /** Fully qualified name, e.g. ticketing.v1.EventService. */
  name: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

export function serverCredentials(config: Pick<Config, "TLS_CERT_FILE" | "TLS_KEY_FILE" | "TLS_CLIENT_CA_FILE">) {
  if (!config.TLS_CERT_FILE || !config.TLS_KEY_FILE) return ServerCredentials.createInsecure();
  const clientCa = config.TLS_CLIENT_CA_FILE ? readFileSync(config.TLS_CLIENT_CA_FILE) : null;
  return ServerCredentials.createSsl(
    clientCa,
    [{ cert_chain: readFileSync(config.TLS_CERT_FILE), private_key: readFileSync(config.TLS_KEY_FILE) }],
    clientCa !== null,
  );
}

export interface ServerLimits {
  /**
   * grpc-js's receive limit: the largest of the per-method limits (the
   * pipeline checks each method's own). A bigger message is refused from its
   * length prefix, before its body is read (RESOURCE_EXHAUSTED).
   */
  maxReceiveMessageBytes: number;
  /** HTTP/2 streams (calls) one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: number;
}

export function buildServer(
  services: RegisteredService[],
  health: { addToServer(server: Server): void },
  limits: ServerLimits,
): Server {
  const server = new Server({
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_receive_message_length": limits.maxReceiveMessageBytes,
    "grpc.max_concurrent_streams": limits.maxConcurrentStreams,
  });
  for (const s of services) server.addService(s.definition, s.implementation);
  health.addToServer(server);
  addReflection(server, readFileSync(DESCRIPTORS), [...services.map((s) => s.name), HEALTH_SERVICE]);
  return server;
}

/** Binds and resolves with the port actually bound (useful with port 0). */
export function listen(server: Server, address: string, credentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

/** Stops taking calls, lets those in flight finish within graceMs, then forces. */
export function shutdownServer(server: Server, graceMs: number): Promise<"graceful" | "forced"> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve("forced");
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve("graceful");
    });
  });
}
