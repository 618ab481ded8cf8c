// Writes bench/results/checkout-<timestamp>.{json,md} and regenerates
// bench/CHECKOUT-RESULTS.md (the latest run's summary and every run's headline,
// from bench/results/checkout-*.json). Text after the line
// `<!-- notes: kept across runs -->` in CHECKOUT-RESULTS.md is kept as is.
// Runs before schema 2 compared the checkout's previous shape (window timer,
// 5 local + 2 normal activities) with a bare workflow of that shape; since
// 2e3c7da both are the lean shape (4 local + 1 normal, no timer).
import fs from "node:fs";
import path from "node:path";
import { repoRoot } from "../../tools/devstack/stack.js";
import type { BareRoundStats, CallTally, CheckoutRoundStats } from "./checkout-driver.js";
import type { HistorySummary } from "./checkout-history.js";
import type { CpuDelta, OtherProcess, TemporalDb } from "./checkout-procs.js";
import type { GhzRun } from "./ghz.js";
import type { Check } from "./invariants.js";
import { round } from "./stats.js";
import type { MachineInfo, SourceInfo } from "./sys.js";
import { BENCH_DIR, RESULTS_DIR, readRuns, withEarlierRuns } from "./results.js";

const INDEX = path.join(BENCH_DIR, "CHECKOUT-RESULTS.md");
const NOTES_MARK = "<!-- notes: kept across runs -->";

export type CheckoutStats = Omit<CheckoutRoundStats, "records" | "workflowIds">;

export interface MeasuredCheckout {
  round: number;
  stats: CheckoutStats;
  cpu: CpuDelta;
  cpuMsPerCheckout: Record<string, number>;
  workflowIds: string[];
}

export interface MeasuredBare {
  round: number;
  stats: BareRoundStats;
  cpu: CpuDelta;
  cpuMsPerWorkflow: Record<string, number>;
  workflowIds: string[];
}

export interface HoldRound {
  round: number;
  loaded: boolean;
  ghz: GhzRun;
  holdsCreated: number;
  cpu: CpuDelta;
  /** API CPU over the ghz round / calls sent (in a loaded round it includes the API's share of the checkouts). */
  apiUsPerCall: number;
  checkoutsDuringGhz?: number;
  checkoutRateDuringGhz?: number;
  /** CreateOrder -> CONFIRMED of the checkouts confirmed while ghz ran. */
  checkoutLatencyDuringGhzMs?: { p50: number; p99: number; max: number };
  checkouts?: CheckoutStats;
}

export interface CheckoutSettings {
  checkouts: number;
  concurrency: number;
  rounds: number;
  warmupCheckouts: number;
  serial: number;
  /** 1: previousShapeCheckout rounds too (BENCH_PREVIOUS_SHAPE) */
  previousShape: number;
  temporalDb: TemporalDb;
  /** extra dev-server flags (BENCH_TEMPORAL_ARGS) */
  temporalArgs: string;
  holdN: number;
  holdSkip: number;
  holdWarmup: number;
  ghzConcurrency: number;
  connections: number;
  ghzCpus: number;
  ghzGogc: number;
  loadRampMs: number;
  historySample: number;
  paymentWindowSeconds: number;
  /** CPU niceness of both workers and our Temporal (WORKER_NICE); absent before it existed (= 0). */
  workerNice?: number;
  checkoutGoal: number;
  holdGoal: number;
  ghzCpuFlag: number;
}

export interface CheckoutBenchResult {
  kind: "checkout";
  /** 2: the baseline is the current (lean) shape; 1: both were the previous shape */
  schema: 1 | 2;
  /** the Temporal shape of the checkout and its bare baseline; absent in schema 1 (= "previous") */
  baselineShape?: "current";
  runId: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  ok: boolean;
  failures: string[];
  settings: CheckoutSettings;
  source: SourceInfo;
  machine: MachineInfo & {
    redis: string;
    loadAvgAfter: number[];
    othersDuringRun: { others: OtherProcess[]; otherCores: number; wallSeconds: number };
  };
  stack: {
    temporal: { address: string; pid?: number; command: string; own: boolean; db: TemporalDb | "external" };
    redisUrl: string;
    mysqlUrl: string;
    pids: Record<string, number | undefined>;
    apiCommand: string;
    workerCommand: string;
    bareWorkerCommand: string;
    /** nice value (main thread) and autogroup nice of each process, read from /proc after start */
    niceness?: Record<string, { nice: number; autogroup?: number } | undefined>;
    taskQueue: string;
    bareTaskQueue: string;
  };
  events: {
    checkout: {
      eventId: string;
      capacity: number;
      seatsUsed: number;
      shape: { sections: number; rows: number; seatsPerRow: number };
    };
    holds: { eventId: string; capacity: number };
  };
  warmup: { checkout: CheckoutStats; bare: BareRoundStats };
  /** one at a time (concurrency 1) */
  serial?: { checkout: CheckoutStats; bare: BareRoundStats; previousShape?: BareRoundStats };
  /** the checkout's shape before 2e3c7da (bench/checkout-baseline/workflows.ts previousShapeCheckout), a comparison, interleaved with the rest */
  previousShape?: {
    rounds: MeasuredBare[];
    medianRate: number;
    pairRatiosToBare: number[];
    medianRatioToBare: number;
    medianP50: number;
    medianP99: number;
    cpuMsPerWorkflow: Record<string, number>;
  };
  checkout: {
    rounds: MeasuredCheckout[];
    bareRounds: MeasuredBare[];
    medianCheckoutRate: number;
    medianBareRate: number;
    pairRatios: number[];
    medianRatio: number;
    ratioOfMedians: number;
    goal: number;
    goalMet: boolean;
    medianCheckoutP50: number;
    medianCheckoutP99: number;
    medianBareP50: number;
    medianBareP99: number;
    medianCreateOrderP50: number;
    medianCreateOrderP99: number;
    medianBareUpdateP50: number;
    medianBareUpdateP99: number;
    cpuMsPerCheckout: Record<string, number>;
    cpuMsPerBare: Record<string, number>;
    coresCheckout: Record<string, number>;
    coresBare: Record<string, number>;
  };
  holds: {
    rounds: HoldRound[];
    medianIdleRps: number;
    medianLoadedRps: number;
    pairRatios: number[];
    medianRatio: number;
    goal: number;
    goalMet: boolean;
    medianCheckoutRateDuringGhz: number;
    /** checkouts/s while ghz ran / checkouts/s alone (the checkout rounds' median) */
    checkoutRateDuringGhzToAlone?: number;
    /** CreateOrder -> CONFIRMED of the checkouts confirmed while ghz ran, median over the loaded rounds */
    medianCheckoutP50DuringGhz?: number;
    medianCheckoutP99DuringGhz?: number;
    maxCheckoutLatencyDuringGhz?: number;
    medianApiUsPerCallIdle: number;
    medianApiUsPerCallLoaded: number;
    /** API µs per call idle / loaded: the ratio if the API had a core to itself. */
    cpuRatio: number;
    generatorLimited: boolean;
  };
  histories: {
    checkout: HistorySummary;
    bare: HistorySummary;
    serialCheckout?: HistorySummary;
    serialBare?: HistorySummary;
    previousShape?: HistorySummary;
    serialPreviousShape?: HistorySummary;
  };
  invariants: { ok: boolean; groups: { group: string; checks: Check[] }[]; facts: Record<string, number> };
}

