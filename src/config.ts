// Environment → validated, typed configuration. The one place that reads
// process.env for the service; entry points pass the result down.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { ASYMMETRIC_ALGORITHMS } from "./identity/verifier.js";

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, "must be host:port, e.g. 127.0.0.1:50051");

const optionalFile = z
  .string()
  .optional()
  .transform((v) => (v === "" ? undefined : v));

const schema = z
  .object({
    NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
    GRPC_ADDRESS: hostPort.default("127.0.0.1:50051"),
    METRICS_ADDRESS: z.union([hostPort, z.literal("off")]).default("127.0.0.1:9464"),
    // The worker's own /metrics (its activities, payments, checkouts, and the
    // Temporal SDK's metrics merged in from TEMPORAL_METRICS_ADDRESS).
    WORKER_METRICS_ADDRESS: z.union([hostPort, z.literal("off")]).default("127.0.0.1:9465"),
    // Where the Temporal SDK's own Prometheus exporter listens (loopback: the
    // worker's /metrics serves its text too); off: no SDK metrics.
    TEMPORAL_METRICS_ADDRESS: z.union([hostPort, z.literal("off")]).default("127.0.0.1:9466"),
    // The funnel gauges (seats, queue, orders per event; read at scrape time):
    // exactly one API process per deployment should export them.
    METRICS_FUNNEL: z.enum(["on", "off"]).default("on"),
    // How long a closed sale's event keeps its label values after it was last
    // seen open or active.
    METRICS_EVENT_RETENTION_SECONDS: z.coerce
      .number()
      .int()
      .min(0)
      .max(7 * 86_400)
      .default(3600),
    // How long an event id MySQL does not know is answered EVENT_NOT_FOUND
    // from memory (a flood of made-up ids costs one query per id and period);
    // another process's new event may be unknown here for this long. 0: off.
    UNKNOWN_EVENT_TTL_MS: z.coerce.number().int().min(0).max(60_000).default(2000),
    // API processes sharing GRPC_ADDRESS (node:cluster); the primary serves
    // the aggregated /metrics of all of them on METRICS_ADDRESS.
    API_PROCESSES: z.coerce.number().int().min(1).max(64).default(1),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    REDIS_URL: z.url({ protocol: /^rediss?$/ }).default("redis://127.0.0.1:6379"),
    // Comma-separated host:port seeds; when set, Redis is used in cluster mode.
    REDIS_CLUSTER_NODES: z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (!v) return undefined;
        const nodes = v
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
        const parsed = nodes.map((n) => {
          const m = /^([^\s:]+):(\d{1,5})$/.exec(n);
          if (!m) ctx.addIssue({ code: "custom", message: `"${n}" is not host:port` });
          return { host: m?.[1] ?? "", port: Number(m?.[2] ?? 0) };
        });
        return parsed;
      }),
    // Goes to mysql2 whole, query options included (TLS: ?ssl=...; adapters/mysql/pool.ts).
    MYSQL_URL: z
      .url({ protocol: /^mysql$/, abort: true })
      .refine((u) => new URL(u).username !== "", "must name the user, e.g. mysql://root@127.0.0.1:3306/ticketing")
      .refine(
        (u) => /^\/[^/]+$/.test(new URL(u).pathname),
        "must name the database, e.g. mysql://root@host:3306/ticketing",
      )
      .default("mysql://root@127.0.0.1:3306/ticketing"),
    MYSQL_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(10),
    TEMPORAL_ADDRESS: hostPort.default("127.0.0.1:7233"),
    TEMPORAL_NAMESPACE: z.string().min(1).default("default"),
    TEMPORAL_TASK_QUEUE: z.string().min(1).default("ticketing"),
    // Identity: every caller sends `authorization: Bearer <JWT>` from this
    // issuer (README "Authentication"). Unset outside production: a local
    // issuer under AUTH_LOCAL_ISSUER_DIR (created on first start) signs them.
    AUTH_ISSUER: z
      .string()
      .optional()
      .transform((v) => (v === "" ? undefined : v)),
    AUTH_AUDIENCE: z.string().min(1).default("ticketing"),
    // Where the issuer's keys are: a JWKS URL, a JWKS file, or (neither) the
    // issuer's OpenID discovery document, AUTH_ISSUER/.well-known/openid-configuration.
    AUTH_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
    AUTH_JWKS_FILE: optionalFile,
    AUTH_ALGORITHMS: z
      .string()
      .default("EdDSA,ES256,RS256,PS256")
      .transform((v, ctx) => {
        const algs = v
          .split(",")
          .map((a) => a.trim())
          .filter(Boolean);
        for (const a of algs) {
          if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(a)) {
            ctx.addIssue({
              code: "custom",
              message: `${a} is not allowed: one of ${ASYMMETRIC_ALGORITHMS.join(", ")}`,
            });
          }
        }
        if (algs.length === 0) ctx.addIssue({ code: "custom", message: "name at least one algorithm" });
        return algs;
      }),
    AUTH_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
    // The claim that lists the events a gate scanner (scope tickets:scan) may check tickets in for.
    AUTH_EVENTS_CLAIM: z.string().min(1).default("events"),
    AUTH_TOKEN_CACHE_SIZE: z.coerce.number().int().min(1).max(10_000_000).default(100_000),
    AUTH_JWKS_REFRESH_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),
    AUTH_JWKS_COOLDOWN_SECONDS: z.coerce.number().min(0).max(3_600).default(30),
    AUTH_LOCAL_ISSUER_DIR: z.string().min(1).default(".local/issuer"),
    // on: a published event, its seat map and its stream may be read without a token.
    AUTH_PUBLIC_READS: z.enum(["on", "off"]).default("off"),
    // Calls per second each buyer may make, per API process, with this burst (0 = no budget).
    AUTH_CALL_BUDGET_PER_SECOND: z.coerce.number().min(0).max(1_000_000).default(50),
    AUTH_CALL_BUDGET_BURST: z.coerce.number().int().min(1).max(1_000_000).default(100),
    TLS_CERT_FILE: optionalFile,
    TLS_KEY_FILE: optionalFile,
    // With a client CA, clients must present a certificate it signed (mutual TLS).
    TLS_CLIENT_CA_FILE: optionalFile,
    // Mutual TLS as service identity: a JSON file mapping a client certificate's
    // subjectAltName entry ("URI:spiffe://…", "DNS:…") to {subject, scopes, events?}.
    TLS_CLIENT_PRINCIPALS_FILE: optionalFile,
    SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(120_000).default(10_000),
    // Keys that encrypt workflow payloads (src/temporal/payload-codec.ts):
    // `id:base64,id:base64`, 32-byte keys, the last one encrypts, all decrypt.
    // From a file (a mounted secret) or the variable; required in production.
    TEMPORAL_CODEC_KEYS: z
      .string()
      .optional()
      .transform((v) => (v === "" ? undefined : v)),
    TEMPORAL_CODEC_KEYS_FILE: optionalFile,
    // The codec server (npm run codec-server) for the Temporal UI and CLI.
    CODEC_SERVER_ADDRESS: hostPort.default("127.0.0.1:8888"),
    CODEC_SERVER_CORS_ORIGIN: z.string().optional(),
    // Which PaymentGateway the worker uses. Unset means the simulator, except
    // with NODE_ENV=production, where the worker refuses to start unless it is
    // named (paymentProvider below).
    PAYMENT_PROVIDER: z.enum(["stripe", "simulator"]).optional(),
    // Stripe's secret (or restricted) key: from a file (a mounted secret; one
    // line) or the variable itself; never logged, never in an error message.
    STRIPE_SECRET_KEY: z
      .string()
      .optional()
      .transform((v) => (v === "" ? undefined : v)),
    STRIPE_SECRET_KEY_FILE: optionalFile,
    // Another Stripe API base, e.g. stripe-mock's http://127.0.0.1:12111; default: Stripe's.
    STRIPE_API_BASE: z.url({ protocol: /^https?$/ }).optional(),
    // The payment simulator (PAYMENT_PROVIDER=simulator).
    PAYMENT_SIM_LATENCY_MS: z
      .string()
      .regex(/^\d+(-\d+)?$/, "must be N or MIN-MAX milliseconds")
      .default("20-80")
      .transform((v) => {
        const [min = 0, max = min] = v.split("-").map(Number);
        return { min, max: Math.max(min, max) };
      }),
    PAYMENT_SIM_DECLINE_RATIO: z.coerce.number().min(0).max(1).default(0.2),
    PAYMENT_SIM_FAILURE_RATIO: z.coerce.number().min(0).max(1).default(0),
    PAYMENT_SIM_LOST_RESPONSE_RATIO: z.coerce.number().min(0).max(1).default(0),
    // How long a checkout may take to get a payment authorized before it fails.
    PAYMENT_WINDOW_SECONDS: z.coerce.number().int().min(5).max(3600).default(300),
    // Payment reconciliation (src/orders/reconcile.ts), a Temporal Schedule the
    // worker keeps: how often it runs (0 = no schedule) and how old an
    // unsettled authorization must be before it is settled (more than the payment window).
    PAYMENT_RECONCILE_EVERY_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
    PAYMENT_RECONCILE_AFTER_SECONDS: z.coerce
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .default(600),
    // The worker's CPU niceness (0-19), set at its start: checkouts yield the CPU
    // to holds on a shared machine (src/worker-priority.ts). The local stack
    // starts the Temporal dev server at the same niceness. 0 = unchanged.
    WORKER_NICE: z.coerce.number().int().min(0).max(19).default(10),
    // Waiting room: how often each API instance advances admission for every
    // event with a waiting room in use (the step is idempotent; more instances
    // only step more often, never admit faster).
    QUEUE_TICK_MS: z.coerce.number().int().min(10).max(10_000).default(100),
    // A waiting buyer who has not asked where they stand (nor watched) for this
    // long is skipped when their turn comes; 0 = never skip.
    QUEUE_ABANDON_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
    // An admitted shopper who holds nothing yet counts against the seats left
    // for this long (at most the session), so admission stops near the seats
    // there are instead of letting in far more buyers than seats; 0 = do not count.
    QUEUE_FIRST_HOLD_GRACE_SECONDS: z.coerce.number().int().min(0).max(3_600).default(30),
    // Per-buyer rate limits of JoinQueue and GetQueuePosition: calls per window (0 = off).
    QUEUE_RATE_WINDOW_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
    QUEUE_JOIN_LIMIT: z.coerce.number().int().min(0).max(100_000).default(10),
    QUEUE_POSITION_LIMIT: z.coerce.number().int().min(0).max(100_000).default(50),
    // GetQueuePosition: the polls of one event in one API process during this
    // many ms share one Redis script call (src/queue/poll-batcher.ts); 0 = one
    // script call per poll, as before.
    QUEUE_POLL_BATCH_MS: z.coerce.number().int().min(0).max(1_000).default(50),
    // Token signing: Piscina worker threads (0 = sign on the event loop).
    SIGNING_THREADS: z.coerce.number().int().min(0).max(64).default(1),
    // Rotate the signing key when the newest is older than this (0 = never on its own).
    SIGNING_KEY_ROTATE_SECONDS: z.coerce
      .number()
      .int()
      .min(0)
      .default(7 * 86_400),
    // How often every instance re-reads the key ring from MySQL.
    SIGNING_KEY_REFRESH_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
    // Key-encryption keys of the signing keys' private halves in MySQL
    // (src/signing/envelope.ts), one list per purpose, in the format of
    // TEMPORAL_CODEC_KEYS: the last one wraps new keys, every listed one
    // unwraps. Admission keys: the API's; ticket keys: the worker's only (the
    // API verifies tickets with public keys). From a file or the variable;
    // required in production by the process that signs (src/signing/keks.ts),
    // a published development key otherwise.
    ADMISSION_SIGNING_KEKS: z
      .string()
      .optional()
      .transform((v) => (v === "" ? undefined : v)),
    ADMISSION_SIGNING_KEKS_FILE: optionalFile,
    TICKET_SIGNING_KEKS: z
      .string()
      .optional()
      .transform((v) => (v === "" ? undefined : v)),
    TICKET_SIGNING_KEKS_FILE: optionalFile,
    // Serves ticketing.bench.v1.NoopService, the benchmarks' baseline.
    BENCH_NOOP: z.enum(["on", "off"]).default("off"),
    // Authentication off, for bench:holds' same-run cost-of-authentication
    // baseline only: needs BENCH_NOOP=on and is refused in production.
    BENCH_AUTH_BASELINE: z.enum(["on", "off"]).default("off"),
    HEALTH_CHECK_INTERVAL_MS: z.coerce.number().int().min(100).max(60_000).default(2_000),
    // Bounded resources (README, "Operating it safely"). A request message
    // larger than its method's limit is refused before it is decoded
    // (RESOURCE_EXHAUSTED MESSAGE_TOO_LARGE); the largest limit is also
    // grpc-js's receive limit, so a bigger body is refused from its length
    // prefix, before it is read.
    GRPC_MAX_MESSAGE_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(64 * 1024),
    // CreateEvent's limit: a 100,000-seat venue is about 2 MiB even in rows of one seat.
    GRPC_CREATE_EVENT_MAX_MESSAGE_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(8 * 1024 * 1024),
    // HTTP/2 streams (calls) one connection may have open at once.
    GRPC_MAX_CONCURRENT_STREAMS: z.coerce.number().int().min(1).max(100_000).default(1000),
    // Open streams per streaming method (WatchSeatMap, WatchQueue, WatchOrder) per API process.
    WATCHERS_PER_METHOD: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
    // Open streams of one caller (the token's subject) across those methods, per API process.
    WATCHERS_PER_PRINCIPAL: z.coerce.number().int().min(1).max(100_000).default(8),
    // How often one query checks every order this process's WatchOrder streams
    // watch, for a change whose pub/sub message was lost.
    ORDER_WATCH_SWEEP_MS: z.coerce.number().int().min(50).max(600_000).default(5_000),
    // Traces (OpenTelemetry), off by default; what turns them on: observability/tracing.ts
    // tracesExporter. The exporter reads the other OTEL_* variables itself.
    OTEL_TRACES_EXPORTER: z.enum(["otlp", "console", "none"]).optional(),
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url().optional(),
    OTEL_SDK_DISABLED: z.enum(["true", "false"]).optional(),
  })
  .superRefine((c, ctx) => {
    if (Boolean(c.TLS_CERT_FILE) !== Boolean(c.TLS_KEY_FILE)) {
      ctx.addIssue({
        code: "custom",
        path: [c.TLS_CERT_FILE ? "TLS_KEY_FILE" : "TLS_CERT_FILE"],
        message: "TLS_CERT_FILE and TLS_KEY_FILE must be set together",
      });
    }
    if (c.TLS_CLIENT_CA_FILE && !c.TLS_CERT_FILE) {
      ctx.addIssue({
        code: "custom",
        path: ["TLS_CLIENT_CA_FILE"],
        message: "mutual TLS needs TLS_CERT_FILE and TLS_KEY_FILE as well",
      });
    }
    if (c.TEMPORAL_CODEC_KEYS && c.TEMPORAL_CODEC_KEYS_FILE) {
      ctx.addIssue({
        code: "custom",
        path: ["TEMPORAL_CODEC_KEYS"],
        message: "set it or TEMPORAL_CODEC_KEYS_FILE, not both",
      });
    }
    for (const name of ["ADMISSION_SIGNING_KEKS", "TICKET_SIGNING_KEKS"] as const) {
      if (c[name] && c[`${name}_FILE`]) {
        ctx.addIssue({ code: "custom", path: [name], message: `set it or ${name}_FILE, not both` });
      }
    }
    if (c.NODE_ENV === "production" && !c.TEMPORAL_CODEC_KEYS && !c.TEMPORAL_CODEC_KEYS_FILE) {
      ctx.addIssue({
        code: "custom",
        path: ["TEMPORAL_CODEC_KEYS"],
        message: "is required in production (or TEMPORAL_CODEC_KEYS_FILE): workflow payloads carry payment tokens",
      });
    }
    if (c.BENCH_AUTH_BASELINE === "on" && (c.NODE_ENV === "production" || c.BENCH_NOOP !== "on")) {
      ctx.addIssue({
        code: "custom",
        path: ["BENCH_AUTH_BASELINE"],
        message: "turns authentication off for a benchmark: only with BENCH_NOOP=on, never in production",
      });
    }
    if (c.PAYMENT_RECONCILE_AFTER_SECONDS <= c.PAYMENT_WINDOW_SECONDS) {
      ctx.addIssue({
        code: "custom",
        path: ["PAYMENT_RECONCILE_AFTER_SECONDS"],
        message: "must be more than PAYMENT_WINDOW_SECONDS: a younger authorization may still be its checkout's",
      });
    }
    if (c.NODE_ENV === "production" && !c.AUTH_ISSUER) {
      ctx.addIssue({
        code: "custom",
        path: ["AUTH_ISSUER"],
        message: "is required in production (the local development issuer is never used there)",
      });
    }
    if (c.TLS_CLIENT_PRINCIPALS_FILE && !c.TLS_CLIENT_CA_FILE) {
      ctx.addIssue({
        code: "custom",
        path: ["TLS_CLIENT_PRINCIPALS_FILE"],
        message: "maps client certificates: it needs mutual TLS (TLS_CLIENT_CA_FILE)",
      });
    }
    if (c.AUTH_JWKS_URL && c.AUTH_JWKS_FILE) {
      ctx.addIssue({
        code: "custom",
        path: ["AUTH_JWKS_FILE"],
        message: "set AUTH_JWKS_URL or AUTH_JWKS_FILE, not both",
      });
    }
    if (c.AUTH_ISSUER && !c.AUTH_JWKS_URL && !c.AUTH_JWKS_FILE && !/^https?:\/\//.test(c.AUTH_ISSUER)) {
      ctx.addIssue({
        code: "custom",
        path: ["AUTH_ISSUER"],
        message: "must be an http(s) URL for OpenID discovery, or set AUTH_JWKS_URL or AUTH_JWKS_FILE",
      });
    }
    if ((c.AUTH_JWKS_URL || c.AUTH_JWKS_FILE) && !c.AUTH_ISSUER) {
      ctx.addIssue({
        code: "custom",
        path: ["AUTH_ISSUER"],
        message: "is required with AUTH_JWKS_URL or AUTH_JWKS_FILE",
      });
    }
  });

