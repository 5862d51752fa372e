"""A thin, synchronous client over the generated gRPC stubs.

Every method is one RPC (the ``list_*`` helpers page through all results), takes plain Python
values, returns the generated protobuf messages, and raises the typed errors of
:mod:`actionqueue_client.errors` instead of ``grpc.RpcError``. The raw stubs stay reachable
as ``client.tasks``, ``client.runs``, ``client.workers`` and ``client.admin`` for anything the
wrapper does not cover.
"""

from __future__ import annotations

import collections
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar, Union

import grpc

from actionqueue.v1 import (
    admin_service_pb2_grpc,
    run_pb2,
    run_service_pb2,
    run_service_pb2_grpc,
    task_pb2,
    task_service_pb2,
    task_service_pb2_grpc,
    worker_service_pb2,
    worker_service_pb2_grpc,
)

from ._convert import Seconds, duration, enum_value, enum_values, timestamp
from .errors import ActionQueueError, from_batch_item_error, from_rpc_error
from .watch import WatchStream

T = TypeVar("T")

_RUN_STATE = "RUN_STATE_"
_OUTCOME = "ATTEMPT_OUTCOME_"


class _CallDetails(
    collections.namedtuple("_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
    grpc.ClientCallDetails,
):
    pass


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds ``authorization: Bearer <token>`` to every call. An interceptor rather than call
    credentials because gRPC refuses call credentials on plaintext channels, and a loopback
    server without TLS is the common development setup."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, d: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = list(d.metadata or []) + [self._header]
        return _CallDetails(d.method, d.timeout, metadata, d.credentials, getattr(d, "wait_for_ready", None), getattr(d, "compression", None))

    def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(client_call_details), request)


def _split_target(target: str) -> tuple[str, bool | None]:
    """``http://h:p`` -> (h:p, plaintext), ``https://h:p`` -> (h:p, TLS), ``h:p`` -> (h:p, unknown)."""
    for scheme, secure in (("https://", True), ("http://", False)):
        if target.startswith(scheme):
            return target[len(scheme) :].rstrip("/"), secure
    return target, None


