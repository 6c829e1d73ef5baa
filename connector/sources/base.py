"""The one shape every source yields, whatever the server API behind it."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np
import pyarrow as pa

from ..timerange import Window

if TYPE_CHECKING:
    from .raw_rows import RawRows, SeriesRuns

TIME_TYPE = pa.timestamp("ns", tz="UTC")
# The time column's name inside a Part: no InfluxDB name can start with NUL, so no tag or
# field (1.x allows a field called "_time") can collide with it.
TIME_COLUMN = "\x00time"
ARROW_TYPES = {
    "float": pa.float64(), "int": pa.int64(), "uint": pa.uint64(), "bool": pa.bool_(), "string": pa.string(),
}


def unify_kinds(kinds: list[str]) -> str:
    """A field stored with several types (across shards or series) gets one column type."""
    unique = set(kinds)
    if len(unique) == 1:
        return kinds[0]
    if unique <= {"float", "int", "uint"}:
        return "float"
    return "string"


def resampled_fields(kinds: dict[str, str | None], selected: tuple[str, ...] | None,
                     agg: str) -> tuple[tuple[str, ...], dict[str, str | None]]:
    """With every: the fields the aggregate can take, and each one's kind after it.

    mean, median, min, max and sum need numbers: a chosen non-numeric field is an error,
    an unchosen one is left out (with a log line)."""
    import logging

    from ..errors import ParameterError

    numeric_only = agg in ("mean", "median", "min", "max", "sum")
    names = [n for n in kinds if selected is None or n in selected]
    if numeric_only:
        refused = [n for n in names if kinds[n] not in ("float", "int", "uint")]
        if selected is not None and refused:
            raise ParameterError(f"agg {agg} needs numeric fields; {', '.join(map(repr, refused))} "
                                 f"{'is' if len(refused) == 1 else 'are'} not (use agg first, last or count)")
        if refused:
            logging.getLogger("connector").info("agg %s: leaving out the non-numeric field(s) %s", agg,
                                                ", ".join(refused))
        names = [n for n in names if n not in refused]
    after = {"mean": "float", "median": "float", "count": "int"}
    return tuple(names), {n: after.get(agg, kinds[n]) for n in names}


def concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Independent planning questions at once: one round trip instead of several (a remote
    server's latency is what they cost). The first failure, in call order, is raised."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="plan") as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


@dataclass(frozen=True, eq=False)
class Part:
    """Rows of one window that share columns: TIME_COLUMN (ns), tags (string), fields.

    Fields are kept as the server's text: CSV writes it as it is, Parquet casts it to
    `fields`' kinds in bulk. A Part is either parsed (`parsed`, an Arrow table) or located
    (`raw`: an unquoted block whose columns become Arrow arrays only when asked for).
    """

    tags: tuple[str, ...]
    fields: dict[str, str]
    parsed: pa.Table | None = None
    # False when the server's text held no double quote at all: then no value holds a comma,
    # a quote or a line break either (the server would have quoted it), and none needs quoting.
    quoted: bool = True
    raw: "RawRows | None" = None

    @cached_property
    def table(self) -> pa.Table:
        if self.parsed is not None:
            return self.parsed
        assert self.raw is not None
        return self.raw.table()

    @property
    def num_rows(self) -> int:
        return self.parsed.num_rows if self.parsed is not None else self.raw.num_rows  # type: ignore[union-attr]

    def located(self, name: str) -> bool:
        """Whether `name` is read straight from the server's bytes (see raw_rows)."""
        return self.parsed is None and self.raw is not None and name in self.raw.cells

    def times(self) -> np.ndarray:
        """Each row's time as int64 ns: a located part has them already, a parsed one casts."""
        if self.parsed is None and self.raw is not None:
            return self.raw.time_ns
        column = self.table.column(TIME_COLUMN)
        if not pa.types.is_integer(column.type):
            column = column.cast(pa.int64())
        return column.to_numpy().astype(np.int64, copy=False)

    def series_runs(self, tags: tuple[str, ...]) -> "SeriesRuns | None":
        """The rows as runs of one series (see RawRows.runs); None for a parsed part."""
        return self.raw.runs(tags) if self.parsed is None and self.raw is not None else None

    def column(self, name: str) -> pa.ChunkedArray | None:
        """One column (None when this part lacks it), without parsing the others."""
        if self.parsed is not None or "table" in self.__dict__:
            table = self.table
            return table.column(name) if name in table.column_names else None
        assert self.raw is not None
        if name == TIME_COLUMN or name in self.raw.cells:
            return pa.chunked_array([self.raw.column(name)])
        return None


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
    """A server API: plan the export, then fetch one window at a time (thread-safe).

    fetch is download then parse; the export runs the two on different threads, so one
    window downloads while the one before it is parsed."""

    api: str

    def describe(self, plan_only: bool = False) -> list[str]: ...

    def plan(self) -> Plan: ...

    def fetch(self, window: Window) -> list[Part]: ...

    def download(self, window: Window) -> bytes: ...

    def parse(self, window: Window, body: bytes) -> list[Part]: ...

    def close(self) -> None: ...
