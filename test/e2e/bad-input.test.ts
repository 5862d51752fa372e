/**
 * Bad input, black box: every RPC of the four ActionQueue services is sent malformed,
 * out-of-range, unknown or ill-timed requests against a real server process, and each row
 * asserts the status code, the ErrorInfo (domain "actionqueue.v1" and reason) and, for
 * INVALID_ARGUMENT, the exact BadRequest field paths (proto field names). Rows run over the
 * gRPC protocol with binary protobuf (generated Connect client) and, unless a row can only
 * be expressed in binary (open enums, out-of-range well-known types, big messages), again
 * over the Connect protocol with JSON on HTTP/1.1.
 *
 * Below the API, raw HTTP/1.1 (Connect protocol) and raw HTTP/2 (gRPC framing) requests send
 * unparseable bodies, wrong content types and broken envelopes.
 *
 * After everything the server must still be alive and SERVING, and unchanged: the stats,
 * every run (state, revision, lease expiry) and every task are exactly what they were after
 * seeding. Bad input changes nothing.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import http2 from "node:http2";
import { type CallOptions, Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  type ActionQueueClients,
  AttemptOutcome,
  type GetStatsResponse,
  type HoldPolicy,
  type MisfirePolicy,
  RunState,
  TaskStatus,
} from "../../clients/typescript/src/index.js";
import { fromBinary } from "@bufbuild/protobuf";
import { BadRequestSchema, ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import { connectGrpc, connectJson, grpcJs, type ServerProcess, startServer, unary } from "../support/server.js";

// ---------------------------------------------------------------------------------------
// Constants and small builders

const DOMAIN = "actionqueue.v1";
const CALL_TIMEOUT_MS = 15_000;
const KiB = 1024;
const MiB = 1024 * KiB;

const Q = "bad-input";
const Q_LATER = "bad-input-later";
const Q_TREE = "bad-input-tree";
const KEY = "bad-input-key";

const NIL = "00000000-0000-0000-0000-000000000000";
/** Well-formed, never stored. */
const UNKNOWN = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
const UNKNOWN_2 = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c";
/** Caller-chosen ids of seeded tasks and of batch items that must never be stored. */
const TASK_DONE = "5eed0000-0000-4000-8000-000000000001";
const NEVER_STORED = ["bad00000-0000-4000-8000-000000000001", "bad00000-0000-4000-8000-000000000002", "bad00000-0000-4000-8000-000000000003"] as const;

/** Ids that are not ids. */
const MALFORMED_IDS: ReadonlyArray<readonly [string, string]> = [
  ["empty id", ""],
  ["nil UUID", NIL],
  ["malformed id", "not-a-uuid"],
  ["UUID without hyphens", "0190a1b2c3d47e5f8a9b0c1d2e3f4a5b"],
  ["UUID in braces", "{0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b}"],
  ["UUID with trailing space", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b "],
  ["10,000-character id", "a".repeat(10_000)],
];

/** Queue names outside [A-Za-z0-9._:-]{1,128}. */
const BAD_QUEUES: ReadonlyArray<readonly [string, string]> = [
  ["empty queue", ""],
  ['queue "has space"', "has space"],
  ["129-character queue", "q".repeat(129)],
  ["queue with a slash", "a/b"],
  ["non-ASCII queue", "queue-é"],
];

/** Page tokens no server ever handed out. */
const BAD_TOKENS: ReadonlyArray<readonly [string, string]> = [
  ["garbage page token", "%%%not-a-token%%%"],
  ["base64 page token of junk JSON", Buffer.from('{"x":1}').toString("base64url")],
  ["base64 page token of random bytes", Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]).toString("base64url")],
];

const text = (s: string) => new TextEncoder().encode(s);
const payload = (s = "x") => ({ data: text(s), contentType: "text/plain" });
const sec = (seconds: number | bigint, nanos = 0) => ({ seconds: BigInt(seconds), nanos });
const millis = (ms: number) => ({ seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });
/** 10000-01-01T00:00:00Z: one second past the Timestamp range. */
const YEAR_10000 = 253_402_300_800n;
/** 9999-12-31T00:00:00Z. */
const LAST_DAY = 253_402_214_400n;
/** 2999-01-01T00:00:00Z: far enough that a run stays SCHEDULED. */
const YEAR_2999 = 32_472_144_000n;
const DAY = 86_400;

const GRPC_NAME: Record<number, string> = {
  [Code.Canceled]: "CANCELLED",
  [Code.Unknown]: "UNKNOWN",
  [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.DeadlineExceeded]: "DEADLINE_EXCEEDED",
  [Code.NotFound]: "NOT_FOUND",
  [Code.AlreadyExists]: "ALREADY_EXISTS",
  [Code.PermissionDenied]: "PERMISSION_DENIED",
  [Code.ResourceExhausted]: "RESOURCE_EXHAUSTED",
  [Code.FailedPrecondition]: "FAILED_PRECONDITION",
  [Code.Aborted]: "ABORTED",
  [Code.OutOfRange]: "OUT_OF_RANGE",
  [Code.Unimplemented]: "UNIMPLEMENTED",
  [Code.Internal]: "INTERNAL",
  [Code.Unavailable]: "UNAVAILABLE",
  [Code.DataLoss]: "DATA_LOSS",
  [Code.Unauthenticated]: "UNAUTHENTICATED",
};

// ---------------------------------------------------------------------------------------
// Seeded state, filled in beforeAll and read lazily by the rows

interface Seed {
  /** COMPLETED run of the COMPLETED task TASK_DONE, and its spent lease token / attempt. */
  readonly doneRun: string;
  readonly doneToken: string;
  readonly doneAttempt: string;
  /** LEASED run (1 h lease) and its token. */
  readonly leasedRun: string;
  readonly leasedToken: string;
  /** RUNNING run (1 h lease, holds KEY) with its token and open attempt. */
  readonly runningRun: string;
  readonly runningToken: string;
  readonly runningAttempt: string;
  /** READY run and its (ACTIVE) task. */
  readonly readyRun: string;
  readonly readyTask: string;
  /** SCHEDULED run (due in 2999). */
  readonly scheduledRun: string;
  /** The deepest task of a hierarchy at the depth limit (depth 7 of 0..7). */
  readonly deepestTask: string;
}
let seed: Seed;
let server: ServerProcess;
let grpc: ActionQueueClients;
let json: ActionQueueClients;

// ---------------------------------------------------------------------------------------
// Row model

type Call = (c: ActionQueueClients, o: CallOptions) => Promise<unknown>;

interface Row {
  readonly name: string;
  readonly call: Call;
  /** Expected gRPC status code (number). */
  readonly code: Code;
  /** Expected ErrorInfo reason. */
  readonly reason: string;
  /** INVALID_ARGUMENT only: the exact BadRequest field paths (any order). */
  readonly fields: readonly string[];
  /** The violation(s) must carry a non-empty description (the cron parser's message). */
  readonly described?: boolean;
  /** Only over the binary gRPC client (open enums, out-of-range WKTs, big messages). */
  readonly binaryOnly?: boolean;
}

type Extra = Pick<Row, "described" | "binaryOnly">;

function invalid(name: string, fields: readonly string[], call: Call, extra: Extra = {}): Row {
  return { name, call, code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", fields, ...extra };
}
function refused(name: string, code: Code, reason: string, call: Call, extra: Extra = {}): Row {
  return { name, call, code, reason, fields: [], ...extra };
}
const notFound = (name: string, reason: "RUN_NOT_FOUND" | "TASK_NOT_FOUND", call: Call): Row => refused(name, Code.NotFound, reason, call);
const precondition = (name: string, reason: string, call: Call): Row => refused(name, Code.FailedPrecondition, reason, call);

/** INVALID_ARGUMENT rows for every malformed id in `field`, plus NOT_FOUND for an unknown one. */
function idRows(field: string, call: (id: string) => Call, unknownReason?: "RUN_NOT_FOUND" | "TASK_NOT_FOUND"): Row[] {
  const rows = MALFORMED_IDS.map(([what, id]) => invalid(`${what} in ${field}`, [field], call(id)));
  if (unknownReason) rows.push(notFound(`unknown ${field}`, unknownReason, call(UNKNOWN)));
  return rows;
}
/** INVALID_ARGUMENT rows for every bad queue name in `field`. */
function queueRows(field: string, call: (queue: string) => Call): Row[] {
  return BAD_QUEUES.map(([what, q]) => invalid(`${what} in ${field}`, [field], call(q)));
}
/**
 * Lease tokens are opaque secrets (the proto only says "Token from LeaseRuns. Required."):
 * an empty one is INVALID_ARGUMENT, and any token that does not own the run — however it
 * looks — is LEASE_LOST.
 */
function leaseTokenRows(call: (token: string) => Call): Row[] {
  return [
    invalid("empty lease_token", ["lease_token"], call("")),
    precondition("nil UUID as lease_token", "LEASE_LOST", call(NIL)),
    precondition('"not-a-uuid" as lease_token', "LEASE_LOST", call("not-a-uuid")),
    precondition("a fresh random lease_token", "LEASE_LOST", call(randomUUID())),
  ];
}
function tokenRows(field: string, call: (token: string) => Call): Row[] {
  return BAD_TOKENS.map(([what, t]) => invalid(`${what} in ${field}`, [field], call(t)));
}

function rowTitle(r: Row): string {
  const fields = r.fields.length > 0 ? ` [${r.fields.join(", ")}]` : "";
  return `${r.name} → ${r.code} ${GRPC_NAME[r.code] ?? "?"} ${r.reason}${fields}`;
}

/** What a refusal looked like, in a shape that diffs well. */
interface Seen {
  readonly code: number | string;
  readonly domain: string | undefined;
  readonly reason: string | undefined;
  readonly fields: string[];
}

async function observe(call: Call, clients: ActionQueueClients): Promise<{ seen: Seen; descriptions: string[] }> {
  const outcome = await call(clients, { timeoutMs: CALL_TIMEOUT_MS }).then(
    () => ({ ok: true as const }),
    (e: unknown) => ({ ok: false as const, e }),
  );
  if (outcome.ok) return { seen: { code: "call succeeded", domain: undefined, reason: undefined, fields: [] }, descriptions: [] };
  if (!(outcome.e instanceof ConnectError)) {
    return { seen: { code: `not a ConnectError: ${String(outcome.e)}`, domain: undefined, reason: undefined, fields: [] }, descriptions: [] };
  }
  const ce = outcome.e;
  const info = ce.findDetails(ErrorInfoSchema)[0];
  const violations = ce.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations);
  return {
    seen: { code: ce.code, domain: info?.domain, reason: info?.reason, fields: violations.map((v) => v.field).sort() },
    descriptions: violations.map((v) => v.description),
  };
}

