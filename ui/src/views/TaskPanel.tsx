/**
 * The task of a run, on the run's page: status, policy, constraints, metadata, payload, its
 * parent, children (ListTasks by parent) and dependencies, each task a link to the runs view
 * filtered by that task; and "cancel task" (it cascades to children and dependents).
 */
import { TaskStatus } from "../../../clients/typescript/src/web.js";
import { usePoll, useSession } from "../api.js";
import { Bytes } from "../components/Attempts.js";
import { ErrorText, Facts, TaskLink, When } from "../components/bits.js";
import { ConfirmAction } from "../components/ConfirmAction.js";
import { formatDuration, durationMs, taskStatusName, tsMs } from "../format.js";
import { can, denial } from "../perm.js";
import { keysHash, runsHash } from "../route.js";
import { describeBackoff, describeConcurrency, describePolicy } from "../task-format.js";

/** The panel for task `taskId` (of queue `queue`). */
export function TaskPanel({ taskId, queue, now }: { taskId: string; queue: string; now: number }) {
  const { client, caller } = useSession();
  const task = usePoll((signal) => client.tasks.getTask({ taskId }, { signal }), 10_000, [client, taskId]);
  // A token limited to queues must name one to list tasks; an unlimited one sees children in every queue.
  const childQueue = caller !== null && caller.authEnabled && caller.queues.length > 0 ? queue : "";
  const mayList = can(caller, "TaskService/ListTasks", childQueue === "" ? queue : childQueue);
  const children = usePoll(
    (signal) => (mayList ? client.tasks.listTasks({ parentTaskId: taskId, queue: childQueue, pageSize: 100 }, { signal }) : Promise.resolve(undefined)),
    10_000,
    [client, taskId, childQueue, mayList],
  );
  const t = task.data?.task;
  const spec = t?.spec;
  const c = spec?.constraints;
  const m = spec?.metadata;
  const timeout = durationMs(c?.attemptTimeout);
  return (
    <section aria-labelledby="task-h" class="card" data-testid="task-panel">
      <header class="card-head">
        <h2 id="task-h">Task</h2>
        {t === undefined ? null : (
          <span class={t.status === TaskStatus.ACTIVE ? "chip ok" : "chip"} data-testid="task-status">
            {taskStatusName(t.status)}
          </span>
        )}
      </header>
      {task.error !== undefined ? <ErrorText error={task.error} prefix="Could not read the task:" /> : null}
      {t === undefined || spec === undefined ? (
        task.error === undefined ? <p aria-busy="true">Loading…</p> : null
      ) : (
        <>
          <Facts
            items={[
              ["Task", <TaskLink id={t.id}>{t.id} (its runs)</TaskLink>],
              ["Queue", <a href={runsHash({ queue: spec.queue })}>{spec.queue}</a>],
              ["Status", `${taskStatusName(t.status)}${t.statusReason === "" ? "" : ` (${t.statusReason})`}`],
              ["Created", <When ms={tsMs(t.createdAt)} now={now} />],
              ["Status changed", <When ms={tsMs(t.statusChangedAt)} now={now} />],
              ["Policy", describePolicy(spec.policy)],
              ["Runs derived", String(t.runsDerived)],
              ["Next occurrence", <When ms={tsMs(t.nextOccurrenceAt)} now={now} />],
              ["Max attempts", c === undefined || c.maxAttempts === 0 ? "server default" : String(c.maxAttempts)],
              ["Attempt timeout", timeout === undefined || timeout === 0 ? "none" : formatDuration(timeout)],
              ["Backoff", describeBackoff(c?.backoff)],
              [
                "Concurrency",
                c?.concurrency === undefined || c.concurrency.key === "" ? "none" : <a href={keysHash(c.concurrency.key)}>{describeConcurrency(c.concurrency)}</a>,
              ],
              ["Required capabilities", c === undefined || c.requiredCapabilities.length === 0 ? "none" : c.requiredCapabilities.join(", ")],
              ["Priority", String(m?.priority ?? 0)],
              ["Tags", m === undefined || m.tags.length === 0 ? "none" : m.tags.join(", ")],
              ["Description", m === undefined || m.description === "" ? "—" : m.description],
              ["Payload", <>{spec.payload?.contentType || "no content type"} <Bytes bytes={spec.payload?.data ?? new Uint8Array()} testid="task-payload" /></>],
              ["Depth", String(t.depth)],
              ["Parent", spec.parentTaskId === "" ? "none" : <TaskLink id={spec.parentTaskId} />],
              [
                "Depends on",
                spec.dependsOn.length === 0 ? (
                  "nothing"
                ) : (
                  <ul class="plain" data-testid="task-dependencies">
                    {spec.dependsOn.map((d) => (
                      <li key={d}>
                        <TaskLink id={d} />
                      </li>
                    ))}
                  </ul>
                ),
              ],
              ["Pending dependencies", String(t.pendingDependencies)],
              [
                "Children",
                !mayList ? (
                  <span class="muted">this token may not list tasks</span>
                ) : children.error !== undefined ? (
                  <ErrorText error={children.error} />
                ) : children.data === undefined ? (
                  "…"
                ) : children.data.tasks.length === 0 ? (
                  "none"
                ) : (
                  <ul class="plain" data-testid="task-children">
                    {children.data.tasks.map((ch) => (
                      <li key={ch.id}>
                        <TaskLink id={ch.id} /> <span class="muted">{taskStatusName(ch.status)}</span>
                      </li>
                    ))}
                    {children.data.nextPageToken === "" ? null : <li class="muted">… and more</li>}
                  </ul>
                ),
              ],
            ]}
          />
          <div class="actions">
            <ConfirmAction
              testid="cancel-task"
              label="Cancel task"
              title="Cancel this task?"
              body={<p>No further runs are derived, every unfinished run is canceled, and the cancellation cascades to child tasks and to tasks that depend on it.</p>}
              danger
              fields={[{ name: "reason", label: "Reason (optional)", type: "text" }]}
              denied={denial(caller, "TaskService/CancelTask", spec.queue)}
              unavailable={t.status === TaskStatus.ACTIVE ? undefined : `the task is ${taskStatusName(t.status)}`}
              run={(v) => client.tasks.cancelTask({ taskId: t.id, reason: v["reason"] ?? "" })}
              onDone={task.reload}
            />
          </div>
        </>
      )}
    </section>
  );
}
