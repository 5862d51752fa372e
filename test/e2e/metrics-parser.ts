/**
 * A strict parser of the Prometheus text exposition format 0.0.4 for the metrics tests: no
 * package that parses it is installed, and a lenient regex would let a malformed page pass.
 *
 * Refused (an Error naming the line): a line that is not a comment, HELP, TYPE or sample; a
 * bad metric or label name, label value escape or number; a sample of a family with no TYPE,
 * or whose name does not fit its type (counter and gauge: the family name; histogram:
 * `_bucket` with `le`, `_sum`, `_count`; summary: the name with `quantile`, `_sum`, `_count`);
 * a TYPE or HELP given twice or a TYPE after its family's samples; a family whose lines are not
 * together; the same series twice; a duplicate label; a negative or NaN counter; a histogram
 * whose buckets are not cumulative, lack +Inf, or whose +Inf bucket differs from its _count.
 */

/** One sample line. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One metric family: its TYPE, HELP and samples. */
export interface Family {
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string | null;
  readonly samples: Sample[];
}

/** Families by name. */
export type Families = Map<string, Family>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/**
 * A sample value as Prometheus reads it (Go's strconv.ParseFloat): decimal or exponent
 * notation, and NaN / Inf / Infinity in any case with an optional sign (prom-client writes
 * NaN as "Nan", e.g. the event-loop lag before its first sample).
 */
function number(raw: string, where: string): number {
  const special = /^([-+]?)(inf|infinity|nan)$/i.exec(raw);
  if (special) return special[2]?.toLowerCase() === "nan" ? Number.NaN : special[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) throw new Error(`${where}: "${raw}" is not a number`);
  return Number(raw);
}

/** Parses `{a="x",b="y"}` starting at `s[i] === "{"`; returns the labels and the index after "}". */
function labelsAt(s: string, i: number, where: string): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++;
  for (;;) {
    if (s[i] === "}") return [labels, i + 1];
    const eq = s.indexOf("=", i);
    if (eq < 0) throw new Error(`${where}: label without "="`);
    const name = s.slice(i, eq).trim();
    if (!LABEL.test(name)) throw new Error(`${where}: bad label name "${name}"`);
    if (name in labels) throw new Error(`${where}: label "${name}" twice`);
    if (s[eq + 1] !== '"') throw new Error(`${where}: label value of "${name}" not quoted`);
    let j = eq + 2;
    let v = "";
    for (;;) {
      const c = s[j];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === "\\") {
        const n = s[j + 1];
        if (n === "\\") v += "\\";
        else if (n === '"') v += '"';
        else if (n === "n") v += "\n";
        else throw new Error(`${where}: bad escape "\\${n ?? ""}" in a label value`);
        j += 2;
        continue;
      }
      if (c === "\n") throw new Error(`${where}: newline in a label value`);
      v += c;
      j++;
    }
    labels[name] = v;
    i = j + 1;
    if (s[i] === ",") i++;
    else if (s[i] !== "}") throw new Error(`${where}: expected "," or "}" after label "${name}"`);
  }
}

/** The family a sample name belongs to, given the families declared so far. */
function familyOf(name: string, families: Families): Family | undefined {
  const direct = families.get(name);
  if (direct) return direct;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f && (f.type === "histogram" || (f.type === "summary" && suffix !== "_bucket"))) return f;
  }
  return undefined;
}

function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  return `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(",")}}`;
}

