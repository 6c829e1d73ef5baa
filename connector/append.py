"""mode=append: where the existing file ends, so a run adds exactly what came after.

The watermark is read from the finished file itself (never from a side file that could
disagree with it): the header, the last timestamp, and the series already written at
that timestamp. The next export starts AT that timestamp and drops those series' rows,
so series that share or straddle the last timestamp are neither duplicated nor lost.
"""
from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from .arrow_compute import pc
from .errors import DataError, ParameterError
from .timerange import TimeParseError, parse_time

_EPOCH_UNIT_NS = {"epoch_ns": 1, "epoch_ms": 1_000_000, "epoch_s": 1_000_000_000}


@dataclass(frozen=True)
class Watermark:
    header: list[str]
    last_ns: int
    rows_at_end: tuple[tuple[str | None, ...], ...]  # every cell of the rows at last_ns

    def written(self, tag_count: int) -> frozenset[tuple[str | None, ...]]:
        """The series (tag values after the time column) already written at last_ns."""
        return frozenset(row[1:1 + tag_count] for row in self.rows_at_end)


def read_watermark(path: Path, compressed: bool, time_format: str) -> Watermark | None:
    """The existing file's header and end; None when it has a header and no rows."""
    if time_format == "omit":
        raise ParameterError("mode append needs a time column; time_format omit has none")
    try:
        header = _header(path, compressed)
        reader = pacsv.open_csv(  # every column as text: nothing is parsed that is not compared
            pa.input_stream(str(path), compression="gzip" if compressed else None),
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=True,
                null_values=[""]),
        )
        previous = current = None
        for batch in reader:
            if batch.num_rows:
                previous, current = current, batch
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"mode append: cannot read the existing {path.name}: {exc}") from None
    if current is None:
        return None
    tail = [b for b in (previous, current) if b is not None]
    last_text = current.column(0)[-1].as_py()
    rows_at_end: list[tuple[str | None, ...]] = []
    for batch in tail:
        rows = batch.filter(pc.equal(batch.column(0), last_text))
        rows_at_end += zip(*(column.to_pylist() for column in rows.columns))
    return Watermark(header, _time_ns(last_text, time_format, path), tuple(rows_at_end))


def _header(path: Path, compressed: bool) -> list[str]:
    opener = gzip.open if compressed else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:  # type: ignore[operator]
        return next(csv.reader(handle), [])


def _time_ns(text: str, time_format: str, path: Path) -> int:
    try:
        if time_format == "iso":
            return parse_time(text, 0)
        return int(text) * _EPOCH_UNIT_NS[time_format]
    except (TimeParseError, ValueError):
        raise DataError(f"mode append: the last time in {path.name} ({text!r}) is not in the "
                        f"time_format {time_format}; was it written with other settings?") from None
