// Cross-cutting concerns for every call, in one place: request id, logging,
// metrics, operator authentication, deadline/cancellation as an AbortSignal,
// and error mapping. Service files hand plain async functions to `unary` and
// `serverStream`; they never touch grpc-js call objects.
import { randomUUID, timingSafeEqual } from "node:crypto";
import {
  Metadata,
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServerUnaryCall,
  type ServerWritableStream,
} from "@grpc/grpc-js";
import { AppError } from "../domain/errors.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { toAppError, toServiceError } from "./errors.js";

export interface CallContext {
  requestId: string;
  /** Full method path, e.g. /ticketing.v1.EventService/CreateEvent. */
  method: string;
  log: Logger;
  /** Aborted when the client cancels, the deadline passes or the server shuts down. */
  signal: AbortSignal;
  deadline: Date | undefined;
  metadata: Metadata;
}

export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;
/** Writes responses with `send` (which waits for flow control) until done. */
export type StreamHandler<Req, Res> = (
  request: Req,
  ctx: CallContext,
  send: (response: Res) => Promise<void>,
) => Promise<void>;

export interface CallPolicy {
  /** Requires `authorization: Bearer <OPERATOR_TOKEN>`. */
  operator?: boolean;
}

const REQUEST_ID_HEADER = "x-request-id";
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export class CallPipeline {
  private readonly operatorToken: Buffer;
  /** Aborted at shutdown so long-lived streams end and let the server drain. */
  private readonly shutdown = new AbortController();

  constructor(
    private readonly deps: { log: Logger; metrics: Metrics; operatorToken: string },
  ) {
    this.operatorToken = Buffer.from(deps.operatorToken);
  }

  /** Ends every open stream with UNAVAILABLE so clients reconnect elsewhere. */
  closeStreams(): void {
    this.shutdown.abort();
  }

  unary<Req, Res>(method: string, handler: UnaryHandler<Req, Res>, policy: CallPolicy = {}): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const { ctx, finish } = this.begin(method, call, policy);
      const run = async (): Promise<Res> => {
        this.authorize(ctx, policy);
        return handler(call.request, ctx);
      };
      run().then(
        (response) => {
          finish(status.OK);
          callback(null, response);
        },
        (err: unknown) => {
          const error = this.fail(ctx, err);
          finish(error.code);
          callback(toServiceError(error));
        },
      );
    };
  }

  serverStream<Req, Res>(
    method: string,
    handler: StreamHandler<Req, Res>,
    policy: CallPolicy = {},
  ): handleServerStreamingCall<Req, Res> {
    return (call: ServerWritableStream<Req, Res>) => {
      const { ctx, finish } = this.begin(method, call, policy);
      const send = (response: Res): Promise<void> =>
        new Promise((resolve) => {
          if (ctx.signal.aborted) return resolve();
          if (call.write(response)) resolve();
          else call.once("drain", () => resolve());
        });
      const run = async (): Promise<void> => {
        this.authorize(ctx, policy);
        await handler(call.request, ctx, send);
        if (this.shutdown.signal.aborted) {
          throw new AppError("DEPENDENCY_UNAVAILABLE", "server is shutting down; reconnect", {
            retryAfterMs: 0,
          });
        }
      };
      run().then(
        () => {
          finish(status.OK);
          call.end();
        },
        (err: unknown) => {
          const error = this.fail(ctx, err);
          finish(error.code);
          call.emit("error", toServiceError(error));
        },
      );
    };
  }

  private begin(
    method: string,
    call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
    policy: CallPolicy,
  ) {
    const started = process.hrtime.bigint();
    const offered = call.metadata.get(REQUEST_ID_HEADER)[0];
    const requestId =
      typeof offered === "string" && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
    const log = this.deps.log.child({ requestId, method });
    const header = new Metadata();
    header.set(REQUEST_ID_HEADER, requestId);
    call.sendMetadata(header);

    const controller = new AbortController();
    let finished = false;
    const abort = (reason: string) => {
      if (!finished) controller.abort(new Error(reason));
    };
    const onShutdown = () => abort("server shutting down");
    this.shutdown.signal.addEventListener("abort", onShutdown, { once: true });
    call.once("cancelled", () => abort("cancelled by client"));
    const rawDeadline = call.getDeadline();
    const deadlineMs = rawDeadline instanceof Date ? rawDeadline.getTime() : rawDeadline;
    const deadline = Number.isFinite(deadlineMs) ? new Date(deadlineMs) : undefined;
    const timer = deadline
      ? setTimeout(() => abort("deadline exceeded"), Math.max(0, deadline.getTime() - Date.now()))
      : undefined;

    const ctx: CallContext = { requestId, method, log, signal: controller.signal, deadline, metadata: call.metadata };
    const finish = (code: status) => {
      finished = true;
      if (timer) clearTimeout(timer);
      this.shutdown.signal.removeEventListener("abort", onShutdown);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.deps.metrics.observeCall(method, code, seconds);
      if (policy.operator || code !== status.OK) log.info({ code: status[code], seconds }, "call finished");
      else log.debug({ seconds }, "call finished");
    };
    return { ctx, finish };
  }

  private authorize(ctx: CallContext, policy: CallPolicy): void {
    if (!policy.operator) return;
    const value = ctx.metadata.get("authorization")[0];
    if (typeof value !== "string" || !value.startsWith("Bearer ")) {
      throw new AppError("OPERATOR_CREDENTIAL_MISSING", "operator credential required: authorization: Bearer <token>");
    }
    const offered = Buffer.from(value.slice("Bearer ".length));
    if (offered.length !== this.operatorToken.length || !timingSafeEqual(offered, this.operatorToken)) {
      throw new AppError("OPERATOR_CREDENTIAL_INVALID", "operator credential not accepted");
    }
  }

  private fail(ctx: CallContext, err: unknown): AppError {
    const { error, unexpected } = toAppError(err);
    if (unexpected) ctx.log.error({ err }, "call failed unexpectedly");
    return error;
  }
}
