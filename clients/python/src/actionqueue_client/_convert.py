"""Conversions at the edge between Python values and the wire's well-known types and enums.

Durations are seconds (``int``/``float``) or ``datetime.timedelta``; instants are timezone-aware
``datetime`` (a naive one is read as UTC). Enum values may be given as the generated integer
constant or as the short name without the enum prefix (``"READY"`` for ``RUN_STATE_READY``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterable, Union

from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

#: A duration: seconds, or a ``timedelta``.
Seconds = Union[int, float, timedelta]


def duration(value: Seconds) -> duration_pb2.Duration:
    """A ``google.protobuf.Duration`` from seconds or a ``timedelta``."""
    d = duration_pb2.Duration()
    if isinstance(value, timedelta):
        d.FromTimedelta(value)
    else:
        d.FromNanoseconds(int(round(float(value) * 1e9)))
    return d


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """A ``google.protobuf.Timestamp`` from a ``datetime`` (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    t = timestamp_pb2.Timestamp()
    t.FromDatetime(value.astimezone(timezone.utc))
    return t


def to_datetime(value: timestamp_pb2.Timestamp) -> datetime:
    """A timezone-aware UTC ``datetime`` from a ``google.protobuf.Timestamp``."""
    return value.ToDatetime(tzinfo=timezone.utc)


def enum_value(enum: EnumTypeWrapper, prefix: str, value: int | str) -> int:
    """The number of an enum value given as a number, a full name or a short name.

    Raises ``ValueError`` for an unknown name, so a typo fails here, not as a server error.
    """
    if isinstance(value, int):
        return value
    name = value.upper()
    if not name.startswith(prefix):
        name = prefix + name
    return enum.Value(name)


def enum_values(enum: EnumTypeWrapper, prefix: str, values: Iterable[int | str]) -> list[int]:
    """:func:`enum_value` over a sequence."""
    return [enum_value(enum, prefix, v) for v in values]


def enum_name(enum: EnumTypeWrapper, prefix: str, value: int) -> str:
    """The short name of an enum number (``"READY"``); the number as text when unknown."""
    try:
        return enum.Name(value).removeprefix(prefix)
    except ValueError:
        return str(value)
