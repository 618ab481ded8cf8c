// `npm run bench`: every benchmark in sequence, each with its own stack (each
// bench starts and stops its own Redis, MariaDB, Temporal and API), then an
// index of what they wrote: bench/results/index-<timestamp>.{md,html} with a
// summary on top (each measured call's ratio against its baseline and goal)
// and a link to every report. A bench that fails does not stop the others;
// the umbrella exits non-zero when any failed.
//
// Knobs (env): BENCH_ONLY (comma list of holds, rpcs, checkout, queue, poll, best,
// strategies, scaling; default all that exist), BENCH_OUT (where results/ goes; each
// bench honours it too). Every other BENCH_* variable reaches every bench, so
// a quick smoke of the whole suite is e.g.
//   BENCH_OUT=/tmp/b BENCH_N=2000 BENCH_ROUNDS=1 BENCH_WARMUP=500 BENCH_SKIP=100 \
//   BENCH_CONTENTION_CALLS=2000 BENCH_CEILING_CALLS=10000 BENCH_CEILING_RUNS=1 \
//   BENCH_CHECKOUTS=20 BENCH_WARMUP_CHECKOUTS=10 BENCH_SERIAL=2 BENCH_HOLD_N=2000 \
//   BENCH_HOLD_WARMUP=500 BENCH_FLOOD=2000 BENCH_WATCHERS=200 BENCH_WATCH_ROUNDS=1 \
//   BENCH_SIGN=1000 BENCH_CREATE_N=30 BENCH_CREATE_WARMUP=10 BENCH_RESCAN_N=500 npm run bench
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { repoRoot } from "../tools/devstack/stack.js";
import { barChart, esc, htmlPage } from "./lib/charts.js";
import { runBench, type BenchOutcome, type BenchRun } from "./lib/runner.js";
import { say } from "./lib/stack.js";
import { median, round } from "./lib/stats.js";
import { type machineInfo, sourceInfo } from "./lib/sys.js";
import { RESULTS_DIR } from "./lib/results.js";

/** One measured call against its baseline, as the summary shows it. */
interface Figure {
  bench: string;
  measure: string;
  value: string;
  baseline: string;
  ratio: number;
  goal?: number;
  /** "at most": the ratio meets the goal when ≤ it (a CPU cost); default "at least" (a throughput). */
  goalIsCeiling?: boolean;
  goalNote?: string;
}

interface Bench {
  name: string;
  /** the npm script that runs it */
  script: string;
  /** result files it writes start with this */
  prefix: string;
  /** headline figures from its JSON result */
  figures(r: unknown): Figure[];
}

/** A bench's JSON result: each has its own shape, read only here for the headline figures. */
type J = Record<string, any>;

const n0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–");

