// Every operator call is named in the audit log: who did it, which method, and
// how it ended, from the token's subject (not from anything in the request).
// A buyer refused at an operator method is logged under its own subject.
import { Writable } from "node:stream";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, callError, startTestApp, uid, type TestApp } from "../support/app.js";
import { openSaleEvent } from "../support/checkout.js";
import { bearer } from "../support/identity.js";

interface LogLine {
  msg: string;
  level: number;
  method?: string;
  code?: string;
  operator?: string;
  principal?: string;
  requestId?: string;
  eventId?: string;
  from?: { admissionsPerSecond: number };
  to?: { admissionsPerSecond: number };
}

const lines: LogLine[] = [];
const capture = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const text of chunk.toString("utf8").split("\n")) if (text) lines.push(JSON.parse(text) as LogLine);
    done();
  },
});

let t: TestApp;
let eventId: string;

beforeAll(async () => {
  t = await startTestApp({ LOG_LEVEL: "info" }, { logTo: capture });
  eventId = await openSaleEvent(t);
});
afterAll(() => t?.stop());

const PAUSE = "/ticketing.v1.EventService/PauseSale";
const OPEN = "/ticketing.v1.EventService/OpenSale";
const LIST_EVENT_ORDERS = "/ticketing.v1.OrderService/ListEventOrders";

describe("the operator audit log", () => {
  it("names the operator, the method and the outcome of every operator call", async () => {
    const before = lines.length;
    await call(t.events, t.events.pauseSale, { eventId, requestId: uid("r") }, bearer({ operator: "ops-ana" }));
    await call(t.events, t.events.openSale, { eventId, requestId: uid("r") }, bearer({ operator: "ops-ben" }));
    const refused = await callError(
      t.events,
      t.events.pauseSale,
      { eventId: "no-such-event", requestId: uid("r") },
      bearer({ operator: "ops-ana" }),
    );
    expect(refused.code).toBe(status.NOT_FOUND);

    const audit = lines.slice(before).filter((l) => l.msg === "operator call finished");
    expect(audit.map((l) => [l.operator, l.method, l.code])).toEqual([
      ["ops-ana", PAUSE, "OK"],
      ["ops-ben", OPEN, "OK"],
      ["ops-ana", PAUSE, "NOT_FOUND"],
    ]);
    // Each line carries its call's request id, so it can be joined with the call's other lines.
    for (const l of audit) expect(l.requestId).toMatch(/\S/);
    expect(new Set(audit.map((l) => l.requestId)).size).toBe(3);
  });

  it("audits UpdateWaitingRoom: the operator's call, and the settings before and after", async () => {
    const withRoom = await openSaleEvent(t, {
      waitingRoom: {
        enabled: true,
        admissionsPerSecond: 10,
        maxShopping: 50,
        sessionSeconds: 600,
        shuffleSeedSha256: "",
      },
    });
    const before = lines.length;
    await call(
      t.events,
      t.events.updateWaitingRoom,
      { eventId: withRoom, requestId: uid("r"), admissionsPerSecond: 25 },
      bearer({ operator: "ops-cy" }),
    );
    const mine = lines.slice(before);
    expect(mine.filter((l) => l.msg === "operator call finished").map((l) => [l.operator, l.method, l.code])).toEqual([
      ["ops-cy", "/ticketing.v1.EventService/UpdateWaitingRoom", "OK"],
    ]);
    const changed = mine.find((l) => l.msg === "waiting room settings changed");
    expect(changed).toMatchObject({
      eventId: withRoom,
      from: { admissionsPerSecond: 10 },
      to: { admissionsPerSecond: 25 },
    });
  });

  it("audits ListEventOrders, the operator's read of every buyer's orders", async () => {
    const before = lines.length;
    const listed = await call(
      t.orders,
      t.orders.listEventOrders,
      { eventId, state: 0, buyerId: "", pageSize: 10, pageToken: "" },
      bearer({ operator: "ops-dee" }),
    );
    expect(listed.orders).toEqual([]);
    const refused = await callError(
      t.orders,
      t.orders.listEventOrders,
      { eventId, state: 0, buyerId: "", pageSize: 10, pageToken: "" },
      bearer({ buyer: "mallory" }),
    );
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    const mine = lines.slice(before).filter((l) => l.method === LIST_EVENT_ORDERS);
    expect(mine.map((l) => [l.msg, l.operator ?? l.principal, l.code])).toEqual([
      ["operator call finished", "ops-dee", "OK"],
      ["call finished", "mallory", "PERMISSION_DENIED"],
    ]);
  });

  it("logs a buyer refused at an operator method under the buyer's own subject, not as an operator", async () => {
    const before = lines.length;
    const refused = await callError(
      t.events,
      t.events.pauseSale,
      { eventId, requestId: uid("r") },
      bearer({ buyer: "mallory" }),
    );
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    const mine = lines.slice(before).filter((l) => l.method === PAUSE);
    expect(mine.map((l) => [l.msg, l.principal, l.code])).toEqual([["call finished", "mallory", "PERMISSION_DENIED"]]);
    expect(mine.some((l) => l.operator !== undefined)).toBe(false);
  });
});
