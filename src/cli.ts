// Command lines of the entry points (serve, worker, start). They take no
// options besides --help: everything else is configured through environment
// variables. --help prints the usage and exits 0 before anything starts; an
// unknown option or argument exits 2 with a message.
import { parseArgs } from "node:util";
import { CONFIG_VARIABLES } from "./config.js";

export interface CommandHelp {
  /** The program name in messages, e.g. `ticketing-api`. */
  name: string;
  /** Usage lines, e.g. `npm run serve [-- --help]`. */
  usage: string[];
  /** What the command does, in a few lines. */
  description: string;
  /** Environment variables it reads beyond the service's configuration, with their meaning. */
  extraVariables?: [string, string][];
}

export type CommandLine = { action: "run" } | { action: "help"; text: string } | { action: "error"; message: string };

/** Reads argv (no side effects): run, show help, or refuse. */
export function readCommandLine(argv: string[], help: CommandHelp): CommandLine {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    });
    return values.help ? { action: "help", text: helpText(help) } : { action: "run" };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { action: "error", message: `${help.name}: ${reason}\nUsage: ${help.usage[0]} (--help for more)\n` };
  }
}

/** For an entry point: prints help and exits 0, or prints the error and exits 2; returns when it should run. */
export function handleCommandLine(help: CommandHelp, argv = process.argv.slice(2)): void {
  const line = readCommandLine(argv, help);
  if (line.action === "help") {
    process.stdout.write(line.text);
    process.exit(0);
  }
  if (line.action === "error") {
    process.stderr.write(line.message);
    process.exit(2);
  }
}

function helpText(help: CommandHelp): string {
  const L = [`Usage: ${help.usage[0]}`, ...help.usage.slice(1).map((u) => `       ${u}`), "", help.description, ""];
  if (help.extraVariables?.length) {
    L.push("Environment it reads itself:");
    const width = Math.max(...help.extraVariables.map(([n]) => n.length));
    for (const [name, meaning] of help.extraVariables) L.push(`  ${name.padEnd(width)}  ${meaning}`);
    L.push("");
  }
  L.push(
    "Configuration: environment variables, validated at start (a bad one stops the",
    'process with a message naming it); README.md, "Configuration", gives each one\'s',
    "default and meaning:",
    ...wrap(CONFIG_VARIABLES.join(", "), 78).map((l) => `  ${l}`),
    "",
    "Options:",
    "  -h, --help  print this and exit",
    "",
  );
  return L.join("\n");
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}
