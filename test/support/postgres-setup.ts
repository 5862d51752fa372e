/**
 * Vitest global setup of the "engine-on-postgres" project: one throw-away PostgreSQL cluster
 * (test/support/postgres.ts) for the whole run, its URL provided to the tests as `pgUrl`
 * (`inject("pgUrl")`); every engine a test opens gets a new database on it
 * (test/support/engine.ts). Stopped and removed when the run ends.
 */
import type { TestProject } from "vitest/node";
import { startPostgres } from "./postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    pgUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startPostgres();
  project.provide("pgUrl", cluster.url);
  return () => cluster.stop();
}
