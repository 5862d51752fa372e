/** Admission classes and in-flight bounds (src/server/admission.ts); no network, no timers. */
import { describe, expect, it } from "vitest";
import { Admission, classOf } from "../../../src/server/admission.js";
import { EngineError } from "../../../src/engine/errors.js";

describe("classOf", () => {
  it("puts every API method in its class and exempts health, reflection, operator commands and streams", () => {
    expect(classOf("actionqueue.v1.TaskService", "SubmitTask")).toBe("write");
    expect(classOf("actionqueue.v1.TaskService", "BatchSubmitTasks")).toBe("write");
    expect(classOf("actionqueue.v1.TaskService", "CancelTask")).toBe("write");
    expect(classOf("actionqueue.v1.RunService", "SuspendRun")).toBe("write");
    expect(classOf("actionqueue.v1.TaskService", "GetTask")).toBe("read");
    expect(classOf("actionqueue.v1.RunService", "ListAttempts")).toBe("read");
    expect(classOf("actionqueue.v1.AdminService", "GetStats")).toBe("read");
    expect(classOf("actionqueue.v1.AdminService", "GetCaller")).toBe("read");
    expect(classOf("actionqueue.v1.AdminService", "PauseEngine")).toBeNull();
    expect(classOf("actionqueue.v1.WorkerService", "CompleteAttempt")).toBe("worker");
    expect(classOf("actionqueue.v1.WorkerService", "LeaseRuns", { wait: undefined })).toBe("worker");
    expect(classOf("actionqueue.v1.WorkerService", "LeaseRuns", { wait: { seconds: 0n, nanos: 0 } })).toBe("worker");
    expect(classOf("actionqueue.v1.WorkerService", "LeaseRuns", { wait: { seconds: 5n, nanos: 0 } })).toBeNull();
    expect(classOf("actionqueue.v1.RunService", "WatchRuns")).toBeNull();
    expect(classOf("grpc.health.v1.Health", "Check")).toBeNull();
    expect(classOf("grpc.reflection.v1.ServerReflection", "ServerReflectionInfo")).toBeNull();
  });
});

describe("Admission", () => {
  it("refuses past the bound of a class with OVERLOADED naming the limit, and admits again after a release", () => {
    const a = new Admission({ write: 2, worker: 0, read: 1 });
    const r1 = a.acquire("write");
    a.acquire("write");
    let refused: unknown;
    try {
      a.acquire("write");
    } catch (e) {
      refused = e;
    }
    expect(EngineError.is(refused, "OVERLOADED")).toBe(true);
    expect((refused as EngineError).metadata).toMatchObject({ limit: "max_inflight_write", class: "write", in_flight: "2", max: "2" });
    expect(a.refused("write")).toBe(1);
    // Other classes are independent; 0 means unbounded.
    a.acquire("read");
    for (let i = 0; i < 100; i++) a.acquire("worker");
    r1();
    r1(); // a release counts once
    expect(a.inFlight("write")).toBe(1);
    expect(() => a.acquire("write")).not.toThrow();
    expect(a.refuseAtDoor("write")).toBe("full");
    expect(a.refuseAtDoor("worker")).toBeNull();
    expect(a.admitRatio).toBe(1);
  });
});
