// The data converter the API's Temporal client, the worker and the codec
// server share: payloads encrypted with the configured keys, or plain when
// none are configured (outside production only; config.ts requires keys there).
import { readFileSync } from "node:fs";
import type { DataConverter } from "@temporalio/common";
import { ConfigError, type Config } from "../config.js";
import { EncryptionCodec, parseCodecKeys, type CodecKey } from "./payload-codec.js";

type KeyConfig = Pick<Config, "TEMPORAL_CODEC_KEYS" | "TEMPORAL_CODEC_KEYS_FILE">;

/** The configured keys, or undefined; a ConfigError names a bad key by id, never by value. */
export function codecKeys(
  config: KeyConfig,
  readFile: (path: string) => string = (p) => readFileSync(p, "utf8"),
): CodecKey[] | undefined {
  const file = config.TEMPORAL_CODEC_KEYS_FILE;
  let value = config.TEMPORAL_CODEC_KEYS;
  if (file) {
    try {
      value = readFile(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
      throw new ConfigError(
        `invalid configuration:\n  TEMPORAL_CODEC_KEYS_FILE=${JSON.stringify(file)}: cannot read (${code})`,
      );
    }
  }
  if (!value) return undefined;
  try {
    return parseCodecKeys(value);
  } catch (err) {
    const name = file ? `TEMPORAL_CODEC_KEYS_FILE=${JSON.stringify(file)}` : "TEMPORAL_CODEC_KEYS (value hidden)";
    throw new ConfigError(`invalid configuration:\n  ${name}: ${(err as Error).message}`);
  }
}

export function dataConverter(config: KeyConfig): DataConverter {
  const keys = codecKeys(config);
  return keys ? { payloadCodecs: [new EncryptionCodec(keys)] } : {};
}
