// Determinism: today's workflow code must replay the recorded histories of
// checkouts run by earlier code (test/temporal/histories/, recorded by
// record-histories.vitest.ts). A change that breaks this needs versioning
// (patched()) before it ships, or running checkouts would fail.
import { readdirSync, readFileSync } from "node:fs";
import { Worker } from "@temporalio/worker";
import { describe, expect, it } from "vitest";
import { WORKFLOWS_PATH } from "../../src/workflow-code.js";

const DIR = new URL("./histories/", import.meta.url);

describe("workflow replay", () => {
  it("replays every recorded checkout history without a determinism error", async () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith(".json"));
    expect(files.length).toBeGreaterThanOrEqual(3);
    const histories = files.map((f) => ({
      workflowId: f.replace(/\.json$/, ""),
      history: JSON.parse(readFileSync(new URL(f, DIR), "utf8")) as unknown,
    }));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowsPath: WORKFLOWS_PATH }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${String(result.error)}`);
    }
    expect(failures).toEqual([]);
  });
});
