// Where the worker gets its workflow code. Compiled (`node dist/src/worker.js`):
// the bundles `npm run build` made once with bundleWorkflowCode, so a
// production start runs no webpack. Under tsx (dev, tests): the sources,
// bundled by the worker as it starts.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import type { WorkerInterceptors, WorkerOptions } from "@temporalio/worker";

/** The workflows' entry module in the sources. */
export const WORKFLOWS_PATH = fileURLToPath(new URL("../workflows/index.ts", import.meta.url));

/** Temporal's OpenTelemetry workflow interceptors: part of the workflow code only when tracing is on. */
export const TRACING_WORKFLOW_INTERCEPTORS = createRequire(import.meta.url).resolve(
  "@temporalio/interceptors-opentelemetry/lib/workflow-interceptors",
);

/**
 * The bundles, relative to dist/: a bundle's workflow interceptors are fixed
 * when it is built, so tracing on and off each have one.
 */
export const WORKFLOW_BUNDLES = { plain: "workflows/bundle.js", traced: "workflows/bundle-traced.js" } as const;

/** True when this module runs compiled from dist/ rather than as TypeScript under tsx. */
export const COMPILED = extname(fileURLToPath(import.meta.url)) === ".js";

/**
 * Worker.create's workflow code options for the worker's interceptors:
 * compiled, the prebuilt bundle (the interceptors' workflow modules are in it,
 * so they leave the options); otherwise the sources.
 */
export function workflowCode(
  interceptors: WorkerInterceptors,
): Pick<WorkerOptions, "workflowsPath" | "workflowBundle" | "interceptors"> {
  if (!COMPILED) return { workflowsPath: WORKFLOWS_PATH, interceptors };
  const modules = interceptors.workflowModules ?? [];
  const unknown = modules.filter((m) => m !== TRACING_WORKFLOW_INTERCEPTORS);
  if (unknown.length > 0) {
    throw new Error(`workflow interceptor modules ${unknown.join(", ")} are in no prebuilt workflow bundle`);
  }
  const relative = modules.length > 0 ? WORKFLOW_BUNDLES.traced : WORKFLOW_BUNDLES.plain;
  const codePath = fileURLToPath(new URL(`../${relative}`, import.meta.url));
  if (!existsSync(codePath)) throw new Error(`${codePath} is missing: build with \`npm run build\``);
  return { workflowBundle: { codePath }, interceptors: { ...interceptors, workflowModules: [] } };
}
