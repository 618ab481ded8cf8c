// Every bench script and `simulate`/`demo` answers --help (usage on stdout,
// exit 0) and refuses an unknown flag (exit 2, a message on stderr), in both
// cases before it starts anything: each runs as a subprocess and must be done
// in seconds, with no stack to stop.
import { execFile } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../tools/devstack/stack.js";

const SCRIPTS = [
  "bench/all.ts",
  "bench/holds.ts",
  "bench/rpcs.ts",
  "bench/queue.ts",
  "bench/checkout.ts",
  "bench/best-available.ts",
  "bench/strategies.ts",
  "bench/scaling.ts",
  "bench/queue-poll.ts",
  "bench/sim/simulate.ts",
  "bench/sim/demo.ts",
];

function run(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", path.join(repoRoot, script), ...args],
      { cwd: repoRoot, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("bench commands", () => {
  it.concurrent.each(SCRIPTS)("%s --help prints the usage and exits 0", async (script) => {
    const r = await run(script, ["--help"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Usage: npm run \S+ -- \[--help\]/);
    expect(r.stdout).toContain("--help");
    expect(r.stderr).toBe("");
  });

  it.concurrent.each(SCRIPTS)("%s refuses an unknown flag with exit 2", async (script) => {
    const r = await run(script, ["--no-such-flag"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown option '--no-such-flag'/);
    expect(r.stdout).toBe("");
  });

  it("the bench --help lists the environment knobs it reads", async () => {
    const r = await run("bench/holds.ts", ["--help"]);
    for (const knob of ["BENCH_N", "BENCH_ROUNDS", "BENCH_OUT", "REDIS_URL"]) expect(r.stdout).toContain(knob);
  });

  it("demo drives only an API it is told about: --address where nothing answers exits 2", async () => {
    const r = await run("bench/sim/demo.ts", ["--address", "127.0.0.1:1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("nothing answers at --address 127.0.0.1:1");
  });
});
