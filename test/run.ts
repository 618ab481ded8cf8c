// `npm test [-- vitest args...]`: starts an isolated stack (Redis, a 3-master Redis
// Cluster, MariaDB/MySQL, an in-memory Temporal dev server) in a temp dir, then
// runs vitest twice:
//   a) the whole suite against the single Redis;
//   b) the Redis suites (REDIS_SUITE_DIRS) again with REDIS_CLUSTER_NODES set.
// Services whose URL is already in the env (REDIS_URL, MYSQL_URL, TEMPORAL_ADDRESS,
// REDIS_CLUSTER_NODES) are reused, not started. Everything started is stopped at
// the end, on failure and on Ctrl-C.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import {
  ensureTools,
  killAllSync,
  repoRoot,
  startMysql,
  startRedis,
  startRedisCluster,
  startTemporal,
} from "../tools/devstack/stack.js";

/** Suites that run a second time against a Redis Cluster (repo-relative directories). */
export const REDIS_SUITE_DIRS = ["test/redis", "test/holds", "test/events"] as const;

interface Started {
  name: string;
  ms: number;
  description: string;
  stop(): Promise<void>;
}

interface RunResult {
  label: string;
  code: number;
  ms: number;
  counts?: string | undefined;
  skipped?: string;
}

const args = process.argv.slice(2);
const t0 = Date.now();
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const log = (msg: string) => process.stderr.write(`[npm test] ${msg}\n`);

let interrupted: NodeJS.Signals | undefined;
let currentVitest: ChildProcess | undefined;
const started: Started[] = [];

function onSignal(sig: NodeJS.Signals) {
  if (interrupted) {
    // second Ctrl-C: no more waiting
    log(`${sig} again: killing everything`);
    currentVitest?.kill("SIGKILL");
    killAllSync("SIGKILL");
    process.exit(130);
  }
  interrupted = sig;
  log(`${sig}: stopping (Ctrl-C again to kill)`);
  // A terminal's Ctrl-C reaches vitest too; a `kill` of this process does not.
  currentVitest?.kill(sig);
}
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);
process.on("SIGHUP", onSignal);

async function stopAll() {
  if (started.length === 0) return;
  const t = Date.now();
  const results = await Promise.allSettled(started.splice(0).map((s) => s.stop()));
  for (const r of results) if (r.status === "rejected") log(`stop failed: ${String(r.reason)}`);
  log(`stack stopped in ${seconds(Date.now() - t)}`);
}

function hasTestFile(dir: string): boolean {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  return entries.some((e) =>
    e.isDirectory() ? hasTestFile(path.join(dir, e.name)) : e.isFile() && e.name.endsWith(".test.ts"),
  );
}

async function startStack(tmp: string): Promise<Record<string, string>> {
  // test/foundation/server.test.ts and test/grpc/reflection.test.ts call the real grpcurl.
  await ensureTools(["grpcurl"]);
  const env: Record<string, string> = {};
  const reused: string[] = [];
  const tasks: Promise<void>[] = [];
  const timed = <T extends { stop(): Promise<void> }>(
    name: string,
    start: () => Promise<T>,
    describe: (h: T) => string,
    use: (h: T) => void,
  ) => {
    const t = Date.now();
    tasks.push(
      start().then((h) => {
        const ms = Date.now() - t;
        started.push({ name, ms, description: describe(h), stop: () => h.stop() });
        use(h);
      }),
    );
  };

  if (process.env.REDIS_URL) reused.push(`redis ${(env.REDIS_URL = process.env.REDIS_URL)}`);
  else
    timed(
      "redis",
      // The product's settings (AOF), as in production.
      () => startRedis({ dir: path.join(tmp, "redis"), persistent: true }),
      (h) => `${h.url} (pid ${h.pid})`,
      (h) => (env.REDIS_URL = h.url),
    );

  if (process.env.REDIS_CLUSTER_NODES)
    reused.push(`redis cluster ${(env.TICKETING_TEST_REDIS_CLUSTER_NODES = process.env.REDIS_CLUSTER_NODES)}`);
  else
    timed(
      "redis cluster",
      () => startRedisCluster({ dir: path.join(tmp, "redis-cluster"), masters: 3 }),
      (h) => `${h.nodesEnv} (pids ${h.pids.join(" ")})`,
      (h) => (env.TICKETING_TEST_REDIS_CLUSTER_NODES = h.nodesEnv),
    );

  if (process.env.MYSQL_URL) reused.push(`mysql ${(env.MYSQL_URL = process.env.MYSQL_URL)}`);
  else
    timed(
      "mysql",
      () => startMysql({ dir: path.join(tmp, "mysql") }),
      (h) => `${h.url} (pid ${h.pid})`,
      (h) => (env.MYSQL_URL = h.url),
    );

  if (process.env.TEMPORAL_ADDRESS) reused.push(`temporal ${(env.TEMPORAL_ADDRESS = process.env.TEMPORAL_ADDRESS)}`);
  else
    timed(
      "temporal",
      () => startTemporal({ dir: path.join(tmp, "temporal") }),
      (h) => `${h.address} (pid ${h.pid}, in memory)`,
      (h) => (env.TEMPORAL_ADDRESS = h.address),
    );

  const results = await Promise.allSettled(tasks);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failures.length > 0) {
    for (const f of failures)
      log(`could not start the test stack: ${f.reason instanceof Error ? f.reason.message : String(f.reason)}`);
    throw new Error("test stack failed to start");
  }
  for (const s of started.sort((a, b) => a.ms - b.ms))
    log(`  ${s.name.padEnd(14)} ${s.description}, up in ${seconds(s.ms)}`);
  for (const r of reused) log(`  reusing ${r}`);
  return env;
}

