import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { DEVELOPMENT_KEK, signingKeks } from "../../src/signing/keks.js";

describe("configuration", () => {
  it("has local defaults that work with nothing set", () => {
    const c = loadConfig({});
    expect(c.GRPC_ADDRESS).toBe("127.0.0.1:50051");
    expect(c.METRICS_ADDRESS).toBe("127.0.0.1:9464");
    expect(c.AUTH_ISSUER).toBeUndefined(); // the local development issuer
    expect(c.AUTH_AUDIENCE).toBe("ticketing");
    expect(c.AUTH_PUBLIC_READS).toBe("off");
    expect(c.REDIS_CLUSTER_NODES).toBeUndefined();
  });

  it("names every bad variable and its value in one message", () => {
    let error: unknown;
    try {
      loadConfig({ GRPC_ADDRESS: "nope", REDIS_URL: "http://x", MYSQL_POOL_SIZE: "0", REDIS_CLUSTER_NODES: "a:1,b" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('GRPC_ADDRESS="nope"');
    expect(message).toContain('REDIS_URL="http://x"');
    expect(message).toContain("MYSQL_POOL_SIZE");
    expect(message).toContain('"b" is not host:port');
  });

  it("keeps MYSQL_URL whole (query options go to mysql2) and requires its user and database", () => {
    const url =
      "mysql://app:p%40ss@db.internal:3306/ticketing?ssl=%7B%22rejectUnauthorized%22%3Atrue%7D&connectTimeout=5000";
    expect(loadConfig({ MYSQL_URL: url }).MYSQL_URL).toBe(url);
    expect(() => loadConfig({ MYSQL_URL: "mysql://db.internal/ticketing" })).toThrow(/MYSQL_URL.*must name the user/);
    expect(() => loadConfig({ MYSQL_URL: "mysql://app@db.internal:3306" })).toThrow(
      /MYSQL_URL.*must name the database/,
    );
    expect(() => loadConfig({ MYSQL_URL: "postgres://app@db/x" })).toThrow(/MYSQL_URL.*Invalid URL/);
  });

  it("allows the benchmarks' unauthenticated baseline only beside the bench service, never in production", () => {
    expect(loadConfig({}).BENCH_AUTH_BASELINE).toBe("off");
    expect(loadConfig({ BENCH_AUTH_BASELINE: "on", BENCH_NOOP: "on" }).BENCH_AUTH_BASELINE).toBe("on");
    expect(() => loadConfig({ BENCH_AUTH_BASELINE: "on" })).toThrow(/BENCH_AUTH_BASELINE.*only with BENCH_NOOP=on/);
    expect(() =>
      loadConfig({
        BENCH_AUTH_BASELINE: "on",
        BENCH_NOOP: "on",
        NODE_ENV: "production",
        AUTH_ISSUER: "https://id.example.com",
        TEMPORAL_CODEC_KEYS: "k1:" + "a".repeat(64),
      }),
    ).toThrow(/BENCH_AUTH_BASELINE.*never in production/);
  });

  it("requires TLS files in pairs and an identity provider in production", () => {
    expect(() => loadConfig({ TLS_CERT_FILE: "/tmp/cert.pem" })).toThrow(/TLS_KEY_FILE/);
    expect(() => loadConfig({ TLS_CLIENT_CA_FILE: "/tmp/ca.pem" })).toThrow(/mutual TLS/);
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/AUTH_ISSUER.*required in production/);
    // Production also needs the keys that encrypt workflow payloads (TEMPORAL_CODEC_KEYS).
    expect(() => loadConfig({ NODE_ENV: "production", AUTH_ISSUER: "https://id.example.com/" })).toThrow(
      /TEMPORAL_CODEC_KEYS: is required in production/,
    );
    const codecKeys = `k1:${Buffer.alloc(32, 1).toString("base64")}`;
    expect(
      loadConfig({ NODE_ENV: "production", AUTH_ISSUER: "https://id.example.com/", TEMPORAL_CODEC_KEYS: codecKeys })
        .AUTH_ISSUER,
    ).toBe("https://id.example.com/");
    // Only asymmetric algorithms: an HMAC "key" would be the public key itself.
    expect(() => loadConfig({ AUTH_ALGORITHMS: "EdDSA,HS256" })).toThrow(/HS256 is not allowed/);
    expect(() => loadConfig({ AUTH_ALGORITHMS: "none" })).toThrow(/none is not allowed/);
    expect(() => loadConfig({ AUTH_ISSUER: "my-issuer" })).toThrow(/http\(s\) URL for OpenID discovery/);
    expect(loadConfig({ REDIS_CLUSTER_NODES: "10.0.0.1:7000, 10.0.0.2:7001" }).REDIS_CLUSTER_NODES).toEqual([
      { host: "10.0.0.1", port: 7000 },
      { host: "10.0.0.2", port: 7001 },
    ]);
  });

  it("takes each purpose's signing KEKs from its own variable or file; production refuses to sign without them", () => {
    const secret = Buffer.alloc(32, 7).toString("base64");
    const prod = { NODE_ENV: "production", AUTH_ISSUER: "https://id.example", TEMPORAL_CODEC_KEYS: `c:${secret}` };
    // The API (admission) needs only ADMISSION_SIGNING_KEKS; the worker (ticket) only TICKET_SIGNING_KEKS.
    const api = loadConfig({ ...prod, ADMISSION_SIGNING_KEKS: `a1:${secret},a2:${secret}` });
    expect(signingKeks(api, "admission").map((k) => k.id)).toEqual(["a1", "a2"]);
    expect(() => signingKeks(api, "ticket")).toThrow(/TICKET_SIGNING_KEKS: is required in production/);
    const worker = loadConfig({ ...prod, TICKET_SIGNING_KEKS_FILE: "/run/secrets/ticket-keks" });
    expect(signingKeks(worker, "ticket", () => `t1:${secret}`).map((k) => k.id)).toEqual(["t1"]);
    expect(() => signingKeks(worker, "admission")).toThrow(ConfigError);
    // Outside production, unset means the published development KEK.
    expect(signingKeks(loadConfig({}), "ticket")).toEqual([DEVELOPMENT_KEK]);
    // A bad list is named by variable (or by key id), never shown.
    const bad = loadConfig({ ADMISSION_SIGNING_KEKS: `a1:${secret.slice(0, 20)}` });
    expect(() => signingKeks(bad, "admission")).toThrow(
      /ADMISSION_SIGNING_KEKS \(value hidden\): key "a1" must be 32 bytes/,
    );
    expect(() => loadConfig({ TICKET_SIGNING_KEKS: `t:${secret}`, TICKET_SIGNING_KEKS_FILE: "/x" })).toThrow(
      /TICKET_SIGNING_KEKS \(value hidden\): set it or TICKET_SIGNING_KEKS_FILE, not both/,
    );
  });
});
