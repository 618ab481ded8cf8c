// A PaymentGateway whose calls are spans, children of the activity that makes
// them. Wrapped around the real gateway only when tracing is on.
import type { Tracer } from "@opentelemetry/api";
import { activeTracer, inSpan } from "../observability/tracing.js";
import type { AuthorizeRequest, AuthorizeResult, PartialRefund, PaymentGateway } from "./gateway.js";

/** The gateway itself with tracing off; else one that traces every call. */
export function traceGateway(gateway: PaymentGateway): PaymentGateway {
  const tracer = activeTracer();
  return tracer ? new TracedGateway(gateway, tracer) : gateway;
}

class TracedGateway implements PaymentGateway {
  constructor(
    private readonly gateway: PaymentGateway,
    private readonly tracer: Tracer,
  ) {}

  authorize(request: AuthorizeRequest): Promise<AuthorizeResult> {
    return inSpan(
      this.tracer,
      "payment authorize",
      { "payment.operation": "authorize", "payment.key": request.paymentKey },
      async (span) => {
        const result = await this.gateway.authorize(request);
        span.setAttribute("payment.status", result.status);
        return result;
      },
    );
  }

  capture(paymentKey: string): Promise<void> {
    return this.call("capture", paymentKey, () => this.gateway.capture(paymentKey));
  }

  void(paymentKey: string): Promise<void> {
    return this.call("void", paymentKey, () => this.gateway.void(paymentKey));
  }

  refund(paymentKey: string, part?: PartialRefund): Promise<void> {
    return this.call("refund", paymentKey, () => this.gateway.refund(paymentKey, part));
  }

  private call(operation: string, paymentKey: string, work: () => Promise<void>): Promise<void> {
    return inSpan(
      this.tracer,
      `payment ${operation}`,
      { "payment.operation": operation, "payment.key": paymentKey },
      work,
    );
  }
}
