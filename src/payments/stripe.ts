// The production PaymentGateway: Stripe PaymentIntents with manual capture,
// through the official `stripe` package.
//
// authorize: create the PaymentIntent (capture_method=manual, amount in minor
//   units, the event's currency), record which intent it is in MySQL, then
//   confirm it. The record comes before any money moves, so a void after a
//   lost answer always finds the intent; a retry finds it too and reads its
//   state instead of confirming twice.
// capture / void / refund: on the recorded intent.
//
// Every POST carries an Idempotency-Key made of our payment key and the
// operation (`<orderId>:payment:capture`): Stripe refuses one key reused with
// other parameters, and per operation a retry after a lost answer replays the
// first answer instead of acting twice. Stripe's own retries (on a dropped
// connection, a 409 or a 5xx) send the same key.
//
// What comes back, and how callers treat it:
//   - AUTHORIZED / DECLINED (a card error or an intent that needs the buyer:
//     3-D Secure is AUTHENTICATION_REQUIRED) are answers;
//   - PaymentUnavailableError: rate limits, outages, timeouts, a rejected API
//     key (the operator fixes the key; the money path waits): retry;
//   - PaymentStateError: the intent is not in a state for the call (capture of
//     an intent the provider voided or let expire, void of a captured one):
//     final, retrying changes nothing.
import Stripe from "stripe";
import type { ResultSetHeader, RowDataPacket } from "mysql2/promise";
import type { MysqlPool } from "../adapters/mysql/pool.js";
import {
  PaymentStateError,
  PaymentUnavailableError,
  type AuthorizeRequest,
  type AuthorizeResult,
  type DeclineReason,
  type PartialRefund,
  type PaymentGateway,
} from "./gateway.js";

export interface StripeGatewayOptions {
  secretKey: string;
  /** Another API base (stripe-mock in tests), e.g. http://127.0.0.1:12111. Default: Stripe's. */
  apiBase?: string | undefined;
  /** Per request; below the activity's start-to-close timeout (10 s). */
  timeoutMs?: number;
  /** Stripe's own retries of one call (same idempotency key). */
  maxNetworkRetries?: number;
}

type Operation = "create" | "confirm" | "capture" | "void" | "refund";

/** Intents in these states answer authorize without another confirmation. */
const SETTLED_BY_CONFIRMATION = new Set(["requires_capture", "succeeded", "requires_action", "canceled", "processing"]);

export class StripeGateway implements PaymentGateway {
  private readonly stripe: Stripe;
  private readonly secretKey: string;

  constructor(
    private readonly mysql: MysqlPool,
    options: StripeGatewayOptions,
  ) {
    this.secretKey = options.secretKey;
    const base = options.apiBase ? new URL(options.apiBase) : undefined;
    this.stripe = new Stripe(options.secretKey, {
      timeout: options.timeoutMs ?? 8_000,
      maxNetworkRetries: options.maxNetworkRetries ?? 1,
      telemetry: false,
      appInfo: { name: "ticketing" },
      ...(base
        ? {
            protocol: base.protocol === "http:" ? ("http" as const) : ("https" as const),
            host: base.hostname,
            port: base.port || undefined,
          }
        : {}),
    });
  }

  async authorize(request: AuthorizeRequest): Promise<AuthorizeResult> {
    const { paymentKey, amountMinor, currencyCode, paymentMethodToken } = request;
    if (!Number.isSafeInteger(amountMinor) || amountMinor <= 0) {
      throw new PaymentStateError(`amount ${amountMinor} is not a positive whole number of minor units`);
    }
    if (!/^[A-Z]{3}$/.test(currencyCode)) throw new PaymentStateError(`currency ${currencyCode} is not ISO 4217`);
    let intent: Stripe.PaymentIntent;
    const known = await this.find(paymentKey);
    if (known) {
      // A retry: the intent may already be confirmed (its answer was lost); read it.
      intent = await this.call("retrieve", paymentKey, () => this.stripe.paymentIntents.retrieve(known));
    } else {
      intent = await this.call("create", paymentKey, () =>
        this.stripe.paymentIntents.create(
          {
            amount: amountMinor,
            currency: currencyCode.toLowerCase(),
            capture_method: "manual",
            payment_method: paymentMethodToken,
            allowed_payment_method_types: ["card"],
            metadata: { payment_key: paymentKey },
          },
          { idempotencyKey: idempotencyKey(paymentKey, "create") },
        ),
      );
      await this.remember(paymentKey, intent.id);
    }
    if (!SETTLED_BY_CONFIRMATION.has(intent.status) && !(known && intent.status === "requires_payment_method")) {
      try {
        intent = await this.call("confirm", paymentKey, () =>
          this.stripe.paymentIntents.confirm(intent.id, {}, { idempotencyKey: idempotencyKey(paymentKey, "confirm") }),
        );
      } catch (err) {
        if (err instanceof Stripe.errors.StripeCardError) {
          return { status: "DECLINED", authorizationId: intent.id, reason: declineReason(err.code, err.decline_code) };
        }
        throw err;
      }
    }
    return decodeAuthorization(intent);
  }

