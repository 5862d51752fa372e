"""Shared helpers of the tests: the server under test, unique queue names, polling.

The tests talk to a real ActionQueue server; its address comes from ACTIONQUEUE_TARGET
(``host:port`` or ``http://host:port``). test/clients/python.test.ts starts one and sets it.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Callable, Iterable, TypeVar

from actionqueue_client import Client, WatchStream

T = TypeVar("T")

# Generous: the machine is shared, and no test may depend on its speed.
DEADLINE_S = 60.0


def target() -> str:
    """The server address; a missing variable is an error, not a skip, so CI cannot pass
    without running the tests."""
    value = os.environ.get("ACTIONQUEUE_TARGET", "")
    if not value:
        raise RuntimeError("set ACTIONQUEUE_TARGET to the address of a running ActionQueue server")
    return value


def client() -> Client:
    """A client of the server under test."""
    return Client(target())


def unique_queue(prefix: str = "py") -> str:
    """A queue no other test uses, so that leases and watches see only this test's runs."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = DEADLINE_S) -> T:
    """Polls ``probe`` until it returns something truthy; fails naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def take(stream: WatchStream, count: int, timeout: float = DEADLINE_S) -> list:
    """The next ``count`` items of a watch; the stream is closed at the deadline so that a
    missing event fails the test instead of hanging it."""
    watchdog = threading.Timer(timeout, stream.close)
    watchdog.daemon = True
    watchdog.start()
    items = []
    try:
        if count > 0:
            for item in stream:
                items.append(item)
                if len(items) == count:
                    break
    finally:
        watchdog.cancel()
    if len(items) < count:
        raise AssertionError(f"the watch delivered {len(items)} of {count} items before the deadline")
    return items


def drive_to_completion(c: Client, queue: str, runs: Iterable[str], worker_id: str = "py-test") -> None:
    """Leases, starts and completes (SUCCESS) each of ``runs`` by hand."""
    pending = set(runs)
    deadline = time.monotonic() + DEADLINE_S
    while pending:
        if time.monotonic() >= deadline:
            raise AssertionError(f"runs never leased: {sorted(pending)}")
        for leased in c.lease_runs([queue], worker_id, max_runs=len(pending), wait=1.0):
            started = c.start_attempt(leased.run.id, leased.lease_token)
            c.complete_attempt(leased.run.id, leased.lease_token, started.attempt.id, "SUCCESS", output=leased.task.spec.payload.data)
            pending.discard(leased.run.id)
