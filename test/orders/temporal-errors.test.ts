// How a failed call to Temporal reaches the caller: a workflow task Temporal
// is retrying (its worker died mid-task, e.g. in a Redis failover) refuses an
// update with FAILED_PRECONDITION; the buyer must see UNAVAILABLE with a
// retry delay, not INTERNAL. (The chaos run saw 12 INTERNAL CreateOrders so.)
import { status } from "@grpc/grpc-js";
import { ServiceError } from "@temporalio/client";
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/domain/errors.js";
import { temporalCallError } from "../../src/orders/orders.js";
import { toAppError } from "../../src/grpc/errors.js";

const grpcError = (code: number, details: string) =>
  Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details });

describe("temporalCallError", () => {
  it("answers UNAVAILABLE with a retry delay while the workflow task is failing", () => {
    const message = "Unable to perform workflow execution update due to Workflow Task in failed state.";
    const err = temporalCallError(new ServiceError(message, { cause: grpcError(status.FAILED_PRECONDITION, message) }));
    expect(err).toBeInstanceOf(AppError);
    const { error } = toAppError(err);
    expect([error.code, error.reason]).toEqual([status.UNAVAILABLE, "DEPENDENCY_UNAVAILABLE"]);
    expect(error.retryAfterMs).toBeGreaterThan(0);
  });

  it("keeps other refusals as they are: a FAILED_PRECONDITION about something else is not retried blindly", () => {
    const other = new ServiceError("namespace is not active", {
      cause: grpcError(status.FAILED_PRECONDITION, "namespace is not active"),
    });
    expect(temporalCallError(other)).toBe(other);
  });

  it("answers UNAVAILABLE when Temporal cannot be reached", () => {
    const err = temporalCallError(grpcError(status.UNAVAILABLE, "Connection refused"));
    expect(toAppError(err).error.code).toBe(status.UNAVAILABLE);
  });
});
