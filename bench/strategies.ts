// `npm run bench:strategies`: the usual ways to hold seats, side by side on the
// same contention (docs/BENCHMARKING.md, "Seed strategies"): a 100-seat
// event, BENCH_STRATEGY_BUYERS buyers each wanting 1-4 random seats (the same
// seeded workload for every strategy), issued at a fixed concurrency from this
// process, all or nothing per buyer:
//   - mysql-for-update   SELECT … FOR UPDATE, check, UPDATE, COMMIT
//   - mysql-optimistic   version column, UPDATE … WHERE version = ?, retry
//   - redis-setnx-lock   SET NX PX per-event lock + retry, HMGET/check/HSET
//   - lua-hold           ours: the product's Holds.holdSeats + lua/hold_seats.lua
//   - redis-naive-broken the same read-check-write with no lock: the broken
//                        baseline, expected to oversell (reported, not failed)
// Rounds in which every strategy runs right next to a run of lua-hold (order
// rotated, store reset before every run); medians, and each strategy's
// throughput as a ratio against the lua-hold run next to it. After every round the store is read back and checked against
// what the buyers were told: no seat promised twice, held seats = union of the
// successful holds, all or nothing, held ≤ capacity, every call accounted for.
// Writes bench/results/strategies-<timestamp>.{json,md} and
// bench/STRATEGIES-RESULTS.md; exits non-zero when a strategy that claims to be
// correct breaks an invariant (or the naive one loses track of a call).
//
// Starts its own Redis and MariaDB (REDIS_URL / MYSQL_URL reuse existing
// ones; the tables then go into a database of their own, dropped at the end).
//
// Knobs (env): BENCH_STRATEGY_BUYERS (20000), BENCH_STRATEGY_CONCURRENCY (64),
// BENCH_ROUNDS (3), BENCH_STRATEGY_WARMUP (2000 untallied calls per strategy),
// BENCH_STRATEGY_SEED (default: from the clock), BENCH_STRATEGY_MYSQL_POOL (16),
// BENCH_STRATEGY_FOR_UPDATE_ATTEMPTS (5), BENCH_STRATEGY_OPTIMISTIC_ATTEMPTS (10),
// BENCH_STRATEGY_LOCK_ATTEMPTS (50), BENCH_STRATEGY_LOCK_TTL_MS (2000),
// BENCH_STRATEGY_NAIVE (on|off), BENCH_STRATEGY_ONLY (comma-separated names),
// BENCH_STRATEGY_ROUND_TIMEOUT_S (600), BENCH_KEEP_TMP (1 keeps the temp dir),
// BENCH_OUT (where results/ and STRATEGIES-RESULTS.md go; default bench/).
import os from "node:os";
import { repoRoot } from "../tools/devstack/stack.js";
import { say } from "./lib/stack.js";
import { median, round } from "./lib/stats.js";
import { sourceInfo } from "./lib/sys.js";
import { assertValidWorkload, makeVenue, makeWorkload, runRound, type RoundRun } from "./strategies/driver.js";
import { LuaHold } from "./strategies/lua-hold.js";
import { MysqlForUpdate } from "./strategies/mysql-for-update.js";
import { MysqlOptimistic } from "./strategies/mysql-optimistic.js";
import { RedisLock, RedisNaive } from "./strategies/redis-lock.js";
import { writeStrategyReports, type StrategiesResult, type StrategySummary } from "./strategies/report.js";
import { CODES, readSettings, type Settings } from "./strategies/settings.js";
import { installStoreSignalHandlers, startStores, stopStores, type Stores } from "./strategies/stores.js";
import { BASELINE, type HoldStrategy } from "./strategies/types.js";
import { runBench, type BenchOutcome, type BenchRun } from "./lib/runner.js";

// A bad knob stops the bench before anything starts, with the knob's name (runner: validate).
let settings: Settings;

