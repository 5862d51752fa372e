/**
 * The servers and the load of test/e2e/postgres-crash.test.ts: a fleet of ActionQueue server
 * processes on one PostgreSQL database (SIGKILLed and restarted by the test), and the clients
 * that keep working while that happens — submitters, workers and watchers. Every client call
 * goes to a random live server; a call that fails because its server died under it (or that
 * answers UNAVAILABLE) is tried again on another live server with the same request. Only what
 * a server acknowledged is recorded as done: a call that failed may or may not have happened.
 *
 *  - Submitters send SubmitTask / BatchSubmitTasks with task ids of their own, so a retry of
 *    a call that did happen answers `created: false` with the same task and runs.
 *  - Workers lease with start_attempt and complete with SUCCESS, recording every grant (run,
 *    lease token) and every acknowledged completion, each with a sequence number taken when
 *    the answer arrived; now and then a worker sends an acknowledged completion again, with
 *    its old token, to another server (a stale completion, to be refused).
 *  - Watchers watch every run from revision 1 and, when their server dies, resume on another
 *    from the last revision they received + 1, recording every event.
 *  - Abandoning workers lease (a 1 s lease, mostly with start_attempt) and never complete nor
 *    heartbeat: every grant lapses, by the timer every server arms for it. Half their calls
 *    lease from every queue, half from LAPSE_QUEUE only (2 attempts: a run abandoned twice
 *    RUNNING ends FAILED). After each lease ended, its token is sent again (CompleteAttempt, or
 *    StartAttempt for a grant without an attempt), which must be refused.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type ActionQueueClients,
  AttemptOutcome,
  ErrorInfoSchema,
  HoldPolicy,
  RunState,
  type SubmitTaskRequestSchema,
  type SubmitTaskResponse,
  type WatchRunsResponse,
} from "../../clients/typescript/src/index.js";
import { seededRandom } from "./engine.js";
import { type ServerProcess, connectGrpc, connectJson, startServer } from "./server.js";

/** The queues of the load: one without a key, two whose tasks share a key of KEY_SLOTS slots. */
export const FREE_QUEUE = "crash-free";
export const KEYED_QUEUES = { "crash-ka": "ka", "crash-kb": "kb" } as const;
/** A queue without a key whose runs have 2 attempts: one abandoned RUNNING twice ends FAILED. */
export const LAPSE_QUEUE = "crash-lapse";
export const LAPSE_MAX_ATTEMPTS = 2;
export const QUEUES = [FREE_QUEUE, ...Object.keys(KEYED_QUEUES), LAPSE_QUEUE];
export const KEY_SLOTS = 2;
/** Lease of a grant: a grant whose answer was lost with its server comes back after this. */
const LEASE_SECONDS = 4n;
/** Lease of an abandoning worker's grant (the shortest there is). */
const ABANDON_LEASE_SECONDS = 1n;
/** Deadline of every unary call: no call should take anywhere near it. */
const CALL_TIMEOUT_MS = 15_000;

/** A small deterministic generator (mulberry32), so a run of the test can be repeated. */
export function prng(seed: number): () => number {
  const r = seededRandom(seed);
  return () => r.next();
}

/** One server process of the fleet, with a client of each protocol. */
export interface Member {
  readonly n: number;
  readonly server: ServerProcess;
  readonly json: ActionQueueClients;
  readonly grpc: ActionQueueClients;
  /** Date.now() once it served. */
  readonly startedAt: number;
  /** False from the moment the test decides to kill it (before the signal is sent). */
  alive: boolean;
}

/** The server processes on the database: the live ones, and every one started. */
export class Fleet {
  readonly live: Member[] = [];
  readonly all: Member[] = [];
  /** Servers that exited without being killed by the test (each a description). */
  readonly exits: string[] = [];
  kills = 0;

  constructor(
    readonly url: string,
    readonly random: () => number,
    /** More arguments for every server (--postgres-commits). */
    readonly args: readonly string[] = [],
  ) {}