/** Parses an exposition page (see the module comment for what is refused). */
export function parseExposition(text: string): Families {
  const families: Families = new Map();
  const done = new Set<string>();
  const seen = new Set<string>();
  let current: Family | null = null;
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((line, n) => {
    const where = `line ${n + 1}`;
    if (line.trim() === "") return;
    const enter = (f: Family) => {
      if (current === f) return;
      if (done.has(f.name)) throw new Error(`${where}: family ${f.name} resumed after other families`);
      if (current) done.add(current.name);
      current = f;
    };
    if (line.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ""] = m as unknown as [string, string, string, string | undefined];
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name "${name}"`);
      let f = families.get(name);
      if (kind === "TYPE") {
        if (!TYPES.has(rest.trim())) throw new Error(`${where}: unknown type "${rest}"`);
        if (f && (f.type !== "untyped" || f.samples.length > 0)) throw new Error(`${where}: TYPE of ${name} again or after its samples`);
        const help = f?.help ?? null;
        f = { name, type: rest.trim() as Family["type"], help, samples: [] };
        families.set(name, f);
      } else {
        if (f?.help != null) throw new Error(`${where}: HELP of ${name} twice`);
        if (/\\[^\\n]/.test(rest)) throw new Error(`${where}: bad escape in HELP`);
        if (!f) {
          f = { name, type: "untyped", help: null, samples: [] };
          families.set(name, f);
        }
        f.help = rest.replace(/\\n/g, "\n").replace(/\\\\/g, "\\");
      }
      enter(f);
      return;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`${where}: not a sample: ${line}`);
    const name = line.slice(0, nameEnd);
    if (!NAME.test(name)) throw new Error(`${where}: bad metric name "${name}"`);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (line[i] === "{") [labels, i] = labelsAt(line, i, where);
    if (line[i] !== " ") throw new Error(`${where}: expected a space before the value`);
    const parts = line.slice(i + 1).split(" ");
    if (parts.length < 1 || parts.length > 2 || parts[0] === "") throw new Error(`${where}: expected "value [timestamp]"`);
    const v = number(parts[0] as string, where);
    if (parts.length === 2 && !/^-?\d+$/.test(parts[1] as string)) throw new Error(`${where}: bad timestamp "${parts[1]}"`);
    const f = familyOf(name, families);
    if (!f || f.type === "untyped") throw new Error(`${where}: sample ${name} of a family with no TYPE`);
    if (f.type === "histogram" && name === `${f.name}_bucket` && labels.le === undefined) throw new Error(`${where}: bucket without le`);
    if (f.type === "histogram" && name === f.name) throw new Error(`${where}: histogram sample ${name} without a suffix`);
    if (f.type === "counter" && (Number.isNaN(v) || v < 0)) throw new Error(`${where}: counter ${name} is ${v}`);
    const key = seriesKey(name, labels);
    if (seen.has(key)) throw new Error(`${where}: series ${key} twice`);
    seen.add(key);
    enter(f);
    f.samples.push({ name, labels, value: v });
  });
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = seriesKey("", rest);
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name === `${f.name}_bucket`) g.buckets.push([number(le as string, `${f.name} le`), s.value]);
    else if (s.name === `${f.name}_sum`) g.sum = s.value;
    else g.count = s.value;
  }
  for (const [key, g] of groups) {
    const sorted = [...g.buckets].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) if ((sorted[i] as [number, number])[1] < (sorted[i - 1] as [number, number])[1]) throw new Error(`${f.name}${key}: buckets not cumulative`);
    const inf = sorted.at(-1);
    if (!inf || inf[0] !== Number.POSITIVE_INFINITY) throw new Error(`${f.name}${key}: no +Inf bucket`);
    if (g.count === undefined || g.sum === undefined) throw new Error(`${f.name}${key}: missing _sum or _count`);
    if (inf[1] !== g.count) throw new Error(`${f.name}${key}: +Inf bucket ${inf[1]} differs from _count ${g.count}`);
  }
}

function sampleFamily(families: Families, name: string): Family | undefined {
  return familyOf(name, families);
}

/** The value of the series `name` with exactly `labels`, or undefined when there is none. */
export function value(families: Families, name: string, labels: Record<string, string>): number | undefined {
  const want = seriesKey(name, labels);
  return sampleFamily(families, name)?.samples.find((s) => s.name === name && seriesKey(s.name, s.labels) === want)?.value;
}

/** The sum of the series `name` whose labels include `labels`. */
export function sumOf(families: Families, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const s of sampleFamily(families, name)?.samples ?? []) {
    if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}
