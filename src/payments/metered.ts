// A PaymentGateway that times every call to the one it wraps and counts it by
// operation and result (ticketing_payment_gateway_seconds): payments by
// operation and result, and the provider's latency, whichever provider it is.
import type { Histogram } from "prom-client";
import {
  PaymentStateError,
  PaymentUnavailableError,
  type AuthorizeRequest,
  type AuthorizeResult,
  type PartialRefund,
  type PaymentGateway,
} from "./gateway.js";

type Operation = "authorize" | "capture" | "void" | "refund";

export class MeteredPaymentGateway implements PaymentGateway {
  constructor(
    private readonly inner: PaymentGateway,
    private readonly histogram: Histogram<"operation" | "result">,
  ) {}

  authorize(request: AuthorizeRequest): Promise<AuthorizeResult> {
    return this.timed(
      "authorize",
      () => this.inner.authorize(request),
      (r) => (r.status === "DECLINED" ? "declined" : "ok"),
    );
  }

  capture(paymentKey: string): Promise<void> {
    return this.timed("capture", () => this.inner.capture(paymentKey));
  }

  void(paymentKey: string): Promise<void> {
    return this.timed("void", () => this.inner.void(paymentKey));
  }

  refund(paymentKey: string, part?: PartialRefund): Promise<void> {
    return this.timed("refund", () => this.inner.refund(paymentKey, part));
  }

  private async timed<T>(
    operation: Operation,
    call: () => Promise<T>,
    result: (value: T) => string = () => "ok",
  ): Promise<T> {
    const end = this.histogram.startTimer({ operation });
    try {
      const value = await call();
      end({ result: result(value) });
      return value;
    } catch (err) {
      end({
        result:
          err instanceof PaymentUnavailableError
            ? "unavailable"
            : err instanceof PaymentStateError
              ? "state_error"
              : "error",
      });
      throw err;
    }
  }
}
