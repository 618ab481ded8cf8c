// The signing keys' private halves at rest in MySQL (envelope encryption,
// src/signing/envelope.ts): no row holds a private key in clear; a ring given
// a new KEK re-wraps the rows of the old one and signs the same tokens; a row
// whose KEK is not configured is reported by KEK id while the other keys keep
// working; rows from before encryption are sealed; and a verify-only ring
// (the API's ticket ring) works with a MySQL user that may not read the
// private columns at all.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import type { RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../src/adapters/mysql/migrate.js";
import { createMysqlPool, type MysqlPool } from "../../src/adapters/mysql/pool.js";
import { createLogger, type Logger } from "../../src/logger.js";
import { KekNotConfiguredError, openPrivateKey } from "../../src/signing/envelope.js";
import { KeyRing } from "../../src/signing/key-ring.js";
import { SigningPool } from "../../src/signing/pool.js";
import { TokenService } from "../../src/signing/tokens.js";
import type { CodecKey } from "../../src/temporal/payload-codec.js";
import { freshMysqlDatabase, type FreshDatabase } from "../support/env.js";

const quiet = createLogger("silent", "test");
const kek = (id: string): CodecKey => ({ id, key: randomBytes(32) });
const dbs: FreshDatabase[] = [];
const pools: MysqlPool[] = [];
let signing: SigningPool;

async function database(prefix: string): Promise<{ db: FreshDatabase; mysql: MysqlPool }> {
  const db = await freshMysqlDatabase(prefix);
  dbs.push(db);
  const mysql = createMysqlPool(db.url, 4);
  pools.push(mysql);
  await migrate(mysql);
  return { db, mysql };
}

function ring(mysql: MysqlPool, keks: CodecKey[] | undefined, log: Logger = quiet): KeyRing {
  return new KeyRing(
    mysql,
    {
      purpose: "ticket",
      maxTokenLifetimeSeconds: 3600,
      rotateAfterSeconds: 0,
      refreshMs: 60_000,
      ...(keks ? { keks } : {}),
    },
    log,
  );
}

/** A ticket-like token with fixed times: the same key gives the same token (Ed25519 is deterministic). */
const issuedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
const signTicket = (r: KeyRing) =>
  new TokenService(r, signing).sign(
    { tid: "t_1", eid: "ev_1" },
    { type: "ticket", issuedAt, expiresAt: new Date(issuedAt.getTime() + 600_000) },
  );

const rows = async (mysql: MysqlPool) =>
  (
    await mysql.query<RowDataPacket[]>(
      "SELECT kid, private_pem, kek_id, wrapped_dek, private_sealed FROM signing_keys ORDER BY created_at, kid",
    )
  )[0];

function capturedLogger() {
  let text = "";
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { log: createLogger("debug", "keys-test", out), text: () => text };
}

beforeAll(() => {
  signing = new SigningPool({ threads: 0 });
});
afterAll(async () => {
  await signing?.close();
  await Promise.all(pools.map((p) => p.end()));
  await Promise.all(dbs.map((d) => d.drop()));
});

