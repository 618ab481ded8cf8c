// `npm run simulate -- <scenario>`: replays an on-sale (bench/sim/scenarios/<scenario>.json)
// against the real services, audits every invariant, writes
// bench/results/sim-<scenario>-<timestamp>.{json,md} and exits non-zero when
// the audit fails.
//
// Starts its own Redis (a Redis Cluster with replicas when the scenario has
// `redisCluster`), MariaDB, Temporal dev server (in memory), API and worker in
// a temp dir (REDIS_URL / REDIS_CLUSTER_NODES / MYSQL_URL / TEMPORAL_ADDRESS
// reuse running stores); SIM_API_ADDRESS targets an API already running (then MYSQL_URL and
// REDIS_URL are needed for the audit, and the scenario's payment settings
// cannot reach that API's worker). SIM_BUYERS / SIM_MAX_SECONDS scale a
// scenario down for a quick try; SIM_SEED makes its random choices repeatable.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRedis } from "../../src/adapters/redis/client.js";
import { eventKeys } from "../../src/adapters/redis/keys.js";
import { audit } from "./audit.js";
import { runSimulation, seededRandom, type Target } from "./driver.js";
import type { FaultTargets } from "./faults.js";
import { buildReport, summary, writeReport } from "./report.js";
import { apiEnvFor, listScenarios, loadScenario, workerEnvFor } from "./scenario.js";
import { parseCommand } from "../lib/command.js";
import { processCpuSeconds } from "../lib/sys.js";
import { installSignalHandlers, localIssuer, say, startApp, startStores, stopOwned } from "./stack.js";

function cpuNow(pids: Record<string, number>): { at: number; s: Record<string, number | undefined> } {
  const s: Record<string, number | undefined> = {};
  for (const [k, pid] of Object.entries(pids)) s[k] = processCpuSeconds(pid);
  const u = process.cpuUsage();
  s.simulator = (u.user + u.system) / 1e6;
  return { at: Date.now(), s };
}

/** Average cores each process used over the run. */
function cpuCores(a: ReturnType<typeof cpuNow>, b: ReturnType<typeof cpuNow>): Record<string, number> {
  const wall = (b.at - a.at) / 1000;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.s)) {
    const x = a.s[k];
    if (v !== undefined && x !== undefined) out[k] = Math.round(((v - x) / wall) * 100) / 100;
  }
  return out;
}

const command = parseCommand({
  usage: "npm run simulate --",
  about: `Replays a whole on-sale (bench/sim/scenarios/<scenario>.json) against the real stack, started here unless SIM_API_ADDRESS names one, with the audit at the end; see bench/sim/README.md. Scenarios: ${listScenarios().join(", ")}.`,
  positionals: [["scenario", "the scenario's name (required)"]],
  env: [
    ["SIM_BUYERS", "scale the scenario to this many buyers"],
    ["SIM_RATE", "the waiting room's admissions per second (adaptive admission's start)"],
    ["SIM_ADAPTIVE", "off: run the scenario without its adaptive admission"],
    ["SIM_MAX_SECONDS", "stop the buyers after this long"],
    ["SIM_SEED", "the random seed"],
    ["SIM_PROGRESS_SECONDS", "how often the progress line prints"],
    ["SIM_API_ADDRESS", "drive the API running there (needs MYSQL_URL and REDIS_URL for the audit)"],
    ["REDIS_URL", "use this Redis (and the audit reads it)"],
    ["REDIS_CLUSTER_NODES", "use this Redis Cluster (host:port,...) for a scenario with redisCluster"],
    ["MYSQL_URL", "use this MySQL (and the audit reads it)"],
    ["TEMPORAL_ADDRESS", "use this Temporal server"],
  ],
});

