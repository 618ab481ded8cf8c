// RotateSigningKey and RetireSigningKey, the operator's hand on the signing
// keys: a rotation makes a new key sign while tokens already handed out stay
// good; an early retirement (a leaked key) makes every token it signed
// worthless at once, even one this process had already checked and cached.
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueState, type QueueTicket } from "../../src/gen/ticketing/v1/queue_service.js";
import { call, callError, startTestApp, uid, type TestApp } from "../support/app.js";
import { openSaleEvent } from "../support/checkout.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ QUEUE_TICK_MS: "20" });
});
afterAll(() => t?.stop());

async function admitted(eventId: string, buyerId: string): Promise<QueueTicket> {
  await call(t.queue, t.queue.joinQueue, { eventId, buyerId, requestId: uid("j") });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { ticket } = await call(t.queue, t.queue.getQueuePosition, { eventId, buyerId });
    if (ticket!.state === QueueState.QUEUE_STATE_ADMITTED) return ticket!;
    if (Date.now() > deadline) throw new Error(`${buyerId} was not admitted`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const hold = (eventId: string, buyerId: string, admissionToken: string, seatId: string) =>
  call(t.reservations, t.reservations.holdSeats, {
    eventId,
    buyerId,
    admissionToken,
    requestId: uid("r"),
    selection: { $case: "seats", value: { seatIds: [seatId] } },
  });
const kidOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()) as { kid: string }).kid;
const admissionKeys = async () =>
  (await call(t.queue, t.queue.getSigningKeys, {})).keys.filter((k) => k.purpose === "admission");

describe("the operator's signing key RPCs", () => {
  it("rotate: a new key signs, and a token signed before still holds", async () => {
    const eventId = await openSaleEvent(t, {
      waitingRoom: {
        enabled: true,
        admissionsPerSecond: 100,
        maxShopping: 100,
        sessionSeconds: 120,
        shuffleSeedSha256: "",
      },
    });
    const before = await admitted(eventId, "rot-a");
    const oldKid = kidOf(before.admissionToken);

    const { key } = await call(t.queue, t.queue.rotateSigningKey, { purpose: "admission" }, t.operator);
    expect(key!.kid).not.toBe(oldKid);
    expect(key!.retireTime).toBeUndefined();
    const keys = await admissionKeys();
    expect(keys[0]!.kid).toBe(key!.kid);
    expect(keys.find((k) => k.kid === oldKid)!.retireTime!.getTime()).toBeGreaterThan(Date.now());

    await hold(eventId, "rot-a", before.admissionToken, "A-1-1");
    const after = await admitted(eventId, "rot-b");
    expect(kidOf(after.admissionToken)).toBe(key!.kid);
    await hold(eventId, "rot-b", after.admissionToken, "A-1-2");
  });

  it("retire: the key's tokens are refused at once, a new key signs, and the JWKS drops it", async () => {
    const eventId = await openSaleEvent(t, {
      waitingRoom: {
        enabled: true,
        admissionsPerSecond: 100,
        maxShopping: 100,
        sessionSeconds: 120,
        shuffleSeedSha256: "",
      },
    });
    const ticket = await admitted(eventId, "ret-a");
    const leaked = kidOf(ticket.admissionToken);
    // Checked once (and cached as good) before the key leaks.
    await hold(eventId, "ret-a", ticket.admissionToken, "A-1-1");

    const retired = await call(t.queue, t.queue.retireSigningKey, { kid: leaked }, t.operator);
    expect(retired.key!.kid).toBe(leaked);
    expect(retired.key!.retireTime!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(retired.signingKey!.kid).not.toBe(leaked);
    expect((await admissionKeys()).map((k) => k.kid)).not.toContain(leaked);

    const refused = await callError(t.reservations, t.reservations.holdSeats, {
      eventId,
      buyerId: "ret-a",
      admissionToken: ticket.admissionToken,
      requestId: uid("r"),
      selection: { $case: "seats", value: { seatIds: ["A-1-2"] } },
    });
    expect([refused.code, refused.errorInfo?.reason]).toEqual([status.PERMISSION_DENIED, "ADMISSION_TOKEN_INVALID"]);

    // Idempotent: retiring it again changes nothing.
    const again = await call(t.queue, t.queue.retireSigningKey, { kid: leaked }, t.operator);
    expect(again.key!.retireTime).toEqual(retired.key!.retireTime);
    expect(again.signingKey!.kid).toBe(retired.signingKey!.kid);
  });

  it("answers bad input and unknown keys clearly", async () => {
    const purpose = await callError(t.queue, t.queue.rotateSigningKey, { purpose: "payments" }, t.operator);
    expect(purpose.code).toBe(status.INVALID_ARGUMENT);
    expect(purpose.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["purpose"]);
    const kid = await callError(t.queue, t.queue.retireSigningKey, { kid: "" }, t.operator);
    expect(kid.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["kid"]);
    const unknown = await callError(t.queue, t.queue.retireSigningKey, { kid: uid("nokey") }, t.operator);
    expect([unknown.code, unknown.errorInfo?.reason]).toEqual([status.NOT_FOUND, "SIGNING_KEY_NOT_FOUND"]);
  });
});
