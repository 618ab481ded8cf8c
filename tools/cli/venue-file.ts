// A venue file: a CreateEventRequest written in YAML with the proto's own
// field names (event_id, sections, reserved.rows, general_admission, ...), so
// whatever the proto gains later passes through without changes here. It is
// checked against the API's descriptors (src/gen/descriptors.binpb) before
// anything is sent: unknown fields, wrong types and bad times, each with its
// line. The server's own field violations are mapped back to lines as well.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createFileRegistry, fromBinary, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import { events } from "../../clients/typescript/src/index.js";

const DESCRIPTORS = new URL("../../src/gen/descriptors.binpb", import.meta.url);
const REQUEST = "ticketing.v1.CreateEventRequest";

let registry: ReturnType<typeof createFileRegistry> | undefined;
function message(typeName: string): DescMessage {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(DESCRIPTORS)));
  const m = registry.getMessage(typeName);
  if (!m) throw new Error(`${typeName} is not in ${DESCRIPTORS.pathname}`);
  return m;
}

export interface VenueFile {
  request: events.CreateEventRequest;
  /** "line N" of the node at a request field path (`event.sections[0].name`), or of its nearest parent. */
  locate(field: string): string | undefined;
}

export interface Problem {
  line: number;
  path: string;
  message: string;
}

/** Reads and checks a venue file; throws VenueFileError listing every problem found. */
export function readVenueFile(file: string): VenueFile {
  const text = readFileSync(file, "utf8");
  return parseVenue(text);
}

export class VenueFileError extends Error {
  constructor(readonly problems: Problem[]) {
    super(`${problems.length} problem${problems.length === 1 ? "" : "s"} in the venue file`);
  }
}

export function parseVenue(text: string): VenueFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const lineOf = (offset: number | undefined) => (offset === undefined ? 0 : lines.linePos(offset).line);
  const problems: Problem[] = doc.errors.map((e) => ({
    line: e.linePos?.[0].line ?? lineOf(e.pos[0]),
    path: "",
    message: e.message.split("\n")[0]!,
  }));
  if (problems.length === 0) {
    if (!isMap(doc.contents)) problems.push({ line: 1, path: "", message: "the file must be a mapping (event: ...)" });
    else {
      check(doc.contents, message(REQUEST), "", problems, lineOf);
      if (!doc.has("event")) problems.push({ line: 1, path: "event", message: "is required" });
    }
  }
  if (problems.length > 0) throw new VenueFileError(problems.sort((a, b) => a.line - b.line));
  const json = doc.toJS() as Record<string, unknown>;
  // The same file gives the same request id: creating it twice is idempotent.
  json.request_id ??= `yaml-${createHash("sha256").update(text).digest("hex").slice(0, 32)}`;
  return {
    request: events.CreateEventRequest.fromJSON(json),
    locate: (field) => {
      const line = lineOf(nodeAt(doc, field)?.range?.[0]);
      return line ? `line ${line}` : undefined;
    },
  };
}

