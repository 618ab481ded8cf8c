// Faults injected while a simulated sale runs (the scenario's `faults`): the
// API or the worker killed with SIGKILL and started again, a store frozen
// with SIGSTOP and thawed with SIGCONT, or Redis killed with SIGKILL and
// started again on its data (its append-only file) and port. The audit at the end must pass all the
// same: that is the point of injecting them.
import type { Metrics } from "./metrics.js";
import type { Scenario } from "./scenario.js";
import type { AppProcesses } from "./stack.js";

type FaultSpec = Scenario["faults"][number];

export interface FaultTargets {
  /** The API and worker the simulator started (absent with SIM_API_ADDRESS). */
  app?: AppProcesses;
  /** Pids of the stores the simulator started itself (redis, mysql, temporal); a restart updates them. */
  storePids: Record<string, number>;
  /** Starts a store the simulator started again, on its data and port, after a crash; resolves with the new pid. */
  restartStore?: Partial<Record<"redis", () => Promise<number>>>;
}

const STALLED_STORE: Record<string, string> = {
  "redis-stall": "redis",
  "mysql-stall": "mysql",
  "temporal-stall": "temporal",
};

export class FaultInjector {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<void>>();
  /** Stores frozen right now: thawed at the end whatever happens. */
  private readonly frozen = new Set<number>();
  private readonly fired = new Set<FaultSpec>();

  constructor(
    private readonly specs: FaultSpec[],
    private readonly targets: FaultTargets,
    private readonly metrics: Metrics,
    private readonly log: (msg: string) => void,
  ) {}

  /** Says which faults cannot be injected here, before the run starts. */
  check(): string[] {
    const problems: string[] = [];
    for (const f of this.specs) {
      const store = STALLED_STORE[f.kind];
      if (store && !this.targets.storePids[store])
        problems.push(`${f.kind} at ${f.atSeconds} s: ${store} was not started by the simulator`);
      if (f.kind === "redis-crash" && (!this.targets.storePids.redis || !this.targets.restartStore?.redis))
        problems.push(
          `${f.kind} at ${f.atSeconds} s: redis was not started by the simulator, which could not restart it`,
        );
      else if (f.kind === "redis-crash") continue;
      if (!store && !this.targets.app)
        problems.push(`${f.kind} at ${f.atSeconds} s: the API and worker were not started by the simulator`);
    }
    return problems;
  }

  /** Schedules every fault relative to the sale's opening (wall-clock ms). */
  start(openedMs: number): void {
    for (const spec of this.specs) {
      const delay = Math.max(0, openedMs + spec.atSeconds * 1000 - Date.now());
      this.timers.push(
        setTimeout(() => {
          this.fired.add(spec);
          const p = this.inject(spec).finally(() => this.running.delete(p));
          this.running.add(p);
        }, delay),
      );
    }
  }

  /** Cancels faults not yet due (reported as not injected), waits for those under way, thaws anything still frozen. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.length = 0;
    for (const spec of this.specs) {
      if (this.fired.has(spec)) continue;
      this.fired.add(spec);
      this.metrics.faults.push({
        kind: spec.kind,
        atSeconds: spec.atSeconds,
        seconds: spec.seconds,
        startedMs: Date.now(),
        note: "not injected: the sale ended first",
      });
    }
    await Promise.allSettled([...this.running]);
    for (const pid of this.frozen) this.signal(pid, "SIGCONT");
    this.frozen.clear();
  }

  private async inject(spec: FaultSpec): Promise<void> {
    const record: Metrics["faults"][number] = {
      kind: spec.kind,
      atSeconds: spec.atSeconds,
      seconds: spec.seconds,
      startedMs: Date.now(),
      note: "",
    };
    this.metrics.faults.push(record);
    const downMs = spec.seconds * 1000;
    try {
      const store = STALLED_STORE[spec.kind];
      if (spec.kind === "redis-crash") {
        const pid = this.targets.storePids.redis;
        const restart = this.targets.restartStore?.redis;
        if (!pid || !restart) throw new Error("redis was not started by the simulator");
        this.signal(pid, "SIGKILL");
        await exited(pid);
        this.log(`fault: redis (pid ${pid}) killed; back in ${spec.seconds} s`);
        await sleep(downMs);
        const next = await restart();
        this.targets.storePids.redis = next;
        record.endedMs = Date.now();
        record.note = `redis pid ${pid} killed (SIGKILL), pid ${next} answering on its append-only file ${((record.endedMs - record.startedMs) / 1000).toFixed(1)} s later`;
        this.log(`fault: ${record.note}`);
      } else if (store) {
        const pid = this.targets.storePids[store];
        if (!pid) throw new Error(`${store} was not started by the simulator`);
        this.log(`fault: ${store} (pid ${pid}) frozen for ${spec.seconds} s`);
        this.frozen.add(pid);
        this.signal(pid, "SIGSTOP");
        await sleep(downMs);
        this.signal(pid, "SIGCONT");
        this.frozen.delete(pid);
        record.endedMs = Date.now();
        record.note = `${store} frozen (SIGSTOP) and thawed (SIGCONT)`;
      } else {
        const app = this.targets.app;
        if (!app) throw new Error("the API and worker were not started by the simulator");
        const role = spec.kind === "api-crash" ? "api" : "worker";
        const old = app[role].pid;
        await app.crash(role);
        this.log(`fault: ${role} (pid ${old}) killed; back in ${spec.seconds} s`);
        await sleep(downMs);
        await app.restart(role);
        record.endedMs = Date.now();
        record.note = `${role} pid ${old} killed (SIGKILL), pid ${app[role].pid} ${role === "api" ? "answering" : "polling"} ${((record.endedMs - record.startedMs) / 1000).toFixed(1)} s later`;
        this.log(`fault: ${record.note}`);
      }
    } catch (err) {
      record.endedMs = Date.now();
      record.note = `could not inject: ${(err as Error).message}`;
      this.metrics.anomaly(`fault ${spec.kind} at ${spec.atSeconds} s: ${record.note}`);
      this.log(`fault ${spec.kind}: ${record.note}`);
    }
  }

  private signal(pid: number, sig: NodeJS.Signals): void {
    try {
      process.kill(pid, sig);
    } catch (err) {
      this.log(`fault: ${sig} to pid ${pid} failed: ${(err as Error).message}`);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once no process has `pid` (signal 0 fails with ESRCH). */
async function exited(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(20);
  }
}