  async start(): Promise<Member> {
    const server = await startServer({ args: ["--storage", "postgres", "--postgres-url", this.url, ...this.args] });
    const m: Member = { n: this.all.length + 1, server, json: connectJson(server.port), grpc: connectGrpc(server.port), startedAt: Date.now(), alive: true };
    this.all.push(m);
    this.live.push(m);
    server.child.on("exit", (code, signal) => {
      if (!m.alive) return;
      // Not killed by the test: a crash of the server itself.
      m.alive = false;
      this.live.splice(this.live.indexOf(m), 1);
      const tail = [...server.logs.slice(-5), server.stderr().slice(-2_000)].join("\n");
      this.exits.push(`server ${m.n} exited by itself (code ${code}, signal ${signal}); last output:\n${tail}`);
    });
    return m;
  }

  /** A random live server, another than `not` when there is one. */
  pick(not?: Member): Member {
    const others = this.live.filter((m) => m !== not);
    const from = others.length > 0 ? others : this.live;
    const m = from[Math.floor(this.random() * from.length)];
    if (!m) throw new Error("no live server");
    return m;
  }

  /** SIGKILL; resolves once the process is gone and its data directory removed. */
  async kill(m: Member): Promise<void> {
    m.alive = false;
    this.live.splice(this.live.indexOf(m), 1);
    this.kills++;
    const code = await m.server.stop("SIGKILL");
    if (code !== null || m.server.child.signalCode !== "SIGKILL") throw new Error(`server ${m.n} exited with ${code} / ${m.server.child.signalCode}, not by SIGKILL`);
    await m.server.cleanup();
  }

  async stopAll(): Promise<void> {
    for (const m of this.all) {
      m.alive = false;
      await m.server.cleanup().catch(() => undefined);
    }
    this.live.length = 0;
  }
}

/** One acknowledged grant of a lease. `seq`: when its answer arrived (Load.seq). */
export interface Grant {
  readonly runId: string;
  readonly token: string;
  readonly attemptId: string;
  readonly seq: number;
  /** The server that granted it, and when (Date.now()). */
  readonly by?: { readonly n: number; readonly at: number };
  /** When its lease ends (the grant's lease_expires_at; workers never heartbeat). */
  readonly expiresAt?: number;
}

/** A grant an abandoning worker let lapse. `revision`: its run's revision in the answer (the grant's event). */
export interface Abandoned extends Grant {
  readonly queue: string;
  readonly revision: number;
  readonly expiresAt: number;
}

/** One watch event as received. */
export interface Seen {
  readonly revision: number;
  readonly runId: string;
  readonly queue: string;
  readonly to: string;
}

/** A watcher's record: every event received, in order, and what was wrong with the sequence. */
export interface WatchLog {
  readonly index: number;
  readonly events: Seen[];
  last: number;
  resumes: number;
  readonly problems: string[];
}

/** Everything the load saw, for the test's checks. */
export class Load {
  /** Acknowledged submits: task id -> its queue and runs. */
  readonly acked = new Map<string, { queue: string; runIds: string[] }>();
  readonly grants: Grant[] = [];
  /** Acknowledged completions by run. */
  readonly completions = new Map<string, Grant>();
  readonly watchers: WatchLog[] = [];
  /** Calls that failed on a dying server or with UNAVAILABLE and were tried elsewhere. */
  retried = 0;
  /**
   * Completions refused (FAILED_PRECONDITION) on their first try, which only a lease that lapsed
   * before the answer explains, and after a retry (maybe applied by the server that died under
   * the first try): each with when the refusal arrived (Date.now()) and its reason.
   */
  readonly refusedCompletions: Array<Grant & { readonly refusedAt: number; readonly reason: string; readonly afterRetry: boolean }> = [];
  /** Stale completions sent during the load: refused (by reason), and accepted (a bug). */
  readonly staleRefused = new Map<string, number>();
  readonly staleAccepted: string[] = [];
  /** Grants of the abandoning workers. Their lapsed tokens sent again: refused, by code/reason and by the run's state just after (stateInDb). */
  readonly abandoned: Abandoned[] = [];
  readonly lapsedRefused = new Map<string, number>();
  readonly lapsedRefusedWhile = new Map<string, number>();
  /** A run's state read straight from the database, marked when it is still under `token`'s lease (set by the test); undefined when unreadable. */
  stateInDb: (runId: string, token: string) => Promise<string | undefined> = () => Promise.resolve(undefined);
  /** Anything no client should have seen. */
  readonly unexpected: string[] = [];
  /** Order of answers: taken when a grant or an acknowledged completion arrives. */
  seq = 0;
  submitting = true;
  working = true;
  abandoning = true;
  /** Watchers stop once they received this revision (set at the end). */
  watchUntil: number | null = null;
  readonly #submitters: Promise<void>[] = [];
  readonly #workers: Promise<void>[] = [];
  readonly #abandoners: Promise<void>[] = [];
  readonly #lapsedProbes: Promise<void>[] = [];
  readonly #watchLoops: Promise<void>[] = [];
  readonly #watchAborts = new Set<AbortController>();

