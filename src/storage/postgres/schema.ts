/**
 * The PostgreSQL schema (docs/scaling.md, "Schema"), as versioned migrations applied by
 * `migrate` (./migrate.ts) in version order, each in its own transaction. A migration, once
 * released, never changes: a change to the schema is a new version appended to the list.
 *
 * Layout rules of version 1:
 *  - One row per record of the Store port (src/engine/records.ts, src/engine/ports.ts). A
 *    field is a real typed column when a StoreReader query, an index or the design's SQL
 *    (the hand-out claim, key admission, compare-and-set, timers) needs it; the rest of the
 *    record is one `jsonb` column, and a field lives in exactly one of the two places (except
 *    copies of fields that never change, said where they occur). Binary fields (a task's
 *    payload, an attempt's output) are `bytea`: JSON has no bytes.
 *  - Times are `bigint` epoch milliseconds, as in the records.
 *  - Ids are `uuid` (16 bytes; PostgreSQL orders uuids byte by byte, which is the order of
 *    their lowercase text form, so "in id order" is LMDB's order).
 *  - Names and keys the port returns in order (queue names, concurrency keys, timer kinds)
 *    are `COLLATE "C"`: byte order of their UTF-8, as LMDB's keys sort, whatever the
 *    database's default collation.
 *  - No counter table (LMDB's `counts`): with several servers a (queue, state) count row
 *    would be a lock every transition of the queue waits on. Counts are read from the
 *    (queue, state, id) index instead.
 */