async function expectRow(r: Row, clients: ActionQueueClients): Promise<void> {
  const { seen, descriptions } = await observe(r.call, clients);
  expect(seen).toEqual({ code: r.code, domain: DOMAIN, reason: r.reason, fields: [...r.fields].sort() });
  if (r.described) {
    expect(descriptions.length).toBeGreaterThan(0);
    for (const d of descriptions) expect(d.trim()).not.toBe("");
  }
}

// ---------------------------------------------------------------------------------------
// Request builders

const spec = (over: Record<string, unknown> = {}) => ({ queue: Q, payload: payload(), ...over });
const submit = (s: Record<string, unknown>, taskId?: string): Call => (c, o) => c.tasks.submitTask({ ...(taskId === undefined ? {} : { taskId }), spec: s }, o);
const withConstraints = (constraints: Record<string, unknown>) => submit(spec({ constraints }));
const withMetadata = (metadata: Record<string, unknown>) => submit(spec({ metadata }));
const withPolicy = (policy: Record<string, unknown>) => submit(spec({ policy }));
const cron = (c: Record<string, unknown>) => withPolicy({ kind: { case: "cron", value: { expression: "*/5 * * * *", ...c } } });
const repeat = (r: Record<string, unknown>) => withPolicy({ kind: { case: "repeat", value: { count: 2, ...r } } });
const once = (r: Record<string, unknown>) => withPolicy({ kind: { case: "once", value: r } });
const lease = (over: Record<string, unknown>): Call => (c, o) => c.workers.leaseRuns({ queues: [Q], workerId: "bad-worker", ...over }, o);
const complete = (over: Record<string, unknown>): Call => (c, o) =>
  c.workers.completeAttempt({ runId: seed.runningRun, leaseToken: seed.runningToken, attemptId: seed.runningAttempt, outcome: AttemptOutcome.SUCCESS, ...over }, o);
const watch = (req: Record<string, unknown>): Call => async (c, o) => {
  for await (const _ of c.runs.watchRuns(req, o)) {
    throw new Error("the watch was accepted and delivered a message");
  }
};
/** A real next_page_token (read-only listings of the seeded state), to misuse elsewhere. */
async function realToken(c: ActionQueueClients, o: CallOptions, from: "runs" | "tasks"): Promise<string> {
  const page = from === "runs" ? await c.runs.listRuns({ pageSize: 1 }, o) : await c.tasks.listTasks({ pageSize: 1, queue: Q }, o);
  if (page.nextPageToken === "") throw new Error("the seeded state should span more than one page");
  return page.nextPageToken;
}
const validItem = (i: number) => ({ spec: spec({ payload: payload(`item ${i}`) }) });
const repeatItems = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));

// ---------------------------------------------------------------------------------------
// The table: one entry per RPC