async function main(): Promise<number> {
  const name = command.positionals[0];
  if (!name) {
    process.stderr.write(
      `usage: npm run simulate -- <scenario>   (scenarios: ${listScenarios().join(", ")}; see bench/sim/README.md)\n`,
    );
    return 2;
  }
  const scenario = loadScenario(name);
  installSignalHandlers();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ticketing-sim-${scenario.name}-`));
  let keepDir = false;
  try {
    let target: Target;
    let mysqlUrl: string;
    let redisUrl: string;
    let redisClusterNodes: string | undefined;
    const processes: Record<string, string> = {};
    const pids: Record<string, number> = {};
    let faultTargets: FaultTargets = { storePids: {} };
    if (process.env.SIM_API_ADDRESS) {
      if (!process.env.MYSQL_URL || !process.env.REDIS_URL)
        throw new Error("SIM_API_ADDRESS needs MYSQL_URL and REDIS_URL (for the audit)");
      target = {
        address: process.env.SIM_API_ADDRESS,
        issuer: await localIssuer(),
      };
      mysqlUrl = process.env.MYSQL_URL;
      redisUrl = process.env.REDIS_URL;
      redisClusterNodes = process.env.REDIS_CLUSTER_NODES || undefined;
      say(
        `using the API at ${target.address}; its worker's payment settings apply, not the scenario's (${JSON.stringify(scenario.payment)})`,
      );
      processes.api = `reused ${target.address}`;
    } else {
      say(`starting the stack in ${dir}`);
      const stores = await startStores(dir, { redisCluster: scenario.redisCluster });
      const app = await startApp(stores, dir, { apiEnv: apiEnvFor(scenario), workerEnv: workerEnvFor(scenario) });
      target = { address: app.address, issuer: app.issuer };
      mysqlUrl = stores.mysqlUrl;
      redisUrl = stores.redisUrl;
      redisClusterNodes = stores.redisClusterNodes;
      Object.assign(processes, app.commands);
      processes.stores = `${redisClusterNodes ? `redis cluster ${redisClusterNodes} (masters; ${stores.redisCluster?.processes.size ?? "?"} nodes, cluster-node-timeout ${scenario.redisCluster?.nodeTimeoutMs} ms)` : `redis ${stores.redisUrl}`}, mariadb ${stores.mysqlUrl}, temporal ${stores.temporalAddress} (in memory)`;
      processes.logs = dir;
      Object.assign(pids, stores.pids, { api: app.api.pid, worker: app.worker.pid });
      faultTargets = {
        app,
        storePids: stores.pids,
        restartStore: stores.restart,
        ...(stores.redisCluster ? { redisCluster: stores.redisCluster } : {}),
      };
    }
    const seed = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : undefined;
    const cpu0 = cpuNow(pids);
    const rates = createRedis({ url: redisUrl });
    const result = await runSimulation({
      target,
      scenario,
      rnd: seed !== undefined ? seededRandom(seed) : undefined,
      faultTargets,
      admissionRate: async (eventId) => {
        const rate = await rates.hget(eventKeys(eventId).meta, "wr_rate");
        return rate === null ? undefined : Number(rate);
      },
    }).finally(() => rates.disconnect());
    const cpu = cpuCores(cpu0, cpuNow(pids));
    say(`buyers done in ${((result.endedMs - result.openedMs) / 1000).toFixed(1)} s after the open; auditing`);
    const a = await audit({
      result,
      target,
      mysqlUrl,
      redisUrl,
      redisClusterNodes: redisClusterNodes?.split(",").map((n) => {
        const [host, port] = n.split(":");
        return { host: host!, port: Number(port) };
      }),
    });
    const command = `npm run simulate -- ${name}${process.env.SIM_BUYERS ? ` (SIM_BUYERS=${process.env.SIM_BUYERS})` : ""}${process.env.SIM_MAX_SECONDS ? ` (SIM_MAX_SECONDS=${process.env.SIM_MAX_SECONDS})` : ""}${process.env.SIM_RATE ? ` (SIM_RATE=${process.env.SIM_RATE})` : ""}${process.env.SIM_ADAPTIVE ? ` (SIM_ADAPTIVE=${process.env.SIM_ADAPTIVE})` : ""}`;
    const rep = buildReport(result, a, { command, processes, cpu });
    const files = writeReport(rep);
    process.stdout.write(`${summary(rep, files)}\n`);
    if (!a.ok) keepDir = true;
    return a.ok ? 0 : 1;
  } catch (err) {
    keepDir = true;
    say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  } finally {
    await stopOwned();
    if (keepDir) say(`logs kept in ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
// grpc-js and ioredis may hold the loop a little; everything we own is stopped.
setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
