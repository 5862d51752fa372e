/**
 * Who is calling, as the access policy sees it (AdminService.GetCaller). The guard
 * (guard.ts) puts the token entry it authenticated into the call's context values, in the
 * same check that authorizes the call, so a handler learns the caller without a second look
 * at the credentials, on every path (connect-es and the direct unary path share the wrapped
 * implementation). No guard runs without an auth file: the value then keeps its default,
 * null, which means the API is open.
 */
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { TokenEntry } from "./auth-file.js";
import { methodNames } from "./policy.js";

/** The authenticated caller of a guarded call; null when no guard runs (no auth file). */
export const CALLER = createContextKey<TokenEntry | null>(null, { description: "actionqueue authenticated caller" });

/** The caller as GetCallerResponse describes it. */
export interface CallerView {
  readonly authEnabled: boolean;
  /** The entry's name in the auth file; "" without one. */
  readonly name: string;
  /** "" without an auth file. */
  readonly role: string;
  /** Full method names the caller may call, sorted. */
  readonly methods: string[];
  /** The queues the caller is limited to, sorted; empty: every queue. */
  readonly queues: string[];
}

/**
 * The caller of the call `ctx` belongs to: its entry's name, role, methods and queues, or,
 * without an auth file, no name or role and every guarded method on every queue.
 */
export function callerOf(ctx: HandlerContext): CallerView {
  const who = ctx.values.get(CALLER);
  if (who === null) return { authEnabled: false, name: "", role: "", methods: methodNames().sort(), queues: [] };
  return { authEnabled: true, name: who.name, role: who.role, methods: [...who.methods].sort(), queues: who.queues === null ? [] : [...who.queues].sort() };
}