describe("signing keys at rest", () => {
  it("stores no private key in clear: each row sealed under the last KEK, bound to its kid", async () => {
    const { mysql } = await database("keys_sealed");
    const [a, b] = [kek("a"), kek("b")];
    const r = ring(mysql, [a, b]);
    await r.start();
    await r.rotate();
    const stored = await rows(mysql);
    expect(stored).toHaveLength(2);
    const keks = new Map([[b.id, b.key]]);
    for (const row of stored) {
      expect(row.private_pem).toBeNull();
      expect(row.kek_id).toBe("b");
      const der = openPrivateKey(
        { kekId: row.kek_id as string, wrappedDek: row.wrapped_dek as Buffer, sealed: row.private_sealed as Buffer },
        keks,
        "ticket",
        row.kid as string,
      );
      // The Ed25519 seed (the last 32 bytes of the DER) appears nowhere in the row.
      const seed = der.subarray(der.length - 32);
      for (const value of Object.values(row)) {
        const bytes = Buffer.isBuffer(value) ? value : Buffer.from(String(value));
        expect(bytes.includes(seed)).toBe(false);
        expect(bytes.toString("latin1")).not.toContain("PRIVATE KEY");
      }
    }
    // Sealed material moved to another row does not open there (kid and purpose are authenticated).
    const [first, second] = stored;
    expect(() =>
      openPrivateKey(
        { kekId: "b", wrappedDek: first!.wrapped_dek as Buffer, sealed: first!.private_sealed as Buffer },
        keks,
        "ticket",
        second!.kid as string,
      ),
    ).toThrow();
    // And the ring signs with the key it sealed.
    const token = await signTicket(r);
    expect((await new TokenService(r, signing).verify(token, "ticket")).kid).toBe(r.signingKey().kid);
  });

  it("re-wraps rows of an older KEK under the new one and still signs and verifies the same tokens", async () => {
    const { mysql } = await database("keys_rewrap");
    const [old, fresh] = [kek("old"), kek("new")];
    const before = ring(mysql, [old]);
    await before.start();
    await before.rotate(); // two keys: one retiring, one signing
    const token = await signTicket(before);
    const sealedBefore = await rows(mysql);
    expect(sealedBefore.map((r) => r.kek_id)).toEqual(["old", "old"]);

    // The new KEK appended (the last wraps): its start re-wraps every row.
    const after = ring(mysql, [old, fresh]);
    await after.start();
    const sealedAfter = await rows(mysql);
    expect(sealedAfter.map((r) => r.kek_id)).toEqual(["new", "new"]);
    for (const [i, row] of sealedAfter.entries()) {
      // Only the data key was re-wrapped; the sealed private key is the same bytes.
      expect(row.private_sealed).toEqual(sealedBefore[i]!.private_sealed);
      expect(row.wrapped_dek).not.toEqual(sealedBefore[i]!.wrapped_dek);
    }
    expect(after.signingKey().kid).toBe(before.signingKey().kid);

    // The old KEK dropped: the ring reads every key and makes the very same token.
    const only = ring(mysql, [fresh]);
    await only.start();
    expect(await signTicket(only)).toBe(token);
    expect((await new TokenService(only, signing).verify(token, "ticket")).claims.tid).toBe("t_1");
    expect(await only.rewrap()).toEqual({ rewrapped: 0, sealed: 0, unreadable: 0 });
  });

  it("seals a row written before encryption and clears its plaintext column", async () => {
    const { mysql } = await database("keys_legacy");
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const x = publicKey.export({ format: "jwk" }).x!;
    await mysql.query(
      "INSERT INTO signing_keys (kid, purpose, alg, public_x, private_pem, created_at) VALUES ('legacy-1', 'ticket', 'EdDSA', ?, ?, NOW(3))",
      [x, pem],
    );
    const r = ring(mysql, [kek("k1")]);
    await r.start();
    const [row] = await rows(mysql);
    expect(row).toMatchObject({ kid: "legacy-1", private_pem: null, kek_id: "k1" });
    expect(r.signingKey()).toMatchObject({ kid: "legacy-1", privatePem: pem });
  });

  it("names a KEK that is not configured, never the key, and keeps the keys it can read", async () => {
    const { mysql } = await database("keys_missing");
    const [gone, kept] = [kek("gone-kek"), kek("kept-kek")];
    const first = ring(mysql, [gone]);
    await first.start();
    const oldToken = await signTicket(first);
    const { kid: oldKid, privatePem: oldPem } = first.signingKey();

    // A process given only the other KEK: it cannot unwrap the first key.
    const { log, text } = capturedLogger();
    const r = ring(mysql, [kept], log);
    await r.start();
    const lines = text();
    const reported = lines
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; kekId?: string; kid?: string; msg: string })
      .filter((e) => e.kekId === "gone-kek");
    expect(reported).toEqual([
      expect.objectContaining({
        level: 50,
        kid: oldKid,
        msg: `signing key ${oldKid} (ticket) is wrapped under key-encryption key "gone-kek", which this process is not configured with`,
      }),
    ]);
    expect(lines).not.toContain("PRIVATE KEY");
    expect(lines).not.toContain(oldPem.split("\n")[1]!);
    expect(lines).not.toContain(kept.key.toString("base64"));
    expect(() => r.signingKey()).toThrow('"gone-kek"');
    expect(await r.rewrap()).toEqual({ rewrapped: 0, sealed: 0, unreadable: 1 });
    expect((await rows(mysql)).map((row) => row.kek_id)).toEqual(["gone-kek"]);

    // The keys it can read work: a new key signs; the unreadable one still verifies its tokens.
    const newKid = (await r.rotate()).kid;
    const tokens = new TokenService(r, signing);
    expect((await tokens.verify(oldToken, "ticket")).kid).toBe(oldKid);
    expect((await tokens.verify(await signTicket(r), "ticket")).kid).toBe(newKid);

    // The other way round: the newest key is under a KEK this process lacks, so it refuses to sign.
    const stale = ring(mysql, [gone]);
    await stale.start();
    expect(() => stale.signingKey()).toThrow(KekNotConfiguredError);
    expect(() => stale.signingKey()).toThrow('"kept-kek"');
    expect((await new TokenService(stale, signing).verify(oldToken, "ticket")).kid).toBe(oldKid);
  });

  it("verify-only: reads no private column (a MySQL user without SELECT on them), cannot sign or rotate", async () => {
    const { db, mysql } = await database("keys_verify_only");
    const signer = ring(mysql, [kek("w")]);
    await signer.start();
    const token = await signTicket(signer);

    const user = `vo_${randomBytes(4).toString("hex")}`;
    await mysql.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'pw'`);
    try {
      await mysql.query(
        `GRANT SELECT (kid, purpose, alg, public_x, created_at, retire_at) ON \`${db.name}\`.signing_keys TO '${user}'@'%'`,
      );
      const url = new URL(db.url);
      url.username = user;
      url.password = "pw";
      const restricted = createMysqlPool(url.toString(), 2);
      pools.push(restricted);
      // The grant bites: a private column is refused to this user.
      await expect(restricted.query("SELECT private_sealed FROM signing_keys")).rejects.toThrow(/denied/i);

      const api = ring(restricted, undefined);
      await api.start();
      api.stop();
      expect(api.signs).toBe(false);
      expect(api.currentKey().kid).toBe(signer.signingKey().kid);
      expect(api.currentKey()).not.toHaveProperty("privatePem");
      expect((await new TokenService(api, signing).verify(token, "ticket")).claims.tid).toBe("t_1");
      expect(() => api.signingKey()).toThrow("verifies ticket tokens only");
      await expect(signTicket(api)).rejects.toThrow("verifies ticket tokens only");
      await expect(api.rotate()).rejects.toThrow("cannot rotate");
      await expect(api.retire(signer.signingKey().kid)).rejects.toThrow("cannot retire");
      expect((await api.find(signer.signingKey().kid))?.x).toBe(signer.signingKey().x);
    } finally {
      await mysql.query(`DROP USER '${user}'@'%'`);
    }
  });
});