const fin = (x: number | undefined) => x !== undefined && Number.isFinite(x);
const n0 = (x: number | undefined) => (!fin(x) ? "–" : Math.round(x!).toLocaleString("en-US"));
const f = (x: number | undefined, d = 1) => (!fin(x) ? "–" : round(x!, d).toString());
const pct = (x: number | undefined) => (!fin(x) ? "–" : `${Math.round(x! * 100)} %`);
const codes = (c: Record<string, number> | undefined) =>
  c && Object.keys(c).length
    ? Object.entries(c)
        .map(([k, v]) => `${k} ${v.toLocaleString("en-US")}`)
        .join(", ")
    : "–";
const esc = (s: string) => s.replace(/\|/g, "\\|");

function addTally(into: Record<string, Record<string, number>>, name: string, t: CallTally): void {
  const m = (into[name] ??= {});
  for (const [k, v] of Object.entries(t.codes)) m[k] = (m[k] ?? 0) + v;
}

/** Every driver call of the run by gRPC code (warm-up, measured and loaded rounds). */
export function callCodes(r: CheckoutBenchResult): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  const all: CheckoutStats[] = [
    r.warmup.checkout,
    ...(r.serial ? [r.serial.checkout] : []),
    ...r.checkout.rounds.map((c) => c.stats),
    ...r.holds.rounds.flatMap((h) => (h.checkouts ? [h.checkouts] : [])),
  ];
  for (const s of all) for (const [name, t] of Object.entries(s.calls)) addTally(out, name, t);
  const ghz: Record<string, number> = {};
  for (const h of r.holds.rounds)
    for (const [k, v] of Object.entries(h.ghz.summary?.codes ?? {})) ghz[k] = (ghz[k] ?? 0) + v;
  out["HoldSeats (ghz, tallied)"] = ghz;
  const bare: Record<string, number> = {};
  for (const b of [
    r.warmup.bare,
    ...(r.serial ? [r.serial.bare] : []),
    ...(r.serial?.previousShape ? [r.serial.previousShape] : []),
    ...r.checkout.bareRounds.map((x) => x.stats),
    ...(r.previousShape?.rounds ?? []).map((x) => x.stats),
  ])
    for (const [k, v] of Object.entries(b.outcomes)) bare[k] = (bare[k] ?? 0) + v;
  out["bare workflows (Temporal client)"] = bare;
  return out;
}

export function headline(r: CheckoutBenchResult): string {
  const c = r.checkout;
  const h = r.holds;
  return (
    `checkout/bare **${f(c.medianRatio, 2)}** (goal ≥ ${c.goal}: ${c.goalMet ? "met" : "**not met**"}): ` +
    `${f(c.medianCheckoutRate, 1)} checkouts/s vs ${f(c.medianBareRate, 1)} bare workflows/s; ` +
    `CreateOrder→CONFIRMED p50/p99 ${n0(c.medianCheckoutP50)}/${n0(c.medianCheckoutP99)} ms, bare ${n0(c.medianBareP50)}/${n0(c.medianBareP99)} ms; ` +
    `HoldSeats with/without checkouts **${f(h.medianRatio, 2)}** (goal ≥ ${h.goal}: ${h.goalMet ? "met" : "**not met**"}): ${n0(h.medianLoadedRps)} vs ${n0(h.medianIdleRps)} calls/s; ` +
    `invariants ${r.invariants.ok ? "ok" : "**BROKEN**"}`
  );
}

/** The Temporal shape a run measured (the checkout's and its bare baseline's). */
export function shapeOf(r: CheckoutBenchResult): string {
  return r.baselineShape === "current" ? "lean: 4 local + 1 normal, no timer" : "previous: timer, 5 local + 2 normal";
}

