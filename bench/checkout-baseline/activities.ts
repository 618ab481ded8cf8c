// The bare workflows' activities: the checkout's steps with no work inside, for
// both shapes (./workflows.ts). They take and return values shaped like the
// real ones (a plan of the order) so the payloads Temporal stores are about as
// large.
export interface BareInput {
  orderId: string;
  eventId: string;
  holdId: string;
  buyerId: string;
  idempotencyKey: string;
  paymentMethodToken: string;
  paymentWindowMs: number;
}

export interface BarePlan {
  orderId: string;
  eventId: string;
  holdId: string;
  buyerId: string;
  idempotencyKey: string;
  seatIds: string[];
  sectionId: string;
  quantity: number;
  prices: [string, number][];
  amountMinor: number;
  currencyCode: string;
}

export function createBareActivities() {
  return {
    // both shapes: beginCheckout (local), authorizePayment (normal)
    async beginCheckout(input: BareInput): Promise<BarePlan> {
      const seatIds = [`${input.holdId.slice(0, 8)}-1`, `${input.holdId.slice(0, 8)}-2`];
      return {
        orderId: input.orderId,
        eventId: input.eventId,
        holdId: input.holdId,
        buyerId: input.buyerId,
        idempotencyKey: input.idempotencyKey,
        seatIds,
        sectionId: "",
        quantity: seatIds.length,
        prices: seatIds.map((s) => [s, 5000]),
        amountMinor: 10_000,
        currencyCode: "EUR",
      };
    },
    async authorizePayment(plan: BarePlan, _paymentMethodToken: string): Promise<string> {
      return `auth_${plan.orderId}`;
    },
    // the current shape's paired steps (local), named as in src/orders/activities.ts
    async sellSeats(_plan: BarePlan): Promise<void> {},
    async completeOrder(_plan: BarePlan): Promise<void> {},
    // capture: local in the current shape, normal in the previous one
    async capturePayment(_plan: BarePlan): Promise<void> {},
    // the previous shape's separate steps (local)
    async commitSale(_plan: BarePlan): Promise<void> {},
    async markSeatsSold(_plan: BarePlan): Promise<void> {},
    async issueTickets(_plan: BarePlan): Promise<void> {},
    async confirmOrder(_plan: BarePlan): Promise<void> {},
  };
}

export type BareActivities = ReturnType<typeof createBareActivities>;
