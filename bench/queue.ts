// `node --import tsx bench/queue.ts`: the waiting room's figures, measured in one
// run on one machine (see docs/BENCHMARKING.md):
//   1. throughput: interleaved ghz rounds Noop, JoinQueue, Noop, GetQueuePosition,
//      Eval (median ratio of each against the Noop round before it; goal >=
//      0.75; Eval, one bare script call, is what any call with a script
//      reaches at best), with the CPU per call of ghz, the API and Redis;
//   2. absorbing a flood: BENCH_FLOOD (100,000) distinct joiners on one event,
//      time and errors, then every OK accounted for in Redis;
//   3. WatchQueue: BENCH_WATCHERS streams on one API process (its RSS per
//      stream), and the delay from an admission step to each watcher's update
//      (p50/p99/last), over BENCH_WATCH_ROUNDS steps;
//   4. token signing throughput: Piscina pool with batches, the pool with one
//      task per signature, and inline on the event loop; verification uncached
//      and cached.
// Writes bench/results/queue-<timestamp>.{json,md,html} (the HTML: charts of the
// ghz rounds from lib/charts.ts) and prepends the headline to
// bench/QUEUE-RESULTS.md. Starts its own Redis, MariaDB, Temporal and API
// (REDIS_URL / MYSQL_URL / TEMPORAL_ADDRESS reuse existing ones) and stops
// everything it started, also on failure and Ctrl-C.
//
// Knobs (env): BENCH_N (calls per throughput round, 30000), BENCH_ROUNDS (3),
// BENCH_CONCURRENCY (64), BENCH_CONNECTIONS (4), BENCH_SKIP (2000),
// BENCH_FLOOD (100000), BENCH_WATCHERS (5000), BENCH_WATCH_ROUNDS (5),
// BENCH_SIGN (20000 tokens per signing run), BENCH_GHZ_CPUS (1), BENCH_OUT,
// BENCH_PARTS (which parts run: "throughput,flood,watch,sign"; a run that
// skips some is for iterating on one figure and writes nothing to bench/).
// Each throughput round also reports the CPU each call cost the API, Redis
// (the bench's own redis-server, from /proc; its EVALSHA time from INFO
// commandstats) and ghz, in µs per call.
import { benchClientOptions } from "./lib/identity.js";
import fs from "node:fs";
import path from "node:path";
import { credentials } from "@grpc/grpc-js";
import { migrate } from "../src/adapters/mysql/migrate.js";
import { createMysqlPool } from "../src/adapters/mysql/pool.js";
import { createRedis } from "../src/adapters/redis/client.js";
import { queueKeys } from "../src/adapters/redis/keys.js";
import { repoRoot } from "../tools/devstack/stack.js";
import { EventServiceClient } from "../src/gen/ticketing/v1/event_service.js";
import {
  QueueServiceClient,
  type QueueTicket,
  type WatchQueueResponse,
} from "../src/gen/ticketing/v1/queue_service.js";
import { createLogger } from "../src/logger.js";
import { AdmissionTokens } from "../src/queue/admission.js";
import { KeyRing } from "../src/signing/key-ring.js";
import { SigningPool } from "../src/signing/pool.js";
import { TokenService } from "../src/signing/tokens.js";
import { runGhz, type GhzRun } from "./lib/ghz.js";
import { call, createQueueEvent } from "./lib/queue-event.js";
import { esc, ghzRoundSeries, htmlPage, roundCharts, type ChartRound, type RoundSeries } from "./lib/charts.js";
import { say, startApi, startBenchStack, type ApiProcess, type BenchStack } from "./lib/stack.js";
import { processCpuSeconds, sourceInfo } from "./lib/sys.js";
import { envNumber } from "./lib/env.js";
import { cpuCeilings, median, round, type CpuSplit } from "./lib/stats.js";
import { STACK_ENV } from "./lib/command.js";
import { runBench, type BenchOutcome, type BenchRun } from "./lib/runner.js";

const env = envNumber;

