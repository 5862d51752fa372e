"""The Worker loop against a real server: outputs, outcome mapping, cancellation through the
heartbeat, and a graceful stop."""

from __future__ import annotations

import threading
import unittest

from actionqueue.v1 import run_pb2
from actionqueue_client import Job, NonRetryableError, Worker

from .support import DEADLINE_S, client, unique_queue, wait_for

COMPLETED, FAILED, CANCELED, RETRY_WAIT = (
    run_pb2.RUN_STATE_COMPLETED,
    run_pb2.RUN_STATE_FAILED,
    run_pb2.RUN_STATE_CANCELED,
    run_pb2.RUN_STATE_RETRY_WAIT,
)


class WorkerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = client()
        self.addCleanup(self.client.close)
        self.queue = unique_queue("pyw")

    def start_worker(self, handler, **options) -> Worker:
        # Frequent heartbeats so that a cancel is seen soon; a long lease so that a slow,
        # shared machine never loses one between two heartbeats.
        options = {"concurrency": 4, "lease_duration": 30.0, "heartbeat_interval": 0.5, "poll_wait": 1.0, **options}
        worker = Worker(self.client, [self.queue], handler, **options)
        worker.start()
        self.addCleanup(worker.stop)
        return worker

    def state_of(self, run_id: str) -> int:
        return self.client.get_run(run_id).run.state

    def test_worker_completes_runs_and_stops_a_canceled_one(self) -> None:
        slow_started = threading.Event()
        seen: dict[str, object] = {}

        def handler(job: Job) -> bytes:
            if job.payload == b"slow":
                slow_started.set()
                # Only a cancel can end this wait before the deadline.
                seen["stopped"] = job.stop_event.wait(DEADLINE_S)
                seen["reason"] = job.stop_reason
                return b"too late"
            return job.payload.upper()

        slow = self.client.submit_task(self.queue, b"slow").runs[0].id
        fast = {self.client.submit_task(self.queue, f"fast-{i}".encode()).runs[0].id: f"FAST-{i}".encode() for i in range(3)}
        worker = self.start_worker(handler)

        wait_for("the slow handler to start", slow_started.is_set)
        self.client.cancel_run(slow)
        wait_for("the handler to see the cancel", lambda: "reason" in seen)
        self.assertEqual(seen, {"stopped": True, "reason": "CANCELED"})

        for run_id, output in fast.items():
            wait_for(f"run {run_id} to complete", lambda: self.state_of(run_id) == COMPLETED)
            [attempt] = self.client.list_attempts(run_id)
            self.assertEqual(attempt.output, output)
            self.assertEqual(attempt.worker_id, worker.worker_id)
        worker.stop()
        self.assertEqual(worker.state, "stopped")
        self.assertEqual(self.state_of(slow), CANCELED)
        [attempt] = self.client.list_attempts(slow)
        self.assertEqual(attempt.outcome, run_pb2.ATTEMPT_OUTCOME_CANCELED)
        self.assertEqual(worker.stats["succeeded"], 3)
        self.assertEqual(worker.stats["abandoned"], 1)

    def test_worker_maps_handler_exceptions_to_outcomes(self) -> None:
        def handler(job: Job) -> str:
            if job.payload == b"fatal":
                raise NonRetryableError("bad input")
            if job.payload == b"flaky":
                raise ValueError("try again")
            return "fine"

        fatal = self.client.submit_task(self.queue, b"fatal", max_attempts=3, backoff=0).runs[0].id
        flaky = self.client.submit_task(self.queue, b"flaky", max_attempts=2, backoff=0).runs[0].id
        fine = self.client.submit_task(self.queue, b"fine").runs[0].id
        self.start_worker(handler)

        wait_for("the fatal run to fail", lambda: self.state_of(fatal) == FAILED)
        wait_for("the flaky run to fail", lambda: self.state_of(flaky) == FAILED)
        wait_for("the fine run to complete", lambda: self.state_of(fine) == COMPLETED)

        [only] = self.client.list_attempts(fatal)
        self.assertEqual(only.outcome, run_pb2.ATTEMPT_OUTCOME_TERMINAL_FAILURE)
        self.assertEqual(only.error, "NonRetryableError: bad input")
        retried = self.client.list_attempts(flaky)
        self.assertEqual([a.outcome for a in retried], [run_pb2.ATTEMPT_OUTCOME_RETRYABLE_FAILURE] * 2)
        self.assertEqual({a.error for a in retried}, {"ValueError: try again"})
        self.assertEqual([a.output for a in self.client.list_attempts(fine)], [b"fine"])

    def test_stop_waits_for_running_handlers_and_leaves_no_leased_run(self) -> None:
        started, release = threading.Event(), threading.Event()

        def handler(job: Job) -> bytes:
            started.set()
            release.wait(DEADLINE_S)
            return b"drained"

        run_id = self.client.submit_task(self.queue, b"x").runs[0].id
        worker = self.start_worker(handler, concurrency=1)
        wait_for("the handler to start", started.is_set)

        stopper = threading.Thread(target=worker.stop)
        stopper.start()
        wait_for("the worker to enter stopping", lambda: worker.state == "stopping")
        self.assertTrue(stopper.is_alive(), "stop() waits for the running handler")
        release.set()
        stopper.join(DEADLINE_S)
        self.assertEqual(worker.state, "stopped")
        [attempt] = self.client.list_attempts(run_id)
        self.assertEqual(attempt.output, b"drained")
        busy = list(self.client.list_runs(queue=self.queue, states=["LEASED", "RUNNING"]))
        self.assertEqual(busy, [])

    def test_stop_past_the_drain_deadline_signals_shutdown(self) -> None:
        seen: dict[str, object] = {}

        def handler(job: Job) -> bytes:
            seen["stopped"] = job.stop_event.wait(DEADLINE_S)
            seen["reason"] = job.stop_reason
            raise RuntimeError("interrupted by shutdown")

        run_id = self.client.submit_task(self.queue, b"x", max_attempts=3, backoff=60).runs[0].id
        worker = self.start_worker(handler, concurrency=1, drain_timeout=0.2)
        wait_for("the run to be running", lambda: self.state_of(run_id) == run_pb2.RUN_STATE_RUNNING)
        worker.stop()
        self.assertEqual(seen, {"stopped": True, "reason": "SHUTDOWN"})
        # The interrupted attempt is reported as a retryable failure, not left leased.
        self.assertEqual(self.state_of(run_id), RETRY_WAIT)
        [attempt] = self.client.list_attempts(run_id)
        self.assertEqual(attempt.error, "RuntimeError: interrupted by shutdown")

    def test_worker_stops_a_handler_whose_lease_expired(self) -> None:
        seen: dict[str, object] = {}

        def handler(job: Job) -> bytes:
            seen["stopped"] = job.stop_event.wait(DEADLINE_S)
            seen["reason"] = job.stop_reason
            return b"too late"

        run_id = self.client.submit_task(self.queue, b"x", max_attempts=2, backoff=60).runs[0].id
        # The first heartbeat comes 3 s after a 1 s lease was granted: always too late.
        worker = self.start_worker(handler, concurrency=1, lease_duration=1.0, heartbeat_interval=3.0)
        wait_for("the handler to be stopped", lambda: "reason" in seen)
        self.assertEqual(seen, {"stopped": True, "reason": "LEASE_LOST"})
        worker.stop()
        # The server times the attempt out (its expiry timer may run a little later).
        wait_for("the attempt to be timed out", lambda: self.client.list_attempts(run_id)[0].outcome == run_pb2.ATTEMPT_OUTCOME_TIMEOUT)
        [attempt] = self.client.list_attempts(run_id)
        # The late result was not reported.
        self.assertEqual(attempt.output, b"")
        self.assertEqual(worker.stats["abandoned"], 1)

    def test_worker_refuses_to_run_twice(self) -> None:
        worker = self.start_worker(lambda job: None)
        with self.assertRaisesRegex(RuntimeError, "'running'|'stopping'|'stopped'"):
            worker.run()


if __name__ == "__main__":
    unittest.main()
