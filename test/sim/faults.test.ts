// The chaos scenario (bench/sim/scenarios/chaos.json) against real processes:
// the API and the checkout worker run as their own processes (so they can be
// killed), on a Redis this test starts (so it can be frozen), with the test
// stack's MariaDB and Temporal. During the sale the API is killed and started
// again, Redis is frozen, the worker is killed and started again, and Redis
// is killed and started again on its append-only file and port; buyers
// retry with the same request ids and idempotency keys. The whole audit must
// pass: nothing sold twice, every payment settled, every order accounted for,
// the queue still fair, and nobody skipped as abandoned for the outage.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { audit } from "../../bench/sim/audit.js";
import { runSimulation, seededRandom } from "../../bench/sim/driver.js";
import { apiEnvFor, capacityOf, loadScenario, workerEnvFor } from "../../bench/sim/scenario.js";
import { startApp, stopOwned, type AppProcesses } from "../../bench/sim/stack.js";
import { startRedis, type RedisHandle } from "../../tools/devstack/stack.js";
import { testEnv } from "../support/env.js";

const scenario = loadScenario("chaos", { SIM_BUYERS: "160" });
// MariaDB and Temporal belong to the whole test run: only what this test started may be frozen.
scenario.faults = scenario.faults.filter((f) => f.kind !== "mysql-stall" && f.kind !== "temporal-stall");

let dir: string;
let redis: RedisHandle;
let app: AppProcesses;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ticketing-faults-"));
  redis = await startRedis({ dir: path.join(dir, "redis"), persistent: true });
  const env = testEnv();
  app = await startApp(
    {
      redisUrl: redis.url,
      mysqlUrl: env.mysqlUrl,
      temporalAddress: env.temporalAddress,
      pids: { redis: redis.pid },
      restart: {},
    },
    dir,
    { apiEnv: apiEnvFor(scenario), workerEnv: workerEnvFor(scenario) },
  );
}, 300_000);

afterAll(async () => {
  await stopOwned();
  await redis?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe("an on-sale with faults", () => {
  it(
    "keeps every promise through an API crash, a Redis freeze, a worker crash and a Redis crash",
    { timeout: 400_000 },
    async () => {
      const target = { address: app.address, issuer: app.issuer };
      const lines: string[] = [];
      const firstPids = { api: app.api.pid, worker: app.worker.pid };
      const result = await runSimulation({
        target,
        scenario,
        rnd: seededRandom(11),
        quiet: true,
        log: (m) => lines.push(m),
        faultTargets: {
          app,
          storePids: { redis: redis.pid },
          // Again on the same data (its append-only file) and port: what the API and worker reconnect to.
          restartStore: {
            redis: async () => {
              redis = await startRedis({ dir: path.join(dir, "redis"), persistent: true, port: redis.port });
              return redis.pid;
            },
          },
        },
      });
      const a = await audit({
        result,
        target,
        mysqlUrl: testEnv().mysqlUrl,
        redisUrl: redis.url,
        log: (m) => lines.push(m),
      });
      const broken = a.checks.filter((c) => !c.ok);
      const context = `log:\n${lines.join("\n")}\nfaults: ${JSON.stringify(result.metrics.faults, null, 2)}`;
      expect(
        broken,
        `broken invariants:\n${broken.map((c) => `${c.name}: ${c.detail}`).join("\n")}\n${context}`,
      ).toEqual([]);

      // The faults really happened: new processes, every fault injected and over.
      const faults = result.metrics.faults;
      expect(
        faults.map((f) => f.kind),
        context,
      ).toEqual(["api-crash", "redis-stall", "worker-crash", "redis-crash"]);
      expect(
        faults.every(
          (f) => f.endedMs !== undefined && !f.note.startsWith("not injected") && !f.note.startsWith("could not"),
        ),
        context,
      ).toBe(true);
      expect(app.api.pid).not.toBe(firstPids.api);
      expect(app.worker.pid).not.toBe(firstPids.worker);
      // Buyers did see the API down, and retried.
      expect(result.metrics.errorsByCode().UNAVAILABLE ?? 0).toBeGreaterThan(0);
      expect(Object.values(result.metrics.retries).reduce((x, y) => x + y, 0)).toBeGreaterThan(0);

      // And the sale still sold: confirmed tickets, never more than the places.
      const f = result.metrics.funnel;
      expect(f.done).toBe(scenario.buyers);
      expect(f.confirmed).toBeGreaterThan(0);
      expect(Number(a.facts.placesSold)).toBe(f.ticketsBought);
      expect(Number(a.facts.placesSold)).toBeLessThanOrEqual(capacityOf(scenario).total);
    },
  );
});
