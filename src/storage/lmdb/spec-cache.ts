/**
 * A bounded cache of decoded task specs. Leasing and completing read the task of every run;
 * its spec (the biggest part, with the payload) never changes once stored, so it is decoded
 * once and kept while it is recently used. Bounded by entries and by payload bytes, so
 * large payloads cannot grow the heap past a few tens of MiB; least recently used first out.
 */
import type { TaskSpec } from "../../domain/task-spec.js";

/** Most specs kept. */
const MAX_ENTRIES = 20_000;
/** Most payload bytes kept across entries. */
const MAX_PAYLOAD_BYTES = 32 * 1024 * 1024;

export class SpecCache {
  readonly #entries = new Map<string, TaskSpec>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxEntries = MAX_ENTRIES, maxPayloadBytes = MAX_PAYLOAD_BYTES) {
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxPayloadBytes;
  }

  /** The cached spec of `id`, or `load()`'s (cached when found). */
  get(id: string, load: () => TaskSpec | undefined): TaskSpec | undefined {
    const hit = this.#entries.get(id);
    if (hit) {
      // Most recently used moves to the end of the insertion order.
      this.#entries.delete(id);
      this.#entries.set(id, hit);
      return hit;
    }
    const spec = load();
    if (spec) this.#add(id, spec);
    return spec;
  }

  forget(id: string): void {
    const spec = this.#entries.get(id);
    if (!spec) return;
    this.#entries.delete(id);
    this.#bytes -= spec.payload.data.byteLength;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Payload bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  #add(id: string, spec: TaskSpec): void {
    const bytes = spec.payload.data.byteLength;
    if (bytes > this.#maxBytes / 16) return; // a huge payload would evict everything
    this.#entries.set(id, spec);
    this.#bytes += bytes;
    for (const [oldest, s] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= s.payload.data.byteLength;
    }
  }
}
