// The one place that maps errors to gRPC status: AppError keeps its code and
// reason; connection failures become UNAVAILABLE; anything else becomes
// INTERNAL with a generic message (the stack goes to the log only). Details
// travel as google.rpc.Status in the `grpc-status-details-bin` trailer.
import { Metadata, type status, type ServiceError } from "@grpc/grpc-js";
import { AppError, dependencyUnavailable, isConnectionError } from "../domain/errors.js";
import { type Any } from "../gen/google/protobuf/any.js";
import { BadRequest, ErrorInfo, RetryInfo } from "../gen/google/rpc/error_details.js";
import { Status } from "../gen/google/rpc/status.js";

export const ERROR_DOMAIN = "ticketing";
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/**
 * Normalizes any thrown value to an AppError (INTERNAL when unknown), and says
 * what to log: a bug (`unexpected`, with its stack) or a dependency that could
 * not be reached (`unavailable`: UNAVAILABLE with RetryInfo; one line, since a
 * Redis failover refuses many calls at once).
 */
export function toAppError(err: unknown): { error: AppError; logAs: "expected" | "unavailable" | "unexpected" } {
  if (err instanceof AppError) return { error: err, logAs: "expected" };
  if (isConnectionError(err)) return { error: dependencyUnavailable("a backing store", err), logAs: "unavailable" };
  return { error: new AppError("INTERNAL", "internal error", { cause: err }), logAs: "unexpected" };
}

function pack(typeName: string, value: Uint8Array): Any {
  return { typeUrl: `type.googleapis.com/${typeName}`, value: Buffer.from(value) };
}

/** Builds the ServiceError grpc-js sends, details included. */
export function toServiceError(error: AppError): Partial<ServiceError> {
  const details: Any[] = [
    pack(
      "google.rpc.ErrorInfo",
      ErrorInfo.encode({ reason: error.reason, domain: ERROR_DOMAIN, metadata: error.metadata }).finish(),
    ),
  ];
  if (error.fieldViolations.length > 0) {
    details.push(pack("google.rpc.BadRequest", BadRequest.encode({ fieldViolations: error.fieldViolations }).finish()));
  }
  if (error.retryAfterMs !== undefined) {
    const ms = error.retryAfterMs;
    details.push(
      pack(
        "google.rpc.RetryInfo",
        RetryInfo.encode({
          retryDelay: { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 },
        }).finish(),
      ),
    );
  }
  const metadata = new Metadata();
  metadata.set(
    STATUS_DETAILS_KEY,
    Buffer.from(Status.encode({ code: error.code, message: error.message, details }).finish()),
  );
  return { code: error.code, details: error.message, metadata };
}

/** What a client reads back from a failed call (used by tests and tools). */
export interface DecodedStatus {
  code: status;
  message: string;
  errorInfo?: ErrorInfo;
  badRequest?: BadRequest;
  retryInfo?: RetryInfo;
}

export function decodeStatus(err: ServiceError): DecodedStatus {
  const decoded: DecodedStatus = { code: err.code, message: err.details };
  const raw = err.metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!(raw instanceof Buffer)) return decoded;
  for (const any of Status.decode(raw).details) {
    const type = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
    if (type === "google.rpc.ErrorInfo") decoded.errorInfo = ErrorInfo.decode(any.value);
    else if (type === "google.rpc.BadRequest") decoded.badRequest = BadRequest.decode(any.value);
    else if (type === "google.rpc.RetryInfo") decoded.retryInfo = RetryInfo.decode(any.value);
  }
  return decoded;
}
