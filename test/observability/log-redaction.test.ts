// No log line carries a private key, a token (bearer, admission, ticket code)
// or a payment method: the product's logger redacts them by field name and
// scrubs whatever is left of them from the finished line. The rotation of a
// signing key is failed on purpose (MySQL refuses the INSERT, and mysql2's
// error carries the statement with its values inlined: the new key, sealed);
// its log line is then searched for key material.
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../src/adapters/mysql/migrate.js";
import { createMysqlPool, type MysqlPool } from "../../src/adapters/mysql/pool.js";
import { createLogger } from "../../src/logger.js";
import { DEVELOPMENT_KEK } from "../../src/signing/keks.js";
import { KeyRing } from "../../src/signing/key-ring.js";
import { SigningPool } from "../../src/signing/pool.js";
import { TokenService } from "../../src/signing/tokens.js";
import { freshMysqlDatabase, type FreshDatabase } from "../support/env.js";

/** The start of every Ed25519 private key in PKCS#8 PEM: its algorithm prefix, base64. */
const ED25519_PKCS8 = "MC4CAQAwBQYDK2VwBCIEI";
/** The same prefix of the DER, as mysql2 inlines a Buffer (X'…'). */
const ED25519_PKCS8_HEX = "302e020100300506032b6570";

let db: FreshDatabase;
let pool: MysqlPool;
let signing: SigningPool;
beforeAll(async () => {
  db = await freshMysqlDatabase("redaction");
  pool = createMysqlPool(db.url, 4);
  await migrate(pool);
  signing = new SigningPool({ threads: 0 });
});
afterAll(async () => {
  await signing?.close();
  await pool?.end();
  await db?.drop();
});

/** The product's logger, writing into a string. */
function capturedLogger() {
  let text = "";
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { log: createLogger("debug", "redaction-test", out), text: () => text };
}

const ring = (rotateAfterSeconds: number, log = createLogger("silent", "t")) =>
  new KeyRing(
    pool,
    {
      purpose: "ticket",
      maxTokenLifetimeSeconds: 3600,
      rotateAfterSeconds,
      refreshMs: 60_000,
      keks: [DEVELOPMENT_KEK],
    },
    log,
  );

describe("log redaction", () => {
  it("logs a failed key rotation without the key: no PEM, no PKCS#8, no err.sql", async () => {
    await ring(0).start(); // the first key
    // The newest key is due for rotation, and MySQL refuses every new key.
    await pool.query("UPDATE signing_keys SET created_at = NOW(3) - INTERVAL 2 DAY");
    await pool.query(
      `CREATE TRIGGER refuse_new_keys BEFORE INSERT ON signing_keys FOR EACH ROW
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'rotation refused by the test'`,
    );
    const { log, text } = capturedLogger();
    const err = await ring(3600, log)
      .start()
      .then(
        () => undefined,
        (e: unknown) => e as Error & { sql?: string },
      );
    // What an unredacted line would have carried: the statement with its values
    // inlined, where the new private key is sealed (envelope.ts), never in clear.
    expect(err?.message).toContain("rotation refused by the test");
    expect(err?.sql).toContain("INSERT INTO signing_keys");
    expect(err?.sql).not.toContain("PRIVATE KEY");
    expect(err?.sql).not.toContain(ED25519_PKCS8);
    expect(err?.sql?.toLowerCase()).not.toContain(ED25519_PKCS8_HEX);

    // Logged as the API logs it (src/app.ts) and as the ring's refresh timer does.
    log.warn({ err }, "ticket key ring not loaded yet; VerifyTicket answers UNAVAILABLE");
    log.warn({ err }, "signing key ring refresh failed");
    log.error({ error: err, cause: { err } }, "nested");
    const lines = text();
    expect(lines).toContain("rotation refused by the test");
    expect(lines).toContain("[redacted]");
    expect(lines).not.toContain("PRIVATE KEY");
    expect(lines).not.toContain(ED25519_PKCS8);
    expect(lines.toLowerCase()).not.toContain(ED25519_PKCS8_HEX);
    expect(lines).not.toContain("INSERT INTO signing_keys");
  });

  it("logs no token, ticket code or payment method, whatever field or text carries it", async () => {
    await pool.query("DROP TRIGGER IF EXISTS refuse_new_keys");
    const keys = ring(0);
    await keys.start();
    const tokens = new TokenService(keys, signing);
    // A real compact JWT of the product's signer, as tickets codes and admission tokens are.
    const code = await tokens.sign(
      { tid: "t_1", eid: "ev_1", sid: "A-1-1" },
      { type: "ticket", expiresAt: new Date(Date.now() + 600_000) },
    );
    expect(code).toMatch(/^eyJ/);
    const payment = "pm_card_secret_4242";
    const { log, text } = capturedLogger();

    log.info({ authorization: `Bearer ${code}` }, "call");
    log.info({ metadata: { authorization: `Bearer ${code}` }, request: { admissionToken: code } }, "call");
    log.info({ request: { payment: { paymentMethodToken: payment } } }, "create order");
    log.info({ paymentMethodToken: payment, order: { payment_method_token: payment } }, "authorize");
    log.info({ token: code, plan: { token: code } }, "sign");
    log.info(`ticket ${code} checked in`);
    log.warn({ err: new Error(`cannot verify ${code}`) }, "verify failed");
    log.warn({ ticket: { code } }, "ticket");

    const lines = text();
    expect(lines.split("\n").filter(Boolean)).toHaveLength(8);
    expect(lines).not.toContain(code);
    expect(lines).not.toContain(code.split(".")[2]!);
    expect(lines).not.toContain(payment);
    expect(lines).toContain("[redacted jwt]");
  });
});
