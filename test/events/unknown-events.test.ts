// A flood of calls naming events that do not exist costs one MySQL query per
// id, not one per call: the answer (EVENT_NOT_FOUND) is remembered for
// UNKNOWN_EVENT_TTL_MS, lookups in flight share one query, and an event this
// process then creates under one of those ids is found at once.
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, callError, startTestApp, uid, type TestApp } from "../support/app.js";
import { oneRowEvent } from "../support/events.js";

let t: TestApp;
beforeAll(async () => {
  // Longer than the test can take on a busy machine, so no memory expires mid-test.
  t = await startTestApp({ UNKNOWN_EVENT_TTL_MS: "60000" });
});
afterAll(() => t?.stop());

async function lookups(): Promise<{ mysql: number; memory: number }> {
  const text = await (await fetch(`http://127.0.0.1:${t.app.metricsPort}/metrics`)).text();
  const value = (source: string) =>
    Number(
      new RegExp(`^ticketing_unknown_event_lookups_total\\{answered_from="${source}"\\} (\\d+)`, "m").exec(text)?.[1] ??
        0,
    );
  return { mysql: value("mysql"), memory: value("memory") };
}

describe("calls naming unknown events", () => {
  it("cost one MySQL query per id, however many calls name it, and a new event under one of them is found", async () => {
    const ids = Array.from({ length: 5 }, () => uid("nope"));
    const before = await lookups();

    const CALLS_PER_ID = 40;
    const answers = await Promise.all(
      ids.flatMap((eventId) =>
        Array.from({ length: CALLS_PER_ID }, (_, n) =>
          n % 2 === 0
            ? callError(t.events, t.events.getEvent, { eventId })
            : callError(t.reservations, t.reservations.holdSeats, {
                eventId,
                buyerId: "prober",
                admissionToken: "",
                requestId: uid("r"),
                selection: { $case: "seats", value: { seatIds: ["A-1-1"] } },
              }),
        ),
      ),
    );
    expect(
      new Set(
        answers.map((a) => `${a.code} ${a.errorInfo?.reason}${a.code === status.NOT_FOUND ? "" : ` ${a.message}`}`),
      ),
    ).toEqual(new Set([`${status.NOT_FOUND} EVENT_NOT_FOUND`]));
    // And later calls, one at a time (nothing in flight to share), are answered from memory too.
    for (const eventId of ids) {
      for (let n = 0; n < 4; n++) {
        expect((await callError(t.events, t.events.getEvent, { eventId })).errorInfo?.reason).toBe("EVENT_NOT_FOUND");
      }
    }
    const after = await lookups();
    expect(after.mysql - before.mysql).toBe(ids.length);
    expect(after.memory - before.memory).toBe(ids.length * CALLS_PER_ID - ids.length + ids.length * 4);

    // This process creates an event under a remembered id: it is found at once.
    const eventId = ids[0]!;
    await call(
      t.events,
      t.events.createEvent,
      {
        requestId: uid("create"),
        event: oneRowEvent(eventId, { name: "Late arrival" }),
      },
      t.operator,
    );
    const found = await call(t.events, t.events.getEvent, { eventId });
    expect(found.event?.name).toBe("Late arrival");
  });
});
