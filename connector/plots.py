"""PNG pictures of a profile: one figure per numeric field and one coverage chart.

The profiler collected everything these need while the export streamed (min, max, sum
and count per series and time bucket, rows per bucket, the longest gaps), so drawing a
10M-row export costs the same as drawing a small one. matplotlib is optional: it is
imported only here, inside `render`, and drawn through its Agg canvas directly (no pyplot,
so a notebook's backend and figure state are left alone).

Files: `<stem>.<field>.png` and `<stem>.coverage.png` beside the output, where the stem is
the output file name without its endings (`telemetry.csv.gz` -> `telemetry`); field names
are made safe for file names. Each file is written under a temporary name and renamed.
"""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OutputError
from .plot_data import PlotData
from .profile import Profiler
from .profile_report import duration_text

SIZE_IN = (12.0, 4.5)
DPI = 100
SIZE_PX = (int(SIZE_IN[0] * DPI), int(SIZE_IN[1] * DPI))   # (width, height) of every PNG
_ENDINGS = (".csv.gz", ".csv", ".parquet", ".gz", ".json")
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a")   # no red: red marks anomalies and gaps
_ANOMALY = "#d62728"
_NS_PER_DAY = 86_400 * 10**9


def file_stem(file_name: str) -> str:
    """The output file name without its endings: telemetry.csv.gz -> telemetry."""
    stem = Path(file_name).name
    changed = True
    while changed:
        changed = False
        for ending in _ENDINGS:
            if stem.lower().endswith(ending) and len(stem) > len(ending):
                stem, changed = stem[:-len(ending)], True
    return stem


def safe_name(name: str) -> str:
    """A field name as a file name part: letters, digits, '.', '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:100] or "field"


def file_names(fields: list[str], stem: str) -> dict[str, str]:
    """field -> file name, unique, never the coverage chart's name."""
    used = {f"{stem}.coverage.png"}
    names = {}
    for field in fields:
        base = safe_name(field)
        name, n = f"{stem}.{base}.png", 1
        while name in used:
            n += 1
            name = f"{stem}.{base}-{n}.png"
        used.add(name)
        names[field] = name
    return names


