// Starts local dependencies (Redis, a Redis Cluster, MariaDB/MySQL, the Temporal
// dev server) as child processes on free ports on 127.0.0.1, and stops them by PID.
//
// Used by `npm start` (tools/devstack/start.ts) and `npm test` (test/run.ts).
// Every child:
//   - writes stdout/stderr to a log file in the directory it was given;
//   - runs in its own process group, so a Ctrl-C in the terminal reaches only the
//     orchestrator, which then shuts things down in order;
//   - is watched by a tiny `sh` watchdog that SIGTERMs (then SIGKILLs) it if the
//     orchestrating Node process disappears without cleaning up (e.g. SIGKILL);
//   - gets a SIGTERM from a process 'exit' hook if the orchestrator exits with it
//     still running.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { lowerPriority } from "../../src/worker-priority.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

// ---------------------------------------------------------------------------
// Binaries

const SBIN_DIRS = ["/usr/sbin", "/usr/local/sbin", "/sbin"];

/** Absolute path of the first of `names` found on PATH (or in the sbin dirs), or undefined. */
export function findBinary(...names: string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean), ...SBIN_DIRS];
  for (const name of names) {
    if (name.includes("/")) {
      if (isExecutable(name)) return path.resolve(name);
      continue;
    }
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export class MissingBinaryError extends Error {
  override name = "MissingBinaryError";
}

function requireBinary(name: string, hint: string): string {
  const found = findBinary(name);
  if (!found) throw new MissingBinaryError(`${name} not found: ${hint}`);
  return found;
}

// ---------------------------------------------------------------------------
// Ports

/** A free TCP port on 127.0.0.1 (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** `n` distinct free ports: all are held open at once, so none repeats. */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => resolve());
      });
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("could not read a free port");
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** Resolves true when a TCP connection to 127.0.0.1:port succeeds. */
export function canConnect(port: number, host = "127.0.0.1", timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

// ---------------------------------------------------------------------------
// Child processes

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** undefined when the output is inherited */
  readonly logFile: string | undefined;
  /** Set once the process has exited. */
  readonly exitInfo: ExitInfo | undefined;
  readonly exited: Promise<ExitInfo>;
  /** SIGTERM, wait up to `graceMs`, then SIGKILL. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ManagedProcess & { child: ChildProcess }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort: the orchestrator is exiting with children still running.
  process.on("exit", () => killAllSync("SIGTERM"));
}

/** Sends `signal` to every child still running (synchronous; safe in an 'exit' handler). */
export function killAllSync(signal: NodeJS.Signals = "SIGTERM"): void {
  for (const p of live) {
    if (p.exitInfo) continue;
    try {
      process.kill(p.pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** PIDs of the children started by this process that are still running. */
export function livePids(): number[] {
  return [...live].filter((p) => !p.exitInfo).map((p) => p.pid);
}

const WATCHDOG_SCRIPT = `
p=$1; c=$2; g=$3
while kill -0 "$p" 2>/dev/null && kill -0 "$c" 2>/dev/null; do sleep 1; done
kill -0 "$c" 2>/dev/null || exit 0
kill -TERM "$c" 2>/dev/null
i=0
while kill -0 "$c" 2>/dev/null && [ "$i" -lt "$g" ]; do sleep 1; i=$((i+1)); done
kill -KILL "$c" 2>/dev/null
exit 0
`;

function startWatchdog(childPid: number, graceSeconds: number): ChildProcess | undefined {
  try {
    const w = spawn(
      "sh",
      ["-c", WATCHDOG_SCRIPT, "devstack-watchdog", String(process.pid), String(childPid), String(graceSeconds)],
      {
        stdio: "ignore",
        detached: true,
      },
    );
    w.on("error", () => {});
    w.unref();
    return w;
  } catch {
    return undefined;
  }
}

export interface LaunchOptions {
  /** Where stdout and stderr go (appended); required unless inheritOutput. */
  logFile?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Default grace period for stop(). */
  graceMs?: number;
  /** stdio for stdout/stderr: the log file (default) or inherited. */
  inheritOutput?: boolean;
  /**
   * Keep this process's event loop alive while the child runs (default false:
   * the child is unref'd, like a background service).
   */
  keepAlive?: boolean;
}

/** Spawns a long-running child in its own process group, output to a log file. */
export function launch(name: string, command: string, args: string[], opts: LaunchOptions): ManagedProcess {
  installExitHook();
  if (!opts.logFile && !opts.inheritOutput) throw new Error(`launch ${name}: logFile or inheritOutput is required`);
  if (opts.logFile) fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const graceMs = opts.graceMs ?? 10_000;
  let fd: number | undefined;
  let child: ChildProcess;
  try {
    fd = opts.inheritOutput || !opts.logFile ? undefined : fs.openSync(opts.logFile, "a");
    if (fd !== undefined) fs.writeSync(fd, `\n--- ${new Date().toISOString()} ${command} ${args.join(" ")}\n`);
    child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", fd ?? "inherit", fd ?? "inherit"],
      detached: true,
    });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  if (child.pid === undefined) {
    // spawn failed (ENOENT, EACCES...); the 'error' event carries the reason
    child.on("error", () => {});
    throw new Error(`${name}: could not start ${command}`);
  }
  if (!opts.keepAlive) child.unref();
  const pid = child.pid;
  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      live.delete(proc);
      resolve(exitInfo);
    });
    child.once("error", (err) => {
      if (exitInfo) return;
      exitInfo = { code: -1, signal: null };
      live.delete(proc);
      try {
        if (opts.logFile) fs.appendFileSync(opts.logFile, `\n[devstack] spawn error: ${err.message}\n`);
        else process.stderr.write(`[devstack] ${name}: ${err.message}\n`);
      } catch {
        /* ignore */
      }
      resolve(exitInfo);
    });
  });
  const watchdog = startWatchdog(pid, Math.ceil(graceMs / 1000));
  let stopping: Promise<void> | undefined;
  const proc = {
    name,
    pid,
    child,
    logFile: opts.logFile,
    get exitInfo() {
      return exitInfo;
    },
    exited,
    stop(customGraceMs?: number): Promise<void> {
      stopping ??= (async () => {
        if (!exitInfo) {
          signal(pid, "SIGTERM");
          let timer: NodeJS.Timeout | undefined;
          const timedOut = await Promise.race([
            exited.then(() => false),
            new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), customGraceMs ?? graceMs))),
          ]);
          clearTimeout(timer);
          if (timedOut && !exitInfo) {
            signal(pid, "SIGKILL");
            await exited;
          }
        }
        if (watchdog?.pid !== undefined && watchdog.exitCode === null) signal(watchdog.pid, "SIGKILL");
      })();
      return stopping;
    },
  };
  live.add(proc);
  return proc;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The last `lines` lines of a log file (for error messages). */
