// A real OpenID provider (panva's oidc-provider, started here on a free port)
// issues the tokens: the API finds its keys through the discovery document
// (AUTH_ISSUER only, no JWKS setting) and accepts what it issued, with the
// scopes it granted; a token of any other issuer is refused.
import { generateKeyPairSync } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { status } from "@grpc/grpc-js";
import Provider from "oidc-provider";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, callError, freePort, startTestApp, uid, type TestApp } from "../support/app.js";
import { bearer } from "../support/identity.js";

const RESOURCE = "urn:ticketing";
let server: Server;
let issuerUrl = "";
let t: TestApp;

/** A token from the provider's token endpoint (client credentials: the subject is the client). */
async function issued(clientId: string, scope: string): Promise<string> {
  const res = await fetch(`${issuerUrl}/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:secret-${clientId}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope, resource: RESOURCE }).toString(),
  });
  const body = (await res.json()) as { access_token?: string; error?: string };
  if (!body.access_token) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

beforeAll(async () => {
  const port = await freePort();
  issuerUrl = `http://127.0.0.1:${port}`;
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const client = (id: string) => ({
    client_id: id,
    client_secret: `secret-${id}`,
    grant_types: ["client_credentials"],
    redirect_uris: [],
    response_types: [],
  });
  const provider = new Provider(issuerUrl, {
    clients: [client("storefront_buyer"), client("ops_console")],
    jwks: { keys: [{ ...privateKey.export({ format: "jwk" }), kid: "rsa-1", use: "sig", alg: "RS256" }] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        getResourceServerInfo: () => ({
          scope: "tickets:buy tickets:operate",
          audience: RESOURCE,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "RS256" } },
        }),
      },
    },
    ttl: { ClientCredentials: 600 },
  });
  server = provider.listen(port);
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once("listening", () => resolve())));
  expect((server.address() as AddressInfo).port).toBe(port);
  t = await startTestApp({
    AUTH_ISSUER: issuerUrl,
    AUTH_AUDIENCE: RESOURCE,
    AUTH_JWKS_FILE: "",
    AUTH_ALGORITHMS: "RS256,EdDSA",
  });
});

afterAll(async () => {
  await t?.stop();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

describe("an OpenID provider's tokens", () => {
  it("are verified through its discovery document and carry its subjects and scopes", async () => {
    const buyer = bearer(await issued("storefront_buyer", "tickets:buy"));
    const operator = bearer(await issued("ops_console", "tickets:operate"));

    // The buyer (the client's subject) lists its own orders; it has none yet.
    const mine = await call(
      t.orders,
      t.orders.listOrders,
      { buyerId: "", eventId: "", pageSize: 5, pageToken: "" },
      buyer,
    );
    expect(mine.orders).toEqual([]);
    // Naming another buyer is refused: the subject comes from the provider.
    const other = await callError(
      t.orders,
      t.orders.listOrders,
      { buyerId: "someone_else", eventId: "", pageSize: 5, pageToken: "" },
      buyer,
    );
    expect([other.code, other.errorInfo?.reason]).toEqual([status.PERMISSION_DENIED, "BUYER_MISMATCH"]);
    // The buyer scope is not the operator scope.
    const summary = await callError(t.events, t.events.getEventSummary, { eventId: uid("ev") }, buyer);
    expect(summary.errorInfo?.reason).toBe("SCOPE_MISSING");
    // The operator's token passes the scope check and reaches the handler.
    const missing = await callError(t.events, t.events.getEventSummary, { eventId: uid("ev") }, operator);
    expect([missing.code, missing.errorInfo?.reason]).toEqual([status.NOT_FOUND, "EVENT_NOT_FOUND"]);

    // A token of another issuer (the suite's local one) is refused.
    const stranger = await callError(
      t.events,
      t.events.listEvents,
      { pageSize: 1, pageToken: "" },
      bearer({ buyer: "b" }),
    );
    expect([stranger.code, stranger.errorInfo?.reason]).toEqual([status.UNAUTHENTICATED, "TOKEN_INVALID"]);
  });
});