const BENCHES: Bench[] = [
  {
    name: "holds",
    script: "bench:holds",
    prefix: "holds-",
    figures: (r: J) => [
      {
        bench: "holds",
        measure: "HoldSeats",
        value: `${n0(r.throughput.medianHoldRps)}/s`,
        baseline: `Noop ${n0(r.throughput.medianNoopRps)}/s`,
        ratio: r.throughput.medianRatio,
        goal: r.throughput.goal,
        goalNote: "issue #3",
      },
      ...(r.throughput.eval
        ? [
            {
              bench: "holds",
              measure: "Eval (the pipeline plus one bare script call)",
              value: `${n0(r.throughput.eval.medianRps)}/s`,
              baseline: `Noop ${n0(r.throughput.medianNoopRps)}/s`,
              ratio: r.throughput.eval.medianRatio,
              goalNote: `no goal: what any call with one script reaches at best; HoldSeats/Noop if a hold cost the API no more than this: ${r.throughput.eval.ceilingIfApiAtEval ?? "–"}`,
            },
          ]
        : []),
    ],
  },
  {
    name: "rpcs",
    script: "bench:rpcs",
    prefix: "rpcs-",
    figures: (r: J) =>
      (r.rpcs as J[]).map((x) => ({
        bench: "rpcs",
        measure: x.name,
        value: `${n0(x.medianRps)}/s`,
        baseline: `Noop ${n0(x.medianNoopRps)}/s`,
        ratio: x.medianRatio,
        goal: x.goal,
        goalNote: x.goalNote,
      })),
  },
  {
    name: "checkout",
    script: "bench:checkout",
    prefix: "checkout-",
    figures: (r: J) => [
      {
        bench: "checkout",
        measure: "checkout end to end",
        value: `${r.checkout.medianCheckoutRate}/s`,
        baseline: `bare workflow ${r.checkout.medianBareRate}/s`,
        ratio: r.checkout.medianRatio,
        goal: r.checkout.goal,
        goalNote: "issue #5",
      },
      {
        bench: "checkout",
        measure: "HoldSeats while checkouts run",
        value: `${n0(r.holds.medianLoadedRps)}/s`,
        baseline: `idle ${n0(r.holds.medianIdleRps)}/s`,
        ratio: r.holds.medianRatio,
        goal: r.holds.goal,
        goalNote: "issue #5",
      },
    ],
  },
  {
    name: "queue",
    script: "bench:queue",
    prefix: "queue-2",
    figures: (r: J) => {
      const rounds = r.throughput.rounds as J[];
      const m = (f: (x: J) => number) => median(rounds.map(f));
      return [
        {
          bench: "queue",
          measure: "JoinQueue",
          value: `${n0(m((x) => x.join.rps))}/s`,
          baseline: `Noop ${n0(m((x) => x.noopJoin.rps))}/s`,
          ratio: r.throughput.joinRatio,
          goal: r.settings.ratioGoal,
          goalNote: "issue #4",
        },
        {
          bench: "queue",
          measure: "GetQueuePosition",
          value: `${n0(m((x) => x.position.rps))}/s`,
          baseline: `Noop ${n0(m((x) => x.noopPos.rps))}/s`,
          ratio: r.throughput.positionRatio,
          goal: r.settings.ratioGoal,
          goalNote: "issue #4",
        },
      ];
    },
  },
  {
    name: "poll",
    script: "bench:poll",
    prefix: "queue-poll-",
    // the batched API's CPU per poll against Noop's, same run (bench/queue-poll.ts: after, settings)
    figures: (r: J) => [
      {
        bench: "poll",
        measure: "GetQueuePosition, API CPU per poll (batched)",
        value: `${r.after.posApiUs} µs`,
        baseline: `Noop ${r.after.noopApiUs} µs`,
        ratio: r.after.apiRatio,
        goal: r.settings.apiGoal,
        goalIsCeiling: true,
        goalNote: "issue #19",
      },
    ],
  },
  {
    name: "best",
    script: "bench:best",
    prefix: "best-",
    figures: (r: J) => [
      {
        bench: "best",
        measure: `HoldBestAvailable, ${r.rows} rows, ${r.settings.soldRows} sold, no filter`,
        value: `${n0(r.median.best.rps)}/s, Redis ${r.median.best.redisUs} µs/call`,
        baseline: `HoldSeats on the same event ${n0(r.median.holdSeats.rps)}/s`,
        ratio: r.medianRatio,
        goalNote: "no goal: what choosing seats costs over naming them, late in a stadium's sale",
      },
    ],
  },
  {
    name: "strategies",
    script: "bench:strategies",
    prefix: "strategies-",
    // every strategy against our Lua hold on the same contention (bench/strategies/report.ts: summary[])
    figures: (r: J) => {
      const lua = (r.summary as J[]).find((x) => x.name === "lua-hold");
      return (r.summary as J[])
        .filter((x) => x !== lua)
        .map((x) => ({
          bench: "strategies",
          measure: `${x.name} hold`,
          value: `${n0(x.medianCallsPerSecond)}/s, p99 ${round(x.medianP99Ms, 1)} ms, oversold ${x.maxOversoldSeats}`,
          baseline: `lua-hold ${lua ? n0(lua.medianCallsPerSecond) : "–"}/s`,
          ratio: x.ratioVsLua,
          goalNote: "the usual alternatives beside our Lua hold",
        }));
    },
  },
  {
    name: "scaling",
    script: "bench:scaling",
    prefix: "scaling-",
    // API_PROCESSES=N against one process in the same run (bench/scaling.ts: perN[], median ratios)
    figures: (r: J) => {
      const [one, many] = r.perN as J[];
      const note = `no goal: ${r.machine.nproc} cores shared by ghz, Redis and the API cannot double throughput`;
      return [
        {
          bench: "scaling",
          measure: `HoldSeats, API_PROCESSES=${many!.n}`,
          value: `${n0(many!.medianHoldRps)}/s, ${many!.medianApiUsPerHold} µs Node CPU/call`,
          baseline: `1 process ${n0(one!.medianHoldRps)}/s, ${one!.medianApiUsPerHold} µs`,
          ratio: r.medianHoldRatio,
          goalNote: note,
        },
        {
          bench: "scaling",
          measure: `Noop, API_PROCESSES=${many!.n}`,
          value: `${n0(many!.medianNoopRps)}/s, ${many!.medianApiUsPerNoop} µs Node CPU/call`,
          baseline: `1 process ${n0(one!.medianNoopRps)}/s, ${one!.medianApiUsPerNoop} µs`,
          ratio: r.medianNoopRatio,
          goalNote: note,
        },
      ];
    },
  },
];

