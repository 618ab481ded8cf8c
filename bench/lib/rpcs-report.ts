// Reports of bench/rpcs.ts: bench/results/rpcs-<timestamp>.{json,md,html}
// (the HTML with charts from ./charts.ts) and bench/RPCS-RESULTS.md (the
// latest run's summary and every run's headline; text after the notes marker
// is kept when it is regenerated).
import fs from "node:fs";
import path from "node:path";
import { repoRoot } from "../../tools/devstack/stack.js";
import { barChart, esc, htmlPage, htmlTable, roundCharts, type RoundSeries } from "./charts.js";
import type { CpuDelta } from "./checkout-procs.js";
import type { GhzSummary } from "./ghz.js";
import type { Check } from "./invariants.js";
import type { MachineInfo, SourceInfo } from "./sys.js";
import { round } from "./stats.js";
import { BENCH_DIR, RESULTS_DIR, readRuns, withEarlierRuns } from "./results.js";

const NOTES_MARKER = "<!-- notes: kept across runs -->";

export interface RpcRound {
  /** "Noop" or the RPC's name. */
  call: string;
  phase: "warmup" | "throughput";
  round: number;
  sent: number;
  skipFirst: number;
  concurrency: number;
  command: string;
  summary?: GhzSummary;
  ghzCpuSeconds: number;
  ghzCores: number;
  wallSeconds: number;
  cpu: CpuDelta;
  /** API process CPU per call sent, µs. */
  apiUsPerCall: number;
  series?: RoundSeries;
}

export interface RpcResult {
  /** Display name, e.g. "CheckIn (repeat scan)". */
  name: string;
  method: string;
  what: string;
  requestBytes: number;
  noopBytes: number;
  concurrency: number;
  callsPerRound: number;
  rounds: RpcRound[];
  pairRatios: number[];
  medianRatio: number;
  medianRps: number;
  medianNoopRps: number;
  p50: number;
  p99: number;
  noopP50: number;
  noopP99: number;
  apiUsPerCall: number;
  apiUsPerNoop: number;
  /** API µs per Noop / API µs per call: the ratio if the API alone were the limit. */
  cpuRatio: number;
  codes: Record<string, number>;
  errorKinds: Record<string, number>;
  goal?: number;
  goalNote: string;
  goalMet?: boolean;
  maxGhzCores: number;
  generatorLimited: boolean;
  notes: string[];
}

export interface RpcsBenchResult {
  kind: "rpcs";
  schema: 1;
  runId: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  ok: boolean;
  failures: string[];
  command: string;
  settings: Record<string, number | string>;
  source: SourceInfo;
  machine: MachineInfo & {
    redis: string;
    loadAvgAfter: number[];
    othersDuringRun: {
      others: { pid: number; label: string; cpuSeconds: number; cores: number }[];
      otherCores: number;
      wallSeconds: number;
    };
  };
  stack: Record<string, unknown>;
  prep: Record<string, unknown>;
  rpcs: RpcResult[];
  warmup: RpcRound[];
  invariants: { ok: boolean; groups: { group: string; checks: Check[] }[] };
}

const n0 = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? "–" : Math.round(x).toLocaleString("en-US");
const f = (x: number | undefined, d = 2) => (x === undefined || !Number.isFinite(x) ? "–" : round(x, d).toString());
const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "–" : `${Math.round(x * 100)} %`);
const codes = (c: Record<string, number> | undefined) =>
  c && Object.keys(c).length
    ? Object.entries(c)
        .map(([k, v]) => `${k} ${v.toLocaleString("en-US")}`)
        .join(", ")
    : "–";
const goalText = (r: RpcResult) =>
  r.goal === undefined ? `none (${r.goalNote})` : `≥ ${r.goal} (${r.goalNote}): ${r.goalMet ? "met" : "not met"}`;

/**
 * Error messages name the ticket, hold or gate; one kind per id would make a
 * report of thousands of lines. Ids become <id>, gates <gate>.
 */
