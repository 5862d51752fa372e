/**
 * Basics of the running server across the three clients: health, a submit and a get, and
 * error details decoded from each protocol.
 */
import type * as grpc from "@grpc/grpc-js";
import { Code, ConnectError } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { createActionQueueClients } from "../../clients/typescript/src/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { connectGrpc, connectJson, grpcErrorDetails, grpcJs, type ServerProcess, startServer, unary } from "../support/server.js";

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.cleanup();
});

describe("server basics", () => {
  it("answers health checks with SERVING over grpc-js", async () => {
    const c = grpcJs(server.port);
    try {
      await expect(unary(c.health, "check", { service: "" })).resolves.toEqual({ status: "SERVING" });
      await expect(unary(c.health, "check", { service: "actionqueue.v1.WorkerService" })).resolves.toEqual({ status: "SERVING" });
      await expect(unary(c.health, "check", { service: "nope.Service" })).rejects.toMatchObject({ code: 5 });
    } finally {
      c.close();
    }
  });

  it("submits over gRPC (Connect client) and reads it back over Connect JSON and grpc-js", async () => {
    const submitted = await connectGrpc(server.port).tasks.submitTask({ spec: { queue: "basics", payload: { data: new TextEncoder().encode("hi"), contentType: "text/plain" } } });
    const id = submitted.task?.id as string;
    const viaJson = await connectJson(server.port).tasks.getTask({ taskId: id });
    expect(viaJson.task?.spec?.queue).toBe("basics");
    expect(new TextDecoder().decode(viaJson.task?.spec?.payload?.data)).toBe("hi");
    const c = grpcJs(server.port);
    try {
      const viaGrpcJs = await unary<{ task: { id: string; status: string } }>(c.tasks, "getTask", { taskId: id });
      expect(viaGrpcJs.task).toMatchObject({ id, status: "TASK_STATUS_ACTIVE" });
    } finally {
      c.close();
    }
  });

  it("serves gRPC-Web on the same port, over HTTP/1.1 and HTTP/2", async () => {
    for (const httpVersion of ["1.1", "2"] as const) {
      const web = createActionQueueClients(createGrpcWebTransport({ baseUrl: server.url, httpVersion }));
      const r = await web.tasks.submitTask({ spec: { queue: `web-${httpVersion}`, payload: { data: new Uint8Array([7]), contentType: "application/octet-stream" } } });
      const got = await web.runs.getRun({ runId: r.runs[0]?.id as string });
      expect(got.run?.queue).toBe(`web-${httpVersion}`);
      const err = (await web.runs.getRun({ runId: "bad" }).catch((e: unknown) => e)) as ConnectError;
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("INVALID_ARGUMENT");
    }
  });

  it("carries ErrorInfo and BadRequest details on every protocol", async () => {
    for (const clients of [connectGrpc(server.port), connectJson(server.port)]) {
      const err = await clients.runs.getRun({ runId: "not-a-uuid" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      const ce = err as ConnectError;
      expect(ce.code).toBe(Code.InvalidArgument);
      expect(ce.findDetails(ErrorInfoSchema)[0]?.reason).toBe("INVALID_ARGUMENT");
      const missing = (await clients.runs.getRun({ runId: "00000000-0000-7000-8000-000000000001" }).catch((e: unknown) => e)) as ConnectError;
      expect(missing.code).toBe(Code.NotFound);
      expect(missing.findDetails(ErrorInfoSchema)[0]).toMatchObject({ reason: "RUN_NOT_FOUND", domain: "actionqueue.v1" });
    }
    const c = grpcJs(server.port);
    try {
      const e = (await unary(c.runs, "getRun", { runId: "" }).catch((x: unknown) => x)) as grpc.ServiceError;
      expect(e.code).toBe(3);
      const d = await grpcErrorDetails(e);
      expect(d.reason).toBe("INVALID_ARGUMENT");
      expect(d.fields).toEqual(["run_id"]);
    } finally {
      c.close();
    }
  });
});
