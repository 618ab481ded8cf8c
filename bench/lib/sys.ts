// CPU accounting from /proc and a description of the machine the bench ran on.
import fs from "node:fs";
import os from "node:os";
import { execFileSync } from "node:child_process";

let clkTck = 100;
try {
  clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {
  /* keep 100 */
}
export const CLK_TCK = clkTck;

/** utime+stime of a running process in seconds, or undefined when it is gone. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields after the ")" of comm: state is field 3; utime 14, stime 15
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return (utime + stime) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Whole-machine busy and total CPU seconds (all cores) from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
}

export interface MachineInfo {
  hostname: string;
  nproc: number;
  cpuModel: string;
  memTotalMb: number;
  kernel: string;
  node: string;
  loadAvgBefore: number[];
  /** Processes using CPU when the bench started (ps, top 10 by %CPU since their start). */
  topProcessesBefore: string[];
  /** What else was running on the machine: long-running services found by name. */
  otherServices: string[];
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  let top: string[] = [];
  let services: string[] = [];
  try {
    const ps = execFileSync("ps", ["-eo", "pid,pcpu,rss,etimes,args", "--sort=-pcpu"], { encoding: "utf8" });
    const lines = ps.split("\n").slice(1).filter(Boolean);
    top = lines.slice(0, 10).map((l) => l.trim().slice(0, 160));
    const interesting =
      /(redis-server|mariadbd|mysqld|postgres|beam\.smp|mosquitto|nats-server|temporal|node |ghz|vitest)/;
    services = lines
      .filter((l) => interesting.test(l) && !l.includes(String(process.pid)))
      .map((l) => l.trim().slice(0, 160));
  } catch {
    /* ps missing */
  }
  return {
    hostname: os.hostname(),
    nproc: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    memTotalMb: Math.round(os.totalmem() / 1024 / 1024),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAvgBefore: os.loadavg().map((x) => Math.round(x * 100) / 100),
    topProcessesBefore: top,
    otherServices: services,
  };
}

export interface SourceInfo {
  /** The commit the code under test comes from. */
  commit: string;
  /** Files under src/, lua/, proto/, workflows/ that differ from it (uncommitted edits measured too). */
  dirty: string[];
  /** Where the code ran from (a snapshot directory when BENCH_SOURCE_COMMIT is set). */
  note: string;
}

export function sourceInfo(root: string): SourceInfo {
  const given = process.env.BENCH_SOURCE_COMMIT;
  if (given)
    return {
      commit: given,
      dirty: [],
      note: "clean snapshot of this commit (git archive), bench/ from the working tree",
    };
  try {
    const commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const status = execFileSync("git", ["status", "--porcelain", "--", "src", "lua", "proto", "workflows"], {
      cwd: root,
      encoding: "utf8",
    });
    const dirty = status
      .split("\n")
      .filter(Boolean)
      .map((l) => l.trim());
    return { commit, dirty, note: dirty.length ? "working tree with uncommitted changes" : "working tree, clean" };
  } catch {
    return { commit: "unknown", dirty: [], note: "not a git checkout" };
  }
}
