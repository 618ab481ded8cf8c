import mysql from "mysql2/promise";

export type MysqlPool = mysql.Pool;

/**
 * A pool on MYSQL_URL, which goes to mysql2 whole: host, port, user, password
 * and database from the URL (the database in pool options: a USE would only
 * affect one connection), and its query options too, so
 * `?ssl={"ca":"<PEM>"}` (JSON, URL-encoded) or `?ssl=Amazon%20RDS` turns on
 * TLS, and e.g. `connectTimeout=5000` or `charset=...` apply. What the code
 * relies on (UTC dates as Date objects, numbers as numbers, one statement per
 * query) is fixed here and wins over the URL; the pool size is MYSQL_POOL_SIZE.
 */
export function createMysqlPool(url: string, connectionLimit: number): MysqlPool {
  return mysql.createPool({
    uri: url,
    connectionLimit,
    waitForConnections: true,
    // Fail fast when MySQL is down instead of queueing calls past their deadlines
    // (mysql2 takes an option given here over the URL's: leave it to the URL when set there).
    ...(new URL(url).searchParams.has("connectTimeout") ? {} : { connectTimeout: 2000 }),
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
