// The *-RESULTS.md indexes are rewritten from the runs' JSON, which is not
// committed: rewriting one in a clone must keep the rows of the runs made elsewhere.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { goalRows, writeGoalLines } from "../../bench/lib/report.js";
import { withEarlierRuns } from "../../bench/lib/results.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ticketing-index-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const row = (stamp: string, note: string) => `| ${stamp} | ${note} | [md](results/holds-${stamp}.md) |`;

describe("withEarlierRuns", () => {
  it("keeps the rows of runs whose JSON is not here, replaces those whose JSON is, newest first", () => {
    const index = path.join(dir, "RESULTS.md");
    fs.writeFileSync(
      index,
      [
        "# Results",
        "",
        "| run | note | report |",
        "| --- | --- | --- |",
        row("2026-01-03", "old row"),
        row("2026-01-01", "elsewhere"),
        "",
        "[md](results/holds-2026-01-09.md) outside the table",
      ].join("\n"),
    );
    const rows = withEarlierRuns(
      index,
      "holds",
      ["holds-2026-01-03.json", "holds-2026-01-02.json"],
      [row("2026-01-03", "new row"), row("2026-01-02", "here")],
    );
    expect(rows).toEqual([row("2026-01-03", "new row"), row("2026-01-02", "here"), row("2026-01-01", "elsewhere")]);
    expect(withEarlierRuns(index, "holds", [], [], true)).toEqual([
      row("2026-01-01", "elsewhere"),
      row("2026-01-03", "old row"),
    ]);
  });

  it("ignores another bench's rows and works without an index yet", () => {
    const index = path.join(dir, "OTHER.md");
    fs.writeFileSync(index, "| 2026-01-05 | x | [md](results/rpcs-2026-01-05.md) |\n");
    expect(withEarlierRuns(index, "holds", ["holds-2026-01-06.json"], ["r"])).toEqual(["r"]);
    expect(withEarlierRuns(path.join(dir, "missing.md"), "holds", ["holds-a.json"], ["r"])).toEqual(["r"]);
  });
});

describe("writeGoalLines", () => {
  it("adds a goals block after the title, then replaces only its own goal's rows, keeping the rest of the file", () => {
    const index = path.join(dir, "GOALS.md");
    fs.writeFileSync(index, ["# Results", "", "Intro.", "", "## All runs", "", row("2026-01-01", "kept")].join("\n"));
    writeGoalLines("A", ["| A, first | 1 |"], index);
    writeGoalLines("B", ["| B, only | 2 |"], index);
    writeGoalLines("A", ["| A, again | 3 |", "| A, more | 4 |"], index);
    expect(goalRows(index)).toEqual(["| B, only | 2 |", "| A, again | 3 |", "| A, more | 4 |"]);
    const text = fs.readFileSync(index, "utf8");
    expect(text.startsWith("# Results\n\nIntro.\n")).toBe(true);
    expect(text.indexOf("<!-- /goals -->")).toBeLessThan(text.indexOf("## All runs"));
    expect(text).toContain(row("2026-01-01", "kept"));
    expect(text.match(/<!-- goals/g)).toHaveLength(1);
  });
});