export function tail(file: string | undefined, lines = 25): string {
  if (!file) return "(output not captured)";
  try {
    const size = fs.statSync(file).size;
    const length = Math.min(size, 16_384);
    const fd = fs.openSync(file, "r");
    try {
      const buf = Buffer.alloc(length);
      fs.readSync(fd, buf, 0, length, size - length);
      return buf.toString("utf8").split("\n").slice(-lines).join("\n").trimEnd();
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return "(no log)";
  }
}

function describeExit(e: ExitInfo): string {
  return e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
}

export class StartupError extends Error {
  override name = "StartupError";
  constructor(
    message: string,
    readonly logFile?: string,
    readonly addressInUse = false,
  ) {
    super(message);
  }
}

/**
 * Polls `check` until it returns true. Fails when the process exits or after
 * `timeoutMs`, with the tail of its log in the message.
 */
export async function waitUntilReady(
  proc: ManagedProcess,
  what: string,
  check: () => Promise<boolean>,
  { timeoutMs = 30_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitInfo) throw failure(`${proc.name} (pid ${proc.pid}) ${describeExit(proc.exitInfo)} before ${what}`);
    let ok: boolean;
    try {
      ok = await check();
    } catch {
      ok = false;
    }
    if (ok) return;
    if (proc.exitInfo) throw failure(`${proc.name} (pid ${proc.pid}) ${describeExit(proc.exitInfo)} before ${what}`);
    if (Date.now() > deadline)
      throw failure(`${proc.name} (pid ${proc.pid}) did not report ${what} within ${Math.round(timeoutMs / 1000)} s`);
    await sleep(intervalMs);
  }

  function failure(message: string): StartupError {
    const log = tail(proc.logFile);
    const inUse =
      /address already in use|EADDRINUSE|bind.*in use|Could not create server TCP listening socket|Do you already have another .* server running/i.test(
        log,
      );
    return new StartupError(`${message}\n--- last lines of ${proc.logFile}:\n${log}`, proc.logFile, inUse);
  }
}

