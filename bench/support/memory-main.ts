/**
 * A benchmark-only server entry: the real server and engine over the in-memory reference
 * store (src/storage/memory) instead of LMDB — nothing is written or flushed. It exists to
 * measure how much of the server's time per run is storage at all (`BENCH_STORE=memory` for
 * `npm run bench:profile` and `npm run bench:compare`); it is never a way to run ActionQueue.
 * Takes the same flags as src/main.ts (--data-dir is accepted and ignored).
 */
import pino from "pino";
import { parseConfig } from "../../src/config.js";
import { Engine } from "../../src/engine/engine.js";
import { uuidV7Source } from "../../src/ids/uuidv7.js";
import { startServer } from "../../src/server/server.js";
import { MemoryStore } from "../../src/storage/memory/memory-store.js";

const config = parseConfig(process.argv.slice(2), process.env);
if (config === "help") throw new Error("memory-main.ts takes the server's flags");
const log = pino({ level: config.logLevel, base: { service: "actionqueue-memory-bench" } });
const engine = await Engine.open({
  store: MemoryStore.open(),
  clock: { now: () => Date.now() },
  ids: uuidV7Source(),
  random: { next: Math.random },
  limits: {
    maxPayloadBytes: config.maxPayloadBytes,
    maxOutputBytes: config.maxOutputBytes,
    maxErrorBytes: config.maxErrorBytes,
    maxRepeatCount: config.maxRepeatCount,
    maxTaskDepth: config.maxTaskDepth,
  },
  retentionMs: config.retentionMs,
  dedupWindowMs: config.dedupWindowMs,
  purgeIntervalMs: Math.max(10, config.purgeIntervalMs),
  storageQuotaBytes: config.storageQuotaBytes,
  cronWindow: config.cronWindow,
  maxQueuedCommands: config.maxQueuedCommands,
  maxQueueDelayMs: config.maxQueueDelayMs,
  logger: log,
});
const server = await startServer(engine, config, log);
const stop = () => void server.close(config.shutdownGraceMs).then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
log.info({ port: server.port, store: "memory" }, "serving");
