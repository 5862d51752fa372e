/**
 * Reading a V8 CPU profile (.cpuprofile): time by category and top functions by self time.
 */

export interface CpuProfile {
  readonly nodes: ReadonlyArray<{ readonly id: number; readonly callFrame: { readonly functionName: string; readonly url: string } }>;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** First match wins: a sample is charged to the category of the function it was in. */
const CATEGORIES: ReadonlyArray<readonly [string, RegExp]> = [
  ["LMDB + msgpack (lmdb-js)", /node_modules\/(lmdb|msgpackr|ordered-binary)\//],
  ["RPC (connect, protobuf, http2)", /@connectrpc|@bufbuild|node:internal\/http|node:http|node:internal\/streams|node:net|node:events|node:internal\/abort|node:zlib|domexception/],
  ["server (src/server)", /\/src\/server\/|\/dist\/server\//],
  ["storage (src/storage)", /\/src\/storage\/|\/dist\/storage\//],
  ["engine (src/engine)", /\/src\/engine\/|\/dist\/engine\//],
  ["domain (src/domain)", /\/src\/domain\/|\/dist\/domain\//],
  ["logging (pino)", /pino|redact|sonic-boom/],
  ["ids, crypto", /\/ids\/|node:internal\/crypto/],
];

function label(fn: string, url: string): string {
  if (fn === "(idle)") return "idle (waiting: I/O, fsync)";
  if (fn === "(garbage collector)") return "garbage collector";
  if (fn === "(program)") return "V8 (program)";
  return CATEGORIES.find(([, re]) => re.test(url))?.[0] ?? "other";
}

function selfSamples(p: CpuProfile): Map<number, number> {
  const counts = new Map<number, number>();
  for (const s of p.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  return counts;
}

/** Microseconds per run and share of the profile, by category, largest first. */
export function byCategory(p: CpuProfile, runs: number): Array<{ name: string; usPerRun: number; share: number }> {
  const counts = selfSamples(p);
  const total = p.samples.length;
  const usPerSample = (p.endTime - p.startTime) / total;
  const agg = new Map<string, number>();
  for (const n of p.nodes) {
    const c = counts.get(n.id);
    if (!c) continue;
    const k = label(n.callFrame.functionName, n.callFrame.url);
    agg.set(k, (agg.get(k) ?? 0) + c);
  }
  return [...agg]
    .sort((a, b) => b[1] - a[1])
    .map(([name, c]) => ({ name, usPerRun: (c * usPerSample) / runs, share: (100 * c) / total }));
}

/** The functions with the most self time. */
export function topSelf(p: CpuProfile, n: number): Array<{ name: string; share: number }> {
  const counts = selfSamples(p);
  const agg = new Map<string, number>();
  for (const node of p.nodes) {
    const c = counts.get(node.id);
    if (!c) continue;
    const k = `${node.callFrame.functionName || "(anonymous)"} ${node.callFrame.url.split("/").slice(-2).join("/")}`;
    agg.set(k, (agg.get(k) ?? 0) + c);
  }
  return [...agg]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, c]) => ({ name, share: (100 * c) / p.samples.length }));
}
