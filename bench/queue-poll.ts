// `npm run bench:poll`: GetQueuePosition at the floor (issue #19), before and
// after in one run. Two APIs side by side on the same Redis, MariaDB and
// Temporal: one with QUEUE_POLL_BATCH_MS=0 (one lua/queue_position.lua call per
// poll, as before) and one with the batches (src/queue/poll-batcher.ts). One
// event with its waiting room on (1 admission a second, 1 shopper: everyone
// else keeps waiting), BENCH_POLL_BUYERS buyers joined, each polled once on
// each API as a warm-up. Then BENCH_ROUNDS interleaved rounds, each API in
// turn (which goes first alternates): Noop, then GetQueuePosition, both at
// BENCH_POLL_RPS calls a second (ghz --rps) over distinct buyers. Per round:
// the API's CPU per call (/proc), Redis's CPU per call (/proc; net of the
// Noop round's, which is what the admission steps and the rest cost Redis at
// the same rate), EVALSHA calls per poll and script time per poll (INFO
// commandstats), rate, p50/p99 and codes. Goals: API CPU per poll <= 1.1 x
// Noop; Redis CPU per poll <= 3 µs at about 5,000 polls/s.
// Writes bench/results/queue-poll-<stamp>.{json,md} and the goal lines of
// bench/RESULTS.md (lib/report.ts keeps them when bench:holds rewrites it).
import fs from "node:fs";
import path from "node:path";
import { credentials } from "@grpc/grpc-js";
import { createRedis, type RedisClient } from "../src/adapters/redis/client.js";
import { queueKeys } from "../src/adapters/redis/keys.js";
import { EventServiceClient } from "../src/gen/ticketing/v1/event_service.js";
import { repoRoot } from "../tools/devstack/stack.js";
import { STACK_ENV } from "./lib/command.js";
import { envNumber } from "./lib/env.js";
import { runGhz, type GhzRun } from "./lib/ghz.js";
import { createQueueEvent } from "./lib/queue-event.js";
import { benchClientOptions } from "./lib/identity.js";
import { BENCH_DIR, RESULTS_DIR } from "./lib/results.js";
import { writeGoalLines } from "./lib/report.js";
import { runBench, type BenchOutcome, type BenchRun } from "./lib/runner.js";
import { redisCpuSeconds } from "./lib/redis.js";
import { say, startApi, startBenchStack, type ApiProcess } from "./lib/stack.js";
import { freePort } from "../tools/devstack/stack.js";
import { median, round } from "./lib/stats.js";
import { processCpuSeconds, sourceInfo } from "./lib/sys.js";

const settings = {
  buyers: envNumber("BENCH_POLL_BUYERS", 10_000),
  n: envNumber("BENCH_N", 30_000),
  rounds: envNumber("BENCH_ROUNDS", 3),
  rps: envNumber("BENCH_POLL_RPS", 5_000),
  concurrency: envNumber("BENCH_CONCURRENCY", 400),
  connections: envNumber("BENCH_CONNECTIONS", 8),
  skipFirst: envNumber("BENCH_SKIP", 2_000),
  batchMs: envNumber("BENCH_POLL_BATCH_MS", 50),
  ghzCpus: envNumber("BENCH_GHZ_CPUS", 1),
  apiGoal: 1.1,
  redisGoalUs: 3,
};

const GHZ = path.join(repoRoot, ".tools/bin/ghz");
const GRPCURL = path.join(repoRoot, ".tools/bin/grpcurl");
const PROTOSET = path.join(repoRoot, "src/gen/descriptors.binpb");
const NOOP = "ticketing.bench.v1.NoopService/Noop";
const POSITION = "ticketing.v1.QueueService/GetQueuePosition";
const JOIN = "ticketing.v1.QueueService/JoinQueue";

/** The event buyers wait for: one admission a second, so nobody leaves the line. */
function createEvent(events: EventServiceClient, runId: string): Promise<string> {
  return createQueueEvent(events, {
    eventId: `poll_${runId}`,
    name: "Poll bench",
    admissionsPerSecond: 1,
    maxShopping: 1,
    sessionSeconds: 3600,
  });
}