const PROC_ORDER = ["temporal", "worker", "bareWorker", "api", "mysql", "redis", "bench", "ghz"];
const PROC_NAME: Record<string, string> = {
  temporal: "Temporal dev server",
  worker: "worker (src/worker.ts)",
  bareWorker: "bare worker",
  api: "API",
  mysql: "MariaDB",
  redis: "Redis",
  bench: "bench process (driver, Temporal client)",
  ghz: "ghz",
};

function coresCell(cpu: CpuDelta, keys: string[]): string {
  return keys.map((k) => (cpu.cores[k] === undefined ? "–" : f(cpu.cores[k], 2))).join(" / ");
}

export function markdown(r: CheckoutBenchResult): string {
  const L: string[] = [];
  titleLines(r, L);
  machineLines(r, L);
  stackLines(r, L);
  checkoutVsBareLines(r, L);
  timeLines(r, L);
  holdSeatsLines(r, L);
  codeLines(r, L);
  invariantLines(r, L);
  commandLines(r, L);
  return L.join("\n");
}

/** The title, the verdict and the headline. */
function titleLines(r: CheckoutBenchResult, L: string[]): void {
  L.push(`# Checkout benchmark ${r.startedAt}`);
  L.push("");
  L.push(
    `Run \`${r.runId}\`, ${r.durationSeconds} s, \`npm run bench:checkout\`. Verdict: **${r.ok ? "passed" : "FAILED"}**.`,
  );
  if (r.failures.length) {
    L.push("");
    for (const x of r.failures) L.push(`- ${x}`);
  }
  L.push("");
  L.push(`**Headline:** ${headline(r)}.`);
  L.push("");
}

