// The issuer's keys over HTTP: a rotation at the issuer is picked up without a
// restart, keys already fetched keep working while the JWKS endpoint is down,
// and when no key can be had the call answers UNAVAILABLE, never INTERNAL.
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signJwt } from "../../src/identity/local-issuer.js";
import { call, callError, startTestApp, type TestApp } from "../support/app.js";
import { bearer } from "../support/identity.js";

const ISSUER = "https://issuer.test.example";
const AUDIENCE = "ticketing-jwks-test";

interface Key {
  kid: string;
  privateKey: KeyObject;
}
const newKey = (kid: string): Key => ({ kid, privateKey: generateKeyPairSync("ed25519").privateKey });
const publicJwk = (k: Key) => ({
  ...createPublicKey(k.privateKey).export({ format: "jwk" }),
  kid: k.kid,
  alg: "EdDSA",
});

/** A JWKS endpoint whose keys (and whether it answers at all) the test controls; it counts its fetches. */
class JwksServer {
  keys: Key[] = [];
  up = true;
  fetches = 0;
  private server!: Server;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((_req, res) => {
      this.fetches++;
      if (!this.up) {
        res.writeHead(503).end("down");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: this.keys.map(publicJwk) }));
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

function tokenOf(key: Key, sub: string): string {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(
    key.privateKey,
    { alg: "EdDSA", kid: key.kid, typ: "JWT" },
    { iss: ISSUER, aud: AUDIENCE, sub, iat: now, exp: now + 600, scope: "tickets:operate" },
  );
}

const jwks = new JwksServer();
let t: TestApp;
const listEvents = (token: string) =>
  call(t.events, t.events.listEvents, { pageSize: 1, pageToken: "" }, bearer(token));

beforeAll(async () => {
  await jwks.start();
  jwks.keys = [newKey("k1")];
  t = await startTestApp({
    AUTH_ISSUER: ISSUER,
    AUTH_AUDIENCE: AUDIENCE,
    AUTH_JWKS_FILE: "",
    AUTH_JWKS_URL: jwks.url,
    AUTH_JWKS_COOLDOWN_SECONDS: "0",
  });
});

afterAll(async () => {
  await t?.stop();
  await jwks.stop();
});

describe("the issuer's keys over HTTP", () => {
  it("picks up a rotation without a restart, keeps fetched keys while the endpoint is down", async () => {
    const k1 = jwks.keys[0]!;
    await listEvents(tokenOf(k1, "ops-a"));

    // The issuer rotates: a token under the new key id makes the server look again.
    const k2 = newKey("k2");
    jwks.keys = [k1, k2];
    const before = jwks.fetches;
    await listEvents(tokenOf(k2, "ops-b"));
    expect(jwks.fetches).toBe(before + 1);

    // The endpoint goes down: tokens (never seen before) under keys already fetched still verify.
    jwks.up = false;
    await listEvents(tokenOf(k1, "ops-c"));
    await listEvents(tokenOf(k2, "ops-d"));

    // A key id nobody can fetch now: the server cannot tell, so it says so as UNAVAILABLE (safe to retry).
    const k3 = newKey("k3");
    const err = await callError(
      t.events,
      t.events.listEvents,
      { pageSize: 1, pageToken: "" },
      bearer(tokenOf(k3, "x")),
    );
    expect([err.code, err.errorInfo?.reason, err.errorInfo?.metadata.dependency]).toEqual([
      status.UNAVAILABLE,
      "DEPENDENCY_UNAVAILABLE",
      "identity provider",
    ]);

    // Back up, with k3 published: accepted without a restart.
    jwks.keys = [k2, k3];
    jwks.up = true;
    await listEvents(tokenOf(k3, "ops-e"));
  });

  it("answers UNAVAILABLE, not INTERNAL, when no key was ever had", async () => {
    const down = new JwksServer();
    await down.start();
    down.up = false;
    const app = await startTestApp({
      AUTH_ISSUER: ISSUER,
      AUTH_AUDIENCE: AUDIENCE,
      AUTH_JWKS_FILE: "",
      AUTH_JWKS_URL: down.url,
    });
    try {
      const err = await callError(
        app.events,
        app.events.listEvents,
        { pageSize: 1, pageToken: "" },
        bearer(tokenOf(newKey("k1"), "ops")),
      );
      expect([err.code, err.errorInfo?.reason]).toEqual([status.UNAVAILABLE, "DEPENDENCY_UNAVAILABLE"]);
      expect(err.retryInfo?.retryDelay).toBeDefined();
    } finally {
      await app.stop();
      await down.stop();
    }
  });
});
