"""ActionQueue client for Python: a thin wrapper over the gRPC stubs generated from the
service's protos (package ``actionqueue.v1``, shipped in this distribution).

    from actionqueue_client import Client, Worker

    with Client("127.0.0.1:50051") as client:
        run = client.submit_task("emails", b'{"to": "a@example.com"}').runs[0]

See README.md for the worker loop, errors and watches.
"""

from .client import Client
from .errors import (
    ERROR_DOMAIN,
    ActionQueueError,
    AttemptError,
    EnginePausedError,
    FieldViolation,
    InvalidArgumentError,
    InvalidTransitionError,
    KeyFullError,
    LeaseLostError,
    MalformedMessageError,
    QueuePausedError,
    ResourceExhaustedError,
    RevisionPurgedError,
    RunNotFoundError,
    RunTerminalError,
    TaskConflictError,
    TaskIdReservedError,
    TaskNotFoundError,
    TaskTerminalError,
    UnavailableError,
    WatchTooSlowError,
    from_rpc_error,
)
from .watch import WatchStream
from .worker import Job, NonRetryableError, SuspendError, Worker

#: Version of this package; the major tracks the proto package it was generated from (actionqueue.v1).
__version__ = "1.0.0"

__all__ = [
    "ERROR_DOMAIN",
    "ActionQueueError",
    "AttemptError",
    "Client",
    "EnginePausedError",
    "FieldViolation",
    "InvalidArgumentError",
    "InvalidTransitionError",
    "Job",
    "KeyFullError",
    "LeaseLostError",
    "MalformedMessageError",
    "NonRetryableError",
    "QueuePausedError",
    "ResourceExhaustedError",
    "RevisionPurgedError",
    "RunNotFoundError",
    "RunTerminalError",
    "SuspendError",
    "TaskConflictError",
    "TaskIdReservedError",
    "TaskNotFoundError",
    "TaskTerminalError",
    "UnavailableError",
    "WatchStream",
    "WatchTooSlowError",
    "Worker",
    "from_rpc_error",
]