  constructor(
    readonly fleet: Fleet,
    readonly random: () => number,
  ) {}

  /** Starts `submitters` submitters, `workers` workers, `watchers` watchers and `abandoners` abandoning workers. */
  start(submitters: number, workers: number, watchers: number, abandoners: number): void {
    for (let i = 0; i < submitters; i++) this.#submitters.push(this.#submitter());
    for (let i = 0; i < workers; i++) this.#workers.push(this.#worker(i));
    for (let i = 0; i < abandoners; i++) this.#abandoners.push(this.#abandoner(i));
    for (let i = 0; i < watchers; i++) {
      const log: WatchLog = { index: i, events: [], last: 0, resumes: 0, problems: [] };
      this.watchers.push(log);
      this.#watchLoops.push(this.#watcher(log));
    }
  }

  /** Ends the submitters; resolves once no submit is in flight any more. */
  async stopSubmitting(): Promise<void> {
    this.submitting = false;
    await Promise.all(this.#submitters);
  }

  /** Ends the abandoning workers; resolves once none leases any more (their probes go on: settled()). */
  async stopAbandoning(): Promise<void> {
    this.abandoning = false;
    await Promise.all(this.#abandoners);
  }

  /** Ends the workers; resolves once no lease or completion is in flight any more. */
  async stopWorking(): Promise<void> {
    this.working = false;
    await Promise.all(this.#workers);
  }

  /** Waits for every loop (after `submitting`, `working` and `watchUntil` told them to end). */
  async settled(): Promise<void> {
    await Promise.all([...this.#submitters, ...this.#workers, ...this.#abandoners, ...this.#lapsedProbes, ...this.#watchLoops]);
  }

  /** Ends the watch streams at once (teardown). */
  abortWatches(): void {
    this.watchUntil = 0;
    for (const ac of this.#watchAborts) ac.abort();
  }

  /**
   * Calls `call` on a random live server until it is answered, trying another server when the
   * call's server died or answered UNAVAILABLE; gives up when `going()` turns false. `tries`:
   * how many attempts failed that way before the last one.
   */
  async onAnyServer<T>(going: () => boolean, call: (m: Member) => Promise<T>): Promise<{ ok: true; value: T; tries: number; server: Member } | { ok: false; error: unknown; tries: number; server?: Member }> {
    let prev: Member | undefined;
    for (let tries = 0; ; tries++) {
      if (!going()) return { ok: false, error: "stopped", tries };
      if (this.fleet.live.length === 0) {
        // Only when servers crashed by themselves (Fleet.exits): wait for the test to end.
        await sleep(100);
        continue;
      }
      const m = this.fleet.pick(prev);
      try {
        return { ok: true, value: await call(m), tries, server: m };
      } catch (e) {
        if (!transient(e, m)) return { ok: false, error: e, tries, server: m };
        this.retried++;
        prev = m;
        await sleep(50 + this.random() * 100);
      }
    }
  }

  async #submitter(): Promise<void> {
    while (this.submitting) {
      const count = 1 + Math.floor(this.random() * 3);
      const requests = Array.from({ length: count }, () => taskRequest(this.random));
      const r = await this.onAnyServer(
        () => this.submitting,
        (m): Promise<SubmitTaskResponse[]> =>
          count === 1
            ? m.json.tasks.submitTask(requests[0] ?? {}, { timeoutMs: CALL_TIMEOUT_MS }).then((x) => [x])
            : m.json.tasks.batchSubmitTasks({ tasks: requests }, { timeoutMs: CALL_TIMEOUT_MS }).then((x) => x.results),
      );
      if (r.ok) {
        for (const res of r.value) this.recordSubmit(res);
      } else if (r.error !== "stopped") this.unexpected.push(`submit: ${describeError(r.error)}`);
      await sleep(10 + this.random() * 20);
    }
  }

  /** Records an acknowledged submit. */
  recordSubmit(res: SubmitTaskResponse): void {
    const id = res.task?.id ?? "";
    this.acked.set(id, { queue: res.task?.spec?.queue ?? "", runIds: res.runs.map((x) => x.id) });
  }

  async #worker(w: number): Promise<void> {
    while (this.working) {
      const r = await this.onAnyServer(
        () => this.working,
        (m) =>
          m.grpc.workers.leaseRuns(
            { queues: QUEUES, workerId: `w${w}`, maxRuns: 3, startAttempt: true, leaseDuration: { seconds: LEASE_SECONDS }, wait: { nanos: 300_000_000 } },
            { timeoutMs: CALL_TIMEOUT_MS },
          ),
      );
      if (!r.ok) {
        if (r.error !== "stopped") this.unexpected.push(`leaseRuns: ${describeError(r.error)}`);
        continue;
      }
      const by = { n: r.server.n, at: Date.now() };
      const grants = r.value.runs.map((g) => ({
        runId: g.run?.id ?? "",
        token: g.leaseToken,
        attemptId: g.attempt?.id ?? "",
        seq: ++this.seq,
        by,
        expiresAt: g.leaseExpiresAt ? timestampMs(g.leaseExpiresAt) : 0,
      }));
      this.grants.push(...grants);
      for (const g of grants) await this.#complete(g);
    }
  }

  async #complete(g: Grant): Promise<void> {
    const request = { runId: g.runId, leaseToken: g.token, attemptId: g.attemptId, outcome: AttemptOutcome.SUCCESS, output: new TextEncoder().encode("done") };
    let by: Member | undefined;
    const r = await this.onAnyServer(
      () => this.working,
      (m) => {
        by = m;
        return m.grpc.workers.completeAttempt(request, { timeoutMs: CALL_TIMEOUT_MS });
      },
    );
    if (r.ok) {
      this.completions.set(g.runId, { ...g, seq: ++this.seq });
      if (r.value.run?.state !== RunState.COMPLETED) this.unexpected.push(`completion of ${g.runId} answered state ${r.value.run?.state}`);
      // Every fifth: the same completion again, to another server; it must be refused.
      if (this.completions.size % 5 === 0) await this.#staleProbe(request, by);
    } else if (r.error instanceof ConnectError && r.error.code === Code.FailedPrecondition) {
      this.refusedCompletions.push({ ...g, refusedAt: Date.now(), reason: reasonOf(r.error), afterRetry: r.tries > 0 });
    } else if (r.error !== "stopped") this.unexpected.push(`completeAttempt: ${describeError(r.error)}${await this.#where(g, r.server)}`);
  }

  /** Where an unexpected answer about grant `g` came from: the answering server, the granting one, the run's row. */
  async #where(g: Grant, m: Member | undefined): Promise<string> {
    const now = Date.now();
    const state = await this.stateInDb(g.runId, g.token).catch((e: unknown) => `unreadable (${describeError(e)})`);
    const server = m ? `server ${m.n} (serving for ${now - m.startedAt} ms${m.alive ? "" : ", killed since"})` : "no server";
    const granted = g.by ? `granted by server ${g.by.n} ${now - g.by.at} ms before` : "granter unknown";
    return ` [answered by ${server}; ${granted}; in the database: ${state ?? "no row"}]`;
  }

  async #staleProbe(request: Parameters<ActionQueueClients["workers"]["completeAttempt"]>[0], by: Member | undefined): Promise<void> {
    const m = this.fleet.pick(by);
    try {
      await m.grpc.workers.completeAttempt(request, { timeoutMs: CALL_TIMEOUT_MS });
      this.staleAccepted.push(`run ${request.runId ?? ""} on server ${m.n}`);
    } catch (e) {
      if (transient(e, m)) return;
      const key = e instanceof ConnectError ? `${Code[e.code]}/${reasonOf(e)}` : describeError(e);
      this.staleRefused.set(key, (this.staleRefused.get(key) ?? 0) + 1);
    }
  }

  async #abandoner(w: number): Promise<void> {
    while (this.abandoning) {
      await sleep(150 + this.random() * 250);
      const queues = this.random() < 0.5 ? QUEUES : [LAPSE_QUEUE];
      const startAttempt = this.random() < 0.75;
      const r = await this.onAnyServer(
        () => this.abandoning,
        (m) =>
          m.grpc.workers.leaseRuns(
            { queues, workerId: `abandon${w}`, maxRuns: 2, startAttempt, leaseDuration: { seconds: ABANDON_LEASE_SECONDS }, wait: { nanos: 100_000_000 } },
            { timeoutMs: CALL_TIMEOUT_MS },
          ),
      );
      if (!r.ok) {
        if (r.error !== "stopped") this.unexpected.push(`abandoner leaseRuns: ${describeError(r.error)}`);
        continue;
      }
      for (const g of r.value.runs) {
        const expiresAt = g.leaseExpiresAt ? timestampMs(g.leaseExpiresAt) : Date.now() + 1_000;
        const a: Abandoned = { runId: g.run?.id ?? "", token: g.leaseToken, attemptId: g.attempt?.id ?? "", seq: ++this.seq, queue: g.run?.queue ?? "", revision: Number(g.run?.revision ?? 0n), expiresAt };
        this.abandoned.push(a);
        this.#lapsedProbes.push(this.#lapsedProbe(a));
      }
    }
  }

