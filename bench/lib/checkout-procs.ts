// Processes of the checkout bench beyond bench/lib/stack.ts: the Temporal dev
// server (in memory or file-backed with the WAL pragmas), the real worker
// (src/worker.ts) and the bare baseline's worker, each its own process,
// stopped by PID; readiness by the task queue's pollers; CPU accounting per
// process; and a sampler of every other process on the machine.
import fs from "node:fs";
import path from "node:path";
import { Connection } from "@temporalio/client";
import {
  launch,
  repoRoot,
  sleep,
  startTemporal,
  tail,
  type ManagedProcess,
  type TemporalHandle,
} from "../../tools/devstack/stack.js";
import { CLK_TCK, machineCpuSeconds, processCpuSeconds } from "./sys.js";
import { say } from "./stack.js";

export interface Owned {
  name: string;
  pid: number;
  stop(): Promise<void>;
}

/** What this file started, stopped last-first by stopOwned(). */
const owned: Owned[] = [];

export async function stopOwned(filter: (o: Owned) => boolean = () => true): Promise<void> {
  for (const o of [...owned].reverse()) {
    if (!filter(o)) continue;
    owned.splice(owned.indexOf(o), 1);
    try {
      await o.stop();
      say(`stopped ${o.name} (pid ${o.pid})`);
    } catch (err) {
      say(`stopping ${o.name} (pid ${o.pid}) failed: ${String(err)}`);
    }
  }
}

export type TemporalDb = "file" | "memory";

/** Our Temporal dev server, at CPU niceness `nice` (as `npm start` runs it next to the worker: tools/devstack/start.ts). */
export async function startOwnTemporal(
  dir: string,
  db: TemporalDb,
  port: number,
  extraArgs: string[] = [],
  nice = 0,
): Promise<TemporalHandle & { command: string }> {
  const h = await startTemporal({
    dir,
    port,
    dbFile: db === "file" ? path.join(dir, "temporal.db") : undefined,
    logLevel: "warn",
    extraArgs,
    nice,
  });
  owned.push({ name: "temporal dev server", pid: h.pid, stop: h.stop });
  const command =
    (nice > 0 ? `nice -n ${nice} ` : "") +
    `temporal server start-dev --headless --ip 127.0.0.1 --port ${port} --log-level warn` +
    (db === "file"
      ? ` --db-filename <tmp>/temporal.db --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal`
      : "") +
    (extraArgs.length ? ` ${extraArgs.join(" ")}` : "") +
    (db === "file" ? "" : " (in memory)");
  return { ...h, command };
}

export interface WorkerProcess {
  name: string;
  pid: number;
  taskQueue: string;
  logFile: string;
  command: string;
  proc: ManagedProcess;
}

/** A Temporal worker as its own process; ready once the task queue has workflow and activity pollers. */
export async function startWorkerProcess(o: {
  name: string;
  script: string;
  env: Record<string, string>;
  taskQueue: string;
  temporalAddress: string;
  dir: string;
}): Promise<WorkerProcess> {
  const logFile = path.join(o.dir, `${o.name}.log`);
  const extra = (process.env.BENCH_WORKER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const args = [...extra, "--import", "tsx", o.script];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...o.env,
    TEMPORAL_ADDRESS: o.temporalAddress,
    TEMPORAL_TASK_QUEUE: o.taskQueue,
  };
  delete env.REDIS_CLUSTER_NODES;
  const proc = launch(o.name, process.execPath, args, { logFile, cwd: repoRoot, env, graceMs: 20_000 });
  owned.push({ name: o.name, pid: proc.pid, stop: () => proc.stop(20_000) });
  const shown = Object.entries(o.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return {
    name: o.name,
    pid: proc.pid,
    taskQueue: o.taskQueue,
    logFile,
    command: `${shown ? `${shown} ` : ""}TEMPORAL_TASK_QUEUE=${o.taskQueue} node ${args.join(" ")}`,
    proc,
  };
}

/** Waits until every queue has at least one workflow poller and one activity poller (i.e. its worker is running). */
export async function waitForPollers(
  temporalAddress: string,
  workers: WorkerProcess[],
  timeoutMs = 180_000,
): Promise<void> {
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    const deadline = Date.now() + timeoutMs;
    const pending = new Set(workers);
    while (pending.size > 0) {
      for (const w of [...pending]) {
        if (w.proc.exitInfo) throw new Error(`${w.name} (pid ${w.pid}) exited before polling:\n${tail(w.logFile, 30)}`);
        let ready = true;
        for (const taskQueueType of [1, 2]) {
          // 1 = TASK_QUEUE_TYPE_WORKFLOW, 2 = TASK_QUEUE_TYPE_ACTIVITY
          const r = await connection.workflowService.describeTaskQueue({
            namespace: "default",
            taskQueue: { name: w.taskQueue },
            taskQueueType,
          });
          if (!r.pollers || r.pollers.length === 0) ready = false;
        }
        if (ready) {
          pending.delete(w);
          say(`${w.name}: polling ${w.taskQueue} (pid ${w.pid})`);
        }
      }
      if (pending.size === 0) break;
      if (Date.now() > deadline)
        throw new Error(
          `workers not polling after ${timeoutMs / 1000} s: ${[...pending].map((w) => `${w.name}\n${tail(w.logFile, 20)}`).join("\n")}`,
        );
      await sleep(500);
    }
  } finally {
    await connection.close();
  }
}

// --- CPU priority

