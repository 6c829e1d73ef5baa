"""A data profile of the export, collected while it streams: one pass, bounded memory.

Before training a detector or a forecaster one asks: how many points per unit, from when
to when, how regular is the sampling, where are the gaps, how much is missing, how rare
are the labels. `Profiler.add` sees each window's parts once (windows arrive in time
order and never overlap) and keeps only fixed-size state per series and column:

- Intervals go into a log-spaced histogram per series whose bins are the top bits of the
  interval as a float64 (exponent + 6 mantissa bits: 64 bins per octave, each at most
  1/64 = 1.6 % of its value wide, at most 4,096 bins from 1 ns to 292 years), with the
  count, smallest and largest interval per bin. The median (the lower median of the
  positive intervals) is exact when its bin holds one distinct interval (regular
  sampling) and otherwise lies within that bin's [min, max], reported as bounds; the
  value given is interpolated by rank inside the bin.
- Gaps are intervals longer than `gap_factor` x the series' median, which is known only
  at the end: the `GAP_KEEP` largest intervals per series are kept with their positions,
  and the histogram counts the rest (bins wholly above the threshold), so the count is
  exact unless the threshold falls inside a bin holding intervals on both sides and more
  than GAP_KEEP gaps exist; then it is reported as "at least".
- Duplicate timestamps are intervals of 0 (not in the median); empty cells are nulls and
  empty strings; min/max/mean of numbers are float64 (exact for integers up to 2**53).
- Value counts per column and series stop at `VALUE_CAP` distinct values ("many").
- Plot buffers: min, max, sum and count per series and time bucket (at most `plot_buckets`
  buckets of a round width, 15 min for a week, over the export's known span) for the first
  `MAX_PLOT_SERIES` series; `connector.plots` draws them.

State is at most series x (4,096 bins + GAP_KEEP + columns x VALUE_CAP counts) plus fixed
plot buffers: it grows with the number of series, never with the number of rows.

Everything per row is a numpy or Arrow kernel: text fields are cast in bulk, rows are
grouped by series with one pass per series (or a radix sort), and every per-series and
per-bucket number is a `reduceat` over the sorted window.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from . import profile_cells as cells
from . import profile_report as report
from .arrow_compute import pc
from .errors import ParameterError
from .plot_data import PlotData, PlotSeries
from .profile_cells import VALUE_CAP
from .profile_report import GAPS_SHOWN, SUB_BITS
from .sources.base import ARROW_TYPES, Part
from .sources.raw_rows import SeriesRuns

GAP_KEEP = 16             # largest intervals kept per series (positions of the longest gaps)
MAX_PLOT_SERIES = 12      # series with plot buffers (a legend longer than this is unreadable)
_NUMERIC = ("float", "int", "uint")

@dataclass
class _Window:
    """One window's rows regrouped by series: segments of consecutive rows, times sorted."""

    parts: list[Part]
    pieces: list[tuple[int, np.ndarray | None]]   # (part index, its row indices or None = all)
    fix: np.ndarray | None                         # extra permutation when times were out of order
    sids: np.ndarray                               # global series id of each segment
    starts: np.ndarray                             # first row of each segment
    lengths: np.ndarray
    local: np.ndarray                              # segment index of every row
    times: np.ndarray                              # int64 ns, sorted by (segment, time)

    def gather(self, per_part: list[np.ndarray]) -> np.ndarray:
        """Per-part row arrays -> one array in the window's (series, time) order."""
        if len(self.pieces) == 1 and self.pieces[0][1] is None:
            out = per_part[self.pieces[0][0]]
        else:
            out = np.concatenate([per_part[p] if rows is None else per_part[p][rows] for p, rows in self.pieces])
        return out if self.fix is None else out[self.fix]


@dataclass
class _Buckets:
    """Runs of sorted rows sharing (series, plot bucket): where they start, their rows, the
    first run of each series, and the plot-buffer cells of the plotted series' runs."""

    starts: np.ndarray
    rows: np.ndarray
    series_runs: np.ndarray
    plotted: np.ndarray
    at: tuple[np.ndarray, np.ndarray]