class Client:
    """A connection to an ActionQueue server.

    Args:
        target: ``"host:port"``, ``"http://host:port"`` or ``"https://host:port"``.
        token: bearer token sent as ``authorization`` metadata on every call; None: none.
        tls: None picks TLS from the scheme (``https://``) and plaintext otherwise; True uses
            TLS with the system roots; False forces plaintext; a ``grpc.ChannelCredentials``
            is used as given (e.g. ``grpc.ssl_channel_credentials(root_certificates=...)``
            for a private CA or mutual TLS).
        timeout: deadline of each unary call in seconds (a long poll gets its wait on top).
        options: extra ``grpc`` channel options.

    Use it as a context manager, or call :meth:`close`. Thread-safe: one client may serve
    many threads (the :class:`~actionqueue_client.worker.Worker` relies on that).
    """

    def __init__(
        self,
        target: str,
        token: str | None = None,
        tls: Union[bool, grpc.ChannelCredentials, None] = None,
        *,
        timeout: float = 30.0,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        address, secure = _split_target(target)
        if isinstance(tls, grpc.ChannelCredentials):
            channel = grpc.secure_channel(address, tls, options=list(options))
        elif tls is True or (tls is None and secure):
            channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(), options=list(options))
        else:
            channel = grpc.insecure_channel(address, options=list(options))
        if token:
            channel = grpc.intercept_channel(channel, _BearerToken(token))
        #: The ``grpc.Channel`` every stub uses.
        self.channel: grpc.Channel = channel
        #: Deadline of unary calls, in seconds.
        self.timeout = timeout
        #: Raw generated stubs, for calls the wrapper does not cover.
        self.tasks = task_service_pb2_grpc.TaskServiceStub(channel)
        self.runs = run_service_pb2_grpc.RunServiceStub(channel)
        self.workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
        self.admin = admin_service_pb2_grpc.AdminServiceStub(channel)

    # -- plumbing -------------------------------------------------------------------------

    def _call(self, method: Callable[..., T], request: Any, timeout: float | None = None) -> T:
        try:
            return method(request, timeout=self.timeout if timeout is None else timeout)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err

    def close(self) -> None:
        """Closes the channel; calls in flight fail with CANCELLED."""
        self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tasks ----------------------------------------------------------------------------

    def submit_task(
        self,
        queue: str,
        payload: bytes = b"",
        *,
        content_type: str = "",
        task_id: str = "",
        max_attempts: int = 0,
        backoff: Seconds | None = None,
        attempt_timeout: Seconds | None = None,
        priority: int = 0,
        start_at: datetime | None = None,
        concurrency_key: str = "",
        required_capabilities: Iterable[str] = (),
        tags: Iterable[str] = (),
        spec: task_pb2.TaskSpec | None = None,
    ) -> task_service_pb2.SubmitTaskResponse:
        """Submits a task that runs once (at ``start_at``, default now) and returns the
        response: ``.task``, ``.created`` (False for an idempotent replay of ``task_id``) and
        ``.runs`` (its first run).

        ``backoff`` is a fixed delay between attempts in seconds; ``max_attempts`` 0 means the
        server default (1). For repeat or cron policies, dependencies and the rest, pass a full
        ``spec`` (a ``task_pb2.TaskSpec``); it replaces every other keyword but ``task_id``.
        Raises ``InvalidArgumentError`` (see ``.field_violations``), ``TaskConflictError``, ...
        """
        if spec is None:
            spec = task_pb2.TaskSpec(queue=queue, payload=task_pb2.Payload(data=payload, content_type=content_type))
            if start_at is not None:
                spec.policy.once.start_at.CopyFrom(timestamp(start_at))
            if max_attempts:
                spec.constraints.max_attempts = max_attempts
            if backoff is not None:
                spec.constraints.backoff.fixed.interval.CopyFrom(duration(backoff))
            if attempt_timeout is not None:
                spec.constraints.attempt_timeout.CopyFrom(duration(attempt_timeout))
            if concurrency_key:
                spec.constraints.concurrency.key = concurrency_key
            capabilities, labels = list(required_capabilities), list(tags)
            # Only touch what was given: an empty sub-message would still be sent as present.
            if capabilities:
                spec.constraints.required_capabilities.extend(capabilities)
            if priority:
                spec.metadata.priority = priority
            if labels:
                spec.metadata.tags.extend(labels)
        return self._call(self.tasks.SubmitTask, task_service_pb2.SubmitTaskRequest(task_id=task_id, spec=spec))

    def get_task(self, task_id: str) -> task_pb2.Task:
        """Returns one task. Raises ``TaskNotFoundError``."""
        return self._call(self.tasks.GetTask, task_service_pb2.GetTaskRequest(task_id=task_id)).task

    def cancel_task(self, task_id: str, reason: str = "") -> task_service_pb2.CancelTaskResponse:
        """Cancels a task and its non-terminal runs (cascading to children and dependents)."""
        return self._call(self.tasks.CancelTask, task_service_pb2.CancelTaskRequest(task_id=task_id, reason=reason))

    # -- runs -----------------------------------------------------------------------------

    def get_run(self, run_id: str) -> run_service_pb2.GetRunResponse:
        """Returns ``.run`` and its latest ``.attempts``. Raises ``RunNotFoundError``."""
        return self._call(self.runs.GetRun, run_service_pb2.GetRunRequest(run_id=run_id))

    def list_runs(
        self,
        *,
        queue: str = "",
        task_id: str = "",
        states: Iterable[int | str] = (),
        page_size: int = 100,
    ) -> Iterator[run_pb2.Run]:
        """Yields every matching run in id (creation) order, fetching page after page.

        ``states`` takes ``run_pb2.RUN_STATE_READY`` or short names such as ``"READY"``.
        """
        request = run_service_pb2.ListRunsRequest(
            queue=queue, task_id=task_id, states=enum_values(run_pb2.RunState, _RUN_STATE, states), page_size=page_size
        )
        while True:
            page = self._call(self.runs.ListRuns, request)
            yield from page.runs
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    def list_attempts(self, run_id: str) -> list[run_pb2.Attempt]:
        """Every attempt of a run, in attempt-number order (the full ledger, all pages)."""
        request = run_service_pb2.ListAttemptsRequest(run_id=run_id, page_size=1000)
        attempts: list[run_pb2.Attempt] = []
        while True:
            page = self._call(self.runs.ListAttempts, request)
            attempts.extend(page.attempts)
            if not page.next_page_token:
                return attempts
            request.page_token = page.next_page_token

    def cancel_run(self, run_id: str) -> run_pb2.Run:
        """Cancels a run; an open attempt ends as CANCELED. Raises ``RunTerminalError``."""
        return self._call(self.runs.CancelRun, run_service_pb2.CancelRunRequest(run_id=run_id)).run

    def suspend_run(self, run_id: str, reason: str = "") -> run_pb2.Run:
        """RUNNING -> SUSPENDED (operator pause)."""
        return self._call(self.runs.SuspendRun, run_service_pb2.SuspendRunRequest(run_id=run_id, reason=reason)).run

    def resume_run(self, run_id: str) -> run_pb2.Run:
        """SUSPENDED -> READY."""
        return self._call(self.runs.ResumeRun, run_service_pb2.ResumeRunRequest(run_id=run_id)).run

    def watch_runs(
        self,
        *,
        queues: Iterable[str] = (),
        task_id: str = "",
        run_id: str = "",
        states: Iterable[int | str] = (),
        from_revision: int = 0,
        progress_interval: Seconds | None = None,
        max_events_per_message: int = 0,
        progress: bool = False,
    ) -> WatchStream:
        """Opens ``WatchRuns``: every matching event from ``from_revision`` on (0: live events
        only), history first, then live, with no gap and no duplicate.

        Resume a closed or failed stream with ``from_revision=stream.last_revision + 1``.
        ``progress_interval`` (seconds, 0.1 to 60) sets how often an idle stream reports
        progress; ``progress=True`` makes the iterator yield those ``WatchProgress`` messages.
        """
        request = run_service_pb2.WatchRunsRequest(
            queues=list(queues),
            task_id=task_id,
            run_id=run_id,
            states=enum_values(run_pb2.RunState, _RUN_STATE, states),
            start_revision=from_revision,
            max_events_per_message=max_events_per_message,
        )
        if progress_interval is not None:
            request.progress_interval_ms = int(duration(progress_interval).ToMilliseconds())
        # No deadline: a watch lives until closed.
        return WatchStream(self.runs.WatchRuns(request), from_revision=from_revision, progress=progress)

    # -- workers --------------------------------------------------------------------------

    def lease_runs(
        self,
        queues: Iterable[str],
        worker_id: str,
        *,
        max_runs: int = 1,
        lease_duration: Seconds = 30.0,
        wait: Seconds = 0.0,
        start_attempt: bool = False,
        capabilities: Iterable[str] = (),
    ) -> list[worker_service_pb2.LeasedRun]:
        """Leases up to ``max_runs`` READY runs; with ``wait`` > 0 (seconds, at most 60) it
        long-polls until a run is available. Each ``LeasedRun`` has ``.run``, ``.task``
        (with the payload), ``.lease_token`` and, with ``start_attempt``, the open ``.attempt``.
        """
        wait_pb = duration(wait)
        request = worker_service_pb2.LeaseRunsRequest(
            queues=list(queues),
            worker_id=worker_id,
            capabilities=list(capabilities),
            max_runs=max_runs,
            lease_duration=duration(lease_duration),
            wait=wait_pb,
            start_attempt=start_attempt,
        )
        timeout = self.timeout + wait_pb.ToNanoseconds() / 1e9
        return list(self._call(self.workers.LeaseRuns, request, timeout).runs)

    def start_attempt(self, run_id: str, lease_token: str) -> worker_service_pb2.StartAttemptResponse:
        """LEASED -> RUNNING; returns ``.run`` and the new ``.attempt``. Raises ``LeaseLostError``."""
        return self._call(self.workers.StartAttempt, worker_service_pb2.StartAttemptRequest(run_id=run_id, lease_token=lease_token))

    def heartbeat(self, run_id: str, lease_token: str, *, extend_by: Seconds | None = None) -> worker_service_pb2.HeartbeatResponse:
        """Extends a lease. ``.stop`` is True (with ``.stop_reason``) when the run was canceled
        or suspended: abandon it. Raises ``LeaseLostError`` when the lease is gone."""
        request = worker_service_pb2.HeartbeatRequest(run_id=run_id, lease_token=lease_token)
        if extend_by is not None:
            request.extend_by.CopyFrom(duration(extend_by))
        return self._call(self.workers.Heartbeat, request)

    def batch_heartbeat(
        self, leases: Iterable[tuple[str, str]], *, extend_by: Seconds | None = None
    ) -> dict[str, Union[worker_service_pb2.HeartbeatResponse, ActionQueueError]]:
        """Heartbeats many ``(run_id, lease_token)`` pairs in one call; maps each run id to its
        ``HeartbeatResponse`` or to the typed error that refused it (e.g. ``LeaseLostError``)."""
        request = worker_service_pb2.BatchHeartbeatRequest()
        for run_id, token in leases:
            item = request.heartbeats.add(run_id=run_id, lease_token=token)
            if extend_by is not None:
                item.extend_by.CopyFrom(duration(extend_by))
        response = self._call(self.workers.BatchHeartbeat, request)
        return {r.run_id: (r.ok if r.WhichOneof("result") == "ok" else from_batch_item_error(r.error)) for r in response.results}

    def complete_attempt(
        self,
        run_id: str,
        lease_token: str,
        attempt_id: str,
        outcome: int | str,
        *,
        output: bytes = b"",
        error: str = "",
    ) -> worker_service_pb2.CompleteAttemptResponse:
        """Finishes the open attempt: ``outcome`` is ``"SUCCESS"`` (with ``output``),
        ``"TERMINAL_FAILURE"``, ``"RETRYABLE_FAILURE"``, ``"TIMEOUT"`` or ``"SUSPENDED"`` (with
        ``error`` as the text or reason), or the ``run_pb2.ATTEMPT_OUTCOME_*`` number.
        Raises ``LeaseLostError``, ``AttemptError`` (mismatch, no active attempt)."""
        request = worker_service_pb2.CompleteAttemptRequest(
            run_id=run_id,
            lease_token=lease_token,
            attempt_id=attempt_id,
            outcome=enum_value(run_pb2.AttemptOutcome, _OUTCOME, outcome),
            output=output,
            error=error,
        )
        return self._call(self.workers.CompleteAttempt, request)

    def release_lease(self, run_id: str, lease_token: str) -> run_pb2.Run:
        """Gives a LEASED (not started) run back to READY without spending an attempt."""
        return self._call(self.workers.ReleaseLease, worker_service_pb2.ReleaseLeaseRequest(run_id=run_id, lease_token=lease_token)).run
