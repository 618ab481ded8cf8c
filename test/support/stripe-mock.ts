// stripe-mock (Stripe's official mock of its API, a pinned Go tool) on a free
// port, behind a small recording proxy. stripe-mock checks every request
// against Stripe's OpenAPI spec and answers with canned fixtures; it keeps no
// state, so it cannot decline a card or lose an answer. The proxy records each
// request (method, path, headers, form body) and, where a test asks, answers
// in Stripe's place (a card error, a 429, a 500), rewrites stripe-mock's answer
// (the intent's status), or drops the connection after stripe-mock answered (a
// lost response).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { repoRoot } from "../../tools/devstack/stack.js";

export const stripeMockBinary = path.join(repoRoot, ".tools", "bin", "stripe-mock");

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  form: URLSearchParams;
}

export interface Rule {
  method?: string;
  /** Matches the path (without the query). */
  path: RegExp;
  /** Answer in Stripe's place, without asking stripe-mock. */
  respond?: { status: number; body: unknown; headers?: Record<string, string> };
  /** Change stripe-mock's JSON answer. */
  rewrite?: (body: Record<string, unknown>) => Record<string, unknown>;
  /** Let stripe-mock act, then drop the connection: the caller never sees the answer. */
  dropResponse?: boolean;
  /** Hold the request until this settles, then act (e.g. to kill the worker while calls are in flight). */
  waitFor?: Promise<unknown>;
  /** How many requests this rule applies to (default: all). */
  times?: number;
}

export interface StripeMock {
  /** The proxy's base URL (what the adapter calls). */
  url: string;
  requests: RecordedRequest[];
  /** Rules apply in order; the first that matches (and has uses left) wins. */
  rules: Rule[];
  stop(): Promise<void>;
}

/** Builds stripe-mock with the other pinned tools when it is missing (a fresh clone under `npm test`). */
function ensureBinary(): void {
  if (fs.existsSync(stripeMockBinary)) return;
  const r = spawnSync("bash", [path.join(repoRoot, "tools", "devstack", "install-tools.sh"), "stripe-mock"], {
    stdio: "inherit",
  });
  if (r.status !== 0 || !fs.existsSync(stripeMockBinary)) {
    throw new Error(`stripe-mock is missing at ${stripeMockBinary} and install-tools.sh failed (exit ${r.status})`);
  }
}

function startServer(): Promise<{ child: ChildProcess; port: number }> {
  ensureBinary();
  const child = spawn(stripeMockBinary, ["-http-addr", "127.0.0.1:"], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (b: Buffer) => {
      out += b.toString();
      const m = /Listening for HTTP at address: \S*:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`stripe-mock exited (${code}): ${out}`)));
    child.once("error", reject);
  });
}

export async function startStripeMock(): Promise<StripeMock> {
  const { child, port } = await startServer();
  const requests: RecordedRequest[] = [];
  const rules: Rule[] = [];
  const uses = new Map<Rule, number>();

  const proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const pathname = (req.url ?? "").split("?")[0]!;
      requests.push({
        method: req.method ?? "",
        path: pathname,
        headers: req.headers,
        form: new URLSearchParams(body.toString()),
      });
      const rule = rules.find(
        (r) =>
          (!r.method || r.method === req.method) &&
          r.path.test(pathname) &&
          (r.times === undefined || (uses.get(r) ?? 0) < r.times),
      );
      if (rule) uses.set(rule, (uses.get(rule) ?? 0) + 1);
      if (rule?.respond) {
        res.writeHead(rule.respond.status, { "content-type": "application/json", ...rule.respond.headers });
        res.end(JSON.stringify(rule.respond.body));
        return;
      }
      const forward = () => {
        const upstream = http.request(
          { host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers },
          (up) => {
            const parts: Buffer[] = [];
            up.on("data", (c: Buffer) => parts.push(c));
            up.on("end", () => {
              if (rule?.dropResponse) {
                res.socket?.destroy();
                return;
              }
              let text = Buffer.concat(parts).toString();
              if (rule?.rewrite) text = JSON.stringify(rule.rewrite(JSON.parse(text) as Record<string, unknown>));
              const headers = { ...up.headers };
              delete headers["content-length"];
              res.writeHead(up.statusCode ?? 502, headers);
              res.end(text);
            });
          },
        );
        upstream.on("error", () => res.socket?.destroy());
        upstream.end(body);
      };
      if (rule?.waitFor) void rule.waitFor.finally(forward);
      else forward();
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const proxyPort = (proxy.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${proxyPort}`,
    requests,
    rules,
    async stop() {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

/** A Stripe error answer, as Stripe shapes it. */
export function stripeError(status: number, error: Record<string, unknown>): Rule["respond"] {
  return { status, body: { error } };
}
