// Checks the test harness (test/run.ts): every dependency it started answers.
import { Connection } from "@temporalio/client";
import { Cluster, Redis } from "ioredis";
import mysql from "mysql2/promise";
import { describe, expect, it } from "vitest";
import { freshMysqlDatabase, stackRedisClusterNodes, testEnv } from "../support/env.js";

describe("test stack", () => {
  const env = testEnv();

  it("Redis answers PING", async () => {
    const redis = new Redis(env.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      expect(await redis.ping()).toBe("PONG");
    } finally {
      redis.disconnect();
    }
  });

  const clusterNodes = stackRedisClusterNodes();
  it.skipIf(!clusterNodes)("Redis Cluster stores keys on every master", async () => {
    const cluster = new Cluster(clusterNodes!, { lazyConnect: true });
    try {
      await cluster.connect();
      const keys = Array.from({ length: 30 }, (_, i) => `devstack:test:${i}:${Math.random()}`);
      for (const k of keys) await cluster.set(k, k, "EX", 60);
      for (const k of keys) expect(await cluster.get(k)).toBe(k);
      expect(cluster.nodes("master")).toHaveLength(clusterNodes!.length);
      await Promise.all(keys.map((k) => cluster.del(k)));
    } finally {
      cluster.disconnect();
    }
  });

  it("MySQL runs queries in a fresh database", async () => {
    const db = await freshMysqlDatabase("devstack");
    expect(db.name).toMatch(/^t_devstack_[a-z0-9_]+$/);
    try {
      const url = new URL(db.url);
      const conn = await mysql.createConnection({
        host: url.hostname,
        port: Number(url.port),
        user: decodeURIComponent(url.username),
        database: db.name,
      });
      try {
        const [rows] = await conn.query("SELECT 1 AS one, DATABASE() AS db");
        expect(rows).toEqual([{ one: 1, db: db.name }]);
      } finally {
        await conn.end();
      }
    } finally {
      await db.drop();
      await db.drop(); // idempotent
    }
  });

  it("Temporal serves the default namespace", async () => {
    const connection = await Connection.connect({ address: env.temporalAddress });
    try {
      const res = await connection.workflowService.describeNamespace({ namespace: "default" });
      expect(res.namespaceInfo?.name).toBe("default");
    } finally {
      await connection.close();
    }
  });
});
