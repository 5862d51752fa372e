/** What every service implementation is built from. */
import type { Config } from "../config.js";
import type { Engine, EngineLogger } from "../engine/engine.js";

export interface ServiceContext {
  readonly engine: Engine;
  readonly config: Config;
  readonly log: EngineLogger;
  /** Active long polls and watches, for the configured ceilings. */
  readonly gauges: { longPolls: number; watches: number };
}
