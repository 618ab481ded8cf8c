// Reports of `bench:scaling`: results/scaling-<timestamp>.{json,md,html} (the
// HTML with charts from ./charts.ts) and bench/SCALING-RESULTS.md (the latest
// run and every run's headline figures, regenerated from the JSON files; the
// notes at its end are kept).
import fs from "node:fs";
import path from "node:path";
import { repoRoot } from "../../tools/devstack/stack.js";
import type { RoundSeries } from "./charts.js";
import type { GhzRun } from "./ghz.js";
import type { Check } from "./invariants.js";
import type { ProcDelta } from "./scaling-procs.js";
import type { BenchStack } from "./stack.js";
import type { MachineInfo, SourceInfo } from "./sys.js";
import { barChart, esc, htmlPage, htmlTable, roundCharts } from "./charts.js";
import { round } from "./stats.js";
import { BENCH_DIR, RESULTS_DIR, readRuns, withEarlierRuns } from "./results.js";

/** The knobs of a run (bench/scaling.ts reads them from the environment). */
export interface ScalingSettings {
  n: number;
  rounds: number;
  concurrency: number;
  connections: number;
  skipFirst: number;
  warmupCalls: number;
  processes: number;
  ghzCpus: number;
  ghzGogc: number;
  ghzCpuFlag: number;
}

export type Call = "Noop" | "HoldSeats";

export interface ScalingRound {
  phase: "warmup" | "throughput";
  round: number;
  call: Call;
  n: number;
  ghz: GhzRun;
  /** Calls sent, including ghz's --skipFirst warm-up. */
  sent: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  codes: Record<string, number>;
  /** Node CPU of the API's whole tree (primary + workers) over the round. */
  apiCpuSeconds: number;
  apiCpuUsPerCall: number;
  apiCores: number;
  /** Bytes written by the tree per call sent: equal across N when every call is counted once. */
  apiWriteBytesPerCall: number;
  procs: ProcDelta[];
  /** Largest worker share of the workers' CPU ÷ the even share 1/N (1 = perfectly even). */
  workerCpuImbalance?: number;
  workerCallImbalance?: number;
  /** CPU of the other API (idle during this round): should be ~0. */
  idleApiCores: number;
  redisCpuUsPerCall: number;
  redisCores: number;
  holdsCreated?: number;
  machineBusyCores: number;
  otherCores: number;
  ghzCpuOverFlag: boolean;
  series?: RoundSeries;
}

export interface PerN {
  n: number;
  medianHoldRps: number;
  medianNoopRps: number;
  medianApiUsPerHold: number;
  medianApiUsPerNoop: number;
  medianApiCoresHold: number;
  medianApiCoresNoop: number;
  /** Median over rounds of the largest worker's share of the workers' CPU (HoldSeats and Noop rounds). */
  medianMaxWorkerCpuShare?: number;
  medianMaxWorkerCallShare?: number;
}

export interface ScalingResult {
  kind: "scaling";
  schema: 1;
  runId: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  ok: boolean;
  failures: string[];
  headline: string;
  /** The command line that ran it, with the BENCH_* knobs set. */
  command: string;
  settings: ScalingSettings;
  source: SourceInfo;
  machine: MachineInfo & { redis: string; loadAvgAfter: number[] };
  stack: {
    own: BenchStack["own"];
    pids: Record<string, number>;
    redisUrl: string;
    mysqlUrl: string;
    temporalAddress: string;
  };
  apis: { n: number; label: string; address: string; pid: number; workers: number[]; command: string }[];
  event: { eventId: string; capacity: number; layout: string };
  warmup: ScalingRound[];
  rounds: ScalingRound[];
  perN: PerN[];
  /** Per round pair: N / 1 throughput, and its median. */
  holdRatios: number[];
  noopRatios: number[];
  medianHoldRatio: number;
  medianNoopRatio: number;
  /** Median API CPU per call, N / 1 (1 = a request costs the same Node CPU either way). */
  holdCpuPerCallRatio: number;
  noopCpuPerCallRatio: number;
  generatorLimited: boolean;
  checks: Check[];
  ok_invariants: boolean;
}

