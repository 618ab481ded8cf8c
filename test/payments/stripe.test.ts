// The Stripe adapter against stripe-mock (Stripe's own mock server) behind a
// recording proxy: the requests it sends (shape, idempotency keys), how it
// decodes answers, and how Stripe's errors map to the port's.
import type { RowDataPacket } from "mysql2/promise";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../src/adapters/mysql/migrate.js";
import { createMysqlPool, type MysqlPool } from "../../src/adapters/mysql/pool.js";
import { PaymentStateError, PaymentUnavailableError } from "../../src/payments/gateway.js";
import { StripeGateway } from "../../src/payments/stripe.js";
import { uid } from "../support/app.js";
import { freshMysqlDatabase, type FreshDatabase } from "../support/env.js";
import { startStripeMock, stripeError, type StripeMock } from "../support/stripe-mock.js";

const SECRET = "sk_test_51SecretThatMustNeverLeak0123456789";
const status =
  (s: string, extra: Record<string, unknown> = {}) =>
  (body: Record<string, unknown>) => ({
    ...body,
    status: s,
    ...extra,
  });

let mock: StripeMock;
let db: FreshDatabase;
let mysql: MysqlPool;
let stripe: StripeGateway;

beforeAll(async () => {
  [mock, db] = await Promise.all([startStripeMock(), freshMysqlDatabase("stripe")]);
  mysql = createMysqlPool(db.url, 2);
  await migrate(mysql);
  stripe = new StripeGateway(mysql, { secretKey: SECRET, apiBase: mock.url, maxNetworkRetries: 0, timeoutMs: 5000 });
});

afterAll(async () => {
  await mysql?.end();
  await Promise.all([mock?.stop(), db?.drop()]);
});

afterEach(() => {
  mock.rules.length = 0;
  mock.requests.length = 0;
});

const request = (paymentKey: string, token = "pm_card_visa") => ({
  paymentKey,
  amountMinor: 4500,
  currencyCode: "EUR",
  paymentMethodToken: token,
});

async function recordedIntent(paymentKey: string): Promise<string | undefined> {
  const [rows] = await mysql.query<RowDataPacket[]>(
    "SELECT payment_intent_id FROM stripe_payment_intents WHERE payment_key = ?",
    [paymentKey],
  );
  return rows[0]?.payment_intent_id as string | undefined;
}