/** Starts a process on fresh free ports, retrying (a few times) when a port got taken meanwhile. */
async function withPortRetry<T>(attempt: () => Promise<T>, tries = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (i < tries && err instanceof StartupError && err.addressInUse) continue;
      throw err;
    }
  }
}

/** Runs a short command to completion without blocking the event loop; output optionally appended to `logFile`. */
function runAsync(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; logFile?: string; input?: string } = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let output = "";
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    const finish = (code: number | null) => {
      clearTimeout(timer);
      if (opts.logFile) {
        try {
          fs.appendFileSync(
            opts.logFile,
            `\n--- ${new Date().toISOString()} ${command} ${args.join(" ")} (exit ${code})\n${output}`,
          );
        } catch {
          /* ignore */
        }
      }
      resolve({ code, output });
    };
    child.once("error", (err) => {
      output += `\n${err.message}`;
      finish(-1);
    });
    child.once("close", (code) => finish(code));
  });
}

// ---------------------------------------------------------------------------
// Redis

/** Sends one command over RESP to 127.0.0.1:port; resolves the reply as a string. Rejects on error replies. */
export function redisCommand(port: number, args: string[], timeoutMs = 2000, host = "127.0.0.1"): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    let buf = Buffer.alloc(0);
    const done = (err: Error | null, value?: string) => {
      socket.removeAllListeners();
      socket.destroy();
      if (err) reject(err);
      else resolve(value ?? "");
    };
    socket.setTimeout(timeoutMs, () => done(new Error("redis: timeout")));
    socket.once("error", (e) => done(e));
    socket.once("connect", () => {
      let req = `*${args.length}\r\n`;
      for (const a of args) req += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
      socket.write(req);
    });
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const eol = buf.indexOf("\r\n");
      if (eol < 0) return;
      const type = String.fromCharCode(buf[0]!);
      const head = buf.subarray(1, eol).toString();
      if (type === "+" || type === ":") return done(null, head);
      if (type === "-") return done(new Error(head));
      if (type === "$") {
        const len = Number(head);
        if (len < 0) return done(null, "");
        if (buf.length < eol + 2 + len) return; // wait for more
        return done(null, buf.subarray(eol + 2, eol + 2 + len).toString());
      }
      return done(null, buf.toString());
    });
    socket.once("end", () => done(new Error("redis: connection closed")));
  });
}

export interface RedisHandle {
  url: string;
  host: string;
  port: number;
  pid: number;
  logFile: string;
  /** Settles when redis-server has exited, however it ended (stop, or a signal sent by a test). */
  exited: Promise<void>;
  stop(): Promise<void>;
}

/**
 * How the product's Redis persists (README, "Operating it safely"): an
 * append-only file, fsynced once a second by a background thread. Every
 * write reaches the file (the kernel's page cache) before its reply leaves,
 * so a crash of redis-server alone (SIGKILL, OOM kill) loses no acknowledged
 * hold; a crash of the whole host loses at most about the last second.
 * `appendfsync always` would make every hold wait for a disk flush: a few
 * hundred holds per second on an ordinary disk instead of tens of thousands,
 * to save a second that MySQL covers anyway (a seat sold there stays sold:
 * its UNIQUE key refuses a second sale, and the rebuild reads it back).
 * No RDB snapshots (`--save ""`): the AOF is the one copy, rewritten by Redis
 * as it grows.
 */
export const REDIS_DURABILITY_ARGS = ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""] as const;

export interface StartRedisOptions {
  /** Log file and (unless dataDir is given) data go here. */
  dir: string;
  /** Where RDB/AOF files go (default: dir). */
  dataDir?: string;
  /**
   * The product's store (REDIS_DURABILITY_ARGS, AOF everysec) when true;
   * false (the default, for benchmark stores only): `--save "" --appendonly no`.
   */
  persistent?: boolean;
  port?: number;
  timeoutMs?: number;
  extraArgs?: string[];
}

