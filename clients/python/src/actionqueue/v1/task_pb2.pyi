from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
HOLD_POLICY_HOLD_DURING_RETRY: HoldPolicy
HOLD_POLICY_RELEASE_ON_RETRY: HoldPolicy
HOLD_POLICY_UNSPECIFIED: HoldPolicy
MISFIRE_POLICY_CATCH_UP: MisfirePolicy
MISFIRE_POLICY_COALESCE: MisfirePolicy
MISFIRE_POLICY_SKIP: MisfirePolicy
MISFIRE_POLICY_UNSPECIFIED: MisfirePolicy
TASK_STATUS_ACTIVE: TaskStatus
TASK_STATUS_CANCELED: TaskStatus
TASK_STATUS_COMPLETED: TaskStatus
TASK_STATUS_FAILED: TaskStatus
TASK_STATUS_UNSPECIFIED: TaskStatus

class Backoff(_message.Message):
    __slots__ = ["exponential", "fixed"]
    EXPONENTIAL_FIELD_NUMBER: _ClassVar[int]
    FIXED_FIELD_NUMBER: _ClassVar[int]
    exponential: ExponentialBackoff
    fixed: FixedBackoff
    def __init__(self, fixed: _Optional[_Union[FixedBackoff, _Mapping]] = ..., exponential: _Optional[_Union[ExponentialBackoff, _Mapping]] = ...) -> None: ...

class Concurrency(_message.Message):
    __slots__ = ["hold_policy", "key", "slots"]
    HOLD_POLICY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    hold_policy: HoldPolicy
    key: str
    slots: int
    def __init__(self, key: _Optional[str] = ..., slots: _Optional[int] = ..., hold_policy: _Optional[_Union[HoldPolicy, str]] = ...) -> None: ...

class Constraints(_message.Message):
    __slots__ = ["attempt_timeout", "backoff", "concurrency", "max_attempts", "required_capabilities"]
    ATTEMPT_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    attempt_timeout: _duration_pb2.Duration
    backoff: Backoff
    concurrency: Concurrency
    max_attempts: int
    required_capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, max_attempts: _Optional[int] = ..., attempt_timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., backoff: _Optional[_Union[Backoff, _Mapping]] = ..., concurrency: _Optional[_Union[Concurrency, _Mapping]] = ..., required_capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class CronPolicy(_message.Message):
    __slots__ = ["expression", "max_occurrences", "misfire_policy", "start_at", "time_zone"]
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    MAX_OCCURRENCES_FIELD_NUMBER: _ClassVar[int]
    MISFIRE_POLICY_FIELD_NUMBER: _ClassVar[int]
    START_AT_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    expression: str
    max_occurrences: int
    misfire_policy: MisfirePolicy
    start_at: _timestamp_pb2.Timestamp
    time_zone: str
    def __init__(self, expression: _Optional[str] = ..., time_zone: _Optional[str] = ..., max_occurrences: _Optional[int] = ..., misfire_policy: _Optional[_Union[MisfirePolicy, str]] = ..., start_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ExponentialBackoff(_message.Message):
    __slots__ = ["base", "jitter", "max"]
    BASE_FIELD_NUMBER: _ClassVar[int]
    JITTER_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    base: _duration_pb2.Duration
    jitter: bool
    max: _duration_pb2.Duration
    def __init__(self, base: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., max: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., jitter: bool = ...) -> None: ...

class FixedBackoff(_message.Message):
    __slots__ = ["interval"]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    interval: _duration_pb2.Duration
    def __init__(self, interval: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class OncePolicy(_message.Message):
    __slots__ = ["start_at"]
    START_AT_FIELD_NUMBER: _ClassVar[int]
    start_at: _timestamp_pb2.Timestamp
    def __init__(self, start_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Payload(_message.Message):
    __slots__ = ["content_type", "data"]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    data: bytes
    def __init__(self, data: _Optional[bytes] = ..., content_type: _Optional[str] = ...) -> None: ...

class RepeatPolicy(_message.Message):
    __slots__ = ["count", "interval", "start_at"]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    START_AT_FIELD_NUMBER: _ClassVar[int]
    count: int
    interval: _duration_pb2.Duration
    start_at: _timestamp_pb2.Timestamp
    def __init__(self, count: _Optional[int] = ..., interval: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., start_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RunPolicy(_message.Message):
    __slots__ = ["cron", "once", "repeat"]
    CRON_FIELD_NUMBER: _ClassVar[int]
    ONCE_FIELD_NUMBER: _ClassVar[int]
    REPEAT_FIELD_NUMBER: _ClassVar[int]
    cron: CronPolicy
    once: OncePolicy
    repeat: RepeatPolicy
    def __init__(self, once: _Optional[_Union[OncePolicy, _Mapping]] = ..., repeat: _Optional[_Union[RepeatPolicy, _Mapping]] = ..., cron: _Optional[_Union[CronPolicy, _Mapping]] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ["created_at", "depth", "id", "next_occurrence_at", "pending_dependencies", "runs_derived", "spec", "status", "status_changed_at", "status_reason"]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NEXT_OCCURRENCE_AT_FIELD_NUMBER: _ClassVar[int]
    PENDING_DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    RUNS_DERIVED_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATUS_CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    created_at: _timestamp_pb2.Timestamp
    depth: int
    id: str
    next_occurrence_at: _timestamp_pb2.Timestamp
    pending_dependencies: int
    runs_derived: int
    spec: TaskSpec
    status: TaskStatus
    status_changed_at: _timestamp_pb2.Timestamp
    status_reason: str
    def __init__(self, id: _Optional[str] = ..., spec: _Optional[_Union[TaskSpec, _Mapping]] = ..., status: _Optional[_Union[TaskStatus, str]] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., status_changed_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., runs_derived: _Optional[int] = ..., status_reason: _Optional[str] = ..., pending_dependencies: _Optional[int] = ..., depth: _Optional[int] = ..., next_occurrence_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TaskMetadata(_message.Message):
    __slots__ = ["description", "priority", "tags"]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    description: str
    priority: int
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, priority: _Optional[int] = ..., tags: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ...) -> None: ...

class TaskSpec(_message.Message):
    __slots__ = ["constraints", "depends_on", "metadata", "parent_task_id", "payload", "policy", "queue"]
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PARENT_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    constraints: Constraints
    depends_on: _containers.RepeatedScalarFieldContainer[str]
    metadata: TaskMetadata
    parent_task_id: str
    payload: Payload
    policy: RunPolicy
    queue: str
    def __init__(self, queue: _Optional[str] = ..., payload: _Optional[_Union[Payload, _Mapping]] = ..., policy: _Optional[_Union[RunPolicy, _Mapping]] = ..., constraints: _Optional[_Union[Constraints, _Mapping]] = ..., metadata: _Optional[_Union[TaskMetadata, _Mapping]] = ..., parent_task_id: _Optional[str] = ..., depends_on: _Optional[_Iterable[str]] = ...) -> None: ...

class MisfirePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class HoldPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class TaskStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
