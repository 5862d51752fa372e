/** actionqueue.v1.TaskService over the engine. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { TaskId } from "../../domain/ids.js";
import type { TaskStatus } from "../../domain/task.js";
import type { SubmitResult } from "../../engine/engine.js";
import { EngineError } from "../../engine/errors.js";
import {
  type SubmitTaskRequest,
  type SubmitTaskResponse,
  SubmitTaskResponseSchema,
  TaskService,
} from "../../gen/actionqueue/v1/task_service_pb.js";
import type { ServiceContext } from "../context.js";
import { Violations, asTask, optionalId, pbToTaskStatus, requiredId, runToPb, taskSpecFromPb, taskToPb } from "../convert.js";
import { badRequest } from "../errors.js";
import type { Limits } from "../../domain/limits.js";
import { checkQueueName, validateTaskSpec } from "../../domain/task-spec.js";
import { parseCron } from "../../cron/croner-schedule.js";
import { decodeToken, encodeToken, filterPrint, pageSize } from "../paging.js";

/**
 * Converts one submission. When the wire form already has violations, the engine's own
 * checks of the spec are added too, so one answer names every bad field.
 */
function submissionOf(req: SubmitTaskRequest, prefix: string, v: Violations, limits: Limits) {
  const before = v.list.length;
  const taskId = optionalId(req.taskId, `${prefix}task_id`, v);
  const spec = taskSpecFromPb(req.spec, `${prefix}spec.`, v);
  if (v.list.length > before && req.spec) {
    const wire = new Set(v.list.map((x) => x.field));
    for (const x of validateTaskSpec(spec, limits, parseCron)) {
      const field = `${prefix}spec.${x.field}`;
      if (!wire.has(field)) v.add(field, x.description);
    }
  }
  return { taskId: taskId as TaskId | null, spec };
}

export function taskService(c: ServiceContext): ServiceImpl<typeof TaskService> {
  const { engine } = c;
  const reply = (r: SubmitResult): SubmitTaskResponse =>
    create(SubmitTaskResponseSchema, {
      task: taskToPb(r.task),
      created: r.created,
      runs: r.runs.map((run) => runToPb(run, engine.reader.getLease(run.id))),
    });
  return {
    async submitTask(req) {
      const v = new Violations();
      const item = submissionOf(req, "", v, engine.limits);
      if (!v.empty) throw badRequest(v.list);
      const [r] = await engine.submitTasks([item], { batch: false });
      return reply(r as SubmitResult);
    },

    async batchSubmitTasks(req) {
      const v = new Violations();
      if (req.tasks.length < 1 || req.tasks.length > engine.limits.maxBatch) v.add("tasks", `must hold 1 to ${engine.limits.maxBatch} submissions`);
      const items = req.tasks.map((t, i) => submissionOf(t, `tasks[${i}].`, v, engine.limits));
      if (!v.empty) throw badRequest(v.list);
      const results = await engine.submitTasks(items, { batch: true });
      return { results: results.map(reply) };
    },

    async getTask(req) {
      const v = new Violations();
      const id = requiredId(req.taskId, "task_id", v);
      if (!v.empty) throw badRequest(v.list);
      const t = engine.reader.getTask(asTask(id));
      if (!t) throw new EngineError("TASK_NOT_FOUND", `task ${id} not found`, { metadata: { task_id: id } });
      return { task: taskToPb(t) };
    },

    async listTasks(req) {
      const v = new Violations();
      if (req.queue !== "") checkQueueName(v.list, "queue", req.queue);
      const parent = optionalId(req.parentTaskId, "parent_task_id", v);
      const statuses = new Set<TaskStatus>();
      req.statuses.forEach((s, i) => {
        const st = pbToTaskStatus(s, `statuses[${i}]`, v);
        if (st) statuses.add(st);
      });
      const size = pageSize(req.pageSize, engine.limits.maxPageSize, v);
      const print = filterPrint({ q: req.queue, p: parent, s: [...statuses].sort() });
      const after = decodeToken(req.pageToken, print, v);
      if (!v.empty) throw badRequest(v.list);
      const filter = parent ? { parent: asTask(parent) } : req.queue !== "" ? { queue: req.queue } : {};
      const tasks = [];
      let cursor = after as TaskId | undefined;
      let scanned = 0;
      let exhausted = false;
      // Status filtering scans at most 10 pages' worth per call; a short page with a token means "keep going".
      while (tasks.length < size && scanned < size * 10) {
        const ids = engine.reader.taskIds(filter, cursor, size);
        if (ids.length === 0) {
          exhausted = true;
          break;
        }
        for (const id of ids) {
          scanned++;
          cursor = id;
          const t = engine.reader.getTask(id);
          if (!t) continue;
          if (parent && req.queue !== "" && t.spec.queue !== req.queue) continue;
          if (statuses.size > 0 && !statuses.has(t.status)) continue;
          tasks.push(taskToPb(t));
          if (tasks.length >= size) break;
        }
      }
      const more = !exhausted && cursor !== undefined && engine.reader.taskIds(filter, cursor, 1).length > 0;
      return { tasks, nextPageToken: more && cursor ? encodeToken(cursor, print) : "" };
    },

    async cancelTask(req) {
      const v = new Violations();
      const id = requiredId(req.taskId, "task_id", v);
      if (req.reason.length > 256) v.add("reason", "at most 256 characters");
      if (!v.empty) throw badRequest(v.list);
      const r = await engine.cancelTask(asTask(id), req.reason);
      return { task: taskToPb(r.task), runsCanceled: r.runsCanceled, tasksCanceled: r.tasksCanceled };
    },
  };
}
