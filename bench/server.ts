/**
 * Server benchmark (part of `npm run bench`): long-poll wake-up latency over the network.
 * A worker waits in LeaseRuns (wait 10 s) on an empty queue; a producer submits a task; we
 * time (a) submit sent -> run received by the waiting worker, and (b) submit acknowledged
 * -> run received. Real server process, gRPC over HTTP/2 on loopback, default durability.
 */
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createActionQueueClients } from "../clients/typescript/src/index.js";
import { startBenchServer } from "./support/server.js";

const ROUNDS = Number(process.env.BENCH_WAKEUPS ?? "300");

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
}

async function main(): Promise<void> {
  const server = await startBenchServer({ dirPrefix: "aq-bench-srv-" });
  const port = server.port;
  try {
    const producer = createActionQueueClients(createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
    const worker = createActionQueueClients(createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
    const fromSend: number[] = [];
    const fromAck: number[] = [];
    for (let i = 0; i < ROUNDS + 20; i++) {
      const queue = `wake-${i}`;
      let received = 0;
      const poll = worker.workers.leaseRuns({ queues: [queue], workerId: "bench", wait: { seconds: 10n }, startAttempt: true }).then((r) => {
        received = performance.now();
        return r;
      });
      await new Promise((r) => setTimeout(r, 15)); // let the long poll register
      const sent = performance.now();
      await producer.tasks.submitTask({ spec: { queue, payload: { data: new Uint8Array(16), contentType: "application/octet-stream" } } });
      const acked = performance.now();
      const r = await poll;
      if (r.runs.length !== 1) throw new Error(`round ${i}: the long poll returned ${r.runs.length} runs`);
      if (i >= 20) {
        // the first 20 rounds warm up connections and JIT
        fromSend.push(received - sent);
        fromAck.push(Math.max(0, received - acked));
      }
    }
    const f = (n: number) => n.toFixed(2);
    console.log(`long-poll wake-up over gRPC (${ROUNDS} rounds, 1 waiting worker, flushed commits)`);
    console.log(`  submit sent -> run received by the waiting worker   p50 ${f(pct(fromSend, 50))} ms   p99 ${f(pct(fromSend, 99))} ms`);
    console.log(`  submit acknowledged -> run received                 p50 ${f(pct(fromAck, 50))} ms   p99 ${f(pct(fromAck, 99))} ms`);
  } finally {
    await server.stop();
  }
}

await main();