const settings = {
  n: env("BENCH_N", 30_000),
  rounds: env("BENCH_ROUNDS", 3),
  concurrency: env("BENCH_CONCURRENCY", 64),
  connections: env("BENCH_CONNECTIONS", 4),
  skipFirst: env("BENCH_SKIP", 2_000),
  flood: env("BENCH_FLOOD", 100_000),
  watchers: env("BENCH_WATCHERS", 5_000),
  watchRounds: env("BENCH_WATCH_ROUNDS", 5),
  sign: env("BENCH_SIGN", 20_000),
  ghzCpus: env("BENCH_GHZ_CPUS", 1),
  ratioGoal: 0.75,
};
const PARTS = new Set((process.env.BENCH_PARTS ?? "throughput,flood,watch,sign").split(",").map((x) => x.trim()));
const ALL_PARTS = ["throughput", "flood", "watch", "sign"].every((x) => PARTS.has(x));

const GHZ = path.join(repoRoot, ".tools/bin/ghz");
const GRPCURL = path.join(repoRoot, ".tools/bin/grpcurl");
const PROTOSET = path.join(repoRoot, "src/gen/descriptors.binpb");
const OUT = process.env.BENCH_OUT ?? path.join(repoRoot, "bench");
const runId = Date.now().toString(36);

function writeData(file: string, rows: object[]): void {
  fs.writeFileSync(file, `[\n${rows.map((r) => JSON.stringify(r)).join(",\n")}\n]\n`);
}

/** The bench's waiting-room event: `rate` admissions per second, at most `maxShopping` shopping at once. */
function createEvent(events: EventServiceClient, o: { rate: number; maxShopping: number }): Promise<string> {
  return createQueueEvent(events, {
    eventId: `q_${runId}_${Math.random().toString(36).slice(2, 8)}`,
    name: "Queue bench",
    admissionsPerSecond: o.rate,
    maxShopping: o.maxShopping,
    sessionSeconds: 600,
  });
}

/** Every ghz round's series by round name (noop-a0, join0, ...), for the HTML charts. */
const seriesByRound = new Map<string, RoundSeries>();

function ghz(
  api: ApiProcess,
  tmp: string,
  name: string,
  callName: string,
  rows: object[],
  total: number,
  skip = settings.skipFirst,
): Promise<GhzRun> {
  const dataFile = path.join(tmp, `${name}.json`);
  writeData(dataFile, rows);
  const outFile = path.join(tmp, `${name}.out.json`);
  return runGhz({
    ghz: GHZ,
    protoset: PROTOSET,
    call: callName,
    address: api.address,
    dataFile,
    total,
    concurrency: settings.concurrency,
    connections: settings.connections,
    skipFirst: skip,
    countErrors: true,
    cpus: settings.ghzCpus,
    gogc: 400,
    format: "json",
    outFile,
  }).then((r) => {
    const series = ghzRoundSeries(outFile);
    if (series) seriesByRound.set(name, series);
    return r;
  });
}

/** The HTML page: JoinQueue and GetQueuePosition rounds beside the Noop round before each (dashed), and the flood. */
function chartsPage(stamp: string, t: { joinRatio: number; positionRatio: number }, mdName: string): string {
  const rounds = (measured: string, call: string, noop: string): ChartRound[] =>
    Array.from({ length: settings.rounds }, (_, r) => [
      { name: `${noop}${r}`, label: `Noop ${r + 1}`, group: "Noop", baseline: true },
      { name: `${measured}${r}`, label: `${call} ${r + 1}`, group: call },
    ])
      .flat()
      .filter((x) => seriesByRound.has(x.name))
      .map((x) => ({ label: x.label, group: x.group, baseline: x.baseline, series: seriesByRound.get(x.name)! }));
  const flood = seriesByRound.get("flood");
  const body = [
    `<h1>Waiting room bench, ${esc(stamp)}</h1>`,
    `<p>Median ratio to the Noop round before it: JoinQueue <b>${t.joinRatio}</b>, GetQueuePosition <b>${t.positionRatio}</b> (goal ${settings.ratioGoal}). Noop rounds dashed grey. Full report: <a href="${esc(mdName)}">${esc(mdName)}</a>.</p>`,
    `<h2>JoinQueue</h2>`,
    roundCharts("JoinQueue", rounds("join", "JoinQueue", "noop-a")),
    `<h2>GetQueuePosition</h2>`,
    roundCharts("GetQueuePosition", rounds("pos", "GetQueuePosition", "noop-b")),
    ...(flood
      ? [
          `<h2>Flood: ${settings.flood.toLocaleString("en-US")} distinct joiners</h2>`,
          roundCharts("JoinQueue flood", [{ label: "flood", group: "JoinQueue", series: flood }]),
        ]
      : []),
  ];
  return htmlPage(`Waiting room bench ${stamp}`, body.join("\n"));
}

