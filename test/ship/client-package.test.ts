// @ticketing/client as another team gets it: `npm pack` of the workspace,
// installed from the tarball into an empty project, then a plain Node script
// there (no tsx, no access to this repository's sources) calls the running
// API through connect(): reads with a token, typed errors with their reason
// and field violations, a call without a token refused, and a Watch stream
// that outlives the unary default deadline.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Reasons } from "../../src/domain/errors.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { openSaleEvent } from "../support/checkout.js";
import { tokenFor } from "../support/identity.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);
const SLOW_MS = 10 * 60_000; // npm pack compiles the client; npm install on a busy 2-core machine

let t: TestApp;
let project: string;
let eventId: string;

beforeAll(async () => {
  project = mkdtempSync(path.join(os.tmpdir(), "ticketing-client-user-"));
  await run("npm", ["pack", "--silent", "--workspace", "clients/typescript", "--pack-destination", project], {
    cwd: root,
    timeout: SLOW_MS,
  });
  const tarball = readdirSync(project).find((f) => f.endsWith(".tgz"));
  if (!tarball) throw new Error(`npm pack left no tarball in ${project}`);
  writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "user", private: true, type: "module" }));
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", `./${tarball}`], {
    cwd: project,
    timeout: SLOW_MS,
  });
  t = await startTestApp();
  eventId = await openSaleEvent(t);
}, SLOW_MS);

afterAll(async () => {
  await t?.stop();
  if (project) rmSync(project, { recursive: true, force: true });
});

// Runs in the empty project: only the installed package and its dependencies.
const SCRIPT = `
import { connect, decodeError, REASONS, RETRIED_METHODS, rowSeatPlacements, status } from "@ticketing/client";

const [address, token, eventId] = process.argv.slice(2);
const unary = (client, method, request) =>
  new Promise((resolve, reject) => client[method](request, (err, res) => (err ? reject(err) : resolve(res))));
const failure = (p) => p.then(() => undefined, (err) => decodeError(err));

const api = connect(address, { token, defaultDeadlineSeconds: 1 });
const anonymous = connect(address);
const out = { reasons: REASONS.length, retriesHoldSeats: RETRIED_METHODS.ReservationService.includes("HoldSeats") };
out.seats = rowSeatPlacements({
  firstSeatNumber: 5, seatCount: 3,
  placement: { position: { x: 100, y: 40, rotation: 0, seatSpacing: 10, curve: 0 }, seats: [] },
});

const { event } = await unary(api.events, "getEvent", { eventId });
out.event = { id: event.eventId, name: event.name, currency: event.currencyCode };
out.invalid = await failure(unary(api.reservations, "holdSeats", { eventId: "", buyerId: "b1", requestId: "r1" }));
out.missing = await failure(unary(api.events, "getEvent", { eventId: "no-such-event" }));
out.anonymous = await failure(unary(anonymous.events, "getEvent", { eventId }));
out.notGrpc = decodeError(new Error("plain")) ?? null;

// A stream has no default deadline: it still delivers after the unary one (1 s) has passed.
const stream = api.events.watchSeatMap({ eventId });
const messages = [];
let streamError;
stream.on("data", (m) => messages.push(m));
stream.on("error", (err) => (streamError = decodeError(err)));
const until = async (cond) => { while (!cond() && !streamError) await new Promise((r) => setTimeout(r, 20)); };
await until(() => messages.length > 0);
const opened = Date.now();
await until(() => Date.now() - opened > 1500);
await unary(api.reservations, "holdSeats", {
  eventId, buyerId: "client-buyer", requestId: "client-r1",
  selection: { $case: "seats", value: { seatIds: ["A-1-1"] } },
});
const changed = () => messages.slice(1).some((m) => JSON.stringify(m).includes("A-1-1"));
await until(changed);
out.stream = { error: streamError ?? null, changed: changed(), code: status.OK };
stream.cancel();
api.close();
anonymous.close();
console.log(JSON.stringify(out));
`;

describe("@ticketing/client, installed from its tarball", () => {
  it(
    "connects with a token, decodes reasons, field violations and refusals, and keeps streams open past the unary deadline",
    async () => {
      writeFileSync(path.join(project, "call.mjs"), SCRIPT);
      const token = tokenFor({ operator: "client-test" });
      const { stdout } = await run(process.execPath, ["call.mjs", t.address, token, eventId], {
        cwd: project,
        timeout: 60_000,
      });
      const out = JSON.parse(stdout.trim().split("\n").pop()!);
      expect(out.reasons).toBe(Object.keys(Reasons).length);
      expect(out.retriesHoldSeats).toBe(true);
      expect(out.seats).toEqual([
        { seatNumber: 5, x: 90, y: 40, rotation: 0 },
        { seatNumber: 6, x: 100, y: 40, rotation: 0 },
        { seatNumber: 7, x: 110, y: 40, rotation: 0 },
      ]);
      expect(out.event).toEqual({ id: eventId, name: "Checkout night", currency: "EUR" });
      expect(out.invalid.code).toBe(3); // INVALID_ARGUMENT
      expect(out.invalid.reason).toBe("VALIDATION_FAILED");
      expect((out.invalid.fieldViolations as { field: string }[]).map((v) => v.field)).toContain("event_id");
      expect(out.missing).toMatchObject({ code: 5, reason: "EVENT_NOT_FOUND" });
      expect(out.missing.metadata).toMatchObject({ event_id: "no-such-event" });
      expect(out.anonymous).toMatchObject({ code: 16, reason: "TOKEN_MISSING" });
      expect(out.notGrpc).toBeNull();
      expect(out.stream).toEqual({ error: null, changed: true, code: 0 });
    },
    SLOW_MS,
  );
});
