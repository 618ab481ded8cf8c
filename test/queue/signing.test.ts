// The key ring (MySQL), the batching signing pool (Piscina) and token
// verification with its cache: admission tokens accepted and refused for
// every reason, and rotation keeping earlier tokens valid.
import { generateKeyPairSync, sign as edSign } from "node:crypto";
import type { RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../src/adapters/mysql/migrate.js";
import { createMysqlPool, type MysqlPool } from "../../src/adapters/mysql/pool.js";
import { AppError } from "../../src/domain/errors.js";
import { createLogger } from "../../src/logger.js";
import { AdmissionTokens } from "../../src/queue/admission.js";
import { DEVELOPMENT_KEK } from "../../src/signing/keks.js";
import { KeyRing } from "../../src/signing/key-ring.js";
import { SigningPool } from "../../src/signing/pool.js";
import { TokenService } from "../../src/signing/tokens.js";
import { freshMysqlDatabase, type FreshDatabase } from "../support/env.js";

const log = createLogger("silent", "test");
let db: FreshDatabase;
let otherDb: FreshDatabase;
const extraDbs: FreshDatabase[] = [];
/** A database of one test, dropped with the others at the end. */
async function track(d: Promise<FreshDatabase>): Promise<FreshDatabase> {
  const fresh = await d;
  extraDbs.push(fresh);
  return fresh;
}
const pools: MysqlPool[] = [];
const signingPools: SigningPool[] = [];

async function database(d: FreshDatabase): Promise<MysqlPool> {
  const pool = createMysqlPool(d.url, 4);
  pools.push(pool);
  await migrate(pool);
  return pool;
}

/** One API instance's signing: its own ring cache and pool over a shared database. */
async function signer(mysql: MysqlPool, threads = 1, refreshMs = 60_000) {
  const ring = new KeyRing(
    mysql,
    { purpose: "admission", maxTokenLifetimeSeconds: 7200, rotateAfterSeconds: 0, refreshMs, keks: [DEVELOPMENT_KEK] },
    log,
  );
  await ring.start();
  const pool = new SigningPool({ threads });
  signingPools.push(pool);
  const tokens = new TokenService(ring, pool);
  return { ring, pool, tokens, admission: new AdmissionTokens(tokens) };
}

let shared: MysqlPool;
beforeAll(async () => {
  [db, otherDb] = await Promise.all([freshMysqlDatabase("signing"), freshMysqlDatabase("signing_other")]);
  shared = await database(db);
});
afterAll(async () => {
  await Promise.all(signingPools.map((p) => p.close()));
  await Promise.all(pools.map((p) => p.end()));
  await Promise.all([db.drop(), otherDb.drop(), ...extraDbs.map((d) => d.drop())]);
});

const admission = (eventId = "ev1", buyerId = "alice", lifetimeMs = 600_000) => {
  const admittedMs = Date.now();
  return { eventId, buyerId, maxTickets: 4, admittedMs, expiresMs: admittedMs + lifetimeMs };
};

async function refusal(p: Promise<unknown>): Promise<{ reason: string; problem: string | undefined }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  const e = err as AppError;
  return { reason: e.reason, problem: e.metadata.problem };
}

