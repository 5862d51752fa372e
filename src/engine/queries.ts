/**
 * Reads for the API (SPEC §10): runs with their leases and attempts, tasks, listings with
 * filters and paging, concurrency keys. All of committed state; nothing here queues a
 * command. Paging positions are plain keys (the last id returned); the server wraps them in
 * opaque tokens bound to the filters.
 */
import type { RunId, TaskId } from "../domain/ids.js";
import type { Limits } from "../domain/limits.js";
import { oldestReadyAt } from "../domain/oldest-ready.js";
import { pageSizeOf } from "../domain/requests.js";
import { RUN_STATES } from "../domain/state.js";
import { checkConcurrencyKey, checkQueueName } from "../domain/task-spec.js";
import type { FieldViolation } from "../domain/violations.js";
import type { CallOptions, KeyView, PageOf, RunFilter, RunView, TaskFilter } from "./api.js";
import { EngineError, invalidArgument } from "./errors.js";
import type { StoreReader } from "./ports.js";
import type { AttemptRecord, RunRecord, TaskRecord } from "./records.js";

/** A page request: the position after which to start (from a previous page) and a size (0: the default). */
export interface PageRequest<K> {
  readonly after: K | undefined;
  readonly size: number;
}

/** Most attempts returned with a run. */
export const ATTEMPTS_WITH_RUN = 100;

/** Runs `check`, adds the caller's decode violations, throws INVALID_ARGUMENT when any. */
function checked<T>(opts: CallOptions, check: (v: FieldViolation[]) => T): T {
  const v: FieldViolation[] = [...(opts.decoded ?? [])];
  const value = check(v);
  if (v.length > 0) throw invalidArgument(v);
  return value;
}

/** Read-only queries over committed state, with their filters checked. */
export class Queries {
  readonly #r: StoreReader;
  readonly #limits: Limits;
  constructor(reader: StoreReader, limits: Limits) {
    this.#r = reader;
    this.#limits = limits;
  }

  /** A run with its lease and its latest attempts (GetRun). */
  getRun(id: RunId): RunView & { attempts: AttemptRecord[] } {
    return { ...this.run(id), attempts: this.latestAttempts(id, ATTEMPTS_WITH_RUN) };
  }

