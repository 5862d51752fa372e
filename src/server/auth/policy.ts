/**
 * The authorization policy as data: for every method of every served service (health
 * excepted, it stays open), the built-in roles that may call it and how the queue(s) a call
 * touches are found — what a role limited to some queues is checked against.
 *
 * A unit test walks the service descriptors and fails when a method has no entry here
 * (test/unit/server/auth-policy.test.ts), and another checks docs/auth.md's role table
 * against this one.
 */
import type { DescService } from "@bufbuild/protobuf";
import { AdminService } from "../../gen/actionqueue/v1/admin_service_pb.js";
import { RunService } from "../../gen/actionqueue/v1/run_service_pb.js";
import { TaskService } from "../../gen/actionqueue/v1/task_service_pb.js";
import { WorkerService } from "../../gen/actionqueue/v1/worker_service_pb.js";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** The built-in roles. `admin` may call every method of the table, on every queue. */
export const BUILTIN_ROLES = ["admin", "worker", "submitter", "reader"] as const;
export type BuiltinRole = (typeof BUILTIN_ROLES)[number];

/**
 * How the queues a call touches are found, for a caller limited to some queues (a caller
 * with no queue limit is never looked at this way):
 * - `none`: no queue data at all (reflection: the schema) — allowed;
 * - `global`: spans every queue (engine pause, concurrency keys) — refused;
 * - `queue`: the request's `queue` must be allowed (empty is left to the handler: INVALID_ARGUMENT);
 * - `queues`: each name in `queues` must be allowed (empty is left to the handler);
 * - `queues-filter`: each name in `queues` must be allowed; empty ("all queues") is narrowed
 *   to the caller's queues;
 * - `spec` / `specs`: the queue of the submitted task spec(s);
 * - `run` / `run-items`: the queue of the run(s) named by id, looked up through the engine's
 *   read API (an unknown id is left to the handler: NOT_FOUND);
 * - `task`: the queue of the task named by id (likewise);
 * - `list-runs`: `queue` must be allowed, or, without a queue, `task_id` must name a task of an
 *   allowed queue; a listing of every queue is refused;
 * - `list-tasks`: `queue` must be allowed; a listing of every queue is refused.
 */
export type Scope = "none" | "global" | "queue" | "queues" | "queues-filter" | "spec" | "specs" | "run" | "run-items" | "task" | "list-runs" | "list-tasks";

/**
 * One method's entry. `roles`: the built-in roles besides `admin` that may call the method,
 * or `"every-token"` for a method every valid token may call whatever its role — built-in
 * or custom, whether or not a custom role's patterns name it (see `roleMethods`, the one
 * place that rule is applied).
 */
export interface MethodPolicy {
  readonly roles: readonly Exclude<BuiltinRole, "admin">[] | "every-token";
  readonly scope: Scope;
}

const T = TaskService.typeName;
const R = RunService.typeName;
const W = WorkerService.typeName;
const A = AdminService.typeName;

/**
 * Every method, by full name (`package.Service/Method`). Roles, in short: `worker` runs
 * WorkerService and the reads and give-back calls the worker SDK makes (ListRuns, SuspendRun
 * and ResumeRun: clients/typescript/src/worker/orphans.ts); `submitter` owns TaskService and
 * follows its runs (reads and WatchRuns) but does not operate runs; `reader` has every read
 * and WatchRuns; reflection (the schema, no data) is open to every built-in role. GetCaller
 * is open to every valid token, custom roles included: it only tells a caller what its own
 * entry already grants (it learns nothing a refused call would not tell it), and a client such
 * as the dashboard needs it to know what to offer; the server still checks every call.
 */
