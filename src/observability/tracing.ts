// OpenTelemetry traces: off unless the environment asks for them (see
// tracesExporter). Each process (API, worker) starts tracing once, before the
// rest of the app, with startTracing; code on hot paths asks activeTracer()
// and does nothing more when it is undefined, so tracing off costs a function
// call: no span, no context propagation, no allocation.
//
// Spans of one purchase: the gRPC server span (grpc/handlers.ts), the Redis
// scripts (adapters/redis/runner.ts), Temporal's client call, workflow and
// activities (Temporal's OpenTelemetry interceptors, tracing-sdk.ts), the
// MySQL transaction (orders/order-store.ts) and the payment calls
// (payments/traced-gateway.ts).
import { status, type Metadata } from "@grpc/grpc-js";
import {
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type TextMapGetter,
  type Tracer,
} from "@opentelemetry/api";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import type { ClientInterceptors } from "@temporalio/client";
import type { WorkerOptions } from "@temporalio/worker";
import type { Config } from "../config.js";
import type { Sdk } from "./tracing-sdk.js";

export type TracesExporter = "otlp" | "console";

/**
 * What the OTEL_* variables ask for; undefined means tracing off (the default).
 * On with OTEL_TRACES_EXPORTER=otlp|console, or with only an OTLP endpoint set
 * (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
 * OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true keep it off.
 */
export function tracesExporter(config: Config): TracesExporter | undefined {
  if (config.OTEL_SDK_DISABLED === "true" || config.OTEL_TRACES_EXPORTER === "none") return undefined;
  if (config.OTEL_TRACES_EXPORTER) return config.OTEL_TRACES_EXPORTER;
  return config.OTEL_EXPORTER_OTLP_ENDPOINT || config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? "otlp" : undefined;
}

export interface TracingOptions {
  /** service.name unless OTEL_SERVICE_NAME says otherwise. */
  serviceName: string;
  /** "otlp", "console", or an exporter of your own (tests: an InMemorySpanExporter). */
  exporter: TracesExporter | SpanExporter;
}

export interface Tracing {
  tracer: Tracer;
  /** Flushes what is buffered and turns tracing off again. */
  shutdown(): Promise<void>;
}

let current: (Sdk & Tracing) | undefined;

/**
 * Starts the SDK for this process: call it before the app and its logger are
 * made, since they ask activeTracing() once when they are built. One per process.
 */
export async function startTracing(options: TracingOptions): Promise<Tracing> {
  if (current) throw new Error("tracing is already started in this process");
  const { startSdk } = await import("./tracing-sdk.js");
  const sdk = startSdk(options);
  const tracing = {
    ...sdk,
    async shutdown() {
      if (current !== tracing) return;
      current = undefined;
      await sdk.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
  current = tracing;
  return tracing;
}

/** The running tracing, if any. */
export function activeTracing(): Tracing | undefined {
  return current;
}

/** The tracer when tracing is on; hot paths check this before doing anything else. */
export function activeTracer(): Tracer | undefined {
  return current?.tracer;
}

/**
 * The tracer when tracing is on and a span is active: for spans that only make
 * sense inside a traced operation (a background tick's Redis script would
 * otherwise start a trace of its own ten times a second).
 */
export function tracerInTrace(): Tracer | undefined {
  return current && trace.getActiveSpan() ? current.tracer : undefined;
}

/** Runs `work` in a client span, child of the active one, ended with the outcome. */
export function inSpan<T>(
  tracer: Tracer,
  name: string,
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      return await work(span);
    } catch (err) {
      if (err instanceof Error) span.recordException(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

// ---- gRPC server spans (grpc/handlers.ts) ----

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key);
    return values.length === 0 ? undefined : values.map(String);
  },
};

/** A server span for one call, continuing the caller's `traceparent` from the metadata if there is one. */
export function startServerSpan(tracer: Tracer, method: string, metadata: Metadata): Span {
  // method is "/package.Service/Method"; the span is named "package.Service/Method".
  const name = method.startsWith("/") ? method.slice(1) : method;
  const slash = name.lastIndexOf("/");
  return tracer.startSpan(
    name,
    {
      kind: SpanKind.SERVER,
      attributes: { "rpc.system": "grpc", "rpc.service": name.slice(0, slash), "rpc.method": name.slice(slash + 1) },
    },
    propagation.extract(ROOT_CONTEXT, metadata, metadataGetter),
  );
}

/** Runs the call's handler with its server span active, so the spans it makes become children. */
export function runInSpan<T>(span: Span, work: () => Promise<T>): Promise<T> {
  return context.with(trace.setSpan(ROOT_CONTEXT, span), work);
}

// The codes the OpenTelemetry RPC conventions count as server errors.
const SERVER_ERROR_CODES = new Set<status>([
  status.UNKNOWN,
  status.DEADLINE_EXCEEDED,
  status.UNIMPLEMENTED,
  status.INTERNAL,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);

export function endServerSpan(span: Span, code: status): void {
  span.setAttribute("rpc.grpc.status_code", code);
  if (SERVER_ERROR_CODES.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: status[code] });
  span.end();
}

// ---- Log lines (logger.ts) ----

/** pino mixin: the active span's ids on every log line. A new object each time: pino merges the line's fields into it. */
export function traceLogFields(): { trace_id?: string; span_id?: string } {
  const spanContext = current && trace.getActiveSpan()?.spanContext();
  return spanContext && isSpanContextValid(spanContext)
    ? { trace_id: spanContext.traceId, span_id: spanContext.spanId }
    : {};
}

// ---- Temporal ----

/** The client interceptor: Temporal calls (e.g. Update-with-Start) in spans, the context passed on in headers. */
export function temporalClientInterceptors(): ClientInterceptors | undefined {
  return current?.temporalClientInterceptors();
}

/** Worker options that trace workflows and activities; empty with tracing off. */
export function temporalWorkerTracing(): Pick<WorkerOptions, "interceptors" | "sinks"> {
  return current?.temporalWorkerOptions() ?? {};
}
