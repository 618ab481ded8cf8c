// The Ed25519 key ring every process of a purpose shares, stored in MySQL
// (signing_keys, migrations 002 and 011) and cached in-process.
//
// Rotation with overlap: the newest key of a purpose signs; when a newer key
// takes over, the older ones get a retire time = rotation time + the longest
// token lifetime + two refresh intervals (an instance that has not refreshed
// yet may still sign with the old key for up to one interval, and its tokens
// must stay valid until they expire). A key verifies until its retire time.
//
// Creating the first key and rotating are race-safe across instances: both
// run under a MySQL named lock and re-read the ring inside it.
//
// Private keys are encrypted at rest (envelope encryption, envelope.ts):
// each sealed under its own data key, wrapped under the purpose's
// key-encryption keys (KEKs, keks.ts). A ring given KEKs signs: it seals the
// keys it creates under the last KEK, and re-wraps under it every row wrapped
// under an older one (and seals rows written before encryption) when it
// starts and when a refresh finds such a row. A ring without KEKs verifies
// only: it reads the public columns, never a private one, and cannot sign,
// create, rotate or retire keys (the API's ticket ring: the worker signs).
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import type { RowDataPacket } from "mysql2/promise";
import type { MysqlPool } from "../adapters/mysql/pool.js";
import { dependencyUnavailable } from "../domain/errors.js";
import type { Logger } from "../logger.js";
import type { CodecKey } from "../temporal/payload-codec.js";
import { KekNotConfiguredError, openPrivateKey, rewrapDek, sealPrivateKey } from "./envelope.js";

/** A key as every process sees it: its public half. */
export interface VerifyingKey {
  kid: string;
  purpose: string;
  /** base64url of the raw 32-byte public key (JWK `x`). */
  x: string;
  publicKey: KeyObject;
  createdAt: Date;
  /** Unset while the key is the newest; tokens it signed are refused after this. */
  retireAt: Date | undefined;
}

/** A key this process can sign with. */
export interface SigningKey extends VerifyingKey {
  privatePem: string;
}

export interface KeyRingOptions {
  /** Which tokens the ring signs ("admission", "ticket"): each purpose has its own keys. */
  purpose: string;
  /** The longest lifetime of a token this ring signs (sets the rotation overlap). */
  maxTokenLifetimeSeconds: number;
  /** Rotate when the newest key is older than this; 0 = only when rotate() is called. */
  rotateAfterSeconds: number;
  /** How often the ring is re-read from MySQL. */
  refreshMs: number;
  /**
   * The purpose's KEKs (the last wraps, all unwrap): this ring signs, creates
   * and rotates keys. Absent: the ring verifies only and never reads a
   * private column.
   */
  keks?: CodecKey[];
}

/** A kid nobody knows, even after re-reading the ring. */
export class UnknownKeyError extends Error {
  override name = "UnknownKeyError";
}

/** How soon a miss may re-read MySQL again (a stream of forged kids must not hammer it). */
const MISS_REFRESH_MIN_MS = 1000;

const PUBLIC_COLUMNS = "kid, purpose, public_x, created_at, retire_at";
const PRIVATE_COLUMNS = "private_pem, kek_id, wrapped_dek, private_sealed";

type RingKey = VerifyingKey & { privatePem?: string };

export class KeyRing {
  private keys = new Map<string, RingKey>();
  private newest: RingKey | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastLoadMs = 0;
  private loading: Promise<void> | undefined;
  private reloading: Promise<void> | undefined;
  /** Keys whose KEK this process lacks (reported once each); they verify but never sign here. */
  private readonly unreadable = new Map<string, KekNotConfiguredError>();
  /** The last load saw a row sealed under an older KEK, or not sealed at all. */
  private needsRewrap = false;
  private readonly keks: ReadonlyMap<string, Buffer>;
  private readonly wrappingKek: CodecKey | undefined;

