import { pino, type DestinationStream, type Logger } from "pino";
import { activeTracing, traceLogFields } from "./observability/tracing.js";

export type { Logger };

/**
 * Fields that carry a secret wherever a log line names them: bearer and
 * admission tokens, payment method tokens, private keys, and mysql2's
 * `err.sql` (a `query` call's SQL with its values inlined, e.g. a signing
 * key's PEM). Replaced by "[redacted]".
 */
export const REDACTED_PATHS = [
  "authorization",
  "*.authorization",
  "*.headers.authorization",
  "token",
  "*.token",
  "admissionToken",
  "*.admissionToken",
  "admission_token",
  "*.admission_token",
  "paymentMethodToken",
  "*.paymentMethodToken",
  "*.payment.paymentMethodToken",
  "payment_method_token",
  "*.payment_method_token",
  "privateKey",
  "*.privateKey",
  "privatePem",
  "*.privatePem",
  "private_pem",
  "*.private_pem",
  "sql",
  "*.sql",
  "*.cause.sql",
];

// Whatever the paths miss (a message, a stack, an error's text, an error
// nested deeper than the paths reach): compact JWTs (bearer and admission
// tokens, ticket codes all are: their header starts `{"`, base64url `eyJ`),
// PEM private keys up to the end of their JSON string, and every `sql` field.
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g;
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----[^"]*/g;
const SQL_FIELD = /"sql":"(?:[^"\\]|\\.)*"/g;

/** A finished JSON log line with every token, private key and SQL statement in it replaced. */
export function scrubSecrets(line: string): string {
  if (!line.includes("eyJ") && !line.includes("PRIVATE KEY") && !line.includes('"sql":"')) return line;
  return line
    .replace(SQL_FIELD, '"sql":"[redacted]"')
    .replace(JWT, "[redacted jwt]")
    .replace(PEM_PRIVATE_KEY, "[redacted private key]");
}

/**
 * JSON logs (stdout unless `destination` says otherwise); every call's lines
 * carry its request id and method (see grpc/handlers.ts). With tracing started
 * before the logger is made, lines made inside a span carry trace_id and span_id.
 * No line carries a token, a payment method or a private key: REDACTED_PATHS
 * by name, scrubSecrets on the finished line.
 */
export function createLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    name,
    base: { pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    hooks: { streamWrite: scrubSecrets },
    ...(activeTracing() ? { mixin: traceLogFields } : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}
