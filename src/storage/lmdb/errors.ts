/**
 * Storage failures as engine errors, classified by the error's code (errno names from the
 * OS or LMDB's own MDB_* codes), never by message text: a full disk or map is STORAGE_FULL,
 * anything else STORAGE_IO. Nothing of the failed commit was stored either way.
 */
import { EngineError } from "../../engine/errors.js";

/** Codes that mean "no room": disk full, file size limit, quota, LMDB map full. */
const FULL_CODES = new Set<string | number>(["ENOSPC", "EFBIG", "EDQUOT", "MDB_MAP_FULL", -30792, 28, 27, 122]);

function codeOf(e: unknown): string | number | undefined {
  const o = e as { code?: unknown; errno?: unknown } | null;
  if (typeof o?.code === "string" || typeof o?.code === "number") return o.code;
  if (typeof o?.errno === "number") return Math.abs(o.errno);
  return undefined;
}

/** Translates a failed commit into a clear engine error (the commit applied nothing). */
export async function storageError(e: unknown): Promise<EngineError> {
  // lmdb-js rejects a failed commit with "Commit failed" and the cause in a second promise.
  let cause: unknown = e;
  const inner = (e as { commitError?: Promise<unknown> } | null)?.commitError;
  if (inner && typeof inner.then === "function") {
    cause = await inner.then(
      () => e,
      (x: unknown) => x,
    );
  }
  return classify(e, cause);
}

/** Translates a failed synchronous commit (the error carries its cause). */
export function storageErrorSync(e: unknown): EngineError {
  return classify(e, e);
}

function classify(e: unknown, cause: unknown): EngineError {
  const code = codeOf(cause) ?? codeOf(e);
  const text = cause instanceof Error ? cause.message : String(cause);
  const detail = `${text.trim()}${code !== undefined ? ` (code ${code})` : ""}`;
  if (code !== undefined && FULL_CODES.has(code)) return new EngineError("STORAGE_FULL", `storage is full: ${detail}`, { cause: e });
  return new EngineError("STORAGE_IO", `storage write failed: ${detail}`, { cause: e });
}
