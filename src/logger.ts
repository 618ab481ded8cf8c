import { pino, type Logger } from "pino";

export type { Logger };

/** JSON logs on stdout; every call's lines carry its request id and method (see grpc/handlers.ts). */
export function createLogger(level: string, name: string): Logger {
  return pino({ level, name, base: { pid: process.pid } });
}