interface Measured {
  api: string;
  call: "Noop" | "GetQueuePosition";
  rps: number;
  p50Ms?: number;
  p99Ms?: number;
  codes: Record<string, number>;
  apiUs?: number;
  redisUs?: number;
  evalshaPerCall: number;
  scriptUsPerCall: number;
  ghzUs: number;
  /** The batched API's own counters over the round: polls per script call, buyers read per poll. */
  batches?: { pollsPerBatch: number; readsPerPoll: number };
  command: string;
}

interface Api {
  name: string;
  id: string;
  proc: ApiProcess;
}

/** What every phase uses: the run, the two APIs, a Redis client, the event and the next buyer a poll file starts at. */
interface Ctx {
  run: BenchRun;
  apis: Api[];
  redis: RedisClient;
  /** The batched API's Prometheus port. */
  metricsPort: number;
  eventId: string;
  pollOffset: number;
}

type PollSummary = ReturnType<typeof summarise>;

/** The stack and two APIs, per poll and batched, and the event buyers wait for. */
async function start(run: BenchRun): Promise<Ctx> {
  const { tmp } = run;
  const stack = await startBenchStack(tmp);
  const common = { QUEUE_ABANDON_SECONDS: "0" }; // ghz's buyers are polled now and then, never skipped
  const metricsPort = await freePort();
  const apis: Api[] = [
    {
      name: "per poll (QUEUE_POLL_BATCH_MS=0)",
      id: "per-poll",
      proc: await startApi(stack, tmp, GRPCURL, { name: "api-per-poll", env: { ...common, QUEUE_POLL_BATCH_MS: "0" } }),
    },
    {
      name: `batched (QUEUE_POLL_BATCH_MS=${settings.batchMs})`,
      id: "batched",
      proc: await startApi(stack, tmp, GRPCURL, {
        name: "api-batched",
        env: {
          ...common,
          QUEUE_POLL_BATCH_MS: String(settings.batchMs),
          METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
        },
      }),
    },
  ];
  const redis = createRedis({ url: stack.redisUrl });
  run.defer(() => redis.quit());
  const events = new EventServiceClient(apis[1]!.proc.address, credentials.createInsecure(), benchClientOptions);
  run.defer(() => events.close());
  const eventId = await createEvent(events, run.runId);
  say(`event ${eventId}; joining ${settings.buyers} buyers`);
  return { run, apis, redis, metricsPort, eventId, pollOffset: 0 };
}

/** The batched API's poll counters (ticketing_queue_poll*_total). */
async function pollCounters(ctx: Ctx): Promise<{ batches: number; polls: number; reads: number }> {
  const text = await (await fetch(`http://127.0.0.1:${ctx.metricsPort}/metrics`)).text();
  const get = (name: string) => Number(new RegExp(`^${name} ([\\d.e+]+)$`, "m").exec(text)?.[1] ?? NaN);
  return {
    batches: get("ticketing_queue_poll_batches_total"),
    polls: get("ticketing_queue_polls_total"),
    reads: get("ticketing_queue_poll_reads_total"),
  };
}

async function evalshaStats(ctx: Ctx): Promise<{ calls: number; usec: number }> {
  const info = await ctx.redis.info("commandstats");
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(info);
  return m ? { calls: Number(m[1]), usec: Number(m[2]) } : { calls: 0, usec: 0 };
}

function dataFile(ctx: Ctx, name: string, rows: object[]): string {
  const f = path.join(ctx.run.tmp, `${name}.json`);
  fs.writeFileSync(f, `[\n${rows.map((r) => JSON.stringify(r)).join(",\n")}\n]\n`);
  return f;
}

