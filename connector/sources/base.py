"""The one shape every source yields, whatever the server API behind it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from ..timerange import Window

TIME_TYPE = pa.timestamp("ns", tz="UTC")
# The time column's name inside a Part: no InfluxDB name can start with NUL, so no tag or
# field (1.x allows a field called "_time") can collide with it.
TIME_COLUMN = "\x00time"
ARROW_TYPES = {
    "float": pa.float64(), "int": pa.int64(), "uint": pa.uint64(), "bool": pa.bool_(), "string": pa.string(),
}
FIELD_KINDS = tuple(ARROW_TYPES)


def unify_kinds(kinds: list[str]) -> str:
    """A field stored with several types (across shards or series) gets one column type."""
    unique = set(kinds)
    if len(unique) == 1:
        return kinds[0]
    if unique <= {"float", "int", "uint"}:
        return "float"
    return "string"


@dataclass(frozen=True)
class Part:
    """Rows of one window that share columns: TIME_COLUMN (ns), tags (string), fields.

    Fields are kept as the server's text: CSV writes it as it is, Parquet casts it to
    `fields`' kinds in bulk.
    """

    tags: tuple[str, ...]
    fields: dict[str, str]
    table: pa.Table


@dataclass(frozen=True)
class Plan:
    """What an export will read: its columns, the data's real span, and the windows."""

    tags: tuple[str, ...]
    fields: dict[str, str | None]  # kind, or None where the server does not say up front
    first_ns: int
    last_ns: int

    @property
    def empty(self) -> bool:
        return self.last_ns < self.first_ns


class Source(Protocol):
    """A server API: plan the export, then fetch one window at a time (thread-safe)."""

    api: str

    def describe(self, plan_only: bool = False) -> list[str]: ...

    def plan(self) -> Plan: ...

    def fetch(self, window: Window) -> list[Part]: ...

    def close(self) -> None: ...