  async capture(paymentKey: string): Promise<void> {
    const id = await this.find(paymentKey);
    if (!id) throw new PaymentStateError(`payment ${paymentKey} was never authorized`);
    try {
      await this.call("capture", paymentKey, () =>
        this.stripe.paymentIntents.capture(id, {}, { idempotencyKey: idempotencyKey(paymentKey, "capture") }),
      );
    } catch (err) {
      if (!(err instanceof PaymentStateError)) throw err;
      if (err.message.includes("charge_expired_for_capture")) {
        throw new PaymentStateError(`authorization of ${paymentKey} expired`, "AUTHORIZATION_EXPIRED");
      }
      // Captured already (by an earlier attempt under another key, or by hand) is success.
      const intent = await this.call("retrieve", paymentKey, () => this.stripe.paymentIntents.retrieve(id));
      if (intent.status === "succeeded") return;
      if (intent.status === "canceled") {
        throw new PaymentStateError(
          `payment ${paymentKey} was canceled at the provider (${intent.cancellation_reason ?? "no reason"})`,
          intent.cancellation_reason === "automatic" || intent.cancellation_reason === "expired"
            ? "AUTHORIZATION_EXPIRED"
            : "AUTHORIZATION_VOIDED",
        );
      }
      throw err;
    }
  }

  async void(paymentKey: string): Promise<void> {
    const id = await this.find(paymentKey);
    // Nothing recorded: no intent was created, so none was confirmed.
    if (!id) return;
    try {
      await this.call("void", paymentKey, () =>
        this.stripe.paymentIntents.cancel(
          id,
          { cancellation_reason: "abandoned" },
          { idempotencyKey: idempotencyKey(paymentKey, "void") },
        ),
      );
    } catch (err) {
      if (!(err instanceof PaymentStateError)) throw err;
      const intent = await this.call("retrieve", paymentKey, () => this.stripe.paymentIntents.retrieve(id));
      if (intent.status === "canceled") return; // voided already: harmless
      throw err; // e.g. captured: the caller refunds instead
    }
  }

  async refund(paymentKey: string, part?: PartialRefund): Promise<void> {
    const id = await this.find(paymentKey);
    if (!id) throw new PaymentStateError(`payment ${paymentKey} was never authorized`);
    try {
      // A partial refund: its amount, under a key of its own (<paymentKey>:refund:<refundId>).
      const refund = await this.call("refund", paymentKey, () =>
        part
          ? this.stripe.refunds.create(
              { payment_intent: id, amount: part.amountMinor },
              { idempotencyKey: `${idempotencyKey(paymentKey, "refund")}:${part.refundId}` },
            )
          : this.stripe.refunds.create(
              { payment_intent: id },
              { idempotencyKey: idempotencyKey(paymentKey, "refund") },
            ),
      );
      if (refund.status === "failed" || refund.status === "canceled") {
        throw new PaymentStateError(`refund of ${paymentKey} ${refund.status}`);
      }
    } catch (err) {
      if (err instanceof PaymentStateError && err.message.includes("charge_already_refunded")) return;
      throw err;
    }
  }

  /** The recorded PaymentIntent of a payment. */
  private async find(paymentKey: string): Promise<string | undefined> {
    const [rows] = await this.mysql.execute<RowDataPacket[]>(
      "SELECT payment_intent_id FROM stripe_payment_intents WHERE payment_key = ?",
      [paymentKey],
    );
    return rows[0] ? String(rows[0].payment_intent_id) : undefined;
  }

