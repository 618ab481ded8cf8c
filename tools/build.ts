// `npm run build`: compiles src/ and workflows/ into dist/, copies beside the
// compiled code the files it reads at run time, and bundles the workflows once,
// so `node dist/src/main.js` and `node dist/src/worker.js` run with production
// dependencies only. dist/ mirrors the source tree, so every module finds its
// files at the same path relative to itself (new URL(..., import.meta.url))
// whether it runs from src/ under tsx or from dist/.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bundleWorkflowCode } from "@temporalio/worker";
import { TRACING_WORKFLOW_INTERCEPTORS, WORKFLOW_BUNDLES, WORKFLOWS_PATH } from "../src/workflow-code.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const dist = path.join(root, "dist");

/** Files read at run time, from the repository root to the same place under dist/. */
const ASSETS = ["lua", "src/adapters/mysql/migrations", "src/gen/descriptors.binpb"];

const t0 = Date.now();
const log = (msg: string) => process.stderr.write(`[build] ${msg} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);

// A file left from an earlier build (a deleted module) must not ship.
rmSync(dist, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [createRequire(import.meta.url).resolve("typescript/bin/tsc"), "-p", "tsconfig.build.json"],
  {
    cwd: root,
    stdio: "inherit",
  },
);
log("compiled");

for (const asset of ASSETS) cpSync(path.join(root, asset), path.join(dist, asset), { recursive: true });
log(`copied ${ASSETS.join(", ")}`);

// Quiet webpack: its info lines say nothing a failure would not.
const logger = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (message: string) => log(`bundler: ${message}`),
  error: (message: string) => log(`bundler: ${message}`),
  log: () => {},
};
for (const [kind, relative] of Object.entries(WORKFLOW_BUNDLES)) {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: kind === "traced" ? [TRACING_WORKFLOW_INTERCEPTORS] : [],
    logger,
  });
  const file = path.join(dist, relative);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, code);
  log(`bundled the workflows into dist/${relative} (${(code.length / 1024).toFixed(0)} KiB)`);
}