/** What one round cost per call (CPU µs), from /proc and Redis INFO commandstats. */
interface CallCost {
  apiUs?: number;
  redisUs?: number;
  evalshaUs?: number;
  ghzUs: number;
}

function summary(r: GhzRun, apiCpu: number | undefined, cost?: CallCost) {
  const s = r.summary;
  return {
    cost,
    rps: round(s?.rps ?? NaN),
    p50Ms: s?.latencyMs.p50,
    p99Ms: s?.latencyMs.p99,
    codes: s?.codes ?? {},
    errors: s?.errorKinds ?? {},
    ghzCores: round(r.cpuCores, 2),
    apiCores: apiCpu === undefined ? undefined : round(apiCpu / r.wallSeconds, 2),
    command: r.command,
  };
}

/** The Redis server the bench started (its pid for /proc, a client for INFO commandstats). */
let redisProbe: { pid: number | undefined; client: ReturnType<typeof createRedis> } | undefined;

async function evalshaStats(): Promise<{ calls: number; usec: number } | undefined> {
  if (!redisProbe) return undefined;
  const info = await redisProbe.client.info("commandstats");
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(info);
  return m ? { calls: Number(m[1]), usec: Number(m[2]) } : { calls: 0, usec: 0 };
}

async function measured(api: ApiProcess, run: () => Promise<GhzRun>, calls = settings.n) {
  const before = processCpuSeconds(api.pid);
  const redisBefore = redisProbe?.pid ? processCpuSeconds(redisProbe.pid) : undefined;
  const evalBefore = await evalshaStats();
  const r = await run();
  const after = processCpuSeconds(api.pid);
  const redisAfter = redisProbe?.pid ? processCpuSeconds(redisProbe.pid) : undefined;
  const evalAfter = await evalshaStats();
  const us = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b !== undefined ? round(((b - a) * 1e6) / calls, 1) : undefined;
  const evalCalls = evalBefore && evalAfter ? evalAfter.calls - evalBefore.calls : 0;
  const cost: CallCost = {
    apiUs: us(before, after),
    redisUs: us(redisBefore, redisAfter),
    // per EVALSHA the round ran (the ticker's steps included), not per call
    evalshaUs:
      evalBefore && evalAfter && evalCalls > 0 ? round((evalAfter.usec - evalBefore.usec) / evalCalls, 1) : undefined,
    ghzUs: round((r.cpuCores * r.wallSeconds * 1e6) / calls, 1),
  };
  return summary(r, before !== undefined && after !== undefined ? after - before : undefined, cost);
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) / 1024;
}

function pct(xs: number[], p: number): number {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] ?? NaN;
}

