// Builds @ticketing/client (clients/typescript): copies the generated stubs of the public API
// (ticketing.v1 and the google.protobuf / google.rpc messages they use) from
// the server's src/gen and the seat plan's computation from src/events/geometry.ts, writes the error reasons as a string union from the
// server's catalogue (src/domain/errors.ts), then compiles src/ to dist/.
// The copies are build output (git-ignored): `npm run gen` at the repository
// root stays the one place code is generated.
//   npm run client:build     sources, then tsc → clients/typescript/dist/ (also the package's prepack)
//   npm run client:sources   sources only (lint needs them)
import { execFileSync } from "node:child_process";
import { cpSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Reasons } from "../src/domain/errors.js";

const USAGE = `Usage: npm run client:build [-- --help]
       npm run client:sources

Builds @ticketing/client (clients/typescript): the stubs copied from src/gen,
src/reasons.ts written from the error catalogue, then compiled to dist/.
  --sources   copy the stubs and write src/reasons.ts only (no compile)
  -h, --help  print this and exit
`;
let values: { sources?: boolean; help?: boolean };
try {
  ({ values } = parseArgs({ options: { sources: { type: "boolean" }, help: { type: "boolean", short: "h" } } }));
} catch (err) {
  process.stderr.write(`build-client: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const root = fileURLToPath(new URL("../", import.meta.url));
const here = path.join(root, "clients/typescript");
const serverGen = path.join(root, "src/gen");
const gen = path.join(here, "src/gen");

rmSync(gen, { recursive: true, force: true });
for (const dir of ["ticketing/v1", "google/protobuf", "google/rpc"]) {
  cpSync(path.join(serverGen, dir), path.join(gen, dir), { recursive: true });
}
// The seat plan's computation, the server's own (it imports nothing): where each seat is drawn.
cpSync(path.join(root, "src/events/geometry.ts"), path.join(here, "src/geometry.ts"));
const reasons = Object.keys(Reasons);
writeFileSync(
  path.join(here, "src/reasons.ts"),
  [
    "// Written by tools/build-client.ts from the server's error catalogue (src/domain/errors.ts): do not edit.",
    "/** Every google.rpc.ErrorInfo reason the API answers with (domain ticketing). */",
    `export const REASONS = [\n${reasons.map((r) => `  "${r}",`).join("\n")}\n] as const;`,
    "",
    "export type Reason = (typeof REASONS)[number];",
    "",
  ].join("\n"),
);
if (values.sources) process.exit(0);

rmSync(path.join(here, "dist"), { recursive: true, force: true });
execFileSync(process.execPath, [createRequire(import.meta.url).resolve("typescript/bin/tsc"), "-p", "tsconfig.json"], {
  cwd: here,
  stdio: "inherit",
});
process.stderr.write(`[@ticketing/client] built dist/ (${reasons.length} reasons)\n`);
