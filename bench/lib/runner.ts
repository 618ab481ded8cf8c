// The skeleton every bench runs in: the command line (lib/command.ts: --help,
// unknown flags refused before anything starts), a run id and stamp, a temp
// dir for logs and data, signal handlers, then the bench's own body; then the
// verdict ("wrote …", FAILED with the failures, or the error), the clean-ups
// the body registered (clients first), the teardown of every process it
// started (by PID) and the temp dir (kept on failure or BENCH_KEEP_TMP=1).
// Exit code: 0 passed, 1 failed, 2 bad command line (or knob), 130 interrupted.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureTools, repoRoot, type GoTool } from "../../tools/devstack/stack.js";
import { parseCommand, type CommandSpec, type FlagSpec, type ParsedCommand } from "./command.js";
import { resultStamp } from "./results.js";
import { installSignalHandlers, say, stopAll } from "./stack.js";
import { machineInfo, type MachineInfo } from "./sys.js";

export interface BenchSpec<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> extends CommandSpec<F> {
  /** The first letter of the run id (h, r, c, …): event ids and task queues carry it. */
  runIdPrefix: string;
  /** The temp dir's name prefix, e.g. "ticketing-bench-". */
  tmpPrefix: string;
  /** Reads the bench's knobs right after the command line; a throw is a bad command line (exit 2, its message). */
  validate?: () => void;
  /** Go tools it needs (ghz, grpcurl): built on first use, before anything starts. */
  tools?: GoTool[];
  /** Also on a signal, before the teardown (e.g. stop processes lib/stack does not know). */
  onSignal?: () => void;
  /** Installs the signal handlers (default: lib/stack's, which stop everything it started). */
  installSignals?: (onStop: () => void) => void;
  /** Stops every process the bench started, last started first (default: lib/stack's stopAll). */
  teardown?: () => Promise<void>;
}

export interface BenchRun<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> {
  started: Date;
  runId: string;
  /** The run's stamp in file names, e.g. 2026-11-23T16-31-43Z. */
  stamp: string;
  machine: MachineInfo;
  tmp: string;
  args: ParsedCommand<F>;
  /** Runs at the end, before the teardown, last registered first (close clients, stop samplers). */
  defer(fn: () => unknown): void;
}

export interface BenchOutcome {
  /** Files written (reported relative to the repo). */
  files: string[];
  /** What failed (broken invariants, missed expectations): any makes the run FAILED. */
  failures: string[];
  /** One line after "wrote": the headline. */
  headline?: string;
}

/** Parses the command line (exits on --help or a bad flag), then runs the bench and exits with its code. */
export function runBench<F extends Record<string, FlagSpec>>(
  spec: BenchSpec<F>,
  body: (run: BenchRun<F>) => Promise<BenchOutcome>,
): void {
  const args = parseCommand(spec);
  try {
    spec.validate?.();
  } catch (err) {
    say(`${spec.usage.replace(/ --$/, "")}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  }
  execute(spec, args, body).then(
    (code) => process.exit(code),
    (err: unknown) => {
      say(`bench failed: ${describe(err)}`);
      void (spec.teardown ?? stopAll)().finally(() => process.exit(1));
    },
  );
}

async function execute<F extends Record<string, FlagSpec>>(
  spec: BenchSpec<F>,
  args: ParsedCommand<F>,
  body: (run: BenchRun<F>) => Promise<BenchOutcome>,
): Promise<number> {
  if (spec.tools?.length) await ensureTools(spec.tools); // built on first use
  const started = new Date();
  const runId = `${spec.runIdPrefix}${started.getTime().toString(36)}`;
  const machine = machineInfo();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), spec.tmpPrefix));
  let keepTmp = process.env.BENCH_KEEP_TMP === "1";
  const deferred: (() => unknown)[] = [];
  (spec.installSignals ?? installSignalHandlers)(() => {
    say(`temp dir (logs): ${tmp}`);
    spec.onSignal?.();
  });
  say(
    `run ${runId}; temp dir ${tmp}; ${machine.nproc} cores (${machine.cpuModel}), load ${machine.loadAvgBefore.join(" ")}`,
  );
  const run: BenchRun<F> = {
    started,
    runId,
    stamp: resultStamp(started),
    machine,
    tmp,
    args,
    defer: (fn) => deferred.push(fn),
  };
  try {
    const out = await body(run);
    if (out.files.length) say(`wrote ${out.files.map((f) => path.relative(repoRoot, f)).join(", ")}`);
    if (out.headline) say(out.headline);
    if (out.failures.length > 0) {
      keepTmp = true;
      say(`FAILED:\n  ${out.failures.join("\n  ")}`);
      return 1;
    }
    return 0;
  } catch (err) {
    keepTmp = true;
    say(`bench failed: ${describe(err)}`);
    return 1;
  } finally {
    for (const fn of deferred.reverse()) {
      try {
        await fn();
      } catch {
        /* closing a client that is already gone */
      }
    }
    await (spec.teardown ?? stopAll)();
    if (keepTmp) say(`temp dir kept: ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
