/**
 * One ScenarioClient over several servers: each call goes to the next server in turn, so a
 * scenario that submits, leases, completes and reads does each step through a different
 * server (several servers on one PostgreSQL database, docs/scaling.md). A watch stays on the
 * server it was opened on, as a stream does; the events it carries come from every server.
 */
import type { ScenarioClient } from "./scenario-client.js";

type Method = Exclude<keyof ScenarioClient, "kind" | "close">;

/** A client that sends call i to `clients[i % n]`. */
export function roundRobin(clients: readonly ScenarioClient[]): ScenarioClient {
  const first = clients[0];
  if (!first) throw new Error("roundRobin: no client");
  let next = 0;
  const pick = (): ScenarioClient => clients[next++ % clients.length] as ScenarioClient;
  const target: Partial<ScenarioClient> = {
    kind: first.kind,
    close: () => {
      for (const c of clients) c.close();
    },
  };
  return new Proxy(target as ScenarioClient, {
    get(t, name: string | symbol) {
      if (name === "kind" || name === "close") return t[name];
      return (...args: unknown[]) => {
        const c = pick();
        return (c[name as Method] as (...a: unknown[]) => unknown).apply(c, args);
      };
    },
  });
}
