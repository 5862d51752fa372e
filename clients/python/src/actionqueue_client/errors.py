"""Typed errors decoded from the details ActionQueue attaches to every failed call.

The server (src/server/errors.ts) sends a ``google.rpc.Status`` in the ``grpc-status-details-bin``
trailer. It always holds a ``google.rpc.ErrorInfo`` with domain ``actionqueue.v1``, the reason
as ``reason`` (one of proto/actionqueue/v1/errors.proto's names without the
``ERROR_REASON_`` prefix, e.g. ``"LEASE_LOST"``) and the ids involved as ``metadata``; field
validation failures add a ``google.rpc.BadRequest``. :func:`from_rpc_error` turns a
``grpc.RpcError`` into one :class:`ActionQueueError` subclass per reason a caller branches on;
the original ``grpc.RpcError`` is kept as ``__cause__``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import grpc

from ._rpc_status import error_details_pb2, status_pb2

#: ``ErrorInfo.domain`` of every ActionQueue error.
ERROR_DOMAIN = "actionqueue.v1"

_STATUS_DETAILS_KEY = "grpc-status-details-bin"
_CODES_BY_NUMBER = {c.value[0]: c for c in grpc.StatusCode}


@dataclass(frozen=True)
class FieldViolation:
    """One malformed field of a request, from ``google.rpc.BadRequest``.

    ``field`` is a path such as ``"spec.queue"`` or ``"tasks[3].spec.queue"``.
    """

    field: str
    description: str


class ActionQueueError(Exception):
    """A failed ActionQueue call.

    Attributes:
        code: the gRPC status code (``grpc.StatusCode``).
        reason: the ErrorInfo reason, UPPER_SNAKE_CASE (``"LEASE_LOST"``); ``""`` when the
            failure did not come from ActionQueue (connection refused, deadline exceeded, ...).
        message: the status message.
        metadata: the ids involved (``run_id``, ``task_id``, ...), as strings.
        field_violations: the BadRequest field violations (empty unless INVALID_ARGUMENT).
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        metadata: Mapping[str, str] | None = None,
        field_violations: list[FieldViolation] | None = None,
    ) -> None:
        super().__init__(f"[{code.name}{' ' + reason if reason else ''}] {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.metadata: dict[str, str] = dict(metadata or {})
        self.field_violations: list[FieldViolation] = list(field_violations or [])


class InvalidArgumentError(ActionQueueError):
    """INVALID_ARGUMENT: malformed or out-of-range fields; see ``field_violations``."""

    @property
    def fields(self) -> list[str]:
        """The paths of the fields at fault, in the server's order."""
        return [v.field for v in self.field_violations]


class MalformedMessageError(ActionQueueError):
    """INVALID_ARGUMENT (MALFORMED_MESSAGE): the request bytes could not be decoded."""


class _RunError(ActionQueueError):
    @property
    def run_id(self) -> str:
        """The run concerned (``metadata["run_id"]``)."""
        return self.metadata.get("run_id", "")


class _TaskError(ActionQueueError):
    @property
    def task_id(self) -> str:
        """The task concerned (``metadata["task_id"]``)."""
        return self.metadata.get("task_id", "")


class TaskNotFoundError(_TaskError):
    """NOT_FOUND (TASK_NOT_FOUND): no task with that id, or it was purged."""


class RunNotFoundError(_RunError):
    """NOT_FOUND (RUN_NOT_FOUND): no run with that id, or it was purged."""


class TaskConflictError(_TaskError):
    """ALREADY_EXISTS (TASK_CONFLICT): the task id exists with a different spec."""


class TaskIdReservedError(_TaskError):
    """ALREADY_EXISTS (TASK_ID_RESERVED): the id belonged to a recently purged task."""


class InvalidTransitionError(_RunError):
    """FAILED_PRECONDITION (INVALID_TRANSITION): the run's state does not allow the change."""


class LeaseLostError(_RunError):
    """FAILED_PRECONDITION (LEASE_LOST): the lease token no longer owns the run."""


class RunTerminalError(_RunError):
    """FAILED_PRECONDITION (RUN_TERMINAL): the run is COMPLETED or FAILED."""


class TaskTerminalError(_TaskError):
    """FAILED_PRECONDITION (TASK_TERMINAL): the task is terminal."""


class AttemptError(_RunError):
    """FAILED_PRECONDITION about attempts: ATTEMPT_MISMATCH, NO_ACTIVE_ATTEMPT,
    ATTEMPT_ALREADY_ACTIVE, ATTEMPT_REQUIRES_RUNNING, ATTEMPT_IN_PROGRESS or
    ATTEMPT_COUNT_OVERFLOW (see ``reason``)."""


class KeyFullError(ActionQueueError):
    """FAILED_PRECONDITION (KEY_FULL): the concurrency key has no free slot."""


class QueuePausedError(ActionQueueError):
    """FAILED_PRECONDITION (QUEUE_PAUSED): every requested queue is paused."""


class EnginePausedError(ActionQueueError):
    """FAILED_PRECONDITION (ENGINE_PAUSED): the engine is paused."""


class RevisionPurgedError(ActionQueueError):
    """OUT_OF_RANGE (REVISION_PURGED): the watch's start revision was purged."""

    @property
    def oldest_revision(self) -> int:
        """The oldest revision still retained; resume a watch from it."""
        return int(self.metadata.get("oldest_revision", "0") or 0)


class WatchTooSlowError(ActionQueueError):
    """RESOURCE_EXHAUSTED (WATCH_TOO_SLOW): the watch fell behind; resume from the last
    revision received + 1."""


class ResourceExhaustedError(ActionQueueError):
    """RESOURCE_EXHAUSTED: STORAGE_QUOTA, STORAGE_FULL, MESSAGE_TOO_LARGE or OVERLOADED."""


class UnavailableError(ActionQueueError):
    """UNAVAILABLE: the server is shutting down, a commit failed, or it cannot be reached.
    Retrying later is safe for idempotent calls."""


_BY_REASON: dict[str, type[ActionQueueError]] = {
    "INVALID_ARGUMENT": InvalidArgumentError,
    "MALFORMED_MESSAGE": MalformedMessageError,
    "TASK_NOT_FOUND": TaskNotFoundError,
    "RUN_NOT_FOUND": RunNotFoundError,
    "TASK_CONFLICT": TaskConflictError,
    "TASK_ID_RESERVED": TaskIdReservedError,
    "INVALID_TRANSITION": InvalidTransitionError,
    "LEASE_LOST": LeaseLostError,
    "RUN_TERMINAL": RunTerminalError,
    "TASK_TERMINAL": TaskTerminalError,
    "ATTEMPT_IN_PROGRESS": AttemptError,
    "ATTEMPT_REQUIRES_RUNNING": AttemptError,
    "ATTEMPT_ALREADY_ACTIVE": AttemptError,
    "ATTEMPT_MISMATCH": AttemptError,
    "NO_ACTIVE_ATTEMPT": AttemptError,
    "ATTEMPT_COUNT_OVERFLOW": AttemptError,
    "KEY_FULL": KeyFullError,
    "QUEUE_PAUSED": QueuePausedError,
    "ENGINE_PAUSED": EnginePausedError,
    "REVISION_PURGED": RevisionPurgedError,
    "WATCH_TOO_SLOW": WatchTooSlowError,
    "STORAGE_QUOTA": ResourceExhaustedError,
    "STORAGE_FULL": ResourceExhaustedError,
    "MESSAGE_TOO_LARGE": ResourceExhaustedError,
    "OVERLOADED": ResourceExhaustedError,
    "STORAGE_IO": UnavailableError,
    "SHUTTING_DOWN": UnavailableError,
}

# Without a known reason the code still picks a useful class (e.g. connection refused).
_BY_CODE: dict[grpc.StatusCode, type[ActionQueueError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
}


def make_error(
    code: grpc.StatusCode,
    reason: str,
    message: str,
    metadata: Mapping[str, str] | None = None,
    field_violations: list[FieldViolation] | None = None,
) -> ActionQueueError:
    """Builds the :class:`ActionQueueError` subclass for ``reason`` (or ``code``)."""
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code) or ActionQueueError
    return cls(code, reason, message, metadata, field_violations)


def _details_bytes(err: grpc.RpcError) -> bytes | None:
    trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == _STATUS_DETAILS_KEY:
            return value if isinstance(value, bytes) else None
    return None


def from_rpc_error(err: grpc.RpcError) -> ActionQueueError:
    """Decodes a ``grpc.RpcError`` (unary or stream) into its typed error.

    Never raises: undecodable details leave ``reason`` empty and the code decides the class.
    """
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = (err.details() if hasattr(err, "details") else None) or ""
    reason = ""
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    raw = _details_bytes(err)
    if raw:
        try:
            status = status_pb2.Status.FromString(raw)
        except Exception:  # a foreign or corrupt trailer must not hide the real error
            status = None
        if status is not None:
            message = status.message or message
            if code is None:
                code = _CODES_BY_NUMBER.get(status.code, grpc.StatusCode.UNKNOWN)
            for detail in status.details:
                name = detail.type_url.rsplit("/", 1)[-1]
                if name == "google.rpc.ErrorInfo":
                    info = error_details_pb2.ErrorInfo.FromString(detail.value)
                    if info.domain in ("", ERROR_DOMAIN):
                        reason = info.reason
                        metadata = dict(info.metadata)
                elif name == "google.rpc.BadRequest":
                    bad = error_details_pb2.BadRequest.FromString(detail.value)
                    violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
    error = make_error(code or grpc.StatusCode.UNKNOWN, reason, message, metadata, violations)
    error.__cause__ = err
    return error


def from_batch_item_error(item: object) -> ActionQueueError:
    """Turns a ``BatchItemError`` (one refused item of a batch call) into its typed error."""
    code = _CODES_BY_NUMBER.get(getattr(item, "code", 2), grpc.StatusCode.UNKNOWN)
    return make_error(code, getattr(item, "reason", ""), getattr(item, "message", ""), dict(getattr(item, "metadata", {})))
