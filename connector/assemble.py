"""One window's parts -> its rows in the output's column order, sorted, as CSV bytes.

Columns are the plan's (time, tags sorted, fields sorted), so a part that lacks a tag
or a field gets empty cells; rows are ordered by time, then by tag values (no tag
sorts first), which makes the file the same whatever order the server sent series in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import render
from .columns import Layout
from .errors import DataError
from .sources.base import ARROW_TYPES, TIME_COLUMN, Part


@dataclass(frozen=True)
class Rendered:
    """A window's CSV bytes and what the summary needs to know about them."""

    data: list[pa.Buffer]
    rows: int
    first_ns: int | None
    last_ns: int | None


def _text_column(part: Part, name: str, is_tag: bool, count: int) -> pa.Array:
    if name not in part.table.column_names:
        return pa.nulls(count, pa.string())
    column = part.table.column(name)  # chunked as parsed: no copy
    kind = part.fields.get(name)
    if kind == "float" and pa.types.is_string(column.type):
        return render.float_text_fix(column)
    if is_tag or kind == "string" or pa.types.is_string(column.type) and kind is None:
        return render.quoted_text(column) if part.quoted else column
    return render.value_text(column)


def _part_rows(part: Part, layout: Layout) -> pa.Array:
    count = part.table.num_rows
    tags, fields = layout.tags, layout.fields
    time_text = render.time_text(part.table.column(TIME_COLUMN), layout.time_format, layout.timezone)
    columns = [] if time_text is None else [time_text]
    columns += [_text_column(part, tag, True, count) for tag in tags]
    columns += [_text_column(part, field, False, count) for field in fields]
    return render.csv_rows(columns)


def _chunks(parts: list[Part], name: str, kind: pa.DataType) -> pa.ChunkedArray:
    """One column across parts, chunks reused as they are (a missing column becomes nulls)."""
    chunks: list[pa.Array] = []
    for part in parts:
        if name in part.table.column_names:
            chunks += part.table.column(name).cast(kind).chunks
        else:
            chunks.append(pa.nulls(part.table.num_rows, kind))
    return pa.chunked_array(chunks, type=kind)


def _sort_keys(parts: list[Part], tags: tuple[str, ...]) -> pa.Table:
    columns = {"time": _chunks(parts, TIME_COLUMN, pa.int64())}
    for index, tag in enumerate(tags):
        # A tag's value is never empty in InfluxDB, so "" can stand for "no such tag" and sort first.
        columns[f"t{index}"] = pc.fill_null(_chunks(parts, tag, pa.string()), "")
    return pa.table(columns)


def drop_written(parts: list[Part], at_ns: int, written: frozenset, tags: tuple[str, ...]) -> list[Part]:
    """mode=append: leave out the rows at `at_ns` of series the file already holds."""
    kept = []
    for part in parts:
        times = part.table.column(TIME_COLUMN).cast(pa.int64()).to_numpy()
        at_mark = np.flatnonzero(times == at_ns)
        if len(at_mark) == 0:
            kept.append(part)
            continue
        columns = [part.table.column(t).to_pylist() if t in part.table.column_names else None for t in tags]
        keep = np.ones(len(times), dtype=bool)
        for row in at_mark:
            key = tuple(None if column is None else column[row] for column in columns)
            keep[row] = key not in written
        kept.append(Part(part.tags, part.fields, part.table.filter(pa.array(keep))))
    return kept


def window_csv(parts: list[Part], layout: Layout) -> Rendered:
    parts = [p for p in parts if p.table.num_rows]
    if not parts:
        return Rendered([], 0, None, None)
    rows = [_part_rows(p, layout) for p in parts]
    order, times = _row_order(parts, layout)
    if order is None:
        ordered = rows[0]
    else:
        ordered = pa.chunked_array([c for r in rows for c in _chunks_of(r)]).take(order)
    return Rendered(render.rows_buffers(ordered), len(ordered), int(times.min()), int(times.max()))


def _row_order(parts: list[Part], layout: Layout) -> tuple[pa.Array | None, np.ndarray]:
    """The rows' order (time, then every tag) and their times; None when already in order:
    one part whose times strictly increase (one series, or 1.x's merge without ties)."""
    keys = _sort_keys(parts, layout.sort_tags)
    times = keys.column("time").to_numpy()
    if len(parts) == 1 and (len(times) < 2 or bool(np.all(times[1:] > times[:-1]))):
        return None, times
    return pc.sort_indices(keys, sort_keys=[(name, "ascending") for name in keys.column_names]), times


def _chunks_of(array: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return array.chunks if isinstance(array, pa.ChunkedArray) else [array]


def parquet_schema(layout: Layout, kinds: dict[str, str | None], header: list[str]) -> pa.Schema:
    """The file's types, fixed before the first row: time, string tags, typed fields."""
    types: list[pa.DataType] = []
    if layout.time_format != "omit":
        types.append(pa.int64() if layout.time_format.startswith("epoch")
                     else pa.timestamp("ns", tz="UTC" if layout.timezone.upper() in ("UTC", "Z") else layout.timezone))
    types += [pa.string()] * len(layout.tags)
    types += [ARROW_TYPES.get(kinds.get(f) or "string", pa.string()) for f in layout.fields]
    return pa.schema(list(zip(header, types)))


_EPOCH_DIVISOR = {"epoch_ns": 1, "epoch_ms": 1_000_000, "epoch_s": 1_000_000_000}


def _typed(column: pa.ChunkedArray | pa.Array, kind: pa.DataType, name: str) -> pa.Array:
    try:
        return pc.cast(column, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"field {name!r} holds a value that is not {kind}: {exc}; export as CSV") from None


def window_table(parts: list[Part], layout: Layout, schema: pa.Schema) -> pa.Table:
    """One window as a typed table in the file's schema, rows ordered as in the CSV."""
    parts = [p for p in parts if p.table.num_rows]
    if not parts:
        return schema.empty_table()
    tables = []
    for part in parts:
        count = part.table.num_rows
        columns: list[pa.Array] = []
        types = iter(schema.types)
        if layout.time_format != "omit":
            time = part.table.column(TIME_COLUMN).cast(pa.int64())
            kind = next(types)
            if layout.time_format.startswith("epoch"):  # rounded down, as in the CSV
                columns.append(pa.array(time.to_numpy() // _EPOCH_DIVISOR[layout.time_format]))
            else:
                columns.append(time.cast(kind))
        for name in (*layout.tags, *layout.fields):
            kind = next(types)
            if name in part.table.column_names:
                columns.append(_typed(part.table.column(name), kind, name))
            else:
                columns.append(pa.nulls(count, kind))
        tables.append(pa.Table.from_arrays([pa.chunked_array(c) if isinstance(c, pa.Array) else c
                                            for c in columns], schema=schema))
    table = pa.concat_tables(tables)
    order, _ = _row_order(parts, layout)
    return table if order is None else table.take(order)