describe("authorize", () => {
  it("creates a manual-capture intent in minor units, records it, then confirms it; each call with its idempotency key", async () => {
    const key = `${uid("o")}:payment`;
    mock.rules.push({
      method: "POST",
      path: /^\/v1\/payment_intents\/[^/]+\/confirm$/,
      rewrite: status("requires_capture"),
    });
    const result = await stripe.authorize(request(key));
    expect(result.status).toBe("AUTHORIZED");
    expect(result.authorizationId).toMatch(/^pi_/);
    expect(await recordedIntent(key)).toBe(result.authorizationId);

    expect(mock.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /v1/payment_intents",
      `POST /v1/payment_intents/${result.authorizationId}/confirm`,
    ]);
    const [create, confirm] = mock.requests;
    expect(Object.fromEntries(create!.form)).toEqual({
      amount: "4500",
      currency: "eur",
      capture_method: "manual",
      payment_method: "pm_card_visa",
      "allowed_payment_method_types[0]": "card",
      "metadata[payment_key]": key,
    });
    expect(create!.headers["idempotency-key"]).toBe(`${key}:create`);
    expect(confirm!.headers["idempotency-key"]).toBe(`${key}:confirm`);
    expect(create!.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  it("a card decline is DECLINED with the issuer's reason", async () => {
    const key = `${uid("o")}:payment`;
    mock.rules.push({
      path: /\/confirm$/,
      respond: stripeError(402, {
        type: "card_error",
        code: "card_declined",
        decline_code: "insufficient_funds",
        message: "Your card has insufficient funds.",
      }),
    });
    const result = await stripe.authorize(request(key, "pm_card_chargeDeclinedInsufficientFunds"));
    expect(result).toEqual({
      status: "DECLINED",
      authorizationId: await recordedIntent(key),
      reason: "INSUFFICIENT_FUNDS",
    });
  });

  it("an intent that needs the buyer (3-D Secure) is DECLINED as AUTHENTICATION_REQUIRED", async () => {
    const key = `${uid("o")}:payment`;
    mock.rules.push({ path: /\/confirm$/, rewrite: status("requires_action") });
    const result = await stripe.authorize(request(key, "pm_card_authenticationRequired"));
    expect(result.status).toBe("DECLINED");
    expect(result.status === "DECLINED" && result.reason).toBe("AUTHENTICATION_REQUIRED");
  });

  it("a lost confirmation answer: the retry reads the intent instead of creating or confirming again", async () => {
    const key = `${uid("o")}:payment`;
    // stripe-node resends once on a closed connection whatever maxNetworkRetries says: lose both answers.
    mock.rules.push({ path: /\/confirm$/, dropResponse: true, times: 2 });
    await expect(stripe.authorize(request(key))).rejects.toBeInstanceOf(PaymentUnavailableError);
    const id = await recordedIntent(key);
    expect(id).toMatch(/^pi_/);

    mock.requests.length = 0;
    mock.rules.push({ method: "GET", path: /^\/v1\/payment_intents\/[^/]+$/, rewrite: status("requires_capture") });
    const result = await stripe.authorize(request(key));
    expect(result).toEqual({ status: "AUTHORIZED", authorizationId: id });
    expect(mock.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`GET /v1/payment_intents/${id}`]);
  });

  it("a lost creation answer: the retry sends the same idempotency key, so Stripe replays one intent", async () => {
    const key = `${uid("o")}:payment`;
    mock.rules.push({ method: "POST", path: /^\/v1\/payment_intents$/, dropResponse: true, times: 2 });
    await expect(stripe.authorize(request(key))).rejects.toBeInstanceOf(PaymentUnavailableError);
    expect(await recordedIntent(key)).toBeUndefined();
    mock.rules.push({ path: /\/confirm$/, rewrite: status("requires_capture") });
    expect((await stripe.authorize(request(key))).status).toBe("AUTHORIZED");
    const creates = mock.requests.filter((r) => r.path === "/v1/payment_intents");
    expect(creates.map((r) => r.headers["idempotency-key"])).toEqual(Array(3).fill(`${key}:create`));
  });

  it("one lost answer is resent by stripe-node with the same idempotency key, and the call succeeds", async () => {
    const key = `${uid("o")}:payment`;
    mock.rules.push({ path: /\/confirm$/, dropResponse: true, times: 1 });
    mock.rules.push({ path: /\/confirm$/, rewrite: status("requires_capture") });
    expect((await stripe.authorize(request(key))).status).toBe("AUTHORIZED");
    const confirms = mock.requests.filter((r) => r.path.endsWith("/confirm"));
    expect(confirms.map((r) => r.headers["idempotency-key"])).toEqual([`${key}:confirm`, `${key}:confirm`]);
  });

  it("rate limits and outages are transient (PaymentUnavailableError); nothing is recorded", async () => {
    for (const [code, error] of [
      [429, { type: "invalid_request_error", code: "rate_limit", message: "Too many requests" }],
      [500, { type: "api_error", message: "Something went wrong on Stripe's end." }],
      [503, { type: "api_error", message: "Service unavailable" }],
    ] as const) {
      const key = `${uid("o")}:payment`;
      mock.rules.length = 0;
      mock.rules.push({ path: /^\/v1\/payment_intents$/, respond: stripeError(code, error) });
      await expect(stripe.authorize(request(key))).rejects.toBeInstanceOf(PaymentUnavailableError);
      expect(await recordedIntent(key)).toBeUndefined();
    }
  });

  it("Stripe's own retry of a failed call sends the same idempotency key", async () => {
    const retrying = new StripeGateway(mysql, { secretKey: SECRET, apiBase: mock.url, maxNetworkRetries: 1 });
    const key = `${uid("o")}:payment`;
    mock.rules.push({
      path: /^\/v1\/payment_intents$/,
      respond: stripeError(500, { type: "api_error", message: "try again" }),
      times: 1,
    });
    mock.rules.push({ path: /\/confirm$/, rewrite: status("requires_capture") });
    expect((await retrying.authorize(request(key))).status).toBe("AUTHORIZED");
    const creates = mock.requests.filter((r) => r.path === "/v1/payment_intents");
    expect(creates.map((r) => r.headers["idempotency-key"])).toEqual([`${key}:create`, `${key}:create`]);
  });

  it("an unreachable provider is transient", async () => {
    const down = new StripeGateway(mysql, {
      secretKey: SECRET,
      apiBase: "http://127.0.0.1:1",
      maxNetworkRetries: 0,
      timeoutMs: 1000,
    });
    await expect(down.authorize(request(`${uid("o")}:payment`))).rejects.toBeInstanceOf(PaymentUnavailableError);
  });

  it("a rejected API key is transient and its message never carries the key", async () => {
    mock.rules.push({
      path: /^\/v1\/payment_intents$/,
      respond: stripeError(401, { type: "invalid_request_error", message: `Invalid API Key provided: ${SECRET}` }),
    });
    const err = await stripe.authorize(request(`${uid("o")}:payment`)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PaymentUnavailableError);
    expect(String((err as Error).message)).toContain("Invalid API Key");
    expect(String((err as Error).message)).not.toContain(SECRET);
  });

  it("refuses an amount that is not a positive whole number of minor units, before any call", async () => {
    await expect(stripe.authorize({ ...request(`${uid("o")}:payment`), amountMinor: 12.5 })).rejects.toBeInstanceOf(
      PaymentStateError,
    );
    await expect(stripe.authorize({ ...request(`${uid("o")}:payment`), currencyCode: "euro" })).rejects.toBeInstanceOf(
      PaymentStateError,
    );
    expect(mock.requests).toEqual([]);
  });
});

describe("capture, void and refund", () => {
  async function authorized(): Promise<{ key: string; id: string }> {
    const key = `${uid("o")}:payment`;
    mock.rules.push({ path: /\/confirm$/, rewrite: status("requires_capture"), times: 1 });
    const r = await stripe.authorize(request(key));
    mock.requests.length = 0;
    mock.rules.length = 0;
    return { key, id: r.authorizationId };
  }

  it("capture, void and refund act on the recorded intent with their own idempotency keys", async () => {
    const { key, id } = await authorized();
    await stripe.capture(key);
    await stripe.void(key);
    await stripe.refund(key);
    expect(mock.requests.map((r) => [`${r.method} ${r.path}`, r.headers["idempotency-key"]])).toEqual([
      [`POST /v1/payment_intents/${id}/capture`, `${key}:capture`],
      [`POST /v1/payment_intents/${id}/cancel`, `${key}:void`],
      ["POST /v1/refunds", `${key}:refund`],
    ]);
    expect(mock.requests[1]!.form.get("cancellation_reason")).toBe("abandoned");
    expect(mock.requests[2]!.form.get("payment_intent")).toBe(id);
  });

  it("capture of an authorization the provider let expire is a final AUTHORIZATION_EXPIRED", async () => {
    const { key } = await authorized();
    mock.rules.push({
      path: /\/capture$/,
      respond: stripeError(400, {
        type: "invalid_request_error",
        code: "payment_intent_unexpected_state",
        message: "This PaymentIntent could not be captured because it has a status of canceled.",
      }),
    });
    mock.rules.push({
      method: "GET",
      path: /^\/v1\/payment_intents\//,
      rewrite: status("canceled", { cancellation_reason: "automatic" }),
    });
    const err = await stripe.capture(key).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PaymentStateError);
    expect((err as PaymentStateError).reason).toBe("AUTHORIZATION_EXPIRED");
  });

  it("capture of an intent voided at the provider is a final AUTHORIZATION_VOIDED; of one captured already, success", async () => {
    const { key } = await authorized();
    const unexpected = stripeError(400, {
      type: "invalid_request_error",
      code: "payment_intent_unexpected_state",
      message: "unexpected state",
    });
    mock.rules.push({ path: /\/capture$/, respond: unexpected, times: 1 });
    mock.rules.push({
      method: "GET",
      path: /^\/v1\/payment_intents\//,
      rewrite: status("canceled", { cancellation_reason: "requested_by_customer" }),
      times: 1,
    });
    const err = await stripe.capture(key).catch((e: unknown) => e);
    expect((err as PaymentStateError).reason).toBe("AUTHORIZATION_VOIDED");

    mock.rules.push({ path: /\/capture$/, respond: unexpected, times: 1 });
    mock.rules.push({ method: "GET", path: /^\/v1\/payment_intents\//, rewrite: status("succeeded"), times: 1 });
    await expect(stripe.capture(key)).resolves.toBeUndefined();
  });

  it("void of a captured intent is a PaymentStateError (the saga refunds instead); of a canceled one, success", async () => {
    const { key } = await authorized();
    const unexpected = stripeError(400, {
      type: "invalid_request_error",
      code: "payment_intent_unexpected_state",
      message: "unexpected state",
    });
    mock.rules.push({ path: /\/cancel$/, respond: unexpected, times: 2 });
    mock.rules.push({ method: "GET", path: /^\/v1\/payment_intents\//, rewrite: status("succeeded"), times: 1 });
    await expect(stripe.void(key)).rejects.toBeInstanceOf(PaymentStateError);
    mock.rules.push({ method: "GET", path: /^\/v1\/payment_intents\//, rewrite: status("canceled") });
    await expect(stripe.void(key)).resolves.toBeUndefined();
  });

  it("void of a payment that never got an intent calls nothing; capture and refund of it are state errors", async () => {
    const key = `${uid("o")}:payment`;
    await expect(stripe.void(key)).resolves.toBeUndefined();
    await expect(stripe.capture(key)).rejects.toBeInstanceOf(PaymentStateError);
    await expect(stripe.refund(key)).rejects.toBeInstanceOf(PaymentStateError);
    expect(mock.requests).toEqual([]);
  });

  it("a refund Stripe already made is success; a capture during an outage is transient", async () => {
    const { key } = await authorized();
    mock.rules.push({
      path: /^\/v1\/refunds$/,
      respond: stripeError(400, {
        type: "invalid_request_error",
        code: "charge_already_refunded",
        message: "Charge has already been refunded.",
      }),
    });
    await expect(stripe.refund(key)).resolves.toBeUndefined();
    mock.rules.push({ path: /\/capture$/, respond: stripeError(503, { type: "api_error", message: "down" }) });
    await expect(stripe.capture(key)).rejects.toBeInstanceOf(PaymentUnavailableError);
  });
});