const NOTES_MARKER = "## Notes";

const f = (x: number | undefined, d = 0) =>
  x === undefined || !Number.isFinite(x) ? "–" : round(x, d).toLocaleString("en-US");
const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "–" : `${round(x * 100, 1)} %`);

export function scalingCommand(): string {
  const env = Object.entries(process.env)
    .filter(([k]) => /^BENCH_/.test(k) && k !== "BENCH_SOURCE_COMMIT")
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return `${env ? `${env} ` : ""}npm run bench:scaling`;
}

function mdTable(head: string[], rows: (string | number)[][]): string {
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

const SUMMARY_HEAD = [
  "N (API processes)",
  "HoldSeats calls/s",
  "Noop calls/s",
  "Node CPU µs per HoldSeats",
  "Node CPU µs per Noop",
  "API cores (HoldSeats)",
  "API cores (Noop)",
  "busiest worker: CPU share",
  "busiest worker: call share",
];

function summaryRows(r: ScalingResult): (string | number)[][] {
  return r.perN.map((p) => [
    `N=${p.n}`,
    f(p.medianHoldRps),
    f(p.medianNoopRps),
    f(p.medianApiUsPerHold, 1),
    f(p.medianApiUsPerNoop, 1),
    f(p.medianApiCoresHold, 2),
    f(p.medianApiCoresNoop, 2),
    p.medianMaxWorkerCpuShare === undefined
      ? "one process"
      : `${pct(p.medianMaxWorkerCpuShare)} (even: ${pct(1 / p.n)})`,
    p.medianMaxWorkerCallShare === undefined ? "one process" : pct(p.medianMaxWorkerCallShare),
  ]);
}

const ROUND_HEAD = [
  "round",
  "call",
  "N",
  "calls/s",
  "p50 ms",
  "p99 ms",
  "Node µs/call",
  "API cores",
  "per process: CPU s (share of tree)",
  "workers: share of calls",
  "bytes written/call",
  "ghz % core",
  "Redis % core",
  "Redis µs/call",
  "idle API cores",
  "machine busy cores",
  "other cores",
];

function procCell(x: ScalingRound): string {
  return x.procs
    .map((p) => `${p.role === "single" ? "" : `${p.role[0]}${p.pid} `}${f(p.cpuSeconds, 2)} (${pct(p.cpuShare)})`)
    .join(", ");
}

function roundRows(rs: ScalingRound[]): (string | number)[][] {
  return rs.map((x) => [
    `${x.phase === "warmup" ? "warm-up" : x.round}`,
    x.call,
    `N=${x.n}`,
    f(x.rps),
    f(x.p50Ms, 2),
    f(x.p99Ms, 2),
    f(x.apiCpuUsPerCall, 1),
    f(x.apiCores, 2),
    procCell(x),
    x.procs.some((p) => p.role === "worker")
      ? x.procs
          .filter((p) => p.role === "worker")
          .map((p) => pct(p.workerCallShare))
          .join(" / ")
      : "–",
    f(x.apiWriteBytesPerCall),
    `${f(x.ghz.cpuCores * 100)}${x.ghzCpuOverFlag ? " **(>70 %)**" : ""}`,
    f(x.redisCores * 100),
    f(x.redisCpuUsPerCall, 1),
    f(x.idleApiCores, 3),
    f(x.machineBusyCores, 2),
    f(x.otherCores, 2),
  ]);
}

/** What the figures say on this machine; the same words in the md and the HTML. */
function reading(r: ScalingResult): string[] {
  const [p1, pN] = [r.perN[0]!, r.perN[1]!];
  const n = pN.n;
  const primaryShare = median(
    r.rounds.filter((x) => x.n === n).map((x) => x.procs.find((p) => p.role === "primary")?.cpuShare ?? NaN),
  );
  const out: string[] = [];
  out.push(
    `This machine has ${r.machine.nproc} cores, shared by ghz (limited to ${r.settings.ghzCpus || "all"} core${r.settings.ghzCpus === 1 ? "" : "s"}), Redis, the API under test and whatever else ran (the "other cores" column). ` +
      `N=${n} API processes cannot double the throughput here: there is no idle core for a second worker to use, so the ratio measures how much the cluster costs or gains under the same CPU budget, not how it scales on a machine with a core per worker.`,
  );
  out.push(
    `Node CPU per call is the figure that carries over to a bigger machine: HoldSeats ${f(p1.medianApiUsPerHold, 1)} µs with one process, ${f(pN.medianApiUsPerHold, 1)} µs summed over the primary and ${n} workers (×${f(r.holdCpuPerCallRatio, 2)}); Noop ${f(p1.medianApiUsPerNoop, 1)} → ${f(pN.medianApiUsPerNoop, 1)} µs (×${f(r.noopCpuPerCallRatio, 2)}). ` +
      (r.holdCpuPerCallRatio <= 1.1
        ? `A call costs about the same Node CPU in either setup, so with a free core per worker the cluster's capacity would grow with N until Redis (one core, ${f(median(r.rounds.filter((x) => x.call === "HoldSeats").map((x) => x.redisCpuUsPerCall)), 1)} µs per hold here) or the network becomes the limit.`
        : `A call costs more Node CPU in the cluster, and not because of the primary (it used ${pct(primaryShare)} of the tree's CPU: it only accepts the connections). Likely causes, not measured apart here: each worker sees half the calls, so fewer replies and Redis commands share a write per event-loop turn, and ${n} busy processes on cores already shared switch and miss caches more. So N processes on N free cores would give less than N times one process, by about this factor.`),
  );
  const busyOthers = median(r.rounds.map((x) => x.otherCores));
  const gained = pN.medianApiCoresHold / p1.medianApiCoresHold;
  if (gained > 1.1) {
    out.push(
      `Where N=${n}'s throughput comes from: the cluster got more CPU, not a free core. Other work used a median ${f(busyOthers, 2)} cores during the rounds, and the API got ${f(p1.medianApiCoresHold, 2)} cores as one process but ${f(pN.medianApiCoresHold, 2)} as ${n} (HoldSeats): ${n} runnable processes win more time slices against the rest of the machine. A throughput ratio above 1 here is that, at a higher CPU cost per call; it is not a measure of parallel speed-up.`,
    );
  }
  if (pN.medianMaxWorkerCpuShare !== undefined) {
    out.push(
      `Load balance: the busiest of the ${n} workers did ${pct(pN.medianMaxWorkerCpuShare)} of the workers' CPU and about ${pct(pN.medianMaxWorkerCallShare)} of the calls (median over rounds; ${pct(1 / n)} is even). node:cluster hands out connections, not calls: with ${r.settings.connections} ghz connections each worker gets ${r.settings.connections / n}, and a client with fewer connections than workers would leave some idle.`,
    );
  }
  if (r.generatorLimited)
    out.push(
      "ghz used more than 70 % of a core in some rounds (flagged in the table): in those rounds the generator, not the server, may have set the rate.",
    );
  return out;
}

function median(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

function intro(r: ScalingResult): string {
  return `${r.startedAt}, ${f(r.durationSeconds / 60, 1)} min, \`${r.command}\`; code at \`${r.source.commit.slice(0, 12)}\` (${r.source.note}); ${r.machine.nproc} cores (${r.machine.cpuModel}), load ${r.machine.loadAvgBefore.join(" ")} at start and ${r.machine.loadAvgAfter.join(" ")} at the end: the machine was shared with other work. Verdict **${r.ok ? "passed" : "FAILED"}**.`;
}

function markdown(r: ScalingResult, htmlName: string): string {
  const L: string[] = [];
  const n = r.perN[1]!.n;
  L.push(`# Scaling: API_PROCESSES=${n} vs 1, ${r.startedAt}`);
  L.push("");
  L.push(intro(r));
  L.push("");
  L.push(`Charts: \`${htmlName}\` (raw output, not committed: the bench writes it beside this report).`);
  L.push("");
  L.push("## Summary (medians over rounds)");
  L.push("");
  L.push(mdTable(SUMMARY_HEAD, summaryRows(r)));
  L.push("");
  L.push(
    `N=${n} ÷ N=1, per round pair then median: **HoldSeats ${f(r.medianHoldRatio, 3)}** (${r.holdRatios.join(", ")}), **Noop ${f(r.medianNoopRatio, 3)}** (${r.noopRatios.join(", ")}). Node CPU per call N=${n} ÷ N=1: HoldSeats ${f(r.holdCpuPerCallRatio, 3)}, Noop ${f(r.noopCpuPerCallRatio, 3)}.`,
  );
  L.push("");
  L.push("## What this shows");
  L.push("");
  for (const p of reading(r)) L.push(`- ${p}`);
  L.push("");
  L.push("## Setup");
  L.push("");
  L.push(
    `- Two APIs side by side, same Redis, MariaDB and Temporal; rounds interleave (HoldSeats on both, then Noop on both; which N goes first alternates by round), ${r.settings.rounds} rounds of ${f(r.settings.n)} calls (first ${f(r.settings.skipFirst)} untallied), concurrency ${r.settings.concurrency}, ${r.settings.connections} connections, ghz \`--cpus ${r.settings.ghzCpus}\`, GOGC ${r.settings.ghzGogc}; a warm-up of ${f(r.settings.warmupCalls)} Noop and HoldSeats calls per API first.`,
  );
  for (const a of r.apis)
    L.push(
      `- ${a.label}: \`${a.command}\` (pid ${a.pid}${a.workers.length ? `, workers ${a.workers.join(", ")}` : ""})`,
    );
  L.push(
    `- HoldSeats: event \`${r.event.eventId}\` (${f(r.event.capacity)} seats, ${r.event.layout}), each call holds 2 seats no other call names.`,
  );
  L.push(
    `- Node CPU: utime+stime from /proc of the primary and of each worker (its children), summed over the round, ÷ calls sent. Call share per worker: its share of the workers' bytes written (/proc/<pid>/io wchar), since every call writes the same bytes; "bytes written/call" equal across N confirms it. "idle API cores": the API not under test, which should be near 0.`,
  );
  L.push("");
  L.push("## Rounds");
  L.push("");
  L.push(mdTable(ROUND_HEAD, roundRows([...r.warmup, ...r.rounds])));
  L.push("");
  L.push("p = primary, w = worker (by PID).");
  L.push("");
  L.push("## Invariants");
  L.push("");
  for (const c of r.checks) L.push(`- ${c.ok ? "ok" : "**BROKEN**"} — ${c.name}: ${c.detail}`);
  if (r.failures.length) {
    L.push("");
    L.push("## Failures");
    L.push("");
    for (const x of r.failures) L.push(`- ${x}`);
  }
  L.push("");
  L.push("## Machine");
  L.push("");
  L.push(
    `${r.machine.hostname}, ${r.machine.kernel}, Node ${r.machine.node}, Redis ${r.machine.redis}, ${f(r.machine.memTotalMb)} MB. Busiest processes at start:`,
  );
  L.push("");
  L.push("```");
  for (const x of r.machine.topProcessesBefore) L.push(x);
  L.push("```");
  L.push("");
  return L.join("\n");
}

function html(r: ScalingResult): string {
  const n = r.perN[1]!.n;
  const B: string[] = [];
  B.push(`<h1>Scaling: API_PROCESSES=${n} vs 1</h1>`);
  B.push(
    `<p>${esc(intro(r))
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*([^*]+)\*\*/g, "<b>$1</b>")}</p>`,
  );
  B.push(htmlTable(SUMMARY_HEAD, summaryRows(r)));
  B.push(
    `<div class="charts">${barChart({
      title: `N=${n} ÷ N=1 in the same run (1 = no change)`,
      xLabel: "ratio",
      bars: [
        { label: "HoldSeats calls/s", value: r.medianHoldRatio, note: f(r.medianHoldRatio, 3) },
        { label: "Noop calls/s", value: r.medianNoopRatio, note: f(r.medianNoopRatio, 3) },
        { label: "Node CPU per HoldSeats", value: r.holdCpuPerCallRatio, note: f(r.holdCpuPerCallRatio, 3) },
        { label: "Node CPU per Noop", value: r.noopCpuPerCallRatio, note: f(r.noopCpuPerCallRatio, 3) },
      ],
    })}${barChart({
      title: `N=${n}: each worker's share of the workers' CPU per round (even: ${round(100 / n, 1)} %)`,
      xLabel: "% of the workers' CPU",
      bars: r.rounds
        .filter((x) => x.n === n)
        .flatMap((x) =>
          x.procs
            .filter((p) => p.role === "worker")
            .map((p, i) => ({
              label: `${x.call} ${x.round} worker ${i + 1}`,
              value: round((p.workerCpuShare ?? NaN) * 100, 1),
              note: `${round((p.workerCpuShare ?? NaN) * 100, 1)} % (calls ${round((p.workerCallShare ?? NaN) * 100, 1)} %)`,
            })),
        ),
    })}</div>`,
  );
  B.push("<h2>What this shows</h2>");
  B.push(
    `<ul>${reading(r)
      .map((p) => `<li>${esc(p)}</li>`)
      .join("")}</ul>`,
  );
  for (const call of ["HoldSeats", "Noop"] as const) {
    const rs = r.rounds.filter((x) => x.call === call && x.series);
    if (!rs.length) continue;
    B.push(`<h2>${call}: N=1 (dashed) and N=${n} (solid)</h2>`);
    B.push(
      roundCharts(
        call,
        rs.map((x) => ({
          label: `N=${x.n} round ${x.round}`,
          group: `N=${x.n}`,
          series: x.series!,
          baseline: x.n === 1,
        })),
      ),
    );
  }
  B.push("<h2>Rounds</h2>");
  B.push(
    htmlTable(
      ROUND_HEAD,
      roundRows([...r.warmup, ...r.rounds]).map((row) =>
        row.map((c) => (typeof c === "string" ? c.replace(/\*\*/g, "") : c)),
      ),
    ),
  );
  B.push("<h2>Invariants</h2>");
  B.push(
    `<ul>${r.checks.map((c) => `<li class="${c.ok ? "ok" : "bad"}">${c.ok ? "ok" : "BROKEN"} — ${esc(c.name)}: ${esc(c.detail)}</li>`).join("")}</ul>`,
  );
  if (r.failures.length)
    B.push(`<h2>Failures</h2><ul>${r.failures.map((x) => `<li class="bad">${esc(x)}</li>`).join("")}</ul>`);
  B.push("<h2>Setup</h2>");
  B.push(
    `<ul>${r.apis.map((a) => `<li>${esc(a.label)}: <code>${esc(a.command)}</code></li>`).join("")}<li>ghz: <code>${esc(r.rounds[0]?.ghz.command ?? "")}</code></li></ul>`,
  );
  return htmlPage(`Scaling ${r.startedAt}`, B.join("\n"));
}

const scrub = (s: string) => s.replace(/\/tmp\/ticketing-scaling-[A-Za-z0-9]+\//g, "").replace(`${repoRoot}/`, "");

export function writeScalingReports(r: ScalingResult, stamp: string): string[] {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const base = path.join(RESULTS_DIR, `scaling-${stamp}`);
  fs.writeFileSync(
    `${base}.json`,
    `${JSON.stringify(r, (_k, v: unknown) => (typeof v === "string" ? scrub(v) : v), 2)}\n`,
  );
  fs.writeFileSync(`${base}.md`, scrub(markdown(r, `${path.basename(base)}.html`)));
  fs.writeFileSync(`${base}.html`, scrub(html(r)));
  writeScalingIndex();
  return [`${base}.json`, `${base}.md`, `${base}.html`, path.join(BENCH_DIR, "SCALING-RESULTS.md")];
}

/** bench/SCALING-RESULTS.md from every results/scaling-*.json, newest first; keeps the notes at its end. */
export function writeScalingIndex(): void {
  const file = path.join(BENCH_DIR, "SCALING-RESULTS.md");
  const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  const notes = old.includes(NOTES_MARKER) ? old.slice(old.indexOf(NOTES_MARKER)) : `${NOTES_MARKER}\n`;
  const runs = readRuns<ScalingResult>("scaling");
  const L: string[] = [];
  L.push("# Scaling results: API_PROCESSES=N on one port");
  L.push("");
  L.push(
    "How we measure: [`docs/BENCHMARKING.md`](../docs/BENCHMARKING.md). Regenerated by `npm run bench:scaling` (`bench/scaling.ts`, described in [`README.md`](README.md)) from the raw `bench/results/scaling-*.json` of the runs made here (not committed; rows of runs made elsewhere are kept); the notes at the end are kept.",
  );
  L.push("");
  const latest = runs[0];
  if (latest) {
    const r = latest.r;
    const md = latest.file.replace(/\.json$/, ".md");
    const page = latest.file.replace(/\.json$/, ".html");
    L.push(
      `## Latest: [${md}](results/${md}) · charts: \`results/${page}\` (not committed: \`npm run bench:scaling\` writes them)`,
    );
    L.push("");
    L.push(intro(r));
    L.push("");
    L.push(mdTable(SUMMARY_HEAD, summaryRows(r)));
    L.push("");
    L.push(
      `N=${r.perN[1]!.n} ÷ N=1 (median of per-round pairs): HoldSeats **${f(r.medianHoldRatio, 3)}**, Noop **${f(r.medianNoopRatio, 3)}**; Node CPU per call: HoldSeats ×${f(r.holdCpuPerCallRatio, 3)}, Noop ×${f(r.noopCpuPerCallRatio, 3)}. Invariants: ${r.ok_invariants ? "ok" : "**BROKEN**"}.`,
    );
    L.push("");
    for (const p of reading(r)) L.push(`- ${p}`);
    L.push("");
  }
  L.push("## All runs");
  L.push("");
  L.push(
    "| run | code | machine | N | HoldSeats N/1 | Noop N/1 | µs per HoldSeats 1 → N | µs per Noop 1 → N | busiest worker CPU | invariants | report |",
  );
  L.push("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |");
  const firstRow = L.length;
  for (const { file, r } of runs) {
    const [p1, pN] = [r.perN[0]!, r.perN[1]!];
    L.push(
      `| ${r.startedAt} | ${r.source.commit.slice(0, 7)}${r.source.dirty.length ? "+dirty" : ""} | ${r.machine.nproc} cores, load ${r.machine.loadAvgBefore[0]} | ${pN.n} | ${f(r.medianHoldRatio, 3)} | ${f(r.medianNoopRatio, 3)} | ${f(p1.medianApiUsPerHold, 1)} → ${f(pN.medianApiUsPerHold, 1)} | ${f(p1.medianApiUsPerNoop, 1)} → ${f(pN.medianApiUsPerNoop, 1)} | ${pct(pN.medianMaxWorkerCpuShare)} | ${r.ok_invariants ? "ok" : "BROKEN"} | [md](results/${file.replace(/\.json$/, ".md")}) |`,
    );
  }
  L.push(
    ...withEarlierRuns(
      file,
      "scaling",
      runs.map((x) => x.file),
      L.splice(firstRow),
    ),
  );
  L.push("");
  fs.writeFileSync(file, `${L.join("\n")}\n${notes}`);
}