  private async remember(paymentKey: string, paymentIntentId: string): Promise<void> {
    const [r] = await this.mysql.execute<ResultSetHeader>(
      "INSERT IGNORE INTO stripe_payment_intents (payment_key, payment_intent_id, created_at) VALUES (?, ?, NOW(3))",
      [paymentKey, paymentIntentId],
    );
    if (r.affectedRows === 0 && (await this.find(paymentKey)) !== paymentIntentId) {
      throw new PaymentStateError(`payment ${paymentKey} already has another PaymentIntent`);
    }
  }

  /** One Stripe call, its errors mapped to the port's (and no secret in any message). */
  private async call<T>(what: Operation | "retrieve", paymentKey: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw mapError(err, `stripe ${what} of ${paymentKey}`, this.secretKey);
    }
  }
}

export function idempotencyKey(paymentKey: string, operation: Operation): string {
  return `${paymentKey}:${operation}`;
}

function decodeAuthorization(intent: Stripe.PaymentIntent): AuthorizeResult {
  const authorizationId = intent.id;
  switch (intent.status) {
    case "requires_capture":
    case "succeeded":
      return { status: "AUTHORIZED", authorizationId };
    case "requires_action":
      // 3-D Secure or another step only the buyer can take: this server-side checkout cannot finish it.
      return { status: "DECLINED", authorizationId, reason: "AUTHENTICATION_REQUIRED" };
    case "requires_payment_method": {
      const e = intent.last_payment_error;
      return { status: "DECLINED", authorizationId, reason: declineReason(e?.code, e?.decline_code) };
    }
    case "canceled":
      return { status: "DECLINED", authorizationId, reason: "CARD_DECLINED" };
    default:
      // processing, requires_confirmation: not decided yet; a retry reads the intent again.
      throw new PaymentUnavailableError(`payment intent ${authorizationId} is ${intent.status}`);
  }
}

const FRAUD = new Set(["fraudulent", "stolen_card", "lost_card", "pickup_card", "merchant_blacklist"]);

export function declineReason(code: string | undefined, declineCode: string | undefined): DeclineReason {
  if (code === "authentication_required" || declineCode === "authentication_required") return "AUTHENTICATION_REQUIRED";
  if (code === "expired_card" || declineCode === "expired_card") return "CARD_EXPIRED";
  if (declineCode === "insufficient_funds") return "INSUFFICIENT_FUNDS";
  if (declineCode && FRAUD.has(declineCode)) return "FRAUD_SUSPECTED";
  if (code === "incorrect_cvc" || code === "incorrect_number" || code?.startsWith("invalid_")) {
    return "PAYMENT_METHOD_INVALID";
  }
  return "CARD_DECLINED";
}

/** Stripe's errors as the port's: transient ones retry, state errors are final. */
export function mapError(err: unknown, what: string, secret: string): unknown {
  if (!(err instanceof Stripe.errors.StripeError)) return err;
  const detail = scrub(`${what}: ${err.type}${err.code ? ` ${err.code}` : ""}: ${err.message}`, secret);
  if (
    err instanceof Stripe.errors.StripeRateLimitError ||
    err instanceof Stripe.errors.StripeConnectionError ||
    err instanceof Stripe.errors.StripeAPIError ||
    err instanceof Stripe.errors.StripeAuthenticationError ||
    err instanceof Stripe.errors.StripePermissionError ||
    err.code === "lock_timeout" ||
    (err.statusCode ?? 0) >= 500
  ) {
    return new PaymentUnavailableError(detail);
  }
  if (err instanceof Stripe.errors.StripeCardError) {
    // Returned as is: authorize turns it into a decline.
    return err;
  }
  if (err instanceof Stripe.errors.StripeInvalidRequestError) {
    if (
      err.code === "payment_intent_unexpected_state" ||
      err.code === "charge_already_refunded" ||
      err.code === "charge_expired_for_capture" ||
      err.code === "resource_missing"
    ) {
      return new PaymentStateError(detail);
    }
  }
  // Idempotency conflicts and malformed requests are bugs: a plain error, never mistaken for an answer.
  return new Error(detail);
}

/** The secret key never leaves in a message, whatever Stripe echoes back. */
function scrub(text: string, secret: string): string {
  return secret ? text.split(secret).join("[redacted]") : text;
}