function commandLine(): string {
  const knobs = Object.entries(process.env)
    .filter(([k]) => /^(BENCH_(STRATEGY_\w+|ROUNDS|KEEP_TMP|OUT)|REDIS_URL|MYSQL_URL)$/.test(k))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`);
  return [...knobs, "npm run bench:strategies"].join(" ");
}

function buildStrategies(stores: Stores): HoldStrategy[] {
  const factories: [string, () => HoldStrategy][] = [
    [
      "mysql-for-update",
      () =>
        new MysqlForUpdate({
          mysqlUrl: stores.mysqlUrl,
          poolSize: settings.mysqlPool,
          maxAttempts: settings.forUpdateAttempts,
        }),
    ],
    [
      "mysql-optimistic",
      () =>
        new MysqlOptimistic({
          mysqlUrl: stores.mysqlUrl,
          poolSize: settings.mysqlPool,
          maxAttempts: settings.optimisticAttempts,
        }),
    ],
    [
      "redis-setnx-lock",
      () =>
        new RedisLock({
          redisUrl: stores.redisUrl,
          maxAttempts: settings.lockAttempts,
          lockTtlMs: settings.lockTtlMs,
          backoffBaseMs: settings.lockBackoffBaseMs,
          backoffCapMs: settings.lockBackoffCapMs,
        }),
    ],
    ["lua-hold", () => new LuaHold(stores.redisUrl)],
    ...(settings.naive
      ? [["redis-naive-broken", () => new RedisNaive(stores.redisUrl)] as [string, () => HoldStrategy]]
      : []),
  ];
  const chosen = factories.filter(([name]) => settings.only.length === 0 || settings.only.includes(name));
  if (chosen.length === 0)
    throw new Error(
      "no strategy left to run (BENCH_STRATEGY_ONLY names only redis-naive-broken, and BENCH_STRATEGY_NAIVE=off)",
    );
  return chosen.map(([, make]) => make());
}

function storePid(s: HoldStrategy, stores: Stores): number | undefined {
  return s.name.startsWith("mysql") ? stores.pids.mysql : stores.pids.redis;
}

function line(r: RoundRun): string {
  const reasons = Object.entries(r.failureReasons)
    .map(([k, v]) => `${k} × ${v}`)
    .join("; ");
  return (
    `${r.strategy.padEnd(18)} ${String(r.callsPerSecond).padStart(6)} calls/s  p50 ${r.latencyMs.p50} ms p99 ${r.latencyMs.p99} ms  ` +
    `held ${r.held} taken ${r.taken} failed ${r.failed}${reasons ? ` (${reasons})` : ""}  seats ${r.seatsHeld} (last at ${r.lastHoldMs} ms), oversold ${r.oversoldSeats}  ` +
    `tries/call ${r.attemptsPerCall}  node ${r.nodeCpuUsPerCall} µs/call, store ${Number.isFinite(r.storeCpuUsPerCall) ? r.storeCpuUsPerCall : "–"} µs/call  invariants ${r.ok ? "ok" : "BROKEN"}`
  );
}

function summarise(s: HoldStrategy, rounds: RoundRun[]): StrategySummary {
  const mine = rounds.filter((r) => r.strategy === s.name);
  const ratios = mine.map((r) => r.ratioVsBaseline ?? NaN);
  const reasons: Record<string, number> = {};
  for (const r of mine) for (const [k, v] of Object.entries(r.failureReasons)) reasons[k] = (reasons[k] ?? 0) + v;
  const med = (f: (r: RoundRun) => number) => median(mine.map(f));
  return {
    name: s.name,
    label: s.label,
    claimsCorrect: s.claimsCorrect,
    settings: s.settings,
    rounds: mine.length,
    medianCallsPerSecond: round(med((r) => r.callsPerSecond)),
    ratioVsLua: s.name === BASELINE ? 1 : round(median(ratios), 3),
    medianP50Ms: round(
      med((r) => r.latencyMs.p50),
      3,
    ),
    medianP99Ms: round(
      med((r) => r.latencyMs.p99),
      3,
    ),
    medianHeld: med((r) => r.held),
    medianTaken: med((r) => r.taken),
    medianFailed: med((r) => r.failed),
    failedTotal: mine.reduce((a, r) => a + r.failed, 0),
    failureReasons: reasons,
    medianAttemptsPerCall: round(
      med((r) => r.attemptsPerCall),
      3,
    ),
    medianNodeCpuUsPerCall: round(
      med((r) => r.nodeCpuUsPerCall),
      1,
    ),
    medianStoreCpuUsPerCall: round(
      med((r) => r.storeCpuUsPerCall),
      1,
    ),
    medianSeatsHeld: med((r) => r.seatsHeld),
    medianLastHoldMs: Math.round(med((r) => r.lastHoldMs)),
    maxOversoldSeats: Math.max(0, ...mine.map((r) => r.oversoldSeats)),
    roundsWithBrokenInvariants: mine.filter((r) => !r.ok).length,
    invariantsOk: mine.every((r) => r.ok),
  };
}

interface Workload {
  venueOf: (s: HoldStrategy, tag: string) => ReturnType<typeof makeVenue>;
  seatIds: string[];
  workload: ReturnType<typeof makeWorkload>;
  common: (s: HoldStrategy, roundNo: number) => Parameters<typeof runRound>[3];
}

function prepareWorkload(runId: string, strategies: HoldStrategy[], stores: Stores): Workload {
  const venueOf = (s: HoldStrategy, tag: string) =>
    makeVenue(
      `${runId}_${CODES[s.name] ?? s.name}_${tag}`,
      settings.rows,
      settings.seatsPerRow,
      settings.maxSeatsPerBuyer,
    );
  const seatIds = venueOf(strategies[0]!, "x").seatIds;
  const workload = makeWorkload({
    buyers: settings.buyers,
    seatIds,
    maxSeats: settings.maxSeatsPerBuyer,
    seed: settings.seed,
  });
  assertValidWorkload(venueOf(strategies[0]!, "x"), workload);
  say(
    `workload: ${settings.buyers.toLocaleString("en-US")} buyers for ${seatIds.length} seats, 1-${settings.maxSeatsPerBuyer} each (seed ${settings.seed}, ${workload.seatsRequested.toLocaleString("en-US")} seats asked for), concurrency ${settings.concurrency}`,
  );
  const common = (s: HoldStrategy, roundNo: number) => ({
    concurrency: settings.concurrency,
    round: roundNo,
    storePid: storePid(s, stores),
    timeoutMs: settings.roundTimeoutS * 1000,
    onProgress: (done: number, ms: number) =>
      say(
        `  ${s.name}: ${done.toLocaleString("en-US")} of ${settings.buyers.toLocaleString("en-US")} calls after ${Math.round(ms / 1000)} s`,
      ),
  });
  return { venueOf, seatIds, workload, common };
}

/** Untallied calls per strategy: JIT, connection pools, InnoDB buffer pool, script cache. */
async function warmUp(strategies: HoldStrategy[], w: Workload): Promise<RoundRun[]> {
  const warmup: RoundRun[] = [];
  if (settings.warmupCalls === 0) return warmup;
  const calls = makeWorkload({
    buyers: settings.warmupCalls,
    seatIds: w.seatIds,
    maxSeats: settings.maxSeatsPerBuyer,
    seed: settings.seed + 1,
  });
  for (const s of strategies) {
    const r = await runRound(s, w.venueOf(s, "w"), calls, w.common(s, 0));
    say(`warm-up  ${line(r)}`);
    warmup.push(r);
  }
  return warmup;
}

/**
 * Every strategy runs right next to a run of the baseline (A L, L B, C L, ...), so
 * each ratio compares two runs a few seconds apart on this shared machine; the order of
 * the strategies rotates and which of a pair goes first alternates.
 */
async function runRounds(strategies: HoldStrategy[], w: Workload): Promise<{ rounds: RoundRun[]; order: string[][] }> {
  const rounds: RoundRun[] = [];
  const order: string[][] = [];
  const baseline = strategies.find((s) => s.name === BASELINE);
  const others = strategies.filter((s) => s !== baseline);
  for (let i = 0; i < settings.rounds; i++) {
    const turn = others.map((_, j) => others[(i + j) % others.length]!);
    const sequence: HoldStrategy[][] = baseline
      ? turn.length
        ? turn.map((s, j) => ((i + j) % 2 === 0 ? [baseline, s] : [s, baseline]))
        : [[baseline]]
      : turn.map((s) => [s]);
    order.push(sequence.flat().map((s) => s.name));
    for (const pair of sequence) {
      const partner = pair.find((s) => s !== baseline);
      const runs: RoundRun[] = [];
      for (const s of pair) {
        const tag = `r${i + 1}${s === baseline && partner ? (CODES[partner.name] ?? "") : ""}`;
        const r = await runRound(s, w.venueOf(s, tag), w.workload, w.common(s, i + 1));
        if (partner) r.pairedWith = s === baseline ? partner.name : BASELINE;
        runs.push(r);
      }
      const base = runs.find((r) => r.strategy === BASELINE);
      const other = runs.find((r) => r.strategy !== BASELINE);
      if (base && other) other.ratioVsBaseline = round(other.callsPerSecond / base.callsPerSecond, 3);
      for (const r of runs) {
        say(`round ${i + 1}  ${line(r)}${r.ratioVsBaseline !== undefined ? `  ratio ${r.ratioVsBaseline}` : ""}`);
        rounds.push(r);
      }
    }
  }
  return { rounds, order };
}

/** Broken invariants of strategies that claim to be correct, and lost calls of any. */
function brokenInvariants(strategies: HoldStrategy[], runs: RoundRun[]): string[] {
  const failures: string[] = [];
  for (const r of runs) {
    const s = strategies.find((x) => x.name === r.strategy)!;
    const what = r.round === 0 ? "warm-up" : `round ${r.round}`;
    for (const c of r.checks.filter((x) => !x.ok)) {
      const accounting = c.name.startsWith("every call accounted for");
      if (s.claimsCorrect || accounting) failures.push(`${s.name} ${what}: invariant broken: ${c.name}: ${c.detail}`);
    }
  }
  return failures;
}

function printSummary(summary: StrategySummary[]): void {
  say("summary (medians of the rounds; ratio = calls/s ÷ calls/s of the lua-hold run next to it):");
  for (const x of summary) {
    say(
      `  ${x.name.padEnd(18)} ${String(x.medianCallsPerSecond).padStart(6)} calls/s  ratio ${x.ratioVsLua}  p50 ${x.medianP50Ms} ms p99 ${x.medianP99Ms} ms  ` +
        `held ${x.medianHeld} taken ${x.medianTaken} failed ${x.medianFailed}  oversold seats (max) ${x.maxOversoldSeats}  invariants ${x.invariantsOk ? "ok" : x.claimsCorrect ? "BROKEN" : "broken (expected)"}`,
    );
  }
}

async function main(run: BenchRun): Promise<BenchOutcome> {
  const { runId, started, machine } = run;
  const stores = await startStores(run.tmp, runId);
  const strategies = buildStrategies(stores);
  for (const s of strategies)
    run.defer(() => s.close().catch((err: unknown) => say(`closing ${s.name}: ${String(err)}`)));
  const w = prepareWorkload(runId, strategies, stores);
  const warmup = await warmUp(strategies, w);
  const { rounds, order } = await runRounds(strategies, w);
  const summary = strategies.map((s) => summarise(s, rounds));
  const failures = brokenInvariants(strategies, [...warmup, ...rounds]);
  printSummary(summary);

  const finished = new Date();
  const result: StrategiesResult = {
    kind: "strategies",
    schema: 1,
    runId,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: round((finished.getTime() - started.getTime()) / 1000, 1),
    ok: failures.length === 0,
    failures,
    command: commandLine(),
    settings,
    source: sourceInfo(repoRoot),
    machine: {
      ...machine,
      loadAvgAfter: os.loadavg().map((x) => round(x, 2)),
      redis: stores.redisVersion,
      mysql: stores.mysql,
    },
    stores: {
      own: stores.own,
      pids: stores.pids,
      database: stores.database,
      reused: {
        ...(stores.own.redis ? {} : { redisUrl: stores.redisUrl }),
        ...(stores.own.mysql ? {} : { mysqlUrl: process.env.MYSQL_URL }),
      },
    },
    venue: {
      rows: settings.rows,
      seatsPerRow: settings.seatsPerRow,
      capacity: w.seatIds.length,
      maxSeatsPerBuyer: settings.maxSeatsPerBuyer,
    },
    workload: {
      buyers: settings.buyers,
      seed: settings.seed,
      seatsRequested: w.workload.seatsRequested,
      concurrency: settings.concurrency,
    },
    order,
    warmup,
    rounds,
    summary,
  };
  return { files: writeStrategyReports(result, run.stamp), failures };
}

runBench(
  {
    usage: "npm run bench:strategies --",
    about:
      "The usual ways to hold seats (MySQL FOR UPDATE, optimistic versions, a Redis SET NX lock, a naive broken baseline) against our Lua hold on the same contention, in interleaved rounds with the invariants after each. Starts its own Redis and MariaDB.",
    env: [
      ["BENCH_STRATEGY_BUYERS", "buyers per round (20000)"],
      ["BENCH_STRATEGY_CONCURRENCY", "calls in flight (64)"],
      ["BENCH_ROUNDS", "rounds (3)"],
      ["BENCH_STRATEGY_WARMUP", "untallied calls per strategy (2000)"],
      ["BENCH_STRATEGY_SEED", "the workload's seed (from the clock)"],
      ["BENCH_STRATEGY_MYSQL_POOL", "MySQL pool size (16)"],
      ["BENCH_STRATEGY_FOR_UPDATE_ATTEMPTS", "tries per call of mysql-for-update (5)"],
      ["BENCH_STRATEGY_OPTIMISTIC_ATTEMPTS", "tries per call of mysql-optimistic (10)"],
      ["BENCH_STRATEGY_LOCK_ATTEMPTS", "lock tries per call of redis-setnx-lock (50)"],
      ["BENCH_STRATEGY_LOCK_TTL_MS", "the lock's TTL (2000)"],
      ["BENCH_STRATEGY_NAIVE", "on | off: the broken baseline (on)"],
      ["BENCH_STRATEGY_ONLY", "comma list of strategy names"],
      ["BENCH_STRATEGY_ROUND_TIMEOUT_S", "a round's time limit (600)"],
      ["REDIS_URL", "use this Redis instead of starting one"],
      ["MYSQL_URL", "use this MariaDB/MySQL (the tables go to a database of their own)"],
      ["BENCH_OUT", "where results/ and STRATEGIES-RESULTS.md go (default bench/)"],
      ["BENCH_KEEP_TMP", "1 keeps the temp dir"],
    ],
    runIdPrefix: "s",
    tmpPrefix: "ticketing-strategies-",
    validate: () => (settings = readSettings(new Date())),
    installSignals: installStoreSignalHandlers,
    teardown: stopStores,
  },
  main,
);
