// The shipped dashboards and alerts (ops/): the Grafana dashboard is valid
// dashboard JSON on the provisioned data source, every metric its queries and
// the alert rules name is exported by the real API or worker, promtool accepts
// the Prometheus files and the alert unit tests pass, and a real Prometheus
// (Debian's package) scrapes the running API and answers for seats left.
// promtool/prometheus tests skip, saying so, where the package is absent.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../tools/devstack/stack.js";
import { call, freePort, startTestApp, uid, type TestApp } from "../support/app.js";
import { holdSeats, openSaleEvent } from "../support/checkout.js";
import { freshMysqlDatabase, type FreshDatabase } from "../support/env.js";
import { scrape, type Family } from "./prom-text.js";
import { workerProcesses, type WorkerProcesses } from "../support/worker-process.js";

const OPS = path.join(repoRoot, "ops");
const DASHBOARD = path.join(OPS, "grafana/dashboards/ticketing.json");
const ALERTS = path.join(OPS, "prometheus/alerts.yml");

function onPath(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
}
const HAVE_PROMTOOL = onPath("promtool");
const HAVE_PROMETHEUS = onPath("prometheus");
const INSTALL_HINT = "Debian's prometheus package provides it (CI installs it: apt-get install prometheus)";
if (!HAVE_PROMTOOL) console.warn(`metrics-ops: promtool not found, skipping the promtool checks; ${INSTALL_HINT}`);
if (!HAVE_PROMETHEUS)
  console.warn(`metrics-ops: prometheus not found, skipping the real-Prometheus scrape; ${INSTALL_HINT}`);

// ---- PromQL: the metric names an expression reads ---------------------------

const NOT_METRICS = new Set([
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "inf",
  "nan",
]);

function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const before = bare[m.index - 1] ?? " ";
    const after = bare.slice(m.index + m[0].length);
    if (/[0-9.]/.test(before) || /^\s*\(/.test(after) || NOT_METRICS.has(m[0])) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** The `expr` of every rule in a rules file (single line or a `|` block). */
function ruleExprs(yaml: string): string[] {
  const lines = yaml.split("\n");
  const out: string[] = [];
  lines.forEach((line, i) => {
    const m = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (!m) return;
    if (m[2] !== "|" && m[2] !== ">") return void out.push(m[2]!);
    const block: string[] = [];
    for (let j = i + 1; j < lines.length && (lines[j]!.trim() === "" || lines[j]!.search(/\S/) > m[1]!.length); j++)
      block.push(lines[j]!);
    out.push(block.join("\n"));
  });
  return out;
}

/** Every sample name a scrape can show: family names plus a histogram's series. */
function exportedNames(families: Map<string, Family>): Set<string> {
  const names = new Set<string>();
  for (const f of families.values()) {
    if (f.type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(f.name + s);
    else names.add(f.name);
  }
  return names;
}

interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: DashboardPanel[];
  templating: {
    list: { name: string; type: string; datasource: { uid: string }; query: { query: string } | string }[];
  };
};
const datasourceUid = /^\s*uid:\s*(\S+)\s*$/m.exec(
  readFileSync(path.join(OPS, "grafana/provisioning/datasources/prometheus.yml"), "utf8"),
)?.[1];
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const alertExprs = ruleExprs(readFileSync(ALERTS, "utf8"));

describe("the Grafana dashboard", () => {
  it("is valid dashboard JSON: panels with targets on the provisioned Prometheus data source", () => {
    expect(datasourceUid).toBe("prometheus");
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.title).not.toBe("");
    expect(Number.isInteger(dashboard.schemaVersion)).toBe(true);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const panels = dashboard.panels.filter((p) => p.type !== "row");
    expect(panels.length).toBeGreaterThan(20);
    for (const p of panels) {
      expect(["timeseries", "stat", "bargauge", "gauge", "table"], p.title).toContain(p.type);
      expect(p.title).not.toBe("");
      const { h, w, x, y } = p.gridPos;
      for (const n of [h, w, x, y]) expect(Number.isInteger(n) && n >= 0, p.title).toBe(true);
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      expect(p.datasource?.uid, p.title).toBe(datasourceUid);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
      for (const t of p.targets!) {
        expect(t.expr.trim(), p.title).not.toBe("");
        expect(t.datasource?.uid, p.title).toBe(datasourceUid);
      }
    }
    for (const v of dashboard.templating.list) expect(v.datasource.uid).toBe(datasourceUid);
  });

  it("the PromQL name extractor finds metrics and nothing else", () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (grpc_method, le) (rate(grpc_server_handling_seconds_bucket{grpc_method!~"Watch.*"}[5m]))) > 0.5',
      ),
    ).toEqual(["grpc_server_handling_seconds_bucket"]);
    expect(
      metricNames('a{x="b c"} and on (event_id) (sum without (state) (b) unless c offset 5m) * 1e3').sort(),
    ).toEqual(["a", "b", "c"]);
  });
});

