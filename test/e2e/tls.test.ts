/** TLS: with a certificate and key the same port serves gRPC over h2 and Connect over HTTP/1.1 (ALPN). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createActionQueueClients } from "../../clients/typescript/src/index.js";
import { type ServerProcess, startServer } from "../support/server.js";

const DIR = join(import.meta.dirname, "..", "fixtures", "tls");
const ca = readFileSync(join(DIR, "cert.pem"));

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer({ args: ["--tls-cert", join(DIR, "cert.pem"), "--tls-key", join(DIR, "key.pem")] });
});
afterAll(async () => {
  await server.cleanup();
});

describe("TLS", () => {
  it("serves gRPC over HTTP/2 and Connect over HTTP/1.1 on the same TLS port", async () => {
    const base = `https://localhost:${server.port}`;
    const grpc = createActionQueueClients(createGrpcTransport({ baseUrl: base, nodeOptions: { ca } }));
    const h1 = createActionQueueClients(createConnectTransport({ baseUrl: base, httpVersion: "1.1", nodeOptions: { ca } }));
    const r = await grpc.tasks.submitTask({ spec: { queue: "tls", payload: { data: new Uint8Array([1]), contentType: "application/octet-stream" } } });
    const got = await h1.tasks.getTask({ taskId: r.task?.id as string });
    expect(got.task?.spec?.queue).toBe("tls");
    expect(JSON.parse(server.logs.find((l) => l.includes('"serving"')) as string).tls).toBe(true);
  });

  it("refuses clients that do not trust the certificate", async () => {
    const untrusting = createActionQueueClients(createGrpcTransport({ baseUrl: `https://localhost:${server.port}` }));
    await expect(untrusting.admin.getStats({})).rejects.toThrow();
  });
});
