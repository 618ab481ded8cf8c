// The on-sale simulator's smoke scenario (bench/sim/scenarios/smoke.json)
// against the test stack: 200 buyers through the real API and checkout worker
// (waiting room with a pre-queue, holds of every kind, orders over two holds,
// declines, abandonment, refresh storms, bots), then the whole audit from MySQL, Redis and the
// payment simulator's ledger. Timings are not asserted, only invariants and a
// sane funnel.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { audit, type AuditResult } from "../../bench/sim/audit.js";
import { runSimulation, seededRandom, type SimResult } from "../../bench/sim/driver.js";
import { apiEnvFor, capacityOf, loadScenario, workerEnvFor } from "../../bench/sim/scenario.js";
import { issuer } from "../support/identity.js";
import { startCheckoutStack, type CheckoutStack } from "../support/checkout.js";

const scenario = loadScenario("smoke", {});
let s: CheckoutStack;

beforeAll(async () => {
  s = await startCheckoutStack(apiEnvFor(scenario), workerEnvFor(scenario));
});
afterAll(async () => {
  await s?.stop();
});

describe("the smoke on-sale", () => {
  it("sells out without breaking an invariant", { timeout: 110_000 }, async () => {
    const target = { address: s.t.address, issuer };
    const lines: string[] = [];
    const result: SimResult = await runSimulation({
      target,
      scenario,
      rnd: seededRandom(6),
      quiet: true,
      log: (m) => lines.push(m),
    });
    const a: AuditResult = await audit({
      result,
      target,
      mysqlUrl: s.t.config.MYSQL_URL,
      redisUrl: s.t.config.REDIS_URL,
      log: (m) => lines.push(m),
    });
    const broken = a.checks.filter((c) => !c.ok);
    expect(
      broken,
      `broken invariants:\n${broken.map((c) => `${c.name}: ${c.detail}`).join("\n")}\nlog:\n${lines.join("\n")}`,
    ).toEqual([]);
    expect(a.ok).toBe(true);
    expect(a.checks.length).toBeGreaterThanOrEqual(15);

    const f = result.metrics.funnel;
    const cap = capacityOf(scenario).total;
    expect(f.arrived).toBe(scenario.buyers);
    expect(f.done).toBe(scenario.buyers);
    expect(f.joined).toBeGreaterThan(scenario.buyers * 0.9);
    expect(f.admitted).toBeGreaterThan(0);
    expect(f.confirmed).toBeGreaterThan(0);
    expect(f.ticketsBought).toBeLessThanOrEqual(cap);
    expect(Number(a.facts.placesSold)).toBeLessThanOrEqual(cap);
    expect(Number(a.facts.placesSold)).toBe(f.ticketsBought);
    // Far more buyers than places: some went home without tickets.
    expect(
      result.records.filter((b) => b.outcome !== "confirmed" && b.outcome !== "bot-confirmed").length,
    ).toBeGreaterThan(0);
    // Some buyers held twice and paid for both holds in one order (buyer.holdTwice).
    const outcomes: Record<string, number> = {};
    for (const b of result.records) outcomes[b.outcome ?? "?"] = (outcomes[b.outcome ?? "?"] ?? 0) + 1;
    expect(
      result.records.some((b) => b.orders.some((o) => o.holdIds.length > 1)),
      `no order over two holds; outcomes ${JSON.stringify(outcomes)}; holds per buyer ${JSON.stringify(result.records.map((b) => b.holdIds.length))}`,
    ).toBe(true);
    // The bots tried without a token and the gate refused every time.
    const bots = result.records.filter((b) => b.bot).length;
    expect(bots).toBeGreaterThan(0);
    expect(result.metrics.stats("HoldSeats(GA)").reasons["UNAUTHENTICATED/ADMISSION_TOKEN_MISSING"] ?? 0).toBe(bots);
  });
});
