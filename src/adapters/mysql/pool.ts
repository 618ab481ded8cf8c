import mysql from "mysql2/promise";

export type MysqlPool = mysql.Pool;

/** A pool on the database named in the URL (set in pool options: a USE would only affect one connection). */
export function createMysqlPool(url: string, connectionLimit: number): MysqlPool {
  const u = new URL(url);
  return mysql.createPool({
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username || "root"),
    password: decodeURIComponent(u.password),
    database: u.pathname.replace(/^\//, "") || "ticketing",
    connectionLimit,
    waitForConnections: true,
    // Fail fast when MySQL is down instead of queueing calls past their deadlines.
    connectTimeout: 2000,
    timezone: "Z",
    dateStrings: false,
    supportBigNumbers: true,
    bigNumberStrings: false,
    multipleStatements: false,
    // mysql2 captures a stack trace on every query by default (to show the
    // caller in errors): a stack walk per query on the hot paths, for errors
    // that carry their code and errno anyway.
    trace: false,
  });
}

/** Errno of a duplicate-key violation (ER_DUP_ENTRY), on MySQL and MariaDB. */
export const ER_DUP_ENTRY = 1062;

export function isDuplicateKey(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { errno?: number }).errno === ER_DUP_ENTRY;
}