describe("signing", () => {
  it("creates exactly one first key when several instances start at once", async () => {
    const fresh = await freshMysqlDatabase("signing_race");
    try {
      const mysql = await database(fresh);
      const rings = await Promise.all(Array.from({ length: 4 }, () => signer(mysql, 0)));
      const kids = new Set(rings.map((r) => r.ring.signingKey().kid));
      expect(kids.size).toBe(1);
      const [rows] = await mysql.query("SELECT COUNT(*) AS n FROM signing_keys");
      expect((rows as { n: number }[])[0]!.n).toBe(1);
    } finally {
      await fresh.drop();
    }
  });

  it("accepts a valid admission token on every instance and checks it only once per process", async () => {
    const a = await signer(shared);
    const b = await signer(shared);
    const token = await a.admission.issue(admission("ev1", "alice"));
    const claims = await b.admission.check(token, "ev1", "alice");
    expect(claims).toMatchObject({ eventId: "ev1", buyerId: "alice", maxTickets: 4, kid: a.ring.signingKey().kid });
    // The token is a standard JWT: header with alg, kid and typ.
    const header = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()) as Record<string, string>;
    expect(header).toEqual({ alg: "EdDSA", kid: a.ring.signingKey().kid, typ: "admission+jwt" });

    const before = b.tokens.stats.verifications;
    for (let i = 0; i < 100; i++) await b.admission.check(token, "ev1", "alice");
    expect(b.tokens.stats.verifications).toBe(before);
    expect(b.tokens.stats.cacheHits).toBeGreaterThanOrEqual(100);
    // Deterministic: the same admission signed on another instance is the same token.
    expect(
      await b.admission.issue({
        ...admission("ev1", "alice"),
        admittedMs: 1_700_000_000_000,
        expiresMs: 1_700_000_600_000,
      }),
    ).toBe(
      await a.admission.issue({
        ...admission("ev1", "alice"),
        admittedMs: 1_700_000_000_000,
        expiresMs: 1_700_000_600_000,
      }),
    );
  });

  it("refuses forged, expired, wrong-event, wrong-buyer, unknown-key, garbage and truncated tokens", async () => {
    const a = await signer(shared);
    const token = await a.admission.issue(admission("ev1", "alice"));
    const [h, p, s] = token.split(".") as [string, string, string];

    // Forged: the claims changed after signing, or signed by a key that only pretends to be ours.
    const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
    const tampered = Buffer.from(JSON.stringify({ ...claims, max_tickets: 100 })).toString("base64url");
    expect(await refusal(a.admission.check(`${h}.${tampered}.${s}`, "ev1", "alice"))).toEqual({
      reason: "ADMISSION_TOKEN_INVALID",
      problem: "forged",
    });
    const impostor = generateKeyPairSync("ed25519").privateKey;
    const impostorSig = edSign(null, Buffer.from(`${h}.${p}`), impostor).toString("base64url");
    expect((await refusal(a.admission.check(`${h}.${p}.${impostorSig}`, "ev1", "alice"))).problem).toBe("forged");

    const expired = await a.admission.issue({
      ...admission("ev1", "alice"),
      admittedMs: Date.now() - 120_000,
      expiresMs: Date.now() - 60_000,
    });
    expect((await refusal(a.admission.check(expired, "ev1", "alice"))).problem).toBe("expired");
    expect((await refusal(a.admission.check(token, "ev2", "alice"))).problem).toBe("wrong_event");
    expect((await refusal(a.admission.check(token, "ev1", "bob"))).problem).toBe("wrong_buyer");

    // A ring nobody here knows (another deployment's database).
    const stranger = await signer(await database(otherDb), 0);
    const foreign = await stranger.admission.issue(admission("ev1", "alice"));
    expect((await refusal(a.admission.check(foreign, "ev1", "alice"))).problem).toBe("unknown_key");

    for (const garbage of [
      "garbage",
      "a.b",
      "...",
      token.slice(0, token.length - 10),
      token.slice(0, token.lastIndexOf(".")),
      `${token}x`,
      "é.é.é",
      "x".repeat(5000),
    ]) {
      const r = await refusal(a.admission.check(garbage, "ev1", "alice"));
      expect(r.reason).toBe("ADMISSION_TOKEN_INVALID");
      expect(["malformed", "forged"]).toContain(r.problem);
    }
    expect(await refusal(a.admission.check("", "ev1", "alice"))).toEqual({
      reason: "ADMISSION_TOKEN_MISSING",
      problem: undefined,
    });
    // The good token is still good.
    await a.admission.check(token, "ev1", "alice");
  });

  it("rotates keys with overlap: earlier tokens stay valid everywhere until they expire", async () => {
    const a = await signer(shared);
    const b = await signer(shared);
    const oldKid = a.ring.signingKey().kid;
    const old = await a.admission.issue(admission("ev1", "alice"));
    const rotated = await a.ring.rotate();
    expect(rotated.kid).not.toBe(oldKid);
    const fresh = await a.admission.issue(admission("ev1", "bob"));
    expect(JSON.parse(Buffer.from(fresh.split(".")[0]!, "base64url").toString()).kid).toBe(rotated.kid);

    // b has not refreshed: it learns the new key on its first miss, and still accepts the old one.
    await b.admission.check(fresh, "ev1", "bob");
    await b.admission.check(old, "ev1", "alice");
    await a.admission.check(old, "ev1", "alice");
    const jwks = a.tokens.jwks();
    expect(jwks[0]).toMatchObject({
      kid: rotated.kid,
      kty: "OKP",
      crv: "Ed25519",
      alg: "EdDSA",
      retireTime: undefined,
    });
    const previous = jwks.find((k) => k.kid === oldKid)!;
    // Retires after the longest token lifetime (plus the refresh grace).
    expect(previous.retireTime!.getTime()).toBeGreaterThan(Date.now() + 7200_000);
    expect(jwks.every((k) => /^[A-Za-z0-9_-]{43}$/.test(k.x))).toBe(true);

    // Once retired, the old key verifies nothing, even tokens it remembered.
    await shared.query("UPDATE signing_keys SET retire_at = NOW(3) - INTERVAL 1 SECOND WHERE kid = ?", [oldKid]);
    const c = await signer(shared);
    expect((await refusal(c.admission.check(old, "ev1", "alice"))).problem).toBe("unknown_key");
  });

  it("rotates in one transaction: a refused new key leaves the current key current, not retiring", async () => {
    const pool = await database(await track(freshMysqlDatabase("signing_tx")));
    const a = await signer(pool);
    const current = a.ring.signingKey().kid;
    await pool.query(
      `CREATE TRIGGER refuse_new_keys BEFORE INSERT ON signing_keys FOR EACH ROW
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'rotation refused by the test'`,
    );
    await expect(a.ring.rotate()).rejects.toThrow("rotation refused by the test");
    const [rows] = await pool.query<RowDataPacket[]>("SELECT kid, retire_at FROM signing_keys");
    expect(rows.map((r) => ({ kid: r.kid as string, retireAt: r.retire_at as Date | null }))).toEqual([
      { kid: current, retireAt: null },
    ]);

    // Once MySQL takes new keys again, the rotation goes through.
    await pool.query("DROP TRIGGER refuse_new_keys");
    expect((await a.ring.rotate()).kid).not.toBe(current);
  });

  it("signs in batches: many concurrent signatures, few pool tasks, with and without worker threads", async () => {
    for (const threads of [1, 0]) {
      const s = await signer(shared, threads);
      const before = { ...s.pool.stats };
      const tokens = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => s.admission.issue(admission("ev1", `buyer${i}`))),
      );
      expect(new Set(tokens).size).toBe(1000);
      expect(s.pool.stats.signatures - before.signatures).toBe(1000);
      expect(s.pool.stats.batches - before.batches).toBeLessThanOrEqual(10);
      await s.admission.check(tokens[999]!, "ev1", "buyer999");
      expect(s.pool.threads).toBe(threads);
    }
  });
});
