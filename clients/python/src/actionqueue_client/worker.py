"""A worker loop: lease runs in batches with a long poll, run a handler per run on a thread
pool, heartbeat every lease in one batched call, and report each outcome.

A handler is a function of one :class:`Job`. What it does decides the outcome:

* returns ``bytes``/``str``/``None``: SUCCESS, with those bytes (a ``str`` as UTF-8) as output;
* raises :class:`NonRetryableError`: TERMINAL_FAILURE, the run fails for good;
* raises :class:`SuspendError`: SUSPENDED (the attempt does not count);
* raises anything else: RETRYABLE_FAILURE with ``"<ExceptionName>: <message>"``; the server
  retries it per the task's backoff until ``max_attempts``.

``job.stop_event`` (a ``threading.Event``) is set when the worker should abandon the run: it
was canceled or suspended (learned from a heartbeat), the lease was lost, or the worker is
shutting down past its drain deadline; ``job.stop_reason`` says which. A long handler should
check it (``job.stop_event.wait(seconds)`` is a cancellable sleep). After a cancel,
suspension or lease loss the server has already closed the attempt, so whatever the handler
returns is dropped.

States (``worker.state``): ``"new"`` -> ``"running"`` (:meth:`Worker.run`) -> ``"stopping"``
(:meth:`Worker.stop`: no more leasing, handlers finish) -> ``"stopped"``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Literal, Optional, Union

from actionqueue.v1 import run_pb2, task_pb2, worker_service_pb2

from ._convert import Seconds, duration, enum_name
from .client import Client
from .errors import ActionQueueError, UnavailableError

_log = logging.getLogger("actionqueue_client.worker")

#: Worker lifecycle, see the module documentation.
WorkerState = Literal["new", "running", "stopping", "stopped"]
#: Why a job's ``stop_event`` was set.
StopReason = Literal["CANCELED", "SUSPENDED", "LEASE_LOST", "SHUTDOWN"]

_handler_thread = threading.local()  # which Worker a handler thread belongs to
_MAX_ERROR_BYTES = 64 * 1024  # CompleteAttemptRequest.error limit
_BATCH = 1000  # BatchHeartbeat limit


class NonRetryableError(Exception):
    """Raised by a handler: the run fails for good (TERMINAL_FAILURE), whatever attempts remain."""


class SuspendError(Exception):
    """Raised by a handler: the run becomes SUSPENDED with the message as its reason; the
    attempt does not count toward ``max_attempts``. An operator resumes it with ResumeRun."""


def _seconds(value: Seconds) -> float:
    return duration(value).ToNanoseconds() / 1e9


class Job:
    """One leased run handed to a handler. Read ``payload``; check ``stop_event``."""

    def __init__(self, worker: "Worker", leased: worker_service_pb2.LeasedRun) -> None:
        #: The run as leased (RUNNING).
        self.run: run_pb2.Run = leased.run
        #: Its task, with the payload and constraints.
        self.task: task_pb2.Task = leased.task
        #: The open attempt.
        self.attempt: run_pb2.Attempt = leased.attempt
        #: Proof of ownership; sent with every call about the run.
        self.lease_token: str = leased.lease_token
        #: Set when the handler should give up; see ``stop_reason``.
        self.stop_event = threading.Event()
        #: Why ``stop_event`` was set: CANCELED, SUSPENDED, LEASE_LOST or SHUTDOWN.
        self.stop_reason: Optional[StopReason] = None
        self._worker = worker
        self._lease_deadline = time.monotonic() + worker.lease_duration

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.run.id

    @property
    def task_id(self) -> str:
        """The task's id."""
        return self.task.id

    @property
    def attempt_number(self) -> int:
        """1-based number of this attempt."""
        return self.attempt.number

    @property
    def payload(self) -> bytes:
        """The task's payload bytes."""
        return self.task.spec.payload.data

    @property
    def content_type(self) -> str:
        """The payload's MIME type ("" when the submitter gave none)."""
        return self.task.spec.payload.content_type

    def heartbeat(self) -> bool:
        """Extends the lease now (the worker also does it in the background) and returns
        True when the run should stop. Handlers that block the background heartbeat thread
        (they cannot, in CPython, short of holding the GIL in C code) may call it."""
        self._worker._heartbeat([self])
        return self.stop_event.is_set()

    def _stop(self, reason: StopReason) -> None:
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()


#: A handler: takes the job, returns the output.
Handler = Callable[[Job], Union[bytes, bytearray, memoryview, str, None]]


