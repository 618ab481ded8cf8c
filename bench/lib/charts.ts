// Charts for bench reports: plain inline SVG, no library and no CDN (the
// machines that run the benches reach npm only, and a person opens the report
// from disk). Three shapes cover what the benches show: a line chart (series
// over time), a log-scale latency histogram, and horizontal bars (ratios
// against a goal). The ghz helpers turn `-O json` per-call details into the
// time series and histogram bins, so any bench that runs ghz can call
// ghzRoundSeries() on each round's output and roundCharts() on a group.
// Why not a library: the npm charting libraries that render static SVG on the
// server (vega + vega-lite, chartist with jsdom, echarts' SSR) each pull in
// megabytes for three chart shapes that fit in this file.
import fs from "node:fs";

// --- ghz per-call details -> series

export interface GhzCall {
  /** End of the call, seconds since the epoch (ghz's detail timestamp). */
  end: number;
  latencyMs: number;
  /** gRPC status name as ghz prints it: OK, Aborted, FailedPrecondition, ... */
  status: string;
}

export interface TimePoint {
  /** Seconds since the round's first call started (bucket start). */
  t: number;
  /** Calls completed per second in the bucket. */
  rps: number;
  p50: number;
  p99: number;
  /** Calls that did not end OK in the bucket. */
  errors: number;
}

/** Fixed histogram edges: 10 per decade from 10 µs to 100 s, so rounds and benches share bins. */
export const LATENCY_EDGES_MS: number[] = Array.from(
  { length: 71 },
  (_, i) => Math.round(0.01 * 10 ** (i / 10) * 1e6) / 1e6,
);

export interface RoundSeries {
  /** Seconds from the first tallied call's start to the last one's end. */
  windowSeconds: number;
  bucketSeconds: number;
  points: TimePoint[];
  /** Calls per bin of LATENCY_EDGES_MS (bin i: edges[i] <= ms < edges[i+1]; the last bin takes the rest). */
  histogram: number[];
}

/** RFC 3339 with nanoseconds -> seconds since the epoch, keeping sub-ms precision. */
function epochSeconds(ts: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return Date.parse(ts) / 1000;
  return Date.parse(`${m[1]}${m[3]}`) / 1000 + Number(m[2] ?? 0);
}

/** The per-call details of a ghz `-O json` report (tallied calls only: --skipFirst ones are absent). */
export function readGhzCalls(file: string): GhzCall[] {
  const j = JSON.parse(fs.readFileSync(file, "utf8")) as {
    details?: { timestamp: string; latency: number; status: string }[] | null;
  };
  return (j.details ?? []).map((d) => ({
    end: epochSeconds(d.timestamp),
    latencyMs: d.latency / 1e6,
    status: d.status,
  }));
}

function percentileSorted(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A "nice" bucket width giving about `target` buckets over the window (never under 10 ms). */
function bucketFor(windowSeconds: number, target = 80): number {
  const raw = Math.max(0.01, windowSeconds / target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].find((s) => s * mag >= raw)! * mag;
  return step;
}

export function latencyHistogram(latenciesMs: number[]): number[] {
  const bins = new Array<number>(LATENCY_EDGES_MS.length - 1).fill(0);
  for (const ms of latenciesMs) {
    const i = Math.floor(Math.log10(Math.max(ms, LATENCY_EDGES_MS[0]!) / LATENCY_EDGES_MS[0]!) * 10);
    bins[Math.min(bins.length - 1, Math.max(0, i))]!++;
  }
  return bins;
}

/** Throughput and latency over time, and the latency histogram, of one ghz round. */
export function roundSeries(calls: GhzCall[]): RoundSeries {
  if (calls.length === 0) return { windowSeconds: 0, bucketSeconds: 0, points: [], histogram: latencyHistogram([]) };
  let first = Infinity;
  let last = -Infinity;
  for (const c of calls) {
    first = Math.min(first, c.end - c.latencyMs / 1000);
    last = Math.max(last, c.end);
  }
  const windowSeconds = last - first;
  const bucket = bucketFor(windowSeconds);
  const buckets: { lat: number[]; errors: number }[] = Array.from(
    { length: Math.max(1, Math.ceil(windowSeconds / bucket)) },
    () => ({ lat: [], errors: 0 }),
  );
  for (const c of calls) {
    const b = buckets[Math.min(buckets.length - 1, Math.floor((c.end - first) / bucket))]!;
    b.lat.push(c.latencyMs);
    if (c.status !== "OK") b.errors++;
  }
  // the last bucket is usually partial: its rate is over the part the window covers,
  // and a sliver under half a bucket is left out (a few calls over a few ms would spike)
  const tail = windowSeconds - (buckets.length - 1) * bucket;
  if (buckets.length > 1 && tail < bucket / 2) buckets.pop();
  const points = buckets.map((b, i) => {
    const width = Math.min(bucket, windowSeconds - i * bucket) || bucket;
    const sorted = b.lat.sort((x, y) => x - y);
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    return {
      t: r3(i * bucket),
      rps: Math.round(b.lat.length / width),
      p50: r3(percentileSorted(sorted, 50)),
      p99: r3(percentileSorted(sorted, 99)),
      errors: b.errors,
    };
  });
  return { windowSeconds, bucketSeconds: bucket, points, histogram: latencyHistogram(calls.map((c) => c.latencyMs)) };
}

/** roundSeries() of a ghz `-O json` file; undefined when the file is missing or has no details. */
export function ghzRoundSeries(file: string): RoundSeries | undefined {
  if (!fs.existsSync(file)) return undefined;
  const calls = readGhzCalls(file);
  return calls.length ? roundSeries(calls) : undefined;
}

// --- SVG

export const PALETTE = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
  "#7f7f7f",
  "#bcbd22",
];
const NOOP_GREY = "#8a8a8a";