  /**
   * Once `a`'s lease ended, its token again: CompleteAttempt, or StartAttempt for a grant
   * without an attempt. Half of them 20–200 ms after the expiry (mostly before the run was
   * handed out again and completed: the retry waits 100 ms), half 0.3–1.5 s after.
   */
  async #lapsedProbe(a: Abandoned): Promise<void> {
    const after = this.random() < 0.5 ? 20 + this.random() * 180 : 300 + this.random() * 1_200;
    await sleep(Math.max(0, a.expiresAt - Date.now()) + after);
    const r = await this.onAnyServer(
      () => this.watchUntil !== 0,
      (m) => sendLapsed(m, a),
    );
    if (r.ok) this.staleAccepted.push(`lapsed token of run ${a.runId}`);
    else if (r.error !== "stopped") {
      const key = r.error instanceof ConnectError ? `${Code[r.error.code]}/${reasonOf(r.error)}` : describeError(r.error);
      this.lapsedRefused.set(key, (this.lapsedRefused.get(key) ?? 0) + 1);
      // Any state but COMPLETED just after the refusal: the run was not completed when it came (COMPLETED is final).
      const state = (await this.stateInDb(a.runId, a.token).catch(() => undefined)) ?? "unknown";
      this.lapsedRefusedWhile.set(state, (this.lapsedRefusedWhile.get(state) ?? 0) + 1);
    }
  }

  async #watcher(log: WatchLog): Promise<void> {
    const done = () => this.watchUntil !== null && log.last >= this.watchUntil;
    while (!done()) {
      if (this.fleet.live.length === 0) {
        await sleep(100);
        continue;
      }
      const m = this.fleet.pick();
      const ac = new AbortController();
      this.#watchAborts.add(ac);
      const client = log.index % 2 === 0 ? m.grpc : m.json;
      try {
        const stream = client.runs.watchRuns({ startRevision: BigInt(log.last + 1), progressIntervalMs: 200, maxEventsPerMessage: 100 }, { signal: ac.signal });
        for await (const msg of stream) {
          for (const e of eventsOf(msg)) {
            const revision = Number(e.revision);
            if (revision !== log.last + 1) log.problems.push(`server ${m.n}: revision ${revision} after ${log.last}`);
            log.events.push({ revision, runId: e.runId, queue: e.queue, to: RunState[e.toState] });
            log.last = Math.max(log.last, revision);
          }
          if (done()) break;
        }
      } catch (e) {
        if (!ac.signal.aborted && !transient(e, m)) log.problems.push(`server ${m.n}: watch failed: ${describeError(e)}`);
      } finally {
        this.#watchAborts.delete(ac);
        ac.abort();
      }
      if (this.watchUntil === 0) return;
      if (!done()) {
        log.resumes++;
        await sleep(50);
      }
    }
  }
}

