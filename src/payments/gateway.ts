// The payment provider port. A payment is named by the key its authorization
// was made with, and every call is idempotent: a retry after a lost response
// returns the first outcome and charges nothing twice.
// Two providers plug in behind it: Stripe PaymentIntents with manual capture
// (stripe.ts) for production, and the simulator (simulator.ts) for tests and load.

export interface AuthorizeRequest {
  /** Names the payment in every later call. */
  paymentKey: string;
  amountMinor: number;
  currencyCode: string;
  paymentMethodToken: string;
}

export type AuthorizeResult =
  { status: "AUTHORIZED"; authorizationId: string } | { status: "DECLINED"; authorizationId: string; reason: string };

export interface PaymentGateway {
  authorize(request: AuthorizeRequest): Promise<AuthorizeResult>;
  /** Takes the authorized money. */
  capture(paymentKey: string): Promise<void>;
  /** Drops an authorization that will not be captured; harmless if none was made. */
  void(paymentKey: string): Promise<void>;
  /**
   * Gives captured money back: all of it (what is left of it), or with `part`
   * that amount only, once per refundId (a retry refunds nothing twice). The
   * refunds of a payment never add up to more than its capture.
   */
  refund(paymentKey: string, part?: PartialRefund): Promise<void>;
}

/** A partial refund: `amountMinor` of the capture, named by `refundId` (stable per order and tickets). */
export interface PartialRefund {
  refundId: string;
  amountMinor: number;
}

/** The provider could not be reached or answered with a transient error: retry. */
export class PaymentUnavailableError extends Error {
  override name = "PaymentUnavailableError";
}

/**
 * The operation does not apply to the payment's state (e.g. refund of an
 * uncaptured one, capture of an authorization the provider voided or let
 * expire): final, retrying changes nothing. `reason` is stable.
 */
export class PaymentStateError extends Error {
  override name = "PaymentStateError";
  constructor(
    message: string,
    readonly reason: PaymentStateReason = "PAYMENT_STATE",
  ) {
    super(message);
  }
}

export type PaymentStateReason = "PAYMENT_STATE" | "AUTHORIZATION_EXPIRED" | "AUTHORIZATION_VOIDED";

/** Stable reasons of a declined authorization. */
export type DeclineReason =
  | "CARD_DECLINED"
  | "INSUFFICIENT_FUNDS"
  | "CARD_EXPIRED"
  | "AUTHENTICATION_REQUIRED"
  | "FRAUD_SUSPECTED"
  | "PAYMENT_METHOD_INVALID";
