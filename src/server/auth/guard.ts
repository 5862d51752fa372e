/**
 * Authentication and authorization of every call of a guarded service (policy.ts), on every
 * path: each service implementation is wrapped once, so connect-es (gRPC, gRPC-Web, Connect,
 * HTTP/1.1 and HTTP/2, unary and streaming) and the direct unary path (fast-unary.ts) run the
 * same check before the handler. Without an auth file nothing is wrapped (today's open
 * behaviour, on loopback only: config.ts).
 *
 * - `authorization: Bearer <token>` missing, malformed or unknown → UNAUTHENTICATED (without
 *   the header, a TLS client certificate mapped in the file identifies the caller: peer.ts);
 * - a valid token whose role lacks the method, or whose queues do not cover the call →
 *   PERMISSION_DENIED.
 * Both carry ErrorInfo (reason UNAUTHENTICATED / PERMISSION_DENIED, metadata `method`, and
 * `queue` when a named queue was refused) and never the token.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { create, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { Engine } from "../../engine/engine.js";
import { asRunId, asTaskId } from "../../domain/ids.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ERROR_DOMAIN } from "../errors.js";
import type { AuthFile, TokenEntry } from "./auth-file.js";
import { CALLER } from "./caller.js";
import { peerFingerprint } from "./peer.js";
import { METHOD_POLICY, type MethodPolicy } from "./policy.js";

/** The ConnectError of a refused call, with ErrorInfo. */
function refusal(code: Code.Unauthenticated | Code.PermissionDenied, message: string, metadata: Record<string, string>): ConnectError {
  const reason = code === Code.Unauthenticated ? "UNAUTHENTICATED" : "PERMISSION_DENIED";
  return new ConnectError(message, code, undefined, [{ desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata }) }]);
}

const BEARER = /^Bearer[ ]+([!-~]+)[ ]*$/i;

/** Checks tokens against an auth file and calls against the policy table. */
export class Guard {
  readonly #tokens: readonly TokenEntry[];
  readonly #certificates: readonly TokenEntry[];
  readonly #engine: Engine;

  constructor(file: AuthFile, engine: Engine) {
    this.#tokens = file.tokens.filter((t) => t.kind === "token");
    this.#certificates = file.tokens.filter((t) => t.kind === "certificate");
    this.#engine = engine;
  }

  /** Whether the auth file maps client certificates (the TLS server then asks for them). */
  get wantsClientCertificates(): boolean {
    return this.#certificates.length > 0;
  }

