// Payment reconciliation: the repair path for TicketingPaymentUnsettled.
// A scheduled workflow (workflows/reconcile-payments.ts, on the Temporal
// Schedule that src/temporal/schedules.ts keeps) lists authorizations older
// than the checkout could still need, neither captured nor voided, and
// settles each against the provider by its order's state:
//   CONFIRMED (sold, the capture's record lost): capture;
//   FAILED or CANCELLED (nothing sold): void;
//   PENDING_PAYMENT: left alone; its checkout still owns it and ends it
//   within its payment window and capture retries (counted as "pending").
// Every provider call is idempotent by the payment key, so a settlement the
// checkout also makes, or a second run, charges nothing twice.
import { Counter, type Registry } from "prom-client";
import type { Logger } from "../logger.js";
import { PaymentStateError, type PaymentGateway } from "../payments/gateway.js";
import type { OrderStore } from "./order-store.js";

export type ReconcileAction = "captured" | "voided" | "pending" | "failed";

export interface ReconcileSummary {
  captured: number;
  voided: number;
  pending: number;
  failed: number;
}

export interface ReconcileDeps {
  orders: OrderStore;
  payments: PaymentGateway;
  log: Logger;
  registry: Registry;
  /** Authorizations younger than this are the checkouts' own business. */
  olderThanSeconds: number;
  /** Most authorizations one run settles (the next run takes the rest). */
  batch: number;
  paymentKeyOf: (orderId: string) => string;
}

export function createReconcileActivities(deps: ReconcileDeps) {
  const settled = new Counter({
    name: "ticketing_payments_reconciled_total",
    help: "Authorizations reconciliation acted on, by action (captured, voided, pending: left to its checkout, failed)",
    labelNames: ["action"],
    registers: [deps.registry],
  });
  return {
    async reconcilePayments(): Promise<ReconcileSummary> {
      const summary: ReconcileSummary = { captured: 0, voided: 0, pending: 0, failed: 0 };
      const stray = await deps.orders.unsettledAuthorizations(deps.olderThanSeconds, deps.batch);
      for (const p of stray) {
        let action: ReconcileAction;
        try {
          if (p.orderState === "CONFIRMED") {
            await deps.payments.capture(deps.paymentKeyOf(p.orderId));
            await deps.orders.setPaymentState(p.orderId, "CAPTURED");
            action = "captured";
          } else if (p.orderState === "FAILED" || p.orderState === "CANCELLED") {
            await deps.payments.void(deps.paymentKeyOf(p.orderId));
            await deps.orders.setPaymentState(p.orderId, "VOIDED");
            action = "voided";
          } else {
            action = "pending";
          }
        } catch (err) {
          // A final answer (e.g. the provider voided it already) is logged for a person; a transient one waits for the next run.
          if (!(err instanceof PaymentStateError)) throw err;
          deps.log.error(
            { err, orderId: p.orderId, orderState: p.orderState },
            "reconciliation could not settle a payment",
          );
          action = "failed";
        }
        summary[action] += 1;
        settled.inc({ action });
        deps.log.warn(
          { orderId: p.orderId, eventId: p.eventId, orderState: p.orderState, ageSeconds: p.ageSeconds, action },
          "reconciliation settled an unsettled authorization",
        );
      }
      return summary;
    },
  };
}

export type ReconcileActivities = ReturnType<typeof createReconcileActivities>;