class _Column:
    """One field's state: per-series counts and stats, value counts, plot buffers."""

    def __init__(self, name: str, kind: str | None, plotted: bool, buckets: int) -> None:
        self.name = name
        self.kind: str | None = None
        self.count = np.zeros(0, np.int64)                 # non-empty cells per series
        self.min = np.zeros(0)
        self.max = np.zeros(0)
        self.sum = np.zeros(0)
        self.values: dict[int, dict[str, int]] | None = {}  # series -> value -> count; None = many
        self.distinct: set[str] = set()
        self.plotted, self.buckets = plotted, buckets
        self.plot: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None   # min, max, sum, count
        self.settle(kind)

    def settle(self, kind: str | None) -> None:
        """Fix the kind (the plan's, else the first part's that says) and make numbers' plot buffers."""
        if self.kind is None and kind is not None:
            self.kind = kind
            if self.plotted and self.numeric:
                shape = (MAX_PLOT_SERIES, self.buckets)
                self.plot = (np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape), np.zeros(shape, np.int64))

    @property
    def numeric(self) -> bool:
        return self.kind in _NUMERIC

    def grow(self, size: int) -> None:
        self.count, self.min, self.max, self.sum = (_grown(a, size, fill) for a, fill in (
            (self.count, 0), (self.min, np.nan), (self.max, np.nan), (self.sum, 0.0)))

    def merge_counts(self, sids: np.ndarray, counts: np.ndarray, keys: list[str]) -> None:
        """counts[segment, code] for this window -> per-series value counts (or "many")."""
        if self.values is None:
            return
        seg, code = np.nonzero(counts)
        for s, c, n in zip(sids[seg].tolist(), code.tolist(), counts[seg, code].tolist()):
            bucket = self.values.setdefault(s, {})
            bucket[keys[c]] = bucket.get(keys[c], 0) + n
        self.distinct.update(keys[c] for c in set(code.tolist()))
        if len(self.distinct) > VALUE_CAP:
            self.many()

    def many(self) -> None:
        self.values = None
        self.distinct = set()