export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].find((s) => s * mag >= raw)! * mag;
  // from the last tick at or below lo to the first at or above hi, so the data always fits
  const out: number[] = [];
  for (let i = Math.floor(lo / step + 1e-9); ; i++) {
    out.push(Math.round(i * step * 1e9) / 1e9);
    if (i * step >= hi - step * 1e-9) break;
  }
  return out;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(0)}k`;
  if (a >= 1000) return `${+(v / 1e3).toFixed(1)}k`;
  if (a >= 10 || a === 0) return `${+v.toFixed(0)}`;
  if (a >= 1) return `${+v.toFixed(1)}`;
  return `${+v.toPrecision(2)}`;
}

export interface Series {
  name: string;
  points: [number, number][];
  color?: string;
  dashed?: boolean;
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function frame(width: number, height: number, legendRows: number): Frame {
  return { width, height, left: 58, right: 12, top: 28, bottom: 44 + legendRows * 16 };
}

function legend(f: Frame, items: { name: string; color: string; dashed?: boolean }[]): string {
  const perRow = Math.max(1, Math.floor((f.width - f.left) / 150));
  return items
    .map((it, i) => {
      const x = f.left + (i % perRow) * 150;
      // below the x axis label (at +29)
      const y = f.height - f.bottom + 46 + Math.floor(i / perRow) * 16;
      return `<line x1="${x}" y1="${y - 4}" x2="${x + 18}" y2="${y - 4}" stroke="${it.color}" stroke-width="2"${it.dashed ? ' stroke-dasharray="4 3"' : ""}/><text x="${x + 22}" y="${y}" class="lg">${esc(it.name)}</text>`;
    })
    .join("");
}

function svgOpen(f: Frame, title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${f.width} ${f.height}" width="${f.width}" height="${f.height}" role="img" aria-label="${esc(title)}"><style>text{font:11px system-ui,sans-serif;fill:#333}.t{font-weight:600;font-size:12px}.lg{font-size:11px}.ax{stroke:#999}.gr{stroke:#e5e5e5}</style><text x="${f.left}" y="16" class="t">${esc(title)}</text>`;
}

