from actionqueue.v1 import run_pb2 as _run_pb2
from actionqueue.v1 import task_pb2 as _task_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
STOP_REASON_CANCELED: StopReason
STOP_REASON_SUSPENDED: StopReason
STOP_REASON_UNSPECIFIED: StopReason

class BatchCompleteAttemptsRequest(_message.Message):
    __slots__ = ["completions"]
    COMPLETIONS_FIELD_NUMBER: _ClassVar[int]
    completions: _containers.RepeatedCompositeFieldContainer[CompleteAttemptRequest]
    def __init__(self, completions: _Optional[_Iterable[_Union[CompleteAttemptRequest, _Mapping]]] = ...) -> None: ...

class BatchCompleteAttemptsResponse(_message.Message):
    __slots__ = ["results"]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchCompleteAttemptsResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchCompleteAttemptsResult, _Mapping]]] = ...) -> None: ...

class BatchCompleteAttemptsResult(_message.Message):
    __slots__ = ["error", "ok", "run_id"]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    error: BatchItemError
    ok: CompleteAttemptResponse
    run_id: str
    def __init__(self, run_id: _Optional[str] = ..., ok: _Optional[_Union[CompleteAttemptResponse, _Mapping]] = ..., error: _Optional[_Union[BatchItemError, _Mapping]] = ...) -> None: ...

class BatchHeartbeatRequest(_message.Message):
    __slots__ = ["heartbeats"]
    HEARTBEATS_FIELD_NUMBER: _ClassVar[int]
    heartbeats: _containers.RepeatedCompositeFieldContainer[HeartbeatRequest]
    def __init__(self, heartbeats: _Optional[_Iterable[_Union[HeartbeatRequest, _Mapping]]] = ...) -> None: ...

class BatchHeartbeatResponse(_message.Message):
    __slots__ = ["results"]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchHeartbeatResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchHeartbeatResult, _Mapping]]] = ...) -> None: ...

class BatchHeartbeatResult(_message.Message):
    __slots__ = ["error", "ok", "run_id"]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    error: BatchItemError
    ok: HeartbeatResponse
    run_id: str
    def __init__(self, run_id: _Optional[str] = ..., ok: _Optional[_Union[HeartbeatResponse, _Mapping]] = ..., error: _Optional[_Union[BatchItemError, _Mapping]] = ...) -> None: ...

class BatchItemError(_message.Message):
    __slots__ = ["code", "message", "metadata", "reason"]
    class MetadataEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    metadata: _containers.ScalarMap[str, str]
    reason: str
    def __init__(self, code: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CompleteAttemptRequest(_message.Message):
    __slots__ = ["attempt_id", "error", "lease_token", "outcome", "output", "run_id"]
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    attempt_id: str
    error: str
    lease_token: str
    outcome: _run_pb2.AttemptOutcome
    output: bytes
    run_id: str
    def __init__(self, run_id: _Optional[str] = ..., lease_token: _Optional[str] = ..., attempt_id: _Optional[str] = ..., outcome: _Optional[_Union[_run_pb2.AttemptOutcome, str]] = ..., output: _Optional[bytes] = ..., error: _Optional[str] = ...) -> None: ...

class CompleteAttemptResponse(_message.Message):
    __slots__ = ["attempt", "run"]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    attempt: _run_pb2.Attempt
    run: _run_pb2.Run
    def __init__(self, run: _Optional[_Union[_run_pb2.Run, _Mapping]] = ..., attempt: _Optional[_Union[_run_pb2.Attempt, _Mapping]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ["extend_by", "lease_token", "run_id"]
    EXTEND_BY_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    extend_by: _duration_pb2.Duration
    lease_token: str
    run_id: str
    def __init__(self, run_id: _Optional[str] = ..., lease_token: _Optional[str] = ..., extend_by: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ["lease_expires_at", "state", "stop", "stop_reason"]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    lease_expires_at: _timestamp_pb2.Timestamp
    state: _run_pb2.RunState
    stop: bool
    stop_reason: StopReason
    def __init__(self, lease_expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[_run_pb2.RunState, str]] = ..., stop: bool = ..., stop_reason: _Optional[_Union[StopReason, str]] = ...) -> None: ...

class LeaseRunsRequest(_message.Message):
    __slots__ = ["capabilities", "lease_duration", "max_runs", "queues", "start_attempt", "wait", "worker_id"]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    LEASE_DURATION_FIELD_NUMBER: _ClassVar[int]
    MAX_RUNS_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    START_ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    lease_duration: _duration_pb2.Duration
    max_runs: int
    queues: _containers.RepeatedScalarFieldContainer[str]
    start_attempt: bool
    wait: _duration_pb2.Duration
    worker_id: str
    def __init__(self, queues: _Optional[_Iterable[str]] = ..., worker_id: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., max_runs: _Optional[int] = ..., lease_duration: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., wait: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., start_attempt: bool = ...) -> None: ...

class LeaseRunsResponse(_message.Message):
    __slots__ = ["paused_queues", "runs"]
    PAUSED_QUEUES_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    paused_queues: _containers.RepeatedScalarFieldContainer[str]
    runs: _containers.RepeatedCompositeFieldContainer[LeasedRun]
    def __init__(self, runs: _Optional[_Iterable[_Union[LeasedRun, _Mapping]]] = ..., paused_queues: _Optional[_Iterable[str]] = ...) -> None: ...

class LeasedRun(_message.Message):
    __slots__ = ["attempt", "lease_expires_at", "lease_token", "run", "task"]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    attempt: _run_pb2.Attempt
    lease_expires_at: _timestamp_pb2.Timestamp
    lease_token: str
    run: _run_pb2.Run
    task: _task_pb2.Task
    def __init__(self, run: _Optional[_Union[_run_pb2.Run, _Mapping]] = ..., task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ..., lease_token: _Optional[str] = ..., lease_expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., attempt: _Optional[_Union[_run_pb2.Attempt, _Mapping]] = ...) -> None: ...

class ReleaseLeaseRequest(_message.Message):
    __slots__ = ["lease_token", "run_id"]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    lease_token: str
    run_id: str
    def __init__(self, run_id: _Optional[str] = ..., lease_token: _Optional[str] = ...) -> None: ...

class ReleaseLeaseResponse(_message.Message):
    __slots__ = ["run"]
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: _run_pb2.Run
    def __init__(self, run: _Optional[_Union[_run_pb2.Run, _Mapping]] = ...) -> None: ...

class StartAttemptRequest(_message.Message):
    __slots__ = ["lease_token", "run_id"]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    lease_token: str
    run_id: str
    def __init__(self, run_id: _Optional[str] = ..., lease_token: _Optional[str] = ...) -> None: ...

class StartAttemptResponse(_message.Message):
    __slots__ = ["attempt", "run"]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    attempt: _run_pb2.Attempt
    run: _run_pb2.Run
    def __init__(self, run: _Optional[_Union[_run_pb2.Run, _Mapping]] = ..., attempt: _Optional[_Union[_run_pb2.Attempt, _Mapping]] = ...) -> None: ...

class StopReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
