// The strategies bench needs Redis and MySQL only (no Temporal, no API): starts
// its own redis-server and MariaDB on free ports in a temp dir, or reuses
// REDIS_URL / MYSQL_URL. Either way the MySQL tables go into a database of
// their own, dropped at the end. Everything started here is stopped by PID at
// the end, on failure and on Ctrl-C.
import path from "node:path";
import mysql from "mysql2/promise";
import { killAllSync, startMysql, startRedis } from "../../tools/devstack/stack.js";
import { say } from "../lib/stack.js";

export interface Stores {
  redisUrl: string;
  /** URL of the bench's own database on the MySQL server. */
  mysqlUrl: string;
  database: string;
  own: { redis: boolean; mysql: boolean };
  pids: { redis?: number; mysql?: number };
  redisVersion: string;
  mysql: { version: string; isolation: string; flushLogAtTrxCommit: string; lockWaitTimeoutS: string };
}

const stops: { name: string; pid: number; stop(): Promise<void> }[] = [];
const cleanups: (() => Promise<void>)[] = [];
let stopping: Promise<void> | undefined;

/** Drops the bench database, then stops what was started, last first. Idempotent. */
export function stopStores(): Promise<void> {
  stopping ??= (async () => {
    for (const c of cleanups.splice(0).reverse())
      await c().catch((err: unknown) => say(`cleanup failed: ${String(err)}`));
    for (const s of stops.splice(0).reverse()) {
      try {
        await s.stop();
        say(`stopped ${s.name} (pid ${s.pid})`);
      } catch (err) {
        say(`stopping ${s.name} failed: ${String(err)}`);
      }
    }
  })();
  return stopping;
}

let signalled = false;
export function installStoreSignalHandlers(onStop: () => void = () => {}): void {
  const handler = (sig: NodeJS.Signals) => {
    if (signalled) {
      killAllSync("SIGKILL");
      process.exit(130);
    }
    signalled = true;
    say(`${sig}: stopping what the bench started (again to kill)`);
    onStop();
    void stopStores().finally(() => process.exit(130));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  process.on("SIGHUP", handler);
}

function serverOptions(u: URL) {
  return {
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username || "root"),
    password: decodeURIComponent(u.password),
  };
}

export async function startStores(dir: string, runId: string): Promise<Stores> {
  const own = { redis: false, mysql: false };
  const pids: Stores["pids"] = {};
  let redisUrl = process.env.REDIS_URL ?? "";
  let serverUrl = process.env.MYSQL_URL ?? "";
  const tasks: Promise<void>[] = [];
  if (redisUrl) say(`redis:   using REDIS_URL=${redisUrl} (shared: no Redis CPU figures)`);
  else
    tasks.push(
      startRedis({ dir: path.join(dir, "redis") }).then((h) => {
        stops.push({ name: "redis-server", pid: h.pid, stop: h.stop });
        own.redis = true;
        pids.redis = h.pid;
        redisUrl = h.url;
        say(`redis:   ${h.url} (pid ${h.pid})`);
      }),
    );
  if (serverUrl) say(`mysql:   using MYSQL_URL=${serverUrl} (shared: no MySQL CPU figures)`);
  else
    tasks.push(
      startMysql({ dir: path.join(dir, "mysql") }).then((h) => {
        stops.push({ name: "mariadbd", pid: h.pid, stop: h.stop });
        own.mysql = true;
        pids.mysql = h.pid;
        serverUrl = h.url;
        say(`mariadb: ${h.url} (pid ${h.pid})`);
      }),
    );
  const results = await Promise.allSettled(tasks);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length > 0)
    throw new Error(
      `the stores did not start:\n${failed.map((f) => String(f.reason?.message ?? f.reason)).join("\n")}`,
    );

  // A database of our own, so reused servers keep nothing of ours and lose nothing of theirs.
  const database = `bench_strategies_${runId}`.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  const base = new URL(serverUrl);
  const conn = await mysql.createConnection(serverOptions(base));
  let facts: Stores["mysql"];
  try {
    await conn.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    cleanups.push(async () => {
      const c = await mysql.createConnection(serverOptions(base));
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${database}\``);
      } finally {
        await c.end();
      }
    });
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT VERSION() AS v, @@innodb_flush_log_at_trx_commit AS flush, @@innodb_lock_wait_timeout AS lwt",
    );
    const r = rows[0];
    let isolation = "?";
    // MySQL 8 and MariaDB ≥ 11.1 call it transaction_isolation; MariaDB 10.x only tx_isolation.
    for (const v of ["transaction_isolation", "tx_isolation"]) {
      try {
        const [iso] = await conn.query<mysql.RowDataPacket[]>(`SELECT @@${v} AS iso`);
        isolation = String(iso[0]?.iso);
        break;
      } catch {
        /* try the other name */
      }
    }
    facts = {
      version: String(r?.v),
      isolation,
      flushLogAtTrxCommit: String(r?.flush),
      lockWaitTimeoutS: String(r?.lwt),
    };
  } finally {
    await conn.end();
  }
  const url = new URL(base.toString());
  url.pathname = `/${database}`;

  const { Redis } = await import("ioredis");
  const probe = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  let redisVersion = "?";
  try {
    await probe.connect();
    redisVersion = /redis_version:(\S+)/.exec(await probe.info("server"))?.[1] ?? "?";
  } finally {
    probe.disconnect();
  }
  return { redisUrl, mysqlUrl: url.toString(), database, own, pids, redisVersion, mysql: facts };
}
