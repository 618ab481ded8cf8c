// The simulator's report: bench/results/sim-<scenario>-<timestamp>.json (all
// figures, machine-readable) and .md (funnel, latencies, errors, the audit),
// plus a one-screen summary for stdout.
import fs from "node:fs";
import path from "node:path";
import { repoRoot } from "../../tools/devstack/stack.js";
import { machineInfo, sourceInfo, type MachineInfo, type SourceInfo } from "../lib/sys.js";
import type { AuditResult } from "./audit.js";
import type { SimResult } from "./driver.js";
import { describeRefusals, type FaultRecord } from "./metrics.js";
import { capacityOf } from "./scenario.js";

export interface SimReport {
  kind: "sim";
  scenario: string;
  command: string;
  startedAt: string;
  durationSeconds: number;
  /** Seconds from the open to the last journey's end. */
  saleSeconds: number;
  eventId: string;
  machine: MachineInfo;
  source: SourceInfo;
  processes: Record<string, string>;
  /** Average cores per process during the sale (simulate only). */
  cpuCores: Record<string, number>;
  settings: unknown;
  capacity: ReturnType<typeof capacityOf>;
  funnel: Record<string, number>;
  outcomes: Record<string, number>;
  rpc: Record<
    string,
    {
      calls: number;
      p50: number;
      p90: number;
      p99: number;
      max: number;
      codes: Record<string, number>;
      reasons: Record<string, number>;
    }
  >;
  spans: Record<string, { count: number; p50: number; p90: number; p99: number; max: number }>;
  errorsByCode: Record<string, number>;
  /** Calls sent again after UNAVAILABLE or DEADLINE_EXCEEDED, by method. */
  retries: Record<string, number>;
  /** Faults injected during the sale. */
  faults: FaultRecord[];
  totalCalls: number;
  callsPerSecond: number;
  arrivalLagMs: { p50: number; p99: number; max: number };
  /** The simulator's event-loop delay: client-side latencies include it. */
  simulatorLoopDelayMs: { p50: number; p99: number; max: number };
  soldOutAfterSeconds: number | undefined;
  timeline: unknown[];
  anomalies: { at: number; what: string }[];
  audit: AuditResult;
  ok: boolean;
}

const n = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? "–" : Math.round(x).toLocaleString("en-US");
const f = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(d));

export function buildReport(
  r: SimResult,
  a: AuditResult,
  extra: { command: string; processes?: Record<string, string>; machine?: MachineInfo; cpu?: Record<string, number> },
): SimReport {
  const m = r.metrics;
  const rpc: SimReport["rpc"] = {};
  for (const [k, v] of [...m.rpc.entries()].sort((x, y) => y[1].calls - x[1].calls)) {
    const sm = v.latency.summary();
    rpc[k] = { calls: v.calls, p50: sm.p50, p90: sm.p90, p99: sm.p99, max: sm.max, codes: v.codes, reasons: v.reasons };
  }
  const spans: SimReport["spans"] = {};
  for (const [k, v] of m.spans) {
    const sm = v.summary();
    spans[k] = { count: sm.count, p50: sm.p50, p90: sm.p90, p99: sm.p99, max: sm.max };
  }
  const cap = capacityOf(r.scenario);
  const soldAt = m.timeline.find((t) => t.tickets >= cap.total);
  const dur = (r.endedMs - r.startedMs) / 1000;
  const lag = m.arrivalLag.summary();
  return {
    kind: "sim",
    scenario: r.scenario.name,
    command: extra.command,
    startedAt: new Date(r.startedMs).toISOString(),
    durationSeconds: Math.round(dur),
    saleSeconds: Math.round((r.endedMs - r.openedMs) / 1000),
    eventId: r.eventId,
    machine: extra.machine ?? machineInfo(),
    source: sourceInfo(repoRoot),
    processes: extra.processes ?? {},
    cpuCores: extra.cpu ?? {},
    settings: r.scenario,
    capacity: cap,
    funnel: { ...m.funnel },
    outcomes: Object.fromEntries(Object.entries(m.outcomes).sort((x, y) => y[1] - x[1])),
    rpc,
    spans,
    errorsByCode: m.errorsByCode(),
    retries: { ...m.retries },
    faults: m.faults.map((x) => ({ ...x })),
    totalCalls: m.totalCalls,
    callsPerSecond: Math.round(m.totalCalls / Math.max(1, dur)),
    arrivalLagMs: { p50: lag.p50, p99: lag.p99, max: lag.max },
    simulatorLoopDelayMs: m.loopDelayMs,
    soldOutAfterSeconds: soldAt ? soldAt.t - Math.round((r.openedMs - r.startedMs) / 1000) : undefined,
    timeline: m.timeline,
    anomalies: m.anomalies.slice(0, 200),
    audit: a,
    ok: a.ok,
  };
}