function vitestArgsFor(run: string, tmp: string): string[] {
  const userPicksReporter = args.some(
    (a) => a === "--reporter" || a.startsWith("--reporter=") || a.startsWith("--outputFile"),
  );
  return userPicksReporter
    ? []
    : ["--reporter=default", "--reporter=json", `--outputFile.json=${path.join(tmp, `vitest-${run}.json`)}`];
}

function countsFrom(file: string): string | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, number> & {
      testResults?: { status?: string }[];
    };
    const files = r.testResults?.length ?? 0;
    const failedFiles = r.testResults?.filter((f) => f.status === "failed").length ?? 0;
    if (!r.numTotalTests && files === 0) return "no test file matched";
    const parts = [`${r.numPassedTests ?? 0} passed`];
    if (r.numFailedTests) parts.push(`${r.numFailedTests} failed`);
    if (r.numPendingTests) parts.push(`${r.numPendingTests} skipped`);
    if (r.numTodoTests) parts.push(`${r.numTodoTests} todo`);
    return `${parts.join(", ")} (${r.numTotalTests ?? 0} tests in ${files} files${failedFiles ? `, ${failedFiles} files failed` : ""})`;
  } catch {
    return undefined;
  }
}

function runVitest(
  label: string,
  run: string,
  tmp: string,
  extraArgs: string[],
  env: NodeJS.ProcessEnv,
): Promise<RunResult> {
  const t = Date.now();
  const vitest = path.join(repoRoot, "node_modules", ".bin", "vitest");
  const argv = ["run", ...vitestArgsFor(run, tmp), ...extraArgs, ...args];
  log(`${label}: vitest ${argv.join(" ")}`);
  return new Promise((resolve) => {
    const child = spawn(vitest, argv, { cwd: repoRoot, env, stdio: "inherit" });
    currentVitest = child;
    child.once("error", (err) => {
      log(`could not run ${vitest}: ${err.message} (did you run npm ci?)`);
    });
    child.once("close", (code, sig) => {
      currentVitest = undefined;
      resolve({
        label,
        code: code ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : 1),
        ms: Date.now() - t,
        counts: countsFrom(path.join(tmp, `vitest-${run}.json`)),
      });
    });
  });
}

async function main(): Promise<number> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ticketing-test-"));
  const results: RunResult[] = [];
  let ok = false;
  try {
    log(`starting the test stack in ${tmp}`);
    let stackEnv: Record<string, string>;
    try {
      stackEnv = await startStack(tmp);
    } catch {
      return 1;
    }
    log(`test stack ready in ${seconds(Date.now() - t0)}`);
    if (interrupted) return 130;

    const base: NodeJS.ProcessEnv = { ...process.env, ...stackEnv, TICKETING_TEST_STACK: "1" };
    delete base.REDIS_CLUSTER_NODES;
    // TICKETING_VITEST_INCLUDE, when the caller sets it, narrows run (a) too (e.g. to run a recorder).

    // a) whole suite, single Redis
    results.push(await runVitest("run 1/2 (whole suite, single Redis)", "a", tmp, [], base));
    if (interrupted) return 130;

    // b) Redis suites against the cluster
    const dirs = REDIS_SUITE_DIRS.filter((d) => hasTestFile(path.join(repoRoot, d)));
    const label = "run 2/2 (Redis suites, Redis Cluster)";
    if (dirs.length === 0) {
      results.push({ label, code: 0, ms: 0, skipped: `skipped: no test files in ${REDIS_SUITE_DIRS.join(", ")}` });
    } else {
      results.push(
        await runVitest(label, "b", tmp, ["--passWithNoTests"], {
          ...base,
          REDIS_CLUSTER_NODES: stackEnv.TICKETING_TEST_REDIS_CLUSTER_NODES,
          TICKETING_VITEST_INCLUDE: dirs.map((d) => `${d}/**/*.test.ts`).join(","),
        }),
      );
    }
    if (interrupted) return 130;
    ok = results.every((r) => r.code === 0);
    return results.find((r) => r.code !== 0)?.code ?? 0;
  } finally {
    await stopAll();
    if (results.length > 0) {
      log("summary:");
      for (const r of results) {
        const status =
          r.skipped ??
          `${r.code === 0 ? "passed" : `FAILED (exit ${r.code})`}${r.counts ? `: ${r.counts}` : ""} in ${seconds(r.ms)}`;
        log(`  ${r.label}: ${status}`);
      }
    }
    if (ok) fs.rmSync(tmp, { recursive: true, force: true });
    else log(`logs kept in ${tmp}`);
    log(`total ${seconds(Date.now() - t0)}`);
  }
}

// Only when run as a script (importing REDIS_SUITE_DIRS must not start a stack).
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await main();
}
