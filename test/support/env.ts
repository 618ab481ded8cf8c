// Connection settings for tests. `npm test` (test/run.ts) starts Redis, a Redis
// Cluster, MariaDB and Temporal on free ports and passes them in through the env.
import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";

export interface HostPort {
  host: string;
  port: number;
}

export interface TestEnv {
  redisUrl: string;
  /** Set only in the run where the Redis suites run against a Redis Cluster. */
  redisClusterNodes?: HostPort[];
  mysqlUrl: string;
  temporalAddress: string;
}

const HOW_TO_RUN = "run the tests with `npm test`, which starts Redis, MySQL and Temporal";

/** Parses "host:port,host:port,..." (REDIS_CLUSTER_NODES). */
export function parseHostPorts(value: string): HostPort[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^([^\s:]+):(\d{1,5})$/.exec(s);
      if (!m) throw new Error(`"${s}" is not host:port`);
      return { host: m[1]!, port: Number(m[2]) };
    });
}

export function testEnv(): TestEnv {
  const { REDIS_URL, MYSQL_URL, TEMPORAL_ADDRESS, REDIS_CLUSTER_NODES } = process.env;
  const missing = Object.entries({ REDIS_URL, MYSQL_URL, TEMPORAL_ADDRESS })
    .filter(([, v]) => !v)
    .map(([k]) => k);
  if (missing.length > 0) {
    throw new Error(`${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not set: ${HOW_TO_RUN}`);
  }
  return {
    redisUrl: REDIS_URL!,
    ...(REDIS_CLUSTER_NODES ? { redisClusterNodes: parseHostPorts(REDIS_CLUSTER_NODES) } : {}),
    mysqlUrl: MYSQL_URL!,
    temporalAddress: TEMPORAL_ADDRESS!,
  };
}

/**
 * The Redis Cluster the test stack started, in every run (REDIS_CLUSTER_NODES is
 * only set in the cluster run). For tests of the harness itself; undefined when
 * there is none.
 */
export function stackRedisClusterNodes(): HostPort[] | undefined {
  const v = process.env.TICKETING_TEST_REDIS_CLUSTER_NODES || process.env.REDIS_CLUSTER_NODES;
  return v ? parseHostPorts(v) : undefined;
}

export interface FreshDatabase {
  /** mysql://... URL of the new database */
  url: string;
  name: string;
  /** DROP DATABASE; idempotent. */
  drop(): Promise<void>;
}

function serverOptions(url: URL) {
  return {
    host: url.hostname,
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username) || "root",
    password: decodeURIComponent(url.password),
    multipleStatements: false,
  };
}

/**
 * Creates a uniquely named, empty database (`t_<prefix>_<random>`, only [a-z0-9_])
 * on the test MySQL server and returns its URL. Call drop() in afterAll.
 */
export async function freshMysqlDatabase(prefix: string): Promise<FreshDatabase> {
  const base = new URL(testEnv().mysqlUrl);
  const cleanPrefix =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, "_")
      .replace(/^_+|_+$/g, "")
      .slice(0, 40) || "db";
  const name = `t_${cleanPrefix}_${randomBytes(6).toString("hex")}`;
  const conn = await mysql.createConnection(serverOptions(base));
  try {
    await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end();
  }
  const url = new URL(base.toString());
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    drop() {
      dropped ??= (async () => {
        const c = await mysql.createConnection(serverOptions(base));
        try {
          await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
        } finally {
          await c.end();
        }
      })();
      return dropped;
    },
  };
}