function funnelTable(rep: SimReport): string {
  const f2 = rep.funnel;
  const rows: [string, number | undefined][] = [
    ["buyers arrived", f2.arrived],
    ["joined the queue", f2.joined],
    ["admitted", f2.admitted],
    ["holds made", f2.holdsMade],
    ["orders created (paid)", f2.paid],
    ["orders confirmed", f2.confirmed],
    ["orders failed", f2.failedOrders],
    ["tickets bought", f2.ticketsBought],
  ];
  return ["| step | buyers |", "| --- | ---: |", ...rows.map(([k, v]) => `| ${k} | ${n(v)} |`)].join("\n");
}

function faultTable(rep: SimReport): string {
  return [
    "| at (s after the open) | fault | planned | actual | calls refused until the next fault or 30 s after (UNAVAILABLE: first to last) | what happened |",
    "| ---: | --- | ---: | ---: | --- | --- |",
    ...rep.faults.map(
      (x) =>
        `| ${f(x.atSeconds)} | ${x.kind} | ${f(x.seconds)} s | ${x.endedMs !== undefined ? `${f((x.endedMs - x.startedMs) / 1000)} s` : "–"} | ${describeRefusals(x.refusals)} | ${x.note} |`,
    ),
  ].join("\n");
}

function rpcTable(rep: SimReport): string {
  return [
    "| RPC | calls | p50 ms | p90 ms | p99 ms | max ms | codes | failure reasons |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ...Object.entries(rep.rpc).map(
      ([k, v]) =>
        `| ${k} | ${n(v.calls)} | ${f(v.p50)} | ${f(v.p90)} | ${f(v.p99)} | ${f(v.max, 0)} | ${Object.entries(v.codes)
          .map(([c, x]) => `${c} ${n(x)}`)
          .join(", ")} | ${Object.entries(v.reasons)
          .map(([c, x]) => `${c} ${n(x)}`)
          .join(", ")} |`,
    ),
  ].join("\n");
}

function auditTable(a: AuditResult): string {
  return [
    "| check | result | detail |",
    "| --- | --- | --- |",
    ...a.checks.map((c) => `| ${c.name} | ${c.ok ? "ok" : "**BROKEN**"} | ${c.detail.replace(/\|/g, "\\|")} |`),
  ].join("\n");
}

export function markdown(rep: SimReport): string {
  const s = rep.settings as { buyers: number; description: string };
  return [
    `# On-sale simulation: ${rep.scenario}, ${rep.startedAt}`,
    "",
    `**Audit: ${rep.ok ? "passed" : "FAILED"}.** ${s.description}`,
    "",
    `- Command: \`${rep.command}\``,
    `- Machine: ${rep.machine.nproc} cores (${rep.machine.cpuModel}), ${n(rep.machine.memTotalMb)} MB, ${rep.machine.kernel}, Node ${rep.machine.node}; load before ${rep.machine.loadAvgBefore.join(" ")}; everything (stores, Temporal, API, worker, simulator) on this machine`,
    `- Source: ${rep.source.commit.slice(0, 12)} (${rep.source.note})`,
    `- Processes: ${
      Object.entries(rep.processes)
        .map(([k, v]) => `${k}: ${v}`)
        .join("; ") || "in-process / reused"
    }`,
    `- CPU during the sale (average cores, 2 in all): ${
      Object.entries(rep.cpuCores)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ") || "not measured"
    }`,
    `- Event ${rep.eventId}: ${n(rep.capacity.total)} places (${n(rep.capacity.reserved)} reserved, GA ${JSON.stringify(rep.capacity.ga)}), ${n(s.buyers)} buyers`,
    `- Sold out: ${rep.soldOutAfterSeconds !== undefined ? `${rep.soldOutAfterSeconds} s after the open` : "no"}`,
    `- Duration ${rep.durationSeconds} s (sale ${rep.saleSeconds} s from the open); ${n(rep.totalCalls)} calls, ${n(rep.callsPerSecond)}/s on average; arrival lag p50 ${f(rep.arrivalLagMs.p50, 0)} ms, p99 ${f(rep.arrivalLagMs.p99, 0)} ms; the simulator's event-loop delay p99 ${f(rep.simulatorLoopDelayMs.p99, 0)} ms, max ${f(rep.simulatorLoopDelayMs.max, 0)} ms (client-side latencies include it)`,
    "",
    "## Funnel",
    "",
    funnelTable(rep),
    "",
    "How journeys ended: " +
      Object.entries(rep.outcomes)
        .map(([k, v]) => `${k} ${n(v)}`)
        .join(", "),
    "",
    "## Latencies and codes per RPC (client side; streams: time to their end)",
    "",
    rpcTable(rep),
    "",
    "Other timings: " +
      (Object.entries(rep.spans)
        .map(([k, v]) => `${k} p50 ${f(v.p50 / 1000, 2)} s, p99 ${f(v.p99 / 1000, 2)} s (${n(v.count)})`)
        .join("; ") || "–"),
    "",
    `Errors by code: ${
      Object.entries(rep.errorsByCode)
        .map(([k, v]) => `${k} ${n(v)}`)
        .join(", ") || "none"
    }`,
    "",
    `Calls sent again after UNAVAILABLE or DEADLINE_EXCEEDED (same request id or idempotency key): ${
      Object.entries(rep.retries)
        .map(([k, v]) => `${k} ${n(v)}`)
        .join(", ") || "none"
    }`,
    "",
    ...(rep.faults.length ? ["## Faults injected", "", faultTable(rep), ""] : []),
    "## Audit",
    "",
    auditTable(rep.audit),
    "",
    rep.anomalies.length
      ? `## Anomalies the driver saw\n\n${rep.anomalies
          .slice(0, 30)
          .map((x) => `- ${x.what}`)
          .join("\n")}\n`
      : "",
    "## Settings",
    "",
    "```json",
    JSON.stringify(rep.settings, null, 2),
    "```",
    "",
  ].join("\n");
}