export async function startRedis(opts: StartRedisOptions): Promise<RedisHandle> {
  const bin = requireBinary("redis-server", "apt-get install redis-server");
  const dataDir = path.resolve(opts.dataDir ?? opts.dir);
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.resolve(opts.dir, "redis.log");
  return withPortRetry(async () => {
    const port = opts.port ?? (await freePort());
    const args = [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dataDir,
      "--daemonize",
      "no",
      ...(opts.persistent ? REDIS_DURABILITY_ARGS : ["--save", "", "--appendonly", "no"]),
      ...(opts.extraArgs ?? []),
    ];
    const proc = launch(`redis-server :${port}`, bin, args, { logFile, cwd: dataDir, graceMs: 10_000 });
    try {
      await waitUntilReady(proc, "PONG", async () => (await redisCommand(port, ["PING"])) === "PONG", {
        timeoutMs: opts.timeoutMs ?? 30_000,
        intervalMs: 50,
      });
    } catch (err) {
      await proc.stop();
      throw err;
    }
    return {
      url: `redis://127.0.0.1:${port}`,
      host: "127.0.0.1",
      port,
      pid: proc.pid,
      logFile,
      exited: proc.exited.then(() => undefined),
      stop: () => proc.stop(),
    };
  });
}

export interface RedisClusterHandle {
  /** The masters as created (a failover may promote a replica since). */
  nodes: { host: string; port: number }[];
  /** Every node's pid as first started (`processes` follows restarts). */
  pids: number[];
  /** Every node, masters and replicas, by client port; a restart replaces the entry. */
  processes: Map<number, ManagedProcess>;
  /** "host:port,host:port,..." as REDIS_CLUSTER_NODES expects. */
  nodesEnv: string;
  /** cluster-node-timeout, ms. */
  nodeTimeoutMs: number;
  /**
   * Starts a node that died (a SIGKILL by a test or a fault) again on its
   * ports and data (nodes.conf and the append-only file), and waits until it
   * answers: it rejoins as what the cluster now says it is (a master that
   * was failed over comes back as its successor's replica).
   */
  restartNode(port: number): Promise<ManagedProcess>;
  stop(): Promise<void>;
}

export interface ClusterNodeInfo {
  id: string;
  port: number;
  /** myself, master, slave, fail, fail?, handshake, noaddr, ... */
  flags: string[];
  /** The node id of its master, for a replica. */
  masterId: string | undefined;
  linkState: string;
  /** Slot ranges served, inclusive. */
  slots: [number, number][];
}

/** CLUSTER NODES as seen from the node on `port`. */
export async function clusterNodes(port: number, host = "127.0.0.1"): Promise<ClusterNodeInfo[]> {
  const text = await redisCommand(port, ["CLUSTER", "NODES"], 2000, host);
  return text
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => {
      const [id, addr, flags, master, , , , linkState, ...slots] = line.trim().split(" ");
      return {
        id: id!,
        port: Number(/:(\d+)/.exec(addr ?? "")?.[1] ?? 0),
        flags: (flags ?? "").split(","),
        masterId: master && master !== "-" ? master : undefined,
        linkState: linkState ?? "",
        // "from-to" or "slot"; "[slot-<-id]" entries are migrations, not served slots
        slots: slots
          .filter((x) => !x.startsWith("["))
          .map((x) => x.split("-").map(Number))
          .map(([from, to]) => [from!, to ?? from!] as [number, number]),
      };
    });
}