export function collapseErrorKinds(kinds: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(kinds)) {
    const key = k.replace(/\b[a-z]_[A-Za-z0-9_-]{6,}/g, "<id>").replace(/\bgate-[A-Za-z0-9_-]+/g, "<gate>");
    out[key] = (out[key] ?? 0) + v;
  }
  return out;
}

export function headline(r: RpcsBenchResult): string {
  const parts = r.rpcs.map(
    (x) =>
      `${x.name} ${f(x.medianRatio, 3)} (${n0(x.medianRps)}/s${x.goal !== undefined ? `, goal ${x.goal} ${x.goalMet ? "met" : "not met"}` : ""})`,
  );
  return `ratio to Noop: ${parts.join("; ")}; invariants ${r.invariants.ok ? "ok" : "BROKEN"}`;
}

function roundRows(x: RpcResult): string[][] {
  return x.rounds.map((r) => [
    String(r.round),
    r.call,
    n0(r.sent),
    n0(r.summary?.rps),
    f(r.summary?.latencyMs.p50),
    f(r.summary?.latencyMs.p99),
    codes(r.summary?.codes),
    `${pct(r.ghzCores)}${r.ghzCores > 0.7 ? " ⚠" : ""}`,
    f(r.apiUsPerCall, 1),
    pct(r.cpu.cores.api),
    pct(r.cpu.cores.redis),
    pct(r.cpu.cores.mysql),
    pct(r.cpu.cores.worker),
    pct(r.cpu.cores.temporal),
    pct(r.cpu.otherCores),
  ]);
}

const ROUND_HEAD = [
  "round",
  "call",
  "sent",
  "calls/s",
  "p50 ms",
  "p99 ms",
  "codes (tallied)",
  "ghz CPU",
  "API µs/call",
  "API",
  "Redis",
  "MariaDB",
  "worker",
  "Temporal",
  "rest of machine",
];

function mdTable(head: string[], rows: string[][]): string {
  const esc_ = (s: string) => s.replace(/\|/g, "\\|");
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_, i) => (i < 2 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(esc_).join(" | ")} |`),
  ].join("\n");
}

function summaryRows(r: RpcsBenchResult): string[][] {
  return r.rpcs.map((x) => [
    x.name,
    n0(x.medianRps),
    n0(x.medianNoopRps),
    `${f(x.medianRatio, 3)} (pairs ${x.pairRatios.map((p) => f(p, 3)).join(", ")})`,
    goalText(x),
    `${f(x.p50)} / ${f(x.p99)}`,
    `${f(x.noopP50)} / ${f(x.noopP99)}`,
    `${f(x.apiUsPerCall, 1)} / ${f(x.apiUsPerNoop, 1)} (${f(x.cpuRatio, 3)})`,
    `${pct(x.maxGhzCores)}${x.generatorLimited ? " ⚠" : ""}`,
    codes(x.codes),
  ]);
}

const SUMMARY_HEAD = [
  "RPC",
  "calls/s (median)",
  "Noop calls/s",
  "ratio to Noop (median of pairs)",
  "goal",
  "p50 / p99 ms",
  "Noop p50 / p99 ms",
  "API µs per call / per Noop (CPU ratio)",
  "ghz CPU (max)",
  "codes (all rounds)",
];

function setupLines(r: RpcsBenchResult): string[] {
  const m = r.machine;
  const s = r.settings;
  return [
    `Code under test: commit \`${r.source.commit.slice(0, 12)}\` (${r.source.note})${r.source.dirty.length ? `; uncommitted: ${r.source.dirty.join(", ")}` : ""}.`,
    `Machine: ${m.nproc} cores (${m.cpuModel}), ${m.memTotalMb} MB, ${m.kernel}, Node ${m.node}, Redis ${m.redis}; load average ${m.loadAvgBefore.join(" ")} before, ${m.loadAvgAfter.join(" ")} after; other processes used ${m.othersDuringRun.otherCores} cores on average during the run. **The machine was shared with other engineers' tests and builds**: absolute figures swing; the ratios are interleaved pairs (Noop, then the RPC, per round) for that reason.`,
    `Stack: its own Redis, MariaDB and Temporal dev server (${String(s.temporalDb)}), the API (\`BENCH_NOOP=on\`) and the checkout worker (payment simulator: no latency, no declines), each its own process, all on 127.0.0.1.`,
    `ghz: \`--connections ${s.connections} --cpus ${s.ghzCpus}\`, \`GOGC=${s.ghzGogc}\`, concurrency ${s.concurrency} (CreateOrder ${s.createConcurrency}); the Noop round before each RPC round uses the same concurrency and connections, ${n0(Number(s.n))} calls (first ${n0(Number(s.skipFirst))} skipped), with a payload sized like that RPC's request. calls/s = tallied calls / (last tallied end − first tallied start).`,
    "CPU per round: ghz from bash `times`; every other process from /proc/<pid>/stat; rest of machine = /proc/stat busy − all of them.",
  ];
}

