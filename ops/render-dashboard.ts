// Renders ops/grafana/dashboards/ticketing.json as one SVG from a running
// Prometheus, for where Grafana is not at hand (the README's picture was made
// this way, from a simulated on-sale):
//   node --import tsx ops/render-dashboard.ts http://127.0.0.1:9090 [minutes=10] [out.svg]
// Time series panels plot their queries over the last `minutes`, stat panels
// show the last value, bar gauges one bar per series. `$event` is every event.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

interface Panel {
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; legendFormat?: string }[];
  fieldConfig?: { defaults?: { unit?: string } };
}
interface Series {
  metric: Record<string, string>;
  values: [number, string][];
}

const [prometheus, minutesArg = "10", out = "ticketing-dashboard.svg"] = process.argv.slice(2);
if (!prometheus || !/^https?:\/\//.test(prometheus) || !(Number(minutesArg) > 0)) {
  process.stderr.write("usage: node --import tsx ops/render-dashboard.ts <prometheus url> [minutes] [out.svg]\n");
  process.exit(2);
}
const dashboard = JSON.parse(
  readFileSync(fileURLToPath(new URL("grafana/dashboards/ticketing.json", import.meta.url)), "utf8"),
) as {
  title: string;
  panels: Panel[];
};

const COL = 56;
const ROW = 34;
const COLORS = ["#3274d9", "#e0752d", "#56a64b", "#f2cc0c", "#8f3bb8", "#e02f44", "#1fb0a6", "#a16941"];
const end = Math.floor(Date.now() / 1000);
const start = end - Number(minutesArg) * 60;
const step = Math.max(1, Math.round((end - start) / 120));

async function range(expr: string): Promise<Series[]> {
  const q = new URLSearchParams({
    query: expr.replaceAll("$event", ".*"),
    start: String(start),
    end: String(end),
    step: String(step),
  });
  const res = await fetch(`${prometheus}/api/v1/query_range?${q.toString()}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: Series[] } };
  if (body.status !== "success") throw new Error(`${expr}: ${body.error}`);
  return body.data!.result;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const legend = (format: string | undefined, metric: Record<string, string>) =>
  (format ?? "").replace(/\{\{\s*(\w+)\s*\}\}/g, (_, l: string) => metric[l] ?? "") || JSON.stringify(metric);
function fmt(v: number, unit?: string): string {
  if (!Number.isFinite(v)) return "–";
  if (unit === "s") return v < 1 ? `${(v * 1000).toPrecision(3)} ms` : `${v.toPrecision(3)} s`;
  if (unit === "bytes") return `${(v / 2 ** 20).toFixed(0)} MiB`;
  if (unit === "percentunit") return `${(v * 100).toFixed(1)} %`;
  return Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(3);
}

async function render(p: Panel): Promise<string> {
  const x = p.gridPos.x * COL;
  const y = p.gridPos.y * ROW;
  const w = p.gridPos.w * COL - 6;
  const h = p.gridPos.h * ROW - 6;
  const unit = p.fieldConfig?.defaults?.unit;
  const frame = `<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="3" fill="#181b1f" stroke="#2c3235"/><text x="${x + 8}" y="${y + 17}" fill="#ccccdc" font-size="12" font-weight="600">${esc(p.title)}</text>`;
  if (p.type === "row")
    return `<text x="${x + 4}" y="${y + 22}" fill="#d8d9da" font-size="15" font-weight="700">${esc(p.title)}</text>`;
  const lines = (
    await Promise.all(
      (p.targets ?? []).map(async (t) =>
        (await range(t.expr)).map((s) => ({ s, name: legend(t.legendFormat, s.metric) })),
      ),
    )
  ).flat();
  const last = (s: Series) => Number(s.values.at(-1)?.[1] ?? NaN);
  if (p.type === "stat") {
    const v = lines.reduce((sum, l) => sum + (Number.isFinite(last(l.s)) ? last(l.s) : 0), 0);
    return `${frame}<text x="${x + w / 2}" y="${y + h / 2 + 18}" fill="#73bf69" font-size="34" font-weight="600" text-anchor="middle">${lines.length ? fmt(v, unit) : "–"}</text>`;
  }
  if (p.type === "bargauge") {
    const max = Math.max(1, ...lines.map((l) => last(l.s)).filter(Number.isFinite));
    return (
      frame +
      lines
        .slice(0, 8)
        .map((l, i) => {
          const by = y + 30 + i * 22;
          const bw = Math.max(0, ((w - 150) * last(l.s)) / max);
          return `<text x="${x + 8}" y="${by + 12}" fill="#ccccdc" font-size="11">${esc(l.name).slice(0, 18)}</text><rect x="${x + 100}" y="${by}" width="${bw}" height="14" fill="#56a64b"/><text x="${x + 104 + bw}" y="${by + 12}" fill="#ccccdc" font-size="11">${fmt(last(l.s), unit)}</text>`;
        })
        .join("")
    );
  }
  // Time series.
  const px = x + 44;
  const py = y + 26;
  const pw = w - 52;
  const ph = h - 26 - 16 - 14 * Math.min(3, Math.ceil(Math.min(lines.length, 8) / 3));
  const all = lines.flatMap((l) => l.s.values.map(([, v]) => Number(v))).filter(Number.isFinite);
  const top = Math.max(...all, 0) * 1.1 || 1;
  const X = (t: number) => px + ((t - start) / (end - start)) * pw;
  const Y = (v: number) => py + ph - (v / top) * ph;
  let svg = `${frame}<line x1="${px}" y1="${py + ph}" x2="${px + pw}" y2="${py + ph}" stroke="#2c3235"/><text x="${px - 4}" y="${py + 8}" fill="#8e8e8e" font-size="10" text-anchor="end">${fmt(top, unit)}</text><text x="${px - 4}" y="${py + ph}" fill="#8e8e8e" font-size="10" text-anchor="end">0</text>`;
  lines.slice(0, 8).forEach((l, i) => {
    const pts = l.s.values
      .filter(([, v]) => Number.isFinite(Number(v)))
      .map(([t, v]) => `${X(t).toFixed(1)},${Y(Number(v)).toFixed(1)}`);
    if (pts.length) svg += `<polyline fill="none" stroke="${COLORS[i]}" stroke-width="1.5" points="${pts.join(" ")}"/>`;
    const lx = px + (i % 3) * (pw / 3);
    const ly = py + ph + 14 + Math.floor(i / 3) * 14;
    svg += `<rect x="${lx}" y="${ly - 8}" width="10" height="3" fill="${COLORS[i]}"/><text x="${lx + 14}" y="${ly - 4}" fill="#ccccdc" font-size="10">${esc(l.name).slice(0, 34)}</text>`;
  });
  if (!lines.length)
    svg += `<text x="${x + w / 2}" y="${y + h / 2}" fill="#8e8e8e" font-size="12" text-anchor="middle">No data</text>`;
  return svg;
}

const parts = await Promise.all(dashboard.panels.map(render));
const height = Math.max(...dashboard.panels.map((p) => (p.gridPos.y + p.gridPos.h) * ROW)) + 10;
const width = 24 * COL;
writeFileSync(
  out,
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 30}" font-family="Inter, Helvetica, Arial, sans-serif">` +
    `<rect width="100%" height="100%" fill="#111217"/><text x="8" y="20" fill="#d8d9da" font-size="16" font-weight="700">${esc(dashboard.title)} (last ${minutesArg} min)</text>` +
    `<g transform="translate(0, 30)">${parts.join("")}</g></svg>\n`,
);
process.stdout.write(`wrote ${out}\n`);
