"""The google.rpc messages that decode ``grpc-status-details-bin``.

googleapis-common-protos (``google.rpc``) is used when it is installed, because it registers
the same proto files in protobuf's default descriptor pool and two registrations of one file
with different bytes conflict. Otherwise the copy generated into ``actionqueue_client._gen``
(from third_party/proto, by buf.gen.python.yaml) is used: Debian has no package for it, and a
top-level ``google`` folder of our own would shadow the real ``google.protobuf``.
"""

from __future__ import annotations

try:  # pragma: no cover - depends on what is installed
    from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-not-found]
except ImportError:  # the common case on Debian
    from ._gen.google.rpc import error_details_pb2, status_pb2

__all__ = ["error_details_pb2", "status_pb2"]