async function throughput(api: ApiProcess, tmp: string, events: EventServiceClient) {
  const eventId = await createEvent(events, { rate: 1, maxShopping: 1 }); // almost everyone keeps waiting
  const noopRows = Array.from({ length: 1000 }, (_, i) => ({ payload: `${eventId}-b${i}-${"x".repeat(24)}` }));
  const rounds: {
    noopJoin: ReturnType<typeof summary>;
    join: ReturnType<typeof summary>;
    noopPos: ReturnType<typeof summary>;
    position: ReturnType<typeof summary>;
    /** NoopService.Eval: the pipeline plus one script of one INCR, Noop's body (the least a one-script call costs). */
    oneScript: ReturnType<typeof summary>;
  }[] = [];
  let joined = 0;
  for (let r = 0; r < settings.rounds; r++) {
    say(`throughput round ${r + 1}/${settings.rounds}`);
    const noopJoin = await measured(api, () =>
      ghz(api, tmp, `noop-a${r}`, "ticketing.bench.v1.NoopService/Noop", noopRows, settings.n),
    );
    const joinRows = Array.from({ length: settings.n }, (_, i) => ({
      event_id: eventId,
      buyer_id: `r${r}_${i}`,
      request_id: `j${r}_${i}`,
    }));
    const join = await measured(api, () =>
      ghz(api, tmp, `join${r}`, "ticketing.v1.QueueService/JoinQueue", joinRows, settings.n),
    );
    joined += settings.n;
    const noopPos = await measured(api, () =>
      ghz(api, tmp, `noop-b${r}`, "ticketing.bench.v1.NoopService/Noop", noopRows, settings.n),
    );
    const posRows = Array.from({ length: settings.n }, (_, i) => ({
      event_id: eventId,
      buyer_id: `r${r}_${(i * 7919) % settings.n}`,
    }));
    const position = await measured(api, () =>
      ghz(api, tmp, `pos${r}`, "ticketing.v1.QueueService/GetQueuePosition", posRows, settings.n),
    );
    const oneScript = await measured(api, () =>
      ghz(api, tmp, `eval${r}`, "ticketing.bench.v1.NoopService/Eval", noopRows, settings.n),
    );
    rounds.push({ noopJoin, join, noopPos, position, oneScript });
    say(
      `  noop ${noopJoin.rps}/s, join ${join.rps}/s, noop ${noopPos.rps}/s, position ${position.rps}/s, eval ${oneScript.rps}/s`,
    );
  }
  return {
    eventId,
    joined,
    rounds,
    joinRatio: round(median(rounds.map((x) => x.join.rps / x.noopJoin.rps)), 3),
    positionRatio: round(median(rounds.map((x) => x.position.rps / x.noopPos.rps)), 3),
    evalRatio: round(median(rounds.map((x) => x.oneScript.rps / x.noopPos.rps)), 3),
    join: machineShares(rounds.map((x) => [x.noopJoin, x.join, x.oneScript])),
    position: machineShares(rounds.map((x) => [x.noopPos, x.position, x.oneScript])),
  };
}

/**
 * What one call costs the whole machine (ghz + API + Redis, median µs per
 * call) against the Noop round before it and the one-script baseline, and the
 * ratios those costs bound on shared cores (lib/stats.ts cpuCeilings).
 */
function machineShares(pairs: [ReturnType<typeof summary>, ReturnType<typeof summary>, ReturnType<typeof summary>][]) {
  const us = (ys: ReturnType<typeof summary>[]): CpuSplit => ({
    ghz: round(median(ys.map((y) => y.cost?.ghzUs ?? NaN)), 1),
    api: round(median(ys.map((y) => y.cost?.apiUs ?? NaN)), 1),
    redis: round(median(ys.map((y) => y.cost?.redisUs ?? 0)), 1),
  });
  const noop = us(pairs.map((p) => p[0]));
  const call = us(pairs.map((p) => p[1]));
  const oneScript = us(pairs.map((p) => p[2]));
  return { noopUs: noop, callUs: call, evalUs: oneScript, ...cpuCeilings(noop, call, oneScript) };
}

async function flood(api: ApiProcess, tmp: string, events: EventServiceClient, redisUrl: string) {
  const eventId = await createEvent(events, { rate: 50, maxShopping: 1000 });
  say(`flood: ${settings.flood} joiners on ${eventId}`);
  const rows = Array.from({ length: settings.flood }, (_, i) => ({
    event_id: eventId,
    buyer_id: `f${i}`,
    request_id: `f${i}`,
  }));
  const started = Date.now();
  const r = await measured(
    api,
    () => ghz(api, tmp, "flood", "ticketing.v1.QueueService/JoinQueue", rows, settings.flood, 0),
    settings.flood,
  );
  const seconds = (Date.now() - started) / 1000;
  const redis = createRedis({ url: redisUrl });
  const q = queueKeys(eventId);
  const [inLine, shopping, records] = await Promise.all([redis.zcard(q.line), redis.zcard(q.shop), redis.hlen(q.recs)]);
  await redis.quit();
  const ok = r.codes.OK ?? 0;
  return {
    eventId,
    seconds: round(seconds, 1),
    ...r,
    accountedFor: { ok, records, inLine, shopping, check: records === ok && inLine + shopping === ok },
  };
}