export async function startRedisCluster(opts: {
  dir: string;
  masters?: number;
  /** Replicas per master (default 0): with 1, killing a master promotes its replica. */
  replicas?: number;
  /** cluster-node-timeout: how long a master may be unreachable before its replica takes over (default 5000). */
  nodeTimeoutMs?: number;
  timeoutMs?: number;
}): Promise<RedisClusterHandle> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 0;
  const nodeCount = masters * (1 + replicas);
  if (masters < 3) throw new Error("startRedisCluster: Redis Cluster needs at least 3 masters");
  const bin = requireBinary("redis-server", "apt-get install redis-server");
  const cli = requireBinary("redis-cli", "apt-get install redis-tools");
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const nodeTimeoutMs = opts.nodeTimeoutMs ?? 5000;
  const dir = path.resolve(opts.dir);
  fs.mkdirSync(dir, { recursive: true });

  for (let attempt = 1; ; attempt++) {
    // client ports and cluster-bus ports, all distinct (--cluster-port, so port+10000 need not be free)
    const ports = await freePorts(nodeCount * 2);
    const procs: ManagedProcess[] = [];
    const processes = new Map<number, ManagedProcess>();
    const stop = async () => {
      await Promise.all([...processes.values()].map((p) => p.stop()));
    };
    // The same command starts a node the first time and again after it died.
    const launchNode = (i: number): ManagedProcess => {
      const port = ports[i]!;
      const nodeDir = path.join(dir, `node-${port}`);
      fs.mkdirSync(nodeDir, { recursive: true });
      const proc = launch(
        `redis-server (cluster) :${port}`,
        bin,
        [
          "--port",
          String(port),
          "--cluster-port",
          String(ports[nodeCount + i]!),
          "--bind",
          "127.0.0.1",
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          "nodes.conf",
          "--cluster-node-timeout",
          String(nodeTimeoutMs),
          "--dir",
          nodeDir,
          "--daemonize",
          "no",
          ...REDIS_DURABILITY_ARGS,
        ],
        { logFile: path.join(nodeDir, "redis.log"), cwd: nodeDir },
      );
      processes.set(port, proc);
      return proc;
    };
    try {
      for (let i = 0; i < nodeCount; i++) procs.push(launchNode(i));
      await Promise.all(
        procs.map((p, i) =>
          waitUntilReady(p, "PONG", async () => (await redisCommand(ports[i]!, ["PING"])) === "PONG", {
            timeoutMs,
            intervalMs: 50,
          }),
        ),
      );
      const createLog = path.join(dir, "cluster-create.log");
      // redis-cli makes the first `masters` addresses masters and the rest their replicas.
      const addrs = ports.slice(0, nodeCount).map((p) => `127.0.0.1:${p}`);
      const created = await runAsync(
        cli,
        ["--cluster", "create", ...addrs, "--cluster-replicas", String(replicas), "--cluster-yes"],
        {
          logFile: createLog,
          timeoutMs,
        },
      );
      if (created.code !== 0) {
        throw new StartupError(
          `redis-cli --cluster create failed (exit ${created.code})\n--- last lines of ${createLog}:\n${tail(createLog)}`,
          createLog,
        );
      }
      // every node must see the whole cluster with all slots served
      await Promise.all(
        procs.map((p, i) =>
          waitUntilReady(
            p,
            "cluster_state:ok",
            async () => {
              const info = await redisCommand(ports[i]!, ["CLUSTER", "INFO"]);
              return (
                /cluster_state:ok/.test(info) &&
                new RegExp(`cluster_known_nodes:${nodeCount}\\b`).test(info) &&
                /cluster_slots_ok:16384\b/.test(info)
              );
            },
            { timeoutMs, intervalMs: 100 },
          ),
        ),
      );
      // Every replica has synced with its master, so a failover has one to promote.
      await Promise.all(
        procs
          .slice(masters)
          .map((p, i) =>
            waitUntilReady(
              p,
              "master_link_status:up",
              async () =>
                /master_link_status:up/.test(await redisCommand(ports[masters + i]!, ["INFO", "replication"])),
              { timeoutMs, intervalMs: 100 },
            ),
          ),
      );
      const nodes = ports.slice(0, masters).map((port) => ({ host: "127.0.0.1", port }));
      return {
        nodes,
        pids: procs.map((p) => p.pid),
        processes,
        nodesEnv: nodes.map((n) => `${n.host}:${n.port}`).join(","),
        nodeTimeoutMs,
        async restartNode(port) {
          const i = ports.indexOf(port);
          const old = processes.get(port);
          if (i < 0 || i >= nodeCount || !old) throw new Error(`no cluster node on port ${port}`);
          if (!old.exitInfo) throw new Error(`cluster node :${port} (pid ${old.pid}) is still running`);
          const proc = launchNode(i);
          try {
            await waitUntilReady(proc, "PONG", async () => (await redisCommand(port, ["PING"])) === "PONG", {
              timeoutMs,
              intervalMs: 50,
            });
          } catch (err) {
            await proc.stop();
            throw err;
          }
          return proc;
        },
        stop,
      };
    } catch (err) {
      await stop();
      if (attempt < 3 && err instanceof StartupError && err.addressInUse) continue;
      throw err;
    }
  }
}

// ---------------------------------------------------------------------------
// MariaDB / MySQL

interface MysqlFlavor {
  kind: "mariadb" | "mysql";
  server: string;
  admin: string;
  client: string;
  installDb?: string;
}

