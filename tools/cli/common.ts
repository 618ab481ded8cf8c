// What every command of the operator CLI shares: the command table's types,
// the connection (address, token, TLS), output (aligned tables for people,
// JSON for scripts) and how a failure ends the process (exit codes).
import { readFileSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { CallOptions } from "@grpc/grpc-js";
import {
  connect,
  credentials,
  decodeError,
  Metadata,
  type ServiceError,
  type TicketingClient,
  type TicketingError,
} from "../../clients/typescript/src/index.js";

/** Exit codes: 0 done, 1 refused or failed, 2 a usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A mistake in the command line: its message, then the command's usage, exit 2. */
export class UsageError extends Error {}

/** A failure already explained to the user (e.g. a venue file's problems), exit 1. */
export class Failure extends Error {
  constructor(
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Command {
  /** e.g. "event create". */
  name: string;
  /** Positional arguments, e.g. "--file VENUE.yaml" or "EVENT_ID". */
  args: string;
  summary: string;
  /** More lines for --help. */
  help?: string;
  /** The command's own options (the connection's and --json, --help are added). */
  options?: Options;
  /** How many positional arguments it takes. */
  positionals?: number;
  run(ctx: Context): Promise<void>;
}

/** Options every command takes. */
export const COMMON_OPTIONS = {
  address: { type: "string" },
  token: { type: "string" },
  tls: { type: "boolean" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  deadline: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies Options;

export const COMMON_HELP = `Connection (every command):
  --address HOST:PORT  the API (default $TICKETING_ADDRESS, else 127.0.0.1:50051)
  --token JWT          an operator's bearer token (default $TICKETING_TOKEN);
                       locally: export TICKETING_TOKEN=$(npm run -s token -- --operator NAME)
  --tls                TLS with the system's CAs (default: plaintext)
  --ca FILE            TLS with this CA (PEM); implies --tls
  --cert FILE --key FILE  a client certificate for mutual TLS; implies --tls
  --deadline SECONDS   how long a call may take (default 60)
Output:
  --json               machine-readable JSON on stdout instead of tables
  -h, --help           this text`;

export interface Context {
  /** The command's option values (common ones included). */
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  json: boolean;
  /** The API's clients, connected on first use. */
  api(): TicketingClient;
  out: (text: string) => void;
  err: (text: string) => void;
}

export function parseCommandLine(command: Command, argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...command.options },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The client for the command line's connection options and the environment. */
export function connectFrom(values: Context["values"], env: NodeJS.ProcessEnv): TicketingClient {
  const address = (values.address as string | undefined) ?? (env.TICKETING_ADDRESS || "127.0.0.1:50051");
  const token = (values.token as string | undefined) ?? env.TICKETING_TOKEN;
  if (!token) {
    throw new UsageError(
      "no token: pass --token or set TICKETING_TOKEN (locally: export TICKETING_TOKEN=$(npm run -s token -- --operator NAME))",
    );
  }
  const read = (file: string | undefined) => (file ? readFileSync(file) : null);
  const tls = Boolean(values.tls || values.ca || values.cert || values.key);
  if (Boolean(values.cert) !== Boolean(values.key)) throw new UsageError("--cert and --key go together");
  const creds = tls
    ? credentials.createSsl(
        read(values.ca as string | undefined),
        read(values.key as string | undefined),
        read(values.cert as string | undefined),
      )
    : credentials.createInsecure();
  const deadline = values.deadline === undefined ? 60 : Number(values.deadline);
  if (!Number.isInteger(deadline) || deadline <= 0)
    throw new UsageError("--deadline must be a whole number of seconds");
  return connect(address, { credentials: creds, token, defaultDeadlineSeconds: deadline });
}

// The four-argument overload of a generated method: the one a conditional type infers.
type Unary<F> = F extends (
  request: infer Q,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: infer R) => void,
) => unknown
  ? { request: Q; response: R }
  : never;

/** Calls a unary method of a generated client, by name, as a promise. */
export function unary<C extends object, K extends keyof C>(
  client: C,
  method: K,
  request: Unary<C[K]>["request"],
): Promise<Unary<C[K]>["response"]> {
  type Callback = (error: ServiceError | null, response: Unary<C[K]>["response"]) => void;
  const fn = client[method] as (r: typeof request, m: Metadata, o: object, cb: Callback) => unknown;
  return new Promise((resolve, reject) => {
    fn.call(client, request, new Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** A refused call as the user reads it: the reason and message, then each field at fault. */
export function describeRefusal(e: TicketingError, locate?: (field: string) => string | undefined): string[] {
  const lines = [`${e.reason ?? codeName(e.code)}: ${e.message}`];
  for (const v of e.fieldViolations) {
    const where = locate?.(v.field);
    lines.push(`  ${where ? `${where}: ` : ""}${v.field}: ${v.description}`);
  }
  if (e.retryDelayMs !== undefined) lines.push(`  retry after ${(e.retryDelayMs / 1000).toFixed(1)} s`);
  return lines;
}

const CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];
function codeName(code: number): string {
  return CODE_NAMES[code] ?? `code ${code}`;
}

export { decodeError };

/** Rows as an aligned table with a header; numbers align right. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const numeric = headers.map((_, i) => cells.length > 0 && cells.every((r) => /^-?[\d.,]+%?$|^-$/.test(r[i] ?? "")));
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...cells.map(line)].join("\n") + "\n";
}

/** "key  value" lines, aligned. */
export function fields(pairs: [string, string | number][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n") + "\n";
}

/** A request id for a mutating call: unique per invocation. */
export function requestId(prefix: string): string {
  return `cli-${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The one positional argument a command needs, or a usage error naming it. */
export function positional(ctx: Context, index: number, name: string): string {
  const v = ctx.positionals[index];
  if (!v) throw new UsageError(`missing ${name}`);
  return v;
}

/** An option that must be a whole number within bounds (the server checks its own bounds too). */
export function intOption(ctx: Context, name: string): number | undefined {
  const raw = ctx.values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== "string" || !/^\d+$/.test(raw) || !Number.isSafeInteger(n))
    throw new UsageError(`--${name} must be a whole number, not "${String(raw)}"`);
  return n;
}

/** A Timestamp (ts-proto gives Dates) for people. */
export function when(d: Date | undefined): string {
  return d ? d.toISOString().replace(/\.\d{3}Z$/, "Z") : "-";
}

/** Minor units as a decimal amount: 4500 EUR (2 digits) → "45.00". */
export function money(minor: string | number, digits: number): string {
  const n = BigInt(minor);
  if (digits === 0) return n.toString();
  const s = (n < 0n ? -n : n).toString().padStart(digits + 1, "0");
  return `${n < 0n ? "-" : ""}${s.slice(0, -digits)}.${s.slice(-digits)}`;
}
