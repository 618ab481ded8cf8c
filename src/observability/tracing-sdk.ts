// The OpenTelemetry SDK and Temporal's interceptors, loaded by startTracing
// (tracing.ts) only when tracing is on: they add about a third of a second
// to a process start that has no use for them otherwise.
import type { Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { envDetectorSync, Resource } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from "@temporalio/interceptors-opentelemetry";
import type { ClientInterceptors } from "@temporalio/client";
import type { WorkerOptions } from "@temporalio/worker";
import { TRACING_WORKFLOW_INTERCEPTORS } from "../workflow-code.js";

export interface SdkOptions {
  serviceName: string;
  exporter: "otlp" | "console" | SpanExporter;
}

export interface Sdk {
  tracer: Tracer;
  temporalClientInterceptors(): ClientInterceptors;
  temporalWorkerOptions(): Pick<WorkerOptions, "interceptors" | "sinks">;
  /** Flushes buffered spans and stops exporting. */
  shutdown(): Promise<void>;
}

/** Registers the global tracer provider, W3C trace context propagation and AsyncLocalStorage context. */
export function startSdk(options: SdkOptions): Sdk {
  const resource = new Resource({
    ...Resource.default().attributes,
    "service.name": options.serviceName,
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win.
    ...envDetectorSync.detect().attributes,
  });
  const processor =
    options.exporter === "otlp"
      ? // Batched; the exporter reads OTEL_EXPORTER_OTLP_* and the processor OTEL_BSP_*.
        new BatchSpanProcessor(new OTLPTraceExporter())
      : options.exporter === "console"
        ? new SimpleSpanProcessor(new ConsoleSpanExporter())
        : // An exporter of the caller's own (tests): every span handed over as it ends.
          new SimpleSpanProcessor(options.exporter);
  // The sampler comes from OTEL_TRACES_SAMPLER (default: parent-based, always on).
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  provider.register();
  const tracer = provider.getTracer("ticketing");
  return {
    tracer,
    temporalClientInterceptors: () => ({ workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer })] }),
    // The workflow interceptors go into the workflow bundle and their spans leave
    // the sandbox through the `exporter` sink; activities continue the context
    // their headers carry.
    temporalWorkerOptions: () => ({
      interceptors: {
        workflowModules: [TRACING_WORKFLOW_INTERCEPTORS],
        activity: [
          (ctx) => ({
            inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }),
            outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
          }),
        ],
      },
      sinks: { exporter: makeWorkflowExporter(processor, resource) },
    }),
    shutdown: () => provider.shutdown(),
  };
}