export const METHOD_POLICY: Readonly<Record<string, MethodPolicy>> = {
  [`${T}/SubmitTask`]: { roles: ["submitter"], scope: "spec" },
  [`${T}/BatchSubmitTasks`]: { roles: ["submitter"], scope: "specs" },
  [`${T}/GetTask`]: { roles: ["worker", "submitter", "reader"], scope: "task" },
  [`${T}/ListTasks`]: { roles: ["submitter", "reader"], scope: "list-tasks" },
  [`${T}/CancelTask`]: { roles: ["submitter"], scope: "task" },

  [`${R}/GetRun`]: { roles: ["worker", "submitter", "reader"], scope: "run" },
  [`${R}/ListRuns`]: { roles: ["worker", "submitter", "reader"], scope: "list-runs" },
  [`${R}/ListAttempts`]: { roles: ["worker", "submitter", "reader"], scope: "run" },
  [`${R}/CancelRun`]: { roles: [], scope: "run" },
  [`${R}/SuspendRun`]: { roles: ["worker"], scope: "run" },
  [`${R}/ResumeRun`]: { roles: ["worker"], scope: "run" },
  [`${R}/SetRunPriority`]: { roles: [], scope: "run" },
  [`${R}/WatchRuns`]: { roles: ["submitter", "reader"], scope: "queues-filter" },

  [`${W}/LeaseRuns`]: { roles: ["worker"], scope: "queues" },
  [`${W}/StartAttempt`]: { roles: ["worker"], scope: "run" },
  [`${W}/Heartbeat`]: { roles: ["worker"], scope: "run" },
  [`${W}/BatchHeartbeat`]: { roles: ["worker"], scope: "run-items" },
  [`${W}/CompleteAttempt`]: { roles: ["worker"], scope: "run" },
  [`${W}/BatchCompleteAttempts`]: { roles: ["worker"], scope: "run-items" },
  [`${W}/ReleaseLease`]: { roles: ["worker"], scope: "run" },

  [`${A}/PauseEngine`]: { roles: [], scope: "global" },
  [`${A}/ResumeEngine`]: { roles: [], scope: "global" },
  [`${A}/PauseQueue`]: { roles: [], scope: "queue" },
  [`${A}/ResumeQueue`]: { roles: [], scope: "queue" },
  [`${A}/SetQueueRateLimit`]: { roles: [], scope: "queue" },
  [`${A}/GetStats`]: { roles: ["reader"], scope: "queues-filter" },
  [`${A}/GetConcurrencyKey`]: { roles: ["reader"], scope: "global" },
  [`${A}/ListConcurrencyKeys`]: { roles: ["reader"], scope: "global" },
  [`${A}/GetCaller`]: { roles: "every-token", scope: "none" },

  [`${ReflectionV1.typeName}/ServerReflectionInfo`]: { roles: ["worker", "submitter", "reader"], scope: "none" },
  [`${ReflectionV1alpha.typeName}/ServerReflectionInfo`]: { roles: ["worker", "submitter", "reader"], scope: "none" },
};

/** The services whose every method needs a token (grpc.health.v1.Health stays open). */
export const GUARDED_SERVICES: readonly DescService[] = [TaskService, RunService, WorkerService, AdminService, ReflectionV1, ReflectionV1alpha];

/** Full names of every method of `services`, in descriptor order. */
export function methodNames(services: readonly DescService[] = GUARDED_SERVICES): string[] {
  return services.flatMap((s) => s.methods.map((m) => `${s.typeName}/${m.name}`));
}

/** Methods every valid token may call, whatever its role (`roles: "every-token"`). */
const EVERY_TOKEN: readonly string[] = Object.entries(METHOD_POLICY)
  .filter(([, p]) => p.roles === "every-token")
  .map(([name]) => name);

/**
 * The methods a role may call, from those it is granted (a built-in role's column of the
 * table, or what a custom role's patterns expand to): those plus every `"every-token"`
 * method. Built-in roles (`builtinMethods`) and the auth file's custom roles
 * (auth-file.ts) both go through here, so "every valid token may call it" holds for every
 * role without a custom role having to list it.
 */
export function roleMethods(granted: Iterable<string>): Set<string> {
  return new Set([...granted, ...EVERY_TOKEN]);
}

/** The methods a built-in role may call. */
export function builtinMethods(role: BuiltinRole): Set<string> {
  const granted = Object.entries(METHOD_POLICY).filter(([, p]) => role === "admin" || (p.roles !== "every-token" && p.roles.includes(role)));
  return roleMethods(granted.map(([name]) => name));
}

/**
 * The methods a custom role's pattern names: a full method name, or `package.Service/*` for
 * every method of a guarded service. Null when the pattern names nothing known.
 */
export function expandPattern(pattern: string): string[] | null {
  if (pattern.endsWith("/*")) {
    const service = pattern.slice(0, -2);
    const names = Object.keys(METHOD_POLICY).filter((n) => n.startsWith(`${service}/`));
    return names.length > 0 ? names : null;
  }
  return pattern in METHOD_POLICY ? [pattern] : null;
}
