// `ticketing`: the operator CLI (package.json "bin"; `npm run ticketing -- ...`
// in the repository). One small command table; each group in its own module.
// Exit codes: 0 done, 1 a call refused (its ErrorInfo reason and message on
// stderr) or another failure, 2 a usage error.
import { pathToFileURL } from "node:url";
import {
  COMMON_HELP,
  connectFrom,
  decodeError,
  describeRefusal,
  EXIT,
  Failure,
  parseCommandLine,
  UsageError,
  type Command,
  type Context,
} from "./common.js";
import { eventCommands } from "./events.js";
import { keyCommands } from "./keys.js";
import { orderCommands } from "./orders.js";
import { watchCommands } from "./watch.js";

export const COMMANDS: Command[] = [...eventCommands, ...orderCommands, ...keyCommands, ...watchCommands];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.args}`.trim().length));
  return [
    "Usage: ticketing COMMAND [ARGS] [OPTIONS]",
    "",
    "Runs an on-sale against the Ticketing API as an operator (scope tickets:operate).",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${`${c.name} ${c.args}`.trim().padEnd(width)}  ${c.summary}`),
    "",
    COMMON_HELP,
    "",
    "`ticketing COMMAND --help` describes one command. Exit status: 0 done, 1 refused",
    "(the reason and message on stderr) or failed, 2 a usage error.",
    "",
  ].join("\n");
}

function commandHelp(c: Command): string {
  return [
    `Usage: ticketing ${c.name} ${c.args}`.trimEnd(),
    "",
    `${c.summary}.`,
    ...(c.help ? ["", c.help] : []),
    "",
    COMMON_HELP,
    "",
  ].join("\n");
}

/** The command named by the first words of argv, and the rest. */
function find(argv: string[]): { command: Command; rest: string[] } | undefined {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(" ");
    const command = COMMANDS.find((c) => c.name === name);
    if (command) return { command, rest: argv.slice(words) };
  }
  return undefined;
}

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

export async function main(argv: string[], io: Io): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    (argv.length === 0 ? io.err : io.out)(usage());
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  const found = find(argv);
  if (!found) {
    io.err(`ticketing: unknown command "${argv.slice(0, 2).join(" ")}"\n\n${usage()}`);
    return EXIT.usage;
  }
  const { command } = found;
  let api: ReturnType<typeof connectFrom> | undefined;
  try {
    const { values, positionals } = parseCommandLine(command, found.rest);
    if (values.help) {
      io.out(commandHelp(command));
      return EXIT.ok;
    }
    if (positionals.length > (command.positionals ?? 0))
      throw new UsageError(`unexpected argument "${positionals[command.positionals ?? 0]}"`);
    const ctx: Context = {
      values,
      positionals,
      json: Boolean(values.json),
      api: () => (api ??= connectFrom(values, io.env)),
      out: io.out,
      err: io.err,
    };
    await command.run(ctx);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(
        `ticketing ${command.name}: ${err.message}\nUsage: ticketing ${command.name} ${command.args} (--help for more)\n`,
      );
      return EXIT.usage;
    }
    if (err instanceof Failure) {
      io.err([`ticketing ${command.name}: ${err.message}`, ...err.details].join("\n") + "\n");
      return EXIT.failed;
    }
    const refused = decodeError(err);
    if (refused) {
      io.err(
        describeRefusal(refused)
          .map((l, i) => (i === 0 ? `ticketing ${command.name}: ${l}` : l))
          .join("\n") + "\n",
      );
      return EXIT.failed;
    }
    io.err(`ticketing ${command.name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failed;
  } finally {
    api?.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const code = await main(process.argv.slice(2), {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    env: process.env,
  });
  process.exitCode = code;
}