/** Lines over a linear x axis (or log y): throughput or latency over time, one line per round. */
export function lineChart(o: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
  logY?: boolean;
}): string {
  const series = o.series.filter((s) => s.points.length > 0);
  const legendRows = Math.ceil(series.length / Math.max(1, Math.floor(((o.width ?? 560) - 58) / 150)));
  const f = frame(o.width ?? 560, o.height ?? 260 + legendRows * 16, legendRows);
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((y) => Number.isFinite(y) && (!o.logY || y > 0));
  const x0 = Math.min(0, ...xs);
  const x1 = Math.max(x0 + 1e-9, ...xs);
  const xt = niceTicks(x0, x1);
  const xMax = Math.max(x1, xt[xt.length - 1]!);
  let y0 = 0;
  let y1 = ys.length ? Math.max(...ys) : 1;
  let yt: number[];
  if (o.logY) {
    y0 = 10 ** Math.floor(Math.log10(ys.length ? Math.min(...ys) : 1));
    y1 = 10 ** Math.ceil(Math.log10(Math.max(y1, y0 * 10)));
    yt = [];
    for (let v = y0; v <= y1 * 1.0001; v *= 10) yt.push(v);
  } else {
    yt = niceTicks(0, y1 * 1.05);
    y1 = yt[yt.length - 1]!;
  }
  const pw = f.width - f.left - f.right;
  const ph = f.height - f.top - f.bottom;
  const sx = (x: number) => f.left + ((x - x0) / (xMax - x0)) * pw;
  const sy = (y: number) =>
    o.logY
      ? f.top + ph - ((Math.log10(y) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * ph
      : f.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const parts: string[] = [svgOpen(f, o.title)];
  for (const v of yt)
    parts.push(
      `<line class="gr" x1="${f.left}" x2="${f.left + pw}" y1="${sy(v).toFixed(1)}" y2="${sy(v).toFixed(1)}"/><text x="${f.left - 4}" y="${(sy(v) + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`,
    );
  for (const v of xt)
    parts.push(
      `<line class="ax" x1="${sx(v).toFixed(1)}" x2="${sx(v).toFixed(1)}" y1="${f.top + ph}" y2="${f.top + ph + 4}"/><text x="${sx(v).toFixed(1)}" y="${f.top + ph + 15}" text-anchor="middle">${fmt(v)}</text>`,
    );
  parts.push(
    `<line class="ax" x1="${f.left}" x2="${f.left + pw}" y1="${f.top + ph}" y2="${f.top + ph}"/><line class="ax" x1="${f.left}" x2="${f.left}" y1="${f.top}" y2="${f.top + ph}"/>`,
  );
  parts.push(`<text x="${f.left + pw / 2}" y="${f.top + ph + 29}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(12 ${f.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  const items: { name: string; color: string; dashed?: boolean }[] = [];
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const pts = s.points
      .filter((p) => Number.isFinite(p[1]) && (!o.logY || p[1] > 0))
      .map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`);
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="4 3"' : ""} points="${pts.join(" ")}"><title>${esc(s.name)}</title></polyline>`,
    );
    items.push({ name: s.name, color, dashed: s.dashed });
  });
  parts.push(legend(f, items));
  parts.push("</svg>");
  return parts.join("");
}

/** Latency histograms on a log x axis, as the share of each series' calls per bin (step lines, so several overlay). */
export function histogramChart(o: {
  title: string;
  series: { name: string; bins: number[]; color?: string; dashed?: boolean }[];
  width?: number;
  height?: number;
}): string {
  const series = o.series.filter((s) => s.bins.some((n) => n > 0));
  const legendRows = Math.ceil(series.length / Math.max(1, Math.floor(((o.width ?? 560) - 58) / 150)));
  const f = frame(o.width ?? 560, o.height ?? 260 + legendRows * 16, legendRows);
  const used = series.flatMap((s) => s.bins.map((n, i) => (n > 0 ? i : -1)).filter((i) => i >= 0));
  const lo = used.length ? Math.max(0, Math.min(...used) - 1) : 0;
  const hi = used.length ? Math.min(LATENCY_EDGES_MS.length - 1, Math.max(...used) + 2) : 10;
  const e0 = LATENCY_EDGES_MS[lo]!;
  const e1 = LATENCY_EDGES_MS[hi]!;
  const shares = series.map((s) => {
    const total = s.bins.reduce((a, b) => a + b, 0) || 1;
    return s.bins.map((n) => (100 * n) / total);
  });
  const yMax = Math.max(1, ...shares.flatMap((sh) => sh.slice(lo, hi)));
  const yt = niceTicks(0, yMax * 1.05);
  const y1 = yt[yt.length - 1]!;
  const pw = f.width - f.left - f.right;
  const ph = f.height - f.top - f.bottom;
  const sx = (ms: number) => f.left + ((Math.log10(ms) - Math.log10(e0)) / (Math.log10(e1) - Math.log10(e0))) * pw;
  const sy = (y: number) => f.top + ph - (y / y1) * ph;
  const parts: string[] = [svgOpen(f, o.title)];
  for (const v of yt)
    parts.push(
      `<line class="gr" x1="${f.left}" x2="${f.left + pw}" y1="${sy(v).toFixed(1)}" y2="${sy(v).toFixed(1)}"/><text x="${f.left - 4}" y="${(sy(v) + 4).toFixed(1)}" text-anchor="end">${fmt(v)} %</text>`,
    );
  for (let d = Math.ceil(Math.log10(e0) - 1e-9); d <= Math.floor(Math.log10(e1) + 1e-9); d++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** d;
      if (v < e0 || v > e1) continue;
      parts.push(
        `<line class="${m === 1 ? "gr" : "ax"}" x1="${sx(v).toFixed(1)}" x2="${sx(v).toFixed(1)}" y1="${m === 1 ? f.top : f.top + ph}" y2="${f.top + ph + 4}"/><text x="${sx(v).toFixed(1)}" y="${f.top + ph + 15}" text-anchor="middle">${fmt(v)}</text>`,
      );
    }
  }
  parts.push(
    `<line class="ax" x1="${f.left}" x2="${f.left + pw}" y1="${f.top + ph}" y2="${f.top + ph}"/><line class="ax" x1="${f.left}" x2="${f.left}" y1="${f.top}" y2="${f.top + ph}"/>`,
  );
  parts.push(
    `<text x="${f.left + pw / 2}" y="${f.top + ph + 29}" text-anchor="middle">latency, ms (log scale, 10 bins per decade)</text>`,
  );
  parts.push(
    `<text transform="translate(12 ${f.top + ph / 2}) rotate(-90)" text-anchor="middle">share of calls</text>`,
  );
  const items: { name: string; color: string; dashed?: boolean }[] = [];
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length]!;
    const sh = shares[k]!;
    const pts: string[] = [];
    for (let i = lo; i < hi; i++) {
      const y = sy(sh[i] ?? 0).toFixed(1);
      pts.push(`${sx(LATENCY_EDGES_MS[i]!).toFixed(1)},${y}`, `${sx(LATENCY_EDGES_MS[i + 1]!).toFixed(1)},${y}`);
    }
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="4 3"' : ""} points="${pts.join(" ")}"><title>${esc(s.name)}</title></polyline>`,
    );
    items.push({ name: s.name, color, dashed: s.dashed });
  });
  parts.push(legend(f, items));
  parts.push("</svg>");
  return parts.join("");
}

