"""The order of a window's rows in the file: by time, then by every tag value (no tag first).

It makes the file the same whatever order the server sent series in. A 2.x answer is a
table per series, so a located block's rows come as runs of one series (RawRows.runs):
each run's tags are ranked once and the runs' sorted times merged. Anything else is
sorted by Arrow on (time, tag text). Both sorts are stable: rows that tie keep the order
of the parts.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from .arrow_compute import pc
from .sources.base import TIME_COLUMN, Part


def row_order(parts: list[Part], tags: tuple[str, ...]) -> tuple[np.ndarray | None, np.ndarray]:
    """The rows' order (time, then every tag) and their times; None when already in order:
    one part whose times strictly increase (one series, or 1.x's merge without ties)."""
    by_runs = _order_by_runs(parts, tags)
    if by_runs is not None:
        return by_runs
    keys = _sort_keys(parts, tags)
    times = keys.column("time").to_numpy()
    if _in_order(parts, times):
        return None, times
    return _numpy(pc.sort_indices(keys, sort_keys=[(name, "ascending") for name in keys.column_names])), times


def _in_order(parts: list[Part], times: np.ndarray) -> bool:
    return len(parts) == 1 and (len(times) < 2 or bool(np.all(times[1:] > times[:-1])))


def _order_by_runs(parts: list[Part], tags: tuple[str, ...]) -> tuple[np.ndarray | None, np.ndarray] | None:
    """The same order from runs of one series (see RawRows.runs): each run's tags ranked
    once, rows grouped by rank, then a stable sort by time, which merges the runs' sorted
    times. Ties keep the parts' order, as Arrow's stable sort does. None when a part has no
    runs."""
    runs = [p.series_runs(tags) for p in parts]
    if any(r is None for r in runs):
        return None
    times = np.concatenate([p.times() for p in parts])
    if _in_order(parts, times):
        return None, times
    # "" for no tag sorts first, as in _sort_keys; str order is UTF-8 byte order.
    keys = [tuple("" if v is None else v for v in key) for r in runs for key in r.keys]  # type: ignore[union-attr]
    rank_of = {key: rank for rank, key in enumerate(sorted(set(keys)))}
    lengths = np.concatenate([r.lengths for r in runs])  # type: ignore[union-attr]
    rank = np.repeat(np.array([rank_of[k] for k in keys], dtype=np.int32), lengths)
    grouped = np.argsort(rank, kind="stable")
    return grouped[np.argsort(times[grouped], kind="stable")], times


def _chunks(parts: list[Part], name: str, kind: pa.DataType) -> pa.ChunkedArray:
    """One column across parts, chunks reused as they are (a missing column becomes nulls)."""
    chunks: list[pa.Array] = []
    for part in parts:
        column = part.column(name)
        if column is None:
            chunks.append(pa.nulls(part.num_rows, kind))
        else:
            chunks += column.cast(kind).chunks
    return pa.chunked_array(chunks, type=kind)


def _sort_keys(parts: list[Part], tags: tuple[str, ...]) -> pa.Table:
    columns = {"time": _chunks(parts, TIME_COLUMN, pa.int64())}
    for index, tag in enumerate(tags):
        # A tag's value is never empty in InfluxDB, so "" can stand for "no such tag" and sort first.
        columns[f"t{index}"] = pc.fill_null(_chunks(parts, tag, pa.string()), "")
    return pa.table(columns)


def _numpy(order: pa.Array) -> np.ndarray:
    return np.frombuffer(order.buffers()[1], dtype=np.uint64, count=len(order),
                         offset=order.offset * 8).astype(np.int64)
