/**
 * Summaries (median, min and max over rounds), the printed tables and the JSON document.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Sample } from "./workloads.js";

/**
 * The fixed systems the benchmark knows; a run measures some of them (BENCH_STORES,
 * BENCH_BULLMQ). "aq" is ActionQueue on LMDB (the key older result files use), "aq-postgres"
 * ActionQueue with `--storage postgres`, one server. BENCH_PG_SERVERS adds
 * "aq-postgres-x2", "aq-postgres-x3", …: N servers on one database (`pgSystem`), and
 * BENCH_PG_COMMITS=concurrent the same with `--postgres-commits concurrent`:
 * "aq-postgres-concurrent" (one server), "aq-postgres-concurrent-x2", … (the serial systems
 * keep the names above).
 */
export const SYSTEMS = ["aq", "aq-postgres", "bullmq-defaults", "bullmq-fsync"] as const;
/** ActionQueue on PostgreSQL with N > 1 servers sharing one database (serial commits). */
export type PgServersSystem = `aq-postgres-x${number}`;
/** ActionQueue on PostgreSQL with `--postgres-commits concurrent`, one server or N > 1. */
export type PgConcurrentSystem = "aq-postgres-concurrent" | `aq-postgres-concurrent-x${number}`;
export type SystemName = (typeof SYSTEMS)[number] | PgServersSystem | PgConcurrentSystem;

/** The servers' `--postgres-commits` mode. */
export const PG_COMMITS = ["serial", "concurrent"] as const;
export type PgCommits = (typeof PG_COMMITS)[number];

const SYSTEM_LABELS: Record<(typeof SYSTEMS)[number], string> = {
  aq: "ActionQueue",
  "aq-postgres": "ActionQueue on PostgreSQL",
  "bullmq-defaults": "BullMQ defaults",
  "bullmq-fsync": "BullMQ fsync always",
};

/**
 * The PostgreSQL system with `n` servers and `commits` mode: serial keeps the older keys
 * ("aq-postgres" for one server, else "aq-postgres-x<n>"), concurrent is
 * "aq-postgres-concurrent" or "aq-postgres-concurrent-x<n>".
 */
export function pgSystem(n: number, commits: PgCommits = "serial"): SystemName {
  if (commits === "concurrent") return n === 1 ? "aq-postgres-concurrent" : `aq-postgres-concurrent-x${n}`;
  return n === 1 ? "aq-postgres" : `aq-postgres-x${n}`;
}

const PG_SYSTEM = /^aq-postgres(-concurrent)?(?:-x(\d+))?$/;

/** How many ActionQueue servers on PostgreSQL `sys` runs (0: not a PostgreSQL system). */
export function pgServers(sys: SystemName): number {
  const m = PG_SYSTEM.exec(sys);
  return m ? Number(m[2] ?? 1) : 0;
}

/** The `--postgres-commits` mode of a PostgreSQL system (null: not one). */
export function pgCommits(sys: SystemName): PgCommits | null {
  const m = PG_SYSTEM.exec(sys);
  return m ? (m[1] ? "concurrent" : "serial") : null;
}

export function systemLabel(sys: SystemName): string {
  const n = pgServers(sys);
  if (pgCommits(sys) === "concurrent") return `ActionQueue on PostgreSQL, concurrent commits${n > 1 ? `, ${n} servers` : ""}`;
  return n > 1 ? `ActionQueue on PostgreSQL, ${n} servers` : SYSTEM_LABELS[sys as (typeof SYSTEMS)[number]];
}

export type Outcome = Sample | { readonly error: string };

/** samples[workload][system] = one outcome per round. */
export type Samples = Record<string, Partial<Record<SystemName, Outcome[]>>>;

/** One printed row: a field of a workload's samples. */
export interface Row {
  readonly label: string;
  readonly workload: string;
  readonly field: string;
  /** rate: higher is better; latency/time/size: lower is better. */
  readonly kind: "rate" | "latency" | "time" | "size";
  /** Multiplier applied before printing (e.g. bytes → MiB). */
  readonly scale?: number;
  /** false: a descriptive figure, no "× faster/slower" (writes per commit, …). */
  readonly ratio?: false;
}

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
  readonly errors: number;
}

function values(outcomes: Outcome[] | undefined, field: string): { xs: number[]; errors: number } {
  const xs: number[] = [];
  let errors = 0;
  for (const o of outcomes ?? []) {
    if ("error" in o) errors++;
    else {
      const v = o[field];
      if (typeof v === "number" && Number.isFinite(v)) xs.push(v);
    }
  }
  return { xs, errors };
}

export function summarize(outcomes: Outcome[] | undefined, field: string): Summary | null {
  const { xs, errors } = values(outcomes, field);
  if (xs.length === 0) return errors > 0 ? { median: NaN, min: NaN, max: NaN, n: 0, errors } : null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { median, min: s[0] as number, max: s[s.length - 1] as number, n: s.length, errors };
}