/** Horizontal bars with an optional goal marker per bar: e.g. each RPC's ratio to Noop. */
export function barChart(o: {
  title: string;
  bars: { label: string; value: number; goal?: number; note?: string }[];
  xLabel: string;
  width?: number;
}): string {
  const rowH = 24;
  const width = o.width ?? 640;
  // margins from the longest label and note (about 6.5 px per character at 11 px)
  const left = Math.min(width / 3, 12 + 6.5 * Math.max(8, ...o.bars.map((b) => b.label.length)));
  const right = Math.min(width / 3, 12 + 6.5 * Math.max(6, ...o.bars.map((b) => (b.note ?? "0.000").length)));
  const top = 28;
  const height = top + o.bars.length * rowH + 34;
  const vals = o.bars.flatMap((b) => [b.value, b.goal ?? 0]).filter(Number.isFinite);
  const xt = niceTicks(0, Math.max(1e-9, ...vals) * 1.05);
  const x1 = xt[xt.length - 1]!;
  const pw = width - left - right;
  const sx = (v: number) => left + (v / x1) * pw;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(o.title)}"><style>text{font:11px system-ui,sans-serif;fill:#333}.t{font-weight:600;font-size:12px}.gr{stroke:#e5e5e5}</style><text x="8" y="16" class="t">${esc(o.title)}</text>`,
  ];
  const bottom = top + o.bars.length * rowH;
  for (const v of xt)
    parts.push(
      `<line class="gr" x1="${sx(v).toFixed(1)}" x2="${sx(v).toFixed(1)}" y1="${top}" y2="${bottom}"/><text x="${sx(v).toFixed(1)}" y="${bottom + 13}" text-anchor="middle">${fmt(v)}</text>`,
    );
  parts.push(`<text x="${left + pw / 2}" y="${bottom + 28}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  o.bars.forEach((b, i) => {
    const y = top + i * rowH;
    const met = b.goal === undefined ? undefined : b.value >= b.goal;
    const color = met === undefined ? PALETTE[0] : met ? PALETTE[2] : PALETTE[1];
    parts.push(`<text x="${left - 6}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>`);
    if (Number.isFinite(b.value))
      parts.push(
        `<rect x="${left}" y="${y + 4}" width="${Math.max(1, sx(b.value) - left).toFixed(1)}" height="${rowH - 8}" fill="${color}"><title>${esc(`${b.label}: ${b.value}`)}</title></rect>`,
      );
    if (b.goal !== undefined)
      parts.push(
        `<line x1="${sx(b.goal).toFixed(1)}" x2="${sx(b.goal).toFixed(1)}" y1="${y + 1}" y2="${y + rowH - 1}" stroke="#000" stroke-width="2"><title>goal ${b.goal}</title></line>`,
      );
    const noteX = Math.max(Number.isFinite(b.value) ? sx(b.value) : left, b.goal !== undefined ? sx(b.goal) : left) + 4;
    parts.push(
      `<text x="${noteX.toFixed(1)}" y="${y + 15}">${esc(b.note ?? (Number.isFinite(b.value) ? fmt(b.value) : "–"))}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}

// --- a group of ghz rounds -> the three charts

export interface ChartRound {
  /** e.g. "HoldBestAvailable 2" or "Noop 2". */
  label: string;
  /** The call the round measured ("Noop"): the histogram merges the rounds of each group. */
  group: string;
  series: RoundSeries;
  /** Baseline rounds are drawn dashed and grey-ish. */
  baseline?: boolean;
}

/**
 * Throughput over time and p99 latency over time with one line per round,
 * and the latency histogram of all rounds of each call merged; `call` names
 * the measured call (its rounds solid) beside the baseline (dashed).
 */
export function roundCharts(call: string, rounds: ChartRound[], width = 560): string {
  let measured = 0;
  let baselines = 0;
  const color = (r: ChartRound) => (r.baseline ? shade(NOOP_GREY, baselines++) : PALETTE[measured++ % PALETTE.length]!);
  const styled = rounds.map((r) => ({ r, color: color(r) }));
  // a call far slower than its baseline (CreateOrder vs Noop) would be a flat line at 0 on a linear axis
  const peak = (base: boolean) =>
    Math.max(0, ...rounds.filter((r) => !!r.baseline === base).flatMap((r) => r.series.points.map((p) => p.rps)));
  const logRate = peak(false) > 0 && peak(false) < 0.05 * peak(true);
  const tput = lineChart({
    title: `${call}: throughput over time, per round`,
    xLabel: "seconds since the round's first call",
    yLabel: logRate ? "calls/s (log)" : "calls/s",
    logY: logRate,
    width,
    series: styled.map(({ r, color }) => ({
      name: r.label,
      color,
      dashed: r.baseline,
      points: r.series.points.map((p) => [p.t, p.rps] as [number, number]),
    })),
  });
  const lat = lineChart({
    title: `${call}: p99 latency over time, per round`,
    xLabel: "seconds since the round's first call",
    yLabel: "p99 ms (log)",
    logY: true,
    width,
    series: styled.map(({ r, color }) => ({
      name: r.label,
      color,
      dashed: r.baseline,
      points: r.series.points.map((p) => [p.t, p.p99] as [number, number]),
    })),
  });
  const merged = new Map<string, { bins: number[]; baseline: boolean }>();
  for (const r of rounds) {
    const name = r.group;
    const m = merged.get(name) ?? {
      bins: new Array<number>(r.series.histogram.length).fill(0),
      baseline: !!r.baseline,
    };
    r.series.histogram.forEach((n, i) => (m.bins[i] = (m.bins[i] ?? 0) + n));
    merged.set(name, m);
  }
  let groups = 0;
  const hist = histogramChart({
    title: `${call}: latency histogram, all measured rounds`,
    width,
    series: [...merged].map(([name, m]) => ({
      name,
      bins: m.bins,
      dashed: m.baseline,
      color: m.baseline ? NOOP_GREY : PALETTE[groups++ % PALETTE.length],
    })),
  });
  return `<div class="charts">${tput}${lat}${hist}</div>`;
}

/** Greys for baseline rounds, a little darker each round so they stay apart. */
function shade(hex: string, i: number): string {
  const v = Math.max(0x40, parseInt(hex.slice(1, 3), 16) - (i % 4) * 0x18);
  const h = v.toString(16).padStart(2, "0");
  return `#${h}${h}${h}`;
}

// --- the page

export function htmlTable(head: string[], rows: (string | number)[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows
    .map(
      (r) =>
        `<tr>${r.map((c) => `<td>${typeof c === "number" ? c.toLocaleString("en-US") : esc(c)}</td>`).join("")}</tr>`,
    )
    .join("")}</tbody></table>`;
}

/** A self-contained HTML page (inline CSS, inline SVG): opens from disk, no network. */
export function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:8px}.charts svg{border:1px solid #eee;background:#fff}
.ok{color:#2a7a2a}.bad{color:#b00020;font-weight:600}code,pre{font:12px ui-monospace,monospace}pre{background:#f6f6f6;padding:8px;overflow-x:auto}
.note{color:#555}
</style></head><body>
${body}
</body></html>
`;
}