export function writeReport(
  rep: SimReport,
  dir = path.join(repoRoot, "bench", "results"),
): { json: string; md: string } {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = rep.startedAt.replace(/[:.]/g, "-");
  const base = path.join(dir, `sim-${rep.scenario}-${stamp}`);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(rep, null, 2)}\n`);
  fs.writeFileSync(`${base}.md`, markdown(rep));
  return { json: `${base}.json`, md: `${base}.md` };
}

/** One screen for stdout. */
export function summary(rep: SimReport, files?: { json: string; md: string }): string {
  const fu = rep.funnel;
  const top = Object.entries(rep.rpc)
    .slice(0, 8)
    .map(
      ([k, v]) =>
        `  ${k.padEnd(20)} ${n(v.calls).padStart(9)} calls  p50 ${f(v.p50).padStart(7)} ms  p99 ${f(v.p99).padStart(8)} ms`,
    )
    .join("\n");
  const rel = (p: string) => path.relative(process.cwd(), p) || p;
  return [
    `On-sale simulation "${rep.scenario}": ${rep.ok ? "AUDIT PASSED" : "AUDIT FAILED"} (${rep.durationSeconds} s, ${n(rep.totalCalls)} calls)`,
    `  funnel: arrived ${n(fu.arrived)} → joined ${n(fu.joined)} → admitted ${n(fu.admitted)} → holds ${n(fu.holdsMade)} → orders ${n(fu.paid)} → confirmed ${n(fu.confirmed)} (failed ${n(fu.failedOrders)}); tickets ${n(fu.ticketsBought)} of ${n(rep.capacity.total)} places`,
    `  outcomes: ${Object.entries(rep.outcomes)
      .slice(0, 8)
      .map(([k, v]) => `${k} ${n(v)}`)
      .join(", ")}`,
    ...(Object.keys(rep.cpuCores).length
      ? [
          `  CPU (average cores): ${Object.entries(rep.cpuCores)
            .map(([k, v]) => `${k} ${v}`)
            .join(", ")}`,
        ]
      : []),
    `  simulator event-loop delay: p99 ${f(rep.simulatorLoopDelayMs.p99, 0)} ms, max ${f(rep.simulatorLoopDelayMs.max, 0)} ms (included in the client-side latencies)`,
    `  errors by code: ${
      Object.entries(rep.errorsByCode)
        .map(([k, v]) => `${k} ${n(v)}`)
        .join(", ") || "none"
    }`,
    ...(rep.faults.length
      ? [
          `  faults: ${rep.faults.map((x) => `${x.kind} at ${f(x.atSeconds)} s (${x.note}; refused: ${describeRefusals(x.refusals)})`).join("; ")}`,
        ]
      : []),
    top,
    "  audit:",
    ...rep.audit.checks.map(
      (c) => `    ${c.ok ? "ok    " : "BROKEN"} ${c.name}${c.ok ? "" : `: ${c.detail.slice(0, 300)}`}`,
    ),
    ...(files ? [`  report: ${rel(files.md)} (and .json)`] : []),
  ].join("\n");
}
