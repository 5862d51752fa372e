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
import { engineOptions } from "../../src/engine-options.js";
import { startServer } from "../../src/server/server.js";
import { MemoryStore } from "../../src/storage/memory/memory-store.js";

const config = parseConfig(process.argv.slice(2), process.env);
if (config === "help") throw new Error("memory-main.ts takes the server's flags");
const log = pino({ level: config.logLevel, base: { service: "actionqueue-memory-bench" } });
const engine = await Engine.open(engineOptions(config, MemoryStore.open(), log));
const server = await startServer(engine, config, log);
const stop = () => void server.close(config.shutdownGraceMs).then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
log.info({ port: server.port, store: "memory" }, "serving");