function num(v: number, kind: Row["kind"]): string {
  const digits = kind === "rate" ? 0 : Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function cell(s: Summary | null, row: Row): string {
  if (!s) return "—";
  if (s.n === 0) return `failed (${s.errors})`;
  const k = row.scale ?? 1;
  const range = s.n > 1 ? ` [${num(s.min * k, row.kind)}–${num(s.max * k, row.kind)}]` : "";
  return `${num(s.median * k, row.kind)}${range}${s.errors ? ` (${s.errors} failed)` : ""}`;
}

/** AQ relative to a BullMQ setup, >1 = AQ better: throughput AQ/BullMQ, latency BullMQ/AQ. */
export function advantage(aq: Summary | null, other: Summary | null, kind: Row["kind"]): number {
  if (!aq || !other || aq.n === 0 || other.n === 0) return NaN;
  return kind === "rate" ? aq.median / other.median : other.median / aq.median;
}

function ratioText(r: number): string {
  if (!Number.isFinite(r)) return "—";
  return r >= 1 ? `${r.toFixed(2)}× faster` : `${(1 / r).toFixed(2)}× slower`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

/** Each concurrent-commits PostgreSQL system measured with the serial one of the same server count: [concurrent, serial]. */
function concurrentPairs(systems: readonly SystemName[]): [SystemName, SystemName][] {
  return systems.filter((sys) => pgCommits(sys) === "concurrent").flatMap((sys): [SystemName, SystemName][] => {
    const serial = pgSystem(pgServers(sys), "serial");
    return systems.includes(serial) ? [[sys, serial]] : [];
  });
}

/** The ratio columns for the systems measured: [label, system, baseline], `system` relative to `baseline`. */
function ratioColumns(systems: readonly SystemName[]): [string, SystemName, SystemName][] {
  const cols: [string, SystemName, SystemName][] = [];
  const has = (s: SystemName) => systems.includes(s);
  if (has("aq") && has("bullmq-defaults")) cols.push(["AQ vs BullMQ defaults", "aq", "bullmq-defaults"]);
  if (has("aq") && has("bullmq-fsync")) cols.push(["AQ vs BullMQ fsync", "aq", "bullmq-fsync"]);
  if (has("aq-postgres") && has("aq")) cols.push(["PostgreSQL vs LMDB", "aq-postgres", "aq"]);
  // Several PostgreSQL servers against one, serial commits (only when the one-server system is measured too).
  if (has("aq-postgres")) for (const sys of systems) if (pgServers(sys) > 1 && pgCommits(sys) === "serial") cols.push([`x${pgServers(sys)} vs 1 server`, sys, "aq-postgres"]);
  // Concurrent commits against serial ones, same server count (when both are measured).
  for (const [sys, serial] of concurrentPairs(systems)) cols.push([`${pgServers(sys) > 1 ? `x${pgServers(sys)} ` : ""}concurrent vs serial`, sys, serial]);
  return cols;
}

export function comparisonTable(rows: Row[], samples: Samples, systems: readonly SystemName[] = ["aq", "bullmq-defaults", "bullmq-fsync"]): string {
  const cols = ratioColumns(systems);
  const header = ["workload", ...systems.map(systemLabel), ...cols.map(([label]) => label)];
  const body = rows.map((row) => {
    const s = (sys: SystemName) => summarize(samples[row.workload]?.[sys], row.field);
    return [row.label, ...systems.map((sys) => cell(s(sys), row)), ...cols.map(([, a, b]) => (row.ratio === false ? "" : ratioText(advantage(s(a), s(b), row.kind))))];
  });
  return table(header, body);
}

export function aqOnlyTable(rows: Row[], samples: Samples): string {
  return table(
    ["ActionQueue alone", "median [min–max]"],
    rows.map((row) => [row.label, cell(summarize(samples[row.workload]?.aq, row.field), row)]),
  );
}

/**
 * Every row's summaries and ratios, for the JSON document: a summary per fixed system (null
 * when not measured, as older files have them) and per extra system measured (`systems`:
 * "aq-postgres-x2", "aq-postgres-concurrent", …); `serversAdvantageVsOne` holds each
 * several-server serial system against "aq-postgres" (>1: the N servers did better), and
 * `concurrentAdvantageVsSerial` each concurrent system against the serial one with as many
 * servers (>1: concurrent commits did better).
 */
export function summaries(rows: Row[], samples: Samples, systems: readonly SystemName[] = SYSTEMS): Record<string, unknown>[] {
  const all = [...SYSTEMS, ...systems.filter((sys) => !(SYSTEMS as readonly string[]).includes(sys))];
  const several = systems.filter((sys) => pgServers(sys) > 1 && pgCommits(sys) === "serial");
  const pairs = concurrentPairs(systems);
  return rows.map((row) => {
    const by: Partial<Record<SystemName, Summary | null>> = Object.fromEntries(all.map((sys) => [sys, summarize(samples[row.workload]?.[sys], row.field)]));
    const aq = by.aq ?? null;
    const pg1 = by["aq-postgres"] ?? null;
    return {
      ...row,
      ...by,
      aqAdvantageVsDefaults: advantage(aq, by["bullmq-defaults"] ?? null, row.kind),
      aqAdvantageVsFsync: advantage(aq, by["bullmq-fsync"] ?? null, row.kind),
      postgresAdvantageVsLmdb: advantage(pg1, aq, row.kind),
      ...(several.length > 0 ? { serversAdvantageVsOne: Object.fromEntries(several.map((sys) => [sys, advantage(by[sys] ?? null, pg1, row.kind)])) } : {}),
      ...(pairs.length > 0 ? { concurrentAdvantageVsSerial: Object.fromEntries(pairs.map(([sys, serial]) => [sys, advantage(by[sys] ?? null, by[serial] ?? null, row.kind)])) } : {}),
    };
  });
}

export function writeJson(dir: string, doc: Record<string, unknown>): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const path = join(dir, `compare-${stamp}.json`);
  const text = JSON.stringify(doc, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : typeof v === "number" && !Number.isFinite(v) ? null : v), 2);
  // Arrays of numbers (the raw latency samples) on one line each.
  const compact = text.replace(/\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]/g, (_, xs: string) => `[${xs.replace(/\s+/g, "")}]`);
  writeFileSync(path, `${compact}\n`);
  return path;
}
