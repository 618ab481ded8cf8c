// Loads the Lua scripts in lua/ once, resolving `--@include <name>` lines
// from lua/includes/, and calls them by SHA (ioredis defineCommand sends
// EVALSHA and falls back to EVAL once if the server lost the script). Only
// the script families (hold-scripts.ts, queue-scripts.ts, inventory-scripts.ts,
// scripts.ts) call run(): they alone know each script's KEYS and reply.
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
  "pin_hold",
  "sell_hold",
  "unsell_hold",
  "repair_seats",
  "seat_map",
  "load_inventory",
  "set_sale_state",
  "set_waiting_room",
  "queue_join",
  "queue_position",
  "queue_poll",
  "queue_watch",
  "queue_leave",
  "queue_step",
  "set_admission_rate",
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

/** A script's reply when it returns a table: Lua strings, integers and tables. */
export type ScriptReply = (string | number | ScriptReply)[];

/** EVALSHA's arguments after the SHA: the KEYS count, the KEYS, then ARGV. */
export type ScriptArgv = (string | number)[];

export interface ScriptRunner {
  /** `R`: the reply's shape as the script's header gives it (a table unless it returns one value). */
  run<R = ScriptReply>(name: ScriptName, argv: ScriptArgv): Promise<R>;
}

/** Runs the scripts on a Redis or a Redis Cluster. */
export class RedisScriptRunner implements ScriptRunner {
  constructor(private readonly redis: RedisClient) {
    for (const name of SCRIPT_NAMES) {
      if (!(name in redis)) redis.defineCommand(name, { lua: scriptSource(name) });
    }
  }

  // Not async: the caller's one `.then` decodes the reply, so a script call
  // costs the hold path no promise beyond ioredis's own.
  run<R = ScriptReply>(name: ScriptName, argv: ScriptArgv): Promise<R> {
    const command = (this.redis as unknown as Record<ScriptName, (...argv: ScriptArgv) => Promise<R>>)[name];
    const tracer = tracerInTrace();
    if (!tracer) return command.apply(this.redis, argv);
    return inSpan(
      tracer,
      `EVALSHA ${name}`,
      { "db.system": "redis", "db.operation.name": "EVALSHA", "db.redis.script": name },
      () => command.apply(this.redis, argv),
    );
  }
}
