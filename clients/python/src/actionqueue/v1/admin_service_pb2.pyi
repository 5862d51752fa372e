from actionqueue.v1 import run_pb2 as _run_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConcurrencyKeyInfo(_message.Message):
    __slots__ = ["holders", "key"]
    HOLDERS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    holders: _containers.RepeatedCompositeFieldContainer[KeyHolder]
    key: str
    def __init__(self, key: _Optional[str] = ..., holders: _Optional[_Iterable[_Union[KeyHolder, _Mapping]]] = ...) -> None: ...

class GetCallerRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class GetCallerResponse(_message.Message):
    __slots__ = ["auth_enabled", "methods", "name", "queues", "role"]
    AUTH_ENABLED_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    auth_enabled: bool
    methods: _containers.RepeatedScalarFieldContainer[str]
    name: str
    queues: _containers.RepeatedScalarFieldContainer[str]
    role: str
    def __init__(self, auth_enabled: bool = ..., name: _Optional[str] = ..., role: _Optional[str] = ..., methods: _Optional[_Iterable[str]] = ..., queues: _Optional[_Iterable[str]] = ...) -> None: ...

class GetConcurrencyKeyRequest(_message.Message):
    __slots__ = ["key"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class GetConcurrencyKeyResponse(_message.Message):
    __slots__ = ["key"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: ConcurrencyKeyInfo
    def __init__(self, key: _Optional[_Union[ConcurrencyKeyInfo, _Mapping]] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ["queues"]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, queues: _Optional[_Iterable[str]] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ["engine_paused", "oldest_revision", "queues", "revision", "started_at", "storage_bytes", "storage_quota_bytes", "tasks", "total"]
    ENGINE_PAUSED_FIELD_NUMBER: _ClassVar[int]
    OLDEST_REVISION_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    STORAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    STORAGE_QUOTA_BYTES_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    engine_paused: bool
    oldest_revision: int
    queues: _containers.RepeatedCompositeFieldContainer[QueueStats]
    revision: int
    started_at: _timestamp_pb2.Timestamp
    storage_bytes: int
    storage_quota_bytes: int
    tasks: int
    total: RunCounts
    def __init__(self, queues: _Optional[_Iterable[_Union[QueueStats, _Mapping]]] = ..., total: _Optional[_Union[RunCounts, _Mapping]] = ..., engine_paused: bool = ..., revision: _Optional[int] = ..., oldest_revision: _Optional[int] = ..., storage_bytes: _Optional[int] = ..., storage_quota_bytes: _Optional[int] = ..., tasks: _Optional[int] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class KeyHolder(_message.Message):
    __slots__ = ["hold", "run_id", "since", "slots", "state"]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    hold: _run_pb2.KeyHold
    run_id: str
    since: _timestamp_pb2.Timestamp
    slots: int
    state: _run_pb2.RunState
    def __init__(self, run_id: _Optional[str] = ..., hold: _Optional[_Union[_run_pb2.KeyHold, str]] = ..., since: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[_run_pb2.RunState, str]] = ..., slots: _Optional[int] = ...) -> None: ...

class ListConcurrencyKeysRequest(_message.Message):
    __slots__ = ["page_size", "page_token"]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConcurrencyKeysResponse(_message.Message):
    __slots__ = ["keys", "next_page_token"]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ConcurrencyKeyInfo]
    next_page_token: str
    def __init__(self, keys: _Optional[_Iterable[_Union[ConcurrencyKeyInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PauseEngineRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class PauseEngineResponse(_message.Message):
    __slots__ = ["paused"]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    paused: bool
    def __init__(self, paused: bool = ...) -> None: ...

class PauseQueueRequest(_message.Message):
    __slots__ = ["queue"]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    def __init__(self, queue: _Optional[str] = ...) -> None: ...

class PauseQueueResponse(_message.Message):
    __slots__ = ["queue"]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: QueueInfo
    def __init__(self, queue: _Optional[_Union[QueueInfo, _Mapping]] = ...) -> None: ...

class QueueInfo(_message.Message):
    __slots__ = ["burst", "name", "paused", "runs_per_second"]
    BURST_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    RUNS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    burst: int
    name: str
    paused: bool
    runs_per_second: float
    def __init__(self, name: _Optional[str] = ..., paused: bool = ..., runs_per_second: _Optional[float] = ..., burst: _Optional[int] = ...) -> None: ...

class QueueStats(_message.Message):
    __slots__ = ["oldest_ready_at", "queue", "runs"]
    OLDEST_READY_AT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    oldest_ready_at: _timestamp_pb2.Timestamp
    queue: QueueInfo
    runs: RunCounts
    def __init__(self, queue: _Optional[_Union[QueueInfo, _Mapping]] = ..., runs: _Optional[_Union[RunCounts, _Mapping]] = ..., oldest_ready_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ResumeEngineRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ResumeEngineResponse(_message.Message):
    __slots__ = ["paused"]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    paused: bool
    def __init__(self, paused: bool = ...) -> None: ...

class ResumeQueueRequest(_message.Message):
    __slots__ = ["queue"]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    def __init__(self, queue: _Optional[str] = ...) -> None: ...

class ResumeQueueResponse(_message.Message):
    __slots__ = ["queue"]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: QueueInfo
    def __init__(self, queue: _Optional[_Union[QueueInfo, _Mapping]] = ...) -> None: ...

class RunCounts(_message.Message):
    __slots__ = ["canceled", "completed", "failed", "leased", "ready", "retry_wait", "running", "scheduled", "suspended"]
    CANCELED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    LEASED_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    RETRY_WAIT_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    canceled: int
    completed: int
    failed: int
    leased: int
    ready: int
    retry_wait: int
    running: int
    scheduled: int
    suspended: int
    def __init__(self, scheduled: _Optional[int] = ..., ready: _Optional[int] = ..., leased: _Optional[int] = ..., running: _Optional[int] = ..., retry_wait: _Optional[int] = ..., suspended: _Optional[int] = ..., completed: _Optional[int] = ..., failed: _Optional[int] = ..., canceled: _Optional[int] = ...) -> None: ...

class SetQueueRateLimitRequest(_message.Message):
    __slots__ = ["burst", "queue", "runs_per_second"]
    BURST_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    RUNS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    burst: int
    queue: str
    runs_per_second: float
    def __init__(self, queue: _Optional[str] = ..., runs_per_second: _Optional[float] = ..., burst: _Optional[int] = ...) -> None: ...

class SetQueueRateLimitResponse(_message.Message):
    __slots__ = ["queue"]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: QueueInfo
    def __init__(self, queue: _Optional[_Union[QueueInfo, _Mapping]] = ...) -> None: ...
