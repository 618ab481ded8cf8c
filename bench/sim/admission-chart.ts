// The admission comparison's chart and figures (bench/ADAPTIVE-ADMISSION.md):
// reads simulator runs (bench/results/sim-*.json, their per-second timeline)
// and writes one SVG with three panels over the seconds since the open (the
// admission rate, the holds' p99 as the buyers saw it, and the checkouts in
// flight), one line per run, with the targets dashed; prints a markdown table
// of each run's figures.
//
//   node --import tsx bench/sim/admission-chart.ts --out bench/adaptive-admission.svg \
//     --p99-target 250 --backlog-target 60 "fixed 40/s=bench/results/sim-a.json" "adaptive=bench/results/sim-b.json"
import fs from "node:fs";
import { parseArgs } from "node:util";
import { lineChart, type Series } from "../lib/charts.js";

interface Sample {
  t: number;
  rate?: number;
  holdP99Ms?: number;
  pending?: number;
  tickets: number;
}

interface Run {
  label: string;
  timeline: Sample[];
  openedAt: number;
  soldOutAfterSeconds: number | undefined;
  ok: boolean;
  command: string;
  loadAverage: string;
}

function readRun(arg: string): Run {
  const eq = arg.indexOf("=");
  if (eq < 1) throw new Error(`expected label=file, got ${arg}`);
  const r = JSON.parse(fs.readFileSync(arg.slice(eq + 1), "utf8")) as {
    timeline: Sample[];
    saleSeconds: number;
    durationSeconds: number;
    soldOutAfterSeconds?: number;
    ok: boolean;
    command: string;
    machine?: { loadAvgBefore?: number[] };
  };
  return {
    label: arg.slice(0, eq),
    timeline: r.timeline,
    // the timeline counts from the run's start; the sale opened saleSeconds before its end
    openedAt: r.durationSeconds - r.saleSeconds,
    soldOutAfterSeconds: r.soldOutAfterSeconds,
    ok: r.ok,
    command: r.command,
    loadAverage: (r.machine?.loadAvgBefore ?? []).map((x) => x.toFixed(1)).join(" "),
  };
}

function main(): number {
  const cmd = parseArgs({
    options: {
      out: { type: "string", default: "bench/adaptive-admission.svg" },
      "p99-target": { type: "string", default: "250" },
      "backlog-target": { type: "string", default: "60" },
    },
    allowPositionals: true,
  });
  const out = cmd.values.out;
  const p99Target = Number(cmd.values["p99-target"]);
  const backlogTarget = Number(cmd.values["backlog-target"]);
  const runs = cmd.positionals.map(readRun);
  if (runs.length === 0) throw new Error("name at least one label=file");

  const since = (r: Run, s: Sample) => s.t - r.openedAt;
  const series = (pick: (s: Sample) => number | undefined): Series[] =>
    runs.map((r) => ({
      name: r.label,
      points: r.timeline
        .filter((s) => since(r, s) >= 0 && pick(s) !== undefined)
        .map((s): [number, number] => [since(r, s), pick(s)!]),
    }));
  const end = Math.max(...runs.map((r) => Math.max(0, ...r.timeline.map((s) => since(r, s)))));
  const target = (name: string, y: number): Series => ({
    name,
    points: [
      [0, y],
      [end, y],
    ],
    color: "#c00",
    dashed: true,
  });
  const width = 720;
  const panels = [
    lineChart({
      title: "Admission rate (buyers let in per second, as set in the live state)",
      xLabel: "seconds since the open",
      yLabel: "per second",
      series: series((s) => s.rate),
      width,
    }),
    lineChart({
      title: "Holds' p99 per second (client side, ms)",
      xLabel: "seconds since the open",
      yLabel: "ms (log)",
      series: [...series((s) => s.holdP99Ms), target(`target ${p99Target} ms (server side)`, p99Target)],
      logY: true,
      width,
    }),
    lineChart({
      title: "Checkouts in flight (orders created, final state not seen yet)",
      xLabel: "seconds since the open",
      yLabel: "orders",
      series: [...series((s) => s.pending), target(`target ${backlogTarget}`, backlogTarget)],
      width,
    }),
  ];
  // Stack the three panels into one SVG.
  const heights = panels.map((p) => Number(/height="(\d+)"/.exec(p)![1]));
  const total = heights.reduce((a, b) => a + b, 0);
  let y = 0;
  const body = panels
    .map((p, i) => {
      const g = `<g transform="translate(0 ${y})">${p.replace(/^<svg[^>]*>/, "").replace(/<\/svg>$/, "")}</g>`;
      y += heights[i]!;
      return g;
    })
    .join("");
  const style = /<style>[\s\S]*?<\/style>/.exec(panels[0]!)![0];
  fs.writeFileSync(
    out,
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${total}" width="${width}" height="${total}">${style}${body.replace(/<style>[\s\S]*?<\/style>/g, "")}</svg>\n`,
  );

  const rows = runs.map((r) => {
    const sale = r.timeline.filter((s) => since(r, s) >= 0);
    const p99s = sale.map((s) => s.holdP99Ms).filter((x): x is number => x !== undefined);
    const pend = sale.map((s) => s.pending ?? 0);
    const over = (xs: number[], limit: number) => xs.filter((x) => x > limit).length;
    const sorted = [...p99s].sort((a, b) => a - b);
    const median = sorted.length ? sorted[Math.floor(sorted.length / 2)]! : NaN;
    return [
      r.label,
      r.soldOutAfterSeconds === undefined ? "not sold out" : `${r.soldOutAfterSeconds} s`,
      `${Math.max(0, ...p99s)} ms`,
      `${median} ms`,
      `${over(p99s, p99Target)} of ${p99s.length}`,
      String(Math.max(0, ...pend)),
      `${over(pend, backlogTarget)} of ${pend.length}`,
      r.ok ? "passed" : "FAILED",
      r.loadAverage,
    ];
  });
  const head = [
    "run",
    "sold out after",
    "holds p99, worst second",
    "holds p99, median second",
    `seconds with p99 > ${p99Target} ms`,
    "most checkouts in flight",
    `seconds with > ${backlogTarget} in flight`,
    "audit",
    "load average (1/5/15 min) when the report was written",
  ];
  process.stdout.write(
    [head, head.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n") +
      `\n\nchart: ${out}\n` +
      runs.map((r) => `- ${r.label}: \`${r.command}\``).join("\n") +
      "\n",
  );
  return 0;
}

process.exitCode = main();
