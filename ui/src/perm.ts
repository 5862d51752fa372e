/**
 * What the caller may do, from AdminService.GetCaller, as pure functions: the dashboard shows
 * an action only when the caller's role has its method and, for a caller limited to some
 * queues, the action's queue is one of them (methods that span every queue — engine pause,
 * concurrency keys — are refused to such callers, as the server's policy does). The server
 * checks every call anyway; this only keeps buttons that would fail out of sight.
 * Unit-tested in test/unit/ui/perm.test.ts.
 */

/** The parts of GetCallerResponse the checks need. */
export interface CallerView {
  readonly authEnabled: boolean;
  readonly name: string;
  readonly role: string;
  /** Full method names, e.g. "actionqueue.v1.RunService/CancelRun". */
  readonly methods: readonly string[];
  /** Empty: every queue. */
  readonly queues: readonly string[];
}

/** The package every method name starts with. */
const PKG = "actionqueue.v1.";

/** The full name of a method given as "RunService/CancelRun" (full names pass through). */
export function fullMethod(method: string): string {
  return method.startsWith(PKG) ? method : `${PKG}${method}`;
}

/**
 * Why `caller` may not call `method` on `queue` (null: a method spanning every queue), or
 * undefined when it may. An unknown caller (null: GetCaller failed) may do nothing.
 */
export function denial(caller: CallerView | null, method: string, queue: string | null): string | undefined {
  if (caller === null) return "who you are is unknown (GetCaller failed), so actions are hidden";
  if (!caller.authEnabled) return undefined;
  const full = fullMethod(method);
  const short = full.slice(PKG.length);
  if (!caller.methods.includes(full)) return `role ${caller.role || "(none)"} may not call ${short}`;
  if (caller.queues.length === 0) return undefined;
  if (queue === null) return `${short} spans every queue; this token is limited to ${caller.queues.join(", ")}`;
  if (!caller.queues.includes(queue)) return `this token is limited to ${caller.queues.join(", ")}`;
  return undefined;
}

/** Whether `caller` may call `method` on `queue` (null: a method spanning every queue). */
export function can(caller: CallerView | null, method: string, queue: string | null): boolean {
  return denial(caller, method, queue) === undefined;
}

/** The caller's queue limit as the runs view needs it: the queue to default to, if any. */
export function defaultQueue(caller: CallerView | null): string {
  return caller !== null && caller.authEnabled && caller.queues.length > 0 ? (caller.queues[0] ?? "") : "";
}
