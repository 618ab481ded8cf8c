// Runs ghz as a child process, measures its own CPU (bash `times` after it
// exits: user+sys of the reaped child), and summarises its JSON report.
//
// Requests go to ghz pre-encoded (BENCH_GHZ_DATA=binary, the default): the
// JSON array of a data file is encoded once, here, into length-delimited
// protobuf messages (--binary-file), which ghz decodes all at its start. With
// a JSON array ghz parses each distinct message into a dynamic message on its
// first use, i.e. on every call when each call has its own ids, and that
// parse runs on the same two cores as the server, costing more the bigger the
// message. A real client builds its requests with generated code; a load
// generator should not charge the server's share for its own JSON parsing.
// BENCH_GHZ_DATA=json gives ghz the JSON file as before, for comparison.
import { benchToken } from "./identity.js";
import fs from "node:fs";
import path from "node:path";
import { fromBinary, fromJson, createFileRegistry, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { sizeDelimitedEncode } from "@bufbuild/protobuf/wire";
import { repoRoot } from "../../tools/devstack/stack.js";
import { run } from "./stack.js";

export interface GhzOptions {
  ghz: string;
  protoset: string;
  call: string;
  address: string;
  dataFile: string;
  total: number;
  concurrency: number;
  connections: number;
  skipFirst?: number;
  rps?: number;
  countErrors?: boolean;
  /** ghz --cpus (GOMAXPROCS); 1 leaves the other core to the server. */
  cpus?: number;
  /** GOGC for the ghz process (higher: less GC CPU in the generator). */
  gogc?: number;
  format: "json" | "html";
  outFile: string;
}

export interface GhzSummary {
  /** Calls tallied by ghz (after --skipFirst). */
  count: number;
  /** Calls sent, including the skipped warm-up. */
  sent: number;
  /** Tallied calls over the window from the first tallied call's start to the last one's end. */
  rps: number;
  /** ghz's own figure: tallied calls over the whole run including the warm-up (understates with --skipFirst). */
  ghzRps: number;
  /** All calls sent over ghz's total duration. */
  sentRps: number;
  totalSeconds: number;
  windowSeconds: number;
  latencyMs: {
    p10?: number;
    p25?: number;
    p50?: number;
    p75?: number;
    p90?: number;
    p95?: number;
    p99?: number;
    fastest: number;
    slowest: number;
    average: number;
  };
  /** By gRPC status name as ghz prints it (OK, Aborted, Unavailable, ...), tallied calls only. */
  codes: Record<string, number>;
  /** Error messages with the variable part cut at the first ':' (e.g. "seats already taken"). */
  errorKinds: Record<string, number>;
  endReason: string;
}

export interface GhzRun {
  command: string;
  exitCode: number | null;
  wallSeconds: number;
  /** user+sys of the ghz process. */
  cpuSeconds: number;
  /** cpuSeconds / wallSeconds: share of one core. */
  cpuCores: number;
  summary?: GhzSummary;
  stderr: string;
}

function rel(p: string): string {
  const r = path.relative(repoRoot, p);
  return r.startsWith("..") ? p : r;
}

/** How request data reaches ghz (see the header). */
export type GhzDataEncoding = "binary" | "json";

export function ghzDataEncoding(env: NodeJS.ProcessEnv = process.env): GhzDataEncoding {
  const v = env.BENCH_GHZ_DATA ?? "binary";
  if (v !== "binary" && v !== "json") throw new Error(`BENCH_GHZ_DATA=${v}: binary or json`);
  return v;
}

const registries = new Map<string, ReturnType<typeof createFileRegistry>>();

function requestSchema(protoset: string, call: string): DescMessage {
  let registry = registries.get(protoset);
  if (!registry) {
    registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, fs.readFileSync(protoset)));
    registries.set(protoset, registry);
  }
  const [service, method] = call.replace(/\.(\w+)$/, "/$1").split("/");
  const svc = registry.getService(service!);
  const m = svc?.methods.find((x) => x.name === method);
  if (!m) throw new Error(`ghz: no method ${call} in ${protoset}`);
  return m.input;
}

/**
 * The data file as ghz gets it: the JSON file itself, or beside it
 * `<file>.<Method>.bin` with its messages length-delimited (written before
 * every run: it takes milliseconds, outside the measured window, and can
 * never be stale).
 */
export function ghzDataFile(
  o: Pick<GhzOptions, "protoset" | "call" | "dataFile">,
  encoding: GhzDataEncoding = ghzDataEncoding(),
): { file: string; binary: boolean } {
  if (encoding === "json") return { file: o.dataFile, binary: false };
  const schema = requestSchema(o.protoset, o.call);
  const bin = `${o.dataFile}.${schema.name}.bin`;
  const text = fs.readFileSync(o.dataFile, "utf8");
  // ghz fills template actions per call ({{.RequestNumber}}): only it can.
  if (text.includes("{{")) return { file: o.dataFile, binary: false };
  const parsed = JSON.parse(text) as JsonValue;
  const items = Array.isArray(parsed) ? parsed : [parsed];
  const chunks = items.map((item) => sizeDelimitedEncode(schema, fromJson(schema, item)));
  fs.writeFileSync(bin, Buffer.concat(chunks));
  return { file: bin, binary: true };
}