  /** The token entry of an `authorization` header value; throws UNAUTHENTICATED. */
  authenticate(header: string | null, method: string): TokenEntry {
    if (header === null || header === "") throw refusal(Code.Unauthenticated, "missing authorization header (expected \"authorization: Bearer <token>\")", { method });
    const m = BEARER.exec(header);
    if (!m) throw refusal(Code.Unauthenticated, "malformed authorization header (expected \"authorization: Bearer <token>\")", { method });
    const digest = createHash("sha256").update(m[1] as string, "utf8").digest();
    const found = matching(this.#tokens, digest);
    if (!found) throw refusal(Code.Unauthenticated, "unknown bearer token", { method });
    return found;
  }

  /**
   * The entry of a call: its bearer token when it sends an `authorization` header, else the
   * TLS client certificate it presented when the file maps certificates; UNAUTHENTICATED
   * when neither identifies it.
   */
  identify(ctx: HandlerContext, method: string): TokenEntry {
    const header = ctx.requestHeader.get("authorization");
    if (header === null && this.#certificates.length > 0) {
      const fp = peerFingerprint(ctx.values);
      const found = fp ? matching(this.#certificates, fp) : null;
      if (found) return found;
      if (fp) throw refusal(Code.Unauthenticated, "no authorization header, and the client certificate is not in the auth file", { method });
    }
    return this.authenticate(header, method);
  }

  /**
   * Authorizes `request` to `method` for `who`: returns the request to hand to the handler (a
   * copy narrowed to the caller's queues for a `queues-filter` call without queues), or throws
   * PERMISSION_DENIED.
   */
  authorize<T>(who: TokenEntry, method: string, request: T): T {
    const policy = METHOD_POLICY[method];
    const deny = (why: string, extra: Record<string, string> = {}): never => {
      throw refusal(Code.PermissionDenied, `${why} (token "${who.name}", role ${who.role})`, { method, role: who.role, ...extra });
    };
    if (!policy || !who.methods.has(method)) deny(`role ${who.role} may not call ${method}`);
    const queues = who.queues;
    if (queues === null) return request;
    const q = request as Record<string, unknown>;
    const need = (queue: string) => {
      if (!queues.has(queue)) deny(`queue "${queue}" is not one of the token's queues`, { queue });
    };
    const runQueue = (id: unknown, field: string) => {
      const queue = this.#runQueue(id);
      if (queue !== null && !queues.has(queue)) deny(`run ${String(id)} is in a queue the token is not limited to`, { [field]: String(id) });
    };
    const taskQueue = (id: unknown) => {
      const queue = this.#taskQueue(id);
      if (queue !== null && !queues.has(queue)) deny(`task ${String(id)} is in a queue the token is not limited to`, { task_id: String(id) });
      return queue;
    };
    const scope = (policy as MethodPolicy).scope;
    switch (scope) {
      case "none":
        return request;
      case "global":
        return deny(`${method} spans every queue; the token is limited to ${[...queues].join(", ")}`);
      case "queue":
        if (typeof q.queue === "string" && q.queue !== "") need(q.queue);
        return request;
      case "queues":
        for (const name of q.queues as string[]) need(name);
        return request;
      case "queues-filter": {
        const named = q.queues as string[];
        for (const name of named) need(name);
        return named.length > 0 ? request : ({ ...q, queues: [...queues] } as T);
      }
      case "spec": {
        const spec = q.spec as { queue?: string } | undefined;
        if (spec?.queue) need(spec.queue);
        return request;
      }
      case "specs":
        for (const t of q.tasks as { spec?: { queue?: string } }[]) if (t.spec?.queue) need(t.spec.queue);
        return request;
      case "run":
        runQueue(q.runId, "run_id");
        return request;
      case "run-items":
        for (const item of (q.heartbeats ?? q.completions) as { runId: string }[]) runQueue(item.runId, "run_id");
        return request;
      case "task":
        taskQueue(q.taskId);
        return request;
      case "list-runs":
        if (typeof q.queue === "string" && q.queue !== "") need(q.queue);
        else if (typeof q.taskId === "string" && q.taskId !== "") taskQueue(q.taskId);
        else deny(`a listing of every queue; name one of ${[...queues].join(", ")} in "queue"`);
        return request;
      case "list-tasks":
        if (typeof q.queue === "string" && q.queue !== "") need(q.queue);
        else deny(`a listing of every queue; name one of ${[...queues].join(", ")} in "queue"`);
        return request;
      default: {
        const never: never = scope;
        return never;
      }
    }
  }

  /** The queue of a run, or null when the id is malformed or unknown (the handler answers). */
  #runQueue(id: unknown): string | null {
    if (typeof id !== "string" || id === "") return null;
    try {
      return this.#engine.queries.run(asRunId(id)).run.queue;
    } catch {
      return null;
    }
  }

  #taskQueue(id: unknown): string | null {
    if (typeof id !== "string" || id === "") return null;
    try {
      return this.#engine.queries.task(asTaskId(id)).spec.queue;
    } catch {
      return null;
    }
  }

  /**
   * The request for a call (see authenticate and authorize). The authorized caller's entry
   * goes into the call's context values (caller.ts), for a handler that answers about the
   * caller (GetCaller) without checking its credentials again.
   */
  check<T>(method: string, request: T, ctx: HandlerContext): T {
    const who = this.identify(ctx, method);
    const checked = this.authorize(who, method, request);
    ctx.values.set(CALLER, who);
    return checked;
  }
}

/**
 * The entry whose digest is `digest`. Every entry is compared, in constant time, whatever
 * matched: the time taken says nothing about which digest (or how much of one) was close.
 */
function matching(entries: readonly TokenEntry[], digest: Buffer): TokenEntry | null {
  let found: TokenEntry | null = null;
  for (const t of entries) if (timingSafeEqual(t.digest, digest)) found = t;
  return found;
}

type AnyFn = (req: unknown, ctx: HandlerContext) => unknown;

/**
 * `impl` with every method of `service` behind `guard`: unary methods check before calling
 * the handler; streaming ones are async generators that check before the first message.
 */
export function guardService<I extends object>(service: DescService, impl: I, guard: Guard): I {
  const out: Record<string, unknown> = { ...(impl as Record<string, unknown>) };
  for (const m of service.methods) {
    const fn = (impl as Record<string, unknown>)[m.localName];
    if (typeof fn !== "function") continue;
    const name = `${service.typeName}/${m.name}`;
    const inner = (fn as AnyFn).bind(impl);
    out[m.localName] =
      m.methodKind === "unary" || m.methodKind === "client_streaming"
        ? (req: unknown, ctx: HandlerContext) => inner(guard.check(name, req, ctx), ctx)
        : async function* (req: unknown, ctx: HandlerContext) {
            // A streaming request (bidi) is an iterable: the call itself is checked, not its messages.
            const checked = m.methodKind === "server_streaming" ? guard.check(name, req, ctx) : (guard.check(name, {}, ctx), req);
            yield* inner(checked, ctx) as AsyncIterable<unknown>;
          };
  }
  return out as I;
}