class Worker:
    """Leases runs from ``queues`` and runs ``handler`` on each, ``concurrency`` at a time.

    Args:
        client: the :class:`~actionqueue_client.Client` to use (shared; not closed here).
        queues: queue names to lease from.
        handler: see the module documentation.
        worker_id: identifies this worker in leases and attempts; default host-pid-random.
        concurrency: most handlers at once (thread-pool size); also the lease batch size.
        lease_duration: lease length in seconds (1 to 3600).
        heartbeat_interval: seconds between batched heartbeats; default a third of the lease.
        poll_wait: long-poll time of each LeaseRuns in seconds (0 to 60). ``stop()`` waits for
            the poll in flight to return (its runs are then processed), so keep it short.
        drain_timeout: seconds ``stop()`` lets running handlers finish before setting their
            ``stop_event`` (reason SHUTDOWN); after as long again they are abandoned (their
            leases expire and the server retries them as TIMEOUT).
        capabilities: capabilities this worker declares.
    """

    def __init__(
        self,
        client: Client,
        queues: Iterable[str],
        handler: Handler,
        *,
        worker_id: str | None = None,
        concurrency: int = 4,
        lease_duration: Seconds = 30.0,
        heartbeat_interval: Seconds | None = None,
        poll_wait: Seconds = 5.0,
        drain_timeout: Seconds = 30.0,
        capabilities: Iterable[str] = (),
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.client = client
        self.queues = list(queues)
        if not self.queues:
            raise ValueError("at least one queue is required")
        self.handler = handler
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.concurrency = concurrency
        self.lease_duration = _seconds(lease_duration)
        self.heartbeat_interval = _seconds(heartbeat_interval) if heartbeat_interval is not None else self.lease_duration / 3
        self.poll_wait = _seconds(poll_wait)
        self.drain_timeout = _seconds(drain_timeout)
        self.capabilities = list(capabilities)
        #: Counters: leased, succeeded, failed (terminal), retried, suspended, abandoned.
        self.stats = {"leased": 0, "succeeded": 0, "failed": 0, "retried": 0, "suspended": 0, "abandoned": 0}
        self._state: WorkerState = "new"
        self._lock = threading.Condition()
        self._active: dict[str, Job] = {}
        self._stopping = threading.Event()
        self._run_thread: threading.Thread | None = None

    @property
    def state(self) -> WorkerState:
        """The current lifecycle state."""
        return self._state

    # -- lifecycle ------------------------------------------------------------------------

    def run(self) -> None:
        """Works until :meth:`stop` is called (or Ctrl-C), then drains and returns."""
        self._begin("run", threading.current_thread())
        self._work()

    def start(self) -> "Worker":
        """Runs the worker on a background thread and returns at once; :meth:`stop` ends it."""
        thread = threading.Thread(target=self._work, name="actionqueue-worker", daemon=True)
        self._begin("start", thread)
        thread.start()
        return self

    def _begin(self, method: str, thread: threading.Thread) -> None:
        with self._lock:
            if self._state != "new":
                raise RuntimeError(f"Worker.{method}() needs state 'new', the worker is {self._state!r}")
            self._state = "running"
            self._run_thread = thread

    def _work(self) -> None:
        beats_done = threading.Event()
        beats = threading.Thread(target=self._heartbeat_loop, args=(beats_done,), name="actionqueue-heartbeat", daemon=True)
        beats.start()
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="actionqueue-handler")
        try:
            self._lease_loop(pool)
        except KeyboardInterrupt:
            _log.info("interrupted; draining")
        finally:
            with self._lock:
                self._state = "stopping"
            self._stopping.set()
            self._drain()
            beats_done.set()
            beats.join()
            pool.shutdown(wait=False)
            with self._lock:
                self._state = "stopped"
                self._lock.notify_all()

    def stop(self, wait: bool = True) -> None:
        """Stops leasing and drains (see ``drain_timeout``). With ``wait``, returns once the
        worker is stopped. Called from a handler or from the thread inside :meth:`run` (a
        signal handler, say) it never waits: that would wait for itself."""
        if getattr(_handler_thread, "worker", None) is self or threading.current_thread() is self._run_thread:
            wait = False
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
            if wait and self._state != "new":
                while self._state != "stopped":
                    self._lock.wait(0.5)

    def __enter__(self) -> "Worker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- leasing --------------------------------------------------------------------------

    def _lease_loop(self, pool: ThreadPoolExecutor) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            with self._lock:
                while len(self._active) >= self.concurrency and not self._stopping.is_set():
                    self._lock.wait()
                free = self.concurrency - len(self._active)
            if self._stopping.is_set():
                return
            try:
                leased = self.client.lease_runs(
                    self.queues,
                    self.worker_id,
                    max_runs=free,
                    lease_duration=self.lease_duration,
                    wait=self.poll_wait,
                    start_attempt=True,
                    capabilities=self.capabilities,
                )
                backoff = 0.1
            except ActionQueueError as err:
                # Server restarting or unreachable, queue paused...: back off and try again.
                _log.warning("lease failed (%s); retrying in %.1fs", err, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for item in leased:
                job = Job(self, item)
                with self._lock:
                    self._active[job.run_id] = job
                    self.stats["leased"] += 1
                pool.submit(self._execute, job)

    # -- executing ------------------------------------------------------------------------

    def _execute(self, job: Job) -> None:
        _handler_thread.worker = self
        try:
            outcome, output, error = self._outcome(job)
            if job.stop_reason not in (None, "SHUTDOWN"):
                # Canceled, suspended or lost: the server closed the attempt already.
                _log.info("run %s stopped (%s); its result is dropped", job.run_id, job.stop_reason)
                self._count("abandoned")
                return
            self._complete(job, outcome, output, error)
        except Exception:  # a bug here must not leave the run counted as active forever
            _log.exception("run %s: reporting the outcome failed", job.run_id)
        finally:
            with self._lock:
                self._active.pop(job.run_id, None)
                self._lock.notify_all()

    def _outcome(self, job: Job) -> tuple[str, bytes, str]:
        try:
            result = self.handler(job)
        except NonRetryableError as err:
            return "TERMINAL_FAILURE", b"", _error_text(err)
        except SuspendError as err:
            return "SUSPENDED", b"", str(err) or "SUSPENDED_BY_WORKER"
        except Exception as err:
            return "RETRYABLE_FAILURE", b"", _error_text(err)
        if result is None:
            return "SUCCESS", b"", ""
        if isinstance(result, str):
            return "SUCCESS", result.encode("utf-8"), ""
        if isinstance(result, (bytes, bytearray, memoryview)):
            return "SUCCESS", bytes(result), ""
        # A programming error: retrying would return the same thing.
        return "TERMINAL_FAILURE", b"", f"TypeError: handler returned {type(result).__name__}, expected bytes, str or None"

    def _complete(self, job: Job, outcome: str, output: bytes, error: str) -> None:
        delay = 0.2
        for attempt in range(5):
            try:
                response = self.client.complete_attempt(job.run_id, job.lease_token, job.attempt.id, outcome, output=output, error=error)
            except UnavailableError as err:
                # The completion is only applied once committed; retrying it is safe.
                if attempt == 4:
                    raise
                _log.warning("completing run %s failed (%s); retrying", job.run_id, err)
                time.sleep(delay)
                delay *= 2
                continue
            except ActionQueueError as err:
                _log.warning("run %s: completion refused: %s", job.run_id, err)
                self._count("abandoned")
                return
            state = enum_name(run_pb2.RunState, "RUN_STATE_", response.run.state)
            counter = {"COMPLETED": "succeeded", "FAILED": "failed", "RETRY_WAIT": "retried", "SUSPENDED": "suspended"}.get(state)
            if counter:
                self._count(counter)
            return

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    # -- heartbeats -----------------------------------------------------------------------

    def _heartbeat_loop(self, done: threading.Event) -> None:
        while not done.wait(self.heartbeat_interval):
            with self._lock:
                jobs = [j for j in self._active.values() if not j.stop_event.is_set()]
            for i in range(0, len(jobs), _BATCH):
                try:
                    self._heartbeat(jobs[i : i + _BATCH])
                except Exception:  # keep beating for the other runs whatever happened
                    _log.exception("heartbeat round failed")

    def _heartbeat(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        sent = time.monotonic()
        try:
            results = self.client.batch_heartbeat([(j.run_id, j.lease_token) for j in jobs], extend_by=self.lease_duration)
        except ActionQueueError as err:
            _log.warning("heartbeat failed: %s", err)
            # Without a successful heartbeat the lease runs out; stop the handler then
            # rather than let it finish work whose completion would be refused.
            for job in jobs:
                if time.monotonic() >= job._lease_deadline:
                    job._stop("LEASE_LOST")
            return
        for job in jobs:
            result = results.get(job.run_id)
            if isinstance(result, ActionQueueError) or result is None:
                job._stop("LEASE_LOST")
            elif result.stop:
                reason = enum_name(worker_service_pb2.StopReason, "STOP_REASON_", result.stop_reason)
                job._stop("SUSPENDED" if reason == "SUSPENDED" else "CANCELED")
            else:
                job._lease_deadline = sent + self.lease_duration

    # -- shutdown -------------------------------------------------------------------------

    def _drain(self) -> None:
        deadline = time.monotonic() + self.drain_timeout
        with self._lock:
            while self._active and time.monotonic() < deadline:
                self._lock.wait(min(0.5, max(deadline - time.monotonic(), 0.01)))
            late = list(self._active.values())
        if not late:
            return
        for job in late:
            job._stop("SHUTDOWN")
        deadline = time.monotonic() + self.drain_timeout
        with self._lock:
            while self._active and time.monotonic() < deadline:
                self._lock.wait(min(0.5, max(deadline - time.monotonic(), 0.01)))
            if self._active:
                _log.warning("abandoning %d handler(s) that ignored the stop event", len(self._active))


def _error_text(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}"
    raw = text.encode("utf-8")
    if len(raw) <= _MAX_ERROR_BYTES:
        return text
    return raw[:_MAX_ERROR_BYTES].decode("utf-8", errors="ignore")
