// Cross-cutting concerns for every call, in one place: request id, logging,
// metrics, authentication (a bearer JWT → the call's principal) and the
// operator audit line, deadline/cancellation as an AbortSignal,
// and error mapping. The request id is echoed in the trailers. Service files hand plain async functions to `unary` and
// `serverStream`; they never touch grpc-js call objects.
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import {
  Metadata,
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type ServiceError,
} from "@grpc/grpc-js";
import type { Span } from "@opentelemetry/api";
import { AppError } from "../domain/errors.js";
import { ANONYMOUS, type CallAuthenticator } from "../identity/authenticator.js";
import { requireOperator, type Principal } from "../identity/principal.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { activeTracer, endServerSpan, runInSpan, startServerSpan } from "../observability/tracing.js";
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
  /** Who is calling (ANONYMOUS on a public call). */
  principal: Principal;
}

export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;
/** Writes responses with `send` (which waits for flow control) until done. */
export type StreamHandler<Req, Res> = (
  request: Req,
  ctx: CallContext,
  send: (response: Res) => Promise<void>,
) => Promise<void>;

/**
 * Who may call a method. `caller`: any verified principal (the handler checks
 * ownership and scopes); `operator`: the tickets:operate scope; `public`: no
 * token needed; `publicRead`: public when AUTH_PUBLIC_READS is on.
 */
export type Access = "caller" | "operator" | "public" | "publicRead";

export interface CallPolicy {
  access: Access;
}

/** Bounds the pipeline applies to every call (README, "Operating it safely"). */
export interface CallLimits {
  /** The largest request message a method takes, in bytes (by its path, /pkg.Service/Method). */
  maxMessageBytes(method: string): number;
  /** Open streams of one streaming method in this process. */
  watchersPerMethod: number;
  /**
   * Open streams of one caller (the token's subject) across the streaming
   * methods, in this process. Operators and anonymous public readers are
   * bounded by watchersPerMethod only.
   */
  watchersPerPrincipal: number;
}

const UNLIMITED: CallLimits = {
  maxMessageBytes: () => Infinity,
  watchersPerMethod: Infinity,
  watchersPerPrincipal: Infinity,
};

/** When a caller refused by a stream cap may try again (streams end as watchers leave). */
const STREAM_RETRY_MS = 5_000;

/**
 * What a method's deserializer hands over instead of a request larger than
 * the method's limit: the bytes are not decoded, and the pipeline answers
 * RESOURCE_EXHAUSTED MESSAGE_TOO_LARGE before the handler runs.
 */
class OversizedRequest {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {}
}

function tooLarge(method: string, request: OversizedRequest): AppError {
  const rpc = method.slice(method.lastIndexOf("/") + 1);
  // No RetryInfo: the same message can never succeed.
  return new AppError("MESSAGE_TOO_LARGE", `${rpc} takes at most ${request.limit} bytes; got ${request.bytes}`, {
    metadata: { method: rpc, limit_bytes: String(request.limit), message_bytes: String(request.bytes) },
  });
}

