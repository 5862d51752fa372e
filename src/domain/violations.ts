/**
 * Field violations: what is wrong with a request, one entry per field, with a path in proto
 * field names ("spec.queue", "tasks[2].spec.queue"). Validators push into a list; an empty
 * list means the input may be used.
 */

/** One invalid request field. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** UTF-8 length of a string, without allocating. Lone surrogates count as U+FFFD (3 bytes). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** Pushes a violation when `n` is not an integer in [min, max]. */
export function checkInt(v: FieldViolation[], field: string, n: number, min: number, max: number): void {
  if (!Number.isSafeInteger(n) || n < min || n > max) v.push({ field, description: `must be an integer from ${min} to ${max}; got ${n}` });
}

/** Prefixes every field path of `violations` and appends them to `into`. */
export function prefixed(into: FieldViolation[], prefix: string, violations: readonly FieldViolation[]): void {
  for (const x of violations) into.push({ field: prefix + x.field, description: x.description });
}