/** A process's nice value (of its main thread) and its session's autogroup nice value, as the scheduler sees them. */
export function processNiceness(pid: number): { nice: number; autogroup?: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // after "(comm) ": field 3 on; nice is field 19
    const nice = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
    let autogroup: number | undefined;
    try {
      const m = /nice\s+(-?\d+)/.exec(fs.readFileSync(`/proc/${pid}/autogroup`, "utf8"));
      if (m) autogroup = Number(m[1]);
    } catch {
      /* no autogroups */
    }
    return { nice, autogroup };
  } catch {
    return undefined;
  }
}

// --- CPU accounting per round

export interface CpuSnapshot {
  at: number;
  procs: Record<string, number | undefined>;
  self: number;
  machine: { busy: number; total: number };
}

export function cpuSnapshot(pids: Record<string, number | undefined>): CpuSnapshot {
  const procs: Record<string, number | undefined> = {};
  for (const [name, pid] of Object.entries(pids)) procs[name] = pid === undefined ? undefined : processCpuSeconds(pid);
  const u = process.cpuUsage();
  return { at: performance.now(), procs, self: (u.user + u.system) / 1e6, machine: machineCpuSeconds() };
}

export interface CpuDelta {
  wallSeconds: number;
  /** CPU seconds per process over the interval (the bench process itself as "bench"). */
  seconds: Record<string, number>;
  /** the same as a share of one core. */
  cores: Record<string, number>;
  machineBusyCores: number;
  /** busy CPU of everything not listed (nor ghz when given), in cores. */
  otherCores: number;
}

export function cpuDelta(a: CpuSnapshot, b: CpuSnapshot, extra: Record<string, number> = {}): CpuDelta {
  const wall = (b.at - a.at) / 1000;
  const seconds: Record<string, number> = {};
  for (const name of Object.keys(b.procs)) {
    const x = a.procs[name];
    const y = b.procs[name];
    if (x !== undefined && y !== undefined) seconds[name] = y - x;
  }
  seconds.bench = b.self - a.self;
  for (const [k, v] of Object.entries(extra)) seconds[k] = v;
  const cores: Record<string, number> = {};
  let listed = 0;
  for (const [k, v] of Object.entries(seconds)) {
    cores[k] = Math.round((v / wall) * 1000) / 1000;
    listed += v;
  }
  const busy = b.machine.busy - a.machine.busy;
  return {
    wallSeconds: Math.round(wall * 1000) / 1000,
    seconds: Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, Math.round(v * 1000) / 1000])),
    cores,
    machineBusyCores: Math.round((busy / wall) * 1000) / 1000,
    otherCores: Math.round((Math.max(0, busy - listed) / wall) * 1000) / 1000,
  };
}

// --- what else ran on the machine

interface ProcSample {
  cpu: number;
  ppid: number;
  label: string;
}

function readProc(pid: number): { cpu: number; ppid: number; comm: string } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const rest = stat.slice(close + 2).split(" ");
    return { ppid: Number(rest[1]), cpu: (Number(rest[11]) + Number(rest[12])) / CLK_TCK, comm };
  } catch {
    return undefined;
  }
}

function cmdline(pid: number, comm: string): string {
  try {
    const s = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "").replace(/\0/g, " ");
    return (s || comm)
      .replace(/\/tmp\/[A-Za-z0-9._-]+\//g, "<tmp>/")
      .replace(/\/work\/main\//g, "")
      .slice(0, 140);
  } catch {
    return comm;
  }
}

export interface OtherProcess {
  pid: number;
  label: string;
  cpuSeconds: number;
  cores: number;
}

/**
 * Samples /proc every `intervalMs`: the CPU each process outside this bench's
 * process tree used during the run (processes that start and end between two
 * samples are missed; the per-round "other" figure catches them).
 */
export class OtherProcessSampler {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, ProcSample>();
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private initial = true;

  start(intervalMs = 2000): void {
    this.startedAt = performance.now();
    this.sample();
    this.initial = false;
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    let entries: string[];
    try {
      entries = fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e));
    } catch {
      return;
    }
    for (const e of entries) {
      const pid = Number(e);
      const p = readProc(pid);
      if (!p) continue;
      const known = this.last.get(pid);
      // a process first seen after the start used all its CPU during the run
      if (!this.first.has(pid)) this.first.set(pid, this.initial ? p.cpu : 0);
      this.last.set(pid, { cpu: p.cpu, ppid: p.ppid, label: known?.label ?? cmdline(pid, p.comm) });
    }
  }

  /** Stops sampling; the top `n` processes outside this bench's tree by CPU during the run. */
  stop(n = 8): { others: OtherProcess[]; otherCores: number; wallSeconds: number } {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    const wall = (performance.now() - this.startedAt) / 1000;
    const mine = (pid: number): boolean => {
      for (let p = pid, hops = 0; p > 1 && hops < 50; hops++) {
        if (p === process.pid) return true;
        const s = this.last.get(p);
        if (!s) return false;
        p = s.ppid;
      }
      return false;
    };
    const others: OtherProcess[] = [];
    let total = 0;
    for (const [pid, s] of this.last) {
      if (mine(pid)) continue;
      const used = s.cpu - (this.first.get(pid) ?? 0);
      if (used <= 0) continue;
      total += used;
      others.push({
        pid,
        label: s.label,
        cpuSeconds: Math.round(used * 100) / 100,
        cores: Math.round((used / wall) * 1000) / 1000,
      });
    }
    others.sort((a, b) => b.cpuSeconds - a.cpuSeconds);
    return {
      others: others.slice(0, n),
      otherCores: Math.round((total / wall) * 1000) / 1000,
      wallSeconds: Math.round(wall),
    };
  }
}
