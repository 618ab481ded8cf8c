// With TEMPORAL_CODEC_KEYS set, a checkout's history on the Temporal server
// holds no payment token, buyer id or ticket code: every payload is sealed
// with AES-GCM under the newest key. The same history, opened with the keys,
// does hold them (so the search below would find them if they leaked).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { Connection } from "@temporalio/client";
import { temporal } from "@temporalio/proto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { OrderState } from "../../src/gen/ticketing/v1/order_service.js";
import { checkoutWorkflowId } from "../../src/orders/order.js";
import { repoRoot } from "../../tools/devstack/stack.js";
import { createLogger } from "../../src/logger.js";
import { startCodecServer } from "../../src/temporal/codec-server.js";
import { EncryptionCodec, parseCodecKeys } from "../../src/temporal/payload-codec.js";
import { uid } from "../support/app.js";
import {
  createOrder,
  holdSeats,
  openSaleEvent,
  startCheckoutStack,
  watchUntilFinal,
  type CheckoutStack,
} from "../support/checkout.js";
import { testEnv } from "../support/env.js";

const KEYS = `retired:${randomBytes(32).toString("base64")},current:${randomBytes(32).toString("base64")}`;

let s: CheckoutStack;
let connection: Connection;
beforeAll(async () => {
  const env = { TEMPORAL_CODEC_KEYS: KEYS };
  [s, connection] = await Promise.all([
    startCheckoutStack(env, { ...env, PAYMENT_SIM_DECLINE_RATIO: "0" }),
    Connection.connect({ address: testEnv().temporalAddress }),
  ]);
});
afterAll(async () => {
  await connection?.close();
  await s?.stop();
});

async function rawHistory(workflowId: string): Promise<temporal.api.history.v1.IHistoryEvent[]> {
  const events: temporal.api.history.v1.IHistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await connection.workflowService.getWorkflowExecutionHistory({
      namespace: s.worker.config.TEMPORAL_NAMESPACE,
      execution: { workflowId },
      nextPageToken,
    });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return events;
}

/**
 * Every payload anywhere in the events (inputs, results, markers, updates),
 * found by shape. Search attributes are not payloads a codec may touch (the
 * server indexes them): patched() writes TemporalChangeVersion there, in clear.
 */
function payloadsIn(value: unknown, out: temporal.api.common.v1.IPayload[] = []): temporal.api.common.v1.IPayload[] {
  if (!value || typeof value !== "object" || value instanceof Uint8Array) return out;
  if ("indexedFields" in value) return out;
  if ("markerName" in value && "details" in value) {
    // Markers: the SDK core's own bookkeeping (a local activity's type, attempt and
    // times; a patch's id) is plain by design; only a local activity's "result" is ours.
    payloadsIn((value as { details: Record<string, unknown> }).details.result, out);
    return out;
  }
  if ("metadata" in value && "data" in value && (value as { data: unknown }).data instanceof Uint8Array) {
    out.push(value as temporal.api.common.v1.IPayload);
    return out;
  }
  for (const v of Object.values(value)) payloadsIn(v, out);
  return out;
}

it("a confirmed checkout's raw history holds no payment token, buyer id or ticket code", async () => {
  const eventId = await openSaleEvent(s.t);
  const buyerId = uid("buyer-private");
  const token = `tok_card_${randomBytes(8).toString("hex")}`;
  const hold = await holdSeats(s.t, eventId, buyerId, ["A-1-1", "A-1-2"]);
  const order = await createOrder(s.t, hold, token);
  const states = await watchUntilFinal(s.t, order.orderId);
  const last = states[states.length - 1]!;
  expect(last.state).toBe(OrderState.ORDER_STATE_CONFIRMED);
  const codes = last.tickets.map((t) => t.code);
  expect(codes).toHaveLength(2);

  const events = await rawHistory(checkoutWorkflowId(order.orderId));
  const raw = Buffer.from(temporal.api.history.v1.History.encode({ events }).finish());
  const secrets = [token, buyerId, ...codes];
  for (const secret of secrets) expect(raw.includes(Buffer.from(secret)), secret).toBe(false);

  // Every payload is sealed, under the newest key.
  const payloads = payloadsIn(events);
  expect(payloads.length).toBeGreaterThan(3);
  for (const p of payloads) {
    expect(Buffer.from(p.metadata!.encoding!).toString()).toBe("binary/encrypted");
    expect(Buffer.from(p.metadata!["encryption-key-id"]!).toString()).toBe("current");
  }

  // Opened with the keys, the same payloads do carry the token and the buyer.
  const opened = await new EncryptionCodec(parseCodecKeys(KEYS)).decode(
    payloads.map((p) => ({ metadata: p.metadata ?? {}, data: p.data ?? new Uint8Array() })),
  );
  const plain = Buffer.concat(opened.map((p) => Buffer.from(p.data ?? new Uint8Array())));
  expect(plain.includes(Buffer.from(token))).toBe(true);
  expect(plain.includes(Buffer.from(buyerId))).toBe(true);

  // The operators' way in: the Temporal CLI shows the history decoded through the codec server.
  const server = await startCodecServer(
    new EncryptionCodec(parseCodecKeys(KEYS)),
    "127.0.0.1:0",
    createLogger("silent", "t"),
  );
  try {
    const show = (...extra: string[]) =>
      promisify(execFile)(
        `${repoRoot}/.tools/bin/temporal`,
        [
          "workflow",
          "show",
          "--address",
          testEnv().temporalAddress,
          "-w",
          checkoutWorkflowId(order.orderId),
          "-o",
          "json",
          ...extra,
        ],
        { maxBuffer: 16 * 1024 * 1024 },
      ).then((r) => r.stdout);
    // `-o json` prints payloads as protobuf JSON: metadata and data in base64.
    const payloadText = (out: string) =>
      [...out.matchAll(/"data": "([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1]!, "base64").toString()).join("\n");
    const decoded = payloadText(await show("--codec-endpoint", `http://127.0.0.1:${server.port}`));
    expect(decoded).toContain(token);
    expect(decoded).toContain(buyerId);
    const sealedOut = await show();
    expect(sealedOut).toContain(Buffer.from("binary/encrypted").toString("base64"));
    expect(payloadText(sealedOut)).not.toContain(token);
    expect(payloadText(sealedOut)).not.toContain(buyerId);
  } finally {
    await server.close();
  }
});
