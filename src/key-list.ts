// Key lists in configuration: `id:base64,id:base64` of 32-byte keys (the
// format parseCodecKeys reads; the last key is the newest), from a variable
// or from a file (a mounted secret). An error names the variable, or the
// bad entry by its id, never a key.
import { readFileSync } from "node:fs";
import { ConfigError } from "./config.js";
import { parseCodecKeys, type CodecKey } from "./temporal/payload-codec.js";

/** The keys of `variable` (or of the file `${variable}_FILE` names), or undefined when neither is set. */
export function configuredKeyList(
  variable: string,
  value: string | undefined,
  file: string | undefined,
  readFile: (path: string) => string = (p) => readFileSync(p, "utf8"),
): CodecKey[] | undefined {
  let text = value;
  if (file) {
    try {
      text = readFile(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
      throw new ConfigError(
        `invalid configuration:\n  ${variable}_FILE=${JSON.stringify(file)}: cannot read (${code})`,
      );
    }
  }
  if (!text) return undefined;
  try {
    return parseCodecKeys(text);
  } catch (err) {
    const name = file ? `${variable}_FILE=${JSON.stringify(file)}` : `${variable} (value hidden)`;
    throw new ConfigError(`invalid configuration:\n  ${name}: ${(err as Error).message}`);
  }
}