const TABLE: ReadonlyArray<readonly [string, readonly Row[]]> = [
  // ------------------------------------------------------------------ TaskService
  [
    "TaskService/SubmitTask",
    [
      invalid("empty request", ["spec"], (c, o) => c.tasks.submitTask({}, o)),
      ...idRows("task_id", (id) => submit(spec(), id)).filter((r) => !r.name.startsWith("empty id")),
      refused("known task_id with a different spec", Code.AlreadyExists, "TASK_CONFLICT", submit(spec({ payload: payload("different") }), TASK_DONE)),
      ...queueRows("spec.queue", (q) => submit(spec({ queue: q }))),
      invalid("payload of 1 MiB + 1 byte", ["spec.payload.data"], submit(spec({ payload: { data: new Uint8Array(MiB + 1), contentType: "application/octet-stream" } }))),
      invalid("payload of 3 MiB (message still under 4 MiB)", ["spec.payload.data"], submit(spec({ payload: { data: new Uint8Array(3 * MiB), contentType: "application/octet-stream" } })), { binaryOnly: true }),
      invalid("256-character content_type", ["spec.payload.content_type"], submit(spec({ payload: { data: text("x"), contentType: "a".repeat(256) } }))),
      invalid("content_type with a newline", ["spec.payload.content_type"], submit(spec({ payload: { data: text("x"), contentType: "text/plain\n" } }))),
      invalid("non-ASCII content_type", ["spec.payload.content_type"], submit(spec({ payload: { data: text("x"), contentType: "text/plàin" } }))),
      invalid("max_attempts -1", ["spec.constraints.max_attempts"], withConstraints({ maxAttempts: -1 })),
      invalid("max_attempts 1001", ["spec.constraints.max_attempts"], withConstraints({ maxAttempts: 1001 })),
      invalid("max_attempts 2147483647", ["spec.constraints.max_attempts"], withConstraints({ maxAttempts: 2_147_483_647 })),
      invalid("max_attempts -2147483648", ["spec.constraints.max_attempts"], withConstraints({ maxAttempts: -2_147_483_648 })),
      invalid("attempt_timeout negative", ["spec.constraints.attempt_timeout"], withConstraints({ attemptTimeout: sec(-1) })),
      invalid("attempt_timeout 7 days + 1 s", ["spec.constraints.attempt_timeout"], withConstraints({ attemptTimeout: sec(7 * DAY + 1) })),
      invalid("attempt_timeout with nanos 2e9", ["spec.constraints.attempt_timeout"], withConstraints({ attemptTimeout: sec(5, 2_000_000_000) }), { binaryOnly: true }),
      invalid("attempt_timeout with mixed signs", ["spec.constraints.attempt_timeout"], withConstraints({ attemptTimeout: sec(5, -1) }), { binaryOnly: true }),
      invalid("attempt_timeout of max int64 seconds", ["spec.constraints.attempt_timeout"], withConstraints({ attemptTimeout: sec(9_223_372_036_854_775_807n) }), { binaryOnly: true }),
      invalid("fixed backoff interval negative", ["spec.constraints.backoff.fixed.interval"], withConstraints({ backoff: { kind: { case: "fixed", value: { interval: sec(-1) } } } })),
      invalid("fixed backoff interval 7 days + 1 s", ["spec.constraints.backoff.fixed.interval"], withConstraints({ backoff: { kind: { case: "fixed", value: { interval: sec(7 * DAY + 1) } } } })),
      invalid("exponential backoff without base", ["spec.constraints.backoff.exponential.base"], withConstraints({ backoff: { kind: { case: "exponential", value: {} } } })),
      invalid("exponential backoff base 0.5 ms", ["spec.constraints.backoff.exponential.base"], withConstraints({ backoff: { kind: { case: "exponential", value: { base: { seconds: 0n, nanos: 500_000 } } } } })),
      invalid("exponential backoff base 7 days + 1 s", ["spec.constraints.backoff.exponential.base"], withConstraints({ backoff: { kind: { case: "exponential", value: { base: sec(7 * DAY + 1), max: sec(7 * DAY) } } } })),
      invalid("exponential backoff max < base", ["spec.constraints.backoff.exponential.max"], withConstraints({ backoff: { kind: { case: "exponential", value: { base: sec(10), max: sec(5) } } } })),
      invalid("exponential backoff max 7 days + 1 s", ["spec.constraints.backoff.exponential.max"], withConstraints({ backoff: { kind: { case: "exponential", value: { base: sec(1), max: sec(7 * DAY + 1) } } } })),
      invalid("empty concurrency key", ["spec.constraints.concurrency.key"], withConstraints({ concurrency: { key: "" } })),
      invalid("concurrency key of 257 bytes", ["spec.constraints.concurrency.key"], withConstraints({ concurrency: { key: "k".repeat(257) } })),
      invalid("concurrency key of 129 'é' (258 bytes)", ["spec.constraints.concurrency.key"], withConstraints({ concurrency: { key: "é".repeat(129) } })),
      invalid("concurrency slots -1", ["spec.constraints.concurrency.slots"], withConstraints({ concurrency: { key: "k", slots: -1 } })),
      invalid("concurrency slots 10001", ["spec.constraints.concurrency.slots"], withConstraints({ concurrency: { key: "k", slots: 10_001 } })),
      invalid("hold_policy 7", ["spec.constraints.concurrency.hold_policy"], withConstraints({ concurrency: { key: "k", holdPolicy: 7 as HoldPolicy } }), { binaryOnly: true }),
      invalid("33 required_capabilities", ["spec.constraints.required_capabilities"], withConstraints({ requiredCapabilities: repeatItems(33, (i) => `cap${i}`) })),
      invalid('required capability "has space"', ["spec.constraints.required_capabilities[0]"], withConstraints({ requiredCapabilities: ["has space"] })),
      invalid("65-character required capability", ["spec.constraints.required_capabilities[0]"], withConstraints({ requiredCapabilities: ["c".repeat(65)] })),
      invalid("priority 1000001", ["spec.metadata.priority"], withMetadata({ priority: 1_000_001 })),
      invalid("priority -1000001", ["spec.metadata.priority"], withMetadata({ priority: -1_000_001 })),
      invalid("priority 2147483647", ["spec.metadata.priority"], withMetadata({ priority: 2_147_483_647 })),
      invalid("33 tags", ["spec.metadata.tags"], withMetadata({ tags: repeatItems(33, (i) => `t${i}`) })),
      invalid("empty tag", ["spec.metadata.tags[0]"], withMetadata({ tags: [""] })),
      invalid("65-character tag", ["spec.metadata.tags[1]"], withMetadata({ tags: ["ok", "t".repeat(65)] })),
      invalid("tag with a control character", ["spec.metadata.tags[0]"], withMetadata({ tags: ["a\u0007b"] })),
      invalid("1025-character description", ["spec.metadata.description"], withMetadata({ description: "d".repeat(1025) })),
      ...idRows("spec.parent_task_id", (id) => submit(spec({ parentTaskId: id }))).filter((r) => !r.name.startsWith("empty id")),
      notFound("unknown spec.parent_task_id", "TASK_NOT_FOUND", submit(spec({ parentTaskId: UNKNOWN }))),
      precondition("COMPLETED parent task", "TASK_TERMINAL", submit(spec({ parentTaskId: TASK_DONE }))),
      notFound("a task that names itself as parent", "TASK_NOT_FOUND", submit(spec({ parentTaskId: NEVER_STORED[2] }), NEVER_STORED[2])),
      precondition("parent already at the depth limit", "HIERARCHY_TOO_DEEP", (c, o) => submit(spec({ parentTaskId: seed.deepestTask }))(c, o)),
      ...idRows("spec.depends_on[0]", (id) => submit(spec({ dependsOn: [id] }))),
      invalid("malformed second depends_on", ["spec.depends_on[1]"], submit(spec({ dependsOn: [TASK_DONE, "nope"] }))),
      notFound("unknown prerequisite among known ones", "TASK_NOT_FOUND", submit(spec({ dependsOn: [TASK_DONE, UNKNOWN] }))),
      precondition("a task that depends on itself", "DEPENDENCY_CYCLE", submit(spec({ dependsOn: [NEVER_STORED[2]] }), NEVER_STORED[2])),
      invalid("65 distinct depends_on", ["spec.depends_on"], submit(spec({ dependsOn: repeatItems(65, () => randomUUID()) }))),
      invalid("once start_at seconds -1", ["spec.policy.once.start_at"], once({ startAt: sec(-1) })),
      invalid("once start_at in year 10000", ["spec.policy.once.start_at"], once({ startAt: sec(YEAR_10000) }), { binaryOnly: true }),
      invalid("once start_at nanos 2e9", ["spec.policy.once.start_at"], once({ startAt: sec(1_700_000_000, 2_000_000_000) }), { binaryOnly: true }),
      invalid("once start_at nanos -1", ["spec.policy.once.start_at"], once({ startAt: sec(1_700_000_000, -1) }), { binaryOnly: true }),
      invalid("repeat count 0", ["spec.policy.repeat.count"], repeat({ count: 0 })),
      invalid("repeat count -1", ["spec.policy.repeat.count"], repeat({ count: -1 })),
      invalid("repeat count 10001", ["spec.policy.repeat.count"], repeat({ count: 10_001 })),
      invalid("repeat count 2147483647", ["spec.policy.repeat.count"], repeat({ count: 2_147_483_647 })),
      invalid("repeat interval negative", ["spec.policy.repeat.interval"], repeat({ interval: sec(-60) })),
      invalid("repeat interval over 10 years", ["spec.policy.repeat.interval"], repeat({ interval: sec(3660 * DAY) })),
      invalid("repeat interval nanos 2e9", ["spec.policy.repeat.interval"], repeat({ interval: sec(1, 2_000_000_000) }), { binaryOnly: true }),
      invalid("repeat whose last run falls after 9999-12-31", ["spec.policy.repeat"], repeat({ count: 2, interval: sec(DAY), startAt: sec(LAST_DAY) })),
      invalid("repeat of 10,000 runs 10 years apart (overflow)", ["spec.policy.repeat"], repeat({ count: 10_000, interval: sec(3650 * DAY) })),
      invalid("repeat start_at seconds -1", ["spec.policy.repeat.start_at"], repeat({ startAt: sec(-1) })),
      invalid("repeat start_at in year 10000", ["spec.policy.repeat.start_at"], repeat({ startAt: sec(YEAR_10000) }), { binaryOnly: true }),
      invalid("cron expression empty", ["spec.policy.cron.expression"], cron({ expression: "" })),
      invalid("cron expression not a cron", ["spec.policy.cron.expression"], cron({ expression: "not a cron" }), { described: true }),
      invalid("cron expression minute 61", ["spec.policy.cron.expression"], cron({ expression: "61 * * * *" }), { described: true }),
      invalid("cron expression with 8 fields", ["spec.policy.cron.expression"], cron({ expression: "* * * * * * * *" }), { described: true }),
      invalid("cron expression February 30th (never fires)", ["spec.policy.cron.expression"], cron({ expression: "0 0 30 2 *" }), { described: true }),
      invalid("cron expression of 257 characters", ["spec.policy.cron.expression"], cron({ expression: `*/5 * * * *${" ".repeat(246)}` })),
      invalid("cron time_zone Not/AZone", ["spec.policy.cron.time_zone"], cron({ timeZone: "Not/AZone" }), { described: true }),
      invalid('cron time_zone "has space"', ["spec.policy.cron.time_zone"], cron({ timeZone: "has space" }), { described: true }),
      invalid("cron max_occurrences -1", ["spec.policy.cron.max_occurrences"], cron({ maxOccurrences: -1 })),
      invalid("cron misfire_policy 7", ["spec.policy.cron.misfire_policy"], cron({ misfirePolicy: 7 as MisfirePolicy }), { binaryOnly: true }),
      invalid("cron start_at in year 10000", ["spec.policy.cron.start_at"], cron({ startAt: sec(YEAR_10000) }), { binaryOnly: true }),
      invalid("cron start_at seconds -1", ["spec.policy.cron.start_at"], cron({ startAt: sec(-1) })),
      invalid("several bad fields at once", ["spec.queue", "spec.constraints.max_attempts", "spec.metadata.priority"], submit({ queue: "", payload: payload(), constraints: { maxAttempts: -1 }, metadata: { priority: 1_000_001 } })),
    ],
  ],
  [
    "TaskService/BatchSubmitTasks",
    [
      invalid("empty request", ["tasks"], (c, o) => c.tasks.batchSubmitTasks({}, o)),
      invalid("1001 items", ["tasks"], (c, o) => c.tasks.batchSubmitTasks({ tasks: repeatItems(1001, validItem) }, o)),
      invalid("item 1 with an empty queue", ["tasks[1].spec.queue"], (c, o) => c.tasks.batchSubmitTasks({ tasks: [validItem(0), { spec: spec({ queue: "" }) }] }, o)),
      invalid("item 1 without spec", ["tasks[1].spec"], (c, o) => c.tasks.batchSubmitTasks({ tasks: [validItem(0), {}] }, o)),
      invalid("item 0 with the nil task_id", ["tasks[0].task_id"], (c, o) => c.tasks.batchSubmitTasks({ tasks: [{ taskId: NIL, spec: spec() }] }, o)),
      invalid("item 2 with max_attempts 1001", ["tasks[2].spec.constraints.max_attempts"], (c, o) =>
        c.tasks.batchSubmitTasks({ tasks: [validItem(0), validItem(1), { spec: spec({ constraints: { maxAttempts: 1001 } }) }] }, o)),
      invalid("items 0 and 2 bad", ["tasks[0].spec.queue", "tasks[2].spec.metadata.priority"], (c, o) =>
        c.tasks.batchSubmitTasks({ tasks: [{ spec: spec({ queue: "has space" }) }, validItem(1), { spec: spec({ metadata: { priority: -1_000_001 } }) }] }, o)),
      invalid("item 1 with a bad cron expression", ["tasks[1].spec.policy.cron.expression"], (c, o) =>
        c.tasks.batchSubmitTasks({ tasks: [validItem(0), { spec: spec({ policy: { kind: { case: "cron", value: { expression: "61 * * * *" } } } }) }] }, o), { described: true }),
      invalid("item 1 with a payload of 1 MiB + 1", ["tasks[1].spec.payload.data"], (c, o) =>
        c.tasks.batchSubmitTasks({ tasks: [validItem(0), { spec: spec({ payload: { data: new Uint8Array(MiB + 1) } }) }] }, o)),
      notFound("item 1 depends on an unknown task", "TASK_NOT_FOUND", (c, o) =>
        c.tasks.batchSubmitTasks({ tasks: [{ taskId: NEVER_STORED[0], spec: spec() }, { spec: spec({ dependsOn: [UNKNOWN] }) }] }, o)),
      refused("item 1 reuses a known task_id with a different spec", Code.AlreadyExists, "TASK_CONFLICT", (c, o) =>
        c.tasks.batchSubmitTasks({ tasks: [{ taskId: NEVER_STORED[1], spec: spec() }, { taskId: TASK_DONE, spec: spec({ payload: payload("other") }) }] }, o)),
      notFound("item 0 names a later item (1) as parent", "TASK_NOT_FOUND", (c, o) =>
        c.tasks.batchSubmitTasks({ tasks: [{ taskId: NEVER_STORED[0], spec: spec({ parentTaskId: NEVER_STORED[1] }) }, { taskId: NEVER_STORED[1], spec: spec() }] }, o)),
      precondition("item 1 names a COMPLETED parent", "TASK_TERMINAL", (c, o) =>
        c.tasks.batchSubmitTasks({ tasks: [validItem(0), { spec: spec({ parentTaskId: TASK_DONE }) }] }, o)),
    ],
  ],
  [
    "TaskService/GetTask",
    [invalid("empty request", ["task_id"], (c, o) => c.tasks.getTask({}, o)), ...idRows("task_id", (id) => (c, o) => c.tasks.getTask({ taskId: id }, o), "TASK_NOT_FOUND"),
      notFound("a run id as task_id", "TASK_NOT_FOUND", (c, o) => c.tasks.getTask({ taskId: seed.readyRun }, o))],
  ],
  [
    "TaskService/ListTasks",
    [
      invalid("page_size -1", ["page_size"], (c, o) => c.tasks.listTasks({ pageSize: -1 }, o)),
      invalid("page_size 1001", ["page_size"], (c, o) => c.tasks.listTasks({ pageSize: 1001 }, o)),
      invalid("page_size 2147483647", ["page_size"], (c, o) => c.tasks.listTasks({ pageSize: 2_147_483_647 }, o)),
      ...tokenRows("page_token", (t) => (c, o) => c.tasks.listTasks({ pageToken: t }, o)),
      ...queueRows("queue", (q) => (c, o) => c.tasks.listTasks({ queue: q }, o)).filter((r) => !r.name.startsWith("empty queue")),
      invalid("status 99", ["statuses[0]"], (c, o) => c.tasks.listTasks({ statuses: [99 as TaskStatus] }, o), { binaryOnly: true }),
      invalid("second status -1", ["statuses[1]"], (c, o) => c.tasks.listTasks({ statuses: [TaskStatus.ACTIVE, -1 as TaskStatus] }, o), { binaryOnly: true }),
      ...idRows("parent_task_id", (id) => (c, o) => c.tasks.listTasks({ parentTaskId: id }, o)).filter((r) => !r.name.startsWith("empty id")),
      invalid("page_size and page_token both bad", ["page_size", "page_token"], (c, o) => c.tasks.listTasks({ pageSize: -1, pageToken: "%%%" }, o)),
      invalid("page token issued by ListRuns", ["page_token"], async (c, o) => c.tasks.listTasks({ pageToken: await realToken(c, o, "runs") }, o)),
      invalid("page token issued for another queue filter", ["page_token"], async (c, o) => c.tasks.listTasks({ queue: Q_TREE, pageToken: await realToken(c, o, "tasks") }, o)),
    ],
  ],
  [
    "TaskService/CancelTask",
    [
      invalid("empty request", ["task_id"], (c, o) => c.tasks.cancelTask({}, o)),
      ...idRows("task_id", (id) => (c, o) => c.tasks.cancelTask({ taskId: id }, o), "TASK_NOT_FOUND"),
      invalid("257-character reason on an ACTIVE task", ["reason"], (c, o) => c.tasks.cancelTask({ taskId: seed.readyTask, reason: "r".repeat(257) }, o)),
      precondition("COMPLETED task", "TASK_TERMINAL", (c, o) => c.tasks.cancelTask({ taskId: TASK_DONE }, o)),
    ],
  ],
  // ------------------------------------------------------------------ RunService
  [
    "RunService/GetRun",
    [invalid("empty request", ["run_id"], (c, o) => c.runs.getRun({}, o)), ...idRows("run_id", (id) => (c, o) => c.runs.getRun({ runId: id }, o), "RUN_NOT_FOUND"),
      notFound("a task id as run_id", "RUN_NOT_FOUND", (c, o) => c.runs.getRun({ runId: TASK_DONE }, o))],
  ],
  [
    "RunService/ListRuns",
    [
      invalid("page_size -1", ["page_size"], (c, o) => c.runs.listRuns({ pageSize: -1 }, o)),
      invalid("page_size 1001", ["page_size"], (c, o) => c.runs.listRuns({ pageSize: 1001 }, o)),
      ...tokenRows("page_token", (t) => (c, o) => c.runs.listRuns({ pageToken: t }, o)),
      ...queueRows("queue", (q) => (c, o) => c.runs.listRuns({ queue: q }, o)).filter((r) => !r.name.startsWith("empty queue")),
      ...idRows("task_id", (id) => (c, o) => c.runs.listRuns({ taskId: id }, o)).filter((r) => !r.name.startsWith("empty id")),
      invalid("state 99", ["states[0]"], (c, o) => c.runs.listRuns({ states: [99 as RunState] }, o), { binaryOnly: true }),
      invalid("state UNSPECIFIED", ["states[0]"], (c, o) => c.runs.listRuns({ states: [RunState.UNSPECIFIED] }, o)),
      invalid("second state 99", ["states[1]"], (c, o) => c.runs.listRuns({ states: [RunState.READY, 99 as RunState] }, o), { binaryOnly: true }),
      invalid("page token issued by ListTasks", ["page_token"], async (c, o) => c.runs.listRuns({ pageToken: await realToken(c, o, "tasks") }, o)),
      invalid("page token issued without filters, reused with a state filter", ["page_token"], async (c, o) => c.runs.listRuns({ states: [RunState.READY], pageToken: await realToken(c, o, "runs") }, o)),
      invalid("concurrency_key of 257 bytes", ["concurrency_key"], (c, o) => c.runs.listRuns({ concurrencyKey: "k".repeat(257) }, o)),
      invalid("concurrency_key of 129 'é' (258 bytes)", ["concurrency_key"], (c, o) => c.runs.listRuns({ queue: Q, concurrencyKey: "é".repeat(129) }, o)),
      invalid("concurrency_key with a control character", ["concurrency_key"], (c, o) => c.runs.listRuns({ concurrencyKey: "a\u0007b" }, o)),
      invalid("over-long concurrency_key and page_size 1001", ["concurrency_key", "page_size"], (c, o) => c.runs.listRuns({ concurrencyKey: "k".repeat(300), pageSize: 1001 }, o)),
      invalid("page token issued without a key, reused with a concurrency_key", ["page_token"], async (c, o) => c.runs.listRuns({ concurrencyKey: KEY, pageToken: await realToken(c, o, "runs") }, o)),
    ],
  ],
  [
    "RunService/ListAttempts",
    [
      invalid("empty request", ["run_id"], (c, o) => c.runs.listAttempts({}, o)),
      ...idRows("run_id", (id) => (c, o) => c.runs.listAttempts({ runId: id }, o), "RUN_NOT_FOUND"),
      invalid("page_size -1", ["page_size"], (c, o) => c.runs.listAttempts({ runId: seed.doneRun, pageSize: -1 }, o)),
      invalid("page_size 1001", ["page_size"], (c, o) => c.runs.listAttempts({ runId: seed.doneRun, pageSize: 1001 }, o)),
      ...tokenRows("page_token", (t) => (c, o) => c.runs.listAttempts({ runId: seed.doneRun, pageToken: t }, o)),
      invalid("page token issued by ListRuns", ["page_token"], async (c, o) => c.runs.listAttempts({ runId: seed.doneRun, pageToken: await realToken(c, o, "runs") }, o)),
    ],
  ],
  [
    "RunService/CancelRun",
    [
      invalid("empty request", ["run_id"], (c, o) => c.runs.cancelRun({}, o)),
      ...idRows("run_id", (id) => (c, o) => c.runs.cancelRun({ runId: id }, o), "RUN_NOT_FOUND"),
      precondition("COMPLETED run", "RUN_TERMINAL", (c, o) => c.runs.cancelRun({ runId: seed.doneRun }, o)),
    ],
  ],
  [
    "RunService/SuspendRun",
    [
      invalid("empty request", ["run_id"], (c, o) => c.runs.suspendRun({}, o)),
      ...idRows("run_id", (id) => (c, o) => c.runs.suspendRun({ runId: id }, o), "RUN_NOT_FOUND"),
      invalid("257-character reason on a RUNNING run", ["reason"], (c, o) => c.runs.suspendRun({ runId: seed.runningRun, reason: "r".repeat(257) }, o)),
      precondition("READY run", "INVALID_TRANSITION", (c, o) => c.runs.suspendRun({ runId: seed.readyRun }, o)),
      precondition("SCHEDULED run", "INVALID_TRANSITION", (c, o) => c.runs.suspendRun({ runId: seed.scheduledRun }, o)),
      precondition("LEASED run", "INVALID_TRANSITION", (c, o) => c.runs.suspendRun({ runId: seed.leasedRun }, o)),
      precondition("COMPLETED run", "RUN_TERMINAL", (c, o) => c.runs.suspendRun({ runId: seed.doneRun }, o)),
    ],
  ],
  [
    "RunService/ResumeRun",
    [
      invalid("empty request", ["run_id"], (c, o) => c.runs.resumeRun({}, o)),
      ...idRows("run_id", (id) => (c, o) => c.runs.resumeRun({ runId: id }, o), "RUN_NOT_FOUND"),
      precondition("READY run", "INVALID_TRANSITION", (c, o) => c.runs.resumeRun({ runId: seed.readyRun }, o)),
      precondition("SCHEDULED run", "INVALID_TRANSITION", (c, o) => c.runs.resumeRun({ runId: seed.scheduledRun }, o)),
      precondition("RUNNING run", "INVALID_TRANSITION", (c, o) => c.runs.resumeRun({ runId: seed.runningRun }, o)),
      precondition("COMPLETED run", "RUN_TERMINAL", (c, o) => c.runs.resumeRun({ runId: seed.doneRun }, o)),
    ],
  ],
  [
    "RunService/SetRunPriority",
    [
      invalid("empty request", ["run_id"], (c, o) => c.runs.setRunPriority({}, o)),
      ...idRows("run_id", (id) => (c, o) => c.runs.setRunPriority({ runId: id, priority: 1 }, o), "RUN_NOT_FOUND"),
      invalid("priority 1000001 on a READY run", ["priority"], (c, o) => c.runs.setRunPriority({ runId: seed.readyRun, priority: 1_000_001 }, o)),
      invalid("priority -1000001 on a READY run", ["priority"], (c, o) => c.runs.setRunPriority({ runId: seed.readyRun, priority: -1_000_001 }, o)),
      invalid("priority -2147483648 on a READY run", ["priority"], (c, o) => c.runs.setRunPriority({ runId: seed.readyRun, priority: -2_147_483_648 }, o)),
      invalid("no run_id and priority 1000001", ["run_id", "priority"], (c, o) => c.runs.setRunPriority({ priority: 1_000_001 }, o)),
      precondition("SCHEDULED run", "PRIORITY_REQUIRES_READY", (c, o) => c.runs.setRunPriority({ runId: seed.scheduledRun, priority: 5 }, o)),
      precondition("LEASED run", "PRIORITY_REQUIRES_READY", (c, o) => c.runs.setRunPriority({ runId: seed.leasedRun, priority: 5 }, o)),
      precondition("RUNNING run", "PRIORITY_REQUIRES_READY", (c, o) => c.runs.setRunPriority({ runId: seed.runningRun, priority: 5 }, o)),
      precondition("COMPLETED run", "PRIORITY_REQUIRES_READY", (c, o) => c.runs.setRunPriority({ runId: seed.doneRun, priority: 5 }, o)),
    ],
  ],
  [
    "RunService/WatchRuns",
    [
      invalid("state 99", ["states[0]"], watch({ states: [99 as RunState] }), { binaryOnly: true }),
      invalid("state UNSPECIFIED", ["states[0]"], watch({ states: [RunState.UNSPECIFIED] })),
      invalid("progress_interval_ms 99", ["progress_interval_ms"], watch({ progressIntervalMs: 99 })),
      invalid("progress_interval_ms 60001", ["progress_interval_ms"], watch({ progressIntervalMs: 60_001 })),
      invalid("progress_interval_ms -1", ["progress_interval_ms"], watch({ progressIntervalMs: -1 })),
      ...idRows("run_id", (id) => watch({ runId: id })).filter((r) => !r.name.startsWith("empty id")),
      ...idRows("task_id", (id) => watch({ taskId: id })).filter((r) => !r.name.startsWith("empty id")),
      ...queueRows("queues[0]", (q) => watch({ queues: [q] })),
      invalid("second queue bad", ["queues[1]"], watch({ queues: [Q, "has space"] })),
      invalid("start_revision 2^64-1 (far beyond the current revision)", ["start_revision"], watch({ startRevision: 18_446_744_073_709_551_615n })),
    ],
  ],
  // ------------------------------------------------------------------ WorkerService
  [
    "WorkerService/LeaseRuns",
    [
      invalid("empty request", ["queues", "worker_id"], (c, o) => c.workers.leaseRuns({}, o)),
      invalid("no queues", ["queues"], lease({ queues: [] })),
      invalid("65 queues", ["queues"], lease({ queues: repeatItems(65, (i) => `q${i}`) })),
      ...queueRows("queues[0]", (q) => lease({ queues: [q] })),
      invalid("second queue bad", ["queues[1]"], lease({ queues: [Q, "bad one"] })),
      invalid("empty worker_id", ["worker_id"], lease({ workerId: "" })),
      invalid("129-character worker_id", ["worker_id"], lease({ workerId: "w".repeat(129) })),
      invalid("worker_id with a newline", ["worker_id"], lease({ workerId: "w\n1" })),
      invalid("non-ASCII worker_id", ["worker_id"], lease({ workerId: "wörker" })),
      invalid("65 capabilities", ["capabilities"], lease({ capabilities: repeatItems(65, (i) => `c${i}`) })),
      invalid('capability "has space"', ["capabilities[0]"], lease({ capabilities: ["has space"] })),
      invalid("65-character capability", ["capabilities[1]"], lease({ capabilities: ["gpu", "c".repeat(65)] })),
      invalid("max_runs -1", ["max_runs"], lease({ maxRuns: -1 })),
      invalid("max_runs 1001", ["max_runs"], lease({ maxRuns: 1001 })),
      invalid("lease_duration 10 ms", ["lease_duration"], lease({ leaseDuration: millis(10) })),
      invalid("lease_duration 1 h + 1 s", ["lease_duration"], lease({ leaseDuration: sec(3601) })),
      invalid("lease_duration negative", ["lease_duration"], lease({ leaseDuration: sec(-30) })),
      invalid("lease_duration nanos 2e9", ["lease_duration"], lease({ leaseDuration: sec(5, 2_000_000_000) }), { binaryOnly: true }),
      invalid("wait 61 s", ["wait"], lease({ wait: sec(61) })),
      invalid("wait negative", ["wait"], lease({ wait: sec(-1) })),
      invalid("wait nanos 2e9", ["wait"], lease({ wait: sec(1, 2_000_000_000) }), { binaryOnly: true }),
      invalid("max_runs, lease_duration and wait all bad", ["max_runs", "lease_duration", "wait"], lease({ maxRuns: 1001, leaseDuration: millis(10), wait: sec(61) })),
    ],
  ],
  [
    "WorkerService/StartAttempt",
    [
      invalid("empty request", ["run_id", "lease_token"], (c, o) => c.workers.startAttempt({}, o)),
      ...idRows("run_id", (id) => (c, o) => c.workers.startAttempt({ runId: id, leaseToken: randomUUID() }, o), "RUN_NOT_FOUND"),
      ...leaseTokenRows((t) => (c, o) => c.workers.startAttempt({ runId: seed.leasedRun, leaseToken: t }, o)),
      precondition("LEASED run with the token of another run", "LEASE_LOST", (c, o) => c.workers.startAttempt({ runId: seed.leasedRun, leaseToken: seed.runningToken }, o)),
      precondition("READY run (never leased)", "LEASE_LOST", (c, o) => c.workers.startAttempt({ runId: seed.readyRun, leaseToken: randomUUID() }, o)),
      precondition("SCHEDULED run (never leased)", "LEASE_LOST", (c, o) => c.workers.startAttempt({ runId: seed.scheduledRun, leaseToken: randomUUID() }, o)),
      precondition("RUNNING run with its own token (already started)", "INVALID_TRANSITION", (c, o) => c.workers.startAttempt({ runId: seed.runningRun, leaseToken: seed.runningToken }, o)),
    ],
  ],
  [
    "WorkerService/Heartbeat",
    [
      invalid("empty request", ["run_id", "lease_token"], (c, o) => c.workers.heartbeat({}, o)),
      ...idRows("run_id", (id) => (c, o) => c.workers.heartbeat({ runId: id, leaseToken: randomUUID() }, o), "RUN_NOT_FOUND"),
      ...leaseTokenRows((t) => (c, o) => c.workers.heartbeat({ runId: seed.leasedRun, leaseToken: t }, o)),
      invalid("extend_by 10 ms with the right token", ["extend_by"], (c, o) => c.workers.heartbeat({ runId: seed.leasedRun, leaseToken: seed.leasedToken, extendBy: millis(10) }, o)),
      invalid("extend_by 1 h + 1 s with the right token", ["extend_by"], (c, o) => c.workers.heartbeat({ runId: seed.runningRun, leaseToken: seed.runningToken, extendBy: sec(3601) }, o)),
      invalid("extend_by negative with the right token", ["extend_by"], (c, o) => c.workers.heartbeat({ runId: seed.runningRun, leaseToken: seed.runningToken, extendBy: sec(-5) }, o)),
      invalid("extend_by nanos 2e9 with the right token", ["extend_by"], (c, o) => c.workers.heartbeat({ runId: seed.runningRun, leaseToken: seed.runningToken, extendBy: sec(5, 2_000_000_000) }, o), { binaryOnly: true }),
      precondition("RUNNING run with the token of another run", "LEASE_LOST", (c, o) => c.workers.heartbeat({ runId: seed.runningRun, leaseToken: seed.leasedToken }, o)),
      precondition("READY run (never leased)", "LEASE_LOST", (c, o) => c.workers.heartbeat({ runId: seed.readyRun, leaseToken: randomUUID() }, o)),
    ],
  ],
  [
    "WorkerService/BatchHeartbeat",
    [
      invalid("empty request", ["heartbeats"], (c, o) => c.workers.batchHeartbeat({}, o)),
      invalid("1001 heartbeats", ["heartbeats"], (c, o) => c.workers.batchHeartbeat({ heartbeats: repeatItems(1001, () => ({ runId: randomUUID(), leaseToken: randomUUID() })) }, o)),
      invalid("item 0 with an empty lease_token", ["heartbeats[0].lease_token"], (c, o) => c.workers.batchHeartbeat({ heartbeats: [{ runId: seed.leasedRun, leaseToken: "" }] }, o)),
      invalid("item 1 with a malformed run_id", ["heartbeats[1].run_id"], (c, o) =>
        c.workers.batchHeartbeat({ heartbeats: [{ runId: seed.leasedRun, leaseToken: seed.leasedToken }, { runId: "nope", leaseToken: randomUUID() }] }, o)),
      invalid("item 1 with the nil run_id", ["heartbeats[1].run_id"], (c, o) =>
        c.workers.batchHeartbeat({ heartbeats: [{ runId: seed.leasedRun, leaseToken: seed.leasedToken }, { runId: NIL, leaseToken: randomUUID() }] }, o)),
      invalid("item 1 with extend_by 10 ms", ["heartbeats[1].extend_by"], (c, o) =>
        c.workers.batchHeartbeat({ heartbeats: [{ runId: seed.leasedRun, leaseToken: seed.leasedToken }, { runId: seed.runningRun, leaseToken: seed.runningToken, extendBy: millis(10) }] }, o)),
      invalid("the same run twice", ["heartbeats[1].run_id"], (c, o) =>
        c.workers.batchHeartbeat({ heartbeats: [{ runId: seed.leasedRun, leaseToken: seed.leasedToken }, { runId: seed.leasedRun, leaseToken: seed.leasedToken }] }, o)),
      invalid("an empty item", ["heartbeats[0].run_id", "heartbeats[0].lease_token"], (c, o) => c.workers.batchHeartbeat({ heartbeats: [{}] }, o)),
    ],
  ],
  [
    "WorkerService/CompleteAttempt",
    [
      invalid("empty request", ["run_id", "lease_token", "attempt_id", "outcome"], (c, o) => c.workers.completeAttempt({}, o)),
      ...idRows("run_id", (id) => complete({ runId: id, leaseToken: randomUUID(), attemptId: randomUUID() }), "RUN_NOT_FOUND"),
      ...leaseTokenRows((t) => complete({ leaseToken: t })),
      ...idRows("attempt_id", (a) => complete({ attemptId: a })),
      invalid("outcome UNSPECIFIED", ["outcome"], complete({ outcome: AttemptOutcome.UNSPECIFIED })),
      invalid("outcome CANCELED (server only)", ["outcome"], complete({ outcome: AttemptOutcome.CANCELED })),
      invalid("outcome 42", ["outcome"], complete({ outcome: 42 as AttemptOutcome }), { binaryOnly: true }),
      invalid("outcome -1", ["outcome"], complete({ outcome: -1 as AttemptOutcome }), { binaryOnly: true }),
      invalid("error of 64 KiB + 1 byte", ["error"], complete({ outcome: AttemptOutcome.TERMINAL_FAILURE, error: "e".repeat(64 * KiB + 1) })),
      invalid("error of 22,000 '€' (66,000 UTF-8 bytes)", ["error"], complete({ outcome: AttemptOutcome.RETRYABLE_FAILURE, error: "€".repeat(22_000) })),
      invalid("output of 1 MiB + 1 byte", ["output"], complete({ output: new Uint8Array(MiB + 1) })),
      invalid("output with a TERMINAL_FAILURE", ["output"], complete({ outcome: AttemptOutcome.TERMINAL_FAILURE, output: text("out"), error: "boom" })),
      precondition("RUNNING run with the token of another run", "LEASE_LOST", (c, o) => complete({ leaseToken: seed.leasedToken })(c, o)),
      precondition("COMPLETED run with its spent token (zombie worker)", "LEASE_LOST", (c, o) =>
        c.workers.completeAttempt({ runId: seed.doneRun, leaseToken: seed.doneToken, attemptId: seed.doneAttempt, outcome: AttemptOutcome.SUCCESS }, o)),
      precondition("RUNNING run, right token, another attempt id", "ATTEMPT_MISMATCH", complete({ attemptId: UNKNOWN })),
      precondition("LEASED run (no attempt started)", "NO_ACTIVE_ATTEMPT", (c, o) =>
        c.workers.completeAttempt({ runId: seed.leasedRun, leaseToken: seed.leasedToken, attemptId: UNKNOWN, outcome: AttemptOutcome.SUCCESS }, o)),
    ],
  ],
  [
    "WorkerService/BatchCompleteAttempts",
    [
      invalid("empty request", ["completions"], (c, o) => c.workers.batchCompleteAttempts({}, o)),
      invalid("1001 completions", ["completions"], (c, o) =>
        c.workers.batchCompleteAttempts({ completions: repeatItems(1001, () => ({ runId: randomUUID(), leaseToken: randomUUID(), attemptId: randomUUID(), outcome: AttemptOutcome.SUCCESS })) }, o)),
      invalid("item 0 with outcome 42", ["completions[0].outcome"], (c, o) =>
        c.workers.batchCompleteAttempts({ completions: [{ runId: seed.runningRun, leaseToken: seed.runningToken, attemptId: seed.runningAttempt, outcome: 42 as AttemptOutcome }] }, o), { binaryOnly: true }),
      invalid("item 1 with an empty attempt_id", ["completions[1].attempt_id"], (c, o) =>
        c.workers.batchCompleteAttempts({
          completions: [
            { runId: seed.runningRun, leaseToken: seed.runningToken, attemptId: seed.runningAttempt, outcome: AttemptOutcome.SUCCESS },
            { runId: seed.leasedRun, leaseToken: seed.leasedToken, attemptId: "", outcome: AttemptOutcome.SUCCESS },
          ],
        }, o)),
      invalid("the same run twice", ["completions[1].run_id"], (c, o) =>
        c.workers.batchCompleteAttempts({
          completions: [
            { runId: seed.runningRun, leaseToken: seed.runningToken, attemptId: seed.runningAttempt, outcome: AttemptOutcome.SUCCESS },
            { runId: seed.runningRun, leaseToken: seed.runningToken, attemptId: seed.runningAttempt, outcome: AttemptOutcome.SUCCESS },
          ],
        }, o)),
      invalid("an empty item", ["completions[0].run_id", "completions[0].lease_token", "completions[0].attempt_id", "completions[0].outcome"], (c, o) =>
        c.workers.batchCompleteAttempts({ completions: [{}] }, o)),
    ],
  ],
  [
    "WorkerService/ReleaseLease",
    [
      invalid("empty request", ["run_id", "lease_token"], (c, o) => c.workers.releaseLease({}, o)),
      ...idRows("run_id", (id) => (c, o) => c.workers.releaseLease({ runId: id, leaseToken: randomUUID() }, o), "RUN_NOT_FOUND"),
      ...leaseTokenRows((t) => (c, o) => c.workers.releaseLease({ runId: seed.leasedRun, leaseToken: t }, o)),
      precondition("READY run (never leased)", "LEASE_LOST", (c, o) => c.workers.releaseLease({ runId: seed.readyRun, leaseToken: randomUUID() }, o)),
      precondition("RUNNING run with its own token", "INVALID_TRANSITION", (c, o) => c.workers.releaseLease({ runId: seed.runningRun, leaseToken: seed.runningToken }, o)),
    ],
  ],
  // ------------------------------------------------------------------ AdminService
  // PauseEngine and ResumeEngine take no fields: their bad input is unparseable bytes, in
  // the raw HTTP tables below.
  ["AdminService/PauseQueue", [invalid("empty request", ["queue"], (c, o) => c.admin.pauseQueue({}, o)), ...queueRows("queue", (q) => (c, o) => c.admin.pauseQueue({ queue: q }, o))]],
  ["AdminService/ResumeQueue", [invalid("empty request", ["queue"], (c, o) => c.admin.resumeQueue({}, o)), ...queueRows("queue", (q) => (c, o) => c.admin.resumeQueue({ queue: q }, o))]],
  [
    "AdminService/SetQueueRateLimit",
    [
      invalid("empty request", ["queue"], (c, o) => c.admin.setQueueRateLimit({}, o)),
      ...queueRows("queue", (q) => (c, o) => c.admin.setQueueRateLimit({ queue: q, runsPerSecond: 10 }, o)),
      invalid("runs_per_second 1e9", ["runs_per_second"], (c, o) => c.admin.setQueueRateLimit({ queue: Q, runsPerSecond: 1e9 }, o)),
      invalid("runs_per_second -1", ["runs_per_second"], (c, o) => c.admin.setQueueRateLimit({ queue: Q, runsPerSecond: -1 }, o)),
      invalid("runs_per_second 0.0001", ["runs_per_second"], (c, o) => c.admin.setQueueRateLimit({ queue: Q, runsPerSecond: 0.0001 }, o)),
      invalid("runs_per_second NaN", ["runs_per_second"], (c, o) => c.admin.setQueueRateLimit({ queue: Q, runsPerSecond: Number.NaN }, o)),
      invalid("runs_per_second Infinity", ["runs_per_second"], (c, o) => c.admin.setQueueRateLimit({ queue: Q, runsPerSecond: Number.POSITIVE_INFINITY }, o)),
      invalid("burst -1", ["burst"], (c, o) => c.admin.setQueueRateLimit({ queue: Q, runsPerSecond: 10, burst: -1 }, o)),
      invalid("burst 1000001", ["burst"], (c, o) => c.admin.setQueueRateLimit({ queue: Q, runsPerSecond: 10, burst: 1_000_001 }, o)),
      invalid("rate and burst both bad", ["runs_per_second", "burst"], (c, o) => c.admin.setQueueRateLimit({ queue: Q, runsPerSecond: 1e9, burst: -1 }, o)),
    ],
  ],
  ["AdminService/GetStats", [...queueRows("queues[0]", (q) => (c, o) => c.admin.getStats({ queues: [q] }, o)), invalid("second queue bad", ["queues[1]"], (c, o) => c.admin.getStats({ queues: [Q, "has space"] }, o))]],
  [
    "AdminService/GetConcurrencyKey",
    [
      invalid("empty request", ["key"], (c, o) => c.admin.getConcurrencyKey({}, o)),
      invalid("257-byte key", ["key"], (c, o) => c.admin.getConcurrencyKey({ key: "k".repeat(257) }, o)),
      invalid("key of 129 'é' (258 bytes)", ["key"], (c, o) => c.admin.getConcurrencyKey({ key: "é".repeat(129) }, o)),
    ],
  ],
  [
    "AdminService/ListConcurrencyKeys",
    [
      invalid("page_size -1", ["page_size"], (c, o) => c.admin.listConcurrencyKeys({ pageSize: -1 }, o)),
      invalid("page_size 1001", ["page_size"], (c, o) => c.admin.listConcurrencyKeys({ pageSize: 1001 }, o)),
      ...tokenRows("page_token", (t) => (c, o) => c.admin.listConcurrencyKeys({ pageToken: t }, o)),
      invalid("page token issued by ListRuns", ["page_token"], async (c, o) => c.admin.listConcurrencyKeys({ pageToken: await realToken(c, o, "runs") }, o)),
    ],
  ],
];

