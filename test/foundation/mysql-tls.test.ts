// MYSQL_URL goes to mysql2 whole, so TLS is configured in the URL: a MariaDB
// started here with certificates made by openssl, a user that must use TLS,
// and the pool the service uses (createMysqlPool) with the CA in `?ssl=`.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql, { type RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../src/adapters/mysql/migrate.js";
import { createMysqlPool, type MysqlPool } from "../../src/adapters/mysql/pool.js";
import { loadConfig } from "../../src/config.js";
import { startMysql, type MysqlHandle } from "../../tools/devstack/stack.js";

let dir: string;
let db: MysqlHandle | undefined;
const pools: MysqlPool[] = [];
const file = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });

/** A CA and a certificate it signs for 127.0.0.1 (what the client dials). */
function makeCertificates(): void {
  openssl(
    ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Test MariaDB CA"],
    ...["-keyout", file("ca.key"), "-out", file("ca.pem")],
  );
  openssl(
    ...["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"],
    ...["-keyout", file("server.key"), "-out", file("server.csr")],
  );
  writeFileSync(file("server.ext"), "subjectAltName=IP:127.0.0.1\n");
  openssl(
    ...["x509", "-req", "-in", file("server.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key")],
    ...["-CAcreateserial", "-days", "1", "-extfile", file("server.ext"), "-out", file("server.pem")],
  );
}

/** The URL of the TLS-only user, with `query` appended. */
const urlWith = (query: string) => `mysql://tls_only:secret%2Fpw@127.0.0.1:${db!.port}/ticketing${query}`;

async function cipherOver(url: string): Promise<string> {
  const pool = createMysqlPool(url, 2);
  pools.push(pool);
  const [rows] = await pool.query<RowDataPacket[]>("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
  return String(rows[0]?.Value ?? "");
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ticketing-mysql-tls-"));
  makeCertificates();
  db = await startMysql({
    dir: file("mysql"),
    serverArgs: [`--ssl-ca=${file("ca.pem")}`, `--ssl-cert=${file("server.pem")}`, `--ssl-key=${file("server.key")}`],
  });
  // root over plain TCP (as startMysql sets it up) creates a user the server refuses without TLS.
  const root = await mysql.createConnection({ host: "127.0.0.1", port: db.port, user: "root" });
  try {
    await root.query("CREATE USER 'tls_only'@'127.0.0.1' IDENTIFIED BY 'secret/pw' REQUIRE SSL");
    await root.query("GRANT ALL PRIVILEGES ON ticketing.* TO 'tls_only'@'127.0.0.1'");
  } finally {
    await root.end();
  }
}, 180_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  await db?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("MYSQL_URL with TLS options", () => {
  it("connects over TLS, verifying the server against the CA in the URL, and the service's migrations run over it", async () => {
    const ca = readFileSync(file("ca.pem"), "utf8");
    const url = urlWith(`?ssl=${encodeURIComponent(JSON.stringify({ ca }))}`);
    // The configuration keeps the URL whole, query included.
    expect(loadConfig({ MYSQL_URL: url }).MYSQL_URL).toBe(url);
    const cipher = await cipherOver(url);
    expect(cipher).not.toBe("");
    const pool = pools.at(-1)!;
    const migrated = await migrate(pool);
    expect(migrated.applied.length + migrated.alreadyApplied.length).toBeGreaterThan(0);
    const [rows] = await pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM events");
    expect(Number(rows[0]?.n)).toBe(0);
  });

  it("is refused without the URL's TLS options, and when the server's certificate does not verify", async () => {
    // Without ?ssl the session is plain and the server refuses this user.
    await expect(cipherOver(urlWith(""))).rejects.toMatchObject({ code: "ER_ACCESS_DENIED_ERROR" });
    // TLS with the system CAs only: the test CA is unknown, so the handshake fails.
    await expect(cipherOver(urlWith(`?ssl=${encodeURIComponent("{}")}`))).rejects.toThrow(/certificate/i);
  });
});
