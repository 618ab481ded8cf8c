// What verification remembers and what each buyer may spend: the token cache
// is bounded and never outlives a token, and the per-buyer call budget answers
// RESOURCE_EXHAUSTED with RetryInfo, keyed on the token's subject.
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/domain/errors.js";
import { CallBudget } from "../../src/identity/authenticator.js";
import { KeyRing } from "../../src/identity/key-ring.js";
import { TokenVerifier } from "../../src/identity/verifier.js";
import { callError, call, startTestApp } from "../support/app.js";
import { bearer, issuer } from "../support/identity.js";

function verifier(cacheSize: number, clockToleranceSeconds = 0) {
  return new TokenVerifier({
    keys: new KeyRing({ kind: "file", path: issuer.jwksFile }, { refreshMs: 60_000, cooldownMs: 0, timeoutMs: 5_000 }),
    issuer: issuer.issuer,
    audience: issuer.audience,
    algorithms: ["EdDSA"],
    clockToleranceSeconds,
    eventsClaim: "events",
    cacheSize,
  });
}

describe("the token cache", () => {
  it("answers a token seen before without verifying it again, within its bound", async () => {
    const v = verifier(2);
    const [a, b, c] = ["a", "b", "c"].map((buyer) => issuer.sign({ buyer }));
    await v.verify(a!);
    expect(v.verify(a!)).not.toBeInstanceOf(Promise); // remembered: synchronous
    await v.verify(b!);
    await v.verify(c!); // the bound is 2: the oldest (a) is forgotten
    expect(v.verify(a!)).toBeInstanceOf(Promise);
    expect(v.verify(c!)).not.toBeInstanceOf(Promise);
  });

  it("never outlives the token", async () => {
    const v = verifier(10);
    const now = Math.floor(Date.now() / 1000);
    const token = issuer.sign({ buyer: "short" }, { issuedAtSeconds: now, ttlSeconds: 2 });
    expect((await v.verify(token)).subject).toBe("short");
    while (Date.now() < (now + 2) * 1000 + 50) await new Promise((r) => setTimeout(r, 100));
    const refused = await Promise.resolve()
      .then(() => v.verify(token))
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).reason).toBe("TOKEN_EXPIRED");
  });
});

describe("the call budget", () => {
  it("lets a subject spend its burst, then refuses with a retry delay until it refills", () => {
    const budget = new CallBudget(2, 3);
    for (let i = 0; i < 3; i++) budget.take("b", 1_000);
    let refused: unknown;
    try {
      budget.take("b", 1_000);
    } catch (e) {
      refused = e;
    }
    expect((refused as AppError).reason).toBe("CALL_BUDGET_EXCEEDED");
    expect((refused as AppError).retryAfterMs).toBe(500);
    budget.take("other", 1_000); // another subject has its own
    budget.take("b", 1_500); // half a second later: one call's worth came back
  });

  it("is keyed on the token's subject through the API, and does not apply to operators", async () => {
    const t = await startTestApp({ AUTH_CALL_BUDGET_PER_SECOND: "0.01", AUTH_CALL_BUDGET_BURST: "3" });
    try {
      const req = { buyerId: "", eventId: "", pageSize: 1, pageToken: "" };
      const buyer = bearer({ buyer: "budgeted" });
      for (let i = 0; i < 3; i++) await call(t.orders, t.orders.listOrders, req, buyer);
      const err = await callError(t.orders, t.orders.listOrders, req, buyer);
      expect([err.code, err.errorInfo?.reason]).toEqual([status.RESOURCE_EXHAUSTED, "CALL_BUDGET_EXCEEDED"]);
      expect(err.retryInfo?.retryDelay).toBeDefined();
      // A fresh token of the same subject is the same buyer: no fresh allowance.
      const again = await callError(t.orders, t.orders.listOrders, req, bearer(issuer.sign({ buyer: "budgeted" })));
      expect(again.errorInfo?.reason).toBe("CALL_BUDGET_EXCEEDED");
      for (let i = 0; i < 5; i++) await call(t.events, t.events.listEvents, { pageSize: 1, pageToken: "" }, t.operator);
    } finally {
      await t.stop();
    }
  });
});
