// Ticket keys belong to the worker: only it is given TICKET_SIGNING_KEKS, so
// only it signs ticket codes and creates their keys. The API verifies codes
// with the public keys, and its RotateSigningKey and RetireSigningKey for
// ticket keys reach the worker through Temporal.
import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import type { RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, Connection } from "@temporalio/client";
import { AppError } from "../../src/domain/errors.js";
import { OrderState } from "../../src/gen/ticketing/v1/order_service.js";
import { createLogger } from "../../src/logger.js";
import { KeyRing } from "../../src/signing/key-ring.js";
import { workerTicketKeyAdmin } from "../../src/tickets/key-admin.js";
import { call, callError, uid } from "../support/app.js";
import {
  createOrder,
  holdSeats,
  openSaleEvent,
  startCheckoutStack,
  watchUntilFinal,
  type CheckoutStack,
} from "../support/checkout.js";

let s: CheckoutStack;
beforeAll(async () => {
  // The worker alone holds the ticket KEK; the API's ticket ring has none.
  s = await startCheckoutStack({}, { TICKET_SIGNING_KEKS: `tickets-1:${randomBytes(32).toString("base64")}` });
});
afterAll(() => s?.stop());

const kidOf = (code: string) =>
  (JSON.parse(Buffer.from(code.split(".")[0]!, "base64url").toString()) as { kid: string }).kid;

describe("ticket keys are the worker's", () => {
  it("rotates and retires ticket keys through the API; the worker signs with them, the API verifies", async () => {
    const { key } = await call(s.t.queue, s.t.queue.rotateSigningKey, { purpose: "ticket" }, s.t.operator);
    expect(key).toMatchObject({ purpose: "ticket", retireTime: undefined });
    // The API lists it at once (it re-reads its ring after the worker's answer).
    const listed = (await call(s.t.queue, s.t.queue.getSigningKeys, {})).keys.filter((k) => k.purpose === "ticket");
    expect(listed[0]!.kid).toBe(key!.kid);
    expect(listed.length).toBeGreaterThanOrEqual(2); // the worker's first key still verifies

    // Stored sealed under the worker's KEK; the API's admission keys under its own (here the development KEK).
    const [rows] = await s.t.app.mysql.query<RowDataPacket[]>(
      "SELECT purpose, kek_id, private_pem FROM signing_keys ORDER BY purpose",
    );
    expect(new Set(rows.map((r) => `${String(r.purpose)}:${String(r.kek_id)}:${String(r.private_pem)}`))).toEqual(
      new Set(["admission:development:null", "ticket:tickets-1:null"]),
    );

    // A purchase: the worker signs its tickets with the new key; the API checks them.
    const eventId = await openSaleEvent(s.t);
    const hold = await holdSeats(s.t, eventId, uid("buyer"), ["A-1-1", "A-1-2"]);
    const order = await createOrder(s.t, hold, "tok_approve");
    const final = (await watchUntilFinal(s.t, order.orderId)).at(-1)!;
    expect(final.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
    const [first, second] = final.tickets;
    expect(kidOf(first!.code)).toBe(key!.kid);
    const scanned = await call(s.t.tickets, s.t.tickets.checkIn, {
      code: first!.code,
      gateId: "main",
      requestId: uid("scan"),
    });
    expect(scanned.ticket!.seatId).toBe(first!.seatId);

    // Retired early (leaked): the worker makes a successor; the API refuses the key's codes at once.
    const retired = await call(s.t.queue, s.t.queue.retireSigningKey, { kid: key!.kid }, s.t.operator);
    expect(retired.key!.kid).toBe(key!.kid);
    expect(retired.key!.retireTime!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(retired.signingKey).toMatchObject({ purpose: "ticket", retireTime: undefined });
    expect(retired.signingKey!.kid).not.toBe(key!.kid);
    const refused = await callError(s.t.tickets, s.t.tickets.verifyTicket, { code: second!.code });
    expect([refused.code, refused.errorInfo?.reason]).toEqual([status.INVALID_ARGUMENT, "TICKET_CODE_INVALID"]);
    const after = (await call(s.t.queue, s.t.queue.getSigningKeys, {})).keys.map((k) => k.kid);
    expect(after).toContain(retired.signingKey!.kid);
    expect(after).not.toContain(key!.kid);
  });

  it("answers DEPENDENCY_UNAVAILABLE when no worker does it in time, and NOT_FOUND without asking one", async () => {
    const connection = await Connection.connect({ address: s.worker.config.TEMPORAL_ADDRESS });
    try {
      // The API's verify-only ring, and a task queue no worker polls.
      const ring = new KeyRing(
        s.t.app.mysql,
        { purpose: "ticket", maxTokenLifetimeSeconds: 3600, rotateAfterSeconds: 0, refreshMs: 60_000 },
        createLogger("silent", "test"),
      );
      await ring.load();
      const admin = workerTicketKeyAdmin({
        temporal: new Client({ connection, namespace: s.worker.config.TEMPORAL_NAMESPACE }),
        taskQueue: uid("nobody"),
        ring,
        workerWaitMs: 1000,
      });
      const unavailable = (p: Promise<unknown>) =>
        p.then(
          () => "answered",
          (e: unknown) => (e instanceof AppError ? `${e.reason}:${String(e.metadata.dependency)}` : String(e)),
        );
      expect(await unavailable(admin.rotate())).toBe("DEPENDENCY_UNAVAILABLE:worker");
      expect(await unavailable(admin.retire(ring.currentKey().kid))).toBe("DEPENDENCY_UNAVAILABLE:worker");
      expect(await admin.retire(uid("no-such-kid"))).toBeUndefined();
    } finally {
      await connection.close();
    }
  });
});
