// Environment → validated, typed configuration. The one place that reads
// process.env for the service; entry points pass the result down.
import { z } from "zod";

const hostPort = z
  .string()
  .regex(/^[^\s:]+:\d{1,5}$/, "must be host:port, e.g. 127.0.0.1:50051");

const optionalFile = z
  .string()
  .optional()
  .transform((v) => (v === "" ? undefined : v));

const schema = z
  .object({
    NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
    GRPC_ADDRESS: hostPort.default("127.0.0.1:50051"),
    METRICS_ADDRESS: z
      .union([hostPort, z.literal("off")])
      .default("127.0.0.1:9464"),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    REDIS_URL: z.url({ protocol: /^rediss?$/ }).default("redis://127.0.0.1:6379"),
    // Comma-separated host:port seeds; when set, Redis is used in cluster mode.
    REDIS_CLUSTER_NODES: z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (!v) return undefined;
        const nodes = v.split(",").map((s) => s.trim()).filter(Boolean);
        const parsed = nodes.map((n) => {
          const m = /^([^\s:]+):(\d{1,5})$/.exec(n);
          if (!m) ctx.addIssue({ code: "custom", message: `"${n}" is not host:port` });
          return { host: m?.[1] ?? "", port: Number(m?.[2] ?? 0) };
        });
        return parsed;
      }),
    MYSQL_URL: z.url({ protocol: /^mysql$/ }).default("mysql://root@127.0.0.1:3306/ticketing"),
    MYSQL_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(10),
    TEMPORAL_ADDRESS: hostPort.default("127.0.0.1:7233"),
    TEMPORAL_NAMESPACE: z.string().min(1).default("default"),
    TEMPORAL_TASK_QUEUE: z.string().min(1).default("ticketing"),
    // Bearer token operators send in `authorization` metadata.
    OPERATOR_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
    TLS_CERT_FILE: optionalFile,
    TLS_KEY_FILE: optionalFile,
    // With a client CA, clients must present a certificate it signed (mutual TLS).
    TLS_CLIENT_CA_FILE: optionalFile,
    SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(120_000).default(10_000),
    // Serves ticketing.bench.v1.NoopService, the benchmarks' baseline.
    BENCH_NOOP: z.enum(["on", "off"]).default("off"),
    HEALTH_CHECK_INTERVAL_MS: z.coerce.number().int().min(100).max(60_000).default(2_000),
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
    if (c.NODE_ENV === "production" && !c.OPERATOR_TOKEN) {
      ctx.addIssue({
        code: "custom",
        path: ["OPERATOR_TOKEN"],
        message: "is required in production",
      });
    }
  });

export type Config = Omit<z.output<typeof schema>, "OPERATOR_TOKEN"> & { OPERATOR_TOKEN: string };

/** Thrown by loadConfig; its message names every bad variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The token used when OPERATOR_TOKEN is unset outside production. */
export const DEVELOPMENT_OPERATOR_TOKEN = "local-operator-token";

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const name = i.path.join(".") || "environment";
      const value = typeof i.path[0] === "string" ? env[i.path[0]] : undefined;
      return `  ${name}${value !== undefined ? `=${JSON.stringify(value)}` : ""}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  return { ...result.data, OPERATOR_TOKEN: result.data.OPERATOR_TOKEN ?? DEVELOPMENT_OPERATOR_TOKEN };
}
