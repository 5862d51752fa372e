/** The pure domain core: no I/O, no clock reads, no randomness, no generated types. */
export * from "./derive.js";
export * from "./ids.js";
export * from "./keys.js";
export * from "./lifecycle.js";
export * from "./refusal.js";
export * from "./result.js";
export * from "./retry.js";
export * from "./run.js";
export * from "./selection.js";
export * from "./state.js";
export * from "./time.js";
export * from "./task.js";
