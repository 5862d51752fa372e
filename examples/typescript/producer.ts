/**
 * Producer example: submits a few tasks to ActionQueue and prints their ids.
 *
 *   npm start                                  # the server, on 127.0.0.1:50051
 *   npx tsx examples/typescript/producer.ts    # in another terminal
 *
 * ACTIONQUEUE_URL overrides the server URL; QUEUE the queue (default "emails", the queue
 * examples/typescript/worker.ts works on). The package is imported from its source so that
 * this runs from the repository without a build; an application imports
 * "@actionqueue/client" instead.
 */
import { Code } from "@connectrpc/connect";
import { ActionQueueError, createClient } from "../../clients/typescript/src/index.js";

const url = process.env["ACTIONQUEUE_URL"] ?? "http://127.0.0.1:50051";
const queue = process.env["QUEUE"] ?? "emails";
const aq = createClient(url, { timeoutMs: 10_000 });

try {
  for (const to of ["ada@example.com", "grace@example.com", "linus@example.com"]) {
    const { task, runs, created } = await aq.tasks.submitTask({
      spec: {
        queue,
        payload: { data: new TextEncoder().encode(JSON.stringify({ to, subject: "hello" })), contentType: "application/json" },
        // Up to 5 attempts, with the default backoff (exponential from 1 s) between them.
        constraints: { maxAttempts: 5 },
      },
    });
    console.log(`task ${task?.id} (${created ? "created" : "already there"}) run ${runs[0]?.id} -> ${to}`);
  }
} catch (e) {
  // Typed errors: e.reason is the server's reason (e.g. INVALID_ARGUMENT), "" for a
  // transport failure such as a server that is not running.
  if (e instanceof ActionQueueError) {
    console.error(`submit failed: ${e.reason || Code[e.code]} ${e.message} (is the server running at ${url}?)`);
    process.exitCode = 1;
  } else throw e;
}
