// Published event reads are a deployment's choice: behind a token by default,
// open with AUTH_PUBLIC_READS=on (and then only the reads). And the token
// command signs what the API accepts, and answers --help.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { EventServiceClient } from "../../src/gen/ticketing/v1/event_service.js";
import { repoRoot } from "../../tools/devstack/stack.js";
import { call, callError, startTestApp } from "../support/app.js";
import { bearer } from "../support/identity.js";

describe("public reads", () => {
  it("are off by default and, when on, open the event reads and nothing else", async () => {
    const closed = await startTestApp();
    const open = await startTestApp({ AUTH_PUBLIC_READS: "on" });
    const anonymous = (address: string) => new EventServiceClient(address, credentials.createInsecure());
    const [c1, c2] = [anonymous(closed.address), anonymous(open.address)];
    try {
      const page = { pageSize: 1, pageToken: "" };
      expect((await callError(c1, c1.listEvents, page)).errorInfo?.reason).toBe("TOKEN_MISSING");
      await call(c2, c2.listEvents, page);
      expect((await callError(c2, c2.getEvent, { eventId: "nope" })).errorInfo?.reason).toBe("EVENT_NOT_FOUND");
      // The operator's calls stay behind the operator scope.
      const err = await callError(c2, c2.getEventSummary, { eventId: "nope" }, new Metadata());
      expect([err.code, err.errorInfo?.reason]).toEqual([status.UNAUTHENTICATED, "TOKEN_MISSING"]);
    } finally {
      c1.close();
      c2.close();
      await closed.stop();
      await open.stop();
    }
  });
});

describe("npm run token", () => {
  const token = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "tools/token.ts", ...args], { cwd: repoRoot, encoding: "utf8" });

  it("answers --help, refuses unknown flags, and signs tokens the API accepts", async () => {
    expect(token("--help").status).toBe(0);
    expect(token("--help").stdout).toContain("--gate ID");
    const bad = token("--bogus");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--bogus");
    expect(token("--gate", "g1").status).toBe(2); // a gate needs its events

    const dir = mkdtempSync(path.join(os.tmpdir(), "ticketing-token-"));
    const signed = execFileSync(
      process.execPath,
      ["--import", "tsx", "tools/token.ts", "--operator", "ops1", "--dir", dir],
      {
        cwd: repoRoot,
        encoding: "utf8",
      },
    ).trim();
    const t = await startTestApp({ AUTH_ISSUER: "", AUTH_JWKS_FILE: "", AUTH_LOCAL_ISSUER_DIR: dir });
    try {
      const err = await callError(t.events, t.events.getEventSummary, { eventId: "nope" }, bearer(signed));
      expect(err.errorInfo?.reason).toBe("EVENT_NOT_FOUND"); // past authentication and the operator scope
    } finally {
      await t.stop();
    }
  });
});