async function watchBench(api: ApiProcess, queueAt: () => QueueServiceClient) {
  const events = new EventServiceClient(api.address, credentials.createInsecure(), benchClientOptions);
  const eventId = await createEvent(events, { rate: 10_000, maxShopping: 1 });
  events.close();
  const n = settings.watchers;
  say(`watch: ${n} watchers on ${eventId}`);
  const client = queueAt();
  const ids = Array.from({ length: n + 1 }, (_, i) => `w${i}`);
  for (let i = 0; i < ids.length; i += 500) {
    await Promise.all(
      ids.slice(i, i + 500).map((b) => call(client, client.joinQueue, { eventId, buyerId: b, requestId: b })),
    );
  }
  await new Promise((r) => setTimeout(r, 500));
  global.gc?.();
  const rssBefore = rssMb(api.pid);
  // Watchers spread over several channels, as many clients would be.
  const clients = Array.from({ length: 8 }, () => queueAt());
  const last = new Map<string, { at: number; ticket: QueueTicket }>();
  const got: ((buyer: string) => void)[] = [];
  const streams = ids.slice(1).map((b, i) => {
    const c = clients[i % clients.length]!;
    const s = c.watchQueue({ eventId, buyerId: b });
    s.on("data", (m: WatchQueueResponse) => {
      last.set(b, { at: performance.now(), ticket: m.ticket! });
      for (const f of got) f(b);
    });
    s.on("error", () => undefined);
    return s;
  });
  const until = async (pred: () => boolean, ms: number) => {
    const end = Date.now() + ms;
    while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return pred();
  };
  await until(() => last.size === n, 120_000);
  await new Promise((r) => setTimeout(r, 1000));
  const rssAfter = rssMb(api.pid);
  const delays: number[][] = [];
  for (let r = 0; r < settings.watchRounds && r < n - 1; r++) {
    const leaving = ids[r]!;
    const before = new Map([...last].map(([b, v]) => [b, v.at]));
    const expect = ids.slice(r + 1).filter((b) => last.has(b));
    const t0 = performance.now();
    await call(client, client.leaveQueue, { eventId, buyerId: leaving, requestId: `l${r}` });
    // Everyone still waiting moves up one place; the next in line gets the token.
    await until(() => expect.every((b) => (last.get(b)?.at ?? 0) > (before.get(b) ?? 0)), 30_000);
    delays.push(expect.map((b) => (last.get(b)?.at ?? NaN) - t0));
  }
  for (const s of streams) s.cancel();
  for (const c of clients) c.close();
  client.close();
  const all = delays.flat();
  return {
    eventId,
    watchers: n,
    rssBeforeMb: round(rssBefore, 1),
    rssAfterMb: round(rssAfter, 1),
    kbPerStream: round(((rssAfter - rssBefore) * 1024) / n, 2),
    delayMs: {
      p50: round(pct(all, 50), 1),
      p99: round(pct(all, 99), 1),
      lastWatcherPerStep: delays.map((d) => round(Math.max(...d), 1)),
    },
    note: "delay from the LeaveQueue call to each waiting watcher's new position: includes up to one admission tick (QUEUE_TICK_MS)",
  };
}

async function signing(mysqlUrl: string) {
  const mysql = createMysqlPool(mysqlUrl, 4);
  await migrate(mysql);
  const log = createLogger("silent", "bench");
  const ring = new KeyRing(
    mysql,
    { purpose: "admission", maxTokenLifetimeSeconds: 7200, rotateAfterSeconds: 0, refreshMs: 60_000 },
    log,
  );
  await ring.start();
  const out: Record<string, { tokensPerSecond: number; batches: number }> = {};
  const variants: [string, { threads: number; maxBatch?: number }][] = [
    ["pool, batched (1 thread)", { threads: 1 }],
    ["pool, one task per signature (1 thread)", { threads: 1, maxBatch: 1 }],
    ["inline on the event loop", { threads: 0 }],
  ];
  let sample: string[] = [];
  let verify = { uncachedPerSecond: NaN, cachedPerSecond: NaN };
  for (const [name, opts] of variants) {
    const pool = new SigningPool(opts);
    const admission = new AdmissionTokens(new TokenService(ring, pool));
    await Promise.all(Array.from({ length: 500 }, (_, i) => admission.issue(tokenFor(`warm${i}`)))); // warm the worker
    const before = pool.stats.batches;
    const t0 = performance.now();
    for (let i = 0; i < settings.sign; i += 2000) {
      sample = await Promise.all(
        Array.from({ length: Math.min(2000, settings.sign - i) }, (_, j) => admission.issue(tokenFor(`b${i + j}`))),
      );
    }
    const seconds = (performance.now() - t0) / 1000;
    out[name] = { tokensPerSecond: round(settings.sign / seconds), batches: pool.stats.batches - before };
    await pool.close();
  }
  {
    const tokens = new TokenService(ring, new SigningPool({ threads: 0 }));
    const admission = new AdmissionTokens(tokens);
    const t0 = performance.now();
    for (let i = 0; i < sample.length; i++)
      await admission.check(sample[i]!, "ev", `b${settings.sign - sample.length + i}`);
    const t1 = performance.now();
    for (let k = 0; k < 5; k++)
      for (let i = 0; i < sample.length; i++)
        await admission.check(sample[i]!, "ev", `b${settings.sign - sample.length + i}`);
    const t2 = performance.now();
    verify = {
      uncachedPerSecond: round(sample.length / ((t1 - t0) / 1000)),
      cachedPerSecond: round((5 * sample.length) / ((t2 - t1) / 1000)),
    };
  }
  ring.stop();
  await mysql.end();
  return { sign: out, verify };
}

