/**
 * Worker example: processes the "emails" queue that examples/typescript/producer.ts fills.
 *
 *   npm start                                  # the server, on 127.0.0.1:50051
 *   npx tsx examples/typescript/worker.ts      # this worker; Ctrl-C drains and exits
 *
 * ACTIONQUEUE_URL overrides the server URL. The package is imported from its source so that
 * this runs from the repository without a build; an application imports
 * "@actionqueue/client" instead.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { createWorker } from "../../clients/typescript/src/index.js";

const worker = createWorker({
  url: process.env["ACTIONQUEUE_URL"] ?? "http://127.0.0.1:50051",
  queues: ["emails"],
  handleSignals: ["SIGINT", "SIGTERM"], // the first one drains (handlers finish, the rest is given back)
  handler: async ({ runId, payload, signal }) => {
    await sleep(200, undefined, { signal }); // "sends" the email; rejects early on cancel, lease loss or shutdown
    console.log(`run ${runId}: sent to ${payload.json<{ to: string }>().to}`);
  },
});
await worker.run();
