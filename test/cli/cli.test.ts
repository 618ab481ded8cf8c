// The operator CLI (tools/cli/) as a subprocess against the test stack: each
// command group, --json parsed, a refused call's exit code and reason, usage
// errors, and venue-file problems with their line numbers. The example venues
// (a theatre and a 50,000-seat stadium) are created from their files.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, uid } from "../support/app.js";
import {
  createOrder,
  holdSeats,
  openSaleEvent,
  startCheckoutStack,
  watchUntilFinal,
  type CheckoutStack,
} from "../support/checkout.js";
import { tokenFor } from "../support/identity.js";
import { holdBuckets, p99Between } from "../../tools/cli/watch.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
let s: CheckoutStack;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  s = await startCheckoutStack({ QUEUE_TICK_MS: "20" });
  env = { ...process.env, TICKETING_ADDRESS: s.t.address, TICKETING_TOKEN: tokenFor({ operator: "cli-test" }) };
});
afterAll(() => s?.stop());

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `ticketing ARGS...` as an operator would run it (node --import tsx). */
function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "tools/cli/main.ts"), ...args],
      { cwd: ROOT, env: { ...env, ...extraEnv }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const json = <T>(r: Run): T => {
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
};

function venueFile(name: string, text: string): string {
  const file = path.join(os.tmpdir(), `${uid(name)}.yaml`);
  writeFileSync(file, text);
  return file;
}

describe("ticketing (the operator CLI)", () => {
  it("prints help for every command, and refuses bad command lines with status 2", async () => {
    const top = await cli(["--help"]);
    expect(top.code).toBe(0);
    for (const c of ["event create", "sale pause", "waiting-room set", "orders refund", "keys list", "watch"])
      expect(top.stdout).toContain(`  ${c}`);
    const one = await cli(["waiting-room", "set", "--help"]);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain("Usage: ticketing waiting-room set EVENT_ID");
    expect(one.stdout).toContain("--max-shopping N");

    expect((await cli([])).code).toBe(2);
    const unknown = await cli(["event", "explode"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "event explode"');
    const badOption = await cli(["event", "list", "--colour"]);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toContain("--colour");
    const missing = await cli(["event", "show"]);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining("missing EVENT_ID") as string]);
    const notNumber = await cli(["waiting-room", "set", "x", "--rate", "fast"]);
    expect(notNumber.code).toBe(2);
    expect(notNumber.stderr).toContain("--rate must be a whole number");
    const noToken = await cli(["event", "list"], { TICKETING_TOKEN: "" });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain("TICKETING_TOKEN");
    // The package's bin runs the same program.
    const bin = await new Promise<Run>((resolve) =>
      execFile(
        process.execPath,
        [path.join(ROOT, "bin/ticketing.js"), "keys", "--help"],
        { cwd: ROOT, env },
        (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
      ),
    );
    expect(bin.code).toBe(2); // "keys" alone names no command
    expect(bin.stderr).toContain("Usage: ticketing COMMAND");
  });

  it("creates the example theatre, shows and lists it, and runs its sale", async () => {
    const created = await cli(["event", "create", "--file", "examples/venues/theatre.yaml", "--json"]);
    const event = json<{
      eventId: string;
      capacity: number;
      saleState: string;
      waitingRoom: { admissionsPerSecond: number };
    }>(created);
    expect(event.eventId).toBe("theatre-2026-spring");
    expect(event.capacity).toBe(14 + 16 + 16 + 18 * 3 + 20 * 2 + 40);
    expect(event.waitingRoom.admissionsPerSecond).toBe(20);
    // The file's seat plan reached the server: GetEvent answers it, so a storefront can draw the map.
    const plan = json<{
      sections: {
        sectionId: string;
        outline?: { points: unknown[] };
        reserved?: { rows: { placement?: { position?: { y: number; seatSpacing: number; curve: number } } }[] };
        generalAdmission?: { area?: { width: number } };
      }[];
    }>(await cli(["event", "show", event.eventId, "--json"]));
    const stalls = plan.sections.find((x) => x.sectionId === "STALLS")!;
    expect(stalls.outline?.points).toHaveLength(4);
    expect(stalls.reserved!.rows.map((r) => r.placement?.position?.y)).toEqual([120, 160, 200, 240, 280, 320]);
    expect(stalls.reserved!.rows[0]!.placement?.position).toMatchObject({ seatSpacing: 30, curve: 20 });
    expect(plan.sections.find((x) => x.sectionId === "BAR")!.generalAdmission?.area?.width).toBe(300);
    // Again: the same request id (from the file), the same event.
    expect(
      json<{ eventId: string }>(await cli(["event", "create", "-f", "examples/venues/theatre.yaml", "--json"])).eventId,
    ).toBe(event.eventId);

    const shown = await cli(["event", "show", event.eventId]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^waiting room\s+on: 20\/s, at most 200 shopping, sessions of 900 s$/m);
    expect(shown.stdout).toMatch(/^front\s+Front stalls\s+65\.00 EUR$/m);
    expect(shown.stdout).toMatch(/^STALLS\s+Stalls\s+seated\s+6\s+100$/m);
    expect(shown.stdout).toMatch(/^BAR\s+Bar\s+standing\s+-\s+40$/m);

    const listed = json<{ eventId: string }[]>(await cli(["event", "list", "--json"]));
    expect(listed.map((e) => e.eventId)).toContain(event.eventId);
    const table = await cli(["event", "list"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^event\s+name\s+sale\s+capacity\s+waiting room\s+created$/);

    for (const [verb, state] of [
      ["open", "OPEN"],
      ["pause", "PAUSED"],
      ["open", "OPEN"],
    ] as const) {
      const r = await cli(["sale", verb, event.eventId]);
      expect([r.code, r.stdout]).toEqual([0, `${event.eventId}: sale ${state}\n`]);
    }
    const wr = await cli(["waiting-room", "set", event.eventId, "--rate", "35", "--session", "300", "--json"]);
    expect(json<{ waitingRoom: object }>(wr).waitingRoom).toMatchObject({
      admissionsPerSecond: 35,
      maxShopping: 200,
      sessionSeconds: 300,
    });
    const closed = json<{ saleState: string }>(await cli(["sale", "close", event.eventId, "--json"]));
    expect(closed.saleState).toBe("SALE_STATE_CLOSED");
  });

  it("exits 1 with the ErrorInfo reason on stderr when a call is refused", async () => {
    const missing = await cli(["event", "show", "no-such-event"]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toMatch(/^ticketing event show: EVENT_NOT_FOUND: event no-such-event not found$/m);

    const closed = await openSaleEvent(s.t);
    await cli(["sale", "close", closed]);
    const reopen = await cli(["sale", "open", closed]);
    expect([reopen.code, reopen.stderr]).toEqual([1, expect.stringContaining(": SALE_CLOSED: ") as string]);

    // A buyer's token is refused at an operator command.
    const buyer = await cli(["sale", "pause", closed], { TICKETING_TOKEN: tokenFor({ buyer: "mallory" }) });
    expect(buyer.code).toBe(1);
    expect(buyer.stderr).toContain("SCOPE_MISSING");

    const noRoom = await cli(["waiting-room", "set", closed, "--max-shopping", "10"]);
    expect([noRoom.code, noRoom.stderr]).toEqual([1, expect.stringContaining("WAITING_ROOM_DISABLED") as string]);
    const badRate = await cli(["waiting-room", "set", closed, "--rate", "0"]);
    expect(badRate.code).toBe(1);
    expect(badRate.stderr).toContain("VALIDATION_FAILED");
    expect(badRate.stderr).toMatch(/^\s+admissions_per_second: must be an integer in 1\.\.10000$/m);
  });

  it("reports a venue file's problems with their lines, its own and the server's, and sends nothing broken", async () => {
    const file = venueFile(
      "broken",
      [
        "event:", // 1
        "  name: Broken", // 2
        "  venue: Hall", // 3
        "  currency_code: EUR", // 4
        "  start_time: next friday", // 5
        "  price_categories:", // 6
        "    - { price_category_id: std, name: Standard, price_minor: 1000 }", // 7
        "  sections:", // 8
        "    - section_id: A", // 9
        "      name: Stalls", // 10
        "      reserved:", // 11
        "        rows:", // 12
        "          - { row_id: '1', seats: 10, price_category_id: std }", // 13
        "          - { row_id: '2', seat_count: many, price_category_id: std }", // 14
      ].join("\n"),
    );
    const local = await cli(["event", "create", "--file", file]);
    expect(local.code).toBe(1);
    expect(local.stdout).toBe("");
    expect(local.stderr).toContain(`${file}: 3 problems in the venue file`);
    expect(local.stderr).toContain(`${file}:5: event.start_time: must be a time like`);
    expect(local.stderr).toContain(`${file}:13: event.sections[0].reserved.rows[0].seats: unknown field in Row`);
    expect(local.stderr).toContain(`${file}:14: event.sections[0].reserved.rows[1].seat_count: must be a whole number`);

    const syntax = await cli([
      "event",
      "create",
      "--file",
      venueFile("syntax", "event:\n  name: [unclosed\n  venue: x\n"),
    ]);
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toMatch(/:\d+: /);

    // Well-formed, but the server refuses it: its field violations come back with their lines.
    const refused = venueFile(
      "refused",
      [
        "event:", // 1
        "  name: Refused", // 2
        "  venue: Hall", // 3
        "  currency_code: EUR", // 4
        "  price_categories:", // 5
        "    - { price_category_id: std, name: Standard, price_minor: 1000 }", // 6
        "  sections:", // 7
        "    - section_id: A", // 8
        "      name: Stalls", // 9
        "      reserved:", // 10
        "        rows:", // 11
        "          - { row_id: '1', seat_count: 10, price_category_id: std }", // 12
        "          - { row_id: '2', seat_count: 900, price_category_id: vip }", // 13
      ].join("\n"),
    );
    const server = await cli(["event", "create", "--file", refused]);
    expect(server.code).toBe(1);
    expect(server.stderr).toContain("VALIDATION_FAILED");
    expect(server.stderr).toContain(
      `${refused}:13: event.sections[0].reserved.rows[1].seat_count: must be an integer in 1..500`,
    );
    expect(server.stderr).toContain(
      `${refused}:13: event.sections[0].reserved.rows[1].price_category_id: unknown price category vip`,
    );
  });

  it("creates the README's demo event from its venue file", async () => {
    const demo = json<{ eventId: string; capacity: number; waitingRoom?: { enabled?: boolean } }>(
      await cli(["event", "create", "--file", "examples/venues/demo.yaml", "--json"]),
    );
    expect(demo).toMatchObject({ eventId: "demo", capacity: 520 });
    expect(demo.waitingRoom?.enabled ?? false).toBe(false); // proto JSON leaves false out
  });

  it("creates the 50,000-seat example stadium", async () => {
    const r = await cli(["event", "create", "--file", "examples/venues/stadium.yaml", "--json"]);
    const event = json<{
      eventId: string;
      capacity: number;
      sections: { outline?: object; reserved: { rows: { placement?: { position?: object } }[] } }[];
    }>(r);
    expect(event.capacity).toBe(50_000);
    expect(event.sections).toHaveLength(40);
    // Its seat plan (a bowl round the pitch) reached the server: every block outlined, every row placed.
    expect(event.sections.filter((x) => !x.outline)).toEqual([]);
    expect(event.sections.flatMap((x) => x.reserved.rows).filter((row) => !row.placement?.position)).toEqual([]);
    const summary = await call(s.t.events, s.t.events.getEventSummary, { eventId: event.eventId }, s.t.operator);
    expect(summary.total).toMatchObject({ capacity: 50_000, free: 50_000 });
  });

  it("shows every hold of an order over several holds, with its seats and places", async () => {
    const eventId = await openSaleEvent(s.t);
    const buyer = uid("buyer");
    const seats = await holdSeats(s.t, eventId, buyer, ["A-2-4", "A-2-5"]);
    const floor = (
      await call(s.t.reservations, s.t.reservations.holdSeats, {
        eventId,
        buyerId: buyer,
        admissionToken: "",
        requestId: uid("r"),
        selection: { $case: "generalAdmission", value: { sectionId: "FLOOR", quantity: 2 } },
      })
    ).hold!;
    const { order } = await call(s.t.orders, s.t.orders.createOrder, {
      eventId,
      holdId: "",
      holdIds: [seats.holdId, floor.holdId],
      buyerId: buyer,
      idempotencyKey: uid("k"),
      payment: { paymentMethodToken: "tok_approve" },
    });
    await watchUntilFinal(s.t, order!.orderId);
    const shown = await cli(["orders", "show", order!.orderId]);
    expect(shown.code).toBe(0);
    const both = [seats.holdId, floor.holdId].sort();
    expect(shown.stdout).toMatch(new RegExp(`^holds\\s+${both.join(" ")}$`, "m"));
    expect(shown.stdout).toMatch(new RegExp(`^${seats.holdId}\\s+A-2-4 A-2-5$`, "m"));
    expect(shown.stdout).toMatch(new RegExp(`^${floor.holdId}\\s+2 x FLOOR$`, "m"));
    // 2 x 30.00 + 2 x 20.00
    expect(shown.stdout).toMatch(/^amount\s+100\.00 EUR$/m);
  });

  it("lists, shows and refunds orders", async () => {
    const eventId = await openSaleEvent(s.t);
    const buyer = uid("buyer");
    const hold = await holdSeats(s.t, eventId, buyer, ["A-1-1", "A-1-2"]);
    const order = await createOrder(s.t, hold, "tok_approve");
    await watchUntilFinal(s.t, order.orderId);

    const listed = json<{ orderId: string; state: string }[]>(
      await cli(["orders", "list", eventId, "--buyer", buyer, "--json"]),
    );
    expect(listed).toEqual([expect.objectContaining({ orderId: order.orderId, state: "ORDER_STATE_CONFIRMED" })]);
    const table = await cli(["orders", "list", eventId, "--buyer", buyer]);
    expect(table.stdout).toMatch(
      new RegExp(`^${order.orderId}\\s+${eventId}\\s+${buyer}\\s+CONFIRMED\\s+A-1-1 A-1-2\\s+100\\.00 EUR`, "m"),
    );
    const anyEvent = json<{ orderId: string }[]>(
      await cli(["orders", "list", "--event-any", "--buyer", buyer, "--json"]),
    );
    expect(anyEvent.map((o) => o.orderId)).toEqual([order.orderId]);

    // Without --buyer: every order of the event (ListEventOrders), page by page, newest first.
    const declined = await createOrder(s.t, await holdSeats(s.t, eventId, uid("other"), ["A-2-1"]), "tok_decline");
    await watchUntilFinal(s.t, declined.orderId);
    const everyone = json<{ orderId: string; state: string }[]>(
      await cli(["orders", "list", eventId, "--page-size", "1", "--json"]),
    );
    expect(everyone.map((o) => [o.orderId, o.state])).toEqual([
      [declined.orderId, "ORDER_STATE_FAILED"],
      [order.orderId, "ORDER_STATE_CONFIRMED"],
    ]);
    const limited = json<{ orderId: string }[]>(await cli(["orders", "list", eventId, "--limit", "1", "--json"]));
    expect(limited.map((o) => o.orderId)).toEqual([declined.orderId]);
    const failedOnly = await cli(["orders", "list", eventId, "--state", "failed"]);
    expect(failedOnly.code).toBe(0);
    expect(failedOnly.stdout.trimEnd().split("\n")).toEqual([
      expect.stringMatching(/^order\s+event\s+buyer\s+state\s+places\s+amount\s+created$/),
      expect.stringMatching(new RegExp(`^${declined.orderId}\\s+${eventId}\\s+\\S+\\s+FAILED\\s+A-2-1\\s+30\\.00 EUR`)),
    ]);
    const badState = await cli(["orders", "list", eventId, "--state", "LOST"]);
    expect([badState.code, badState.stderr]).toEqual([2, expect.stringContaining("--state must be one of") as string]);
    const unknownEvent = await cli(["orders", "list", "no-such-event"]);
    expect([unknownEvent.code, unknownEvent.stderr]).toEqual([1, expect.stringContaining("EVENT_NOT_FOUND") as string]);
    const asBuyer = await cli(["orders", "list", eventId], { TICKETING_TOKEN: tokenFor({ buyer }) });
    expect([asBuyer.code, asBuyer.stderr]).toEqual([1, expect.stringContaining("SCOPE_MISSING") as string]);

    const shown = await cli(["orders", "show", order.orderId]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^state\s+CONFIRMED$/m);
    expect(shown.stdout).toMatch(/^ticket\s+seat\s+state$/m);
    expect(shown.stdout).not.toMatch(/^refunded/m);

    // One ticket of two: the order stays CONFIRMED, that ticket revoked, 50.00 refunded.
    const { order: full } = await call(s.t.orders, s.t.orders.getOrder, { orderId: order.orderId });
    const first = full!.tickets.find((t) => t.seatId === "A-1-1")!;
    const partial = await cli(["orders", "refund", order.orderId, "--tickets", first.ticketId]);
    expect(partial.code).toBe(0);
    expect(partial.stdout).toMatch(/^state\s+CONFIRMED$/m);
    expect(partial.stdout).toMatch(/^refunded\s+50\.00 EUR$/m);
    expect(partial.stdout).toMatch(new RegExp(`^${first.ticketId}\\s+A-1-1\\s+revoked$`, "m"));
    expect(partial.stdout).toMatch(/\s+A-1-2\s+valid$/m);

    const refunded = json<{ state: string }>(await cli(["orders", "refund", order.orderId, "--json"]));
    expect(refunded.state).toBe("ORDER_STATE_REFUNDED");
    // Idempotent: a second refund answers the refunded order.
    const again = await cli(["orders", "refund", order.orderId]);
    expect(again.stdout).toMatch(/^state\s+REFUNDED$/m);

    const unknown = await cli(["orders", "show", "ord_nope"]);
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringContaining("ORDER_NOT_FOUND") as string]);
  });

  it("lists, rotates and retires the signing keys", async () => {
    type Key = { kid: string; purpose: string; retireTime?: string };
    const keys = json<Key[]>(await cli(["keys", "list", "--json"]));
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const k of keys) expect(["admission", "ticket"]).toContain(k.purpose);
    const table = await cli(["keys", "list"]);
    expect(table.stdout).toContain(keys[0]!.kid);

    const [rotated] = json<Key[]>(await cli(["keys", "rotate", "ticket", "--json"]));
    expect(rotated).toMatchObject({ purpose: "ticket" });
    expect(keys.map((k) => k.kid)).not.toContain(rotated!.kid);
    const retired = await cli(["keys", "retire", rotated!.kid]);
    expect(retired.stdout).toMatch(new RegExp(`^${rotated!.kid}\\s+ticket\\s+EdDSA\\s+retired`, "m"));
    expect(retired.stdout).toMatch(/^\S+\s+ticket\s+EdDSA\s+signing/m);
    const after = json<Key[]>(await cli(["keys", "list", "--json"]));
    expect(after.map((k) => k.kid)).not.toContain(rotated!.kid);

    const bad = await cli(["keys", "rotate", "payments"]);
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringContaining("VALIDATION_FAILED") as string]);
    const unknown = await cli(["keys", "retire", "no-such-key"]);
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringContaining("SIGNING_KEY_NOT_FOUND") as string]);
  });

  it("watches the funnel: one frame with --once, as a table or JSON", async () => {
    const eventId = await openSaleEvent(s.t);
    await holdSeats(s.t, eventId, uid("w"), ["A-2-1", "A-2-2", "A-2-3"]);
    const frame = json<{
      eventId: string;
      saleState: string;
      activeHolds: number;
      seats: { capacity: number; held: number; free: number };
      sections: { sectionId: string; free: number }[];
      seatsHeldPerSecond: number;
      holdP99Ms: number | null;
    }>(
      await cli(["watch", eventId, "--once", "--json", "--metrics", `http://127.0.0.1:${s.t.app.metricsPort}/metrics`]),
    );
    expect(frame).toMatchObject({ eventId, saleState: "OPEN", activeHolds: 1 });
    expect(frame.seats).toMatchObject({ capacity: 40, held: 3, free: 37 });
    expect(frame.sections).toEqual([
      expect.objectContaining({ sectionId: "A", free: 17 }),
      expect.objectContaining({ sectionId: "FLOOR", free: 20 }),
    ]);
    expect(frame.seatsHeldPerSecond).toBe(0); // nothing held during the frame's interval

    const text = await cli(["watch", eventId, "--once"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${eventId}  sale OPEN`);
    expect(text.stdout).toMatch(
      /^waiting\s+shopping\s+admitted\/s\s+seats held\/s\s+orders\/s\s+hold p99 ms\s+active holds$/m,
    );
    expect(text.stdout).toMatch(/^seats left: 37 of 40 \(93 %\), 3 held, 0 sold$/m);
    expect(text.stdout).toMatch(/^A\s+17\s+3\s+0\s+20$/m);
  });
});

describe("watch's p99 of holds", () => {
  it("reads HoldSeats and HoldBestAvailable buckets from /metrics and takes the p99 between two scrapes", () => {
    const scrape = (fast: number, slow: number) =>
      [
        `grpc_server_handling_seconds_bucket{le="0.005",grpc_service="ticketing.v1.ReservationService",grpc_method="HoldSeats"} ${fast}`,
        `grpc_server_handling_seconds_bucket{le="0.05",grpc_service="ticketing.v1.ReservationService",grpc_method="HoldSeats"} ${fast + slow}`,
        `grpc_server_handling_seconds_bucket{le="+Inf",grpc_service="ticketing.v1.ReservationService",grpc_method="HoldSeats"} ${fast + slow}`,
        `grpc_server_handling_seconds_bucket{le="0.005",grpc_service="ticketing.v1.EventService",grpc_method="GetEvent"} 999`,
      ].join("\n");
    const before = holdBuckets(scrape(100, 0));
    expect(p99Between(before, holdBuckets(scrape(100, 0)))).toBeNull(); // no calls in between
    expect(p99Between(before, holdBuckets(scrape(1090, 10)))).toBe(5); // 990 fast, 10 slow: p99 in the 5 ms bucket
    expect(p99Between(before, holdBuckets(scrape(1000, 20)))).toBe(50); // 20 of 920 slow
  });
});