describe("every metric the dashboard and the alerts name is exported", () => {
  let t: TestApp;
  let workers: WorkerProcesses | undefined;
  let workerDb: FreshDatabase;
  let exported: Set<string>;

  beforeAll(async () => {
    t = await startTestApp();
    // The worker as deployed (its own process), so the Temporal SDK's metrics are there too.
    workerDb = await freshMysqlDatabase("ops_worker");
    const [metricsPort, sdkPort] = [await freePort(), await freePort()];
    workers = workerProcesses(workerDb.url, uid("tq"), {
      WORKER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
      TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${sdkPort}`,
      SIGNING_THREADS: "0",
    });
    const worker = await workers.start();
    exported = exportedNames((await scrape(t.app.metricsPort!)).families);
    // Until the SDK reports its pollers (they start a moment after the worker).
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (worker.exitCode !== null || Date.now() > deadline)
        throw new Error(`worker metrics not ready (exit code ${worker.exitCode})`);
      const names = exportedNames((await scrape(metricsPort)).families);
      if (names.has("temporal_num_pollers") && names.has("temporal_worker_task_slots_used")) {
        for (const n of names) exported.add(n);
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    // Made by Prometheus itself for every target.
    exported.add("up");
  });

  afterAll(async () => {
    workers?.stopAll();
    await t?.stop();
    await workerDb?.drop();
  });

  it("in the dashboard", () => {
    const named = new Set(dashboardExprs.flatMap(metricNames));
    expect(named.size).toBeGreaterThan(20);
    expect([...named].filter((n) => !exported.has(n))).toEqual([]);
    const template = dashboard.templating.list[0]!.query;
    expect(
      exported.has(/label_values\((\w+)/.exec(typeof template === "string" ? template : template.query)![1]!),
    ).toBe(true);
  });

  it("in the alert rules", () => {
    expect(alertExprs.length).toBeGreaterThanOrEqual(8);
    const named = new Set(alertExprs.flatMap(metricNames));
    expect(named.size).toBeGreaterThan(10);
    expect([...named].filter((n) => !exported.has(n))).toEqual([]);
  });
});

describe.skipIf(!HAVE_PROMTOOL)("promtool (skipped without Debian's prometheus package)", () => {
  const promtool = (...args: string[]) =>
    execFileSync("promtool", args, { cwd: repoRoot, encoding: "utf8", stdio: "pipe" });

  it("accepts the rules and both scrape configs", () => {
    expect(promtool("check", "rules", "ops/prometheus/alerts.yml")).toMatch(/SUCCESS: \d+ rules found/);
    expect(promtool("check", "config", "ops/prometheus/prometheus.yml")).toContain(
      "is valid prometheus config file syntax",
    );
    expect(promtool("check", "config", "ops/prometheus/prometheus.docker.yml")).toContain(
      "is valid prometheus config file syntax",
    );
  });

  it("passes the alert unit tests (the on-sale alerts fire when they should, and only then)", () => {
    expect(promtool("test", "rules", "ops/prometheus/alerts.test.yml")).toContain("SUCCESS");
  });
});

describe.skipIf(!HAVE_PROMETHEUS)("a real Prometheus (skipped without Debian's prometheus package)", () => {
  let t: TestApp;
  let prometheus: ChildProcess;
  let dir: string;
  let webPort: number;
  let output = "";

  beforeAll(async () => {
    t = await startTestApp();
    dir = mkdtempSync(path.join(tmpdir(), "ticketing-prom-"));
    // The shipped rules, and the shipped API job pointed at this test's API.
    copyFileSync(ALERTS, path.join(dir, "alerts.yml"));
    writeFileSync(
      path.join(dir, "prometheus.yml"),
      readFileSync(path.join(OPS, "prometheus/prometheus.yml"), "utf8")
        .replace(/scrape_interval: \d+s/, "scrape_interval: 1s")
        .replace('"127.0.0.1:9464"', `"127.0.0.1:${t.app.metricsPort}"`),
    );
    webPort = await freePort();
    prometheus = spawn(
      "prometheus",
      [
        `--config.file=${path.join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${path.join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${webPort}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    prometheus.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    prometheus.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  });

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      prometheus.kill("SIGTERM");
      await new Promise((r) => prometheus.once("exit", r));
    }
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const res = await fetch(`http://127.0.0.1:${webPort}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as {
      status: string;
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    return body.status === "success" ? body.data.result : [];
  }

  it("scrapes the running API and answers a query for seats left, with the shipped rules loaded", async () => {
    const eventId = await openSaleEvent(t);
    await holdSeats(t, eventId, uid("b"), ["A-1-1", "A-1-2", "A-1-3"]);
    const summary = await call(t.events, t.events.getEventSummary, { eventId });
    const free = summary.sections.find((s) => s.sectionId === "A")!.counts!.free;
    expect(free).toBe(17);
    let result: Awaited<ReturnType<typeof query>> = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      result = await query(
        `ticketing_seats{job="ticketing-api",event_id="${eventId}",section_id="A",state="free"}`,
      ).catch(() => []);
      if (result.length > 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(result, output.slice(-2000)).toHaveLength(1);
    expect(Number(result[0]!.value[1])).toBe(free);
    const rules = (await (await fetch(`http://127.0.0.1:${webPort}/api/v1/rules`)).json()) as {
      data: { groups: { rules: unknown[] }[] };
    };
    expect(rules.data.groups.flatMap((g) => g.rules).length).toBe(alertExprs.length);
  });
});
