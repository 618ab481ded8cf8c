// A strict parser of the Prometheus text exposition format (0.0.4): it throws
// on anything a Prometheus server would refuse, and on what it would accept
// but that signals a bug (a family split in two, a series twice, a TYPE after
// its samples, a histogram whose buckets do not add up).

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help: string | undefined;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
const SUFFIXES: Record<string, string[]> = {
  counter: ["", "_total"],
  gauge: [""],
  untyped: [""],
  histogram: ["_bucket", "_sum", "_count"],
  summary: ["", "_sum", "_count"],
};

export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seriesSeen = new Set<string>();
  const closed = new Set<string>();
  let current: Family | undefined;
  const fail = (n: number, line: string, why: string): never => {
    throw new Error(`exposition line ${n}: ${why}: ${JSON.stringify(line)}`);
  };
  const family = (name: string, n: number, line: string): Family => {
    if (current?.name === name) return current;
    if (closed.has(name)) fail(n, line, `family ${name} appears again after other families`);
    if (current) closed.add(current.name);
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: "untyped", help: undefined, samples: [] }));
    current = f;
    return f;
  };

  text.split("\n").forEach((line, i) => {
    const n = i + 1;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ""] = m;
      if (!METRIC_NAME.test(name!)) fail(n, line, "bad metric name");
      const f = family(name!, n, line);
      if (kind === "HELP") {
        if (f.help !== undefined) fail(n, line, "second HELP");
        f.help = rest;
      } else {
        if (!TYPES.has(rest)) fail(n, line, "unknown TYPE");
        if (f.samples.length > 0) fail(n, line, "TYPE after samples");
        if (f.type !== "untyped" && f.type !== rest) fail(n, line, "second TYPE");
        f.type = rest;
      }
      return;
    }
    const sample = parseSample(line, (why) => fail(n, line, why));
    const f = familyOf(sample.name, current, families);
    const target = family(f, n, line);
    if (!SUFFIXES[target.type]!.some((s) => `${target.name}${s}` === sample.name))
      fail(n, line, `sample does not belong to ${target.type} ${target.name}`);
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    if (seriesSeen.has(key)) fail(n, line, "duplicate series");
    seriesSeen.add(key);
    if (target.type === "counter" && !(sample.value >= 0)) fail(n, line, "negative or NaN counter");
    target.samples.push(sample);
  });
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

/** A sample's family: the current one if the name fits it, else the name without a histogram/counter suffix. */
function familyOf(name: string, current: Family | undefined, families: Map<string, Family>): string {
  if (current && SUFFIXES[current.type]!.some((s) => `${current.name}${s}` === name)) return current.name;
  for (const suffix of ["_bucket", "_sum", "_count", "_total"]) {
    if (name.endsWith(suffix) && families.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length);
  }
  return name;
}

function parseSample(line: string, fail: (why: string) => never): Sample {
  let i = 0;
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) fail("bad metric name");
  const name = nameMatch[0];
  i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === "{") {
    i++;
    while (line[i] !== "}") {
      const lm = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
      if (!lm || !LABEL_NAME.test(lm[0])) fail("bad label name");
      const label = lm[0];
      i += label.length;
      if (line.slice(i, i + 2) !== '="') fail(`expected =" after ${label}`);
      i += 2;
      let value = "";
      for (;;) {
        const c = line[i];
        if (c === undefined) fail("unterminated label value");
        if (c === '"') break;
        if (c === "\\") {
          const e = line[i + 1];
          if (e === "\\") value += "\\";
          else if (e === '"') value += '"';
          else if (e === "n") value += "\n";
          else fail("bad escape in label value");
          i += 2;
        } else {
          value += c;
          i++;
        }
      }
      i++;
      if (label in labels) fail(`label ${label} twice`);
      labels[label] = value;
      if (line[i] === ",") i++;
      else if (line[i] !== "}") fail("expected , or } after a label");
    }
    i++;
  }
  const rest = line.slice(i);
  const vm = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
  if (!vm) fail("expected ' <value> [timestamp]'");
  // As Prometheus reads it (Go's ParseFloat): Inf and NaN in any case; prom-client writes "Nan".
  const raw = vm[1]!;
  const special = /^([+-]?)(inf|infinity)$/i.exec(raw);
  const nan = /^nan$/i.test(raw);
  const value = special ? (special[1] === "-" ? -Infinity : Infinity) : nan ? NaN : Number(raw);
  if (Number.isNaN(value) && !nan) fail(`bad value ${raw}`);
  return { name, labels, value };
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { buckets: [] }));
    if (s.name.endsWith("_bucket")) {
      if (le === undefined) throw new Error(`${f.name}: a bucket without le`);
      g.buckets.push([le === "+Inf" ? Infinity : Number(le), s.value]);
    } else if (s.name.endsWith("_sum")) g.sum = s.value;
    else g.count = s.value;
  }
  for (const [key, g] of groups) {
    const sorted = [...g.buckets].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]![1] < sorted[i - 1]![1]) throw new Error(`${f.name}${key}: buckets not cumulative`);
    }
    const inf = sorted[sorted.length - 1];
    if (!inf || inf[0] !== Infinity) throw new Error(`${f.name}${key}: no +Inf bucket`);
    if (g.count === undefined || g.sum === undefined) throw new Error(`${f.name}${key}: _count or _sum missing`);
    if (inf[1] !== g.count) throw new Error(`${f.name}${key}: +Inf bucket ${inf[1]} != _count ${g.count}`);
  }
}

/** The value of the one sample of `name` whose labels include `labels`; undefined if none, throws if several. */
export function valueOf(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const matches = [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matches.length > 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${matches.length} series`);
  return matches[0]?.value;
}

/** Every sample of every family. */
export function allSamples(families: Map<string, Family>): Sample[] {
  return [...families.values()].flatMap((f) => f.samples);
}

export async function scrape(port: number): Promise<{ text: string; families: Map<string, Family> }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${await res.text()}`);
  const text = await res.text();
  return { text, families: parseExposition(text) };
}