/** One schema version: `sql` runs as one multi-statement query inside its transaction. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const RUN_STATES_SQL = "'SCHEDULED', 'READY', 'LEASED', 'RUNNING', 'RETRY_WAIT', 'SUSPENDED', 'COMPLETED', 'FAILED', 'CANCELED'";

const V1_INITIAL = `
-- The revision counter (design §4): one row, incremented as the last statement of every
-- commit that produces events, so revisions are assigned in commit order without gaps.
-- Apart from meta so that saving engine flags does not take the counter's lock early.
-- MetaRecord.revision is this value.
CREATE TABLE revision (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  value bigint NOT NULL
);
INSERT INTO revision (id, value) VALUES (true, 0);

-- MetaRecord without its revision (which is the counter above): one row, all columns
-- (oldest_revision answers "is this watch resumable"; engine_paused is a condition of the
-- hand-out claim).
CREATE TABLE meta (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  oldest_revision bigint NOT NULL,
  engine_paused boolean NOT NULL
);
INSERT INTO meta (id, oldest_revision, engine_paused) VALUES (true, 1, false);

-- TaskRecord's progress (TaskStateRecord): rewritten as the task progresses; its spec is in
-- task_specs, written once (as LMDB keeps tasks and task_specs apart).
CREATE TABLE tasks (
  id uuid PRIMARY KEY,
  -- Copied from the spec, which never changes: taskIds({ queue }).
  queue text COLLATE "C" NOT NULL,
  -- Copied from the spec: taskIds({ parent }), childTaskIds.
  parent_id uuid,
  -- Copied from the spec (policy.kind = CRON): cronTaskIds, with status.
  is_cron boolean NOT NULL,
  -- TaskRecord.status: cronTaskIds (ACTIVE cron tasks only).
  status text NOT NULL CHECK (status IN ('ACTIVE', 'COMPLETED', 'FAILED', 'CANCELED')),
  -- The compare-and-set token of updateTask (bumped by every update): TaskRecord carries
  -- no revision of its own.
  version bigint NOT NULL DEFAULT 1,
  -- The rest of TaskStateRecord (counters, times, cron cursor).
  progress jsonb NOT NULL
);
CREATE INDEX tasks_queue ON tasks (queue, id);
CREATE INDEX tasks_parent ON tasks (parent_id, id) WHERE parent_id IS NOT NULL;
CREATE INDEX tasks_cron ON tasks (id) WHERE is_cron AND status = 'ACTIVE';

-- TaskSpec: written once by createTask, removed with its task (purgeTask).
CREATE TABLE task_specs (
  task_id uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
  -- The spec without payload.data.
  spec jsonb NOT NULL,
  -- spec.payload.data: bytes.
  payload bytea NOT NULL
);

-- TaskSpec.dependsOn, one row per edge (LMDB's idx_dependents): dependentTaskIds in id order.
-- The prerequisite is not a foreign key: it may be purged before its dependents.
CREATE TABLE task_dependencies (
  prerequisite_id uuid NOT NULL,
  task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  PRIMARY KEY (prerequisite_id, task_id)
);
CREATE INDEX task_dependencies_task ON task_dependencies (task_id);

-- RunRecord. No foreign key to tasks: retention purges runs and tasks in its own order.
CREATE TABLE runs (
  id uuid PRIMARY KEY,
  -- runIdsOfTask.
  task_id uuid NOT NULL,
  -- runIdsByState, readyEntries, counts, queueNames and the hand-out claim.
  queue text COLLATE "C" NOT NULL,
  state text NOT NULL CHECK (state IN (${RUN_STATES_SQL})),
  -- The hand-out order: effective_priority DESC, created_at, id.
  effective_priority integer NOT NULL,
  created_at bigint NOT NULL,
  -- Revision of the run's latest event (what watches and the engine compare).
  revision bigint NOT NULL,
  -- The compare-and-set token of updateRun (bumped by every update): revision alone is not
  -- one, since changes without an event (a dependency wait) leave it as it is.
  version bigint NOT NULL DEFAULT 1,
  -- finishedRuns (retention): set when the run reached a terminal state.
  finished_at bigint,
  -- Never change (copied from the task): capability routing and key admission are
  -- conditions of the claim; readyEntries returns them.
  capabilities text[] NOT NULL,
  concurrency_key text COLLATE "C",
  key_slots integer,
  -- RunRecord.keyHold (readyEntries; admission).
  key_hold text CHECK (key_hold IN ('RESERVED', 'HELD')),
  -- The rest of RunRecord (attempt counters, times, reason, lease token, due entries, …).
  record jsonb NOT NULL,
  CHECK ((concurrency_key IS NULL) = (key_slots IS NULL))
);
-- The hand-out index (design §2): READY runs of a queue in the order they are handed out.
CREATE INDEX runs_handout ON runs (queue, effective_priority DESC, created_at, id) WHERE state = 'READY';
-- runIdsByState and readyEntries (id order), counts(queue), queueNames.
CREATE INDEX runs_queue_state ON runs (queue, state, id);
CREATE INDEX runs_task ON runs (task_id, id);
CREATE INDEX runs_finished ON runs (finished_at, id) WHERE finished_at IS NOT NULL;

-- AttemptRecord: every attempt of a run, purged with it.
CREATE TABLE attempts (
  run_id uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  -- attempts(runId, afterNumber) and getAttempt; bigint: the counter is a u32.
  number bigint NOT NULL,
  -- The rest of AttemptRecord (id, worker, outcome, error, times).
  record jsonb NOT NULL,
  -- AttemptRecord.output: bytes.
  output bytea NOT NULL,
  PRIMARY KEY (run_id, number)
);

-- LeaseRecord: the live lease of a LEASED or RUNNING run, deleted when it ends (or with the
-- run). Only looked up by run.
CREATE TABLE leases (
  run_id uuid PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  record jsonb NOT NULL
);

-- A row per concurrency key (design §3): admission locks it (SELECT … FOR UPDATE) and counts
-- the key's holders in the same transaction, so two servers cannot both take the last slot.
CREATE TABLE concurrency_keys (
  key text COLLATE "C" PRIMARY KEY
);

-- KeyHolderRecord: one occupant of a key's slots, the truth of its occupancy.
CREATE TABLE key_holders (
  -- keyHolders(key), occupiedKeys, the admission count.
  key text COLLATE "C" NOT NULL REFERENCES concurrency_keys (key),
  run_id uuid NOT NULL,
  -- The rest of KeyHolderRecord (hold, since, slots).
  record jsonb NOT NULL,
  PRIMARY KEY (key, run_id)
);

-- QueueRecord plus the queue's token bucket (design §2), one row per queue with settings
-- or runs (queueNames). All columns: the claim reads paused and the rate, and updates the
-- bucket in SQL.
CREATE TABLE queues (
  name text COLLATE "C" PRIMARY KEY,
  -- Whether saveQueue stored settings (getQueue answers only for those); a row created
  -- for a queue's runs only has none.
  configured boolean NOT NULL DEFAULT false,
  paused boolean NOT NULL DEFAULT false,
  rate_per_second double precision NOT NULL DEFAULT 0,
  burst double precision NOT NULL DEFAULT 0,
  -- The token bucket: tokens left at tokens_at (epoch ms).
  tokens double precision NOT NULL DEFAULT 0,
  tokens_at bigint NOT NULL DEFAULT 0
);

-- EventRecord: the revisioned change log (design §5), tailed by every server from its last
-- revision; purged from the oldest.
CREATE TABLE events (
  revision bigint PRIMARY KEY,
  record jsonb NOT NULL
);

-- ReservationRecord: a purged task's id, kept until "until" (deduplication window). All
-- columns.
CREATE TABLE reservations (
  task_id uuid PRIMARY KEY,
  purged_at bigint NOT NULL,
  -- expiredReservations.
  until bigint NOT NULL
);
CREATE INDEX reservations_until ON reservations (until, task_id);

-- DueEntry: the timer index (design §6), one row per entry a run owns (RunRecord.due);
-- claimed with FOR UPDATE SKIP LOCKED by the server that applies it. dueEntries and
-- nextDue read the primary key in order.
CREATE TABLE due_timers (
  at bigint NOT NULL,
  kind text COLLATE "C" NOT NULL CHECK (kind IN ('PROMOTE', 'RETRY', 'LEASE', 'TIMEOUT')),
  run_id uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  PRIMARY KEY (at, kind, run_id)
);
-- Replacing a run's entries, and the cascade from runs.
CREATE INDEX due_timers_run ON due_timers (run_id);
`;

/**
 * Version 2: the change log several servers follow one another through (docs/scaling.md,
 * "Several servers"). Every commit takes the head row's lock first, so commits of all servers
 * run one at a time; it appends its verbs as the next change and moves the head. A change
 * becomes visible only at its COMMIT, which happens before the next commit can take the lock,
 * so what any snapshot sees of the log is always a gap-free prefix.
 */
