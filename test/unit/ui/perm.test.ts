/**
 * What the dashboard lets the caller do (ui/src/perm.ts), from GetCaller: the method must be
 * among the caller's, and a caller limited to queues acts only on those, never on methods
 * spanning every queue.
 */
import { describe, expect, it } from "vitest";
import { can, type CallerView, defaultQueue, denial, fullMethod } from "../../../ui/src/perm.js";

const open: CallerView = { authEnabled: false, name: "", role: "", methods: [], queues: [] };
const reader: CallerView = {
  authEnabled: true,
  name: "ro",
  role: "reader",
  methods: ["actionqueue.v1.AdminService/GetStats", "actionqueue.v1.RunService/GetRun", "actionqueue.v1.RunService/WatchRuns"],
  queues: [],
};
const scopedAdmin: CallerView = {
  authEnabled: true,
  name: "ops-emails",
  role: "admin",
  methods: ["actionqueue.v1.AdminService/PauseEngine", "actionqueue.v1.AdminService/PauseQueue", "actionqueue.v1.RunService/CancelRun"],
  queues: ["emails", "sms"],
};

describe("permissions", () => {
  it("allows everything on a server without auth", () => {
    expect(can(open, "RunService/CancelRun", "q")).toBe(true);
    expect(can(open, "AdminService/PauseEngine", null)).toBe(true);
  });

  it("allows only the caller's methods", () => {
    expect(can(reader, "AdminService/GetStats", null)).toBe(true);
    expect(can(reader, "RunService/CancelRun", "q")).toBe(false);
    expect(denial(reader, "RunService/CancelRun", "q")).toBe("role reader may not call RunService/CancelRun");
    expect(can(reader, "actionqueue.v1.RunService/GetRun", "q")).toBe(true);
  });

  it("limits a caller with queues to those queues and refuses methods spanning every queue", () => {
    expect(can(scopedAdmin, "AdminService/PauseQueue", "emails")).toBe(true);
    expect(can(scopedAdmin, "AdminService/PauseQueue", "billing")).toBe(false);
    expect(denial(scopedAdmin, "AdminService/PauseQueue", "billing")).toBe("this token is limited to emails, sms");
    expect(can(scopedAdmin, "AdminService/PauseEngine", null)).toBe(false);
  });

  it("allows nothing when the caller is unknown", () => {
    expect(can(null, "RunService/GetRun", "q")).toBe(false);
    expect(denial(null, "RunService/GetRun", "q")).toMatch(/unknown/);
  });

  it("names methods in full and picks the default queue of a limited caller", () => {
    expect(fullMethod("RunService/CancelRun")).toBe("actionqueue.v1.RunService/CancelRun");
    expect(fullMethod("actionqueue.v1.RunService/CancelRun")).toBe("actionqueue.v1.RunService/CancelRun");
    expect(defaultQueue(scopedAdmin)).toBe("emails");
    expect(defaultQueue(reader)).toBe("");
    expect(defaultQueue(null)).toBe("");
  });
});
