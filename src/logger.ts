import { pino, type DestinationStream, type Logger } from "pino";
import { activeTracing, traceLogFields } from "./observability/tracing.js";

export type { Logger };

/**
 * JSON logs (stdout unless `destination` says otherwise); every call's lines
 * carry its request id and method (see grpc/handlers.ts). With tracing started
 * before the logger is made, lines made inside a span carry trace_id and span_id.
 */
export function createLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const options = { level, name, base: { pid: process.pid }, ...(activeTracing() ? { mixin: traceLogFields } : {}) };
  return destination ? pino(options, destination) : pino(options);
}
