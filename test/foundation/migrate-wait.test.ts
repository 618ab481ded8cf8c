// A worker started before MySQL answers waits for it: migrateWhenReachable
// retries while the server cannot be reached (here a port where nothing
// listens yet, then a TCP relay to the test MySQL), and any other error throws.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateWhenReachable } from "../../src/adapters/mysql/migrate.js";
import { createMysqlPool, type MysqlPool } from "../../src/adapters/mysql/pool.js";
import { freePort } from "../support/app.js";
import { freshMysqlDatabase, type FreshDatabase } from "../support/env.js";

let db: FreshDatabase;
let relay: net.Server | undefined;
const pools: MysqlPool[] = [];

beforeAll(async () => {
  db = await freshMysqlDatabase("migrate_wait");
});
afterAll(async () => {
  relay?.close();
  for (const p of pools) await p.end().catch(() => undefined);
  await db?.drop();
});

/** Forwards every connection on `port` to MySQL. */
function startRelay(port: number, target: URL): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 3306), target.hostname);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

describe("migrateWhenReachable", () => {
  it("waits while MySQL cannot be reached, then applies the migrations once it answers", async () => {
    const port = await freePort();
    const url = new URL(db.url);
    const viaRelay = new URL(db.url);
    viaRelay.hostname = "127.0.0.1";
    viaRelay.port = String(port);
    const pool = createMysqlPool(viaRelay.toString(), 2);
    pools.push(pool);
    const retries: number[] = [];
    const migrated = migrateWhenReachable(pool, {
      maxDelayMs: 200,
      onRetry: (_err, attempt) => {
        retries.push(attempt);
        // After two refused attempts, MySQL "comes up" behind the port.
        if (attempt === 2) void startRelay(port, url).then((s) => (relay = s));
      },
    });
    const result = await migrated;
    expect(retries.slice(0, 2)).toEqual([1, 2]);
    expect(result.applied.length).toBeGreaterThan(0);
    const [rows] = await pool.query("SELECT COUNT(*) AS n FROM schema_migrations");
    expect(Number((rows as { n: number }[])[0]!.n)).toBe(result.applied.length);
  });

  it("throws at once on an error that is not about reaching MySQL", async () => {
    const wrongPassword = new URL(db.url);
    wrongPassword.username = "nobody_here";
    wrongPassword.password = "wrong";
    const pool = createMysqlPool(wrongPassword.toString(), 1);
    pools.push(pool);
    const retries: number[] = [];
    await expect(migrateWhenReachable(pool, { onRetry: (_e, a) => retries.push(a) })).rejects.toThrow(/denied/i);
    expect(retries).toEqual([]);
  });

  it("stops waiting when its signal aborts", async () => {
    const pool = createMysqlPool(`mysql://root@127.0.0.1:${await freePort()}/x`, 1);
    pools.push(pool);
    const abort = new AbortController();
    const waiting = migrateWhenReachable(pool, { maxDelayMs: 100, onRetry: () => abort.abort(), signal: abort.signal });
    await expect(waiting).rejects.toThrow(/abort/i);
  });
});