def render(profile: Profiler | PlotData, folder: str | Path, stem: str) -> list[Path]:
    """Draw the profile's figures into `folder`; returns the files written."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise OutputError("plot=True needs matplotlib: pip install matplotlib") from exc
    data = profile.plot_data() if isinstance(profile, Profiler) else profile
    folder = Path(folder)
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for field, name in file_names(list(data.fields), stem).items():
            figure = Figure(figsize=SIZE_IN, dpi=DPI)
            FigureCanvasAgg(figure)
            _field_figure(figure, data, field, stem)
            written.append(_save(figure, folder / name))
        figure = Figure(figsize=SIZE_IN, dpi=DPI)
        FigureCanvasAgg(figure)
        _coverage_figure(figure, data, stem)
        written.append(_save(figure, folder / f"{stem}.coverage.png"))
    except OSError as exc:
        raise OutputError(f"cannot write the profile plots to {folder}: {exc.strerror or exc}") from exc
    return written


def _save(figure: Any, path: Path) -> Path:
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        figure.savefig(partial, format="png", dpi=DPI)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _dates(ns: np.ndarray | float) -> np.ndarray:
    """ns since the epoch -> matplotlib date numbers (days since matplotlib's epoch)."""
    import matplotlib.dates as mdates

    offset = mdates.date2num(np.datetime64(0, "ns"))
    return offset + np.asarray(ns, dtype=np.float64) / _NS_PER_DAY


def _time_axis(ax: Any, data: PlotData) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    low, high = _dates(data.first_ns), _dates(data.last_ns)
    pad = max((high - low) * 0.005, 1 / 86_400)
    ax.set_xlim(low - pad, high + pad)
    ax.set_xlabel("time (UTC)")
    ax.grid(True, color="#e6e6e6", linewidth=0.8)
    ax.set_axisbelow(True)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index runs where mask is true."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _joined(x: np.ndarray, has: np.ndarray, data: PlotData, series: Any,
            *values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The buckets that hold rows, joined by lines except across a gap of the series (a break).

    A series sampled more sparsely than the buckets leaves empty buckets between its points;
    those must not break its line, only a real gap (> gap_factor x its median interval) does."""
    index = np.flatnonzero(has)
    if not len(index):
        return x[:0], [v[:0] for v in values]
    longest = max(data.gap_factor * (series.median_ns or 0), data.bucket_ns)
    breaks = np.flatnonzero((np.diff(index) - 1) * data.bucket_ns > longest) + 1
    xs = np.insert(x[index], breaks, np.nan)
    return xs, [np.insert(v[index], breaks, np.nan) for v in values]


def _shown(data: PlotData) -> str:
    if data.series_count > len(data.series):
        return f"first {len(data.series)} of {data.series_count:,} series"
    return f"{data.series_count} series"


def _field_figure(figure: Any, data: PlotData, field: str, stem: str) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ax = figure.add_axes((0.065, 0.13, 0.72, 0.74))
    lows, highs, sums, counts = data.fields[field]
    x = _dates(data.origin_ns + (np.arange(data.buckets) + 0.5) * data.bucket_ns)
    handles = []
    anomalous = np.zeros(data.buckets, bool)
    for k, s in enumerate(data.series):
        color = _COLORS[k % len(_COLORS)]
        has = counts[s.sid] > 0
        mean = np.where(has, sums[s.sid] / np.maximum(counts[s.sid], 1), np.nan)
        xs, (ms, lo, hi) = _joined(x, has, data, s, mean, lows[s.sid], highs[s.sid])
        ax.fill_between(xs, lo, hi, color=color, alpha=0.18, linewidth=0)
        ax.plot(xs, ms, color=color, linewidth=1.1)
        handles.append(Line2D([], [], color=color, linewidth=2, label=s.label))
        if data.positive is not None:
            hit = (data.positive[s.sid] > 0) & has
            anomalous |= hit
            ax.plot(x[hit], mean[hit], linestyle="none", marker="o", markersize=3.2, markerfacecolor=_ANOMALY,
                    markeredgecolor=_ANOMALY, zorder=3)
    half = (x[1] - x[0]) / 2 if len(x) > 1 else 0
    for a, b in _runs(anomalous):
        ax.axvspan(x[a] - half, x[b - 1] + half, color=_ANOMALY, alpha=0.10, linewidth=0)
    if not counts.any():
        ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center", va="center", color="#777777")
    handles.append(Patch(color="#999999", alpha=0.35, label="min .. max per bucket"))
    if data.positive is not None:
        handles.append(Patch(color=_ANOMALY, alpha=0.35, label=f"labelled: {data.label_field}"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9,
              title=data.legend_title or None, title_fontsize=9, alignment="left")
    ax.set_ylabel(field)
    _time_axis(ax, data)
    figure.suptitle(f"{stem}: {field}", x=0.065, ha="left", fontsize=13, fontweight="bold")
    ax.set_title(f"mean per {duration_text(data.bucket_ns)} (line), min .. max (band); {_shown(data)}",
                 loc="left", fontsize=9.5, color="#555555")


def _coverage_figure(figure: Any, data: PlotData, stem: str) -> None:
    from matplotlib.patches import Patch
    from matplotlib.transforms import blended_transform_factory

    ax = figure.add_axes((0.16, 0.13, 0.62, 0.74))
    span_days = (data.last_ns - data.first_ns) / _NS_PER_DAY
    minimum = max(span_days / 600, 1e-12)   # a gap at least a pixel or two wide, however short
    count = len(data.series)
    beside = blended_transform_factory(ax.transAxes, ax.transData)   # x in the axes, y at the bar
    for k, s in enumerate(data.series):
        y = count - 1 - k
        color = _COLORS[k % len(_COLORS)]
        ax.broken_barh([(_dates(s.first_ns), (s.last_ns - s.first_ns) / _NS_PER_DAY)], (y - 0.3, 0.6),
                       facecolors=color, alpha=0.85)
        gaps = [(_dates(a), max((b - a) / _NS_PER_DAY, minimum)) for a, b in s.gaps]
        ax.broken_barh(gaps, (y - 0.42, 0.84), facecolors=_ANOMALY, edgecolor=_ANOMALY, linewidth=0.5)
        median = duration_text(s.median_ns) if s.median_ns else "-"
        if not s.gap_count:
            gap_text = "no gaps"
        else:
            gap_text = (f"{'at least ' if s.gaps_lower_bound else ''}{s.gap_count:,} "
                        f"gap{'s' if s.gap_count > 1 else ''}, "
                        f"longest {duration_text(max(b - a for a, b in s.gaps))}"
                        + (f"\n({len(s.gaps)} longest shown)" if s.gap_count > len(s.gaps) else ""))
        ax.text(1.01, y, f"{s.rows:,} rows, every {median}\n{gap_text}", transform=beside, va="center",
                fontsize=8.5, color="#333333")
    ax.set_yticks(range(count))
    ax.set_yticklabels([s.label for s in reversed(data.series)], fontsize=9)
    if data.legend_title:
        ax.set_ylabel(data.legend_title)
    ax.set_ylim(-0.7, count - 0.3 if count else 0.7)
    _time_axis(ax, data)
    ax.legend(handles=[Patch(color="#999999", label="first .. last point"),
                       Patch(color=_ANOMALY, label=f"gap: interval > {data.gap_factor:g}x the series' median")],
              loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False, fontsize=9)
    figure.suptitle(f"{stem}: coverage and gaps", x=0.16, ha="left", fontsize=13, fontweight="bold")
    ax.set_title(_shown(data), loc="left", fontsize=9.5, color="#555555")
