// The codec server: lets the Temporal web UI and CLI show decrypted payloads
// to operators who hold the keys (`temporal workflow show --codec-endpoint
// http://127.0.0.1:8888`, or the UI's "Codec Server" setting). It serves
// POST /encode and POST /decode with Temporal's JSON shape,
// {"payloads": [{"metadata": {"k": "<base64>"}, "data": "<base64>"}]}.
// Run it where operators are, on loopback or behind the same access control
// as the Temporal UI: whoever reaches it reads every payload.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import type { Payload, PayloadCodec } from "@temporalio/common";
import { ConfigError, loadConfig } from "../config.js";
import { createLogger, type Logger } from "../logger.js";
import { codecKeys } from "./data-converter.js";
import { EncryptionCodec } from "./payload-codec.js";

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const MAX_BODY = 4 * 1024 * 1024;

function fromJson(p: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")])),
    data: Buffer.from(p.data ?? "", "base64"),
  };
}

function toJson(p: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString("base64")]),
    ),
    data: Buffer.from(p.data ?? new Uint8Array()).toString("base64"),
  };
}

export interface CodecServer {
  port: number;
  close(): Promise<void>;
}

export async function startCodecServer(
  codec: PayloadCodec,
  address: string,
  log: Logger,
  corsOrigin?: string,
): Promise<CodecServer> {
  const server = http.createServer((req, res) => {
    const cors: Record<string, string> = corsOrigin
      ? {
          "access-control-allow-origin": corsOrigin,
          "access-control-allow-methods": "POST, OPTIONS",
          "access-control-allow-headers": "content-type, x-namespace, authorization",
          "access-control-allow-credentials": "true",
        }
      : {};
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json", ...cors });
      res.end(JSON.stringify(body));
    };
    if (req.method === "OPTIONS") {
      res.writeHead(204, cors);
      res.end();
      return;
    }
    const op = req.url?.split("?")[0];
    if (req.method !== "POST" || (op !== "/decode" && op !== "/encode")) return answer(404, { error: "not found" });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on("end", () => {
      void (async () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as { payloads?: JsonPayload[] };
          const payloads = (body.payloads ?? []).map(fromJson);
          const out = op === "/decode" ? await codec.decode(payloads) : await codec.encode(payloads);
          log.info({ op, payloads: payloads.length, namespace: req.headers["x-namespace"] }, "codec request");
          answer(200, { payloads: out.map(toJson) });
        } catch (err) {
          log.warn({ op, err: (err as Error).message }, "codec request refused");
          answer(400, { error: (err as Error).message });
        }
      })();
    });
  });
  const [host, port] = [
    address.slice(0, address.lastIndexOf(":")),
    Number(address.slice(address.lastIndexOf(":") + 1)),
  ];
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function main(): Promise<void> {
  let config, keys;
  try {
    config = loadConfig();
    keys = codecKeys(config);
    if (!keys)
      throw new ConfigError("invalid configuration:\n  TEMPORAL_CODEC_KEYS or TEMPORAL_CODEC_KEYS_FILE: required");
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ticketing-codec-server: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL, "ticketing-codec-server");
  const server = await startCodecServer(
    new EncryptionCodec(keys),
    config.CODEC_SERVER_ADDRESS,
    log,
    config.CODEC_SERVER_CORS_ORIGIN,
  );
  log.info(
    { address: config.CODEC_SERVER_ADDRESS, port: server.port, keyIds: keys.map((k) => k.id) },
    "codec server listening",
  );
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void server.close());
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(
      `ticketing-codec-server: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  });
}
