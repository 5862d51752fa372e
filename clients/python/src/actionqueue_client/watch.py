"""``WatchRuns`` as a Python iterator that remembers where to resume."""

from __future__ import annotations

import threading
from typing import Any, Iterator, Union

import grpc

from actionqueue.v1 import run_pb2, run_service_pb2

from .errors import from_rpc_error

#: What a :class:`WatchStream` yields: events, and progress when asked for.
WatchItem = Union[run_pb2.RunEvent, run_service_pb2.WatchProgress]


class WatchStream:
    """An open ``WatchRuns`` stream: iterate it for ``RunEvent`` messages in revision order.

    Batches (``max_events_per_message`` > 1) are flattened into single events. With
    ``progress=True`` the iterator also yields ``WatchProgress`` messages, which an idle
    watcher can use to checkpoint. ``last_revision`` is the highest revision the stream has
    covered (events and progress): to resume after :meth:`close` or an error, open a new
    watch with ``from_revision=stream.last_revision + 1`` — the server then sends every later
    matching event exactly once.

    Errors while iterating are raised as :class:`~actionqueue_client.errors.ActionQueueError`
    (``WatchTooSlowError``, ``RevisionPurgedError``, ``UnavailableError`` on shutdown...).
    Closing the stream (also from another thread) ends the iteration quietly.
    """

    def __init__(self, call: Any, *, from_revision: int, progress: bool) -> None:
        self._call = call
        self._progress = progress
        self._closed = threading.Event()
        #: The highest revision covered so far; ``from_revision - 1`` before any message.
        self.last_revision: int = max(from_revision - 1, 0)

    def __iter__(self) -> Iterator[WatchItem]:
        try:
            for message in self._call:
                kind = message.WhichOneof("kind")
                if kind == "event":
                    self.last_revision = max(self.last_revision, message.event.revision)
                    yield message.event
                elif kind == "events":
                    for event in message.events.events:
                        self.last_revision = max(self.last_revision, event.revision)
                        yield event
                elif kind == "progress":
                    self.last_revision = max(self.last_revision, message.progress.revision)
                    if self._progress:
                        yield message.progress
        except grpc.RpcError as err:
            if self._closed.is_set() and err.code() == grpc.StatusCode.CANCELLED:
                return
            raise from_rpc_error(err) from err

    def close(self) -> None:
        """Cancels the stream; safe to call more than once and from any thread."""
        self._closed.set()
        self._call.cancel()

    def __enter__(self) -> "WatchStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
