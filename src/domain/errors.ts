// The error catalogue: every failure a caller can see has a stable reason
// (google.rpc.ErrorInfo.reason) and a gRPC code. Use cases throw AppError;
// grpc/errors.ts is the one place that turns it into a gRPC status.
import { status } from "@grpc/grpc-js";

/** Stable reasons and the gRPC code each one is answered with. */
export const Reasons = {
  VALIDATION_FAILED: status.INVALID_ARGUMENT,
  DEPENDENCY_UNAVAILABLE: status.UNAVAILABLE,
  NOT_IMPLEMENTED: status.UNIMPLEMENTED,
  INTERNAL: status.INTERNAL,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  CANCELLED: status.CANCELLED,
  // Identity (a bearer JWT from the deployment's issuer) and authorization
  TOKEN_MISSING: status.UNAUTHENTICATED,
  TOKEN_INVALID: status.UNAUTHENTICATED,
  TOKEN_EXPIRED: status.UNAUTHENTICATED,
  TOKEN_NOT_YET_VALID: status.UNAUTHENTICATED,
  SCOPE_MISSING: status.PERMISSION_DENIED,
  BUYER_MISMATCH: status.PERMISSION_DENIED,
  GATE_EVENT_MISMATCH: status.PERMISSION_DENIED,
  CALL_BUDGET_EXCEEDED: status.RESOURCE_EXHAUSTED,
  // Bounded resources (every RPC): a request over its method's size limit, a stream over a watcher cap
  MESSAGE_TOO_LARGE: status.RESOURCE_EXHAUSTED,
  STREAM_LIMIT_REACHED: status.RESOURCE_EXHAUSTED,
  // Events
  EVENT_NOT_FOUND: status.NOT_FOUND,
  EVENT_ALREADY_EXISTS: status.ALREADY_EXISTS,
  REQUEST_ID_REUSED: status.ALREADY_EXISTS,
  SALE_NOT_OPEN: status.FAILED_PRECONDITION,
  SALE_PAUSED: status.FAILED_PRECONDITION,
  SALE_CLOSED: status.FAILED_PRECONDITION,
  INVENTORY_NOT_LOADED: status.UNAVAILABLE,
  // Holds
  SEAT_NOT_FOUND: status.INVALID_ARGUMENT,
  SECTION_NOT_FOUND: status.INVALID_ARGUMENT,
  SEATS_UNAVAILABLE: status.ABORTED,
  INSUFFICIENT_CAPACITY: status.ABORTED,
  LIMIT_EXCEEDED: status.RESOURCE_EXHAUSTED,
  HOLD_NOT_FOUND: status.NOT_FOUND,
  HOLD_EXPIRED: status.FAILED_PRECONDITION,
  HOLD_NOT_ACTIVE: status.FAILED_PRECONDITION,
  HOLD_NOT_OWNED: status.PERMISSION_DENIED,
  EXTENSION_LIMIT_REACHED: status.FAILED_PRECONDITION,
  // Orders
  ORDER_NOT_FOUND: status.NOT_FOUND,
  ORDER_NOT_OWNED: status.PERMISSION_DENIED,
  ORDER_FINAL: status.FAILED_PRECONDITION,
  IDEMPOTENCY_KEY_REUSED: status.ALREADY_EXISTS,
  REFUND_WINDOW_CLOSED: status.FAILED_PRECONDITION,
  TICKETS_CHECKED_IN: status.FAILED_PRECONDITION,
  // Tickets
  TICKET_CODE_INVALID: status.INVALID_ARGUMENT,
  TICKET_NOT_FOUND: status.NOT_FOUND,
  TICKET_REVOKED: status.FAILED_PRECONDITION,
  ALREADY_CHECKED_IN: status.FAILED_PRECONDITION,
  // Waiting room
  ADMISSION_TOKEN_MISSING: status.UNAUTHENTICATED,
  ADMISSION_TOKEN_INVALID: status.PERMISSION_DENIED,
  WAITING_ROOM_DISABLED: status.FAILED_PRECONDITION,
  QUEUE_TICKET_NOT_FOUND: status.NOT_FOUND,
  RATE_LIMITED: status.RESOURCE_EXHAUSTED,
  QUEUE_STATE_LOST: status.FAILED_PRECONDITION,
} as const satisfies Record<string, status>;

export type Reason = keyof typeof Reasons;

export interface FieldViolation {
  /** Proto field path, e.g. `event.sections[2].rows[0].seat_count`. */
  field: string;
  description: string;
}

export interface AppErrorOptions {
  metadata?: Record<string, string>;
  fieldViolations?: FieldViolation[];
  /** Sent as google.rpc.RetryInfo: when a retry may succeed. */
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * A failure the caller should see, with its stable reason. It carries no
 * stack trace: its reason and message say where it comes from, and capturing
 * a stack cost several microseconds per error, paid by every refused hold (a
 * flash sale refuses almost every call). An unexpected failure is never an
 * AppError (errors.ts logs those with their stack); its cause keeps its own.
 */
export class AppError extends Error {
  readonly reason: Reason;
  readonly code: status;
  readonly metadata: Record<string, string>;
  readonly fieldViolations: FieldViolation[];
  readonly retryAfterMs: number | undefined;

  constructor(reason: Reason, message: string, options: AppErrorOptions = {}) {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message, { cause: options.cause });
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.reason = reason;
    this.code = Reasons[reason];
    this.metadata = options.metadata ?? {};
    this.fieldViolations = options.fieldViolations ?? [];
    this.retryAfterMs = options.retryAfterMs;
  }
}
AppError.prototype.name = "AppError";

/** INVALID_ARGUMENT naming every bad field. */
export function invalidArgument(violations: FieldViolation[]): AppError {
  const summary = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  return new AppError("VALIDATION_FAILED", `invalid request: ${summary}`, { fieldViolations: violations });
}

/** A dependency (Redis, MySQL, Temporal) could not be reached; safe to retry. */
export function dependencyUnavailable(dependency: string, cause: unknown): AppError {
  return new AppError("DEPENDENCY_UNAVAILABLE", `${dependency} is unavailable; retry shortly`, {
    metadata: { dependency },
    retryAfterMs: 1000,
    cause,
  });
}

export function notImplemented(what: string, issue: string): AppError {
  return new AppError("NOT_IMPLEMENTED", `${what} is not implemented yet (${issue})`);
}

const CONNECTION_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "PROTOCOL_CONNECTION_LOST",
  "ER_CON_COUNT_ERROR",
]);

/**
 * ioredis while Redis is unreachable (offline queue off, retries spent), and
 * a Redis Cluster mid-failover: redirections that never settle, MOVED to a
 * dead master, the cluster down, a replica not yet promoted or still loading.
 */
const REDIS_UNAVAILABLE =
  /Connection is closed|Stream isn't writeable|ClusterAllFailedError|Failed to refresh slots cache|None of startup nodes is available|Too many Cluster redirections|^(CLUSTERDOWN|TRYAGAIN|MOVED|ASK|READONLY|LOADING|MASTERDOWN)\b/;

/** True for errors that mean a dependency could not be reached (or is failing over). */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && CONNECTION_ERROR_CODES.has(code)) return true;
  return err.name === "MaxRetriesPerRequestError" || REDIS_UNAVAILABLE.test(err.message);
}
