// WORKER_NICE: the worker yields the CPU to the API's hold path. Checked on
// real processes: every thread's nice value, and the autogroup of a process
// that leads its own session (src/worker-priority.ts).
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { lowerPriority, workerNiceFromEnv } from "../../src/worker-priority.js";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

/** A node process with a few threads (a worker thread and libuv's), optionally in its own session. */
async function child(opts: { detached: boolean; niceFirst?: number }): Promise<number> {
  const script = `new (require("node:worker_threads").Worker)("setInterval(() => {}, 1000)", { eval: true }); setInterval(() => {}, 1000); console.log("up");`;
  const c = opts.niceFirst
    ? spawn("nice", ["-n", String(opts.niceFirst), process.execPath, "-e", script], {
        detached: opts.detached,
        stdio: ["ignore", "pipe", "inherit"],
      })
    : spawn(process.execPath, ["-e", script], { detached: opts.detached, stdio: ["ignore", "pipe", "inherit"] });
  children.push(c);
  await new Promise<void>((resolve) => c.stdout.once("data", () => resolve()));
  return c.pid!;
}

const threadNices = (pid: number): number[] =>
  fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  });

function autogroupNice(pid: number): number | undefined {
  try {
    if (fs.readFileSync("/proc/sys/kernel/sched_autogroup_enabled", "utf8").trim() !== "1") return undefined;
    return Number(/nice\s+(-?\d+)/.exec(fs.readFileSync(`/proc/${pid}/autogroup`, "utf8"))![1]);
  } catch {
    return undefined;
  }
}

const linux = os.platform() === "linux";

describe("WORKER_NICE", () => {
  it("defaults to 10 and accepts 0-19 only", () => {
    expect(loadConfig({}).WORKER_NICE).toBe(10);
    expect(loadConfig({ WORKER_NICE: "0" }).WORKER_NICE).toBe(0);
    expect(loadConfig({ WORKER_NICE: "19" }).WORKER_NICE).toBe(19);
    for (const bad of ["20", "-1", "1.5", "ten"]) {
      expect(() => loadConfig({ WORKER_NICE: bad }), bad).toThrow(ConfigError);
      expect(() => workerNiceFromEnv({ WORKER_NICE: bad }), bad).toThrow(/WORKER_NICE/);
    }
    expect(workerNiceFromEnv({})).toBe(10);
    expect(workerNiceFromEnv({ WORKER_NICE: "3" })).toBe(3);
  });

  it.runIf(linux)("lowers every thread and, for a session leader, its autogroup", async () => {
    const pid = await child({ detached: true });
    const r = lowerPriority(10, pid);
    expect(r.nice).toBe(10);
    expect(threadNices(pid).every((n) => n === 10)).toBe(true);
    const group = autogroupNice(pid);
    if (group !== undefined) {
      expect(group).toBe(10);
      expect(r.autogroup).toBe(10);
    }
  });

  it.runIf(linux)("leaves the autogroup of a session it does not lead alone, and never raises a priority", async () => {
    const before = autogroupNice(process.pid);
    const pid = await child({ detached: false, niceFirst: 15 });
    const r = lowerPriority(10, pid);
    expect(threadNices(pid).every((n) => n === 15)).toBe(true);
    expect(r.threads).toBe(0);
    if (before !== undefined) {
      expect(r.autogroup).toBe("not session leader");
      expect(autogroupNice(process.pid)).toBe(before);
    }
  });
});