interface Outcome {
  bench: Bench;
  exitCode: number | null;
  seconds: number;
  files: string[];
  figures: Figure[];
  headline?: string;
  /** the last lines of its output when it failed */
  tail?: string;
  skipped?: string;
}

/** Runs `npm run <script>`, its output passed through; resolves with the exit code and the last lines. */
function runScript(script: string): Promise<{ code: number | null; tail: string }> {
  return new Promise((resolve) => {
    const child = spawn("npm", ["run", "--silent", script], {
      cwd: repoRoot,
      env: process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let tail = "";
    const keep = (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
    };
    child.stdout.on("data", (d: Buffer) => {
      process.stdout.write(d);
      keep(d);
    });
    child.stderr.on("data", (d: Buffer) => {
      process.stderr.write(d);
      keep(d);
    });
    // Ctrl-C reaches the child through the process group; its own handlers stop what it started
    child.once("close", (code) => resolve({ code, tail }));
    child.once("error", (err) => resolve({ code: -1, tail: String(err) }));
  });
}

function listResults(): Set<string> {
  return new Set(fs.existsSync(RESULTS_DIR) ? fs.readdirSync(RESULTS_DIR) : []);
}

/** BENCH_ONLY as a list; a name no bench has is a bad knob. */
function chosenBenches(): Bench[] {
  const only = (process.env.BENCH_ONLY ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const o of only)
    if (!BENCHES.some((b) => b.name === o))
      throw new Error(`BENCH_ONLY: no bench named ${o} (${BENCHES.map((b) => b.name).join(", ")})`);
  return BENCHES.filter((b) => only.length === 0 || only.includes(b.name));
}

/** Runs one bench's npm script and reads the headline figures of the JSON it wrote. */
async function runOne(bench: Bench, scripts: Record<string, string>): Promise<Outcome> {
  if (!scripts[bench.script]) {
    say(`${bench.name}: no "${bench.script}" script in package.json yet: skipped`);
    return {
      bench,
      exitCode: null,
      seconds: 0,
      files: [],
      figures: [],
      skipped: `no "${bench.script}" script in package.json when this ran`,
    };
  }
  say(`${bench.name}: npm run ${bench.script}`);
  const before = listResults();
  const t0 = Date.now();
  const { code, tail } = await runScript(bench.script);
  const seconds = round((Date.now() - t0) / 1000, 1);
  const files = [...listResults()].filter((f) => !before.has(f) && f.startsWith(bench.prefix)).sort();
  const json = files.find((f) => f.endsWith(".json"));
  let figures: Figure[] = [];
  let headline: string | undefined;
  if (json) {
    try {
      const r = JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, json), "utf8")) as J;
      figures = bench.figures(r);
      if (typeof r.headline === "string") headline = r.headline;
    } catch (err) {
      headline = `could not read ${json}: ${String(err)}`;
    }
  }
  say(`${bench.name}: exit ${code} after ${seconds} s; wrote ${files.join(", ") || "nothing"}`);
  return {
    bench,
    exitCode: code,
    seconds,
    files,
    figures,
    headline,
    tail: code === 0 ? undefined : tail.split("\n").slice(-15).join("\n"),
  };
}

