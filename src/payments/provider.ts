// The PaymentGateway a worker runs on, from its configuration (config.ts
// paymentProvider decides which, and refuses the simulator in production
// unless it is named).
import type { MysqlPool } from "../adapters/mysql/pool.js";
import type { Config, PaymentProvider } from "../config.js";
import type { PaymentGateway } from "./gateway.js";
import { PaymentSimulator } from "./simulator.js";
import { StripeGateway } from "./stripe.js";

export function createPaymentGateway(provider: PaymentProvider, mysql: MysqlPool, config: Config): PaymentGateway {
  if (provider.kind === "stripe") {
    return new StripeGateway(mysql, { secretKey: provider.secretKey, apiBase: provider.apiBase });
  }
  return new PaymentSimulator(mysql, {
    latencyMs: config.PAYMENT_SIM_LATENCY_MS,
    declineRatio: config.PAYMENT_SIM_DECLINE_RATIO,
    failureRatio: config.PAYMENT_SIM_FAILURE_RATIO,
    lostResponseRatio: config.PAYMENT_SIM_LOST_RESPONSE_RATIO,
  });
}

/** What the worker logs about its provider: never the key. */
export function describeProvider(provider: PaymentProvider): Record<string, string> {
  return provider.kind === "stripe"
    ? { paymentProvider: "stripe", stripeMode: provider.mode, stripeApiBase: provider.apiBase ?? "api.stripe.com" }
    : { paymentProvider: "simulator" };
}
