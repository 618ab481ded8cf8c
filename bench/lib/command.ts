// The command line of every bench script and of `simulate`/`demo`: `--help`
// prints the usage (flags, positionals and the environment knobs the command
// reads) and exits 0 before anything starts; an unknown flag or a stray
// argument exits 2 with a message. node:util parseArgs does the parsing. The
// environment knobs stay what they were; --help only lists them.
import { parseArgs } from "node:util";

export interface FlagSpec {
  type: "string" | "boolean";
  description: string;
  /** Shown in --help as the value's name, e.g. "host:port". */
  value?: string;
}

export interface CommandSpec<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> {
  /** How it is run, e.g. "npm run bench:holds". */
  usage: string;
  /** What it does, in a sentence or two. */
  about: string;
  flags?: F;
  /** Positional arguments, in order (e.g. ["scenario", "a file under bench/sim/scenarios/"]); none if absent. */
  positionals?: [name: string, description: string][];
  /** The environment knobs it reads: [name, what it does (default)]. */
  env?: [name: string, description: string][];
}

export type FlagValues<F extends Record<string, FlagSpec>> = {
  [K in keyof F]?: F[K]["type"] extends "boolean" ? boolean : string;
};

export interface ParsedCommand<F extends Record<string, FlagSpec>> {
  flags: FlagValues<F>;
  positionals: string[];
}

/** Knobs every bench that starts its own stack reads (lib/stack.ts, lib/results.ts). */
export const STACK_ENV: [string, string][] = [
  ["REDIS_URL", "use this Redis instead of starting one (its CPU figures then include other clients)"],
  ["MYSQL_URL", "use this MariaDB/MySQL instead of starting one"],
  ["TEMPORAL_ADDRESS", "use this Temporal server instead of starting one"],
  ["BENCH_OUT", "where results/ and the *-RESULTS.md go (default bench/)"],
  ["BENCH_KEEP_TMP", "1 keeps the temp dir with the logs"],
];

export function helpText(spec: CommandSpec): string {
  const pos = (spec.positionals ?? []).map(([n]) => ` [${n}]`).join("");
  const lines = [
    `Usage: ${spec.usage} [--help]${spec.flags && Object.keys(spec.flags).length ? " [flags]" : ""}${pos}`,
    "",
  ];
  lines.push(spec.about, "");
  const rows: [string, string][] = [["--help", "print this and exit"]];
  for (const [name, f] of Object.entries(spec.flags ?? {}))
    rows.push([`--${name}${f.type === "string" ? ` <${f.value ?? "value"}>` : ""}`, f.description]);
  lines.push("Flags:", ...table(rows));
  if (spec.positionals?.length) lines.push("", "Arguments:", ...table(spec.positionals));
  if (spec.env?.length) lines.push("", "Environment:", ...table(spec.env));
  return `${lines.join("\n")}\n`;
}

function table(rows: [string, string][]): string[] {
  const w = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `  ${a.padEnd(w)}  ${b}`);
}

/**
 * Parses argv (default: process.argv after the script). `--help`: prints the
 * usage to stdout and exits 0; a flag it does not know or an argument too many:
 * says so on stderr and exits 2. Either way before the caller starts anything.
 */
export function parseCommand<F extends Record<string, FlagSpec>>(
  spec: CommandSpec<F>,
  argv: string[] = process.argv.slice(2),
): ParsedCommand<F> {
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const [name, f] of Object.entries(spec.flags ?? {})) options[name] = { type: f.type };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    return usageError(spec, err instanceof Error ? err.message : String(err));
  }
  if (parsed.values.help) {
    process.stdout.write(helpText(spec));
    process.exit(0);
  }
  const max = spec.positionals?.length ?? 0;
  if (parsed.positionals.length > max)
    return usageError(
      spec,
      `unexpected argument${parsed.positionals.length - max > 1 ? "s" : ""}: ${parsed.positionals.slice(max).join(" ")}`,
    );
  const { help: _help, ...flags } = parsed.values;
  return { flags: flags as FlagValues<F>, positionals: parsed.positionals };
}

function usageError(spec: CommandSpec, message: string): never {
  process.stderr.write(`${spec.usage.replace(/ --$/, "")}: ${message}\nTry: ${spec.usage} --help\n`);
  process.exit(2);
}
