/**
 * A value-or-refusal result. Expected refusals in the domain are values, never exceptions:
 * the caller decides how to report them (the engine turns them into typed errors, the
 * server into status codes).
 */
export type Result<T, E> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

/** Wraps a success. */
export function ok<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

/** Wraps a refusal. */
export function err<E>(error: E): { readonly ok: false; readonly error: E } {
  return { ok: false, error };
}

/**
 * Compile-time exhaustiveness check for `switch` statements over unions: a new member
 * makes the call site fail to compile until it is handled.
 */
export function assertNever(value: never, what = "value"): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(value)}`);
}
