// Faults injected while a simulated sale runs (the scenario's `faults`): the
// API or the worker killed with SIGKILL and started again, a store frozen
// with SIGSTOP and thawed with SIGCONT, Redis killed with SIGKILL and
// started again on its data (its append-only file) and port, or, on a Redis
// Cluster, the master serving the event killed for good so that its replica
// takes over. The audit at the end must pass all the same: that is the point
// of injecting them. Each fault's record says which calls were refused from
// its start until the next fault (or 30 s after it ended): by code, and the
// window from the first to the last UNAVAILABLE.
import { Redis } from "ioredis";
import { eventKeys } from "../../src/adapters/redis/keys.js";
import { clusterNodes, redisCommand, type RedisClusterHandle } from "../../tools/devstack/stack.js";
import type { FaultRecord, Metrics } from "./metrics.js";
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
  /** The Redis Cluster the simulator started: the Redis faults act on the master serving the event's slot. */
  redisCluster?: RedisClusterHandle;
}

/** How long after a fault ended a refused call still counts as its own: a buyer retries for up to 30 s (run.unavailableRetrySeconds). */
const REFUSALS_AFTER_MS = 30_000;

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
  private eventId = "";

  constructor(
    private readonly specs: FaultSpec[],
    private readonly targets: FaultTargets,
    private readonly metrics: Metrics,
    private readonly log: (msg: string) => void,
  ) {}

  /** Says which faults cannot be injected here, before the run starts. */
  check(): string[] {
    const problems: string[] = [];
    const cluster = this.targets.redisCluster;
    for (const f of this.specs) {
      const at = `${f.kind} at ${f.atSeconds} s`;
      if (cluster && f.kind.startsWith("redis-")) {
        if (f.kind === "redis-failover" && cluster.processes.size <= cluster.nodes.length)
          problems.push(`${at}: the Redis Cluster has no replicas to promote`);
        continue;
      }
      const store = STALLED_STORE[f.kind];
      if (f.kind === "redis-failover")
        problems.push(
          `${at}: needs a Redis Cluster with replicas started by the simulator (the scenario's redisCluster)`,
        );
      else if (f.kind === "redis-crash") {
        if (!this.targets.storePids.redis || !this.targets.restartStore?.redis)
          problems.push(`${at}: redis was not started by the simulator, which could not restart it`);
      } else if (store) {
        if (!this.targets.storePids[store]) problems.push(`${at}: ${store} was not started by the simulator`);
      } else if (!this.targets.app) problems.push(`${at}: the API and worker were not started by the simulator`);
    }
    return problems;
  }

  /** Schedules every fault relative to the sale's opening (wall-clock ms); Redis Cluster faults act on `eventId`'s master. */
  start(openedMs: number, eventId: string): void {
    this.eventId = eventId;
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
    // Each fault's refusals: from its start until the next one started or REFUSALS_AFTER_MS after it ended.
    const injected = this.metrics.faults
      .filter((f) => !f.note.startsWith("not injected"))
      .sort((a, b) => a.startedMs - b.startedMs);
    const now = Date.now();
    injected.forEach((f, i) => {
      const until = Math.min(injected[i + 1]?.startedMs ?? now, (f.endedMs ?? now) + REFUSALS_AFTER_MS);
      f.refusals ??= this.metrics.refusalsBetween(f.startedMs, until);
    });
  }

  private async inject(spec: FaultSpec): Promise<void> {
    const record: FaultRecord = {
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
      const cluster = this.targets.redisCluster;
      if (cluster && spec.kind.startsWith("redis-")) await this.clusterFault(spec, record, cluster);
      else if (spec.kind === "redis-crash") {
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

  /** A Redis fault on the cluster's master serving the event's slot. */
  private async clusterFault(spec: FaultSpec, record: FaultRecord, cluster: RedisClusterHandle): Promise<void> {
    const downMs = spec.seconds * 1000;
    const { slot, master, nodes } = await eventMaster(cluster, this.eventId);
    const port = master.port;
    const pid = cluster.processes.get(port)!.pid;
    const where = `redis master :${port} (slot ${slot}, pid ${pid})`;
    const seconds = (ms: number) => (ms / 1000).toFixed(1);
    if (spec.kind === "redis-stall") {
      this.log(`fault: ${where} frozen for ${spec.seconds} s`);
      this.frozen.add(pid);
      this.signal(pid, "SIGSTOP");
      await sleep(downMs);
      this.signal(pid, "SIGCONT");
      this.frozen.delete(pid);
      record.endedMs = Date.now();
      record.note = `${where} frozen (SIGSTOP) and thawed (SIGCONT)`;
    } else if (spec.kind === "redis-crash") {
      this.signal(pid, "SIGKILL");
      await exited(pid);
      this.log(`fault: ${where} killed; back in ${spec.seconds} s`);
      await sleep(downMs);
      const next = await cluster.restartNode(port);
      this.targets.storePids[`redis:${port}`] = next.pid;
      record.endedMs = Date.now();
      record.note = `${where} killed (SIGKILL), pid ${next.pid} answering on its append-only file ${seconds(record.endedMs - record.startedMs)} s later, still the master`;
      this.log(`fault: ${record.note}`);
    } else {
      const replica = nodes.find((n) => n.masterId === master.id && !n.flags.some((f) => f.startsWith("fail")));
      if (!replica) throw new Error(`${where} has no replica to promote`);
      // What the master had a moment before the kill, against what its replica got: replication is asynchronous.
      const had = await eventWrites(port, this.eventId, false);
      this.signal(pid, "SIGKILL");
      const killedMs = Date.now();
      await exited(pid);
      const got = await eventWrites(replica.port, this.eventId, true);
      this.log(`fault: ${where} killed; replica :${replica.port} takes over`);
      await until(`replica :${replica.port} promoted`, 2 * cluster.nodeTimeoutMs + 30_000, () =>
        promoted(cluster, replica.port, slot),
      );
      const promotedAfterMs = Date.now() - killedMs;
      this.log(`fault: replica :${replica.port} serves slot ${slot} ${seconds(promotedAfterMs)} s after the kill`);
      await sleep(killedMs + downMs - Date.now());
      const next = await cluster.restartNode(port);
      this.targets.storePids[`redis:${port}`] = next.pid;
      await until(`:${port} replicating from :${replica.port}`, 60_000, async () =>
        /master_link_status:up/.test(await redisCommand(port, ["INFO", "replication"])),
      );
      record.endedMs = Date.now();
      const lostHolds = [...had.holds].filter((h) => !got.holds.has(h));
      record.failover = {
        killedPort: port,
        promotedPort: replica.port,
        slot,
        promotedAfterMs,
        lostHolds,
        lostSeatChanges: Math.max(0, had.version - got.version),
      };
      record.note =
        `${where} killed (SIGKILL); replica :${replica.port} promoted and the cluster ok ${seconds(promotedAfterMs)} s later; ` +
        `the old master back as its replica (pid ${next.pid}) ${seconds(record.endedMs - killedMs)} s after the kill; ` +
        (lostHolds.length || record.failover.lostSeatChanges
          ? `not yet replicated, so lost with the old master: ${lostHolds.length} holds (${lostHolds.join(", ") || "none"}), ${record.failover.lostSeatChanges} seat-map changes`
          : "the replica had every hold and seat change the old master had");
      this.log(`fault: ${record.note}`);
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

/** Resolves once `done` holds (errors count as not yet); rejects after `timeoutMs`. */
async function until(what: string, timeoutMs: number, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(100);
  }
}

/** The event's slot, the master serving it now and every node, as a live node of the cluster sees them. */
async function eventMaster(cluster: RedisClusterHandle, eventId: string) {
  let lastError: unknown;
  for (const [port, proc] of cluster.processes) {
    if (proc.exitInfo) continue;
    try {
      const slot = Number(await redisCommand(port, ["CLUSTER", "KEYSLOT", `{ev:${eventId}}`]));
      const nodes = await clusterNodes(port);
      const master = nodes.find(
        (n) =>
          n.flags.includes("master") && !n.flags.includes("fail") && n.slots.some(([a, b]) => slot >= a && slot <= b),
      );
      if (!master || !cluster.processes.has(master.port)) throw new Error(`no live master serves slot ${slot}`);
      return { slot, master, nodes };
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`no cluster node could say which master serves the event: ${String(lastError)}`);
}

/** `port` is a master serving `slot`, and every live node says the cluster is ok. */
async function promoted(cluster: RedisClusterHandle, port: number, slot: number): Promise<boolean> {
  const me = (await clusterNodes(port)).find((n) => n.flags.includes("myself"));
  if (!me?.flags.includes("master") || !me.slots.some(([a, b]) => slot >= a && slot <= b)) return false;
  for (const [p, proc] of cluster.processes) {
    if (proc.exitInfo) continue;
    if (!/cluster_state:ok/.test(await redisCommand(p, ["CLUSTER", "INFO"]))) return false;
  }
  return true;
}

/** The event's hold ids and seat-map version on one node (`replica`: read a replica's own copy, READONLY). */
async function eventWrites(
  port: number,
  eventId: string,
  replica: boolean,
): Promise<{ holds: Set<string>; version: number }> {
  const k = eventKeys(eventId);
  const node = new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    if (replica) await node.call("READONLY");
    // One event's keys on one node of a simulated sale: a few hundred, so KEYS is cheap here.
    const prefix = k.hold("");
    const keys = (await node.call("KEYS", `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`)) as string[];
    return {
      holds: new Set(keys.map((key) => key.slice(prefix.length))),
      version: Number((await node.get(k.version)) ?? 0),
    };
  } finally {
    node.disconnect();
  }
}
