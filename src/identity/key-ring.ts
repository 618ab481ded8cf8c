// The identity provider's public keys (a JWKS), from a file, a URL, or the
// issuer's OpenID discovery document. Keys already had keep working while the
// source is down (stale-while-revalidate); an unknown key id refetches, at
// most once per cooldown, so a rotation at the issuer is picked up without a
// restart. Only when no usable key can be had does verification fail as
// unavailable.
import { readFile } from "node:fs/promises";
import {
  createLocalJWKSet,
  errors as joseErrors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from "jose";

/** No key could be had from the identity provider: answered UNAVAILABLE. */
export class KeysUnavailableError extends Error {
  override name = "KeysUnavailableError";
}

export type JwksSource =
  { kind: "file"; path: string } | { kind: "url"; url: string } | { kind: "discovery"; issuer: string };

export interface KeyRingOptions {
  /** Refetch in the background when the keys are older than this. */
  refreshMs: number;
  /** At most one refetch per this long for unknown key ids (a flood of made-up kids costs one fetch). */
  cooldownMs: number;
  /** Per fetch. */
  timeoutMs: number;
}

type LocalKeys = ReturnType<typeof createLocalJWKSet>;

export class KeyRing {
  private keys: LocalKeys | undefined;
  private loadedAt = 0;
  private lastAttempt = 0;
  private loading: Promise<void> | undefined;
  private jwksUri: string | undefined;
  /** The last fetch's failure, if the last fetch failed. */
  lastError: unknown;

  constructor(
    readonly source: JwksSource,
    private readonly options: KeyRingOptions,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  describe(): string {
    const s = this.source;
    return s.kind === "file" ? `file ${s.path}` : s.kind === "url" ? s.url : `discovery at ${s.issuer}`;
  }

  /** jose's key resolver: the key for a token's header. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput) => {
    if (!this.keys) await this.reload(true);
    else if (Date.now() - this.loadedAt > this.options.refreshMs) void this.reload(false).catch(() => {});
    try {
      return await this.keys!(header, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      if (Date.now() - this.lastAttempt < this.options.cooldownMs) throw err;
      // Perhaps the issuer rotated: look once more. If the source is down now, we cannot tell.
      await this.reload(true);
      return this.keys!(header, token);
    }
  };

  /** Fetches the keys; `required`: throw KeysUnavailableError when that fails. */
  private async reload(required: boolean): Promise<void> {
    this.loading ??= this.fetch().finally(() => (this.loading = undefined));
    try {
      await this.loading;
    } catch (err) {
      if (required)
        throw new KeysUnavailableError(`identity provider keys unavailable (${this.describe()})`, { cause: err });
    }
  }

  private async fetch(): Promise<void> {
    this.lastAttempt = Date.now();
    try {
      const jwks = await this.read();
      if (!Array.isArray(jwks.keys)) throw new Error(`${this.describe()} is not a JWKS`);
      this.keys = createLocalJWKSet(jwks);
      this.loadedAt = Date.now();
      this.lastError = undefined;
    } catch (err) {
      this.lastError = err;
      this.onError(err);
      throw err;
    }
  }

  private async read(): Promise<JSONWebKeySet> {
    const s = this.source;
    if (s.kind === "file") return JSON.parse(await readFile(s.path, "utf8")) as JSONWebKeySet;
    if (s.kind === "url") return this.getJson<JSONWebKeySet>(s.url);
    if (!this.jwksUri) {
      const doc = await this.getJson<{ jwks_uri?: unknown; issuer?: unknown }>(
        `${s.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`,
      );
      if (typeof doc.jwks_uri !== "string") throw new Error(`discovery document of ${s.issuer} has no jwks_uri`);
      this.jwksUri = doc.jwks_uri;
    }
    return this.getJson<JSONWebKeySet>(this.jwksUri);
  }

  private async getJson<T>(url: string): Promise<T> {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(this.options.timeoutMs),
      headers: { accept: "application/json" },
    });
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
    return (await res.json()) as T;
  }
}