  constructor(
    private readonly mysql: MysqlPool,
    readonly options: KeyRingOptions,
    private readonly log: Logger,
  ) {
    this.keks = new Map((options.keks ?? []).map((k) => [k.id, k.key]));
    this.wrappingKek = options.keks?.[options.keks.length - 1];
  }

  /** False for a verify-only ring (no KEKs). */
  get signs(): boolean {
    return this.wrappingKek !== undefined;
  }

  /**
   * Signing ring: seals or re-wraps rows under the current KEK, creates the
   * first key if there is none (or rotates an old one). Either ring: loads
   * the ring and refreshes it periodically.
   */
  async start(): Promise<void> {
    if (this.signs) {
      await this.rewrap();
      await this.ensureCurrent();
    } else {
      await this.load();
    }
    this.startRefreshing();
  }

  /** Re-reads (and, signing, re-wraps, rotates when due, or creates the first key) every refreshMs. */
  startRefreshing(): void {
    this.timer ??= setInterval(() => {
      this.refreshAndMaybeRotate().catch((err: unknown) => this.log.warn({ err }, "signing key ring refresh failed"));
    }, this.options.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The key that signs now; refused by a verify-only ring and when this process lacks the key's KEK. */
  signingKey(): SigningKey {
    const { purpose } = this.options;
    if (!this.signs)
      throw new Error(`this process verifies ${purpose} tokens only: it holds no ${purpose} private key`);
    const newest = this.loadedNewest();
    if (newest.privatePem === undefined) {
      throw this.unreadable.get(newest.kid) ?? new Error(`signing key ${newest.kid} has no private key`);
    }
    return newest as SigningKey;
  }

  /** The key that signs now, its public half (every ring knows it). */
  currentKey(): VerifyingKey {
    return publicHalfOf(this.loadedNewest());
  }

  private loadedNewest(): RingKey {
    if (!this.newest) throw dependencyUnavailable("mysql", new Error("the signing key ring is not loaded yet"));
    return this.newest;
  }

  /** The key for `kid` that still verifies at `nowMs`, re-reading MySQL once on a miss. */
  async verifyingKey(kid: string, nowMs = Date.now()): Promise<VerifyingKey> {
    let key = this.keys.get(kid);
    if (!key) {
      await this.reloadSoon();
      key = this.keys.get(kid);
    }
    if (!key || key.purpose !== this.options.purpose) throw new UnknownKeyError(`unknown key id ${kid}`);
    if (key.retireAt && key.retireAt.getTime() <= nowMs) throw new UnknownKeyError(`key ${kid} is retired`);
    return key;
  }

  /** Whether `kid` is a key of this ring that verifies at `nowMs`, as last loaded (no MySQL read). */
  isVerifying(kid: string, nowMs = Date.now()): boolean {
    const key = this.keys.get(kid);
    return key !== undefined && (!key.retireAt || key.retireAt.getTime() > nowMs);
  }

  /**
   * Re-reads an empty ring (at most once per MISS_REFRESH_MIN_MS): a
   * verify-only ring started before the process that signs created the
   * first key learns of it at the next JWKS request, not a refresh later.
   */
  async loadIfEmpty(): Promise<void> {
    if (this.keys.size === 0) await this.reloadSoon();
  }

  /** Every key that still verifies, newest first (for JWKS). */
  publicKeys(nowMs = Date.now()): VerifyingKey[] {
    return [...this.keys.values()]
      .filter((k) => !k.retireAt || k.retireAt.getTime() > nowMs)
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  /** The key `kid` of this purpose as MySQL has it now (public columns), retired or not. */
  async find(kid: string): Promise<VerifyingKey | undefined> {
    const [rows] = await this.mysql.query<RowDataPacket[]>(
      `SELECT ${PUBLIC_COLUMNS} FROM signing_keys WHERE kid = ? AND purpose = ?`,
      [kid, this.options.purpose],
    );
    return rows[0] && this.publicHalf(rows[0]);
  }

  /** Makes a new key the signing key; the previous ones verify until their retire time. */
  async rotate(): Promise<SigningKey> {
    this.mustSign("rotate");
    await this.withLock(async (conn) => this.insertKey(conn));
    await this.load();
    return this.signingKey();
  }

  /**
   * Retires `kid` now (a leaked key): it verifies nothing from now on, here
   * and, after their next refresh, in every other process. A key that signs
   * now is first replaced by a new one. Undefined when the ring has no such
   * key (of this purpose). Idempotent: a key retired already keeps its time.
   * Answers the retired key and the key that signs now.
   */
  async retire(kid: string): Promise<{ key: VerifyingKey; signingKey: VerifyingKey } | undefined> {
    this.mustSign("retire");
    let found = false;
    await this.withLock(async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>(
        "SELECT retire_at FROM signing_keys WHERE kid = ? AND purpose = ?",
        [kid, this.options.purpose],
      );
      if (rows.length === 0) return;
      found = true;
      const retireAt = rows[0]!.retire_at as Date | null;
      if (retireAt && retireAt.getTime() <= Date.now()) return;
      if (!retireAt) await this.insertKey(conn); // it signs now: a successor first
      await conn.query("UPDATE signing_keys SET retire_at = NOW(3) WHERE kid = ?", [kid]);
      this.log.warn({ kid, purpose: this.options.purpose }, "signing key retired early");
    });
    if (!found) return undefined;
    await this.load();
    const key = await this.find(kid);
    return key && { key, signingKey: this.currentKey() };
  }

  /**
   * Under the lock, in one transaction: every row of the purpose not sealed
   * under the current KEK is brought under it: a row sealed under an older
   * KEK gets its data key re-wrapped (the sealed private key is untouched), a
   * row from before encryption is sealed and its plaintext column cleared. A
   * row whose KEK this process lacks is left as it is and reported by KEK id.
   */
  async rewrap(): Promise<{ rewrapped: number; sealed: number; unreadable: number }> {
    const kek = this.mustSign("rewrap");
    const { purpose } = this.options;
    const result = { rewrapped: 0, sealed: 0, unreadable: 0 };
    await this.withLock(async (conn) => {
      await conn.beginTransaction();
      try {
        const [rows] = await conn.query<RowDataPacket[]>(
          `SELECT kid, ${PRIVATE_COLUMNS} FROM signing_keys
            WHERE purpose = ? AND (private_pem IS NOT NULL OR kek_id IS NULL OR kek_id <> ?) FOR UPDATE`,
          [purpose, kek.id],
        );
        for (const r of rows) {
          const kid = String(r.kid);
          if (r.private_sealed) {
            try {
              const { kekId, wrappedDek } = rewrapDek(sealedOf(r), this.keks, kek, purpose, kid);
              await conn.query(
                "UPDATE signing_keys SET kek_id = ?, wrapped_dek = ?, private_pem = NULL WHERE kid = ?",
                [kekId, wrappedDek, kid],
              );
              result.rewrapped++;
            } catch (err) {
              if (!(err instanceof KekNotConfiguredError)) throw err;
              this.reportUnreadable(err);
              result.unreadable++;
            }
          } else if (r.private_pem) {
            const der = createPrivateKey(String(r.private_pem)).export({ format: "der", type: "pkcs8" });
            const sealed = sealPrivateKey(der, kek, purpose, kid);
            await conn.query(
              "UPDATE signing_keys SET kek_id = ?, wrapped_dek = ?, private_sealed = ?, private_pem = NULL WHERE kid = ?",
              [sealed.kekId, sealed.wrappedDek, sealed.sealed, kid],
            );
            result.sealed++;
          }
        }
        await conn.commit();
      } catch (err) {
        await conn.rollback();
        throw err;
      }
    });
    if (result.rewrapped + result.sealed > 0) {
      this.log.info(
        { purpose, kekId: kek.id, ...result },
        "signing keys re-wrapped under the current key-encryption key",
      );
    }
    this.needsRewrap = false;
    return result;
  }

  /**
   * A re-read for a kid we do not know (another instance may have rotated):
   * at most one per MISS_REFRESH_MIN_MS, shared by everyone who missed.
   */
  private reloadSoon(): Promise<void> {
    this.reloading ??= new Promise<void>((resolve) => {
      const waitMs = Math.max(0, this.lastLoadMs + MISS_REFRESH_MIN_MS - Date.now());
      setTimeout(resolve, waitMs);
    })
      .then(() => this.load())
      .finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  /** Re-reads the ring from MySQL. */
  load(): Promise<void> {
    this.loading ??= this.readKeys()
      .then((keys) => {
        this.keys = new Map(keys.map((k) => [k.kid, k]));
        this.newest = keys.find((k) => !k.retireAt) ?? keys[0];
        this.lastLoadMs = Date.now();
      })
      .finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async refreshAndMaybeRotate(): Promise<void> {
    await this.load();
    if (!this.signs) return;
    if (this.needsRewrap) await this.rewrap();
    if (this.due()) await this.ensureCurrent();
  }

  private mustSign(what: string): CodecKey {
    const { purpose } = this.options;
    if (!this.wrappingKek)
      throw new Error(`this process verifies ${purpose} tokens only: it cannot ${what} their keys`);
    return this.wrappingKek;
  }

  private due(): boolean {
    const { rotateAfterSeconds } = this.options;
    if (!this.newest) return true;
    return rotateAfterSeconds > 0 && Date.now() - this.newest.createdAt.getTime() >= rotateAfterSeconds * 1000;
  }

  /** Under the lock: a first key when there is none, a new one when the newest is due. */
  private async ensureCurrent(): Promise<void> {
    await this.load();
    if (!this.due()) return;
    await this.withLock(async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>(
        "SELECT created_at FROM signing_keys WHERE purpose = ? AND retire_at IS NULL ORDER BY created_at DESC LIMIT 1",
        [this.options.purpose],
      );
      const newest = rows[0]?.created_at as Date | undefined;
      const { rotateAfterSeconds } = this.options;
      const stale = newest && rotateAfterSeconds > 0 && Date.now() - newest.getTime() >= rotateAfterSeconds * 1000;
      if (!newest || stale) await this.insertKey(conn);
    });
    await this.load();
  }

  private async insertKey(conn: LockedConnection): Promise<void> {
    const kek = this.mustSign("create");
    const { purpose } = this.options;
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const x = publicKey.export({ format: "jwk" }).x ?? "";
    const kid = `${purpose.slice(0, 8)}-${new Date().toISOString().slice(0, 10)}-${randomBytes(6).toString("base64url")}`;
    const sealed = sealPrivateKey(privateKey.export({ format: "der", type: "pkcs8" }), kek, purpose, kid);
    const graceMs = this.options.maxTokenLifetimeSeconds * 1000 + 2 * this.options.refreshMs;
    // One statement retires the predecessors and one inserts the successor,
    // in one transaction: a refused INSERT leaves the current key current
    // (never a ring whose every key is retiring). The named lock keeps a
    // second instance from doing the same meanwhile.
    await conn.beginTransaction();
    try {
      await conn.query(
        "UPDATE signing_keys SET retire_at = NOW(3) + INTERVAL ? MICROSECOND WHERE purpose = ? AND retire_at IS NULL",
        [graceMs * 1000, purpose],
      );
      await conn.query(
        `INSERT INTO signing_keys (kid, purpose, alg, public_x, kek_id, wrapped_dek, private_sealed, created_at)
         VALUES (?, ?, 'EdDSA', ?, ?, ?, ?, NOW(3))`,
        [kid, purpose, x, sealed.kekId, sealed.wrappedDek, sealed.sealed],
      );
      await conn.commit();
    } catch (err) {
      await conn.rollback();
      throw err;
    }
    this.log.info({ kid, purpose, kekId: kek.id }, "new signing key");
  }

  private async readKeys(): Promise<RingKey[]> {
    // Keys retired more than a day ago cannot verify anything any more. A
    // verify-only ring never selects a private column.
    const [rows] = await this.mysql.query<RowDataPacket[]>(
      `SELECT ${PUBLIC_COLUMNS}${this.signs ? `, ${PRIVATE_COLUMNS}` : ""} FROM signing_keys
        WHERE purpose = ? AND (retire_at IS NULL OR retire_at > NOW(3) - INTERVAL 1 DAY)
        ORDER BY created_at DESC, kid DESC`,
      [this.options.purpose],
    );
    let needsRewrap = false;
    const keys = rows.map((r): RingKey => {
      const key = this.publicHalf(r);
      if (!this.signs) return key;
      // Plaintext from before encryption, or wrapped under an older KEK this process holds.
      if (r.private_pem !== null || (r.kek_id !== this.wrappingKek!.id && this.keks.has(String(r.kek_id)))) {
        needsRewrap = true;
      }
      const privatePem = this.keys.get(key.kid)?.privatePem ?? this.privateOf(r);
      return privatePem === undefined ? key : { ...key, privatePem };
    });
    this.needsRewrap = needsRewrap;
    return keys;
  }

  /** The row's private key as PEM; undefined (reported once) when its KEK is not configured here. */
  private privateOf(r: RowDataPacket): string | undefined {
    const kid = String(r.kid);
    if (!r.private_sealed) return r.private_pem ? String(r.private_pem) : undefined;
    try {
      const der = openPrivateKey(sealedOf(r), this.keks, this.options.purpose, kid);
      return createPrivateKey({ key: der, format: "der", type: "pkcs8" })
        .export({ format: "pem", type: "pkcs8" })
        .toString();
    } catch (err) {
      if (!(err instanceof KekNotConfiguredError)) throw err;
      this.reportUnreadable(err);
      return undefined;
    }
  }

  private reportUnreadable(err: KekNotConfiguredError): void {
    if (this.unreadable.has(err.kid)) return;
    this.unreadable.set(err.kid, err);
    // Ids only: the message names the key and the KEK, never material.
    this.log.error({ kid: err.kid, purpose: err.purpose, kekId: err.kekId }, err.message);
  }

  private publicHalf(r: RowDataPacket): VerifyingKey {
    const kid = String(r.kid);
    const x = String(r.public_x);
    const cached = this.keys.get(kid);
    return {
      kid,
      purpose: String(r.purpose),
      x,
      publicKey:
        cached?.x === x ? cached.publicKey : createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" }),
      createdAt: r.created_at as Date,
      retireAt: (r.retire_at as Date | null) ?? undefined,
    };
  }

  private async withLock(fn: (conn: LockedConnection) => Promise<void>): Promise<void> {
    const name = `ticketing_signing_keys_${this.options.purpose}`;
    const conn = await this.mysql.getConnection();
    try {
      const [lock] = await conn.query<RowDataPacket[]>("SELECT GET_LOCK(?, 10) AS got", [name]);
      if (lock[0]?.got !== 1) throw new Error("could not take the signing key lock within 10 s");
      try {
        await fn(conn);
      } finally {
        await conn.query("SELECT RELEASE_LOCK(?)", [name]);
      }
    } finally {
      conn.release();
    }
  }
}

function sealedOf(r: RowDataPacket) {
  return { kekId: String(r.kek_id), wrappedDek: r.wrapped_dek as Buffer, sealed: r.private_sealed as Buffer };
}

function publicHalfOf({ kid, purpose, x, publicKey, createdAt, retireAt }: VerifyingKey): VerifyingKey {
  return { kid, purpose, x, publicKey, createdAt, retireAt };
}

type LockedConnection = Awaited<ReturnType<MysqlPool["getConnection"]>>;