/** The node at `event.sections[2].reserved.rows[0].seat_count`, or the nearest parent there is. */
function nodeAt(doc: Document, field: string): Node | undefined {
  const path: (string | number)[] = [];
  for (const m of field.matchAll(/([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g)) path.push(m[1] ?? Number(m[2]));
  for (let n = path.length; n > 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as Node | undefined;
    if (node && typeof node === "object" && "range" in node) return node;
  }
  return doc.contents ?? undefined;
}

type LineOf = (offset: number | undefined) => number;

function check(node: unknown, desc: DescMessage, path: string, problems: Problem[], lineOf: LineOf): void {
  if (!isMap(node)) {
    problems.push({ line: lineOf((node as Node)?.range?.[0]), path, message: `must be a mapping (${desc.name})` });
    return;
  }
  const oneofs = new Map<string, string>();
  for (const pair of node.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(pair.key) ? String(pair.key.value) : "";
    const at = path ? `${path}.${key}` : key;
    const field = desc.fields.find((f) => f.name === key || f.jsonName === key);
    if (!field) {
      const known = desc.fields.map((f) => f.name).join(", ");
      problems.push({
        line: lineOf(keyNode?.range?.[0]),
        path: at,
        message: `unknown field in ${desc.name} (known: ${known})`,
      });
      continue;
    }
    if (field.oneof) {
      const other = oneofs.get(field.oneof.name);
      if (other)
        problems.push({
          line: lineOf(keyNode?.range?.[0]),
          path: at,
          message: `set only one of ${other} and ${field.name}`,
        });
      oneofs.set(field.oneof.name, field.name);
    }
    checkValue(pair.value, field, at, problems, lineOf);
  }
}

function checkValue(value: unknown, field: DescField, path: string, problems: Problem[], lineOf: LineOf): void {
  const line = lineOf((value as Node | null)?.range?.[0]);
  if (value === null || (isScalar(value) && value.value === null)) return; // unset
  if (field.fieldKind === "list") {
    if (!isSeq(value)) {
      problems.push({ line, path, message: "must be a list (- ...)" });
      return;
    }
    value.items.forEach((item, i) => {
      const at = `${path}[${i}]`;
      if (field.listKind === "message") check(item, field.message, at, problems, lineOf);
      else if (field.listKind === "scalar") checkScalar(item, field.scalar, at, problems, lineOf);
      else
        checkEnum(
          item,
          field.enum.values.map((v) => v.name),
          at,
          problems,
          lineOf,
        );
    });
    return;
  }
  if (field.fieldKind === "message") {
    if (field.message.typeName === "google.protobuf.Timestamp") {
      const text = isScalar(value) ? value.value : undefined;
      if (typeof text !== "string" || !/^\d{4}-\d\d-\d\dT/.test(text) || Number.isNaN(Date.parse(text)))
        problems.push({ line, path, message: 'must be a time like "2026-06-01T19:30:00Z" (RFC 3339)' });
      return;
    }
    check(value, field.message, path, problems, lineOf);
    return;
  }
  if (field.fieldKind === "enum") {
    checkEnum(
      value,
      field.enum.values.map((v) => v.name),
      path,
      problems,
      lineOf,
    );
    return;
  }
  if (field.fieldKind === "scalar") checkScalar(value, field.scalar, path, problems, lineOf);
}

function checkEnum(value: unknown, names: string[], path: string, problems: Problem[], lineOf: LineOf): void {
  const v = isScalar(value) ? value.value : undefined;
  if (typeof v !== "string" || !names.includes(v))
    problems.push({ line: lineOf((value as Node)?.range?.[0]), path, message: `must be one of ${names.join(", ")}` });
}

// ScalarType numbers (google.protobuf.FieldDescriptorProto.Type).
const STRING = 9;
const BOOL = 8;
const BYTES = 12;
const INT64 = new Set([3, 4, 6, 16, 18]);
const UNSIGNED = new Set([4, 6, 7, 13]);
const FLOATS = new Set([1, 2]);

function checkScalar(value: unknown, type: number, path: string, problems: Problem[], lineOf: LineOf): void {
  const line = lineOf((value as Node)?.range?.[0]);
  if (!isScalar(value)) {
    problems.push({ line, path, message: "must be a single value, not a list or mapping" });
    return;
  }
  const v = value.value;
  if (type === STRING || type === BYTES) {
    // A number where text is expected (row_id: 1) is fine: YAML reads it as a number, the API takes its text.
    if (typeof v !== "string" && typeof v !== "number") problems.push({ line, path, message: "must be text" });
    return;
  }
  if (type === BOOL) {
    if (typeof v !== "boolean") problems.push({ line, path, message: "must be true or false" });
    return;
  }
  if (FLOATS.has(type)) {
    if (typeof v !== "number") problems.push({ line, path, message: "must be a number" });
    return;
  }
  // Integers; int64 may also be written as a string of digits.
  const ok =
    (typeof v === "number" && Number.isSafeInteger(v)) ||
    (INT64.has(type) && typeof v === "string" && /^-?\d{1,19}$/.test(v));
  if (!ok) problems.push({ line, path, message: "must be a whole number" });
  else if (UNSIGNED.has(type) && Number(v) < 0) problems.push({ line, path, message: "must not be negative" });
  else if (!INT64.has(type) && Math.abs(Number(v)) > 0xffffffff)
    problems.push({ line, path, message: "is too large for a 32-bit number" });
}
