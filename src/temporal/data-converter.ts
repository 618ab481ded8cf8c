// The data converter the API's Temporal client, the worker and the codec
// server share: payloads encrypted with the configured keys, or plain when
// none are configured (outside production only; config.ts requires keys there).
import type { DataConverter } from "@temporalio/common";
import type { Config } from "../config.js";
import { configuredKeyList } from "../key-list.js";
import { EncryptionCodec, type CodecKey } from "./payload-codec.js";

type KeyConfig = Pick<Config, "TEMPORAL_CODEC_KEYS" | "TEMPORAL_CODEC_KEYS_FILE">;

/** The configured keys, or undefined; a ConfigError names a bad key by id, never by value. */
export function codecKeys(config: KeyConfig, readFile?: (path: string) => string): CodecKey[] | undefined {
  return configuredKeyList(
    "TEMPORAL_CODEC_KEYS",
    config.TEMPORAL_CODEC_KEYS,
    config.TEMPORAL_CODEC_KEYS_FILE,
    readFile,
  );
}

export function dataConverter(config: KeyConfig): DataConverter {
  const keys = codecKeys(config);
  return keys ? { payloadCodecs: [new EncryptionCodec(keys)] } : {};
}