/** ## Machine: the hardware, the code and what else ran meanwhile. */
function machineLines(r: CheckoutBenchResult, L: string[]): void {
  const m = r.machine;
  L.push("## Machine");
  L.push("");
  L.push("| | |");
  L.push("| --- | --- |");
  L.push(`| cores (nproc) | ${m.nproc} |`);
  L.push(`| CPU | ${m.cpuModel} |`);
  L.push(`| memory | ${m.memTotalMb} MB |`);
  L.push(`| kernel / Node | ${m.kernel} / ${m.node} |`);
  L.push(`| Redis | ${m.redis} |`);
  L.push(`| load average before / after | ${m.loadAvgBefore.join(" ")} / ${m.loadAvgAfter.join(" ")} |`);
  L.push(
    `| code | \`${r.source.commit.slice(0, 12)}\` (${r.source.note}${r.source.dirty.length ? `: ${r.source.dirty.join(", ")}` : ""}) |`,
  );
  L.push(
    `| other processes during the run | ${f(m.othersDuringRun.otherCores, 2)} cores on average over ${m.othersDuringRun.wallSeconds} s (sampled every 2 s from /proc; processes outside this bench's tree); up to ${f(maxRoundOther(r), 2)} cores in a measured round (busy CPU not used by the bench's processes: the "other" columns below) |`,
  );
  L.push("");
  const hogs = m.othersDuringRun.others.filter((o) => o.cores >= 0.1);
  if (hogs.length) {
    L.push(
      `> ⚠ Other processes used CPU during the run (${f(m.othersDuringRun.otherCores, 2)} of ${m.nproc} cores on average); the largest:`,
    );
    L.push("");
  }
  L.push("| pid | process (outside the bench) | CPU s during the run | average cores |");
  L.push("| ---: | --- | ---: | ---: |");
  for (const o of m.othersDuringRun.others)
    L.push(`| ${o.pid} | \`${esc(o.label)}\` | ${f(o.cpuSeconds, 1)} | ${f(o.cores, 3)} |`);
  L.push("");
  L.push("<details><summary>top processes when the bench started (ps, %CPU since each one's start)</summary>");
  L.push("");
  L.push("```");
  for (const p of m.topProcessesBefore) L.push(p.replace(/\/work\/main\//g, ""));
  L.push("```");
  L.push("</details>");
  L.push("");
}

/** ## Stack: the processes under test and the events. */
function stackLines(r: CheckoutBenchResult, L: string[]): void {
  L.push("## Stack");
  L.push("");
  const tdb =
    r.stack.temporal.db === "file"
      ? "SQLite file with `journal_mode=wal`, `synchronous=normal`"
      : r.stack.temporal.db === "memory"
        ? "in memory"
        : "external (TEMPORAL_ADDRESS)";
  L.push(`- Temporal dev server: ${tdb}; \`${r.stack.temporal.command}\``);
  L.push(
    `- API: \`${r.stack.apiCommand.replace(/\/tmp\/ticketing-bench-[A-Za-z0-9]+\//g, "")}\` with \`TEMPORAL_TASK_QUEUE=${r.stack.taskQueue}\`, \`PAYMENT_WINDOW_SECONDS\` default (${r.settings.paymentWindowSeconds} s)`,
  );
  L.push(`- worker: \`${r.stack.workerCommand}\``);
  L.push(
    `- bare worker: \`${r.stack.bareWorkerCommand}\` (bench/checkout-baseline/: \`bareCheckout\`, the checkout's current Temporal shape with empty activities${r.previousShape ? "; also `previousShapeCheckout`" : ""})`,
  );
  L.push(`- Redis, MariaDB: own instances on free ports (\`${r.stack.redisUrl}\`, \`${r.stack.mysqlUrl}\`)`);
  L.push(
    `- checkout event \`${r.events.checkout.eventId}\`: ${r.events.checkout.capacity.toLocaleString("en-US")} seats created by CreateEvent + OpenSale (MySQL and Redis; its hold sweeper runs on the worker's queue), ${r.events.checkout.seatsUsed.toLocaleString("en-US")} used; HoldSeats event \`${r.events.holds.eventId}\`: ${r.events.holds.capacity.toLocaleString("en-US")} seats loaded straight into Redis`,
  );
  L.push("");
}

/** ## 1: checkouts per second against the bare Temporal baseline. */
function checkoutVsBareLines(r: CheckoutBenchResult, L: string[]): void {
  const c = r.checkout;
  L.push("## 1. Checkouts per second vs the bare Temporal baseline");
  L.push("");
  L.push(
    `Each round: ${r.settings.checkouts} buyers at a concurrency of ${r.settings.concurrency}; a checkout buyer calls HoldSeats (1 or 2 seats, alternately), CreateOrder (\`tok_approve\`) and follows WatchOrder until a final state; ` +
      `rate = CONFIRMED / (first CreateOrder sent → last CONFIRMED seen). The bare baseline is the product checkout's current Temporal shape (${shapeOf(r)}: the payment window as the authorization's \`scheduleToCloseTimeout\`, then sellSeats, capturePayment and completeOrder as local activities) with empty activities. A bare workflow is started by Update-with-Start from the bench process's Temporal client (update returns after the first local activity) and awaited with \`result()\`; rate = completed / (first start → last completion). ` +
      `Rounds interleaved A B A B …, after a warm-up of ${r.settings.warmupCheckouts} of each (not tallied). Cores = CPU of each process over the round's wall time.`,
  );
  L.push("");
  L.push(
    "| round | kind | n | done | window s | per s | p50 ms | p90 ms | p99 ms | start call p50 / p99 ms | cores: Temporal / worker / bare worker / API / MariaDB / Redis / bench | other (rest of machine) |",
  );
  L.push("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |");
  const keys = ["temporal", "worker", "bareWorker", "api", "mysql", "redis", "bench"];
  for (let i = 0; i < c.rounds.length; i++) {
    const a = c.rounds[i]!;
    const b = c.bareRounds[i];
    L.push(
      `| ${a.round} | checkout | ${a.stats.buyers} | ${a.stats.confirmed} | ${f(a.stats.windowSeconds, 2)} | **${f(a.stats.rate, 2)}** | ${n0(a.stats.latencyMs.p50)} | ${n0(a.stats.latencyMs.p90)} | ${n0(a.stats.latencyMs.p99)} | CreateOrder ${n0(a.stats.createOrderMs.p50)} / ${n0(a.stats.createOrderMs.p99)} | ${coresCell(a.cpu, keys)} | ${f(a.cpu.otherCores, 2)} |`,
    );
    const bareRow = (kind: string, x: MeasuredBare) =>
      L.push(
        `| ${x.round} | ${kind} | ${x.stats.workflows} | ${x.stats.completed} | ${f(x.stats.windowSeconds, 2)} | **${f(x.stats.rate, 2)}** | ${n0(x.stats.latencyMs.p50)} | ${n0(x.stats.latencyMs.p90)} | ${n0(x.stats.latencyMs.p99)} | update-with-start ${n0(x.stats.updateMs.p50)} / ${n0(x.stats.updateMs.p99)} | ${coresCell(x.cpu, keys)} | ${f(x.cpu.otherCores, 2)} |`,
      );
    if (b) bareRow("bare", b);
    const pr = r.previousShape?.rounds[i];
    if (pr) bareRow("previous shape (comparison)", pr);
  }
  L.push("");
  L.push("| measure | checkout | bare | ratio |");
  L.push("| --- | ---: | ---: | ---: |");
  L.push(
    `| per second, median of ${c.rounds.length} | ${f(c.medianCheckoutRate, 2)} | ${f(c.medianBareRate, 2)} | **${f(c.medianRatio, 3)}** (median of the pairs ${c.pairRatios.join(", ")}; goal ≥ ${c.goal}: ${c.goalMet ? "met" : "**not met**"}) |`,
  );
  L.push(
    `| start → done p50 / p99, ms (median of rounds) | ${n0(c.medianCheckoutP50)} / ${n0(c.medianCheckoutP99)} | ${n0(c.medianBareP50)} / ${n0(c.medianBareP99)} | |`,
  );
  L.push(
    `| the starting call p50 / p99, ms (CreateOrder; update-with-start) | ${n0(c.medianCreateOrderP50)} / ${n0(c.medianCreateOrderP99)} | ${n0(c.medianBareUpdateP50)} / ${n0(c.medianBareUpdateP99)} | |`,
  );
  if (r.serial) {
    const sc = r.serial.checkout;
    const sb = r.serial.bare;
    L.push(
      `| one at a time (${r.settings.serial} each, concurrency 1): start → done p50 / p99, ms | ${n0(sc.latencyMs.p50)} / ${n0(sc.latencyMs.p99)} | ${n0(sb.latencyMs.p50)} / ${n0(sb.latencyMs.p99)} | |`,
    );
    L.push(
      `| one at a time: the starting call p50 / p99, ms | ${n0(sc.createOrderMs.p50)} / ${n0(sc.createOrderMs.p99)} | ${n0(sb.updateMs.p50)} / ${n0(sb.updateMs.p99)} | |`,
    );
  }
  if (r.previousShape) {
    const prev = r.previousShape;
    L.push("");
    L.push(
      `**Comparison, not a baseline — the previous shape** (\`previousShapeCheckout\` in bench/checkout-baseline/workflows.ts, the product checkout before 2e3c7da, same bare worker, no work inside): the payment-window timer around the authorization, each step its own local activity, capture as a normal activity: 5 local activities, 2 normal activities, a timer. ` +
        `Median ${f(prev.medianRate, 2)}/s, previous / bare **${f(prev.medianRatioToBare, 3)}** (pairs ${prev.pairRatiosToBare.join(", ")}), p50 / p99 ${n0(prev.medianP50)} / ${n0(prev.medianP99)} ms` +
        (r.serial?.previousShape
          ? `, one at a time p50 ${n0(r.serial.previousShape.latencyMs.p50)} ms (bare ${n0(r.serial.bare.latencyMs.p50)} ms)`
          : "") +
        `; CPU per workflow: Temporal ${f(prev.cpuMsPerWorkflow.temporal, 1)} ms, worker ${f(prev.cpuMsPerWorkflow.bareWorker, 1)} ms (bare: ${f(c.cpuMsPerBare.temporal, 1)} / ${f(c.cpuMsPerBare.bareWorker, 1)} ms).`,
    );
  }
  L.push("");
}

/** ## Where the checkout's time goes: CPU by process, wall time from the histories. */
function timeLines(r: CheckoutBenchResult, L: string[]): void {
  const c = r.checkout;
  const m = r.machine;
  L.push("## Where the checkout's time goes");
  L.push("");
  L.push("CPU per checkout (per CONFIRMED order) and per bare workflow, by process, median of the rounds:");
  L.push("");
  L.push(
    "| process | CPU ms per checkout | cores during checkout rounds | CPU ms per bare workflow | cores during bare rounds |",
  );
  L.push("| --- | ---: | ---: | ---: | ---: |");
  for (const k of PROC_ORDER) {
    if (c.cpuMsPerCheckout[k] === undefined && c.cpuMsPerBare[k] === undefined) continue;
    L.push(
      `| ${PROC_NAME[k] ?? k} | ${f(c.cpuMsPerCheckout[k], 2)} | ${f(c.coresCheckout[k], 2)} | ${f(c.cpuMsPerBare[k], 2)} | ${f(c.coresBare[k], 2)} |`,
    );
  }
  const sum = (x: Record<string, number>) => PROC_ORDER.reduce((a, k) => a + (fin(x[k]) ? x[k]! : 0), 0);
  const sc = sum(c.cpuMsPerCheckout);
  const sb = sum(c.cpuMsPerBare);
  L.push(`| **sum** (the stack's CPU per item) | **${f(sc, 1)}** | | **${f(sb, 1)}** | |`);
  L.push(
    `| CPU-bound ceiling on ${m.nproc} cores (cores ÷ sum) | ${f((m.nproc * 1000) / sc, 1)}/s | | ${f((m.nproc * 1000) / sb, 1)}/s | ratio of the ceilings ${f(sb / sc, 3)} (measured ${f(c.medianRatio, 3)}) |`,
  );
  L.push(`| whole machine (busy cores) | | ${f(c.coresCheckout.machine, 2)} | | ${f(c.coresBare.machine, 2)} |`);
  L.push(`| of which outside the bench | | ${f(c.coresCheckout.other, 2)} | | ${f(c.coresBare.other, 2)} |`);
  L.push("");
  const hs: [string, HistorySummary | undefined][] = [
    [`checkout, ${r.settings.concurrency} at a time`, r.histories.checkout],
    [`bare, ${r.settings.concurrency} at a time`, r.histories.bare],
    ["checkout, one at a time", r.histories.serialCheckout],
    ["bare, one at a time", r.histories.serialBare],
    [`previous shape, ${r.settings.concurrency} at a time`, r.histories.previousShape],
    ["previous shape, one at a time", r.histories.serialPreviousShape],
  ];
  const cols = hs.filter((x): x is [string, HistorySummary] => x[1] !== undefined);
  L.push(
    `Wall time of one workflow from its Temporal history (per column the median of ${cols.map(([, x]) => x.sampled).join(" / ")} sampled workflows; the loaded ones from the last measured round): workflow tasks wait in the task queue (scheduled → started), then run in the worker (started → completed; **local activities run inside these**), normal activities wait and run; "other" is the rest (the server persisting and dispatching between tasks). Medians do not add up exactly.`,
  );
  L.push("");
  L.push(`| per workflow | ${cols.map(([n]) => n).join(" | ")} |`);
  L.push(`| --- | ${cols.map(() => "---:").join(" | ")} |`);
  const row = (label: string, g: (x: HistorySummary) => string) =>
    L.push(`| ${label} | ${cols.map(([, x]) => g(x)).join(" | ")} |`);
  row("history events", (x) => String(x.events));
  row("started → completed, ms", (x) => f(x.totalMs));
  row("workflow tasks", (x) => String(x.workflowTasks));
  row("workflow tasks waiting in the queue, ms", (x) => f(x.wftQueueMs));
  row("workflow tasks running in the worker (incl. local activities), ms", (x) => f(x.wftRunMs));
  row("normal activities", (x) => String(x.activities));
  row("normal activities waiting in the queue, ms", (x) => f(x.activityQueueMs));
  row("normal activities running, ms", (x) => f(x.activityRunMs));
  row("other (server between tasks), ms", (x) => f(x.otherMs));
  row("timers started", (x) => String(x.timers));
  row("markers (local activities, patches)", (x) => String(x.markers));
  for (const name of [...new Set(cols.flatMap(([, x]) => Object.keys(x.perActivity)))]) {
    row(`${name}: queue / run, ms`, (x) =>
      x.perActivity[name] ? `${f(x.perActivity[name].queueMs)} / ${f(x.perActivity[name].runMs)}` : "–",
    );
  }
  L.push("");
}

/** ## 2: HoldSeats with and without checkouts, and the goal's CPU budget. */
function holdSeatsLines(r: CheckoutBenchResult, L: string[]): void {
  const c = r.checkout;
  const h = r.holds;
  const m = r.machine;
  L.push("## 2. HoldSeats with and without checkouts");
  L.push("");
  L.push(
    `ghz HoldSeats (${r.settings.holdN.toLocaleString("en-US")} calls per round, first ${r.settings.holdSkip} skipped, concurrency ${r.settings.ghzConcurrency}, ${r.settings.connections} connections, \`--cpus ${r.settings.ghzCpus}\`), every call 2 seats of its own on the Redis-only event; rounds interleaved idle, loaded, …. ` +
      `In a loaded round checkout buyers (concurrency ${r.settings.concurrency}) start ${r.settings.loadRampMs} ms before ghz and keep going until it ends; the buyers in flight then finish.`,
  );
  L.push("");
  L.push(
    "| round | mode | calls/s | p50 ms | p99 ms | codes (tallied) | ghz CPU | API CPU µs/call | cores: API / Temporal / worker / Redis | other | checkouts CONFIRMED during ghz (per s) | their CreateOrder → CONFIRMED p50 / p99 ms |",
  );
  L.push("| ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | --- | --- |");
  for (const x of h.rounds) {
    const s = x.ghz.summary;
    L.push(
      `| ${x.round} | ${x.loaded ? "with checkouts" : "idle"} | **${n0(s?.rps)}** | ${f(s?.latencyMs.p50, 2)} | ${f(s?.latencyMs.p99, 2)} | ${codes(s?.codes)} | ${pct(x.ghz.cpuCores)}${x.ghz.cpuCores > 0.7 ? " ⚠" : ""} | ${f(x.apiUsPerCall, 1)} | ${coresCell(x.cpu, ["api", "temporal", "worker", "redis"])} | ${f(x.cpu.otherCores, 2)} | ${x.loaded ? `${x.checkoutsDuringGhz} (${f(x.checkoutRateDuringGhz, 2)}/s)` : "–"} | ${x.checkoutLatencyDuringGhzMs ? `${n0(x.checkoutLatencyDuringGhzMs.p50)} / ${n0(x.checkoutLatencyDuringGhzMs.p99)}` : "–"} |`,
    );
  }
  L.push("");
  L.push(
    `Median HoldSeats idle ${n0(h.medianIdleRps)}/s, with checkouts ${n0(h.medianLoadedRps)}/s: ratio **${f(h.medianRatio, 3)}** (median of the pairs ${h.pairRatios.join(", ")}; goal ≥ ${h.goal}: ${h.goalMet ? "met" : "**not met**"}). Checkouts meanwhile: median ${f(h.medianCheckoutRateDuringGhz, 2)}/s (alone: ${f(c.medianCheckoutRate, 2)}/s${h.checkoutRateDuringGhzToAlone !== undefined ? `: ${f(h.checkoutRateDuringGhzToAlone, 2)} of it` : ""})${h.medianCheckoutP50DuringGhz !== undefined ? `, CreateOrder → CONFIRMED p50 / p99 ${n0(h.medianCheckoutP50DuringGhz)} / ${n0(h.medianCheckoutP99DuringGhz)} ms (max ${n0(h.maxCheckoutLatencyDuringGhz)} ms; alone ${n0(c.medianCheckoutP50)} / ${n0(c.medianCheckoutP99)} ms)` : ""}. ` +
      `Workers and Temporal at nice ${r.settings.workerNice ?? 0}${
        r.stack.niceness
          ? ` (seen: ${Object.entries(r.stack.niceness)
              .map(([k, v]) => `${k} ${v ? v.nice : "-"}${v?.autogroup !== undefined ? `/${v.autogroup}` : ""}`)
              .join(", ")}; nice / autogroup nice)`
          : ""
      }. ` +
      `API CPU per HoldSeats call idle / loaded: ${f(h.medianApiUsPerCallIdle, 1)} / ${f(h.medianApiUsPerCallLoaded, 1)} µs (loaded includes the API's share of the checkouts): CPU-derived ratio **${f(h.cpuRatio, 3)}**, what the ratio would be if the API kept a core to itself.`,
  );
  {
    // The goal's CPU budget: HoldSeats alone keeps every core of this machine busy
    // (ghz, API, Redis), so checkouts may take at most (1 - goal) of them.
    const stackMs = PROC_ORDER.reduce((a, k) => a + (fin(c.cpuMsPerCheckout[k]) ? c.cpuMsPerCheckout[k]! : 0), 0);
    const idleBusy = h.rounds
      .filter((x) => !x.loaded)
      .map((x) => x.cpu.machineBusyCores)
      .sort((a, b) => a - b);
    const idleBusyMedian = idleBusy[Math.floor(idleBusy.length / 2)];
    const budgetCores = (1 - h.goal) * (idleBusyMedian ?? m.nproc);
    L.push("");
    L.push(
      `CPU budget of the goal: HoldSeats alone kept ${f(idleBusyMedian, 2)} of the ${m.nproc} cores busy (median of the idle rounds; ghz, API and Redis share them). ` +
        `If the hold rate follows the CPU it gets, keeping ${pct(h.goal)} of it leaves checkouts ${f(budgetCores, 2)} cores; the cores HoldSeats leaves idle do not add to that, since its pipeline is bound by latency (see the API CPU per call idle / loaded above). ` +
        `At the ${f(stackMs, 1)} ms of CPU one checkout costs the stack (section "Where the checkout's time goes"), that is at most **${f((budgetCores * 1000) / stackMs, 1)} checkouts/s**, against the ${f(h.medianCheckoutRateDuringGhz, 2)}/s the loaded rounds ran.`,
    );
  }
  if (h.generatorLimited)
    L.push(`\n> ⚠ ghz used more than 70 % of a core in some round: the generator competed with the server for CPU.`);
  L.push("");
}

/** ## Calls by gRPC code. */
function codeLines(r: CheckoutBenchResult, L: string[]): void {
  L.push("## Calls by gRPC code");
  L.push("");
  L.push("Every call of the run (warm-up and loaded rounds included):");
  L.push("");
  L.push("| call | codes |");
  L.push("| --- | --- |");
  for (const [name, cs] of Object.entries(callCodes(r))) L.push(`| ${name} | ${codes(cs)} |`);
  L.push("");
}

/** ## Invariants, one table per group. */
function invariantLines(r: CheckoutBenchResult, L: string[]): void {
  L.push("## Invariants (after the run)");
  L.push("");
  for (const g of r.invariants.groups) {
    L.push(`### ${g.group}`);
    L.push("");
    L.push("| check | result | detail |");
    L.push("| --- | --- | --- |");
    for (const x of g.checks) L.push(`| ${x.name} | ${x.ok ? "ok" : "**BROKEN**"} | ${esc(x.detail)} |`);
    L.push("");
  }
}

/** ## Command lines. */
function commandLines(r: CheckoutBenchResult, L: string[]): void {
  const h = r.holds;
  L.push("## Command lines");
  L.push("");
  L.push("```sh");
  L.push("npm run bench:checkout   # node --import tsx bench/checkout.ts");
  L.push(`# Temporal:\n${r.stack.temporal.command}`);
  L.push(`# API:\n${r.stack.apiCommand.replace(/\/tmp\/ticketing-bench-[A-Za-z0-9]+\//g, "")}`);
  L.push(`# worker:\n${r.stack.workerCommand}`);
  L.push(`# bare worker:\n${r.stack.bareWorkerCommand}`);
  const g = h.rounds[0]?.ghz.command;
  if (g) L.push(`# HoldSeats (ghz), one round:\n${g.replace(/\/tmp\/ticketing-bench-[A-Za-z0-9]+\//g, "")}`);
  L.push("```");
  L.push("");
  L.push(`Settings: \`${JSON.stringify(r.settings)}\``);
  L.push("");
}

/** The largest share of the machine used by processes outside the bench in any measured round. */
export function maxRoundOther(r: CheckoutBenchResult): number {
  const cpus = [
    ...r.checkout.rounds.map((x) => x.cpu),
    ...r.checkout.bareRounds.map((x) => x.cpu),
    ...(r.previousShape?.rounds ?? []).map((x) => x.cpu),
    ...r.holds.rounds.map((x) => x.cpu),
  ];
  return Math.max(0, ...cpus.map((c) => c.otherCores));
}

export function writeCheckoutReports(r: CheckoutBenchResult, stamp: string): string[] {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const base = path.join(RESULTS_DIR, `checkout-${stamp}`);
  const json = JSON.stringify(
    r,
    (_key, value: unknown) =>
      typeof value === "string"
        ? value.replace(/\/tmp\/ticketing-bench-[A-Za-z0-9]+\//g, "").replace(`${repoRoot}/`, "")
        : value,
    2,
  );
  fs.writeFileSync(`${base}.json`, `${json}\n`);
  fs.writeFileSync(`${base}.md`, markdown(r));
  writeCheckoutIndex();
  return [`${base}.json`, `${base}.md`, INDEX];
}

export function writeCheckoutIndex(): void {
  const runs = readRuns<CheckoutBenchResult>("checkout");
  let notes = "";
  if (fs.existsSync(INDEX)) {
    const old = fs.readFileSync(INDEX, "utf8");
    const i = old.indexOf(NOTES_MARK);
    if (i >= 0) notes = old.slice(i + NOTES_MARK.length).replace(/^\n+/, "");
  }
  const L: string[] = [];
  L.push("# Checkout benchmark results");
  L.push("");
  L.push(
    "How we measure: [`docs/BENCHMARKING.md`](../docs/BENCHMARKING.md). Regenerated by `npm run bench:checkout` (`bench/checkout.ts`) from the raw `bench/results/checkout-*.json` of the runs made here (not committed; rows of runs made elsewhere are kept); the notes at the end are kept.",
  );
  L.push("");
  const latest = runs[0];
  if (latest) {
    const r = latest.r;
    const c = r.checkout;
    const h = r.holds;
    const md = latest.file.replace(/\.json$/, ".md");
    L.push(`## Latest: [${md}](results/${md})`);
    L.push("");
    L.push(
      `${r.startedAt}, code at \`${r.source.commit.slice(0, 12)}\`${r.source.dirty.length ? " + uncommitted edits" : ""}, ${r.machine.nproc} cores (${r.machine.cpuModel}), load ${r.machine.loadAvgBefore.join(" ")} at start, ${f(r.machine.othersDuringRun.otherCores, 2)} cores used by other processes on average during the run (up to ${f(maxRoundOther(r), 2)} in a round: see the "other" column of the report); Temporal dev server ${r.stack.temporal.db === "file" ? "on SQLite (WAL)" : r.stack.temporal.db}${r.settings.temporalArgs ? ` with \`${r.settings.temporalArgs}\`` : ""}; verdict **${r.ok ? "passed" : "FAILED"}**.`,
    );
    L.push("");
    L.push("| measure | value |");
    L.push("| --- | --- |");
    L.push(
      `| checkouts/s (HoldSeats → CreateOrder → CONFIRMED), median of ${c.rounds.length} | ${f(c.medianCheckoutRate, 2)} |`,
    );
    L.push(
      `| bare workflows/s (the checkout's Temporal shape, ${shapeOf(r)}; no work), median of ${c.bareRounds.length} | ${f(c.medianBareRate, 2)} |`,
    );
    L.push(
      `| **checkout / bare** (median of interleaved pairs) | **${f(c.medianRatio, 3)}** (goal ≥ ${c.goal}: ${c.goalMet ? "met" : "not met"}) |`,
    );
    L.push(`| CreateOrder → CONFIRMED p50 / p99 | ${n0(c.medianCheckoutP50)} / ${n0(c.medianCheckoutP99)} ms |`);
    L.push(`| bare start → completed p50 / p99 | ${n0(c.medianBareP50)} / ${n0(c.medianBareP99)} ms |`);
    L.push(`| CreateOrder call itself p50 / p99 | ${n0(c.medianCreateOrderP50)} / ${n0(c.medianCreateOrderP99)} ms |`);
    if (r.serial)
      L.push(
        `| one at a time (concurrency 1) p50: checkout / bare | ${n0(r.serial.checkout.latencyMs.p50)} / ${n0(r.serial.bare.latencyMs.p50)} ms |`,
      );
    L.push(
      `| CPU ms per checkout: Temporal / worker / API / MariaDB / Redis | ${["temporal", "worker", "api", "mysql", "redis"].map((k) => f(c.cpuMsPerCheckout[k], 1)).join(" / ")} |`,
    );
    L.push(
      `| CPU ms per bare workflow: Temporal / bare worker | ${f(c.cpuMsPerBare.temporal, 1)} / ${f(c.cpuMsPerBare.bareWorker, 1)} |`,
    );
    if (r.previousShape)
      L.push(
        `| comparison: previous shape (window timer, 5 local + 2 normal) / bare, median of pairs | ${f(r.previousShape.medianRatioToBare, 3)} (${f(r.previousShape.medianRate, 2)}/s; CPU ms Temporal / worker ${f(r.previousShape.cpuMsPerWorkflow.temporal, 1)} / ${f(r.previousShape.cpuMsPerWorkflow.bareWorker, 1)}) |`,
      );
    L.push(
      `| HoldSeats idle / with checkouts, median of ${h.rounds.length / 2} | ${n0(h.medianIdleRps)} / ${n0(h.medianLoadedRps)} calls/s |`,
    );
    L.push(
      `| **HoldSeats with / without checkouts** (median of pairs) | **${f(h.medianRatio, 3)}** (goal ≥ ${h.goal}: ${h.goalMet ? "met" : "not met"}); CPU-derived (API µs per call idle / loaded) ${f(h.cpuRatio, 3)} |`,
    );
    L.push(`| worker, bare worker and Temporal niceness (WORKER_NICE) | ${r.settings.workerNice ?? 0} |`);
    L.push(
      `| checkouts while ghz ran (loaded rounds): checkouts/s, vs alone | ${f(h.medianCheckoutRateDuringGhz, 2)}/s vs ${f(c.medianCheckoutRate, 2)}/s${h.checkoutRateDuringGhzToAlone !== undefined ? ` (${f(h.checkoutRateDuringGhzToAlone, 2)})` : ""} |`,
    );
    if (h.medianCheckoutP50DuringGhz !== undefined)
      L.push(
        `| checkouts while ghz ran: CreateOrder → CONFIRMED p50 / p99 (max) | ${n0(h.medianCheckoutP50DuringGhz)} / ${n0(h.medianCheckoutP99DuringGhz)} ms (${n0(h.maxCheckoutLatencyDuringGhz)} ms) |`,
      );
    L.push(
      `| Invariants (every order final, CAPTURED = CONFIRMED, no seat sold twice, Redis = MySQL, one ticket per seat, every call accounted for) | ${r.invariants.ok ? "ok" : "**BROKEN**"} |`,
    );
    L.push("");
  }
  L.push("## All runs");
  L.push("");
  L.push(
    "| run | code | machine | Temporal DB | shape (checkout and bare) | nice | checkouts/s | bare/s | ratio | p50/p99 ms | HoldSeats idle → loaded/s | ratio | checkouts/s during ghz (p50 ms) | invariants | report |",
  );
  L.push("| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- | ---: | --- | --- | --- |");
  const firstRow = L.length;
  for (const { file, r } of runs) {
    const c = r.checkout;
    const h = r.holds;
    const md = file.replace(/\.json$/, ".md");
    L.push(
      `| ${r.startedAt} | ${r.source.commit.slice(0, 7)}${r.source.dirty.length ? "+dirty" : ""} | ${r.machine.nproc} cores, load ${r.machine.loadAvgBefore[0]}, others ${f(r.machine.othersDuringRun.otherCores, 2)} (max ${f(maxRoundOther(r), 2)} in a round) | ${r.stack.temporal.db}${r.settings.temporalArgs ? ` + \`${r.settings.temporalArgs.replace(/--dynamic-config-value /g, "")}\`` : ""} | ${shapeOf(r)} | ${r.settings.workerNice ?? 0} | ${f(c.medianCheckoutRate, 2)} | ${f(c.medianBareRate, 2)} | ${f(c.medianRatio, 3)} | ${n0(c.medianCheckoutP50)} / ${n0(c.medianCheckoutP99)} | ${n0(h.medianIdleRps)} → ${n0(h.medianLoadedRps)} | ${f(h.medianRatio, 3)} | ${f(h.medianCheckoutRateDuringGhz, 2)}${h.medianCheckoutP50DuringGhz !== undefined ? ` (${n0(h.medianCheckoutP50DuringGhz)})` : ""} | ${r.invariants.ok ? "ok" : "BROKEN"} | [md](results/${md}) |`,
    );
  }
  L.push(
    ...withEarlierRuns(
      INDEX,
      "checkout",
      runs.map((x) => x.file),
      L.splice(firstRow),
    ),
  );
  L.push("");
  L.push(NOTES_MARK);
  L.push("");
  if (notes) L.push(notes.trimEnd());
  L.push("");
  fs.writeFileSync(INDEX, L.join("\n"));
}