/** The token of abandoned grant `a` sent again on `m`: CompleteAttempt, or StartAttempt when the grant started no attempt. */
export function sendLapsed(m: Member, a: Abandoned): Promise<unknown> {
  if (a.attemptId === "") return m.grpc.workers.startAttempt({ runId: a.runId, leaseToken: a.token }, { timeoutMs: CALL_TIMEOUT_MS });
  return m.grpc.workers.completeAttempt({ runId: a.runId, leaseToken: a.token, attemptId: a.attemptId, outcome: AttemptOutcome.SUCCESS }, { timeoutMs: CALL_TIMEOUT_MS });
}

/** A new task for one of the queues, with an id of its own (the retry of a submit is then idempotent). */
function taskRequest(random: () => number): MessageInitShape<typeof SubmitTaskRequestSchema> {
  const r = random();
  const queue = r < 0.45 ? FREE_QUEUE : r < 0.675 ? "crash-ka" : r < 0.9 ? "crash-kb" : LAPSE_QUEUE;
  const key = queue === FREE_QUEUE ? undefined : KEYED_QUEUES[queue as keyof typeof KEYED_QUEUES];
  return {
    taskId: randomUUID(),
    spec: {
      queue,
      payload: { data: new TextEncoder().encode(`p${Math.floor(random() * 1e6)}`), contentType: "text/plain" },
      constraints: {
        // A grant lost with its server or abandoned times out, then is retried, instead of
        // failing the run (but in LAPSE_QUEUE, where that is the point).
        maxAttempts: queue === LAPSE_QUEUE ? LAPSE_MAX_ATTEMPTS : 20,
        backoff: { kind: { case: "fixed", value: { interval: { nanos: 100_000_000 } } } },
        ...(key ? { concurrency: { key, slots: KEY_SLOTS, holdPolicy: HoldPolicy.RELEASE_ON_RETRY } } : {}),
      },
    },
  };
}

function eventsOf(msg: WatchRunsResponse) {
  if (msg.kind.case === "event") return [msg.kind.value];
  if (msg.kind.case === "events") return msg.kind.value.events;
  return [];
}

/** A failure that says nothing about the call: its server was killed, or it answered UNAVAILABLE. */
export function transient(e: unknown, m: Member): boolean {
  if (!m.alive) return true;
  return e instanceof ConnectError && e.code === Code.Unavailable;
}

/** The ErrorInfo reason of a Connect error ("" without one). */
export function reasonOf(e: ConnectError): string {
  return e.findDetails(ErrorInfoSchema)[0]?.reason ?? "";
}

export function describeError(e: unknown): string {
  if (e instanceof ConnectError) return `${Code[e.code]} ${reasonOf(e)}: ${e.rawMessage}`;
  return e instanceof Error ? e.message : String(e);
}