function ghz(api: ApiProcess, ctx: Ctx, name: string, callName: string, file: string, total: number, rps?: number) {
  return runGhz({
    ghz: GHZ,
    protoset: PROTOSET,
    call: callName,
    address: api.address,
    dataFile: file,
    total,
    concurrency: settings.concurrency,
    connections: settings.connections,
    skipFirst: rps ? settings.skipFirst : 0,
    rps,
    countErrors: true,
    cpus: settings.ghzCpus,
    gogc: 400,
    format: "json",
    outFile: path.join(ctx.run.tmp, `${name}.out.json`),
  });
}

const buyer = (i: number) => `p${i}`;

/** Every buyer joins the line; then polls once on each API, so the batched one knows their places as it would on a busy day. */
async function joinAndWarm(ctx: Ctx): Promise<number> {
  const { eventId, apis } = ctx;
  const joined = await ghz(
    apis[1]!.proc,
    ctx,
    "join",
    JOIN,
    dataFile(
      ctx,
      "join",
      Array.from({ length: settings.buyers }, (_, i) => ({
        event_id: eventId,
        buyer_id: buyer(i),
        request_id: `j${i}`,
      })),
    ),
    settings.buyers,
  );
  const inLine = await ctx.redis.zcard(queueKeys(eventId).line);
  say(`joined: ${JSON.stringify(joined.summary?.codes)}; ${inLine} in line`);
  const warm = dataFile(
    ctx,
    "warm",
    Array.from({ length: settings.buyers }, (_, i) => ({ event_id: eventId, buyer_id: buyer(i) })),
  );
  for (const a of apis) await ghz(a.proc, ctx, `warm-${a.id}`, POSITION, warm, settings.buyers);
  return inLine;
}

/** Distinct buyers within a round, spread over the line; every buyer about equally often over the run. */
function pollFile(ctx: Ctx): string {
  const rows = Array.from({ length: settings.n }, (_, i) => ({
    event_id: ctx.eventId,
    buyer_id: buyer((ctx.pollOffset + i * 7919) % settings.buyers),
  }));
  ctx.pollOffset += settings.n;
  return dataFile(ctx, `poll-${ctx.pollOffset}`, rows);
}

/** One ghz round at the fixed rate, with the API's and Redis's CPU and the batched API's counters over it. */
async function measure(
  ctx: Ctx,
  a: Api,
  name: string,
  callName: "Noop" | "GetQueuePosition",
  file: string,
): Promise<Measured> {
  const { redis } = ctx;
  const api0 = processCpuSeconds(a.proc.pid);
  const redis0 = await redisCpuSeconds(redis);
  const cs0 = await evalshaStats(ctx);
  const pc0 = a.id === "batched" ? await pollCounters(ctx) : undefined;
  const r: GhzRun = await ghz(
    a.proc,
    ctx,
    name,
    callName === "Noop" ? NOOP : POSITION,
    file,
    settings.n + settings.skipFirst,
    settings.rps,
  );
  const api1 = processCpuSeconds(a.proc.pid);
  const redis1 = await redisCpuSeconds(redis);
  const cs1 = await evalshaStats(ctx);
  const pc1 = pc0 ? await pollCounters(ctx) : undefined;
  const calls = settings.n + settings.skipFirst;
  const us = (x?: number, y?: number) =>
    x !== undefined && y !== undefined ? round(((y - x) * 1e6) / calls, 2) : undefined;
  return {
    api: a.name,
    call: callName,
    rps: round(r.summary?.rps ?? NaN),
    p50Ms: r.summary?.latencyMs.p50,
    p99Ms: r.summary?.latencyMs.p99,
    codes: r.summary?.codes ?? {},
    apiUs: us(api0, api1),
    redisUs: us(redis0, redis1),
    evalshaPerCall: round((cs1.calls - cs0.calls) / calls, 4),
    scriptUsPerCall: round((cs1.usec - cs0.usec) / calls, 2),
    ghzUs: round((r.cpuCores * r.wallSeconds * 1e6) / calls, 1),
    batches:
      pc0 && pc1 && pc1.polls > pc0.polls
        ? {
            pollsPerBatch: round((pc1.polls - pc0.polls) / (pc1.batches - pc0.batches), 1),
            readsPerPoll: round((pc1.reads - pc0.reads) / (pc1.polls - pc0.polls), 4),
          }
        : undefined,
    // the bench token in ghz's --metadata stays out of the report
    command: r.command.replace(/--metadata '[^']*'/, "--metadata '<bench token>'"),
  };
}

