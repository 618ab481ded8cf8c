// The API's process tree read from /proc, for `bench:scaling`: with
// API_PROCESSES=N the primary forks N cluster workers, and only the sum of
// all of them is the Node CPU a request costs. A worker's CPU is not in its
// parent's /proc/<pid>/stat until it is reaped, so each process is read on
// its own. Bytes written (wchar in /proc/<pid>/io) stand in for calls served:
// every call of a round writes the same reply (and, for HoldSeats, the same
// EVALSHA to Redis), so a worker's share of the bytes is its share of calls,
// which the aggregated /metrics cannot tell apart.
import fs from "node:fs";
import { processCpuSeconds } from "./sys.js";

/** PIDs whose parent is `pid` (scans /proc: the per-thread children files miss workers forked by other threads). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      // field 4 (ppid) follows ") <state> "
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      /* exited while we looked */
    }
  }
  return out.sort((a, b) => a - b);
}

/** Bytes the process has written through syscalls (sockets included), or undefined when it is gone. */
export function processWriteBytes(pid: number): number | undefined {
  try {
    const io = fs.readFileSync(`/proc/${pid}/io`, "utf8");
    return Number(/^wchar:\s*(\d+)/m.exec(io)?.[1] ?? NaN);
  } catch {
    return undefined;
  }
}

export interface TreeSample {
  /** The primary first (or the only process when N=1), then the workers by PID. */
  procs: { pid: number; role: "single" | "primary" | "worker"; cpu: number; wchar: number }[];
}

/** CPU seconds and bytes written of an API and its cluster workers, as of now. */
export function sampleTree(rootPid: number, workerPids: number[]): TreeSample {
  const read = (pid: number, role: TreeSample["procs"][number]["role"]) => ({
    pid,
    role,
    cpu: processCpuSeconds(pid) ?? NaN,
    wchar: processWriteBytes(pid) ?? NaN,
  });
  return {
    procs: [
      read(rootPid, workerPids.length ? "primary" : "single"),
      ...workerPids.map((p) => read(p, "worker" as const)),
    ],
  };
}

export interface ProcDelta {
  pid: number;
  role: "single" | "primary" | "worker";
  cpuSeconds: number;
  /** Share of the whole tree's CPU in the round (primary + workers = 1). */
  cpuShare: number;
  /** Workers only: share of the workers' CPU (the load balance; 1/N is even). */
  workerCpuShare?: number;
  writeBytes: number;
  /** Workers only: share of the workers' bytes written ≈ share of the calls served. */
  workerCallShare?: number;
}

/** What each process of the tree spent between two samples. */
export function treeDelta(
  a: TreeSample,
  b: TreeSample,
): { cpuSeconds: number; writeBytes: number; procs: ProcDelta[] } {
  const procs = b.procs.map((p) => {
    const before = a.procs.find((q) => q.pid === p.pid);
    return {
      pid: p.pid,
      role: p.role,
      cpuSeconds: p.cpu - (before?.cpu ?? NaN),
      writeBytes: p.wchar - (before?.wchar ?? NaN),
    };
  });
  const cpu = procs.reduce((s, p) => s + p.cpuSeconds, 0);
  const bytes = procs.reduce((s, p) => s + p.writeBytes, 0);
  const workers = procs.filter((p) => p.role === "worker");
  const wCpu = workers.reduce((s, p) => s + p.cpuSeconds, 0);
  const wBytes = workers.reduce((s, p) => s + p.writeBytes, 0);
  return {
    cpuSeconds: cpu,
    writeBytes: bytes,
    procs: procs.map((p) => ({
      ...p,
      cpuShare: cpu > 0 ? p.cpuSeconds / cpu : NaN,
      ...(p.role === "worker"
        ? {
            workerCpuShare: wCpu > 0 ? p.cpuSeconds / wCpu : NaN,
            workerCallShare: wBytes > 0 ? p.writeBytes / wBytes : NaN,
          }
        : {}),
    })),
  };
}

/** Waits until the primary has `n` children (cluster workers forked); returns their PIDs. */
export async function waitForWorkers(primaryPid: number, n: number, timeoutMs = 60_000): Promise<number[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const kids = childPids(primaryPid);
    if (kids.length >= n) return kids;
    if (Date.now() > until)
      throw new Error(`api pid ${primaryPid}: ${kids.length} of ${n} cluster workers after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
