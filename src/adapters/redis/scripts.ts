// Loads the Lua scripts in lua/ once, resolving `--@include <name>` lines
// from lua/includes/, and calls them by SHA (ioredis defineCommand sends
// EVALSHA and falls back to EVAL once if the server lost the script).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { inSpan, tracerInTrace } from "../../observability/tracing.js";
import type { RedisClient } from "./client.js";

const LUA_DIR = fileURLToPath(new URL("../../../lua/", import.meta.url));

export const SCRIPT_NAMES = [
  "hold_seats",
  "hold_quantity",
  "hold_best_available",
  "release_hold",
  "extend_hold",
  "seat_map",
  "load_inventory",
  "set_sale_state",
  "pin_hold",
  "sell_hold",
  "unsell_hold",
  "queue_join",
  "queue_position",
  "queue_watch",
  "queue_leave",
  "queue_step",
  "bench_one_script",
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

/** Script source with its includes pasted in. */
export function scriptSource(name: string): string {
  const source = readFileSync(`${LUA_DIR}${name}.lua`, "utf8");
  return source.replace(/^--@include (\w+)\s*$/gm, (_, include: string) =>
    readFileSync(`${LUA_DIR}includes/${include}.lua`, "utf8"),
  );
}

export type ScriptReply = (string | ScriptReply)[];

/** Runs the named scripts with explicit KEYS and ARGV. */
export class Scripts {
  constructor(private readonly redis: RedisClient) {
    for (const name of SCRIPT_NAMES) {
      if (!(name in redis)) redis.defineCommand(name, { lua: scriptSource(name) });
    }
  }

  async run(name: ScriptName, keys: string[], args: (string | number)[]): Promise<ScriptReply> {
    const command = (this.redis as unknown as Record<ScriptName, (...a: (string | number)[]) => Promise<ScriptReply>>)[
      name
    ];
    const tracer = tracerInTrace();
    if (!tracer) return command.call(this.redis, keys.length, ...keys, ...args);
    return inSpan(
      tracer,
      `EVALSHA ${name}`,
      { "db.system": "redis", "db.operation.name": "EVALSHA", "db.redis.script": name },
      () => command.call(this.redis, keys.length, ...keys, ...args),
    );
  }
}
