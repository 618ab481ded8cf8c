// The build runs without the dev toolchain: `npm run build`, then the compiled
// API and worker started with plain `node` (no tsx, no sources) against the
// test stack complete a purchase; and the compiled code imports production
// dependencies only, the API none of the Temporal worker's.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventServiceClient } from "../../src/gen/ticketing/v1/event_service.js";
import { OrderServiceClient, OrderState } from "../../src/gen/ticketing/v1/order_service.js";
import { ReservationServiceClient } from "../../src/gen/ticketing/v1/reservation_service.js";
import { call, uid } from "../support/app.js";
import { freshMysqlDatabase, testEnv, type FreshDatabase } from "../support/env.js";
import { authEnv, authInterceptor, operatorMetadata } from "../support/identity.js";
import { oneRowEvent } from "../support/events.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const dist = path.join(root, "dist");
const BUILD_TIMEOUT_MS = 15 * 60_000; // tsc takes minutes on a busy 2-core machine

let db: FreshDatabase | undefined;
const children: ChildProcess[] = [];

beforeAll(async () => {
  await promisify(execFile)("npm", ["run", "-s", "build"], { cwd: root, timeout: BUILD_TIMEOUT_MS });
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await db?.drop();
});

// ---------------------------------------------------------------------------
// What the compiled code imports.

// Import and export declarations start a line in tsc's output; dynamic imports with a literal may be anywhere.
const IMPORT = /^(?:import|export)\s*(?:[\w*{}\s,$]+?\sfrom\s*)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/gm;

/** Package names a compiled module reaches through its static and literal dynamic imports. */
function packagesReached(...entries: string[]): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const todo = entries.map((e) => path.join(dist, e));
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith(".")) todo.push(path.resolve(path.dirname(file), spec));
      else if (!spec.startsWith("node:") && !builtinModules.includes(spec)) {
        const parts = spec.split("/");
        packages.add(spec.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!);
      }
    }
  }
  return packages;
}

/** Where Node finds package `name` for code in `dir` (its node_modules, then each parent's). */
function packageDir(name: string, dir: string): string | undefined {
  const top = path.resolve(root);
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const candidate = path.join(d, "node_modules", name);
    if (existsSync(path.join(candidate, "package.json"))) return candidate;
    if (d === top || d === path.dirname(d)) return undefined;
  }
}

/** The names of every package installed to satisfy the given ones (their dependencies, transitively). */
function installClosure(names: string[]): Set<string> {
  const closure = new Set<string>();
  const visited = new Set<string>();
  const todo = names.map((name) => ({ name, from: root, optional: false }));
  while (todo.length > 0) {
    const { name, from, optional } = todo.pop()!;
    const dir = packageDir(name, from);
    // Optional dependencies for other platforms (native binaries) are not installed here.
    if (!dir && optional) continue;
    if (!dir) throw new Error(`${name} (needed from ${from}) is not installed`);
    closure.add(name);
    if (visited.has(dir)) continue;
    visited.add(dir);
    const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(manifest.dependencies ?? {})) todo.push({ name: dep, from: dir, optional: false });
    for (const dep of Object.keys(manifest.optionalDependencies ?? {})) {
      todo.push({ name: dep, from: dir, optional: true });
    }
  }
  return closure;
}

const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
};

