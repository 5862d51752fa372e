"""What the Client puts on the wire besides the request: the bearer token. The ActionQueue
server under test does not check tokens yet, so a local grpcio server records the metadata."""

from __future__ import annotations

import threading
import unittest
from concurrent import futures

import grpc

from actionqueue.v1 import run_pb2, run_service_pb2
from actionqueue_client import Client


class RecordingServer:
    """A grpcio server that answers GetRun and WatchRuns and records each call's metadata."""

    def __init__(self) -> None:
        self.metadata: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        handlers = {
            "GetRun": grpc.unary_unary_rpc_method_handler(
                self._get_run,
                request_deserializer=run_service_pb2.GetRunRequest.FromString,
                response_serializer=run_service_pb2.GetRunResponse.SerializeToString,
            ),
            "WatchRuns": grpc.unary_stream_rpc_method_handler(
                self._watch,
                request_deserializer=run_service_pb2.WatchRunsRequest.FromString,
                response_serializer=run_service_pb2.WatchRunsResponse.SerializeToString,
            ),
        }
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("actionqueue.v1.RunService", handlers),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _record(self, name: str, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.metadata[name] = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}

    def _get_run(self, request, context):  # type: ignore[no-untyped-def]
        self._record("GetRun", context)
        return run_service_pb2.GetRunResponse(run=run_pb2.Run(id=request.run_id))

    def _watch(self, request, context):  # type: ignore[no-untyped-def]
        self._record("WatchRuns", context)
        yield run_service_pb2.WatchRunsResponse(event=run_pb2.RunEvent(revision=request.start_revision, run_id="r"))


class TransportTest(unittest.TestCase):
    def setUp(self) -> None:
        self.fake = RecordingServer()
        self.addCleanup(self.fake.server.stop, None)

    def test_token_is_sent_as_bearer_authorization_on_unary_and_stream_calls(self) -> None:
        with Client(f"http://127.0.0.1:{self.fake.port}", token="s3cret") as client:
            self.assertEqual(client.get_run("r1").run.id, "r1")
            with client.watch_runs(from_revision=7) as stream:
                event = next(iter(stream))
        self.assertEqual(event.revision, 7)
        self.assertEqual(self.fake.metadata["GetRun"].get("authorization"), "Bearer s3cret")
        self.assertEqual(self.fake.metadata["WatchRuns"].get("authorization"), "Bearer s3cret")

    def test_no_token_sends_no_authorization(self) -> None:
        with Client(f"127.0.0.1:{self.fake.port}") as client:
            client.get_run("r1")
        self.assertNotIn("authorization", self.fake.metadata["GetRun"])


if __name__ == "__main__":
    unittest.main()