/** Rounds of Noop then GetQueuePosition on each API, the APIs' order alternating. */
async function runRounds(ctx: Ctx): Promise<Measured[][]> {
  const noopFile = dataFile(
    ctx,
    "noop",
    Array.from({ length: 1000 }, (_, i) => ({ payload: `${ctx.eventId}-${buyer(i)}-${"x".repeat(8)}` })),
  );
  const rounds: Measured[][] = [];
  for (let r = 0; r < settings.rounds; r++) {
    say(`round ${r + 1}/${settings.rounds}`);
    const order = r % 2 === 0 ? ctx.apis : [...ctx.apis].reverse();
    const row: Measured[] = [];
    for (const a of order) {
      row.push(await measure(ctx, a, `noop-${a.id}-${r}`, "Noop", noopFile));
      row.push(await measure(ctx, a, `pos-${a.id}-${r}`, "GetQueuePosition", pollFile(ctx)));
    }
    for (const m of row) say(`  ${m.api} ${m.call}: ${m.rps}/s, API ${m.apiUs} µs, Redis ${m.redisUs} µs`);
    rounds.push(row);
  }
  return rounds;
}

/** One API's medians over the rounds. */
function summarise(rounds: Measured[][], api: string) {
  const of = (c: Measured["call"]) => rounds.map((row) => row.find((m) => m.api === api && m.call === c)!);
  const noop = of("Noop");
  const pos = of("GetQueuePosition");
  const ratios = pos.map((p, i) => (p.apiUs ?? NaN) / (noop[i]!.apiUs ?? NaN));
  const redisNet = pos.map((p, i) => (p.redisUs ?? NaN) - (noop[i]!.redisUs ?? 0));
  return {
    api,
    noopApiUs: round(median(noop.map((x) => x.apiUs ?? NaN)), 1),
    posApiUs: round(median(pos.map((x) => x.apiUs ?? NaN)), 1),
    apiRatio: round(median(ratios), 3),
    posRedisUs: round(median(pos.map((x) => x.redisUs ?? NaN)), 2),
    noopRedisUs: round(median(noop.map((x) => x.redisUs ?? NaN)), 2),
    redisNetUs: round(median(redisNet), 2),
    evalshaPerPoll: round(median(pos.map((x) => x.evalshaPerCall)), 4),
    scriptUsPerPoll: round(median(pos.map((x) => x.scriptUsPerCall)), 2),
    posRps: round(median(pos.map((x) => x.rps))),
    posP50: round(median(pos.map((x) => x.p50Ms ?? NaN)), 2),
    posP99: round(median(pos.map((x) => x.p99Ms ?? NaN)), 2),
    pollsPerBatch: pos[0]?.batches ? round(median(pos.map((x) => x.batches?.pollsPerBatch ?? NaN)), 1) : undefined,
    readsPerPoll: pos[0]?.batches ? round(median(pos.map((x) => x.batches?.readsPerPoll ?? NaN)), 4) : undefined,
  };
}

