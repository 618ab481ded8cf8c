#!/usr/bin/env node
/* global process, URL */
// The `ticketing` command (package.json "bin"): the operator CLI in
// tools/cli/, run under tsx. @ticketing/client's copied stubs are build
// output (git-ignored): they are written first when missing or older than
// the server's generated code.
import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

const root = fileURLToPath(new URL("../", import.meta.url));
const stubs = `${root}clients/typescript/src/gen/ticketing/v1/event_service.ts`;
const server = `${root}src/gen/ticketing/v1/event_service.ts`;
if (!existsSync(stubs) || statSync(stubs).mtimeMs < statSync(server).mtimeMs) {
  execFileSync(process.execPath, ["--import", "tsx", `${root}tools/build-client.ts`, "--sources"], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
}
register();
const { main } = await import("../tools/cli/main.ts");
process.exitCode = await main(process.argv.slice(2), {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  env: process.env,
});
