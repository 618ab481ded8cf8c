// Every Lua script in lua/, as typed functions by family: holds, the waiting
// room (queue) and the live inventory. A use case calls a family's function
// with named inputs and reads a decoded reply; the families alone know KEYS
// and reply layouts, and script-errors.ts alone turns refusals into errors.
import { BENCH_EVAL_KEY } from "./keys.js";
import type { RedisClient } from "./client.js";
import { HoldScripts } from "./hold-scripts.js";
import { InventoryScripts } from "./inventory-scripts.js";
import { QueueScripts } from "./queue-scripts.js";
import { RedisScriptRunner, type ScriptRunner } from "./runner.js";

// bench/lib reads the sources from here (and bench/run-at-commit.sh runs today's bench/lib on older commits).
export { scriptSource } from "./runner.js";

export class Scripts {
  private readonly runner: ScriptRunner;
  readonly holds: HoldScripts;
  readonly queue: QueueScripts;
  readonly inventory: InventoryScripts;

  constructor(redis: RedisClient);
  /** With a runner of one's own (tests wrap the Redis one). */
  constructor(runner: ScriptRunner);
  constructor(redisOrRunner: RedisClient | ScriptRunner) {
    this.runner = "run" in redisOrRunner ? redisOrRunner : new RedisScriptRunner(redisOrRunner);
    this.holds = new HoldScripts(this.runner);
    this.queue = new QueueScripts(this.runner);
    this.inventory = new InventoryScripts(this.runner);
  }

  /** lua/bench_one_script.lua: the benchmark's one-script baseline (NoopService.Eval); the counter's new value. */
  benchOneScript(): Promise<number> {
    return this.runner.run<number>("bench_one_script", [1, BENCH_EVAL_KEY]);
  }
}
