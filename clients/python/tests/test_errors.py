"""Decoding of grpc-status-details-bin without a server: the cases a live server does not
produce on demand (foreign domains, corrupt trailers, bare transport errors)."""

from __future__ import annotations

import unittest

import grpc

from actionqueue_client import (
    ActionQueueError,
    LeaseLostError,
    RevisionPurgedError,
    UnavailableError,
    from_rpc_error,
)
from actionqueue_client._rpc_status import error_details_pb2, status_pb2
from actionqueue_client.errors import from_batch_item_error


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, trailers: tuple = ()) -> None:
        self._code, self._details, self._trailers = code, details, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple:
        return self._trailers


def status_trailer(code: grpc.StatusCode, reason: str, domain: str = "actionqueue.v1", **metadata: str) -> tuple:
    status = status_pb2.Status(code=code.value[0], message="from status")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata))
    return (("grpc-status-details-bin", status.SerializeToString()),)


class DecodeTest(unittest.TestCase):
    def test_reason_picks_the_class_and_metadata_carries_the_ids(self) -> None:
        code = grpc.StatusCode.FAILED_PRECONDITION
        err = from_rpc_error(FakeRpcError(code, "x", status_trailer(code, "LEASE_LOST", run_id="r1")))
        self.assertIsInstance(err, LeaseLostError)
        self.assertEqual((err.reason, err.run_id, err.message), ("LEASE_LOST", "r1", "from status"))

    def test_revision_purged_exposes_the_oldest_revision(self) -> None:
        code = grpc.StatusCode.OUT_OF_RANGE
        err = from_rpc_error(FakeRpcError(code, "x", status_trailer(code, "REVISION_PURGED", oldest_revision="42")))
        self.assertIsInstance(err, RevisionPurgedError)
        self.assertEqual(err.oldest_revision, 42)

    def test_error_info_of_another_domain_is_not_taken_as_a_reason(self) -> None:
        code = grpc.StatusCode.FAILED_PRECONDITION
        err = from_rpc_error(FakeRpcError(code, "x", status_trailer(code, "LEASE_LOST", domain="example.com")))
        self.assertIs(type(err), ActionQueueError)
        self.assertEqual(err.reason, "")

    def test_a_corrupt_trailer_keeps_the_code_and_message(self) -> None:
        trailers = (("grpc-status-details-bin", b"\xff\xff\xff"),)
        err = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused", trailers))
        self.assertIsInstance(err, UnavailableError)
        self.assertEqual((err.code, err.reason, err.message), (grpc.StatusCode.UNAVAILABLE, "", "connection refused"))

    def test_batch_item_errors_become_typed_errors(self) -> None:
        from actionqueue.v1 import worker_service_pb2

        item = worker_service_pb2.BatchItemError(code=9, reason="LEASE_LOST", message="m", metadata={"run_id": "r2"})
        err = from_batch_item_error(item)
        self.assertIsInstance(err, LeaseLostError)
        self.assertEqual((err.code, err.run_id), (grpc.StatusCode.FAILED_PRECONDITION, "r2"))


if __name__ == "__main__":
    unittest.main()
