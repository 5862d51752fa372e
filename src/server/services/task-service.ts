/** actionqueue.v1.TaskService: decode, one engine call, encode. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { asTaskId } from "../../domain/ids.js";
import type { TaskStatus } from "../../domain/task.js";
import type { Submission, SubmitResult } from "../../engine/api.js";
import { type SubmitTaskRequest, type SubmitTaskResponse, SubmitTaskResponseSchema, type TaskService } from "../../gen/actionqueue/v1/task_service_pb.js";
import type { ServiceContext } from "../context.js";
import { pbToTaskStatus } from "../convert/enums.js";
import { taskSpecFromPb } from "../convert/task-spec.js";
import { runToPb, taskToPb } from "../convert/views.js";
import { Violations, optionalTaskId, taskIdOf } from "../convert/wire.js";
import { badRequest } from "../errors.js";
import { decodeToken, encodeToken, filterPrint } from "../paging.js";

function submissionOf(req: SubmitTaskRequest, prefix: string, v: Violations): Submission {
  return { taskId: optionalTaskId(req.taskId, `${prefix}task_id`, v), spec: taskSpecFromPb(req.spec, `${prefix}spec.`, v) };
}

function reply(r: SubmitResult): SubmitTaskResponse {
  // Runs of a task just submitted hold no lease yet.
  return create(SubmitTaskResponseSchema, { task: taskToPb(r.task), created: r.created, runs: r.runs.map((run) => runToPb(run, undefined)) });
}

export function taskService(c: ServiceContext): ServiceImpl<typeof TaskService> {
  const { engine } = c;
  return {
    async submitTask(req, ctx) {
      const v = new Violations();
      const item = submissionOf(req, "", v);
      const [r] = await engine.submitTasks([item], { batch: false, decoded: v.list, signal: ctx.signal });
      return reply(r as SubmitResult);
    },

    async batchSubmitTasks(req, ctx) {
      const v = new Violations();
      const items = req.tasks.map((t, i) => submissionOf(t, `tasks[${i}].`, v));
      const results = await engine.submitTasks(items, { batch: true, decoded: v.list, signal: ctx.signal });
      return { results: results.map(reply) };
    },

    async getTask(req) {
      const v = new Violations();
      const id = taskIdOf(req.taskId, "task_id", v);
      if (!v.empty) throw badRequest(v.list);
      await engine.sync();
      return { task: taskToPb(engine.queries.task(id)) };
    },

    async listTasks(req) {
      const v = new Violations();
      const parent = optionalTaskId(req.parentTaskId, "parent_task_id", v);
      const statuses = new Set<TaskStatus>();
      req.statuses.forEach((s, i) => {
        const st = pbToTaskStatus(s, `statuses[${i}]`, v);
        if (st) statuses.add(st);
      });
      const print = filterPrint({ q: req.queue, p: parent, s: [...statuses].sort() });
      const after = decodeToken(req.pageToken, print, v);
      if (v.empty) await engine.sync();
      const page = engine.queries.listTasks({ queue: req.queue, parentTaskId: parent, statuses }, { after: after === undefined ? undefined : asTaskId(after), size: req.pageSize }, { decoded: v.list });
      return { tasks: page.items.map(taskToPb), nextPageToken: page.next !== null ? encodeToken(page.next, print) : "" };
    },

    async cancelTask(req, ctx) {
      const v = new Violations();
      const id = taskIdOf(req.taskId, "task_id", v);
      const r = await engine.cancelTask(id, req.reason, { decoded: v.list, signal: ctx.signal });
      return { task: taskToPb(r.task), runsCanceled: r.runsCanceled, tasksCanceled: r.tasksCanceled };
    },
  };
}
