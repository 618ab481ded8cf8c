// The AES-GCM payload codec: key rotation (decode accepts old ids, encode uses
// the newest), tampering refused, plain payloads passed through; and the codec
// server's /decode and /encode in Temporal's JSON shape.
import { randomBytes } from "node:crypto";
import type { Payload } from "@temporalio/common";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { startCodecServer, type CodecServer } from "../../src/temporal/codec-server.js";
import { EncryptionCodec, parseCodecKeys } from "../../src/temporal/payload-codec.js";

const key = () => randomBytes(32).toString("base64");
const OLD = `k1:${key()}`;
const NEW = `k2:${key()}`;
const json = (value: unknown): Payload => ({
  metadata: { encoding: new TextEncoder().encode("json/plain") },
  data: new TextEncoder().encode(JSON.stringify(value)),
});
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString();

describe("EncryptionCodec", () => {
  it("seals with the newest key; a codec that also holds the old key opens both; the old one alone does not open the new", async () => {
    const before = new EncryptionCodec(parseCodecKeys(OLD));
    const after = new EncryptionCodec(parseCodecKeys(`${OLD},${NEW}`));
    const [sealedOld] = await before.encode([json({ token: "tok_secret" })]);
    const [sealedNew] = await after.encode([json({ token: "tok_secret" })]);
    expect(text(sealedOld!.metadata!["encryption-key-id"])).toBe("k1");
    expect(text(sealedNew!.metadata!["encryption-key-id"])).toBe("k2");
    expect(text(sealedNew!.data)).not.toContain("tok_secret");
    const [a, b] = await after.decode([sealedOld!, sealedNew!]);
    expect(JSON.parse(text(a!.data))).toEqual({ token: "tok_secret" });
    expect(text(b!.metadata!.encoding)).toBe("json/plain");
    await expect(before.decode([sealedNew!])).rejects.toThrow(/unknown key id "k2"/);
  });

  it("refuses a tampered payload and one relabelled to another key; passes plain payloads through", async () => {
    const codec = new EncryptionCodec(parseCodecKeys(`${OLD},${NEW}`));
    const [sealed] = await codec.encode([json("x")]);
    const flipped = Buffer.from(sealed!.data!);
    flipped[20]! ^= 1;
    await expect(codec.decode([{ ...sealed!, data: flipped }])).rejects.toThrow();
    const relabelled = {
      ...sealed!,
      metadata: { ...sealed!.metadata, "encryption-key-id": new TextEncoder().encode("k1") },
    };
    await expect(codec.decode([relabelled])).rejects.toThrow();
    const plain = json({ recorded: true });
    expect(await codec.decode([plain])).toEqual([plain]);
  });

  it("parses keys strictly and names a bad one by id, never by value", () => {
    expect(() => parseCodecKeys("k1:c2hvcnQ=")).toThrow(/key "k1" must be 32 bytes/);
    expect(() => parseCodecKeys(key())).toThrow(/needs an id/);
    expect(() => parseCodecKeys(`${OLD},${OLD}`)).toThrow(/unique/);
    const err = (() => {
      try {
        parseCodecKeys("k9:c2VjcmV0LWJ1dC10b28tc2hvcnQ=");
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).not.toContain("c2VjcmV0");
  });
});

describe("the codec server", () => {
  let server: CodecServer;
  const codec = new EncryptionCodec(parseCodecKeys(`${OLD},${NEW}`));
  beforeAll(async () => {
    server = await startCodecServer(codec, "127.0.0.1:0", createLogger("silent", "t"), "http://localhost:8233");
  });
  afterAll(async () => {
    await server?.close();
  });

  const post = (path: string, body: unknown) =>
    fetch(`http://127.0.0.1:${server.port}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-namespace": "default" },
      body: JSON.stringify(body),
    });
  const asJson = (p: Payload) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
    data: Buffer.from(p.data!).toString("base64"),
  });

  it("decodes what the workers sealed, in Temporal's JSON shape, with CORS for the web UI", async () => {
    const [sealed] = await codec.encode([json({ buyerId: "alice" })]);
    const res = await post("/decode", { payloads: [asJson(sealed!)] });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("http://localhost:8233");
    const body = (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(Buffer.from(body.payloads[0]!.metadata.encoding!, "base64").toString()).toBe("json/plain");
    expect(JSON.parse(Buffer.from(body.payloads[0]!.data, "base64").toString())).toEqual({ buyerId: "alice" });
  });

  it("encodes, refuses what it cannot open, and answers 404 elsewhere", async () => {
    const res = await post("/encode", { payloads: [asJson(json(1))] });
    const body = (await res.json()) as { payloads: { metadata: Record<string, string> }[] };
    expect(Buffer.from(body.payloads[0]!.metadata.encoding!, "base64").toString()).toBe("binary/encrypted");
    const foreign = await new EncryptionCodec(parseCodecKeys(`other:${key()}`)).encode([json(1)]);
    expect((await post("/decode", { payloads: [asJson(foreign[0]!)] })).status).toBe(400);
    expect((await post("/metrics", {})).status).toBe(404);
  });
});
