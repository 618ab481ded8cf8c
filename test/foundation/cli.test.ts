// Every command answers --help without starting anything and refuses what it
// does not know (exit 2), run as the subprocesses people run.
import { execFile } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readCommandLine } from "../../src/cli.js";
import { repoRoot } from "../../tools/devstack/stack.js";

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: repoRoot, timeout: 100_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const node = (entry: string, ...args: string[]) => run(process.execPath, ["--import", "tsx", entry, ...args]);

const commands = [
  { name: "serve", entry: "src/main.ts", usage: "Usage: npm run serve" },
  { name: "worker", entry: "src/worker.ts", usage: "Usage: npm run worker" },
  { name: "start", entry: "tools/devstack/start.ts", usage: "Usage: npm start" },
];

describe.each(commands)("$name", ({ entry, usage }) => {
  it(
    "prints its usage and the variables it reads for --help, and exits 0 without starting",
    { timeout: 120_000 },
    async () => {
      const out = await node(entry, "--help");
      expect(out.code).toBe(0);
      expect(out.stdout.startsWith(usage)).toBe(true);
      for (const variable of ["MYSQL_URL", "REDIS_URL", "TEMPORAL_ADDRESS", "GRPC_ADDRESS"])
        expect(out.stdout).toContain(variable);
      expect(out.stdout).toContain('README.md, "Configuration"');
      // Nothing started: no log line from the service or from `npm start`.
      expect(out.stderr).toBe("");
      expect(out.stdout).not.toMatch(/"level"|\[start\]/);
    },
  );

  it("refuses an unknown option with exit 2 and a message naming it", { timeout: 120_000 }, async () => {
    const out = await node(entry, "--no-such-flag");
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("--no-such-flag");
    expect(out.stderr).toContain(usage.replace("Usage: ", ""));
    expect(out.stdout).toBe("");
  });
});

describe("readCommandLine", () => {
  const help = { name: "x", usage: ["npm run x"], description: "does x" };
  it("runs with no arguments, helps with -h, and refuses stray arguments and values", () => {
    expect(readCommandLine([], help)).toEqual({ action: "run" });
    expect(readCommandLine(["-h"], help).action).toBe("help");
    const stray = readCommandLine(["now"], help);
    expect(stray.action).toBe("error");
    expect(stray.action === "error" && stray.message).toContain("'now'");
    expect(readCommandLine(["--help=yes"], help).action).toBe("error");
  });
});

describe("tools (install-tools.sh)", () => {
  const script = path.join(repoRoot, "tools", "devstack", "install-tools.sh");

  it("prints its usage for --help and exits 0", async () => {
    const out = await run("bash", [script, "--help"]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^Usage: npm run tools/);
    expect(out.stdout).toContain("temporal, ghz, grpcurl");
  });

  it("refuses an unknown option or tool with exit 2", async () => {
    const flag = await run("bash", [script, "--fast"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown option '--fast'");
    const tool = await run("bash", [script, "protoc"]);
    expect(tool.code).toBe(2);
    expect(tool.stderr).toContain("unknown tool 'protoc'");
  });
});