function tokenFor(buyerId: string) {
  const admittedMs = Date.now();
  return { eventId: "ev", buyerId, maxTickets: 4, admittedMs, expiresMs: admittedMs + 600_000 };
}

function throughputMarkdown(t: Awaited<ReturnType<typeof throughput>>): string {
  const lines = [
    "## Throughput (ghz, interleaved with Noop; ratio = median of per-round ratios)",
    "",
    `JoinQueue / Noop: **${t.joinRatio}** (goal >= ${settings.ratioGoal}); GetQueuePosition / Noop: **${t.positionRatio}**`,
    "",
    "| round | Noop/s | JoinQueue/s | p50/p99 ms | Noop/s | GetQueuePosition/s | p50/p99 ms | ghz cores | API cores (join/pos) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...t.rounds.map(
      (x, i) =>
        `| ${i + 1} | ${x.noopJoin.rps} | ${x.join.rps} | ${x.join.p50Ms}/${x.join.p99Ms} | ${x.noopPos.rps} | ${x.position.rps} | ${x.position.p50Ms}/${x.position.p99Ms} | ${x.join.ghzCores}/${x.position.ghzCores} | ${x.join.apiCores}/${x.position.apiCores} |`,
    ),
    "",
    "CPU per call (µs; API and Redis from /proc, ghz from its own CPU time; EVALSHA from Redis INFO commandstats, per script run):",
    "",
    "| round | call | API µs | Redis µs | EVALSHA µs | ghz µs |",
    "| --- | --- | --- | --- | --- | --- |",
    ...t.rounds.flatMap((x, i) =>
      (
        [
          ["Noop", x.noopJoin],
          ["JoinQueue", x.join],
          ["Noop", x.noopPos],
          ["GetQueuePosition", x.position],
          ["Eval", x.oneScript],
        ] as const
      ).map(
        ([name, y]) =>
          `| ${i + 1} | ${name} | ${y.cost?.apiUs ?? "-"} | ${y.cost?.redisUs ?? "-"} | ${y.cost?.evalshaUs ?? "-"} | ${y.cost?.ghzUs ?? "-"} |`,
      ),
    ),
    "",
    "Where the cores go (median µs per call, ghz + API + Redis, against the Noop round before each call; all three share the same cores):",
    "",
    "| call | Noop | call | whole-machine CPU-derived ratio | ceiling if the call cost the API no more than Noop | ceiling if it cost the API no more than Eval (one bare script call) |",
    "| --- | --- | --- | --- | --- | --- |",
    ...(
      [
        ["JoinQueue", t.join],
        ["GetQueuePosition", t.position],
      ] as const
    ).map(
      ([name, m]) =>
        `| ${name} | ${m.noopUs.ghz} + ${m.noopUs.api} + ${m.noopUs.redis} | ${m.callUs.ghz} + ${m.callUs.api} + ${m.callUs.redis} | ${m.machineCpuRatio} | ${m.ceilingIfApiFree} | **${m.ceilingIfApiAtEval}** |`,
    ),
    "",
    `One-script baseline (NoopService.Eval, Noop's body plus one script of one INCR): Eval/Noop **${t.evalRatio}**; CPU per call ${t.position.evalUs.ghz} + ${t.position.evalUs.api} + ${t.position.evalUs.redis} µs (ghz + API + Redis). A call that runs a script cannot cost the API less than Eval does, so with the generator's and Redis's cost per call as measured, each ratio stays under the last column.`,
    "",
    `Codes: join ${JSON.stringify(t.rounds.map((x) => x.join.codes))}, position ${JSON.stringify(t.rounds.map((x) => x.position.codes))}`,
    "",
  ];
  return lines.join("\n");
}