export function markdown(r: RpcsBenchResult, htmlName: string): string {
  const L: string[] = [];
  L.push(`# Hot-path RPCs against Noop, ${r.startedAt}`);
  L.push("");
  L.push(
    `Run \`${r.runId}\`, ${r.durationSeconds} s, \`${r.command}\`. Verdict: **${r.ok ? "passed" : "FAILED"}**. Charts (throughput and latency over time per round, latency histograms): \`${htmlName}\` (raw output, not committed: the bench writes it beside this report).`,
  );
  if (r.failures.length) {
    L.push("");
    for (const x of r.failures) L.push(`- ${x}`);
  }
  L.push("");
  L.push(`**Headline:** ${headline(r)}.`);
  L.push("");
  L.push("## Setup");
  L.push("");
  for (const l of setupLines(r)) L.push(`- ${l}`);
  L.push("");
  L.push("## Summary");
  L.push("");
  L.push(mdTable(SUMMARY_HEAD, summaryRows(r)));
  L.push("");
  for (const x of r.rpcs) {
    L.push(`## ${x.name}`);
    L.push("");
    L.push(`\`${x.method}\`: ${x.what}`);
    L.push("");
    L.push(
      `Request ${x.requestBytes} B, Noop payload sized to ${x.noopBytes} B; ${n0(x.callsPerRound)} calls per round at concurrency ${x.concurrency}. Errors: ${
        Object.entries(x.errorKinds)
          .map(([k, v]) => `${k} × ${v}`)
          .join("; ") || "none"
      }.`,
    );
    for (const n of x.notes) L.push(`\n${n}`);
    L.push("");
    L.push(mdTable(ROUND_HEAD, roundRows(x)));
    L.push("");
  }
  L.push("## Preparation");
  L.push("");
  L.push("```json");
  L.push(JSON.stringify(r.prep, null, 2));
  L.push("```");
  L.push("");
  L.push("## Invariants");
  L.push("");
  for (const g of r.invariants.groups) {
    L.push(`### ${g.group}`);
    L.push("");
    L.push(
      mdTable(
        ["check", "result", "detail"],
        g.checks.map((c) => [c.name, c.ok ? "ok" : "**BROKEN**", c.detail]),
      ),
    );
    L.push("");
  }
  L.push("## Command lines");
  L.push("");
  L.push("Paths relative to the repository; data files are generated in a temp dir per run (`data/…`).");
  L.push("");
  L.push("```sh");
  L.push(r.command);
  for (const x of r.rpcs) {
    const noop = x.rounds.find((q) => q.call === "Noop");
    const rpc = x.rounds.find((q) => q.call !== "Noop");
    if (noop) L.push(`# ${x.name}, its Noop round:\n${noop.command}`);
    if (rpc) L.push(`# ${x.name}:\n${rpc.command}`);
  }
  L.push("```");
  L.push("");
  return L.join("\n");
}

