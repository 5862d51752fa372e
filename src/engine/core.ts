/**
 * The engine's shared state: its ports, resolved options and the in-memory indexes every
 * module works on. One `Core` per engine; modules are functions over it (and over the
 * command's `Unit`), so each rule lives in its own file while the state lives here once.
 */
import type { CronSchedule } from "../domain/derive.js";
import type { RunId, TaskId } from "../domain/ids.js";
import { KeyGate } from "../domain/keys.js";
import type { CronParser } from "../domain/task-spec.js";
import type { EngineLogger } from "./api.js";
import { replayOf } from "./commit/replay.js";
import type { Unit } from "./commit/unit.js";
import { EngineError } from "./errors.js";
import { ReadyIndex } from "./memory/ready-index.js";
import type { ResolvedOptions } from "./options.js";
import type { Clock, IdSource, MetaRecord, Random, Store } from "./ports.js";
import type { EventRecord, QueueRecord, RunRecord, TaskRecord } from "./records.js";
import { WatchHub } from "./watch.js";

/** Engine-wide flags kept in memory, mirrored in the store's meta record. */
export interface Flags {
  enginePaused: boolean;
  /** Revision of the last event decided (committed or in the batch in flight). */
  revision: number;
  oldestRevision: number;
}

/** The state every engine module shares. */
export class Core {
  readonly store: Store;
  readonly clock: Clock;
  readonly ids: IdSource;
  readonly random: Random;
  readonly options: ResolvedOptions;
  readonly log: EngineLogger;
  readonly parseCron: CronParser;
  readonly gate = new KeyGate();
  readonly ready: ReadyIndex;
  readonly hub: WatchHub;
  readonly queues = new Map<string, QueueRecord>();
  readonly flags: Flags = { enginePaused: false, revision: 0, oldestRevision: 1 };
  readonly startedAt: number;
  /**
   * Concurrent commits (docs/scaling.md): the READY runs this batch's transaction claimed
   * (FOR UPDATE SKIP LOCKED), the only committed READY runs it may hand out; null: any.
   */
  claimed: ReadonlySet<string> | null = null;
  /** When the armed timer fires (infinity when none). */
  timerAt = Number.POSITIVE_INFINITY;
  /** Storage use last measured for the quota, and when. */
  usedBytes = 0;
  usedBytesAt = Number.NEGATIVE_INFINITY;
  readonly #crons = new Map<string, CronSchedule>();

  constructor(o: ResolvedOptions) {
    this.store = o.store;
    this.clock = o.clock;
    // Over a store that fetches rows, a command may run again after a miss: its draws are
    // replayed (commit/replay.ts). Any other store's sources are used as given.
    const replay = replayOf(o.store);
    this.ids = replay ? replay.ids(o.ids) : o.ids;
    this.random = replay ? replay.random(o.random) : o.random;
    this.options = o;
    this.log = o.logger;
    this.parseCron = o.parseCron;
    this.ready = new ReadyIndex((key, slots) => this.gate.occupancy(key) >= slots);
    this.startedAt = o.clock.now();
    const reader = o.store.reader;
    this.hub = new WatchHub({ events: (from, limit) => reader.events(from, limit), oldestRevision: () => this.flags.oldestRevision }, 0);
  }

  /** The meta record as it stands in memory. */
  meta(): MetaRecord {
    return { revision: this.flags.revision, oldestRevision: this.flags.oldestRevision, enginePaused: this.flags.enginePaused };
  }

  /** Whether the engine, or `queue`, hands out nothing. */
  isPaused(queue: string): boolean {
    return this.flags.enginePaused || this.queues.get(queue)?.paused === true;
  }

  /** Parsed cron schedule of an expression in a time zone (cached); null when it does not parse. */
  schedule(expression: string, timeZone: string): CronSchedule | null {
    const cacheKey = `${timeZone}\u0000${expression}`;
    let s = this.#crons.get(cacheKey);
    if (!s) {
      const parsed = this.parseCron(expression, timeZone);
      if (!parsed.ok) return null;
      s = parsed.value;
      if (this.#crons.size > 10_000) this.#crons.clear();
      this.#crons.set(cacheKey, s);
    }
    return s;
  }

  /** Stamps the next revision on an event and records it in the unit. */
  emit(u: Unit, e: Omit<EventRecord, "revision">): EventRecord {
    const before = this.flags.revision;
    this.flags.revision += 1;
    u.journal.record(() => {
      this.flags.revision = before;
    });
    const ev: EventRecord = { ...e, revision: this.flags.revision };
    u.addEvent(ev);
    return ev;
  }
}

/** The task, or TASK_NOT_FOUND. */
export function mustTask(u: Unit, id: TaskId): TaskRecord {
  const t = u.task(id);
  if (!t) throw new EngineError("TASK_NOT_FOUND", `task ${id} not found`, { metadata: { task_id: id } });
  return t;
}

/** The run, or RUN_NOT_FOUND. */
export function mustRun(u: Unit, id: RunId): RunRecord {
  const run = u.run(id);
  if (!run) throw new EngineError("RUN_NOT_FOUND", `run ${id} not found`, { metadata: { run_id: id } });
  return run;
}

/** Stores a task change, returning the new record. */
export function changeTask(u: Unit, id: TaskId, change: (t: TaskRecord) => TaskRecord): TaskRecord {
  const prev = mustTask(u, id);
  const next = change(prev);
  u.updateTask(next, prev);
  return next;
}
