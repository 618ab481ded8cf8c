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

/**
 * An index's table rows, one per run: `rows` (made from `files`, the runs'
 * JSON found here, in the same order) plus the rows the index already has for
 * runs whose JSON is not here. Raw output is not committed, so a clone has
 * every run's report but not its JSON; rewriting the index there must not
 * drop the runs made elsewhere. Rows are ordered by file name (the run's
 * stamp), newest first unless `oldestFirst`.
 */
export function withEarlierRuns(
  indexFile: string,
  prefix: string,
  files: string[],
  rows: string[],
  oldestFirst = false,
): string[] {
  const all = new Map<string, string>();
  files.forEach((file, i) => all.set(file.replace(/\.json$/, ""), rows[i]!));
  if (fs.existsSync(indexFile)) {
    // A run's row links its report: (results/<prefix>-<stamp>.md).
    const report = new RegExp(`\\(results/(${prefix}-[^)/]+)\\.md\\)`);
    for (const line of fs.readFileSync(indexFile, "utf8").split("\n")) {
      const run = line.startsWith("|") ? report.exec(line)?.[1] : undefined;
      if (run && !all.has(run)) all.set(run, line);
    }
  }
  const names = [...all.keys()].sort();
  if (!oldestFirst) names.reverse();
  return names.map((name) => all.get(name)!);
}