function markdown(
  r: Record<string, unknown> & {
    throughput: Awaited<ReturnType<typeof throughput>>;
    flood: Awaited<ReturnType<typeof flood>>;
    watch: Awaited<ReturnType<typeof watchBench>>;
    signing: Awaited<ReturnType<typeof signing>>;
  },
): string {
  const t = r.throughput;
  const lines = [
    `# Waiting room bench, ${String(r.stamp)}`,
    "",
    `Machine: ${String((r.machine as { nproc: number }).nproc)} cores, ${(r.machine as { cpuModel: string }).cpuModel}; source ${(r.source as { commit: string }).commit.slice(0, 12)} (${(r.source as { note: string }).note}).`,
    `Settings: ${JSON.stringify(r.settings)}`,
    "",
    throughputMarkdown(t),
    "",
    "## Flood",
    "",
    `${settings.flood} distinct joiners: ${r.flood.seconds} s, ${r.flood.rps} joins/s, p99 ${r.flood.p99Ms} ms; codes ${JSON.stringify(r.flood.codes)}; errors ${JSON.stringify(r.flood.errors)}.`,
    `Accounted for in Redis: ${JSON.stringify(r.flood.accountedFor)}`,
    "",
    "## WatchQueue",
    "",
    `${r.watch.watchers} streams on one API process: RSS ${r.watch.rssBeforeMb} -> ${r.watch.rssAfterMb} MB, **${r.watch.kbPerStream} KB per stream**.`,
    `Delay from a step to each watcher's update: p50 ${r.watch.delayMs.p50} ms, **p99 ${r.watch.delayMs.p99} ms**; last watcher per step ${JSON.stringify(r.watch.delayMs.lastWatcherPerStep)} ms (${r.watch.note}).`,
    "",
    "## Token signing (in-process)",
    "",
    "| variant | tokens/s | pool tasks |",
    "| --- | --- | --- |",
    ...Object.entries(r.signing.sign).map(([k, v]) => `| ${k} | ${v.tokensPerSecond} | ${v.batches} |`),
    "",
    `Verification: ${r.signing.verify.uncachedPerSecond}/s uncached (Ed25519 + jose), ${r.signing.verify.cachedPerSecond}/s cached.`,
    "",
  ];
  return lines.join("\n");
}

/** Iterating on some figures (BENCH_PARTS a subset): print them, write nothing to bench/. */
async function partialRun(api: ApiProcess, stack: BenchStack, tmp: string, events: EventServiceClient): Promise<void> {
  const partial: Record<string, unknown> = { settings, parts: [...PARTS] };
  if (PARTS.has("throughput")) partial.throughput = await throughput(api, tmp, events);
  if (PARTS.has("flood")) partial.flood = await flood(api, tmp, events, stack.redisUrl);
  events.close();
  if (PARTS.has("watch")) partial.watch = await watchBench(api, () => queueClient(api));
  if (PARTS.has("sign")) partial.signing = await signing(stack.mysqlUrl);
  const t = partial.throughput as Awaited<ReturnType<typeof throughput>> | undefined;
  if (t) process.stdout.write(`${throughputMarkdown(t)}\n`);
  process.stdout.write(`${JSON.stringify(partial, (k, v: unknown) => (k === "command" ? undefined : v), 2)}\n`);
}

type QueueReport = Parameters<typeof markdown>[0] & { stamp: string };