const REQUEST_ID_HEADER = "x-request-id";
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export class CallPipeline {
  /** Aborted at shutdown so long-lived streams end and let the server drain. */
  private readonly shutdown = new AbortController();
  private readonly limits: CallLimits;
  /** Open streams per streaming method, and per caller (token subject) across them. */
  private readonly streamsByMethod = new Map<string, number>();
  private readonly streamsBySubject = new Map<string, number>();

  constructor(
    private readonly deps: {
      log: Logger;
      metrics: Metrics;
      auth: CallAuthenticator;
      publicReads: boolean;
      /** None by default (tests of the pipeline itself); the API passes its configured ones. */
      limits?: CallLimits;
    },
  ) {
    this.limits = deps.limits ?? UNLIMITED;
    // Every open stream listens for shutdown: thousands of listeners are expected here.
    setMaxListeners(0, this.shutdown.signal);
  }

  /**
   * The service definition with each method's request size bounded: a message
   * over the method's limit is not decoded (its deserializer hands over an
   * OversizedRequest, which unary and serverStream refuse).
   */
  bounded<D extends ServiceDefinition>(definition: D): D {
    const out: Record<string, unknown> = {};
    for (const [name, method] of Object.entries(definition)) {
      const limit = this.limits.maxMessageBytes(method.path);
      const decode = method.requestDeserialize as (bytes: Buffer) => unknown;
      out[name] = Number.isFinite(limit)
        ? {
            ...method,
            requestDeserialize: (bytes: Buffer): unknown =>
              bytes.length > limit ? new OversizedRequest(bytes.length, limit) : decode(bytes),
          }
        : method;
    }
    return out as D;
  }

  /** Opens a stream slot for the caller, or refuses it; the returned function gives it back. */
  private openStream(method: string, principal: Principal): () => void {
    const rpc = method.slice(method.lastIndexOf("/") + 1);
    const open = this.streamsByMethod.get(method) ?? 0;
    if (open >= this.limits.watchersPerMethod) {
      throw new AppError("STREAM_LIMIT_REACHED", `this server has ${open} ${rpc} streams open, its limit`, {
        metadata: { method: rpc, limit: "process", max: String(this.limits.watchersPerMethod) },
        retryAfterMs: STREAM_RETRY_MS,
      });
    }
    // Anonymous callers (public reads) share no subject, and an operator acts for
    // many buyers (every call audited): only the per-method cap bounds them.
    const subject = principal === ANONYMOUS || principal.operator ? undefined : principal.subject;
    const mine = subject === undefined ? 0 : (this.streamsBySubject.get(subject) ?? 0);
    if (subject !== undefined && mine >= this.limits.watchersPerPrincipal) {
      throw new AppError("STREAM_LIMIT_REACHED", `${subject} has ${mine} streams open on this server, its limit`, {
        metadata: { method: rpc, limit: "principal", max: String(this.limits.watchersPerPrincipal) },
        retryAfterMs: STREAM_RETRY_MS,
      });
    }
    this.streamsByMethod.set(method, open + 1);
    if (subject !== undefined) this.streamsBySubject.set(subject, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.streamsByMethod.get(method) ?? 1) - 1;
      if (left > 0) this.streamsByMethod.set(method, left);
      else this.streamsByMethod.delete(method);
      if (subject === undefined) return;
      const leftMine = (this.streamsBySubject.get(subject) ?? 1) - 1;
      if (leftMine > 0) this.streamsBySubject.set(subject, leftMine);
      else this.streamsBySubject.delete(subject);
    };
  }

  /** Ends every open stream with UNAVAILABLE so clients reconnect elsewhere. */
  closeStreams(): void {
    this.shutdown.abort();
  }

  unary<Req, Res>(
    method: string,
    handler: UnaryHandler<Req, Res>,
    policy: CallPolicy = { access: "caller" },
  ): handleUnaryCall<Req, Res> {
    const observe = this.deps.metrics.forMethod(method);
    return (call, callback) => {
      const ctx = new Call(this, method, call, observe);
      const run = async (): Promise<Res> => {
        if (call.request instanceof OversizedRequest) throw tooLarge(method, call.request);
        // A token seen before is verified synchronously: no turn of the event loop before the handler.
        const pending = this.authenticate(ctx, policy);
        return pending ? pending.then(() => handler(call.request, ctx)) : handler(call.request, ctx);
      };
      const answer = (response: Res) => {
        ctx.finish(status.OK);
        callback(null, response, ctx.trailers());
      };
      const failed = (err: unknown) => {
        const error = this.fail(ctx, err);
        ctx.finish(error.code);
        callback(ctx.withTrailers(toServiceError(error)));
      };
      // With tracing on, the handler and the call's last log lines run inside its server span.
      if (ctx.span) void runInSpan(ctx.span, () => run().then(answer, failed));
      else void run().then(answer, failed);
    };
  }

  serverStream<Req, Res>(
    method: string,
    handler: StreamHandler<Req, Res>,
    policy: CallPolicy = { access: "caller" },
  ): handleServerStreamingCall<Req, Res> {
    const observe = this.deps.metrics.forMethod(method);
    return (call: ServerWritableStream<Req, Res>) => {
      const ctx = new Call(this, method, call, observe);
      const signal = ctx.signal;
      const send = (response: Res): Promise<void> =>
        new Promise((resolve) => {
          if (signal.aborted) return resolve();
          if (call.write(response)) resolve();
          else call.once("drain", () => resolve());
        });
      const run = async (): Promise<void> => {
        if (call.request instanceof OversizedRequest) throw tooLarge(method, call.request);
        await this.authenticate(ctx, policy);
        const release = this.openStream(method, ctx.principal);
        try {
          await handler(call.request, ctx, send);
        } finally {
          release();
        }
        if (this.shutdown.signal.aborted) {
          throw new AppError("DEPENDENCY_UNAVAILABLE", "server is shutting down; reconnect", {
            retryAfterMs: 0,
          });
        }
      };
      const ended = () => {
        ctx.finish(status.OK);
        call.end(ctx.trailers());
      };
      const failed = (err: unknown) => {
        const error = this.fail(ctx, err);
        ctx.finish(error.code);
        call.emit("error", ctx.withTrailers(toServiceError(error)));
      };
      if (ctx.span) void runInSpan(ctx.span, () => run().then(ended, failed));
      else void run().then(ended, failed);
    };
  }

  /** @internal the logger calls derive theirs from, and the shutdown signal. */
  get baseLog(): Logger {
    return this.deps.log;
  }

  /** @internal */
  get shutdownSignal(): AbortSignal {
    return this.shutdown.signal;
  }

  /** Sets ctx.principal; a promise only when the token must be verified first. */
  private authenticate(ctx: Call, policy: CallPolicy): Promise<void> | undefined {
    if (policy.access === "public" || (policy.access === "publicRead" && this.deps.publicReads)) return undefined;
    const principal = this.deps.auth.authenticate(ctx.metadata.get("authorization")[0], () => ctx.peerSubjectAltName());
    if (principal instanceof Promise) {
      return principal.then((p) => {
        ctx.principal = p;
        if (policy.access === "operator") requireOperator(p);
      });
    }
    ctx.principal = principal;
    if (policy.access === "operator") requireOperator(principal);
    return undefined;
  }

  private fail(ctx: CallContext, err: unknown): AppError {
    const { error, logAs } = toAppError(err);
    if (logAs === "unexpected") ctx.log.error({ err }, "call failed unexpectedly");
    else if (logAs === "unavailable")
      ctx.log.warn(
        { cause: err instanceof Error ? err.message : String(err) },
        "call refused: a dependency is unavailable",
      );
    return error;
  }
}