function mysqlFlavor(): MysqlFlavor {
  const hint =
    "mariadbd not found: apt-get install mariadb-server (the system service need not run), or install MySQL 8 so that mysqld, mysqladmin and mysql are on PATH";
  const mariadbd = findBinary("mariadbd");
  if (mariadbd) {
    const installDb = findBinary("mariadb-install-db", "mysql_install_db");
    const admin = findBinary("mariadb-admin", "mysqladmin");
    const client = findBinary("mariadb", "mysql");
    if (!installDb || !admin || !client)
      throw new MissingBinaryError(
        `mariadb-install-db, mariadb-admin or mariadb not found next to ${mariadbd}: apt-get install mariadb-server mariadb-client`,
      );
    return { kind: "mariadb", server: mariadbd, installDb, admin, client };
  }
  const mysqld = findBinary("mysqld");
  if (!mysqld) throw new MissingBinaryError(hint);
  const version = spawnSync(mysqld, ["--version"], { encoding: "utf8" }).stdout ?? "";
  const admin = findBinary("mysqladmin", "mariadb-admin");
  const client = findBinary("mysql", "mariadb");
  if (!admin || !client)
    throw new MissingBinaryError(
      `mysqladmin or mysql (client) not found: install the MySQL client programs, or apt-get install mariadb-server`,
    );
  if (/mariadb/i.test(version)) {
    const installDb = findBinary("mariadb-install-db", "mysql_install_db");
    if (!installDb) throw new MissingBinaryError("mariadb-install-db not found: apt-get install mariadb-server");
    return { kind: "mariadb", server: mysqld, installDb, admin, client };
  }
  return { kind: "mysql", server: mysqld, admin, client };
}

export interface MysqlHandle {
  /** mysql://root@127.0.0.1:P/<database> */
  url: string;
  host: string;
  port: number;
  database: string;
  socket: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

export interface StartMysqlOptions {
  /** Log, socket and (unless dataDir is given) data under dir/data. */
  dir: string;
  /** Data directory; initialised only when it holds no `mysql` system schema yet. */
  dataDir?: string;
  /** Database to create (default "ticketing"). */
  database?: string;
  /** false (default for throwaway dirs): no fsync per commit, no doublewrite. */
  durable?: boolean;
  port?: number;
  timeoutMs?: number;
  /** More server options, e.g. --ssl-cert=... (test/foundation/mysql-tls.test.ts). */
  serverArgs?: string[];
}

export async function startMysql(opts: StartMysqlOptions): Promise<MysqlHandle> {
  const flavor = mysqlFlavor();
  const database = opts.database ?? "ticketing";
  if (!/^[A-Za-z0-9_]+$/.test(database)) throw new Error(`startMysql: invalid database name ${database}`);
  const dir = path.resolve(opts.dir);
  const dataDir = path.resolve(opts.dataDir ?? path.join(dir, "data"));
  fs.mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, flavor.kind === "mariadb" ? "mariadb.log" : "mysql.log");
  let socket = path.join(dir, "mysqld.sock");
  if (Buffer.byteLength(socket) > 100) {
    // unix socket paths are limited to ~107 bytes
    socket = path.join(
      os.tmpdir(),
      `ticketing-mysqld-${createHash("sha1").update(dir).digest("hex").slice(0, 12)}.sock`,
    );
  }
  const isRoot = process.getuid?.() === 0;
  const user = os.userInfo().username;
  // Its own temporary directory: the shared /tmp is swept by other programs on a
  // busy machine, and a temp table deleted under it aborts mariadb-install-db.
  const tmpDir = path.join(dir, "tmp");
  fs.mkdirSync(tmpDir, { recursive: true });

  if (!fs.existsSync(path.join(dataDir, "mysql"))) {
    fs.mkdirSync(dataDir, { recursive: true });
    const args =
      flavor.kind === "mariadb"
        ? [
            "--no-defaults",
            `--datadir=${dataDir}`,
            `--user=${user}`,
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            `--tmpdir=${tmpDir}`,
          ]
        : ["--no-defaults", "--initialize-insecure", `--datadir=${dataDir}`, ...(isRoot ? ["--user=root"] : [])];
    const init = await runAsync(flavor.kind === "mariadb" ? flavor.installDb! : flavor.server, args, {
      logFile,
      timeoutMs: 180_000,
    });
    if (init.code !== 0) {
      throw new StartupError(
        `initialising the ${flavor.kind} data directory ${dataDir} failed (exit ${init.code})\n--- last lines of ${logFile}:\n${tail(logFile)}`,
        logFile,
      );
    }
  }