/** results/queue-<stamp>.{json,md,html}, and the headline prepended to QUEUE-RESULTS.md. */
function writeReports(report: QueueReport, t: Awaited<ReturnType<typeof throughput>>): string[] {
  fs.mkdirSync(path.join(OUT, "results"), { recursive: true });
  const base = path.join(OUT, "results", `queue-${report.stamp}`);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  const chartsLink = (dir: string) =>
    `\nCharts (throughput and latency over time per round, latency histograms): \`${dir}${path.basename(base)}.html\` (raw output, not committed: the bench writes it beside its report).\n`;
  const md = `${markdown(report)}${chartsLink("results/")}`;
  fs.writeFileSync(`${base}.md`, `${markdown(report)}${chartsLink("")}`);
  fs.writeFileSync(`${base}.html`, chartsPage(report.stamp, t, `${path.basename(base)}.md`));
  const summaryFile = path.join(OUT, "QUEUE-RESULTS.md");
  const previous = fs.existsSync(summaryFile)
    ? fs.readFileSync(summaryFile, "utf8").replace(/^# Waiting room bench results\n+/, "")
    : "";
  fs.writeFileSync(
    summaryFile,
    `# Waiting room bench results\n\nNewest first; every run's full report is in results/.\n\n${md.replace(/^# /, "## ").replace(/\n## /g, "\n### ")}\n${previous.replace(/^Newest first.*\n+/, "")}`,
  );
  process.stdout.write(md);
  return [`${base}.json`, `${base}.md`, `${base}.html`, summaryFile];
}

const queueClient = (api: ApiProcess) =>
  new QueueServiceClient(api.address, credentials.createInsecure(), benchClientOptions);

async function main(run: BenchRun): Promise<BenchOutcome> {
  const { tmp, machine } = run;
  const source = sourceInfo(repoRoot);
  const stack = await startBenchStack(tmp);
  Object.assign(process.env, {
    QUEUE_JOIN_LIMIT: "0",
    QUEUE_POSITION_LIMIT: "0",
    // Buyers driven by ghz never come back to ask: do not skip them as abandoned.
    QUEUE_ABANDON_SECONDS: "0",
  });
  const api = await startApi(stack, tmp, GRPCURL);
  say(`api ${api.address} (pid ${api.pid})`);
  redisProbe = { pid: stack.own.redis ? stack.pids.redis : undefined, client: createRedis({ url: stack.redisUrl }) };
  run.defer(() => redisProbe?.client.quit());
  const events = new EventServiceClient(api.address, credentials.createInsecure(), benchClientOptions);
  if (!ALL_PARTS) {
    await partialRun(api, stack, tmp, events);
    return { files: [], failures: [] };
  }
  const t = await throughput(api, tmp, events);
  const f = await flood(api, tmp, events, stack.redisUrl);
  events.close();
  const w = await watchBench(api, () => queueClient(api));
  const s = await signing(stack.mysqlUrl);
  const report = { stamp: run.stamp, machine, source, settings, throughput: t, flood: f, watch: w, signing: s };
  const { accountedFor: a } = f;
  const failures = a.check
    ? []
    : [
        `flood: ${a.ok} joins answered OK, but Redis has ${a.records} records, ${a.inLine} in line and ${a.shopping} shopping`,
      ];
  return { files: writeReports(report, t), failures };
}

runBench(
  {
    usage: "npm run bench:queue --",
    about:
      "The waiting room: JoinQueue and GetQueuePosition against Noop and Eval (interleaved), a flood of joiners, WatchQueue streams (memory per stream, update delay), token signing with and without the pool. Starts its own stack.",
    env: [
      ["BENCH_N", "calls per throughput round (30000)"],
      ["BENCH_ROUNDS", "rounds (3)"],
      ["BENCH_CONCURRENCY", "ghz --concurrency (64)"],
      ["BENCH_CONNECTIONS", "ghz --connections (4)"],
      ["BENCH_SKIP", "ghz --skipFirst (2000)"],
      ["BENCH_FLOOD", "distinct joiners on one event (100000)"],
      ["BENCH_WATCHERS", "WatchQueue streams (5000)"],
      ["BENCH_WATCH_ROUNDS", "admission steps watched (5)"],
      ["BENCH_SIGN", "tokens per signing run (20000)"],
      ["BENCH_GHZ_CPUS", "ghz --cpus (1)"],
      ["BENCH_PARTS", "which parts run: throughput,flood,watch,sign (all; a subset writes nothing to bench/)"],
      ["BENCH_API_NODE_ARGS", "extra node flags for the API"],
      ...STACK_ENV,
    ],
    runIdPrefix: "q",
    tmpPrefix: "ticketing-bench-queue-",
    tools: ["ghz", "grpcurl"],
  },
  main,
);