class Profiler:
    """Collects the profile of an export from its windows' parts (see the module docstring)."""

    def __init__(self, tags: tuple[str, ...], fields: dict[str, str | None], first_ns: int, last_ns: int,
                 label_field: str | None = None, gap_factor: float = 5.0, plot_buckets: int = 1000) -> None:
        if label_field is not None and label_field not in fields:
            raise ParameterError(f"label_field: {label_field!r} is not an exported field "
                                 f"(fields: {', '.join(sorted(fields)) or 'none'})")
        if not gap_factor > 0:
            raise ParameterError(f"gap_factor must be greater than 0, not {gap_factor!r}")
        self.tags = tuple(tags)
        self.label_field = label_field
        self.gap_factor = float(gap_factor)
        self.first_ns, self.last_ns = int(first_ns), int(max(last_ns, first_ns))
        self.bucket_ns, self.origin_ns, self.buckets = report.bucketing(self.first_ns, self.last_ns,
                                                                  max(1, int(plot_buckets)))
        self.columns = {name: _Column(name, kind, name != label_field, self.buckets)
                        for name, kind in sorted(fields.items())}
        self.series: dict[tuple[str | None, ...], int] = {}   # tag values -> id, in order of appearance
        self.rows = np.zeros(0, np.int64)
        self.first = np.zeros(0, np.int64)
        self.last = np.zeros(0, np.int64)
        self.duplicates = np.zeros(0, np.int64)
        self.keys: list[tuple[str | None, ...]] = []        # id -> tag values
        self.positive = np.zeros(0, np.int64)               # label_field's positive rows per series
        self.hist: list[dict[int, list[int]]] = []          # per series: bin -> [count, min, max]
        self.kept: list[tuple[np.ndarray, np.ndarray]] = []  # per series: largest intervals, their end times
        self.plot_rows = np.zeros((MAX_PLOT_SERIES, self.buckets), np.int64)
        self.plot_positive = np.zeros((MAX_PLOT_SERIES, self.buckets), np.int64) if label_field else None

    # ----------------------------------------------------------------------------- collecting

    def add(self, parts: list[Part]) -> None:
        """One window's parts (windows in time order, never overlapping)."""
        parts = [p for p in parts if p.num_rows]
        if not parts:
            return
        window = self._regroup(parts)
        self._intervals(window)
        buckets = self._buckets(window)
        for column in self.columns.values():
            self._column(window, column, buckets)

    def _series_id(self, key: tuple[str | None, ...]) -> int:
        sid = self.series.get(key)
        if sid is None:
            sid = self.series[key] = len(self.series)
            size = sid + 1
            self.keys.append(key)
            for name in ("rows", "first", "last", "duplicates", "positive"):
                setattr(self, name, _grown(getattr(self, name), size, 0))
            self.hist.append({})
            self.kept.append((np.zeros(0, np.int64), np.zeros(0, np.int64)))
            for column in self.columns.values():
                column.grow(size)
        return sid

    def _part_series(self, part: Part) -> tuple[np.ndarray | None, list[int]]:
        """(code per row or None when the part is one series, global id per code)."""
        runs = part.series_runs(self.tags)
        if runs is not None:
            return self._run_series(runs)
        n = part.num_rows
        constant: dict[str, str | None] = {}
        varying: list[tuple[str, list[str | None], np.ndarray]] = []
        for tag in self.tags:
            column = part.column(tag)
            if column is None or column.null_count == n:
                constant[tag] = None
                continue
            if not pa.types.is_string(column.type):
                column = column.cast(pa.string())
            head = column[0].as_py()
            if column.null_count == 0 and pc.all(pc.equal(column, head)).as_py():
                constant[tag] = head or None
                continue
            encoded = pc.dictionary_encode(column.combine_chunks())
            names = [v or None for v in encoded.dictionary.to_pylist()] + [None]
            codes = pc.fill_null(encoded.indices, len(names) - 1).to_numpy().astype(np.int64)
            varying.append((tag, names, codes))
        if not varying:
            return None, [self._series_id(tuple(constant[t] for t in self.tags))]
        code = np.zeros(n, np.int64)
        cardinality = 1
        for _tag, names, codes in varying:
            if cardinality * len(names) > 2**62:
                code = np.unique(code, return_inverse=True)[1].astype(np.int64)
                cardinality = int(code.max()) + 1
            code = code * len(names) + codes
            cardinality *= len(names)
        if cardinality <= 4 * n:
            present = np.flatnonzero(np.bincount(code, minlength=cardinality))
            any_row = np.zeros(cardinality, np.int64)
            any_row[code] = np.arange(n)   # some row of each combination: enough to decode it
            rows = any_row[present]
            dense = np.zeros(cardinality, np.int64)
            dense[present] = np.arange(len(present))
            code = dense[code]
        else:
            _values, rows, code = np.unique(code, return_index=True, return_inverse=True)
        ids = []
        for row in rows.tolist():
            values = dict(constant)
            values.update((tag, names[codes[row]]) for tag, names, codes in varying)
            ids.append(self._series_id(tuple(values[t] for t in self.tags)))
        if len(ids) == 1:
            return None, ids
        return code, ids

    def _run_series(self, runs: SeriesRuns) -> tuple[np.ndarray | None, list[int]]:
        ids: list[int] = []
        code_of: dict[int, int] = {}
        run_codes = []
        for key in runs.keys:
            sid = self._series_id(key)
            if sid not in code_of:
                code_of[sid] = len(ids)
                ids.append(sid)
            run_codes.append(code_of[sid])
        if len(ids) == 1:
            return None, ids
        return np.repeat(np.array(run_codes, dtype=np.int64), runs.lengths), ids

    def _regroup(self, parts: list[Part]) -> _Window:
        pieces: list[tuple[int, int, np.ndarray | None]] = []   # (series id, part, rows)
        times = []
        for index, part in enumerate(parts):
            times.append(part.times())
            code, ids = self._part_series(part)
            if code is None:
                pieces.append((ids[0], index, None))
            elif len(ids) <= 32:   # one pass per series beats a sort for a few series
                pieces += [(ids[c], index, np.flatnonzero(code == c)) for c in range(len(ids))]
            else:
                order = np.argsort(code.astype(np.int16 if len(ids) < 2**15 else np.int32), kind="stable")
                edges = np.flatnonzero(np.diff(code[order])) + 1
                pieces += [(ids[int(code[rows[0]])], index, rows) for rows in np.split(order, edges)]
        pieces.sort(key=lambda piece: piece[0])   # stable: a series' parts keep their order
        sids = np.array([p[0] for p in pieces], np.int64)
        lengths = np.array([parts[p[1]].num_rows if p[2] is None else len(p[2]) for p in pieces], np.int64)
        new = np.r_[True, sids[1:] != sids[:-1]]
        seg_starts = np.flatnonzero(new)
        seg_lengths = np.add.reduceat(lengths, seg_starts)
        starts = np.r_[0, np.cumsum(seg_lengths)[:-1]].astype(np.int64)
        local = np.repeat(np.arange(len(seg_starts)), seg_lengths)
        window = _Window(parts, [(p[1], p[2]) for p in pieces], None, sids[seg_starts], starts, seg_lengths,
                         local, np.zeros(0, np.int64))
        t = window.gather(times)
        backwards = np.flatnonzero(t[1:] < t[:-1])
        if len(backwards) and np.any(local[backwards] == local[backwards + 1]):
            window.fix = np.lexsort((t, local))   # parts of one series out of time order
            t = t[window.fix]
        window.times = t
        return window

    def _intervals(self, w: _Window) -> None:
        """Rows, first/last, duplicates, the interval histogram and the largest intervals."""
        t, sids, starts, ends = w.times, w.sids, w.starts, w.starts + w.lengths
        seen = self.rows[sids] > 0
        self.first[sids[~seen]] = t[starts[~seen]]
        previous = self.last[sids]
        self.last[sids] = t[ends - 1]
        self.rows[sids] += w.lengths
        d = np.empty(len(t), np.int64)
        d[1:] = t[1:] - t[:-1]
        d[starts] = np.where(seen, t[starts] - previous, -1)   # the interval across the window edge
        self.duplicates[sids] += np.add.reduceat(d == 0, starts, dtype=np.int64)
        bins = report.bins(d)
        positive = bins > 0
        if positive.any():
            low, high = int(bins[positive].min()), int(bins.max())
            span = high - low + 1
            cell = np.where(positive, w.local * span + (bins - low), -1)
            cells = len(sids) * span
            if cells <= 4 * len(t) + 4096:
                ok = cell >= 0
                cell, dd = cell[ok], d[ok]
                counts = np.bincount(cell, minlength=cells)
                lows = np.full(cells, np.iinfo(np.int64).max)
                highs = np.zeros(cells, np.int64)
                np.minimum.at(lows, cell, dd)
                np.maximum.at(highs, cell, dd)
                used = np.flatnonzero(counts)
                entries = zip(used.tolist(), counts[used].tolist(), lows[used].tolist(), highs[used].tolist())
            else:   # very many series in one window: sort instead of a dense table
                table = pa.table({"c": cell[positive], "d": d[positive]}).group_by("c").aggregate(
                    [("d", "count"), ("d", "min"), ("d", "max")])
                entries = zip(*(table.column(n).to_pylist() for n in ("c", "d_count", "d_min", "d_max")))
            for c, n, lo, hi in entries:
                segment, b = divmod(c, span)
                hist = self.hist[int(sids[segment])]
                entry = hist.get(b + low)
                if entry is None:
                    hist[b + low] = [n, lo, hi]
                else:
                    entry[0] += n
                    entry[1] = min(entry[1], lo)
                    entry[2] = max(entry[2], hi)
        self._keep_largest(w, d)

    def _keep_largest(self, w: _Window, d: np.ndarray) -> None:
        floor = np.array([kept[0][-1] if len(kept[0]) == GAP_KEEP else 0
                          for kept in (self.kept[s] for s in w.sids.tolist())], np.int64)
        candidates = np.flatnonzero(d > floor[w.local])
        if not len(candidates):
            return
        segments = w.local[candidates]
        for segment in cells.distinct(segments).tolist():
            rows = candidates[segments == segment]
            sid = int(w.sids[segment])
            durations = np.r_[self.kept[sid][0], d[rows]]
            ends = np.r_[self.kept[sid][1], w.times[rows]]
            order = np.lexsort((ends, -durations))[:GAP_KEEP]   # longest first, earliest on ties
            self.kept[sid] = (durations[order], ends[order])

    def _buckets(self, w: _Window) -> _Buckets:
        """The runs of rows that share a series and a plot bucket in the sorted window."""
        # Unsigned offsets from the first time: InfluxDB's whole range (1677..2262) spans more
        # than int64 holds, and the aligned origin can lie below int64's minimum.
        since_first = (w.times.astype(np.int64) - np.int64(self.first_ns)).view(np.uint64)
        offset = since_first + np.uint64(self.first_ns - self.origin_ns)
        bucket = np.minimum(offset // np.uint64(self.bucket_ns), np.uint64(self.buckets - 1)).astype(np.int64)
        key = w.local * self.buckets + bucket
        starts = np.r_[0, np.flatnonzero(key[1:] != key[:-1]) + 1]
        segment, bucket = np.divmod(key[starts], self.buckets)
        sid = w.sids[segment]
        plotted = sid < MAX_PLOT_SERIES
        rows = np.diff(np.r_[starts, len(key)])
        at = (sid[plotted], bucket[plotted])
        self.plot_rows[at] += rows[plotted]
        series_runs = np.r_[0, np.flatnonzero(segment[1:] != segment[:-1]) + 1]
        return _Buckets(starts, rows, series_runs, plotted, at)

    def _kind(self, part: Part, name: str) -> str | None:
        """The field's kind: as the part says, else as the plan said, else from a typed column."""
        kind = part.fields.get(name) or self.columns[name].kind
        column = cells.column_of(part, name) if kind is None else None
        if kind is None and column is not None:
            kind = next((k for k, t in ARROW_TYPES.items() if t == column.type), None) if not \
                pa.types.is_string(column.type) else "string"
        return kind

    def _column(self, w: _Window, column: _Column, b: _Buckets) -> None:
        sids = w.sids
        kinds = [self._kind(p, column.name) for p in w.parts]
        column.settle(next((k for k in kinds if k), None))
        numeric = column.numeric
        values = None
        if numeric:
            numbers = [cells.numbers(p, column.name, k or column.kind) for p, k in zip(w.parts, kinds)]
            values = w.gather([v for v, _gaps in numbers])
            empty = np.isnan(values) if any(gaps for _v, gaps in numbers) else None
        else:
            empty = w.gather([cells.empty(p, column.name) for p in w.parts])
        filled = w.lengths if empty is None else w.lengths - np.add.reduceat(empty, w.starts, dtype=np.int64)
        column.count[sids] += filled
        if column.name == self.label_field:
            positive = (values != 0 if empty is None else (values != 0) & ~empty) if numeric else \
                w.gather([cells.positive(p, column.name) for p in w.parts])
            self.positive[sids] += np.add.reduceat(positive, w.starts, dtype=np.int64)
            if self.plot_positive is not None:
                self.plot_positive[b.at] += np.add.reduceat(positive, b.starts, dtype=np.int64)[b.plotted]
        if not filled.any():
            return
        low = high = None
        if numeric:
            if empty is None:   # no empty cell: the faster kernels that propagate NaN are safe
                low, high = np.minimum.reduceat(values, b.starts), np.maximum.reduceat(values, b.starts)
                total, count = np.add.reduceat(values, b.starts), b.rows
            else:
                low, high = np.fmin.reduceat(values, b.starts), np.fmax.reduceat(values, b.starts)
                total = np.add.reduceat(np.where(empty, 0.0, values), b.starts)
                count = b.rows - np.add.reduceat(empty, b.starts, dtype=np.int64)
            column.min[sids] = np.fmin(column.min[sids], np.fmin.reduceat(low, b.series_runs))
            column.max[sids] = np.fmax(column.max[sids], np.fmax.reduceat(high, b.series_runs))
            column.sum[sids] += np.add.reduceat(total, b.series_runs)
            if column.plot is not None:
                lows, highs, sums, counts = column.plot
                lows[b.at] = np.fmin(lows[b.at], low[b.plotted])
                highs[b.at] = np.fmax(highs[b.at], high[b.plotted])
                sums[b.at] += total[b.plotted]
                counts[b.at] += count[b.plotted]
        if column.values is None:
            return
        if numeric:
            coded = cells.number_codes(values, empty, float(np.nanmin(low)), float(np.nanmax(high)),
                                  column.kind in ("int", "uint"))
        else:
            coded = _text_codes(w, [cells.text(p, column.name) for p in w.parts])
        if coded is None:
            column.many()
            return
        codes, names = coded
        width = len(names) + 1
        counts = np.bincount(w.local * width + codes + 1, minlength=len(sids) * width).reshape(len(sids), width)
        column.merge_counts(sids, counts[:, 1:], names)

    # ----------------------------------------------------------------------------- reporting

    def state_size(self) -> int:
        """Items of state retained (array cells, histogram bins, kept gaps, value counts): for tests."""
        size = sum(a.size for a in (self.rows, self.first, self.last, self.duplicates, self.plot_rows))
        size += self.plot_positive.size if self.plot_positive is not None else 0
        size += sum(3 * len(h) for h in self.hist) + sum(2 * len(k[0]) for k in self.kept)
        for c in self.columns.values():
            size += c.count.size + c.min.size + c.max.size + c.sum.size + len(c.distinct)
            size += sum(len(v) for v in (c.values or {}).values())
            size += sum(a.size for a in c.plot) if c.plot is not None else 0
        return size

    def _order(self) -> list[tuple[tuple[str | None, ...], int]]:
        return sorted(self.series.items(), key=lambda item: tuple(v or "" for v in item[0]))

    def series_label(self, key: tuple[str | None, ...]) -> str:
        return ",".join(f"{t}={v}" for t, v in zip(self.tags, key) if v is not None) or "(no tags)"

    def _sampling(self, sid: int) -> dict[str, Any]:
        hist = self.hist[sid]
        median = report.median(hist)
        kept_d, kept_end = self.kept[sid]
        out: dict[str, Any] = {"intervals": int(sum(e[0] for e in hist.values())) + int(self.duplicates[sid]),
                               "duplicates": int(self.duplicates[sid])}
        if median is None:
            return {**out, "median_interval_ns": None, "gaps": report.gaps(0, False, 0, [], None)}
        value, low, high = median
        threshold = self.gap_factor * value
        above = kept_d > threshold
        count, lower_bound = int(above.sum()), False
        if len(kept_d) == GAP_KEEP and above.all():   # more gaps may exist than were kept: ask the bins
            sure = sum(e[0] for e in hist.values() if e[1] > threshold)
            unsure = {b for b, e in hist.items() if e[1] <= threshold < e[2]}
            # a kept gap in a bin that straddles the threshold is a gap for sure, too
            sure += sum(1 for b in report.bins(kept_d).tolist() if b in unsure)
            count, lower_bound = max(GAP_KEEP, sure), bool(unsure)
        where = [(int(e - d), int(e), self.series_label(self.keys[sid])) for d, e in
                 zip(kept_d[above][:GAPS_SHOWN].tolist(), kept_end[above][:GAPS_SHOWN].tolist())]
        return {**out, "median_interval_ns": value, "median_interval": report.duration_text(value),
                "median_interval_bounds_ns": [low, high],
                "gaps": report.gaps(count, lower_bound, int(kept_d[0]) if count else 0, where, threshold)}

    def _column_result(self, c: _Column, ids: list[int]) -> dict[str, Any]:
        rows = int(self.rows[ids].sum())
        filled = int(c.count[ids].sum())
        out: dict[str, Any] = {"kind": c.kind, "rows": rows, "filled": filled, "empty": rows - filled,
                               "empty_fraction": (rows - filled) / rows if rows else 0.0}
        if c.numeric and filled:
            low, high = float(np.nanmin(c.min[ids])), float(np.nanmax(c.max[ids]))
            integral = c.kind in ("int", "uint")
            out.update(min=int(low) if integral else low, max=int(high) if integral else high,
                       mean=float(c.sum[ids].sum()) / filled)
        if c.values is None:
            out.update(distinct="many", values="many")
        else:
            merged: dict[str, int] = {}
            for sid in ids:
                for value, n in c.values.get(sid, {}).items():
                    merged[value] = merged.get(value, 0) + n
            out.update(distinct=len(merged), values=report.sorted_values(merged, c.numeric))
            out["label_like"] = bool(merged) and c.kind in ("int", "uint", "bool") and set(merged) <= {
                "0", "1", "true", "false"}
        if c.name == self.label_field:
            out["positive"] = int(self.positive[ids].sum())
        return out

    def result(self) -> dict[str, Any]:
        """The profile as plain data (JSON-serialisable; times as RFC 3339 and ns)."""
        order = self._order()
        ids = [sid for _key, sid in order]
        series = []
        for key, sid in order:
            series.append({
                "series": self.series_label(key), "tags": dict(zip(self.tags, key)),
                "rows": int(self.rows[sid]), **report.span(int(self.first[sid]), int(self.last[sid])),
                "sampling": self._sampling(sid),
                "columns": {name: self._column_result(c, [sid]) for name, c in self.columns.items()},
            })
        everything: dict[int, list[int]] = {}
        for sid in ids:
            for b, (n, lo, hi) in self.hist[sid].items():
                e = everything.setdefault(b, [0, lo, hi])
                e[0] += n
                e[1], e[2] = min(e[1], lo), max(e[2], hi)
        median = report.median(everything)
        gaps = [s["sampling"]["gaps"] for s in series]
        where = sorted((w for g in gaps for w in g["longest"]), key=lambda w: (-w["duration_ns"], w["start_ns"]))
        rows = int(self.rows.sum())
        return {
            "rows": rows, "series_count": len(series),
            **(report.span(int(self.first[ids].min()), int(self.last[ids].max())) if ids else {}),
            "export_span": report.span(self.first_ns, self.last_ns),
            "settings": {"tags": list(self.tags), "label_field": self.label_field, "gap_factor": self.gap_factor,
                         "gap_keep": GAP_KEEP, "value_cap": VALUE_CAP, "plot_buckets": self.buckets,
                         "median": f"lower median of positive intervals from a log histogram "
                                   f"({2 ** SUB_BITS} bins per octave, min/max per bin)"},
            "sampling": {
                "intervals": sum(s["sampling"]["intervals"] for s in series),
                "duplicates": int(self.duplicates.sum()),
                "median_interval_ns": median[0] if median else None,
                "median_interval": report.duration_text(median[0]) if median else None,
                "median_interval_bounds_ns": [median[1], median[2]] if median else None,
                "gaps": {"count": sum(g["count"] for g in gaps),
                         "count_is_lower_bound": any(g["count_is_lower_bound"] for g in gaps),
                         "longest_ns": max((g["longest_ns"] for g in gaps), default=0),
                         "longest": where[:GAPS_SHOWN]},
            },
            "columns": {name: self._column_result(c, ids) for name, c in self.columns.items()},
            "series": series,
        }

    def summary_lines(self, result: dict[str, Any] | None = None) -> list[str]:
        """A few readable lines for the job log (from `result`, computed if not given)."""
        r = result or self.result()
        if not r["rows"]:
            return ["profile: no rows"]
        varying = [t for i, t in enumerate(self.tags) if len({k[i] for k in self.keys}) > 1]
        lines = [f"profile: {r['series_count']:,} series{' by ' + ', '.join(varying) if varying else ''}, "
                 f"{r['rows']:,} row{'s' if r['rows'] != 1 else ''}, "
                 f"{report.short(r['first_ns'])} .. {report.short(r['last_ns'])}"]
        sampled = [(s["series"], s["sampling"]["median_interval_ns"]) for s in r["series"]
                   if s["sampling"]["median_interval_ns"]]
        texts = sorted({report.duration_text(ns) for _name, ns in sampled})
        if not sampled:
            line = "sampling: fewer than 2 points per series"
        elif len(texts) == 1:
            line = f"sampling: {texts[0]} (median interval)"
        elif len(sampled) <= 3:
            line = "sampling (median interval): " + ", ".join(
                f"{report.duration_text(ns)} in {name}" for name, ns in sampled)
        else:
            line = (f"sampling (median interval): {report.duration_text(min(ns for _n, ns in sampled))} .. "
                    f"{report.duration_text(max(ns for _n, ns in sampled))} across series")
        duplicates = r["sampling"]["duplicates"]
        lines.append(line + (f"; {duplicates:,} duplicate timestamps" if duplicates
                             else "; no duplicate timestamps"))
        gappy = sorted((s for s in r["series"] if s["sampling"]["gaps"]["count"]),
                       key=lambda s: -s["sampling"]["gaps"]["longest_ns"])
        if not gappy:
            lines.append(f"gaps (intervals > {self.gap_factor:g}x the median): none")
        else:
            texts = []
            for s in gappy[:3]:
                g = s["sampling"]["gaps"]
                longest = g["longest"][0]
                texts.append(f"{'at least ' if g['count_is_lower_bound'] else ''}{g['count']:,} "
                             f"> {report.duration_text(g['threshold_ns'])} in {s['series']}, longest "
                             f"{longest['duration']} at {report.short(longest['start_ns'], minutes=True)}")
            more = f"; {len(gappy) - 3:,} more series with gaps" if len(gappy) > 3 else ""
            lines.append("gaps: " + "; ".join(texts) + more)
        columns = r["columns"]
        labels = [self.label_field] if self.label_field else [n for n, c in columns.items() if c.get("label_like")]
        for name in labels[:3]:
            c = columns[name]
            if not c["filled"]:
                continue
            values = c["values"] if isinstance(c["values"], dict) else {}
            one = next((v for v in ("1", "1.0", "true") if v in values), None)
            positive = c["positive"] if "positive" in c else values.get(one, 0)
            lines.append(f"{name}: {one or 'positive'} = {100 * positive / c['filled']:.1f}% "
                         f"({positive:,} of {c['filled']:,} rows)")
        texts = [f"{n} {100 * c['empty_fraction']:.1f}%" for n, c in
                 sorted(columns.items(), key=lambda item: -item[1]["empty_fraction"]) if c["empty"]]
        more = ", ..." if len(texts) > 6 else ""
        lines.append("empty cells: " + (", ".join(texts[:6]) + more if texts else "none"))
        texts = []
        for name, c in columns.items():
            if c["kind"] != "string" or not c["filled"]:
                continue
            if c["values"] == "many":
                texts.append(f"{name} > {VALUE_CAP} distinct")
            else:
                top = ", ".join(f"{v} {100 * n / c['filled']:.0f}%" for v, n in list(c["values"].items())[:3])
                texts.append(f"{name} {c['distinct']} distinct ({top}{', ...' if c['distinct'] > 3 else ''})")
        if texts:
            lines.append("strings: " + "; ".join(texts))
        return lines

    def plot_data(self) -> PlotData:
        """What `connector.plots.render` draws: the buffers of the first MAX_PLOT_SERIES series."""
        shown = [(key, sid) for key, sid in self._order() if sid < MAX_PLOT_SERIES]
        varying = [i for i in range(len(self.tags)) if len({k[i] for k in self.keys}) > 1]
        series = []
        for key, sid in shown:
            sampling = self._sampling(sid)
            gaps = sampling["gaps"]
            label = ", ".join(key[i] or "(none)" for i in varying)
            series.append(PlotSeries(
                sid=sid, label=label or self.series_label(key), rows=int(self.rows[sid]),
                first_ns=int(self.first[sid]), last_ns=int(self.last[sid]),
                median_ns=sampling["median_interval_ns"],
                gaps=[(g["start_ns"], g["end_ns"]) for g in report.all_gaps(self.kept[sid], gaps["threshold_ns"])],
                gap_count=gaps["count"], gaps_lower_bound=gaps["count_is_lower_bound"]))
        fields = {name: c.plot for name, c in self.columns.items() if c.plot is not None}
        return PlotData(self.first_ns, self.last_ns, self.origin_ns, self.bucket_ns, self.buckets,
                        ", ".join(self.tags[i] for i in varying), series, len(self.series), fields,
                        self.plot_rows, self.label_field, self.plot_positive, self.gap_factor)


def _grown(array: np.ndarray, size: int, fill: float) -> np.ndarray:
    """The array with room for `size` series: doubled when full, so adding series stays linear."""
    if size <= len(array):
        return array
    return np.r_[array, np.full(max(size, 2 * len(array), 16) - len(array), fill, array.dtype)]


def _text_codes(w: _Window, texts: list[pa.Array | None]) -> tuple[np.ndarray, list[str]] | None:
    """Codes over one vocabulary for the whole window (an empty string is an empty cell)."""
    vocabulary: dict[str, int] = {}
    per_part = []
    for part, text in zip(w.parts, texts):
        if text is None:
            per_part.append(np.full(part.num_rows, -1, np.int64))
            continue
        encoded = pc.dictionary_encode(text)
        words = encoded.dictionary.to_pylist()
        if len(words) > VALUE_CAP + 1:
            return None
        lut = np.array([vocabulary.setdefault(v, len(vocabulary)) if v else -1 for v in words] + [-1], np.int64)
        per_part.append(lut[pc.fill_null(encoded.indices, len(words)).to_numpy()])
        if len(vocabulary) > VALUE_CAP:
            return None
    return w.gather(per_part), list(vocabulary)