/** Every variable the configuration reads, in the order of the schema (for --help). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

export type Config = z.output<typeof schema>;

/** Variables whose value never appears in an error message. */
const SECRET_VARIABLES = new Set([
  "STRIPE_SECRET_KEY",
  "TEMPORAL_CODEC_KEYS",
  "ADMISSION_SIGNING_KEKS",
  "TICKET_SIGNING_KEKS",
]);

/** Thrown by loadConfig; its message names every bad variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const name = i.path.join(".") || "environment";
      const value = typeof i.path[0] === "string" ? env[i.path[0]] : undefined;
      const shown =
        value === undefined ? "" : SECRET_VARIABLES.has(name) ? " (value hidden)" : `=${JSON.stringify(value)}`;
      return `  ${name}${shown}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  return result.data;
}

export type PaymentProvider =
  { kind: "simulator" } | { kind: "stripe"; secretKey: string; apiBase: string | undefined; mode: "live" | "test" };

const STRIPE_KEY = /^(sk|rk)_(live|test)_[A-Za-z0-9]{8,}$/;

/**
 * The payment provider the worker uses, or a ConfigError naming what is wrong
 * (never the key). With NODE_ENV=production the simulator runs only when
 * PAYMENT_PROVIDER=simulator names it: an unset variable must not confirm
 * orders nobody paid for.
 */