/** results/queue-poll-<stamp>.{json,md}. */
function writeReport(
  ctx: Ctx,
  o: { inLine: number; rounds: Measured[][]; before: PollSummary; after: PollSummary; command: string },
): string[] {
  const { run } = ctx;
  const { inLine, rounds, before, after, command } = o;
  const apiMet = after.apiRatio <= settings.apiGoal;
  const redisMet = after.redisNetUs <= settings.redisGoalUs;
  const loadAfter = fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);
  const source = sourceInfo(repoRoot);
  const report = {
    startedAt: run.started.toISOString(),
    command,
    machine: run.machine,
    loadAfter,
    source,
    settings,
    eventId: ctx.eventId,
    buyersInLine: inLine,
    before,
    after,
    goals: { apiMet, redisMet },
    rounds,
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const base = path.join(RESULTS_DIR, `queue-poll-${run.stamp}`);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  const row = (x: PollSummary) =>
    `| ${x.api} | ${x.noopApiUs} | ${x.posApiUs} | **${x.apiRatio}** | ${x.posRedisUs} | ${x.noopRedisUs} | **${x.redisNetUs}** | ${x.evalshaPerPoll} | ${x.scriptUsPerPoll} | ${x.posRps} | ${x.posP50} / ${x.posP99} |`;
  const md = [
    `# GetQueuePosition at the floor, ${run.stamp}`,
    "",
    `Command: \`${command}\`. Code at \`${source.commit.slice(0, 12)}\`${source.dirty.length ? " + uncommitted edits" : ""}; ${run.machine.nproc} cores (${run.machine.cpuModel}); load average ${run.machine.loadAvgBefore.join(" ")} at start, ${loadAfter.join(" ")} at the end (the machine is shared: other work ran beside the bench).`,
    `Settings: ${JSON.stringify(settings)}. ${inLine.toLocaleString("en-US")} buyers waiting on one event; every buyer polled once on each API before the rounds.`,
    "",
    "Medians of the rounds; API µs from /proc of that API process, per call; Redis µs from INFO cpu (used_cpu_user + used_cpu_sys) per call (net: minus the Noop round's at the same rate, i.e. what the admission steps of both APIs and the rest cost Redis meanwhile); EVALSHA and script µs from INFO commandstats per poll.",
    `Batched API (its own counters, median of rounds): ${after.pollsPerBatch} polls per script call, ${after.readsPerPoll} buyers read (record + ZRANK) per poll.`,
    "",
    "| API | Noop API µs | GetQueuePosition API µs | ratio (goal ≤ 1.1) | Redis µs/poll | Redis µs/Noop | Redis net µs/poll (goal ≤ 3) | EVALSHA/poll | script µs/poll | polls/s | p50 / p99 ms |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    row(before),
    row(after),
    "",
    `Goals (batched API): API CPU per poll ≤ ${settings.apiGoal} × Noop: **${after.apiRatio}, ${apiMet ? "met" : "not met"}**; Redis CPU per poll ≤ ${settings.redisGoalUs} µs at about ${settings.rps.toLocaleString("en-US")} polls/s: **${after.redisNetUs} µs net (${after.posRedisUs} raw), ${redisMet ? "met" : "not met"}**.`,
    "",
    "## Rounds",
    "",
    "| round | API | call | calls/s | p50 / p99 ms | codes | API µs | Redis µs | EVALSHA/call | script µs/call | ghz µs |",
    "| --- | --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...rounds.flatMap((r, i) =>
      r.map(
        (m) =>
          `| ${i + 1} | ${m.api} | ${m.call} | ${m.rps} | ${m.p50Ms} / ${m.p99Ms} | ${JSON.stringify(m.codes)} | ${m.apiUs} | ${m.redisUs} | ${m.evalshaPerCall} | ${m.scriptUsPerCall} | ${m.ghzUs} |`,
      ),
    ),
    "",
    `ghz: \`${rounds[0]?.find((m) => m.call === "GetQueuePosition")?.command ?? ""}\``,
    "",
  ].join("\n");
  fs.writeFileSync(`${base}.md`, md);
  return [`${base}.json`, `${base}.md`];
}

