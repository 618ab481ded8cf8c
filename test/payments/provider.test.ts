// Which payment provider a worker runs on: production never falls back to the
// simulator, Stripe's key comes from a file or the environment, and the key
// appears in no error message and no log line.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, paymentProvider } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { startWorker } from "../../src/worker.js";
import { uid } from "../support/app.js";
import { freshMysqlDatabase, testEnv, type FreshDatabase } from "../support/env.js";

const KEY = "sk_test_51KeepThisOutOfEveryLogLine0123456789";
const production = {
  NODE_ENV: "production",
  AUTH_ISSUER: "https://id.example.com/",
  TEMPORAL_CODEC_KEYS: `k1:${Buffer.alloc(32, 7).toString("base64")}`,
  // The worker signs tickets: in production it needs the KEK that seals their keys.
  TICKET_SIGNING_KEKS: `t1:${Buffer.alloc(32, 9).toString("base64")}`,
};

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("did not throw");
}

describe("PAYMENT_PROVIDER", () => {
  it("outside production, unset means the simulator", () => {
    expect(paymentProvider(loadConfig({}))).toEqual({ kind: "simulator" });
  });

  it("in production, unset refuses to start; the simulator runs only when named", () => {
    const err = errorOf(() => paymentProvider(loadConfig(production)));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/PAYMENT_PROVIDER: is required in production/);
    expect(paymentProvider(loadConfig({ ...production, PAYMENT_PROVIDER: "simulator" }))).toEqual({
      kind: "simulator",
    });
    expect(() => loadConfig({ PAYMENT_PROVIDER: "paypal" })).toThrow(/PAYMENT_PROVIDER/);
  });

  it("stripe takes its key from STRIPE_SECRET_KEY or from the file STRIPE_SECRET_KEY_FILE names", () => {
    expect(paymentProvider(loadConfig({ PAYMENT_PROVIDER: "stripe", STRIPE_SECRET_KEY: KEY }))).toEqual({
      kind: "stripe",
      secretKey: KEY,
      apiBase: undefined,
      mode: "test",
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stripe-key-"));
    const file = path.join(dir, "key");
    fs.writeFileSync(file, "sk_live_FromAMountedSecret0123456789\n");
    try {
      const p = paymentProvider(
        loadConfig({
          PAYMENT_PROVIDER: "stripe",
          STRIPE_SECRET_KEY_FILE: file,
          STRIPE_API_BASE: "http://127.0.0.1:12111",
        }),
      );
      expect(p).toEqual({
        kind: "stripe",
        secretKey: "sk_live_FromAMountedSecret0123456789",
        apiBase: "http://127.0.0.1:12111",
        mode: "live",
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses stripe without a key, with both, with an unreadable file, with a malformed key; never shows the key", () => {
    expect(() => paymentProvider(loadConfig({ PAYMENT_PROVIDER: "stripe" }))).toThrow(
      /required with PAYMENT_PROVIDER=stripe/,
    );
    expect(() =>
      paymentProvider(loadConfig({ PAYMENT_PROVIDER: "stripe", STRIPE_SECRET_KEY: KEY, STRIPE_SECRET_KEY_FILE: "/k" })),
    ).toThrow(/set one, not both/);
    expect(() =>
      paymentProvider(loadConfig({ PAYMENT_PROVIDER: "stripe", STRIPE_SECRET_KEY_FILE: "/nonexistent/stripe-key" })),
    ).toThrow(/cannot read \(ENOENT\)/);
    const malformed = "pk_test_APublishableKeyIsNotASecret0123";
    const err = errorOf(() =>
      paymentProvider(loadConfig({ PAYMENT_PROVIDER: "stripe", STRIPE_SECRET_KEY: malformed })),
    );
    expect(err.message).toMatch(/STRIPE_SECRET_KEY \(value hidden\): is not a Stripe secret key/);
    expect(err.message).not.toContain(malformed);
  });

  it("a config error about a secret variable names it without its value", () => {
    const secret = `k1:${Buffer.alloc(32, 3).toString("base64")}`;
    const err = errorOf(() => loadConfig({ TEMPORAL_CODEC_KEYS: secret, TEMPORAL_CODEC_KEYS_FILE: "/k" }));
    expect(err.message).toContain("TEMPORAL_CODEC_KEYS (value hidden)");
    expect(err.message).not.toContain(secret.slice(3));
  });
});

describe("the worker", () => {
  let db: FreshDatabase;
  beforeAll(async () => {
    db = await freshMysqlDatabase("provider");
  });
  afterAll(async () => {
    await db?.drop();
  });

  function workerConfig(env: Record<string, string>) {
    const stack = testEnv();
    return loadConfig({
      REDIS_URL: stack.redisUrl,
      MYSQL_URL: db.url,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      TEMPORAL_TASK_QUEUE: uid("tq"),
      WORKER_METRICS_ADDRESS: "off",
      TEMPORAL_METRICS_ADDRESS: "off",
      LOG_LEVEL: "trace",
      ...env,
    });
  }

  it("refuses to start in production on an unnamed provider, before it connects to anything", async () => {
    const lines: string[] = [];
    const log = createLogger(
      "trace",
      "t",
      new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }),
    );
    await expect(startWorker(workerConfig(production), log)).rejects.toBeInstanceOf(ConfigError);
    expect(lines).toEqual([]);
  });

  it("starts on Stripe and says so, without the key in any log line", async () => {
    let out = "";
    const log = createLogger(
      "trace",
      "t",
      new Writable({ write: (c: Buffer, _e, cb) => ((out += c.toString()), cb()) }),
    );
    const running = await startWorker(
      workerConfig({ ...production, PAYMENT_PROVIDER: "stripe", STRIPE_SECRET_KEY: KEY }),
      log,
    );
    await running.stop();
    expect(out).toMatch(/"paymentProvider":"stripe","stripeMode":"test"/);
    expect(out).not.toContain(KEY);
    expect(out).not.toContain(KEY.slice(8));
  });
});
