// The worker's CPU priority (WORKER_NICE). Checkouts are durable and may lag
// seconds within the payment window; holds are the interactive race. On a
// machine shared with the API, the worker (and the Temporal server, where it
// runs on the same machine) yields the CPU to the API by running at a lower
// priority: it only gets what the API, Redis and MySQL leave, plus a small
// share under full contention.
//
// Linux keeps a nice value per thread, and with autogroup scheduling
// (/proc/sys/kernel/sched_autogroup_enabled) it first shares the CPU between
// sessions, each weighted by its autogroup's nice value: a thread's own nice
// value only counts against the threads of its own session. So lowering a
// process's priority takes both: every thread's nice value, and the
// autogroup's when the process leads its own session (as under systemd, a
// container runtime or the local stack; a worker started from an interactive
// shell shares the shell's session, whose autogroup is left alone).
import fs from "node:fs";
import os from "node:os";

export const WORKER_NICE_DEFAULT = 10;
export const WORKER_NICE_MIN = 0;
export const WORKER_NICE_MAX = 19;

/** WORKER_NICE from an environment (for processes that do not load the whole config: the local stack, the bench). */
export function workerNiceFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.WORKER_NICE;
  if (raw === undefined || raw.trim() === "") return WORKER_NICE_DEFAULT;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < WORKER_NICE_MIN || n > WORKER_NICE_MAX) {
    throw new Error(`WORKER_NICE=${raw}: must be an integer from ${WORKER_NICE_MIN} to ${WORKER_NICE_MAX}`);
  }
  return n;
}

export interface PriorityResult {
  /** The nice value asked for. */
  requested: number;
  /** The process's main thread's nice value afterwards. */
  nice: number;
  /** Threads whose nice value was raised to `requested`. */
  threads: number;
  /** The autogroup's nice value afterwards, when there is one and it was set; else why not. */
  autogroup: number | "not session leader" | "unavailable";
}

/**
 * Lowers the CPU priority of process `pid` (default: this one) to `nice`:
 * every thread that runs at a higher priority, threads started later inherit
 * it, and the session's autogroup when the process leads its session. Never
 * raises a priority (that needs privileges, and is not what this is for).
 */
export function lowerPriority(nice: number, pid: number = process.pid): PriorityResult {
  let threads = 0;
  let tids: number[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`).map(Number).filter(Number.isInteger);
  } catch {
    tids = [pid]; // not Linux: the process as a whole
  }
  for (const tid of tids) {
    try {
      if (os.getPriority(tid) < nice) {
        os.setPriority(tid, nice);
        threads++;
      }
    } catch {
      // the thread ended meanwhile
    }
  }
  return { requested: nice, nice: os.getPriority(pid), threads, autogroup: lowerAutogroup(pid, nice) };
}

function lowerAutogroup(pid: number, nice: number): PriorityResult["autogroup"] {
  let current: number;
  try {
    // "/autogroup-123 nice 0"
    const m = /nice\s+(-?\d+)/.exec(fs.readFileSync(`/proc/${pid}/autogroup`, "utf8"));
    if (!m) return "unavailable";
    current = Number(m[1]);
    if (fs.readFileSync("/proc/sys/kernel/sched_autogroup_enabled", "utf8").trim() !== "1") return "unavailable";
  } catch {
    return "unavailable";
  }
  if (sessionOf(pid) !== pid) return "not session leader";
  if (current >= nice) return current;
  try {
    fs.writeFileSync(`/proc/${pid}/autogroup`, String(nice));
    return nice;
  } catch {
    return "unavailable";
  }
}

function sessionOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // after "(comm) ": state ppid pgrp session
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(rest[3]);
  } catch {
    return undefined;
  }
}
