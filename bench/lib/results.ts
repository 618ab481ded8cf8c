// Where every bench writes its results (BENCH_OUT, default bench/), how a
// run's files are stamped, and reading the earlier runs back for the
// *-RESULTS.md indexes.
import fs from "node:fs";
import path from "node:path";
import { repoRoot } from "../../tools/devstack/stack.js";

export const BENCH_DIR = path.resolve(process.env.BENCH_OUT || path.join(repoRoot, "bench"));
export const RESULTS_DIR = path.join(BENCH_DIR, "results");

/** A run's stamp in its file names, e.g. 2026-11-23T16-31-43Z. */
export function resultStamp(d: Date): string {
  return d
    .toISOString()
    .replace(/\.\d+Z$/, "Z")
    .replace(/:/g, "-");
}

/** Every results/<prefix>-*.json, newest first. */
export function readRuns<T>(prefix: string): { file: string; r: T }[] {
  const name = new RegExp(`^${prefix}-.*\\.json$`);
  return fs
    .readdirSync(RESULTS_DIR)
    .filter((x) => name.test(x))
    .sort()
    .reverse()
    .map((file) => ({ file, r: JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, file), "utf8")) as T }));
}
