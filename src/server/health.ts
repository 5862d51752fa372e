/**
 * grpc.health.v1.Health: SERVING for the server ("") and every service it exposes while the
 * server runs, NOT_SERVING once shutdown begins; Check answers NOT_FOUND for unknown service
 * names, Watch streams the current status and every change (SERVICE_UNKNOWN for unknown names).
 */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { type Health, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.js";

/** Serving state shared by the health service and the server's shutdown. */
export class HealthState {
  #serving = true;
  readonly #listeners = new Set<() => void>();
  readonly services: ReadonlySet<string>;

  constructor(services: Iterable<string>) {
    this.services = new Set(["", ...services]);
  }

  get serving(): boolean {
    return this.#serving;
  }

  /** Marks the server NOT_SERVING (shutdown) and tells watchers. */
  stopServing(): void {
    this.#serving = false;
    for (const l of this.#listeners) l();
  }

  statusOf(service: string): Status {
    if (!this.services.has(service)) return Status.SERVICE_UNKNOWN;
    return this.#serving ? Status.SERVING : Status.NOT_SERVING;
  }

  /** Resolves at the next change or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#listeners.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.#listeners.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

export function healthService(state: HealthState): ServiceImpl<typeof Health> {
  return {
    async check(req) {
      const status = state.statusOf(req.service);
      if (status === Status.SERVICE_UNKNOWN) throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
      return { status };
    },
    async *watch(req, ctx) {
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const status = state.statusOf(req.service);
        if (status !== last) {
          yield { status };
          last = status;
        }
        if (status === Status.NOT_SERVING) return;
        await state.changed(ctx.signal);
      }
    },
  };
}