/**
 * One call's context. What most calls never use is made on first use: the
 * child logger, and the AbortSignal with its listeners and deadline timer
 * (the hold path uses neither, and it is the hottest path we have).
 */
class Call implements CallContext {
  readonly requestId: string;
  readonly metadata: Metadata;
  /** The server span, with tracing on. */
  readonly span: Span | undefined;
  principal: Principal = ANONYMOUS;
  private readonly started = process.hrtime.bigint();
  private logger: Logger | undefined;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private onShutdown: (() => void) | undefined;
  private finished = false;

  constructor(
    private readonly pipeline: CallPipeline,
    readonly method: string,
    private readonly call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
    private readonly observe: (code: status, seconds: number) => void,
  ) {
    this.metadata = call.metadata;
    const offered = call.metadata.get(REQUEST_ID_HEADER)[0];
    this.requestId = typeof offered === "string" && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
    const tracer = activeTracer();
    this.span = tracer && startServerSpan(tracer, method, call.metadata);
  }

  /** The client certificate's subjectAltName, on a mutual-TLS connection. */
  peerSubjectAltName(): string | undefined {
    return this.call.getAuthContext?.()?.sslPeerCertificate?.subjectaltname;
  }

  get log(): Logger {
    return (this.logger ??= this.pipeline.baseLog.child({ requestId: this.requestId, method: this.method }));
  }

  get deadline(): Date | undefined {
    const raw = this.call.getDeadline();
    const ms = raw instanceof Date ? raw.getTime() : raw;
    return Number.isFinite(ms) ? new Date(ms) : undefined;
  }

  get signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = (this.controller = new AbortController());
    const abort = (reason: string) => {
      if (!this.finished) controller.abort(new Error(reason));
    };
    this.onShutdown = () => abort("server shutting down");
    this.pipeline.shutdownSignal.addEventListener("abort", this.onShutdown, { once: true });
    this.call.once("cancelled", () => abort("cancelled by client"));
    const deadline = this.deadline;
    if (deadline)
      this.timer = setTimeout(() => abort("deadline exceeded"), Math.max(0, deadline.getTime() - Date.now()));
    return controller.signal;
  }

  /** The request id goes back in the trailers (sending headers early costs every call). */
  trailers(): Metadata {
    const m = new Metadata();
    m.set(REQUEST_ID_HEADER, this.requestId);
    return m;
  }

  withTrailers(error: Partial<ServiceError>): Partial<ServiceError> {
    const metadata = error.metadata ?? new Metadata();
    metadata.set(REQUEST_ID_HEADER, this.requestId);
    return { ...error, metadata };
  }

  finish(code: status): void {
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.onShutdown) this.pipeline.shutdownSignal.removeEventListener("abort", this.onShutdown);
    const seconds = Number(process.hrtime.bigint() - this.started) / 1e9;
    this.observe(code, seconds);
    // Every operator call is audited: who did what, and how it ended.
    // (The level is checked first: the call's child logger costs a hot operator path even when info is off.)
    if (this.principal.operator) {
      if (this.pipeline.baseLog.isLevelEnabled("info"))
        this.log.info({ code: status[code], seconds, operator: this.principal.subject }, "operator call finished");
    } else if (code !== status.OK) {
      this.log.info({ code: status[code], seconds, principal: this.principal.subject }, "call finished");
    } else if (this.pipeline.baseLog.isLevelEnabled("debug")) this.log.debug({ seconds }, "call finished");
    if (this.span) endServerSpan(this.span, code);
  }
}