describe("npm run build", () => {
  it("puts the run-time files and the workflow bundles beside the compiled code", () => {
    for (const f of [
      "src/main.js",
      "src/worker.js",
      "src/signing/sign-worker.js",
      "src/gen/descriptors.binpb",
      "src/adapters/mysql/migrations/001_initial.sql",
      "lua/hold_seats.lua",
      "lua/includes/common.lua",
      "workflows/bundle.js",
      "workflows/bundle-traced.js",
    ]) {
      expect(existsSync(path.join(dist, f)), f).toBe(true);
    }
    // Tracing's workflow interceptors are in the bundle for tracing on, and only there.
    const interceptor = "class OpenTelemetryInboundInterceptor";
    expect(readFileSync(path.join(dist, "workflows/bundle-traced.js"), "utf8")).toContain(interceptor);
    expect(readFileSync(path.join(dist, "workflows/bundle.js"), "utf8")).not.toContain(interceptor);
  });

  it("compiles code that imports production dependencies only, and an API that imports nothing of the worker's", () => {
    const api = packagesReached("src/main.js", "src/signing/sign-worker.js");
    const worker = packagesReached("src/worker.js", "src/signing/sign-worker.js");
    // The walk found the imports (a regex that matched nothing would pass the rest).
    expect(api).toContain("@grpc/grpc-js");
    expect(api).toContain("@temporalio/client");
    expect(worker).toContain("@temporalio/worker");
    for (const name of new Set([...api, ...worker])) expect(Object.keys(pkg.dependencies), name).toContain(name);
    expect(api).not.toContain("@temporalio/worker");
    // The API image drops @temporalio/worker from the dependencies (Dockerfile):
    // what remains must not bring the native bridge back.
    const apiInstall = installClosure(Object.keys(pkg.dependencies).filter((d) => d !== "@temporalio/worker"));
    expect(apiInstall).toContain("@temporalio/client");
    expect(apiInstall).not.toContain("@temporalio/core-bridge");
    expect(apiInstall).not.toContain("@temporalio/worker");
  });

  it(
    "runs: the compiled API and worker under plain node sell a seat",
    async () => {
      const stack = testEnv();
      db = await freshMysqlDatabase("ship_build");
      const taskQueue = uid("ship");
      // Only what the processes need: no NODE_OPTIONS (tsx) or anything else of vitest's.
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? "",
        REDIS_URL: stack.redisUrl,
        ...(stack.redisClusterNodes
          ? { REDIS_CLUSTER_NODES: stack.redisClusterNodes.map((n) => `${n.host}:${n.port}`).join(",") }
          : {}),
        MYSQL_URL: db.url,
        TEMPORAL_ADDRESS: stack.temporalAddress,
        TEMPORAL_TASK_QUEUE: taskQueue,
        // Tokens from the test issuer (test/support/identity.ts), verified through its JWKS file.
        ...authEnv(),
        LOG_LEVEL: "info",
        METRICS_ADDRESS: "off",
        WORKER_METRICS_ADDRESS: "off",
        TEMPORAL_METRICS_ADDRESS: "off",
        PAYMENT_SIM_LATENCY_MS: "5",
        // Not what this test checks; a niced worker on a busy machine only slows it.
        WORKER_NICE: "0",
      };
      const api = await startCompiled("src/main.js", { ...env, GRPC_ADDRESS: "127.0.0.1:0" }, "ticketing api serving");
      const worker = await startCompiled("src/worker.js", env, "ticketing worker running");
      // The worker runs the build's bundle, not the sources.
      expect(worker.line.workflows).toBe(path.join(dist, "workflows/bundle.js"));
      expect(api.process.spawnargs.slice(1)).toEqual([path.join(dist, "src/main.js")]);

      const address = `127.0.0.1:${String(api.line.grpcPort)}`;
      const insecure = credentials.createInsecure();
      // Calls without a token of their own get their buyer's, or else an operator's.
      const options = { interceptors: [authInterceptor] };
      const events = new EventServiceClient(address, insecure, options);
      const reservations = new ReservationServiceClient(address, insecure, options);
      const orders = new OrderServiceClient(address, insecure, options);
      try {
        const operator = operatorMetadata();
        const eventId = uid("ev");
        await call(
          events,
          events.createEvent,
          {
            requestId: uid("create"),
            event: oneRowEvent(eventId, { name: "Built night", priceMinor: "4500" }),
          },
          operator,
        );
        await call(events, events.openSale, { eventId, requestId: uid("open") }, operator);
        const { hold } = await call(reservations, reservations.holdSeats, {
          eventId,
          buyerId: uid("buyer"),
          admissionToken: "",
          requestId: uid("r"),
          selection: { $case: "seats", value: { seatIds: ["A-1-2", "A-1-3"] } },
        });
        const { order } = await call(orders, orders.createOrder, {
          eventId,
          holdId: hold!.holdId,
          holdIds: [],
          buyerId: hold!.buyerId,
          idempotencyKey: uid("k"),
          payment: { paymentMethodToken: "tok_approve" },
        });
        let state = order!.state;
        const deadline = Date.now() + 60_000;
        while (state === OrderState.ORDER_STATE_PENDING_PAYMENT && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 200));
          state = (await call(orders, orders.getOrder, { orderId: order!.orderId })).order!.state;
        }
        expect(state).toBe(OrderState.ORDER_STATE_CONFIRMED);
        // Sold in Redis through the compiled Lua path, and ticketed (signed codes) by the compiled worker.
        const map = await call(events, events.getSeatMap, { eventId });
        expect(map.sections.find((s) => s.sectionId === "A")!.rows[0]!.states).toBe("FSSF");
        const confirmed = (await call(orders, orders.getOrder, { orderId: order!.orderId })).order!;
        expect(confirmed.tickets.map((t) => t.seatId).sort()).toEqual(["A-1-2", "A-1-3"]);
        for (const t of confirmed.tickets) expect(t.code.length).toBeGreaterThan(20);
      } finally {
        for (const c of [events, reservations, orders]) c.close();
      }
      // Both stop cleanly on SIGTERM.
      for (const p of [api.process, worker.process]) {
        const exited = new Promise<number | null>((resolve) => p.once("exit", (code) => resolve(code)));
        p.kill("SIGTERM");
        expect(await exited).toBe(0);
      }
    },
    3 * 60_000,
  );
});

interface Started {
  process: ChildProcess;
  /** The JSON log line that said the process is ready. */
  line: Record<string, unknown>;
}

/** Starts dist/<entry> with plain node; resolves on the log line with `readyMsg`. */
function startCompiled(entry: string, env: Record<string, string>, readyMsg: string): Promise<Started> {
  const child = spawn(process.execPath, [path.join(dist, entry)], {
    cwd: dist,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (d: Buffer) => {
      out += d.toString();
      for (const text of out.split("\n")) {
        if (!text.includes(readyMsg)) continue;
        resolve({ process: child, line: JSON.parse(text) as Record<string, unknown> });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${entry} exited with ${code} before ready:\n${out.slice(-3000)}`)));
  });
}
