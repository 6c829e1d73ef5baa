"""An unquoted CSV block, located but not parsed: where each row and each cell is.

When the server's text holds no double quote, no value holds a comma or a line break,
so one scan for commas and line breaks finds every cell (a C kernel, see native.py; numpy
where there is no compiler). The cells stay in
the server's bytes: the CSV writer copies whole runs of them into the output, and a
column becomes an Arrow array only when something asks for it (sorting by tags, the
profile, Parquet). Anything irregular (a row with another count of cells, mixed line
ends, a time that does not parse) returns None, and the caller parses the block with
Arrow's CSV reader as before: this is a fast path, never a second opinion.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from .. import native, views
from ..arrow_compute import pc
from .base import TIME_COLUMN, TIME_TYPE

_COMMA, _LF, _CR, _DOT, _E = 44, 10, 13, 46, 101


@dataclass(eq=False)
class RawRows:
    """Row and cell positions in `data` (the server's bytes), and each row's time."""

    data: np.ndarray        # uint8 view of the data rows (and the line breaks after them)
    commas: np.ndarray      # (cells - 1, rows): every comma's position, one cell boundary a line
    starts: np.ndarray      # (rows,): each row's first byte
    ends: np.ndarray        # (rows,): the end of each row's cells (its CR or LF)
    cells: dict[str, int]   # column name -> cell index, for the columns a Part has
    time_ns: np.ndarray     # (rows,) int64
    float_cells: tuple[int, ...] = ()  # looked at for whole numbers while the window downloads
    newline_after: bool = False  # every row ends with one LF in `data`: it can be copied too
    _columns: dict[str, pa.Array] = field(default_factory=dict)
    _whole: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    _floats: dict = field(default_factory=dict)  # cell or run of cells -> values
    _series: dict[tuple[str, ...], "SeriesRuns | None"] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return len(self.starts)

    def bounds(self, cell: int) -> tuple[np.ndarray, np.ndarray]:
        """(first byte, end) of one cell in every row."""
        start = self.starts if cell == 0 else self.commas[cell - 1] + 1
        end = self.ends if cell == len(self.commas) else self.commas[cell]
        return start, end

    def column(self, name: str) -> pa.Array:
        """One column as Arrow: the time as TIME_TYPE, any other as the server's text."""
        return _once(self._columns, name, lambda: self._make_column(name))

    def _make_column(self, name: str) -> pa.Array:
        if name == TIME_COLUMN:
            ns = np.ascontiguousarray(self.time_ns, dtype=np.int64)
            return pa.Array.from_buffers(TIME_TYPE, len(ns), [None, pa.py_buffer(ns)])
        start, end = self.bounds(self.cells[name])
        return views.strings(self.data, start, end - start)

    def empty(self, name: str) -> np.ndarray:
        """Which rows have nothing in this column's cell."""
        start, end = self.bounds(self.cells[name])
        return end == start

    def typed(self, name: str, kind: pa.DataType) -> pa.Array:
        """A column cast from the server's text to `kind` without making strings first;
        an empty cell is null. Not kept: the profile asks once."""
        start, end = self.bounds(self.cells[name])
        return views.typed(self.data, start, end - start, kind)

    def floats(self, name: str) -> tuple[np.ndarray, bool] | None:
        """A float column as float64 (NaN where empty) and whether a cell was empty; None
        when the caller must cast the column on its own. With the C kernels every cell is
        read in one pass; without them a run of float cells with no empty cell is cut out of
        every row as one piece, split at its commas and cast at once."""
        cell = self.cells[name]
        kernels = native.kernels()
        if kernels is not None:
            return self._floats_in_c(kernels, cell)
        run = next((r for r in _runs(list(self.float_cells)) if cell in r), None)
        values = _once(self._floats, tuple(run or [cell]),
                       lambda: self._run_floats(run) if run and len(run) > 1 else {cell: None}).get(cell)
        return None if values is None else (values, False)

    def _floats_in_c(self, kernels: native.Kernels, cell: int) -> tuple[np.ndarray, bool] | None:
        """All float cells are read on the first request, in one pass over the rows."""
        def every_float_cell() -> dict[int, tuple[np.ndarray, bool] | None]:
            wanted = sorted(set(self.float_cells))
            found = kernels.floats_many(self.data, self.commas, self.starts, self.ends, wanted) if wanted else None
            if found is None:  # some cell is no plain number: each column on its own
                return {}
            values, empty = found
            return {c: (values[i], bool(empty[i])) for i, c in enumerate(wanted)}

        read = _once(self._floats, "every float cell", every_float_cell)
        if cell in read:
            return read[cell]
        return _once(self._floats, cell, lambda: kernels.floats(self.data, self.commas, self.starts, self.ends, cell))

    def _run_floats(self, run: list[int]) -> dict[int, np.ndarray | None]:
        bounds = [self.bounds(c) for c in run]
        if any(bool(np.any(end <= start)) for start, end in bounds):
            return {c: None for c in run}
        first, last = bounds[0][0], bounds[-1][1]
        text = views.strings(self.data, first, last - first)
        try:
            values = pc.list_flatten(pc.split_pattern(text, ",")).cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return {c: None for c in run}
        if len(values) != self.num_rows * len(run) or values.null_count:
            return {c: None for c in run}
        table = np.frombuffer(values.buffers()[1], dtype=np.float64, count=len(values),
                              offset=values.offset * 8).reshape(self.num_rows, len(run))
        return {c: np.ascontiguousarray(table[:, index]) for index, c in enumerate(run)}

    def runs(self, tags: tuple[str, ...]) -> "SeriesRuns | None":
        """The rows as runs of one series (2.x sends a table per series): where each run
        starts and its tag values (None for an empty or missing cell). The sort and the
        profile then work per run instead of comparing tag strings per row. None without
        the C kernels, or when series change too often (1.x interleaves them row by row)."""
        kernels = native.kernels()
        if kernels is None:
            return None
        return _once(self._series, tags, lambda: self._find_runs(kernels, tags))

    def _find_runs(self, kernels: native.Kernels, tags: tuple[str, ...]) -> "SeriesRuns | None":
        cells = [self.cells.get(tag) for tag in tags]
        present = [cell for cell in cells if cell is not None]
        if present:
            starts = kernels.runs(self.data, self.commas, self.starts, self.ends, present,
                                  MAX_RUNS + self.num_rows // 32)
            if starts is None:
                return None
        else:
            starts = np.zeros(1 if self.num_rows else 0, dtype=np.int64)
        texts: list[list[str | None]] = []  # per tag, the run's first row's value
        for cell in cells:
            if cell is None:
                texts.append([None] * len(starts))
                continue
            first, end = (bound[starts].tolist() for bound in self.bounds(cell))
            try:
                texts.append([bytes(self.data[a:b]).decode("utf-8") or None for a, b in zip(first, end)])
            except UnicodeDecodeError:
                return None
        keys = list(zip(*texts)) if texts else [()] * len(starts)
        return SeriesRuns(starts, np.diff(np.append(starts, self.num_rows)), keys)

    def table(self) -> pa.Table:
        names = [TIME_COLUMN, *self.cells]
        return pa.Table.from_arrays([self.column(name) for name in names], names=names)

    def whole_float_ends(self, cells: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, cell, position) after every float cell written without '.' or 'e' ('12'): where
        a '.0' goes so that a reader keeps the column a float. Sorted by row, then cell."""
        key = tuple(sorted(cells))
        return _once(self._whole, key, lambda: self._find_whole_floats(list(key)))

    def _find_whole_floats(self, cells: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nothing = np.zeros(0, np.int64)
        if not cells:
            return nothing, nothing, nothing
        kernels = native.kernels()
        if kernels is not None:
            return kernels.whole_floats(self.data, self.commas, self.starts, self.ends, cells)
        dots = np.flatnonzero(self.data == _DOT)
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        # A float has at most one '.', so a run of float cells needs no '.0' in a row whose
        # '.' count equals its count of non-empty cells; only the other rows are looked at.
        for run in _runs(cells):
            first_start, _ = self.bounds(run[0])
            _, last_end = self.bounds(run[-1])
            dot_count = np.searchsorted(dots, last_end) - np.searchsorted(dots, first_start)
            filled = np.zeros(self.num_rows, dtype=np.int64)
            for cell in run:
                start, end = self.bounds(cell)
                filled += end > start
            suspect = np.flatnonzero(dot_count != filled)
            if len(suspect) == 0:
                continue
            for cell in run:
                start, end = self.bounds(cell)
                start, end = start[suspect], end[suspect]
                whole = (end > start) & (np.searchsorted(dots, end) == np.searchsorted(dots, start))
                rows = suspect[whole]
                found.append((rows, np.full(len(rows), cell, dtype=np.int64), start[whole], end[whole]))
        if not found:
            return nothing, nothing, nothing
        rows, found_cells, starts, ends = (np.concatenate(column) for column in zip(*found))
        if len(rows) and (self.data == _E).any():  # '1e+20' holds no '.' and is no whole number either
            es = np.flatnonzero(self.data == _E)
            keep = np.searchsorted(es, ends) == np.searchsorted(es, starts)
            rows, found_cells, ends = rows[keep], found_cells[keep], ends[keep]
        order = np.lexsort((found_cells, rows))
        return rows[order], found_cells[order], ends[order]


_MISSING = object()


def _once(cache: dict, key, compute):
    """cache[key], computed on first use. No lock: the writer and the profile ask for the
    same things from different threads, and a lock held through one's computation made
    the other wait for work it did not need. Two threads asking at once both compute
    (the same value, the first one stored is kept)."""
    value = cache.get(key, _MISSING)
    if value is _MISSING:
        value = cache.setdefault(key, compute())
    return value


MAX_RUNS = 64  # runs of one series a block may have (plus one per 32 rows) for SeriesRuns


@dataclass(frozen=True)
class SeriesRuns:
    """Consecutive rows of one series: first row, length and tag values of each run."""

    starts: np.ndarray
    lengths: np.ndarray
    keys: list[tuple[str | None, ...]]


def _runs(cells: list[int]) -> list[list[int]]:
    """[1, 2, 3, 5, 6] -> [[1, 2, 3], [5, 6]]."""
    runs: list[list[int]] = []
    for cell in cells:
        if runs and runs[-1][-1] == cell - 1:
            runs[-1].append(cell)
        else:
            runs.append([cell])
    return runs


def locate(rows: bytes | memoryview, header: list[str], cells: dict[str, int], time_cell: int,
           time_text: bool, float_cells: tuple[int, ...] = ()) -> RawRows | None:
    """Find the rows and cells of an unquoted block's data rows; None when they are irregular.

    `time_text`: the time cell is RFC 3339 (2.x) rather than integer nanoseconds (1.x)."""
    data = np.frombuffer(rows, dtype=np.uint8)
    if len(data) >= 2**31 - 1:  # views address bytes with int32 offsets: Arrow's reader takes it
        return None
    end = len(data)
    while end and data[end - 1] in (_LF, _CR):
        end -= 1
    if end == 0 or len(header) < 2:
        return None
    kernels = native.kernels()
    found = _cells_in_c(kernels, data, end, len(header) - 1) if kernels else _cells_in_numpy(data, end, len(header) - 1)
    if found is None:
        return None
    commas, starts, ends, crlf = found
    raw = RawRows(data, commas, starts, ends, cells, np.zeros(0, np.int64), float_cells,
                  newline_after=not crlf and end < len(data) and data[end] == _LF)
    time_ns = _times(raw, time_cell, time_text)
    if time_ns is None:
        return None
    raw.time_ns = time_ns
    raw.whole_float_ends(list(float_cells))  # here, on the fetching thread
    return raw


def _cells_in_c(kernels: native.Kernels, data: np.ndarray, end: int, per_row: int):
    rows = kernels.count(data[:end], _LF) + 1
    return kernels.locate(data, end, rows, per_row)


def _cells_in_numpy(data: np.ndarray, end: int, per_row: int):
    """(commas (per_row, rows), starts, ends, crlf), or None when the rows are irregular."""
    content = data[:end]
    breaks = np.flatnonzero(content == _LF)
    crlf = bool(len(breaks)) and content[breaks[0] - 1] == _CR
    if len(breaks) and crlf and not bool(np.all(content[breaks - 1] == _CR)):
        return None
    starts = np.empty(len(breaks) + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = breaks + 1
    ends = np.empty(len(breaks) + 1, dtype=np.int64)
    ends[:-1] = breaks - (1 if crlf else 0)
    ends[-1] = end
    commas = np.flatnonzero(content == _COMMA)
    if len(commas) != len(starts) * per_row:
        return None
    commas = commas.reshape(len(starts), per_row)
    # With the total right, a row holds exactly its share when its first and last commas
    # lie inside it (rows do not overlap).
    if not (bool(np.all(commas[:, 0] >= starts)) and bool(np.all(commas[:, -1] < ends))):
        return None
    if (not crlf) and bool((content[ends[:-1] - 1] == _CR).any() if len(ends) > 1 else False):
        return None
    return np.ascontiguousarray(commas.T), starts, ends, crlf


def _times(raw: RawRows, cell: int, text: bool) -> np.ndarray | None:
    kernels = native.kernels()
    if kernels is not None:
        ns = kernels.times(raw.data, raw.commas, raw.starts, raw.ends, cell, text)
        if ns is not None:
            return ns
    start, end = raw.bounds(cell)
    if bool(np.any(end <= start)):
        return None
    cells = views.strings(raw.data, start, end - start)
    try:
        if text:
            parsed = cells.cast(TIME_TYPE).cast(pa.int64())
        else:
            parsed = cells.cast(pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if parsed.null_count:
        return None
    return np.frombuffer(parsed.buffers()[1], dtype=np.int64, count=len(parsed), offset=parsed.offset * 8)