  return withPortRetry(async () => {
    const port = opts.port ?? (await freePort());
    const args = [
      "--no-defaults",
      `--datadir=${dataDir}`,
      "--bind-address=127.0.0.1",
      `--port=${port}`,
      `--socket=${socket}`,
      `--pid-file=${path.join(dir, "mysqld.pid")}`,
      `--tmpdir=${tmpDir}`,
      "--skip-log-bin",
      "--max-connections=500",
      "--character-set-server=utf8mb4",
      "--collation-server=utf8mb4_unicode_ci",
      ...(isRoot ? ["--user=root"] : []),
      ...(flavor.kind === "mysql" ? ["--mysqlx=OFF"] : []),
      ...(opts.durable ? [] : ["--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--sync-binlog=0"]),
      ...(opts.serverArgs ?? []),
    ];
    const proc = launch(`${path.basename(flavor.server)} :${port}`, flavor.server, args, { logFile, graceMs: 30_000 });
    const clientArgs = ["--no-defaults", "--protocol=socket", `--socket=${socket}`, "-uroot"];
    try {
      const timeoutMs = opts.timeoutMs ?? 60_000;
      await waitUntilReady(
        proc,
        "ready (mysqladmin ping)",
        async () =>
          (await runAsync(flavor.admin, [...clientArgs, "--connect-timeout=2", "ping"], { timeoutMs: 5000 })).code ===
            0 && canConnect(port),
        { timeoutMs, intervalMs: 100 },
      );
      // The database, and root over TCP from 127.0.0.1 without a password (what the URL says).
      const sql = [
        `CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`,
        `CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';`,
        `GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;`,
      ].join("\n");
      const r = await runAsync(flavor.client, [...clientArgs, "--batch"], { input: sql, timeoutMs: 30_000, logFile });
      if (r.code !== 0) throw new StartupError(`creating database ${database} failed: ${r.output.trim()}`, logFile);
      const check = await runAsync(
        flavor.client,
        [
          "--no-defaults",
          "--protocol=tcp",
          "-h127.0.0.1",
          `-P${port}`,
          "-uroot",
          "--batch",
          "-e",
          "SELECT 1",
          database,
        ],
        { timeoutMs: 30_000 },
      );
      if (check.code !== 0)
        throw new StartupError(
          `connecting as root over TCP to 127.0.0.1:${port} failed: ${check.output.trim()}`,
          logFile,
        );
    } catch (err) {
      await proc.stop();
      throw err;
    }
    return {
      url: `mysql://root@127.0.0.1:${port}/${database}`,
      host: "127.0.0.1",
      port,
      database,
      socket,
      pid: proc.pid,
      logFile,
      stop: () => proc.stop(),
    };
  });
}

// ---------------------------------------------------------------------------
// Temporal dev server

/** The Go tools that are not on npm, built into .tools/bin by install-tools.sh. */
export type GoTool = "temporal" | "ghz" | "grpcurl";

export const toolBinary = (name: GoTool): string => path.join(repoRoot, ".tools", "bin", name);

export const temporalBinary = toolBinary("temporal");

/**
 * Installs the named tools that are missing (install-tools.sh: copied from the
 * shared cache, or built with `go install`, printing progress) and returns
 * their paths. Only what the caller needs is built: `npm start` needs the
 * Temporal CLI alone, the benchmarks ghz and grpcurl.
 */
export async function ensureTools(names: GoTool[]): Promise<string[]> {
  const missing = names.filter((n) => !isExecutable(toolBinary(n)));
  if (missing.length > 0) {
    process.stderr.write(
      `devstack: ${missing.join(", ")} missing from .tools/bin; running tools/devstack/install-tools.sh ${missing.join(" ")}\n`,
    );
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn("bash", [path.join(repoRoot, "tools", "devstack", "install-tools.sh"), ...missing], {
        cwd: repoRoot,
        stdio: ["ignore", process.stderr, process.stderr],
      });
      child.once("error", () => resolve(-1));
      child.once("exit", (c) => resolve(c));
    });
    const still = missing.filter((n) => !isExecutable(toolBinary(n)));
    if (code !== 0 || still.length > 0) {
      throw new MissingBinaryError(
        `${still.join(", ") || missing.join(", ")} not installed in .tools/bin: tools/devstack/install-tools.sh failed (exit ${code}); building needs Go 1.25+ and the Go module proxy (\`npm run tools -- --help\`)`,
      );
    }
  }
  return names.map(toolBinary);
}

/** The Temporal CLI, built first if missing. */
export async function ensureTemporalCli(): Promise<string> {
  const [bin] = await ensureTools(["temporal"]);
  return bin!;
}