/** Batch calls whose items fail on their own: the call succeeds and each item carries its error. */
interface ItemRow {
  readonly name: string;
  readonly call: (c: ActionQueueClients, o: CallOptions) => Promise<{ results: ReadonlyArray<{ runId: string; result: { case: string | undefined; value?: unknown } }> }>;
  readonly items: ReadonlyArray<{ readonly code: Code; readonly reason: string }>;
}
const ITEM_TABLE: readonly ItemRow[] = [
  {
    name: "BatchHeartbeat: unknown run, LEASED run with another token, READY run",
    call: (c, o) =>
      c.workers.batchHeartbeat({ heartbeats: [{ runId: UNKNOWN, leaseToken: randomUUID() }, { runId: seed.leasedRun, leaseToken: randomUUID() }, { runId: seed.readyRun, leaseToken: randomUUID() }] }, o),
    items: [
      { code: Code.NotFound, reason: "RUN_NOT_FOUND" },
      { code: Code.FailedPrecondition, reason: "LEASE_LOST" },
      { code: Code.FailedPrecondition, reason: "LEASE_LOST" },
    ],
  },
  {
    name: "BatchCompleteAttempts: unknown run, RUNNING run with another token, wrong attempt, LEASED run",
    call: (c, o) =>
      c.workers.batchCompleteAttempts({
        completions: [
          { runId: UNKNOWN, leaseToken: randomUUID(), attemptId: randomUUID(), outcome: AttemptOutcome.SUCCESS },
          { runId: seed.doneRun, leaseToken: seed.doneToken, attemptId: seed.doneAttempt, outcome: AttemptOutcome.SUCCESS },
          { runId: seed.runningRun, leaseToken: seed.runningToken, attemptId: UNKNOWN_2, outcome: AttemptOutcome.SUCCESS },
          { runId: seed.leasedRun, leaseToken: seed.leasedToken, attemptId: UNKNOWN, outcome: AttemptOutcome.TERMINAL_FAILURE },
        ],
      }, o),
    items: [
      { code: Code.NotFound, reason: "RUN_NOT_FOUND" },
      { code: Code.FailedPrecondition, reason: "LEASE_LOST" },
      { code: Code.FailedPrecondition, reason: "ATTEMPT_MISMATCH" },
      { code: Code.FailedPrecondition, reason: "NO_ACTIVE_ATTEMPT" },
    ],
  },
];