  /** ListRuns: checks the filter and page, then a page of runs. */
  listRuns(f: RunFilter, page: PageRequest<RunId>, opts: CallOptions = {}): PageOf<RunView> {
    const size = checked(opts, (v) => {
      if (f.queue !== "") checkQueueName(v, "queue", f.queue);
      if (f.concurrencyKey) checkConcurrencyKey(v, "concurrency_key", f.concurrencyKey);
      return pageSizeOf(v, "page_size", page.size, this.#limits);
    });
    return this.runs(f, page.after, size);
  }

  /** ListAttempts: a page of a run's attempts (after attempt number `page.after`). */
  listAttempts(id: RunId, page: PageRequest<number>, opts: CallOptions = {}): PageOf<AttemptRecord> {
    const size = checked(opts, (v) => pageSizeOf(v, "page_size", page.size, this.#limits));
    return this.attempts(id, page.after ?? 0, size);
  }

  /** ListTasks: checks the filter and page, then a page of tasks. */
  listTasks(f: TaskFilter, page: PageRequest<TaskId>, opts: CallOptions = {}): PageOf<TaskRecord> {
    const size = checked(opts, (v) => {
      if (f.queue !== "") checkQueueName(v, "queue", f.queue);
      return pageSizeOf(v, "page_size", page.size, this.#limits);
    });
    return this.tasks(f, page.after, size);
  }

  /** GetConcurrencyKey: checks the key, then its occupants. */
  getKey(key: string, opts: CallOptions = {}): KeyView {
    checked(opts, (v) => checkConcurrencyKey(v, "key", key));
    return this.key(key);
  }

  /** ListConcurrencyKeys: a page of occupied keys. */
  listKeys(page: PageRequest<string>, opts: CallOptions = {}): PageOf<KeyView> {
    const size = checked(opts, (v) => pageSizeOf(v, "page_size", page.size, this.#limits));
    return this.keys(page.after, size);
  }

  /** A run with its live lease; RUN_NOT_FOUND when unknown. */
  run(id: RunId): RunView {
    const run = this.#r.getRun(id);
    if (!run) throw new EngineError("RUN_NOT_FOUND", `run ${id} not found`, { metadata: { run_id: id } });
    return { run, lease: this.#r.getLease(id) };
  }

  /** The latest `limit` attempts of a run, oldest first. */
  latestAttempts(id: RunId, limit: number): AttemptRecord[] {
    const count = this.#r.getRun(id)?.attemptCount ?? 0;
    return this.#r.attempts(id, Math.max(0, count - limit), limit);
  }

  /** A page of a run's attempts after attempt number `after` (0: from the first). */
  attempts(id: RunId, after: number, limit: number): PageOf<AttemptRecord> {
    this.run(id);
    const items = this.#r.attempts(id, after, limit + 1);
    const page = items.slice(0, limit);
    const last = page.at(-1);
    return { items: page, next: items.length > limit && last ? String(last.number) : null };
  }

  /** A task; TASK_NOT_FOUND when unknown. */
  task(id: TaskId): TaskRecord {
    const t = this.#r.getTask(id);
    if (!t) throw new EngineError("TASK_NOT_FOUND", `task ${id} not found`, { metadata: { task_id: id } });
    return t;
  }

  /**
   * Runs matching `f` in id order after `after`. With a concurrency key the page may be short
   * (see `#runsWithKey`).
   */
  runs(f: RunFilter, after: RunId | undefined, limit: number): PageOf<RunView> {
    if (f.concurrencyKey) return this.#runsWithKey(f, f.concurrencyKey, after, limit);
    const ids = this.#matchingRunIds(f, after, limit + 1);
    const page = ids.slice(0, limit);
    const items = page.flatMap((id) => {
      const run = this.#r.getRun(id);
      return run ? [{ run, lease: this.#r.getLease(id) }] : [];
    });
    const last = page.at(-1);
    return { items, next: ids.length > limit && last ? last : null };
  }

  #matchingRunIds(f: RunFilter, after: RunId | undefined, limit: number): RunId[] {
    const r = this.#r;
    const { queue, taskId, states } = f;
    if (taskId !== null) {
      const out: RunId[] = [];
      let cursor = after;
      while (out.length < limit) {
        const ids = r.runIdsOfTask(taskId, cursor, limit * 4);
        if (ids.length === 0) break;
        for (const id of ids) {
          cursor = id;
          const run = r.getRun(id);
          if (run && (queue === "" || run.queue === queue) && (states.size === 0 || states.has(run.state))) out.push(id);
          if (out.length >= limit) break;
        }
      }
      return out;
    }
    if (queue !== "") {
      // Merge the per-state indexes of the queue (each in id order).
      const wanted = states.size > 0 ? [...states] : [...RUN_STATES];
      return wanted
        .flatMap((s) => r.runIdsByState(queue, s, after, limit))
        .sort()
        .slice(0, limit);
    }
    const out: RunId[] = [];
    let cursor = after;
    while (out.length < limit) {
      const ids = r.runIds(cursor, limit * 4);
      if (ids.length === 0) break;
      for (const id of ids) {
        cursor = id;
        const state = r.getRun(id)?.state;
        if (states.size === 0 || (state !== undefined && states.has(state))) out.push(id);
        if (out.length >= limit) break;
      }
      if (states.size === 0) break;
    }
    return out;
  }

  /**
   * Runs matching `f` whose task has concurrency key `key`, in id order after `after`. No
   * index leads from a key to its runs (the key holders are only the runs occupying slots),
   * so the runs the other filters select are read in id order and kept when their record
   * carries the key (`keySlots`, copied from the task). As `tasks()`, a call reads at most
   * ten pages' worth (`limit * 10` runs): a page shorter than `limit`, even empty, with a
   * next position means "keep going", so a rare key costs bounded work per call.
   */
  #runsWithKey(f: RunFilter, key: string, after: RunId | undefined, limit: number): PageOf<RunView> {
    const r = this.#r;
    const pick = (id: RunId): RunView | undefined => {
      const run = r.getRun(id);
      if (!run || run.keySlots?.key !== key) return undefined;
      if ((f.queue !== "" && run.queue !== f.queue) || (f.states.size > 0 && !f.states.has(run.state))) return undefined;
      return { run, lease: r.getLease(id) };
    };
    return scanPage(this.#candidateRunIds(f), pick, after, limit);
  }


  /**
   * Where `#runsWithKey` reads candidate run ids from, in id order after a position: the
   * task's runs with a task filter; the queue's per-state indexes (of the wanted states)
   * merged with a queue; every run otherwise.
   */
  #candidateRunIds(f: RunFilter): (after: RunId | undefined, limit: number) => RunId[] {
    const r = this.#r;
    if (f.taskId !== null) {
      const taskId = f.taskId;
      return (after, limit) => r.runIdsOfTask(taskId, after, limit);
    }
    if (f.queue !== "") {
      const wanted = f.states.size > 0 ? [...f.states] : [...RUN_STATES];
      return (after, limit) =>
        wanted
          .flatMap((s) => r.runIdsByState(f.queue, s, after, limit))
          .sort()
          .slice(0, limit);
    }
    return (after, limit) => r.runIds(after, limit);
  }

  /** When a queue's longest-waiting READY run became READY, or null (domain/oldest-ready.ts). */
  oldestReadyAt(queue: string): number | null {
    return oldestReadyAt(this.#readyRuns(queue));
  }

  /**
   * A queue's READY runs in id order, read lazily in pages that grow from 16 ids (a FIFO
   * queue's answer needs two runs) to 1,024.
   */
  *#readyRuns(queue: string): Generator<RunRecord> {
    let cursor: RunId | undefined;
    for (let size = 16; ; size = Math.min(size * 2, 1_024)) {
      const ids = this.#r.runIdsByState(queue, "READY", cursor, size);
      for (const id of ids) {
        const run = this.#r.getRun(id);
        if (run) yield run;
      }
      if (ids.length < size) return;
      cursor = ids.at(-1);
    }
  }

  /**
   * Tasks matching `f` in id order after `after`. Status filtering scans at most ten pages'
   * worth per call: a short page with a next position means "keep going".
   */
  tasks(f: TaskFilter, after: TaskId | undefined, limit: number): PageOf<TaskRecord> {
    const r = this.#r;
    const filter = f.parentTaskId ? { parent: f.parentTaskId } : f.queue !== "" ? { queue: f.queue } : {};
    const pick = (id: TaskId): TaskRecord | undefined => {
      const t = r.getTask(id);
      if (!t) return undefined;
      if (f.parentTaskId && f.queue !== "" && t.spec.queue !== f.queue) return undefined;
      if (f.statuses.size > 0 && !f.statuses.has(t.status)) return undefined;
      return t;
    };
    return scanPage((cursor, n) => r.taskIds(filter, cursor, n), pick, after, limit);
  }


  /** A concurrency key's occupants, as stored (the gate in memory is rebuilt from them). */
  key(key: string): KeyView {
    const holders = this.#r.keyHolders(key).map((holder) => ({ holder, run: this.#r.getRun(holder.runId) }));
    return { key, slots: holders[0]?.holder.slots ?? 1, holders };
  }

  /** Occupied keys in order after `after`. */
  keys(after: string | undefined, limit: number): PageOf<KeyView> {
    const keys = this.#r.occupiedKeys(after, limit + 1);
    const page = keys.slice(0, limit);
    const last = page.at(-1);
    return { items: page.map((k) => this.key(k)), next: keys.length > limit && last !== undefined ? last : null };
  }
}

/**
 * A page of the items `pick` keeps (undefined: skip) among the positions `source` yields in
 * order after `after`, reading at most ten pages' worth (`limit * 10` positions) per call: a
 * page shorter than `limit`, even empty, with a next position means "keep going". What a
 * filter without an index of its own (ListTasks by status, ListRuns by concurrency key)
 * costs per call stays bounded however rare its matches.
 */
function scanPage<K extends string, T>(source: (after: K | undefined, limit: number) => K[], pick: (id: K) => T | undefined, after: K | undefined, limit: number): PageOf<T> {
  const items: T[] = [];
  let cursor = after;
  let scanned = 0;
  let exhausted = false;
  while (items.length < limit && scanned < limit * 10) {
    const ids = source(cursor, Math.min(limit, limit * 10 - scanned));
    if (ids.length === 0) {
      exhausted = true;
      break;
    }
    for (const id of ids) {
      scanned++;
      cursor = id;
      const item = pick(id);
      if (item === undefined) continue;
      items.push(item);
      if (items.length >= limit) break;
    }
  }
  const more = !exhausted && cursor !== undefined && source(cursor, 1).length > 0;
  return { items, next: more && cursor !== undefined ? cursor : null };
}
