"""The Client against a real server: the worker protocol by hand, the attempt ledger, watches
with resume, and the typed errors decoded from grpc-status-details-bin."""

from __future__ import annotations

import unittest
import uuid

import grpc

from actionqueue.v1 import run_pb2, worker_service_pb2
from actionqueue_client import (
    InvalidArgumentError,
    LeaseLostError,
    RunNotFoundError,
    TaskConflictError,
)

from .support import client, drive_to_completion, take, unique_queue

READY, LEASED, RUNNING, COMPLETED, CANCELED = (
    run_pb2.RUN_STATE_READY,
    run_pb2.RUN_STATE_LEASED,
    run_pb2.RUN_STATE_RUNNING,
    run_pb2.RUN_STATE_COMPLETED,
    run_pb2.RUN_STATE_CANCELED,
)


class ClientTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = client()
        self.addCleanup(self.client.close)
        self.queue = unique_queue()

    def test_submit_lease_start_heartbeat_complete_round_trip(self) -> None:
        submitted = self.client.submit_task(self.queue, b"hello", content_type="text/plain")
        self.assertTrue(submitted.created)
        run_id = submitted.runs[0].id
        self.assertEqual(submitted.runs[0].state, READY)

        leased = self.client.lease_runs([self.queue], "py-worker", wait=5.0)
        self.assertEqual([l.run.id for l in leased], [run_id])
        self.assertEqual(leased[0].run.state, LEASED)
        self.assertEqual(leased[0].task.spec.payload.data, b"hello")
        token = leased[0].lease_token

        started = self.client.start_attempt(run_id, token)
        self.assertEqual(started.run.state, RUNNING)
        self.assertEqual(started.attempt.number, 1)

        beat = self.client.heartbeat(run_id, token, extend_by=60)
        self.assertFalse(beat.stop)
        self.assertEqual(beat.state, RUNNING)
        self.assertGreater(beat.lease_expires_at.seconds, 0)

        done = self.client.complete_attempt(run_id, token, started.attempt.id, "SUCCESS", output=b"HELLO")
        self.assertEqual(done.run.state, COMPLETED)
        got = self.client.get_run(run_id)
        self.assertEqual(got.run.state, COMPLETED)
        self.assertEqual([a.output for a in got.attempts], [b"HELLO"])

    def test_attempt_ledger_lists_every_attempt_in_order(self) -> None:
        run_id = self.client.submit_task(self.queue, b"x", max_attempts=3, backoff=0).runs[0].id
        outcomes = ["RETRYABLE_FAILURE", "RETRYABLE_FAILURE", "SUCCESS"]
        for outcome in outcomes:
            # start_attempt=True opens the attempt in the lease's commit.
            leased = self.client.lease_runs([self.queue], f"w-{outcome}", wait=10.0, start_attempt=True)
            self.assertEqual([l.run.id for l in leased], [run_id])
            self.client.complete_attempt(
                run_id,
                leased[0].lease_token,
                leased[0].attempt.id,
                outcome,
                output=b"ok" if outcome == "SUCCESS" else b"",
                error="" if outcome == "SUCCESS" else "boom",
            )
        attempts = self.client.list_attempts(run_id)
        self.assertEqual([a.number for a in attempts], [1, 2, 3])
        self.assertEqual(
            [a.outcome for a in attempts],
            [run_pb2.ATTEMPT_OUTCOME_RETRYABLE_FAILURE, run_pb2.ATTEMPT_OUTCOME_RETRYABLE_FAILURE, run_pb2.ATTEMPT_OUTCOME_SUCCESS],
        )
        self.assertEqual([a.error for a in attempts], ["boom", "boom", ""])
        self.assertEqual([a.worker_id for a in attempts], [f"w-{o}" for o in outcomes])
        self.assertTrue(all(a.counted for a in attempts))
        run = self.client.get_run(run_id).run
        self.assertEqual((run.state, run.attempt_count, run.counted_attempts), (COMPLETED, 3, 3))

    def test_watch_resumes_from_last_revision_without_gap_or_duplicate(self) -> None:
        runs = [self.client.submit_task(self.queue, f"p{i}".encode()).runs[0] for i in range(3)]
        first = runs[0].revision
        drive_to_completion(self.client, self.queue, [r.id for r in runs])
        # CREATED (-> READY), LEASED, RUNNING, COMPLETED for each run.
        expected = 12

        with self.client.watch_runs(queues=[self.queue], from_revision=first) as full_stream:
            full = take(full_stream, expected)
        revisions = [e.revision for e in full]
        self.assertEqual(revisions, sorted(set(revisions)), "revisions strictly increase")
        self.assertEqual(
            sorted((e.run_id, e.to_state) for e in full),
            sorted((r.id, s) for r in runs for s in (READY, LEASED, RUNNING, COMPLETED)),
        )

        # Read part of the history, stop, and resume from the last revision + 1.
        with self.client.watch_runs(queues=[self.queue], from_revision=first) as head_stream:
            head = take(head_stream, 5)
        self.assertEqual(head_stream.last_revision, head[-1].revision)
        with self.client.watch_runs(queues=[self.queue], from_revision=head_stream.last_revision + 1) as tail_stream:
            tail = take(tail_stream, expected - 5)
            self.assertEqual([e.revision for e in head + tail], revisions, "no gap, no duplicate")
            # The resumed stream then goes live.
            late = self.client.submit_task(self.queue, b"late").runs[0]
            [live] = take(tail_stream, 1)
        self.assertEqual((live.run_id, live.type, live.to_state), (late.id, run_pb2.RUN_EVENT_TYPE_CREATED, READY))
        self.assertGreater(live.revision, revisions[-1])

    def test_watch_reports_progress_while_idle(self) -> None:
        run = self.client.submit_task(self.queue, b"p").runs[0]
        with self.client.watch_runs(queues=[self.queue], from_revision=run.revision, progress=True, progress_interval=0.1) as stream:
            event, progress = take(stream, 2)
        self.assertIsInstance(event, run_pb2.RunEvent)
        self.assertEqual(event.run_id, run.id)
        self.assertGreaterEqual(progress.revision, run.revision)
        self.assertEqual(stream.last_revision, progress.revision)

    def test_invalid_argument_carries_field_violations(self) -> None:
        with self.assertRaises(InvalidArgumentError) as caught:
            self.client.submit_task("not a queue!", b"x")
        err = caught.exception
        self.assertEqual(err.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(err.reason, "INVALID_ARGUMENT")
        self.assertEqual(err.fields, ["spec.queue"])
        self.assertTrue(err.field_violations[0].description)
        self.assertIsInstance(err.__cause__, grpc.RpcError)

    def test_unknown_run_is_run_not_found_with_its_id(self) -> None:
        missing = str(uuid.uuid4())
        with self.assertRaises(RunNotFoundError) as caught:
            self.client.get_run(missing)
        err = caught.exception
        self.assertEqual(err.code, grpc.StatusCode.NOT_FOUND)
        self.assertEqual(err.reason, "RUN_NOT_FOUND")
        self.assertEqual(err.run_id, missing)

    def test_stale_lease_token_is_lease_lost(self) -> None:
        run_id = self.client.submit_task(self.queue, b"x").runs[0].id
        [leased] = self.client.lease_runs([self.queue], "py-worker", wait=5.0, start_attempt=True)
        with self.assertRaises(LeaseLostError) as caught:
            self.client.complete_attempt(run_id, "not-the-token", leased.attempt.id, "SUCCESS")
        self.assertEqual(caught.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(caught.exception.run_id, run_id)
        # The owner is unaffected.
        self.client.complete_attempt(run_id, leased.lease_token, leased.attempt.id, "SUCCESS")

    def test_heartbeat_tells_the_worker_to_stop_a_canceled_run(self) -> None:
        run_id = self.client.submit_task(self.queue, b"x").runs[0].id
        [leased] = self.client.lease_runs([self.queue], "py-worker", wait=5.0, start_attempt=True)
        self.assertEqual(self.client.cancel_run(run_id).state, CANCELED)
        beat = self.client.heartbeat(run_id, leased.lease_token)
        self.assertTrue(beat.stop)
        self.assertEqual(beat.stop_reason, worker_service_pb2.STOP_REASON_CANCELED)
        [attempt] = self.client.list_attempts(run_id)
        self.assertEqual(attempt.outcome, run_pb2.ATTEMPT_OUTCOME_CANCELED)

    def test_batch_heartbeat_reports_each_item_on_its_own(self) -> None:
        run_id = self.client.submit_task(self.queue, b"x").runs[0].id
        [leased] = self.client.lease_runs([self.queue], "py-worker", wait=5.0, start_attempt=True)
        other = str(uuid.uuid4())
        results = self.client.batch_heartbeat([(run_id, leased.lease_token), (other, "nope")])
        self.assertFalse(results[run_id].stop)
        self.assertIsInstance(results[other], RunNotFoundError)

    def test_same_task_id_replays_and_different_spec_conflicts(self) -> None:
        task_id = str(uuid.uuid4())
        first = self.client.submit_task(self.queue, b"a", task_id=task_id)
        again = self.client.submit_task(self.queue, b"a", task_id=task_id)
        self.assertEqual((first.created, again.created, again.task.id), (True, False, task_id))
        with self.assertRaises(TaskConflictError) as caught:
            self.client.submit_task(self.queue, b"b", task_id=task_id)
        self.assertEqual(caught.exception.code, grpc.StatusCode.ALREADY_EXISTS)
        self.assertEqual(caught.exception.task_id, task_id)

    def test_list_runs_pages_through_matching_runs_in_order(self) -> None:
        ids = [self.client.submit_task(self.queue, b"x").runs[0].id for _ in range(5)]
        self.client.cancel_run(ids[1])
        listed = [r.id for r in self.client.list_runs(queue=self.queue, page_size=2)]
        self.assertEqual(listed, ids)
        ready = [r.id for r in self.client.list_runs(queue=self.queue, states=["READY"], page_size=2)]
        self.assertEqual(ready, [i for i in ids if i != ids[1]])


if __name__ == "__main__":
    unittest.main()
