// The Ed25519 key ring every API instance shares, stored in MySQL
// (signing_keys, migration 002) and cached in-process.
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
// The private keys sit in MySQL as PKCS#8 PEM. That keeps every instance able
// to sign with the same ring and needs no extra service; in production,
// restrict the table's grants or wrap the column with a KMS.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import type { RowDataPacket } from "mysql2/promise";
import type { MysqlPool } from "../adapters/mysql/pool.js";
import { dependencyUnavailable } from "../domain/errors.js";
import type { Logger } from "../logger.js";

export interface SigningKey {
  kid: string;
  purpose: string;
  /** base64url of the raw 32-byte public key (JWK `x`). */
  x: string;
  privatePem: string;
  publicKey: KeyObject;
  createdAt: Date;
  /** Unset while the key is the newest; tokens it signed are refused after this. */
  retireAt: Date | undefined;
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
}

/** A kid nobody knows, even after re-reading the ring. */
export class UnknownKeyError extends Error {
  override name = "UnknownKeyError";
}

/** How soon a miss may re-read MySQL again (a stream of forged kids must not hammer it). */
const MISS_REFRESH_MIN_MS = 1000;

export class KeyRing {
  private keys = new Map<string, SigningKey>();
  private newest: SigningKey | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastLoadMs = 0;
  private loading: Promise<void> | undefined;
  private reloading: Promise<void> | undefined;

  constructor(
    private readonly mysql: MysqlPool,
    readonly options: KeyRingOptions,
    private readonly log: Logger,
  ) {}

  /** Creates the first key if there is none (or rotates an old one), loads the ring, refreshes it periodically. */
  async start(): Promise<void> {
    await this.ensureCurrent();
    this.startRefreshing();
  }

  /** Re-reads (and rotates when due, or creates the first key) every refreshMs. */
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

  /** The key that signs now. */
  signingKey(): SigningKey {
    if (!this.newest) throw dependencyUnavailable("mysql", new Error("the signing key ring is not loaded yet"));
    return this.newest;
  }

  /** The key for `kid` that still verifies at `nowMs`, re-reading MySQL once on a miss. */
  async verifyingKey(kid: string, nowMs = Date.now()): Promise<SigningKey> {
    let key = this.keys.get(kid);
    if (!key) {
      await this.reloadSoon();
      key = this.keys.get(kid);
    }
    if (!key || key.purpose !== this.options.purpose) throw new UnknownKeyError(`unknown key id ${kid}`);
    if (key.retireAt && key.retireAt.getTime() <= nowMs) throw new UnknownKeyError(`key ${kid} is retired`);
    return key;
  }

  /** Every key that still verifies, newest first (for JWKS). */
  publicKeys(nowMs = Date.now()): SigningKey[] {
    return [...this.keys.values()]
      .filter((k) => !k.retireAt || k.retireAt.getTime() > nowMs)
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  /** Makes a new key the signing key; the previous ones verify until their retire time. */
  async rotate(): Promise<SigningKey> {
    await this.withLock(async (conn) => this.insertKey(conn));
    await this.load();
    return this.signingKey();
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
    if (this.due()) await this.ensureCurrent();
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
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const x = publicKey.export({ format: "jwk" }).x ?? "";
    const kid = `${this.options.purpose.slice(0, 8)}-${new Date().toISOString().slice(0, 10)}-${randomBytes(6).toString("base64url")}`;
    const graceMs = this.options.maxTokenLifetimeSeconds * 1000 + 2 * this.options.refreshMs;
    // One statement retires the predecessors and one inserts the successor,
    // in one transaction: a refused INSERT leaves the current key current
    // (never a ring whose every key is retiring). The named lock keeps a
    // second instance from doing the same meanwhile.
    await conn.beginTransaction();
    try {
      await conn.query(
        "UPDATE signing_keys SET retire_at = NOW(3) + INTERVAL ? MICROSECOND WHERE purpose = ? AND retire_at IS NULL",
        [graceMs * 1000, this.options.purpose],
      );
      await conn.query(
        "INSERT INTO signing_keys (kid, purpose, alg, public_x, private_pem, created_at) VALUES (?, ?, 'EdDSA', ?, ?, NOW(3))",
        [kid, this.options.purpose, x, privateKey.export({ format: "pem", type: "pkcs8" }).toString()],
      );
      await conn.commit();
    } catch (err) {
      await conn.rollback();
      throw err;
    }
    this.log.info({ kid, purpose: this.options.purpose }, "new signing key");
  }

  private async readKeys(): Promise<SigningKey[]> {
    // Keys retired more than a day ago cannot verify anything any more.
    const [rows] = await this.mysql.query<RowDataPacket[]>(
      `SELECT kid, purpose, public_x, private_pem, created_at, retire_at FROM signing_keys
        WHERE purpose = ? AND (retire_at IS NULL OR retire_at > NOW(3) - INTERVAL 1 DAY)
        ORDER BY created_at DESC, kid DESC`,
      [this.options.purpose],
    );
    return rows.map((r) => {
      const cached = this.keys.get(String(r.kid));
      const privatePem = String(r.private_pem);
      return {
        kid: String(r.kid),
        purpose: String(r.purpose),
        x: String(r.public_x),
        privatePem,
        publicKey: cached?.publicKey ?? createPublicKey(createPrivateKey(privatePem)),
        createdAt: r.created_at as Date,
        retireAt: (r.retire_at as Date | null) ?? undefined,
      };
    });
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

type LockedConnection = Awaited<ReturnType<MysqlPool["getConnection"]>>;
