/**
 * Tools with no proto files: `buf curl` (from the @bufbuild/buf dev dependency) discovers the
 * services through reflection and calls them; reflection v1alpha (grpcurl's first try) and v1
 * answer the same questions; health answers SERVING.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v1 from "../../src/gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../src/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { type ServerProcess, startServer } from "../support/server.js";

const run = promisify(execFile);
const BUF = join(import.meta.dirname, "..", "..", "node_modules", ".bin", "buf");

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.cleanup();
});

async function bufCurl(args: string[]): Promise<string> {
  const { stdout } = await run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { timeout: 30_000 });
  return stdout;
}

describe("buf curl through reflection", () => {
  it("lists every service", async () => {
    const out = await bufCurl(["--list-services", server.url]);
    expect(out.trim().split("\n").sort()).toEqual([
      "actionqueue.v1.AdminService",
      "actionqueue.v1.RunService",
      "actionqueue.v1.TaskService",
      "actionqueue.v1.WorkerService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("lists every method", async () => {
    const out = await bufCurl(["--list-methods", server.url]);
    expect(out).toContain("actionqueue.v1.WorkerService/LeaseRuns");
    expect(out).toContain("actionqueue.v1.WorkerService/BatchCompleteAttempts");
  });

  it("submits a task and gets it back", async () => {
    const submitted = JSON.parse(
      await bufCurl(["-d", '{"spec":{"queue":"curl","payload":{"data":"aGVsbG8=","contentType":"text/plain"}}}', `${server.url}/actionqueue.v1.TaskService/SubmitTask`]),
    ) as { task: { id: string }; created: boolean; runs: Array<{ state: string }> };
    expect(submitted.created).toBe(true);
    expect(submitted.runs[0]?.state).toBe("RUN_STATE_READY");
    const got = JSON.parse(await bufCurl(["-d", JSON.stringify({ taskId: submitted.task.id }), `${server.url}/actionqueue.v1.TaskService/GetTask`])) as {
      task: { id: string; spec: { queue: string; payload: { data: string } } };
    };
    expect(got.task.id).toBe(submitted.task.id);
    expect(got.task.spec.queue).toBe("curl");
    expect(got.task.spec.payload.data).toBe("aGVsbG8=");
  });

  it("checks health: SERVING", async () => {
    const out = JSON.parse(await bufCurl(["-d", "{}", `${server.url}/grpc.health.v1.Health/Check`])) as { status: string };
    expect(out.status).toBe("SERVING");
  });

  it("reports an error with its code and details", async () => {
    const err = await bufCurl(["-d", '{"runId":"nope"}', `${server.url}/actionqueue.v1.RunService/GetRun`]).catch((e: { stderr: string }) => e.stderr);
    expect(err).toContain("invalid_argument");
    expect(err).toContain("run_id");
  });
});

describe.each([
  ["v1", v1.ServerReflection],
  ["v1alpha", v1alpha.ServerReflection],
] as const)("reflection %s", (_name, service) => {
  async function ask(request: object) {
    const client = createClient(service as typeof v1.ServerReflection, createGrpcTransport({ baseUrl: server.url }));
    const responses = [];
    for await (const r of client.serverReflectionInfo(
      (async function* () {
        yield request as never;
      })(),
    )) {
      responses.push(r);
    }
    return responses[0];
  }

  it("lists services", async () => {
    const r = await ask({ messageRequest: { case: "listServices", value: "" } });
    expect(r?.messageResponse.case).toBe("listServicesResponse");
    const names = r?.messageResponse.case === "listServicesResponse" ? r.messageResponse.value.service.map((s) => s.name) : [];
    expect(names).toContain("actionqueue.v1.TaskService");
  });

  it("returns the file declaring a symbol with all its dependencies", async () => {
    const r = await ask({ messageRequest: { case: "fileContainingSymbol", value: "actionqueue.v1.TaskService" } });
    expect(r?.messageResponse.case).toBe("fileDescriptorResponse");
    const files = r?.messageResponse.case === "fileDescriptorResponse" ? r.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name) : [];
    expect(files[0]).toBe("actionqueue/v1/task_service.proto");
    expect(files).toEqual(expect.arrayContaining(["actionqueue/v1/task.proto", "actionqueue/v1/run.proto", "google/protobuf/timestamp.proto", "google/protobuf/duration.proto"]));
  });

  it("finds nested symbols and methods, and answers NOT_FOUND for unknown ones", async () => {
    const method = await ask({ messageRequest: { case: "fileContainingSymbol", value: "actionqueue.v1.WorkerService.LeaseRuns" } });
    expect(method?.messageResponse.case).toBe("fileDescriptorResponse");
    const unknown = await ask({ messageRequest: { case: "fileContainingSymbol", value: "no.such.Symbol" } });
    expect(unknown?.messageResponse.case).toBe("errorResponse");
    expect(unknown?.messageResponse.case === "errorResponse" && unknown.messageResponse.value.errorCode).toBe(5);
    const byName = await ask({ messageRequest: { case: "fileByFilename", value: "google/rpc/error_details.proto" } });
    expect(byName?.messageResponse.case).toBe("fileDescriptorResponse");
  });
});
