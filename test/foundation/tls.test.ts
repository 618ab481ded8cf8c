// TLS and mutual TLS are a configuration switch: certificates made here with
// openssl (a CA, a server certificate for 127.0.0.1, a client certificate).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../../src/gen/grpc/health/v1/health.js";
import { call, startTestApp } from "../support/app.js";

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
});
