// TLS and mutual TLS are a configuration switch: certificates made here with
// openssl (a CA, a server certificate for 127.0.0.1, a client certificate).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../../src/gen/grpc/health/v1/health.js";
import { TicketServiceClient } from "../../src/gen/ticketing/v1/ticket_service.js";
import { OrderServiceClient } from "../../src/gen/ticketing/v1/order_service.js";
import { decodeStatus } from "../../src/grpc/errors.js";
import { call, startTestApp } from "../support/app.js";
import { bearer } from "../support/identity.js";

let dir: string;
const file = (name: string) => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { stdio: "pipe" });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ticketing-tls-"));
  openssl(
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=Test CA",
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.pem"),
  );
  for (const [name, cn, ext] of [
    ["server", "127.0.0.1", "subjectAltName=IP:127.0.0.1"],
    ["client", "caller-service", "extendedKeyUsage=clientAuth"],
    ["gate", "gate-north", "extendedKeyUsage=clientAuth\nsubjectAltName=URI:spiffe://ticketing.test/gate-north"],
  ] as const) {
    openssl(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-subj",
      `/CN=${cn}`,
      "-keyout",
      file(`${name}.key`),
      "-out",
      file(`${name}.csr`),
    );
    writeFileSync(file(`${name}.ext`), `${ext}\n`);
    openssl(
      "x509",
      "-req",
      "-in",
      file(`${name}.csr`),
      "-CA",
      file("ca.pem"),
      "-CAkey",
      file("ca.key"),
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      file(`${name}.ext`),
      "-out",
      file(`${name}.pem`),
    );
  }
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const check = (address: string, creds: ReturnType<typeof credentials.createSsl>) => {
  const client = new HealthClient(address, creds);
  return call(client, client.check, { service: "" }).finally(() => client.close());
};

describe("TLS", () => {
  it("serves TLS with a certificate, and refuses plaintext", async () => {
    const t = await startTestApp({ TLS_CERT_FILE: file("server.pem"), TLS_KEY_FILE: file("server.key") });
    try {
      const res = await check(t.address, credentials.createSsl(readFileSync(file("ca.pem"))));
      expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      const plain = new HealthClient(t.address, credentials.createInsecure());
      const err = await call(plain, plain.check, { service: "" }, undefined).catch((e: { code: number }) => e);
      plain.close();
      expect((err as { code: number }).code).toBe(status.UNAVAILABLE);
    } finally {
      await t.stop();
    }
  });

  it("with a client CA, admits only clients presenting a certificate it signed", async () => {
    const t = await startTestApp({
      TLS_CERT_FILE: file("server.pem"),
      TLS_KEY_FILE: file("server.key"),
      TLS_CLIENT_CA_FILE: file("ca.pem"),
    });
    try {
      const ca = readFileSync(file("ca.pem"));
      const ok = await check(
        t.address,
        credentials.createSsl(ca, readFileSync(file("client.key")), readFileSync(file("client.pem"))),
      );
      expect(ok.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      const err = await check(t.address, credentials.createSsl(ca)).catch((e: { code: number }) => e);
      expect((err as { code: number }).code).toBe(status.UNAVAILABLE);
    } finally {
      await t.stop();
    }
  });

  it("maps a client certificate's subjectAltName to a service's scopes, and a bearer token still wins", async () => {
    writeFileSync(
      file("principals.json"),
      JSON.stringify({
        "URI:spiffe://ticketing.test/gate-north": { subject: "north-1", scopes: ["tickets:scan"], events: ["mtls_ev"] },
      }),
    );
    const t = await startTestApp({
      TLS_CERT_FILE: file("server.pem"),
      TLS_KEY_FILE: file("server.key"),
      TLS_CLIENT_CA_FILE: file("ca.pem"),
      TLS_CLIENT_PRINCIPALS_FILE: file("principals.json"),
    });
    const ca = readFileSync(file("ca.pem"));
    const as = (name: string) =>
      credentials.createSsl(ca, readFileSync(file(`${name}.key`)), readFileSync(file(`${name}.pem`)));
    const gateTickets = new TicketServiceClient(t.address, as("gate"));
    const gateOrders = new OrderServiceClient(t.address, as("gate"));
    const otherOrders = new OrderServiceClient(t.address, as("client"));
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => "OK",
        (e: Parameters<typeof decodeStatus>[0]) => decodeStatus(e).errorInfo?.reason,
      );
    const list = { buyerId: "", eventId: "", pageSize: 5, pageToken: "" };
    try {
      // The gate's certificate alone: a scanner for its own event only, and not a buyer.
      const revoked = (eventId: string) =>
        call(gateTickets, gateTickets.listRevokedTickets, { eventId, pageSize: 10, pageToken: "" });
      expect(await outcome(revoked("mtls_ev"))).toBe("OK");
      expect(await outcome(revoked("other_ev"))).toBe("GATE_EVENT_MISMATCH");
      expect(await outcome(call(gateOrders, gateOrders.listOrders, list))).toBe("SCOPE_MISSING");
      // A certificate the file does not name proves nothing by itself...
      expect(await outcome(call(otherOrders, otherOrders.listOrders, list))).toBe("TOKEN_MISSING");
      // ...and a buyer's token passed along by a service acts as that buyer.
      expect(await outcome(call(otherOrders, otherOrders.listOrders, list, bearer({ buyer: "mtls_buyer" })))).toBe(
        "OK",
      );
    } finally {
      for (const c of [gateTickets, gateOrders, otherOrders]) c.close();
      await t.stop();
    }
  });
});
