"""What the profile hands to the plots: per-series buffers over round time buckets."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlotSeries:
    sid: int            # row of the plot buffers
    label: str          # the values of the tags that tell the plotted series apart
    rows: int
    first_ns: int
    last_ns: int
    median_ns: int | None
    gaps: list[tuple[int, int]]   # the kept (longest) gaps, start and end ns
    gap_count: int
    gaps_lower_bound: bool


@dataclass(frozen=True)
class PlotData:
    """Buffers per (series row, time bucket); bucket i covers origin_ns + i * bucket_ns."""

    first_ns: int
    last_ns: int
    origin_ns: int
    bucket_ns: int
    buckets: int
    legend_title: str   # the tags whose values label the series
    series: list[PlotSeries]
    series_count: int
    fields: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]   # min, max, sum, count
    rows: np.ndarray
    label_field: str | None
    positive: np.ndarray | None
    gap_factor: float