/** Env without TEMPORAL_* variables (the CLI reads them; a developer's profile must not leak in). */
function temporalFreeEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("TEMPORAL_")) env[k] = v;
  return env;
}

export interface TemporalHandle {
  /** host:port of the frontend gRPC service */
  address: string;
  port: number;
  uiPort: number;
  /** undefined when headless */
  uiUrl: string | undefined;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

export interface StartTemporalOptions {
  /** SQLite file (WAL + synchronous=normal); in memory when absent. */
  dbFile?: string;
  /** Log directory (default: the dbFile's directory, else a new temp dir). */
  dir?: string;
  /** Serve the web UI (default false: --headless). */
  ui?: boolean;
  port?: number;
  uiPort?: number;
  /** Extra namespaces to create at launch ("default" always exists). */
  namespaces?: string[];
  logLevel?: "debug" | "info" | "warn" | "error";
  extraArgs?: string[];
  timeoutMs?: number;
  /**
   * CPU niceness to run the server at (default 0: unchanged). The local stack
   * passes WORKER_NICE: checkout work is background work next to the API's
   * holds (src/worker-priority.ts). Started through nice(1) so that every
   * thread has it, and its session's autogroup gets it too.
   */
  nice?: number;
}

export async function startTemporal(opts: StartTemporalOptions = {}): Promise<TemporalHandle> {
  const bin = await ensureTemporalCli();
  // With neither dir nor dbFile, the log goes to a temp dir that stop() removes.
  const ownDir = !opts.dir && !opts.dbFile;
  const dir = path.resolve(
    opts.dir ??
      (opts.dbFile
        ? path.dirname(path.resolve(opts.dbFile))
        : fs.mkdtempSync(path.join(os.tmpdir(), "ticketing-temporal-"))),
  );
  fs.mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, "temporal.log");
  const env = temporalFreeEnv();
  return withPortRetry(async () => {
    const [freeA, freeB] = await freePorts(2);
    const port = opts.port ?? freeA!;
    const uiPort = opts.uiPort ?? freeB!;
    const args = [
      "server",
      "start-dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--ui-port",
      String(uiPort),
      "--log-level",
      opts.logLevel ?? "warn",
      ...(opts.ui ? [] : ["--headless"]),
      ...(opts.dbFile
        ? [
            "--db-filename",
            path.resolve(opts.dbFile),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
          ]
        : []),
      ...(opts.namespaces ?? []).flatMap((n) => ["--namespace", n]),
      ...(opts.extraArgs ?? []),
    ];
    if (opts.dbFile) fs.mkdirSync(path.dirname(path.resolve(opts.dbFile)), { recursive: true });
    const nice = opts.nice ?? 0;
    const viaNice = nice > 0 && isExecutable("/usr/bin/nice") ? "/usr/bin/nice" : undefined;
    const proc = viaNice
      ? launch(`temporal :${port}`, viaNice, ["-n", String(nice), bin, ...args], { logFile, env, graceMs: 15_000 })
      : launch(`temporal :${port}`, bin, args, { logFile, env, graceMs: 15_000 });
    // The threads (when nice(1) is missing) and the autogroup of its own session (launch detaches).
    if (nice > 0) lowerPriority(nice, proc.pid);
    const address = `127.0.0.1:${port}`;
    try {
      await waitUntilReady(
        proc,
        "the default namespace",
        async () => {
          if (!(await canConnect(port))) return false;
          const r = await runAsync(
            bin,
            [
              "operator",
              "namespace",
              "describe",
              "--namespace",
              "default",
              "--address",
              address,
              "--command-timeout",
              "3s",
            ],
            { env, timeoutMs: 5000 },
          );
          return r.code === 0;
        },
        { timeoutMs: opts.timeoutMs ?? 90_000, intervalMs: 200 },
      );
      if (opts.ui) {
        await waitUntilReady(proc, `the web UI on port ${uiPort}`, () => canConnect(uiPort), {
          timeoutMs: 30_000,
          intervalMs: 200,
        });
      }
    } catch (err) {
      await proc.stop();
      throw err;
    }
    const stop = async () => {
      await proc.stop();
      if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
    };
    return {
      address,
      port,
      uiPort,
      uiUrl: opts.ui ? `http://127.0.0.1:${uiPort}` : undefined,
      pid: proc.pid,
      logFile,
      stop,
    };
  });
}