export function paymentProvider(
  config: Pick<
    Config,
    "NODE_ENV" | "PAYMENT_PROVIDER" | "STRIPE_SECRET_KEY" | "STRIPE_SECRET_KEY_FILE" | "STRIPE_API_BASE"
  >,
  readFile: (path: string) => string = (p) => readFileSync(p, "utf8"),
): PaymentProvider {
  const provider = config.PAYMENT_PROVIDER;
  if (!provider) {
    if (config.NODE_ENV === "production") {
      throw new ConfigError(
        "invalid configuration:\n  PAYMENT_PROVIDER: is required in production (stripe; or simulator, to run on simulated payments on purpose)",
      );
    }
    return { kind: "simulator" };
  }
  if (provider === "simulator") return { kind: "simulator" };
  const { STRIPE_SECRET_KEY: inline, STRIPE_SECRET_KEY_FILE: file } = config;
  if (inline && file) {
    throw new ConfigError("invalid configuration:\n  STRIPE_SECRET_KEY, STRIPE_SECRET_KEY_FILE: set one, not both");
  }
  let key = inline;
  if (file) {
    try {
      key = readFile(file).trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
      throw new ConfigError(
        `invalid configuration:\n  STRIPE_SECRET_KEY_FILE=${JSON.stringify(file)}: cannot read (${code})`,
      );
    }
  }
  if (!key) {
    throw new ConfigError(
      "invalid configuration:\n  STRIPE_SECRET_KEY_FILE or STRIPE_SECRET_KEY: required with PAYMENT_PROVIDER=stripe",
    );
  }
  const m = STRIPE_KEY.exec(key);
  if (!m) {
    const where = file
      ? `the key in STRIPE_SECRET_KEY_FILE=${JSON.stringify(file)}`
      : "STRIPE_SECRET_KEY (value hidden)";
    throw new ConfigError(
      `invalid configuration:\n  ${where}: is not a Stripe secret key (sk_live_..., sk_test_..., or restricted rk_...)`,
    );
  }
  return { kind: "stripe", secretKey: key, apiBase: config.STRIPE_API_BASE, mode: m[2] === "live" ? "live" : "test" };
}
