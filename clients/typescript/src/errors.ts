// Turns a failed call into what a caller acts on: the stable reason
// (google.rpc.ErrorInfo), the fields at fault (google.rpc.BadRequest) and how
// long to wait before a retry (google.rpc.RetryInfo), all carried in the
// `grpc-status-details-bin` trailer.
import type { ServiceError, status } from "@grpc/grpc-js";
import { BadRequest, ErrorInfo, RetryInfo } from "./gen/google/rpc/error_details.js";
import { Status } from "./gen/google/rpc/status.js";
import { REASONS, type Reason } from "./reasons.js";

export interface FieldViolation {
  /** The request field at fault, as a path: `event.sections[0].section_id`. */
  field: string;
  description: string;
}

export interface TicketingError {
  code: status;
  message: string;
  /** The stable reason; a reason newer than this client comes through as its string. */
  reason: Reason | (string & {}) | undefined;
  /** ErrorInfo metadata: e.g. the event or hold the failure is about. */
  metadata: Record<string, string>;
  fieldViolations: FieldViolation[];
  /** From RetryInfo: how long to wait before trying again, when the server says. */
  retryDelayMs: number | undefined;
}

const STATUS_DETAILS = "grpc-status-details-bin";
const known = new Set<string>(REASONS);

/** Whether a reason is one this client knows (narrows the type). */
export function isKnownReason(reason: string | undefined): reason is Reason {
  return reason !== undefined && known.has(reason);
}

/** Decodes a grpc-js error; anything else (not a gRPC error) is returned as `undefined`. */
export function decodeError(err: unknown): TicketingError | undefined {
  if (typeof err !== "object" || err === null || typeof (err as ServiceError).code !== "number") return undefined;
  const e = err as ServiceError;
  const decoded: TicketingError = {
    code: e.code,
    message: e.details ?? e.message,
    reason: undefined,
    metadata: {},
    fieldViolations: [],
    retryDelayMs: undefined,
  };
  const raw = e.metadata?.get(STATUS_DETAILS)[0];
  if (!(raw instanceof Buffer)) return decoded;
  for (const any of Status.decode(raw).details) {
    const type = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
    if (type === "google.rpc.ErrorInfo") {
      const info = ErrorInfo.decode(any.value);
      decoded.reason = info.reason;
      decoded.metadata = info.metadata;
    } else if (type === "google.rpc.BadRequest") {
      decoded.fieldViolations = BadRequest.decode(any.value).fieldViolations.map((v) => ({
        field: v.field,
        description: v.description,
      }));
    } else if (type === "google.rpc.RetryInfo") {
      const delay = RetryInfo.decode(any.value).retryDelay;
      if (delay) decoded.retryDelayMs = Number(delay.seconds) * 1000 + Math.round(delay.nanos / 1e6);
    }
  }
  return decoded;
}