export function ghzArgs(o: GhzOptions): string[] {
  const data = ghzDataFile(o);
  return [
    "--insecure",
    // An operator's token, acting for the buyer each request names (bench/lib/identity.ts).
    "--metadata",
    JSON.stringify({ authorization: `Bearer ${benchToken}` }),
    "--protoset",
    o.protoset,
    "--call",
    o.call,
    ...(data.binary ? ["--binary-file", data.file] : ["--data-file", data.file]),
    "-n",
    String(o.total),
    "--concurrency",
    String(o.concurrency),
    "--connections",
    String(o.connections),
    ...(o.skipFirst ? ["--skipFirst", String(o.skipFirst)] : []),
    ...(o.rps ? ["--rps", String(o.rps)] : []),
    ...(o.countErrors ? ["--count-errors"] : []),
    ...(o.cpus ? ["--cpus", String(o.cpus)] : []),
    "-O",
    o.format,
    "-o",
    o.outFile,
    o.address,
  ];
}

/** `times` prints the shell's and then its children's user/sys: "0m1.234s 0m0.567s". */
function parseTimes(stderr: string): number {
  const lines = stderr
    .trim()
    .split("\n")
    .filter((l) => /^\d+m[\d.]+s \d+m[\d.]+s$/.test(l.trim()));
  const children = lines[lines.length - 1];
  if (!children) return NaN;
  let sum = 0;
  for (const m of children.matchAll(/(\d+)m([\d.]+)s/g)) sum += Number(m[1]) * 60 + Number(m[2]);
  return sum;
}

export async function runGhz(o: GhzOptions): Promise<GhzRun> {
  const args = ghzArgs(o);
  const shown = [rel(o.ghz), ...args.map((a) => (a.startsWith("/") ? rel(a) : a))];
  const command = (o.gogc ? `GOGC=${o.gogc} ` : "") + shown.map((a) => (/[\s{}"']/.test(a) ? `'${a}'` : a)).join(" ");
  const started = process.hrtime.bigint();
  const r = await run("bash", ["-c", '"$@"; rc=$?; times >&2; exit $rc', "ghz-timed", o.ghz, ...args], {
    timeoutMs: 30 * 60_000,
    env: o.gogc ? { ...process.env, GOGC: String(o.gogc) } : undefined,
  });
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuSeconds = parseTimes(r.stderr);
  const result: GhzRun = {
    command,
    exitCode: r.code,
    wallSeconds,
    cpuSeconds,
    cpuCores: cpuSeconds / wallSeconds,
    stderr: r.stderr
      .trim()
      .split("\n")
      .filter((l) => !/^\d+m[\d.]+s \d+m[\d.]+s$/.test(l.trim()))
      .join("\n"),
  };
  if (o.format === "json" && fs.existsSync(o.outFile)) {
    result.summary = summarize(JSON.parse(fs.readFileSync(o.outFile, "utf8")) as GhzJson, o.total);
  }
  return result;
}

interface GhzJson {
  count: number;
  total: number;
  average: number;
  fastest: number;
  slowest: number;
  rps: number;
  endReason: string;
  statusCodeDistribution?: Record<string, number>;
  errorDistribution?: Record<string, number>;
  latencyDistribution?: { percentage: number; latency: number }[] | null;
  details?: { timestamp: string; latency: number; error: string; status: string }[] | null;
}

/** RFC 3339 with nanoseconds -> seconds since the epoch, keeping sub-ms precision. */
function epochSeconds(ts: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return Date.parse(ts) / 1000;
  return Date.parse(`${m[1]}${m[3]}`) / 1000 + Number(m[2] ?? 0);
}

export function summarize(j: GhzJson, sent: number): GhzSummary {
  const ms = (ns: number | undefined) => (ns === undefined ? undefined : Math.round(ns / 1e4) / 100);
  const lat: GhzSummary["latencyMs"] = {
    fastest: ms(j.fastest) ?? 0,
    slowest: ms(j.slowest) ?? 0,
    average: ms(j.average) ?? 0,
  };
  for (const d of j.latencyDistribution ?? []) {
    (lat as Record<string, number | undefined>)[`p${d.percentage}`] = ms(d.latency);
  }
  let first = Infinity;
  let last = -Infinity;
  for (const d of j.details ?? []) {
    const end = epochSeconds(d.timestamp);
    const start = end - d.latency / 1e9;
    if (start < first) first = start;
    if (end > last) last = end;
  }
  const totalSeconds = j.total / 1e9;
  const windowSeconds = Number.isFinite(first) ? last - first : totalSeconds;
  const errorKinds: Record<string, number> = {};
  for (const [msg, n] of Object.entries(j.errorDistribution ?? {})) {
    const desc = /desc = (.*)$/s.exec(msg)?.[1] ?? msg;
    const code = /code = (\w+)/.exec(msg)?.[1] ?? "?";
    const kind = `${code}: ${desc.split(":")[0]!.trim().slice(0, 80)}`;
    errorKinds[kind] = (errorKinds[kind] ?? 0) + n;
  }
  return {
    count: j.count,
    sent,
    rps: j.count / windowSeconds,
    ghzRps: j.rps,
    sentRps: sent / totalSeconds,
    totalSeconds,
    windowSeconds,
    latencyMs: lat,
    codes: j.statusCodeDistribution ?? {},
    errorKinds,
    endReason: j.endReason,
  };
}
