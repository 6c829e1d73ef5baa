"""One window's parts -> its rows in the output's column order, sorted, as CSV bytes.

Columns are the plan's (time, tags sorted, fields sorted), so a part that lacks a tag
or a field gets empty cells; rows are in row_order's order (time, then tag values).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import native, render, views
from .arrow_compute import pc
from .columns import Layout
from .errors import DataError
from .row_order import row_order
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
    """A window as CSV bytes: every row described as pieces (the new time text, runs of the
    server's own cells, '.0' where a float was written whole, a line break), the rows put in
    order, and all the pieces gathered in one copy (by the C kernels, or see views)."""
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return Rendered([], 0, None, None)
    order, times = row_order(parts, layout.sort_tags)
    constants = _Constants(len(layout.tags) + len(layout.fields))
    buffers: list[np.ndarray] = [constants.data]
    kernels = native.kernels()
    described = []
    for part in parts:
        recipe = _recipe(part, layout) if part.raw is not None else None
        if recipe is None:
            described.append(_rendered_pieces(part, layout, buffers))
        else:
            described.append(_raw_pieces(part, layout, recipe, buffers, constants))
    if kernels is not None:
        data = _gather_in_c(kernels, buffers, described, order)
    else:
        split = [d.split(constants) for d in described]
        pieces = views.Pieces.concat([p for p, _ in split])
        counts = np.concatenate([c for _, c in split])
        data = views.gather(buffers, pieces.take(views.per_row(counts, order)))
    return Rendered([data], len(times), int(times.min()), int(times.max()))


@dataclass(frozen=True)
class _Described:
    """A part's rows as pieces: `width` per row, (rows, width) arrays; and where '.0' goes:
    (row, piece column, position in buffer `cut_buffer`), sorted by row, then position."""

    buffer: np.ndarray
    start: np.ndarray
    length: np.ndarray
    cut_rows: np.ndarray
    cut_pieces: np.ndarray
    cut_positions: np.ndarray
    cut_buffer: int = 0

    def split(self, constants: "_Constants") -> tuple[views.Pieces, np.ndarray]:
        count, width = self.buffer.shape
        if len(self.cut_rows) == 0:
            return (views.Pieces(self.buffer.ravel(), self.start.ravel(), self.length.ravel()),
                    np.full(count, width, dtype=np.int64))
        return _split_for_dot_zero(self.buffer, self.start, self.length, self.cut_rows * width + self.cut_pieces,
                                   self.cut_positions, constants)


def _gather_in_c(kernels: native.Kernels, buffers: list[np.ndarray], described: list[_Described],
                 order: np.ndarray | None) -> pa.Buffer:
    rows_before = np.cumsum([0] + [d.buffer.shape[0] for d in described])
    total_rows = int(rows_before[-1])
    row_count = np.concatenate([np.full(d.buffer.shape[0], d.buffer.shape[1], dtype=np.int64) for d in described])
    row_first = np.cumsum(row_count) - row_count
    cut_rows = np.concatenate([d.cut_rows + rows_before[i] for i, d in enumerate(described)])
    cut_positions = np.concatenate([d.cut_positions for d in described]).astype(np.int64, copy=False)
    cut_buffer = np.concatenate([np.full(len(d.cut_rows), d.cut_buffer, dtype=np.int32) for d in described])
    cut_first = np.zeros(total_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(cut_rows, minlength=total_rows), out=cut_first[1:])
    piece_buffer = np.concatenate([d.buffer.ravel() for d in described])
    piece_start = np.concatenate([d.start.ravel() for d in described])
    piece_length = np.concatenate([d.length.ravel() for d in described])
    size = int(piece_length.sum()) + 2 * len(cut_rows)
    out = kernels.gather(buffers, piece_buffer, piece_start, piece_length, row_first, row_count,
                         None if order is None else np.ascontiguousarray(order, dtype=np.int64),
                         cut_first, cut_positions, cut_buffer, size)
    return pa.py_buffer(out)


class _Constants:
    """The bytes no server row holds: a line break, '.0', and commas for missing cells."""

    def __init__(self, cells: int) -> None:
        self.data = np.frombuffer(b"\n.0" + b"," * max(cells, 1), dtype=np.uint8)
        self.newline, self.dot_zero, self.commas = 0, 1, 3


def _rendered_pieces(part: Part, layout: Layout, buffers: list[np.ndarray]) -> "_Described":
    """A parsed part: its rows rendered by the Arrow kernels, then one piece per row."""
    rows = _part_rows(part, layout)
    if isinstance(rows, pa.ChunkedArray):
        rows = rows.combine_chunks()
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32, count=len(rows) + 1, offset=rows.offset * 4)
    buffers.append(np.frombuffer(rows.buffers()[2], dtype=np.uint8))
    count = len(rows)
    nothing = np.zeros(0, dtype=np.int64)
    return _Described(np.full((count, 1), len(buffers) - 1, dtype=np.int32),
                      offsets[:-1].astype(np.int64).reshape(count, 1), np.diff(offsets).astype(np.int64).reshape(count, 1),
                      nothing, nothing, nothing)


# A step of a row's recipe: ("copy", first cell, last cell) or ("empty", number of cells).
_Step = tuple


def _recipe(part: Part, layout: Layout) -> list[_Step] | None:
    """How a located part's rows become output rows: which runs of its cells are copied as
    they are, and where empty cells go; None when its cells cannot be copied that way."""
    raw = part.raw
    assert raw is not None
    steps: list[list] = []
    for name in (*layout.tags, *layout.fields):
        cell = raw.cells.get(name)
        if cell is None:
            if steps and steps[-1][0] == "empty":
                steps[-1][1] += 1
            else:
                steps.append(["empty", 1])
        elif cell == 0:
            return None  # a copied run starts at the comma before its first cell
        elif steps and steps[-1][0] == "copy" and steps[-1][2] == cell - 1:
            steps[-1][2] = cell
        else:
            steps.append(["copy", cell, cell])
    return [tuple(step) for step in steps]


def _raw_pieces(part: Part, layout: Layout, recipe: list[_Step], buffers: list[np.ndarray],
                constants: _Constants) -> _Described:
    raw = part.raw
    assert raw is not None
    count = raw.num_rows
    columns: list[tuple[int, np.ndarray | int, np.ndarray | int]] = []  # (buffer, start, length)
    time_text = render.time_text(raw.time_ns, layout.time_format, layout.timezone)
    leading_comma = time_text is not None  # with time omitted, the first cell has no comma before it
    if time_text is not None:
        offsets = np.frombuffer(time_text.buffers()[1], dtype=np.int32, count=count + 1, offset=time_text.offset * 4)
        buffers.append(np.frombuffer(time_text.buffers()[2], dtype=np.uint8))
        columns.append((len(buffers) - 1, offsets[:-1].astype(np.int64), np.diff(offsets).astype(np.int64)))
    data_index = len(buffers)
    buffers.append(raw.data)
    column_of_cell: dict[int, int] = {}  # a copied cell -> the piece that copies it
    for step in recipe:
        if step[0] == "empty":
            commas = step[1] - (0 if leading_comma else 1)
            if commas:
                columns.append((0, constants.commas, commas))
        else:
            _, first, last = step
            start, _ = raw.bounds(first)
            _, end = raw.bounds(last)
            start = start - (1 if leading_comma else 0)
            column_of_cell.update({cell: len(columns) for cell in range(first, last + 1)})
            columns.append((data_index, start, end - start))
        leading_comma = True
    last = recipe[-1] if recipe else None
    if raw.newline_after and last is not None and last[0] == "copy" and last[2] == len(raw.commas):
        b, s, n = columns[-1]  # the row's own LF follows its last cell: copy it with the run
        columns[-1] = (b, s, n + 1)
    else:
        columns.append((0, constants.newline, 1))
    width = len(columns)
    buffer = np.empty((count, width), dtype=np.int32)
    start = np.empty((count, width), dtype=np.int64)
    length = np.empty((count, width), dtype=np.int64)
    for index, (b, s, n) in enumerate(columns):
        buffer[:, index], start[:, index], length[:, index] = b, s, n
    rows, cells, positions = raw.whole_float_ends(list(raw.float_cells))
    if len(rows):
        copied = np.isin(cells, list(column_of_cell))
        rows, cells, positions = rows[copied], cells[copied], positions[copied]
    if len(rows) == 0:
        return _Described(buffer, start, length, rows, rows, rows, data_index)
    lookup = np.zeros(max(column_of_cell) + 1, dtype=np.int64)
    lookup[list(column_of_cell)] = list(column_of_cell.values())
    return _Described(buffer, start, length, rows, lookup[cells], positions, data_index)


def _split_for_dot_zero(buffer: np.ndarray, start: np.ndarray, length: np.ndarray, piece: np.ndarray,
                        positions: np.ndarray, constants: _Constants) -> tuple[views.Pieces, np.ndarray]:
    """Cut copied pieces where a whole float ends, and put '.0' in each cut.

    A piece with c cuts becomes 2c + 1 entries: its first segment, then for each cut a '.0'
    and the segment from that cut to the next one (or to the piece's end)."""
    count, width = buffer.shape
    total = count * width
    order = np.lexsort((positions, piece))
    piece, positions = piece[order], positions[order]
    flat_buffer, flat_start, flat_length = buffer.ravel(), start.ravel(), length.ravel()
    flat_end = flat_start + flat_length
    cuts_in = np.bincount(piece, minlength=total)
    cuts_before = np.cumsum(cuts_in) - cuts_in
    first_out = np.arange(total) + 2 * cuts_before
    out_count = total + 2 * len(piece)
    out_buffer = np.zeros(out_count, dtype=np.int32)
    out_start = np.full(out_count, constants.dot_zero, dtype=np.int64)
    out_length = np.full(out_count, 2, dtype=np.int64)
    # Each piece's first segment ends at its first cut, if it has one.
    first_end = flat_end.copy()
    has_cut = cuts_in > 0
    first_end[has_cut] = positions[cuts_before[has_cut]]
    out_buffer[first_out] = flat_buffer
    out_start[first_out] = flat_start
    out_length[first_out] = first_end - flat_start
    # Each cut: a '.0' (already in place), then its segment up to the next cut or the end.
    rank = np.arange(len(piece)) - cuts_before[piece]
    segment_out = first_out[piece] + 2 * rank + 2
    last_of_piece = np.append(piece[1:] != piece[:-1], True)
    segment_end = np.where(last_of_piece, flat_end[piece], np.append(positions[1:], 0))
    out_buffer[segment_out] = flat_buffer[piece]
    out_start[segment_out] = positions
    out_length[segment_out] = segment_end - positions
    counts = np.full(count, width, dtype=np.int64) + 2 * np.bincount(piece // width, minlength=count)
    return views.Pieces(out_buffer, out_start, out_length), counts


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
    parts = [p for p in parts if p.num_rows]
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
    order, _ = row_order(parts, layout.sort_tags)
    return table if order is None else table.take(order)
