// The Go client (clients/go): its generated code is what `npm run gen:go`
// makes from proto/ today, and its example test calls a running API: reads,
// a hold, a refused hold and a bad field with their reasons, a call without
// a token refused.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { openSaleEvent } from "../support/checkout.js";
import { tokenFor } from "../support/identity.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);
const GO_PATH = `${process.env.PATH}:/usr/local/go/bin`;
// Cold: the Go module proxy fetches grpc and protobuf, and go builds them, on a busy 2-core machine.
const SLOW_MS = 10 * 60_000;
const GENERATED = "clients/go/ticketing/v1";

let t: TestApp;

beforeAll(async () => {
  await run("bash", ["tools/devstack/install-tools.sh", "protoc-gen-go", "protoc-gen-go-grpc"], {
    cwd: root,
    timeout: SLOW_MS,
  });
  t = await startTestApp();
}, SLOW_MS);
afterAll(() => t?.stop());

describe("the Go client", () => {
  it(
    "is generated from proto/ as it is now",
    async () => {
      const out = mkdtempSync(path.join(os.tmpdir(), "ticketing-gen-go-"));
      try {
        await run(path.join(root, "node_modules/.bin/buf"), ["generate", "--template", "buf.gen.go.yaml", "-o", out], {
          cwd: root,
          timeout: 120_000,
        });
        const fresh = readdirSync(path.join(out, GENERATED)).sort();
        expect(readdirSync(path.join(root, GENERATED)).sort()).toEqual(fresh);
        for (const file of fresh) {
          expect(readFileSync(path.join(root, GENERATED, file), "utf8"), `${file}: run npm run gen:go`).toBe(
            readFileSync(path.join(out, GENERATED, file), "utf8"),
          );
        }
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
    SLOW_MS,
  );

  it(
    "calls a running API from its example test",
    async () => {
      const eventId = await openSaleEvent(t);
      const { stdout } = await run("go", ["test", "-count=1", "-v", "./..."], {
        cwd: path.join(root, "clients/go"),
        timeout: SLOW_MS,
        env: {
          ...process.env,
          PATH: GO_PATH,
          TICKETING_ADDRESS: t.address,
          TICKETING_TOKEN: tokenFor({ operator: "go-client-test" }),
          TICKETING_EVENT: eventId,
        },
      });
      expect(stdout).toContain("--- PASS: TestCallsARunningServer");
      expect(stdout).not.toContain("--- FAIL");
    },
    SLOW_MS,
  );
});