let benches: Bench[];

async function main(run: BenchRun): Promise<BenchOutcome> {
  const scripts = (
    JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> }
  ).scripts;
  const outcomes: Outcome[] = [];
  for (const bench of benches) outcomes.push(await runOne(bench, scripts));
  const files = writeIndex(run.stamp, {
    started: run.started,
    finished: new Date(),
    machine: run.machine,
    source: sourceInfo(repoRoot),
    outcomes,
  });
  const failures = outcomes
    .filter((o) => !o.skipped && o.exitCode !== 0)
    .map((o) => `${o.bench.name}: exit ${o.exitCode}`);
  return { files, failures };
}

function verdict(o: Outcome): string {
  if (o.skipped) return "skipped";
  return o.exitCode === 0 ? "passed" : `FAILED (exit ${o.exitCode})`;
}

function goalCell(f: Figure): string {
  if (f.goal === undefined || f.goal === null) return `none${f.goalNote ? ` (${f.goalNote})` : ""}`;
  const met = f.goalIsCeiling ? f.ratio <= f.goal : f.ratio >= f.goal;
  return `${f.goalIsCeiling ? "≤" : "≥"} ${f.goal} (${f.goalNote ?? ""}): ${met ? "met" : "not met"}`;
}

function writeIndex(
  stamp: string,
  o: {
    started: Date;
    finished: Date;
    machine: ReturnType<typeof machineInfo>;
    source: ReturnType<typeof sourceInfo>;
    outcomes: Outcome[];
  },
): string[] {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const figures = o.outcomes.flatMap((x) => x.figures);
  const env = Object.entries(process.env)
    .filter(([k]) => /^BENCH_/.test(k))
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  const command = `${env ? `${env} ` : ""}npm run bench`;
  const minutes = round((o.finished.getTime() - o.started.getTime()) / 60_000, 1);
  const m = o.machine;
  const intro = `${o.started.toISOString()}, ${minutes} min, \`${command}\`; code at \`${o.source.commit.slice(0, 12)}\` (${o.source.note}); ${m.nproc} cores (${m.cpuModel}), load ${m.loadAvgBefore.join(" ")} at start. The machine is shared: every figure is a ratio to a baseline measured in the same run, interleaved.`;

  const L: string[] = [];
  L.push(`# Benchmark suite, ${o.started.toISOString()}`);
  L.push("");
  L.push(intro);
  L.push("");
  L.push("## Summary: each measured call against its baseline");
  L.push("");
  L.push("| bench | measured | value | baseline (same run) | ratio | goal |");
  L.push("| --- | --- | ---: | ---: | ---: | --- |");
  for (const f of figures)
    L.push(`| ${f.bench} | ${f.measure} | ${f.value} | ${f.baseline} | **${round(f.ratio, 3)}** | ${goalCell(f)} |`);
  L.push("");
  L.push("## Benches");
  L.push("");
  L.push("| bench | command | verdict | minutes | reports |");
  L.push("| --- | --- | --- | ---: | --- |");
  for (const x of o.outcomes) {
    L.push(
      `| ${x.bench.name} | \`npm run ${x.bench.script}\` | ${verdict(x)}${x.skipped ? ` (${x.skipped})` : ""} | ${round(x.seconds / 60, 1)} | ${x.files.map((f) => (f.endsWith(".md") ? `[${f}](${f})` : `\`${f}\``)).join(", ") || "–"} |`,
    );
  }
  for (const x of o.outcomes.filter((y) => y.headline || y.tail)) {
    L.push("");
    L.push(`### ${x.bench.name}`);
    if (x.headline) L.push(`\n${x.headline}`);
    if (x.tail) L.push(`\nLast lines of its output:\n\n\`\`\`\n${x.tail}\n\`\`\``);
  }
  L.push("");
  const md = path.join(RESULTS_DIR, `index-${stamp}.md`);
  fs.writeFileSync(md, L.join("\n"));

  const B: string[] = [];
  B.push(`<h1>Benchmark suite</h1>`);
  B.push(`<p>${esc(intro).replace(/`([^`]+)`/g, "<code>$1</code>")}</p>`);
  if (figures.length) {
    B.push(
      barChart({
        title:
          "Each measured call ÷ its baseline in the same run (black mark: goal; green met, red not met, blue no goal)",
        xLabel: "ratio",
        width: 820,
        bars: figures.map((f) => ({
          label: f.measure,
          value: f.ratio,
          goal: f.goal ?? undefined,
          note: `${round(f.ratio, 3)}`,
        })),
      }),
    );
  }
  B.push(
    `<table><thead><tr><th>bench</th><th>measured</th><th>value</th><th>baseline (same run)</th><th>ratio</th><th>goal</th></tr></thead><tbody>${figures
      .map(
        (f) =>
          `<tr><td>${esc(f.bench)}</td><td>${esc(f.measure)}</td><td>${esc(f.value)}</td><td>${esc(f.baseline)}</td><td><b>${round(f.ratio, 3)}</b></td><td style="text-align:left">${esc(goalCell(f))}</td></tr>`,
      )
      .join("")}</tbody></table>`,
  );
  B.push("<h2>Benches and their reports</h2>");
  B.push(
    `<table><thead><tr><th>bench</th><th>command</th><th>verdict</th><th>minutes</th><th>reports</th></tr></thead><tbody>${o.outcomes
      .map(
        (x) =>
          `<tr><td>${esc(x.bench.name)}</td><td><code>npm run ${esc(x.bench.script)}</code></td><td class="${x.exitCode === 0 ? "ok" : x.skipped ? "" : "bad"}">${esc(verdict(x))}</td><td>${round(x.seconds / 60, 1)}</td><td style="text-align:left">${x.files.map((f) => `<a href="${esc(f)}">${esc(f)}</a>`).join("<br>") || "–"}</td></tr>`,
      )
      .join("")}</tbody></table>`,
  );
  for (const x of o.outcomes.filter((y) => y.headline || y.tail || y.skipped)) {
    B.push(`<h3>${esc(x.bench.name)}</h3>`);
    if (x.skipped) B.push(`<p class="note">${esc(x.skipped)}</p>`);
    if (x.headline) B.push(`<p>${esc(x.headline)}</p>`);
    if (x.tail) B.push(`<pre>${esc(x.tail)}</pre>`);
  }
  const html = path.join(RESULTS_DIR, `index-${stamp}.html`);
  fs.writeFileSync(html, htmlPage(`Benchmark suite ${o.started.toISOString()}`, B.join("\n")));
  return [md, html];
}

runBench(
  {
    usage: "npm run bench --",
    about:
      "Every benchmark in sequence, each with its own stack, then bench/results/index-<timestamp>.{md,html}: each measured call against its baseline and goal, each bench's verdict and reports. A bench that fails does not stop the others; exits non-zero if any failed. 25-35 minutes on 2 cores.",
    env: [
      ["BENCH_ONLY", "comma list of holds, rpcs, checkout, queue, poll, best, strategies, scaling (default: all)"],
      ["BENCH_OUT", "where results/ goes (each bench honours it too)"],
      ["BENCH_*", "every other knob reaches every bench (see each one's --help)"],
    ],
    runIdPrefix: "a",
    tmpPrefix: "ticketing-bench-all-",
    validate: () => (benches = chosenBenches()),
    // Each bench stops what it started (Ctrl-C reaches it through the process group).
    teardown: async () => {},
  },
  main,
);
