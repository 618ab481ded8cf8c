// The payment provider port. A payment is named by the key its authorization
// was made with, and every call is idempotent: a retry after a lost response
// returns the first outcome and charges nothing twice.
// A real provider plugs in behind this interface; the shipped one is the
// simulator (simulator.ts).

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
  /** Gives captured money back. */
  refund(paymentKey: string): Promise<void>;
}

/** The provider could not be reached or answered with a transient error: retry. */
export class PaymentUnavailableError extends Error {
  override name = "PaymentUnavailableError";
}

/** The operation does not apply to the payment's state (e.g. refund of an uncaptured one). */
export class PaymentStateError extends Error {
  override name = "PaymentStateError";
}