export function html(r: RpcsBenchResult): string {
  const B: string[] = [];
  B.push(`<h1>Hot-path RPCs against Noop</h1>`);
  B.push(
    `<p>${esc(r.startedAt)}, run <code>${esc(r.runId)}</code>, ${r.durationSeconds} s, <code>${esc(r.command)}</code>. Verdict: <span class="${r.ok ? "ok" : "bad"}">${r.ok ? "passed" : "FAILED"}</span>; invariants <span class="${r.invariants.ok ? "ok" : "bad"}">${r.invariants.ok ? "ok" : "BROKEN"}</span>.</p>`,
  );
  if (r.failures.length) B.push(`<ul>${r.failures.map((x) => `<li class="bad">${esc(x)}</li>`).join("")}</ul>`);
  B.push(
    barChart({
      title: "Throughput relative to Noop in the same run (median of interleaved pairs; black mark: goal)",
      xLabel: "RPC calls/s ÷ Noop calls/s",
      bars: r.rpcs.map((x) => ({
        label: x.name,
        value: x.medianRatio,
        goal: x.goal,
        note: `${f(x.medianRatio, 3)} · ${n0(x.medianRps)}/s`,
      })),
      width: 760,
    }),
  );
  B.push(
    `<ul class="note">${setupLines(r)
      .map(
        (l) =>
          `<li>${esc(l)
            .replace(/`([^`]+)`/g, "<code>$1</code>")
            .replace(/\*\*([^*]+)\*\*/g, "<b>$1</b>")}</li>`,
      )
      .join("")}</ul>`,
  );
  B.push(htmlTable(SUMMARY_HEAD, summaryRows(r)));
  for (const x of r.rpcs) {
    B.push(`<h2>${esc(x.name)}</h2>`);
    B.push(`<p><code>${esc(x.method)}</code>: ${esc(x.what)}</p>`);
    for (const n of x.notes) B.push(`<p class="note">${esc(n)}</p>`);
    const charted = x.rounds.filter((q) => q.series);
    B.push(
      roundCharts(
        x.name,
        charted.map((q) => ({
          label: `${q.call} ${q.round}`,
          group: q.call,
          series: q.series!,
          baseline: q.call === "Noop",
        })),
      ),
    );
    B.push(htmlTable(ROUND_HEAD, roundRows(x)));
  }
  B.push("<h2>Invariants</h2>");
  for (const g of r.invariants.groups) {
    B.push(`<h3>${esc(g.group)}</h3>`);
    B.push(
      `<table><thead><tr><th>check</th><th>result</th><th>detail</th></tr></thead><tbody>${g.checks.map((c) => `<tr><td>${esc(c.name)}</td><td class="${c.ok ? "ok" : "bad"}">${c.ok ? "ok" : "BROKEN"}</td><td style="text-align:left">${esc(c.detail)}</td></tr>`).join("")}</tbody></table>`,
    );
  }
  B.push("<h2>Commands</h2>");
  B.push(
    `<pre>${esc([r.command, ...r.rpcs.flatMap((x) => x.rounds.filter((q) => q.round === 1).map((q) => `# ${x.name} / ${q.call}\n${q.command}`))].join("\n"))}</pre>`,
  );
  return htmlPage(`RPCs vs Noop ${r.startedAt}`, B.join("\n"));
}

const scrub = (s: string) => s.replace(/\/tmp\/ticketing-bench-[A-Za-z0-9]+\//g, "").replace(`${repoRoot}/`, "");

export function writeRpcsReports(r: RpcsBenchResult, stamp: string): string[] {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const base = path.join(RESULTS_DIR, `rpcs-${stamp}`);
  const json = JSON.stringify(r, (_k, v: unknown) => (typeof v === "string" ? scrub(v) : v), 2);
  fs.writeFileSync(`${base}.json`, `${json}\n`);
  fs.writeFileSync(`${base}.md`, scrub(markdown(r, `${path.basename(base)}.html`)));
  fs.writeFileSync(`${base}.html`, scrub(html(r)));
  writeRpcsIndex();
  return [`${base}.json`, `${base}.md`, `${base}.html`, path.join(BENCH_DIR, "RPCS-RESULTS.md")];
}

/** bench/RPCS-RESULTS.md from every results/rpcs-*.json, newest first; keeps the hand-written notes. */
export function writeRpcsIndex(): void {
  const file = path.join(BENCH_DIR, "RPCS-RESULTS.md");
  const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  const notes = old.includes(NOTES_MARKER) ? old.slice(old.indexOf(NOTES_MARKER)) : `${NOTES_MARKER}\n`;
  const runs = readRuns<RpcsBenchResult>("rpcs");
  const L: string[] = [];
  L.push("# Hot-path RPC benchmark results");
  L.push("");
  L.push(
    "How we measure: [`docs/BENCHMARKING.md`](../docs/BENCHMARKING.md). Regenerated by `npm run bench:rpcs` (`bench/rpcs.ts`) from the raw `bench/results/rpcs-*.json` of the runs made here (not committed; rows of runs made elsewhere are kept); the notes at the end are kept.",
  );
  L.push("");
  const latest = runs[0];
  if (latest) {
    const r = latest.r;
    const md = latest.file.replace(/\.json$/, ".md");
    const page = latest.file.replace(/\.json$/, ".html");
    L.push(
      `## Latest: [${md}](results/${md}) · charts: \`results/${page}\` (not committed: \`npm run bench:rpcs\` writes them)`,
    );
    L.push("");
    L.push(
      `${r.startedAt}, \`${r.command}\`, code at \`${r.source.commit.slice(0, 12)}\`${r.source.dirty.length ? " + uncommitted edits" : ""}, ${r.machine.nproc} cores (${r.machine.cpuModel}), load ${r.machine.loadAvgBefore.join(" ")} at start, ${r.machine.othersDuringRun.otherCores} cores used by other processes on average (shared machine); verdict **${r.ok ? "passed" : "FAILED"}**.`,
    );
    L.push("");
    L.push(mdTable(SUMMARY_HEAD, summaryRows(r)));
    L.push("");
    L.push(
      `Invariants (${r.invariants.groups.map((g) => g.group).join("; ")}): ${r.invariants.ok ? "ok" : "**BROKEN**"}.`,
    );
    L.push("");
  }
  L.push("## All runs");
  L.push("");
  L.push(
    "| run | code | machine | " +
      (latest?.r.rpcs.map((x) => `${x.name} / Noop`).join(" | ") ?? "") +
      " | invariants | report |",
  );
  L.push("| --- | --- | --- | " + (latest?.r.rpcs.map(() => "---:").join(" | ") ?? "") + " | --- | --- |");
  const firstRow = L.length;
  for (const { file, r } of runs) {
    const md = file.replace(/\.json$/, ".md");
    const cells = (latest?.r.rpcs ?? []).map((x) => {
      const y = r.rpcs.find((z) => z.name === x.name);
      return y ? `${f(y.medianRatio, 3)} (${n0(y.medianRps)}/s)` : "–";
    });
    L.push(
      `| ${r.startedAt} | ${r.source.commit.slice(0, 7)}${r.source.dirty.length ? "+dirty" : ""} | ${r.machine.nproc} cores, load ${r.machine.loadAvgBefore[0]} | ${cells.join(" | ")} | ${r.invariants.ok ? "ok" : "BROKEN"} | [md](results/${md}) |`,
    );
  }
  L.push(
    ...withEarlierRuns(
      file,
      "rpcs",
      runs.map((x) => x.file),
      L.splice(firstRow),
    ),
  );
  L.push("");
  fs.writeFileSync(file, `${L.join("\n")}\n${notes}`);
}