const V2_CHANGE_LOG = `
-- The head of the change log: its row lock is the commit lock every server takes first.
CREATE TABLE change_head (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  seq bigint NOT NULL
);
INSERT INTO change_head (id, seq) VALUES (true, 0);

-- One row per commit: its verbs (src/storage/postgres/changes.ts), in commit order. Kept a
-- short while (pruned by age); a server further behind reloads everything instead.
CREATE TABLE changes (
  seq bigint PRIMARY KEY,
  -- Epoch ms of the commit (pruning).
  at bigint NOT NULL,
  verbs bytea NOT NULL
);
CREATE INDEX changes_at ON changes (at);
`;

/**
 * Version 3: concurrent commits (docs/scaling.md, "Concurrent commits"). A batch decided
 * without the lock learns its revisions only at commit: the change row says how far they
 * moved from the ones its verbs carry, and every server following it moves them as much.
 */
const V3_REVISION_DELTA = `
ALTER TABLE changes ADD COLUMN revision_delta bigint NOT NULL DEFAULT 0;
`;

/**
 * Version 4: checks that fail in the database (docs/scaling.md, "Concurrent commits"). A
 * concurrent commit sends its COMMIT in the same round trip as its statements, so a
 * compare-and-set that touched no row, or a check that found too much, must abort the
 * transaction itself rather than be noticed by the server afterwards: wrapped in
 * aq_expect_rows, it raises SQLSTATE AQ001 and the COMMIT that follows rolls back.
 */
const V4_EXPECT_ROWS = `
CREATE FUNCTION aq_expect_rows(n bigint, what text) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  IF n <> 1 THEN
    RAISE EXCEPTION '%', what USING ERRCODE = 'AQ001';
  END IF;
  RETURN n;
END
$$;
`;

/** Every schema version, oldest first. Never edit a released entry: append a new one. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "initial schema", sql: V1_INITIAL },
  { version: 2, name: "change log", sql: V2_CHANGE_LOG },
  { version: 3, name: "revisions assigned at commit", sql: V3_REVISION_DELTA },
  { version: 4, name: "checks that fail in the database", sql: V4_EXPECT_ROWS },
];

/** The newest version this code knows. */
export const LATEST_VERSION: number = MIGRATIONS.at(-1)?.version ?? 0;

/** The tables of the current schema (besides schema_migrations), for tests and checks. */
export const TABLES = [
  "revision",
  "meta",
  "tasks",
  "task_specs",
  "task_dependencies",
  "runs",
  "attempts",
  "leases",
  "concurrency_keys",
  "key_holders",
  "queues",
  "events",
  "reservations",
  "due_timers",
  "change_head",
  "changes",
] as const;