// ---------------------------------------------------------------------------------------
// Raw HTTP helpers

interface Http1Answer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: string;
}

function http1Post(port: number, path: string, contentType: string, body: Buffer): Promise<Http1Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path, method: "POST", agent: false, headers: { "content-type": contentType, "content-length": body.length, "connect-protocol-version": "1" }, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: res.headers["content-type"], body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer from ${path} within 10 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

interface GrpcAnswer {
  readonly httpStatus: number;
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string | undefined;
  readonly details: { readonly domain: string | undefined; readonly reason: string | undefined };
}

/** One raw gRPC call over HTTP/2 prior knowledge; `body` is sent as is (framing included). */
function grpcRaw(port: number, path: string, body: Buffer): Promise<GrpcAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no gRPC answer from ${path} within 10 s`));
    }, 10_000);
    session.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc+proto", te: "trailers" });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on("response", (h) => (headers = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", () => {});
    stream.on("error", (e) => {
      clearTimeout(timer);
      session.destroy();
      reject(e);
    });
    stream.on("end", () => {
      clearTimeout(timer);
      session.close();
      const all = { ...headers, ...trailers };
      const status = all["grpc-status"];
      const message = all["grpc-message"];
      const detailsBin = all["grpc-status-details-bin"];
      let details: GrpcAnswer["details"] = { domain: undefined, reason: undefined };
      if (typeof detailsBin === "string") {
        const st = fromBinary(StatusSchema, Buffer.from(detailsBin, "base64"));
        for (const any of st.details) {
          if (any.typeUrl.endsWith("google.rpc.ErrorInfo")) {
            const info = fromBinary(ErrorInfoSchema, any.value);
            details = { domain: info.domain, reason: info.reason };
          }
        }
      }
      resolve({
        httpStatus: Number(headers[":status"] ?? 0),
        grpcStatus: typeof status === "string" ? Number(status) : undefined,
        grpcMessage: typeof message === "string" ? decodeURIComponent(message) : undefined,
        details,
      });
    });
    stream.end(body);
  });
}

/** A gRPC length-prefixed message: flags, 4-byte big-endian length, then `msg`. */
function frame(msg: Buffer, opts: { length?: number; flags?: number } = {}): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(opts.flags ?? 0, 0);
  head.writeUInt32BE(opts.length ?? msg.length, 1);
  return Buffer.concat([head, msg]);
}

const GARBAGE = Buffer.from([0xff, 0xff, 0xff]);

const UNARY_METHODS: readonly string[] = [
  "TaskService/SubmitTask",
  "TaskService/BatchSubmitTasks",
  "TaskService/GetTask",
  "TaskService/ListTasks",
  "TaskService/CancelTask",
  "RunService/GetRun",
  "RunService/ListRuns",
  "RunService/ListAttempts",
  "RunService/CancelRun",
  "RunService/SuspendRun",
  "RunService/ResumeRun",
  "RunService/SetRunPriority",
  "WorkerService/LeaseRuns",
  "WorkerService/StartAttempt",
  "WorkerService/Heartbeat",
  "WorkerService/BatchHeartbeat",
  "WorkerService/CompleteAttempt",
  "WorkerService/BatchCompleteAttempts",
  "WorkerService/ReleaseLease",
  "AdminService/PauseEngine",
  "AdminService/ResumeEngine",
  "AdminService/PauseQueue",
  "AdminService/ResumeQueue",
  "AdminService/SetQueueRateLimit",
  "AdminService/GetStats",
  "AdminService/GetConcurrencyKey",
  "AdminService/ListConcurrencyKeys",
  "AdminService/GetCaller",
];
const ALL_METHODS: readonly string[] = [...UNARY_METHODS, "RunService/WatchRuns"];

// ---------------------------------------------------------------------------------------
// Snapshot of everything bad input must not change

interface Snapshot {
  readonly stats: Omit<GetStatsResponse, "storageBytes" | "$typeName" | "$unknown">;
  readonly runs: unknown[];
  readonly tasks: unknown[];
}

async function snapshot(c: ActionQueueClients): Promise<Snapshot> {
  const { storageBytes: _ignored, ...stats } = await c.admin.getStats({});
  const runs = await c.runs.listRuns({ pageSize: 1000 });
  const tasks = await c.tasks.listTasks({ pageSize: 1000 });
  expect(runs.nextPageToken).toBe("");
  expect(tasks.nextPageToken).toBe("");
  return { stats, runs: runs.runs, tasks: tasks.tasks };
}

let before: Snapshot;

async function leaseOne(c: ActionQueueClients, queue: string, startAttempt: boolean) {
  const r = await c.workers.leaseRuns({ queues: [queue], workerId: "seed-worker", maxRuns: 1, leaseDuration: sec(3600), wait: sec(10), startAttempt });
  expect(r.runs).toHaveLength(1);
  const leased = r.runs[0];
  if (!leased) throw new Error("nothing leased");
  return leased;
}

async function seedState(c: ActionQueueClients): Promise<Seed> {
  // COMPLETED: task TASK_DONE, leased with start_attempt and completed.
  await c.tasks.submitTask({ taskId: TASK_DONE, spec: spec({ payload: payload("done") }) });
  const done = await leaseOne(c, Q, true);
  await c.workers.completeAttempt({ runId: done.run?.id ?? "", leaseToken: done.leaseToken, attemptId: done.attempt?.id ?? "", outcome: AttemptOutcome.SUCCESS, output: text("ok") });
  // LEASED (attempt not started), lease 1 h.
  await c.tasks.submitTask({ spec: spec({ payload: payload("leased") }) });
  const leased = await leaseOne(c, Q, false);
  // RUNNING, holding a concurrency key, lease 1 h.
  await c.tasks.submitTask({ spec: spec({ payload: payload("running"), constraints: { concurrency: { key: KEY } } }) });
  const running = await leaseOne(c, Q, true);
  // READY.
  const ready = await c.tasks.submitTask({ spec: spec({ payload: payload("ready"), constraints: { maxAttempts: 3 } }) });
  // SCHEDULED, far in the future, in another queue.
  const scheduled = await c.tasks.submitTask({ spec: { queue: Q_LATER, payload: payload("later"), policy: { kind: { case: "once", value: { startAt: sec(YEAR_2999) } } } } });
  // A hierarchy at the depth limit: depths 0..7, every run SCHEDULED far in the future.
  let parent = "";
  for (let depth = 0; depth < 8; depth++) {
    const t = await c.tasks.submitTask({ spec: { queue: Q_TREE, payload: payload(`depth ${depth}`), parentTaskId: parent, policy: { kind: { case: "once", value: { startAt: sec(YEAR_2999) } } } } });
    expect(t.task?.depth).toBe(depth);
    parent = t.task?.id ?? "";
  }

  const readyRun = ready.runs[0]?.id ?? "";
  // Wait until the READY run has settled in READY, so nothing is in flight when we snapshot
  // (the bound only turns a hang into a failure).
  await vi.waitFor(async () => expect((await c.runs.getRun({ runId: readyRun })).run?.state).toBe(RunState.READY), { timeout: 30_000, interval: 50 });
  const doneTask = await c.tasks.getTask({ taskId: TASK_DONE });
  expect(doneTask.task?.status).toBe(TaskStatus.COMPLETED);
  const states = await Promise.all([done.run?.id, leased.run?.id, running.run?.id, readyRun].map(async (id) => (await c.runs.getRun({ runId: id ?? "" })).run?.state));
  expect(states).toEqual([RunState.COMPLETED, RunState.LEASED, RunState.RUNNING, RunState.READY]);
  return {
    doneRun: done.run?.id ?? "",
    doneToken: done.leaseToken,
    doneAttempt: done.attempt?.id ?? "",
    leasedRun: leased.run?.id ?? "",
    leasedToken: leased.leaseToken,
    runningRun: running.run?.id ?? "",
    runningToken: running.leaseToken,
    runningAttempt: running.attempt?.id ?? "",
    readyRun,
    readyTask: ready.task?.id ?? "",
    scheduledRun: scheduled.runs[0]?.id ?? "",
    deepestTask: parent,
  };
}

// ---------------------------------------------------------------------------------------
// The suite

beforeAll(async () => {
  server = await startServer();
  grpc = connectGrpc(server.port);
  json = connectJson(server.port);
  seed = await seedState(grpc);
  before = await snapshot(grpc);
});
afterAll(async () => {
  await server?.cleanup();
});

describe("bad input is refused with the right code, reason and fields", () => {
  for (const [rpc, rows] of TABLE) {
    describe(rpc, () => {
      it.each(rows.map((r) => ({ ...r, title: rowTitle(r) })))("$title", async (row) => {
        await expectRow(row, grpc);
        if (!row.binaryOnly) await expectRow(row, json);
      });
    });
  }
});

describe("batch items fail on their own, the call succeeds", () => {
  it.each(ITEM_TABLE)("$name", async (row) => {
    for (const clients of [grpc, json]) {
      const res = await row.call(clients, { timeoutMs: CALL_TIMEOUT_MS });
      const seen = res.results.map((r) => {
        if (r.result.case !== "error") return { case: r.result.case };
        const e = r.result.value as { code: number; reason: string };
        return { code: e.code, reason: e.reason };
      });
      expect(seen).toEqual(row.items.map((i) => ({ code: i.code, reason: i.reason })));
    }
  });
});

describe("a batch with one bad item stores nothing", () => {
  it("BatchSubmitTasks with item 2 invalid stores neither item 0 nor item 1", async () => {
    const err = await grpc.tasks
      .batchSubmitTasks({
        tasks: [
          { taskId: NEVER_STORED[0], spec: spec({ payload: payload("batch 0") }) },
          { taskId: NEVER_STORED[1], spec: spec({ payload: payload("batch 1") }) },
          { taskId: NEVER_STORED[2], spec: spec({ payload: payload("batch 2"), constraints: { maxAttempts: -1 } }) },
        ],
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => v.field))).toEqual(["tasks[2].spec.constraints.max_attempts"]);
    for (const id of NEVER_STORED) {
      const e = await grpc.tasks.getTask({ taskId: id }).then(
        () => null,
        (x: unknown) => x,
      );
      expect((e as ConnectError | null)?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("TASK_NOT_FOUND");
    }
    const stats = await grpc.admin.getStats({});
    expect(stats.revision).toBe(before.stats.revision);
    expect(stats.tasks).toBe(before.stats.tasks);
  });
});

describe("raw HTTP/1.1, Connect protocol", () => {
  it.each(UNARY_METHODS)("%s: malformed JSON (application/json) → 400 invalid_argument", async (method) => {
    const res = await http1Post(server.port, `/actionqueue.v1.${method}`, "application/json", Buffer.from('{"queue": "x",'));
    expect(res.status).toBe(400);
    expect(res.contentType).toMatch(/^application\/json/);
    expect((JSON.parse(res.body) as { code?: string }).code).toBe("invalid_argument");
  });

  it.each([
    ["queue is a number", '{"spec":{"queue":5}}'],
    ["payload data is not base64", '{"spec":{"queue":"bad-input","payload":{"data":"%%%"}}}'],
    ["policy names two oneof cases", '{"spec":{"queue":"bad-input","policy":{"once":{},"repeat":{"count":2}}}}'],
    ["start_at is not a timestamp", '{"spec":{"queue":"bad-input","policy":{"once":{"startAt":"yesterday"}}}}'],
    ["a JSON array instead of an object", "[1,2,3]"],
  ])("SubmitTask: JSON of the wrong shape (%s) → 400 invalid_argument", async (_what, body) => {
    const res = await http1Post(server.port, "/actionqueue.v1.TaskService/SubmitTask", "application/json", Buffer.from(body));
    expect(res.status).toBe(400);
    expect((JSON.parse(res.body) as { code?: string }).code).toBe("invalid_argument");
  });

  it.each(["text/plain", "application/xml", "multipart/form-data; boundary=x"])("SubmitTask: content-type %s → 415", async (contentType) => {
    const res = await http1Post(server.port, "/actionqueue.v1.TaskService/SubmitTask", contentType, Buffer.from("hello"));
    expect(res.status).toBe(415);
  });

  it("an unknown method → 404", async () => {
    const res = await http1Post(server.port, "/actionqueue.v1.TaskService/NoSuchMethod", "application/json", Buffer.from("{}"));
    expect(res.status).toBe(404);
  });
});

describe("raw HTTP/2, gRPC framing", () => {
  // The server answers 13 (INTERNAL, "parse binary: premature EOF"), as grpc-go does for an
  // unmarshal failure; 3 would be the Connect (connect-go) choice. Either is a clear refusal.
  it.each(ALL_METHODS)("%s: a frame of unparseable protobuf bytes → grpc-status 3 or 13, promptly", async (method) => {
    const res = await grpcRaw(server.port, `/actionqueue.v1.${method}`, frame(GARBAGE));
    expect(res.httpStatus).toBe(200);
    expect([Code.InvalidArgument, Code.Internal]).toContain(res.grpcStatus);
    expect(res.grpcMessage ?? "").not.toBe("");
  });

  it("SubmitTask: a task_id of invalid UTF-8 (0xc3 0x28) → grpc-status 3 or 13, promptly", async () => {
    // field 1 (task_id) = bytes c3 28; field 2 (spec) = { queue: "q" }
    const msg = Buffer.from([0x0a, 0x02, 0xc3, 0x28, 0x12, 0x03, 0x0a, 0x01, 0x71]);
    const res = await grpcRaw(server.port, "/actionqueue.v1.TaskService/SubmitTask", frame(msg));
    expect([Code.InvalidArgument, Code.Internal]).toContain(res.grpcStatus);
  });

  it("SubmitTask: a length prefix promising 100 bytes with 3 sent → grpc-status 3", async () => {
    const res = await grpcRaw(server.port, "/actionqueue.v1.TaskService/SubmitTask", frame(GARBAGE, { length: 100 }));
    expect(res.grpcStatus).toBe(Code.InvalidArgument);
  });

  it("SubmitTask: a truncated 3-byte frame header → grpc-status 3", async () => {
    const res = await grpcRaw(server.port, "/actionqueue.v1.TaskService/SubmitTask", Buffer.from([0, 0, 0]));
    expect(res.grpcStatus).toBe(Code.InvalidArgument);
  });

  it("SubmitTask: a length prefix of 2 GiB (over the 4 MiB limit) → grpc-status 8", async () => {
    const res = await grpcRaw(server.port, "/actionqueue.v1.TaskService/SubmitTask", frame(GARBAGE, { length: 0x7fff_ffff }));
    expect(res.grpcStatus).toBe(Code.ResourceExhausted);
  });

  it("SubmitTask: the compressed flag without grpc-encoding → grpc-status 13 (gRPC spec)", async () => {
    const res = await grpcRaw(server.port, "/actionqueue.v1.TaskService/SubmitTask", frame(GARBAGE, { flags: 1 }));
    expect(res.grpcStatus).toBe(Code.Internal);
  });
});

describe("after all the bad input", () => {
  it("the server is alive, SERVING, and nothing changed", async () => {
    expect(server.child.exitCode).toBeNull();
    expect(server.child.signalCode).toBeNull();
    const h = grpcJs(server.port);
    try {
      await expect(unary(h.health, "check", { service: "" })).resolves.toEqual({ status: "SERVING" });
      await expect(unary(h.health, "check", { service: "actionqueue.v1.TaskService" })).resolves.toEqual({ status: "SERVING" });
    } finally {
      h.close();
    }
    const after = await snapshot(grpc);
    expect(after.stats).toEqual(before.stats);
    expect(after.runs).toEqual(before.runs);
    expect(after.tasks).toEqual(before.tasks);
    // Sanity: the snapshot is not trivially empty.
    expect(Number(before.stats.tasks)).toBe(13);
    expect(before.stats.enginePaused).toBe(false);
    expect(before.stats.queues.map((q) => q.queue?.name)).toEqual([Q, Q_LATER, Q_TREE]);
    // The READY run's queue has an oldest READY instant; the queues with none READY have none.
    expect(before.stats.queues.map((q) => q.oldestReadyAt !== undefined)).toEqual([true, false, false]);
    // The new filter, used well: the one run whose task has KEY (the RUNNING one).
    expect((await grpc.runs.listRuns({ concurrencyKey: KEY })).runs.map((r) => r.id)).toEqual([seed.runningRun]);
    // No handler bug was logged along the way.
    expect(server.logs.filter((l) => l.includes("unexpected error in handler"))).toEqual([]);
  });
});
