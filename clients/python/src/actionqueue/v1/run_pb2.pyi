from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

ATTEMPT_OUTCOME_CANCELED: AttemptOutcome
ATTEMPT_OUTCOME_RETRYABLE_FAILURE: AttemptOutcome
ATTEMPT_OUTCOME_SUCCESS: AttemptOutcome
ATTEMPT_OUTCOME_SUSPENDED: AttemptOutcome
ATTEMPT_OUTCOME_TERMINAL_FAILURE: AttemptOutcome
ATTEMPT_OUTCOME_TIMEOUT: AttemptOutcome
ATTEMPT_OUTCOME_UNSPECIFIED: AttemptOutcome
DESCRIPTOR: _descriptor.FileDescriptor
KEY_HOLD_HELD: KeyHold
KEY_HOLD_RESERVED: KeyHold
KEY_HOLD_UNSPECIFIED: KeyHold
RUN_EVENT_TYPE_CREATED: RunEventType
RUN_EVENT_TYPE_PRIORITY_CHANGED: RunEventType
RUN_EVENT_TYPE_TRANSITION: RunEventType
RUN_EVENT_TYPE_UNSPECIFIED: RunEventType
RUN_STATE_CANCELED: RunState
RUN_STATE_COMPLETED: RunState
RUN_STATE_FAILED: RunState
RUN_STATE_LEASED: RunState
RUN_STATE_READY: RunState
RUN_STATE_RETRY_WAIT: RunState
RUN_STATE_RUNNING: RunState
RUN_STATE_SCHEDULED: RunState
RUN_STATE_SUSPENDED: RunState
RUN_STATE_UNSPECIFIED: RunState

class Attempt(_message.Message):
    __slots__ = ["counted", "error", "finished_at", "id", "number", "outcome", "output", "run_id", "started_at", "worker_id"]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    counted: bool
    error: str
    finished_at: _timestamp_pb2.Timestamp
    id: str
    number: int
    outcome: AttemptOutcome
    output: bytes
    run_id: str
    started_at: _timestamp_pb2.Timestamp
    worker_id: str
    def __init__(self, id: _Optional[str] = ..., run_id: _Optional[str] = ..., number: _Optional[int] = ..., worker_id: _Optional[str] = ..., outcome: _Optional[_Union[AttemptOutcome, str]] = ..., error: _Optional[str] = ..., output: _Optional[bytes] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., counted: bool = ...) -> None: ...

class AttemptSummary(_message.Message):
    __slots__ = ["error", "id", "number", "outcome", "worker_id"]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    error: str
    id: str
    number: int
    outcome: AttemptOutcome
    worker_id: str
    def __init__(self, id: _Optional[str] = ..., number: _Optional[int] = ..., outcome: _Optional[_Union[AttemptOutcome, str]] = ..., error: _Optional[str] = ..., worker_id: _Optional[str] = ...) -> None: ...

class LeaseInfo(_message.Message):
    __slots__ = ["expires_at", "granted_at", "worker_id"]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    expires_at: _timestamp_pb2.Timestamp
    granted_at: _timestamp_pb2.Timestamp
    worker_id: str
    def __init__(self, worker_id: _Optional[str] = ..., granted_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ["attempt_count", "concurrency_key", "counted_attempts", "created_at", "current_attempt_id", "effective_priority", "id", "key_hold", "last_state_change_at", "lease", "occurrence", "queue", "retry_at", "revision", "scheduled_at", "state", "state_reason", "task_id"]
    ATTEMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    COUNTED_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    KEY_HOLD_FIELD_NUMBER: _ClassVar[int]
    LAST_STATE_CHANGE_AT_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    RETRY_AT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    attempt_count: int
    concurrency_key: str
    counted_attempts: int
    created_at: _timestamp_pb2.Timestamp
    current_attempt_id: str
    effective_priority: int
    id: str
    key_hold: KeyHold
    last_state_change_at: _timestamp_pb2.Timestamp
    lease: LeaseInfo
    occurrence: int
    queue: str
    retry_at: _timestamp_pb2.Timestamp
    revision: int
    scheduled_at: _timestamp_pb2.Timestamp
    state: RunState
    state_reason: str
    task_id: str
    def __init__(self, id: _Optional[str] = ..., task_id: _Optional[str] = ..., queue: _Optional[str] = ..., state: _Optional[_Union[RunState, str]] = ..., occurrence: _Optional[int] = ..., attempt_count: _Optional[int] = ..., counted_attempts: _Optional[int] = ..., current_attempt_id: _Optional[str] = ..., effective_priority: _Optional[int] = ..., scheduled_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., last_state_change_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., retry_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., lease: _Optional[_Union[LeaseInfo, _Mapping]] = ..., concurrency_key: _Optional[str] = ..., key_hold: _Optional[_Union[KeyHold, str]] = ..., revision: _Optional[int] = ..., state_reason: _Optional[str] = ...) -> None: ...

class RunEvent(_message.Message):
    __slots__ = ["attempt", "effective_priority", "from_state", "queue", "reason", "revision", "run_id", "task_id", "time", "to_state", "type"]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TO_STATE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    attempt: AttemptSummary
    effective_priority: int
    from_state: RunState
    queue: str
    reason: str
    revision: int
    run_id: str
    task_id: str
    time: _timestamp_pb2.Timestamp
    to_state: RunState
    type: RunEventType
    def __init__(self, revision: _Optional[int] = ..., type: _Optional[_Union[RunEventType, str]] = ..., run_id: _Optional[str] = ..., task_id: _Optional[str] = ..., queue: _Optional[str] = ..., from_state: _Optional[_Union[RunState, str]] = ..., to_state: _Optional[_Union[RunState, str]] = ..., time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., attempt: _Optional[_Union[AttemptSummary, _Mapping]] = ..., reason: _Optional[str] = ..., effective_priority: _Optional[int] = ...) -> None: ...

class RunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class AttemptOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class KeyHold(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class RunEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
