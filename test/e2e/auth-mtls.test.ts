/**
 * Mutual TLS (docs/auth.md): an auth file entry names a client certificate by its SHA-256
 * fingerprint; a TLS client presenting it gets the entry's role and queues, over HTTP/2 (the
 * direct unary path and connect-es) and HTTP/1.1. A bearer header, when sent, wins; an
 * unmapped certificate, or none, without a header is UNAUTHENTICATED.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ActionQueueClients, createActionQueueClients } from "../../clients/typescript/src/index.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { type ServerProcess, startServer } from "../support/server.js";

const TLS = join(import.meta.dirname, "../fixtures/tls");
const AUTH = join(import.meta.dirname, "../fixtures/auth");
const ca = readFileSync(join(TLS, "cert.pem"));
const payload = { data: new Uint8Array([1]), contentType: "application/octet-stream" };
const admin = { headers: { authorization: "Bearer aq-test-admin-token" } };

async function reason(p: Promise<unknown>): Promise<[Code, string | undefined]> {
  try {
    await p;
  } catch (e) {
    const ce = ConnectError.from(e);
    return [ce.code, ce.findDetails(ErrorInfoSchema)[0]?.reason];
  }
  throw new Error("the call was accepted");
}

describe("mutual TLS", () => {
  let server: ServerProcess;
  let base: string;
  const withCert = (name: string | null) => (name === null ? { ca } : { ca, cert: readFileSync(join(AUTH, `${name}-cert.pem`)), key: readFileSync(join(AUTH, `${name}-key.pem`)) });
  const clients = (name: string | null): ActionQueueClients[] => [
    createActionQueueClients(createGrpcTransport({ baseUrl: base, nodeOptions: withCert(name) })),
    createActionQueueClients(createGrpcWebTransport({ baseUrl: base, httpVersion: "1.1", nodeOptions: withCert(name) })),
    createActionQueueClients(createConnectTransport({ baseUrl: base, httpVersion: "1.1", nodeOptions: withCert(name) })),
  ];

  beforeAll(async () => {
    server = await startServer({ args: ["--tls-cert", join(TLS, "cert.pem"), "--tls-key", join(TLS, "key.pem"), "--auth-file", join(AUTH, "auth-mtls.json")] });
    base = `https://localhost:${server.port}`;
  });

  afterAll(async () => {
    await server?.cleanup();
  });

  it("gives a mapped client certificate its role and queues on every protocol", async () => {
    const [grpc] = clients(null);
    await grpc?.tasks.submitTask({ spec: { queue: "emails", payload } }, admin);
    for (const c of clients("client")) {
      // worker of emails: lease from emails, not from billing, no admin calls.
      await expect(c.workers.leaseRuns({ queues: ["emails"], workerId: "cert-worker", maxRuns: 1 })).resolves.toBeDefined();
      expect(await reason(c.workers.leaseRuns({ queues: ["billing"], workerId: "cert-worker", maxRuns: 1 }))).toEqual([Code.PermissionDenied, "PERMISSION_DENIED"]);
      expect(await reason(c.admin.pauseEngine({}))).toEqual([Code.PermissionDenied, "PERMISSION_DENIED"]);
      // A bearer header wins over the certificate.
      await expect(c.admin.getStats({}, admin)).resolves.toBeDefined();
      expect(await reason(c.admin.getStats({}, { headers: { authorization: "Bearer nope" } }))).toEqual([Code.Unauthenticated, "UNAUTHENTICATED"]);
    }
  });

  it("refuses an unmapped certificate, or none, without a bearer header", async () => {
    for (const c of [...clients("other-client"), ...clients(null)]) {
      expect(await reason(c.runs.listRuns({ queue: "emails" }))).toEqual([Code.Unauthenticated, "UNAUTHENTICATED"]);
      await expect(c.runs.listRuns({ queue: "emails" }, admin)).resolves.toBeDefined();
    }
  });

  it("never writes a token to its logs", () => {
    const lines = [...server.logs, ...server.stderr().split("\n")];
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.filter((l) => l.includes("aq-test-admin-token") || l.includes("Bearer"))).toEqual([]);
  });
});