/** Its two goal lines in RESULTS.md's index. */
function goalLines(run: BenchRun, rounds: Measured[][], before: PollSummary, after: PollSummary): string[] {
  const apiMet = after.apiRatio <= settings.apiGoal;
  const redisMet = after.redisNetUs <= settings.redisGoalUs;
  return [
    `| GetQueuePosition, API CPU per poll / Noop | ≤ ${settings.apiGoal} | ${after.apiRatio} (${after.posApiUs} / ${after.noopApiUs} µs, median of ${settings.rounds} rounds: ${rounds
      .map((r) => {
        const a = r.filter((m) => m.api === after.api);
        return round((a[1]?.apiUs ?? NaN) / (a[0]?.apiUs ?? NaN), 3);
      })
      .join(
        ", ",
      )}; one script per poll, same run: ${before.apiRatio}) | ${apiMet ? "met" : "not met"} | ${run.stamp}, load ${run.machine.loadAvgBefore[0]} | [md](results/queue-poll-${run.stamp}.md) |`,
    `| GetQueuePosition, Redis CPU per poll at about 5,000 polls/s | ≤ ${settings.redisGoalUs} µs | ${after.redisNetUs} µs net of the Noop round's ${after.noopRedisUs}, ${after.posRedisUs} raw, at ${after.posRps.toLocaleString("en-US")} polls/s (ghz --rps ${settings.rps}; ${after.pollsPerBatch} polls per script call); per poll before: ${before.redisNetUs} net, EVALSHA per poll ${after.evalshaPerPoll} vs ${before.evalshaPerPoll} | ${redisMet ? "met (net)" : "not met"} | ${run.stamp}, load ${run.machine.loadAvgBefore[0]} | [md](results/queue-poll-${run.stamp}.md) |`,
  ];
}

async function main(run: BenchRun): Promise<BenchOutcome> {
  const ctx = await start(run);
  const inLine = await joinAndWarm(ctx);
  const rounds = await runRounds(ctx);
  const before = summarise(rounds, ctx.apis[0]!.name);
  const after = summarise(rounds, ctx.apis[1]!.name);
  const command = `npm run bench:poll${Object.entries(process.env)
    .filter(([k]) => k.startsWith("BENCH_"))
    .map(([k, v]) => ` ${k}=${v}`)
    .join("")}`;
  const files = writeReport(ctx, { inLine, rounds, before, after, command });
  const failures: string[] = [];
  for (const r of rounds)
    for (const m of r) {
      const bad = Object.entries(m.codes).filter(([code]) => code !== "OK");
      if (bad.length) failures.push(`${m.api} ${m.call}: codes ${JSON.stringify(m.codes)}`);
    }
  if (!process.env.BENCH_OUT) {
    writeGoalLines("GetQueuePosition", goalLines(run, rounds, before, after));
    files.push(path.join(BENCH_DIR, "RESULTS.md"));
  }
  return {
    files,
    failures,
    headline: `API per poll / Noop ${after.apiRatio} (before ${before.apiRatio}); Redis net µs per poll ${after.redisNetUs} (before ${before.redisNetUs})`,
  };
}

runBench(
  {
    usage: "npm run bench:poll --",
    about:
      "GetQueuePosition before (one script per poll) and after (batched) in one run: two APIs side by side, interleaved Noop and GetQueuePosition rounds at a fixed rate, API and Redis CPU per call from /proc. Starts its own stack. About 5 minutes on 2 cores.",
    env: [
      [
        "BENCH_POLL_BUYERS",
        "buyers waiting (10000: at 5,000 polls/s each is polled every 2 s or so, a client polling every few seconds)",
      ],
      ["BENCH_N", "calls per round (30000)"],
      ["BENCH_ROUNDS", "rounds (3)"],
      ["BENCH_POLL_RPS", "ghz --rps of every round (5000)"],
      ["BENCH_CONCURRENCY", "ghz --concurrency (400: a batched poll waits up to a tick)"],
      ["BENCH_CONNECTIONS", "ghz --connections (8)"],
      ["BENCH_SKIP", "ghz --skipFirst per round (2000)"],
      ["BENCH_POLL_BATCH_MS", "QUEUE_POLL_BATCH_MS of the batched API (50)"],
      ["BENCH_GHZ_CPUS", "ghz --cpus (1)"],
      ["BENCH_API_NODE_ARGS", "extra node flags for the APIs"],
      ...STACK_ENV,
    ],
    runIdPrefix: "q",
    tmpPrefix: "ticketing-bench-poll-",
    tools: ["ghz", "grpcurl"],
  },
  main,
);
