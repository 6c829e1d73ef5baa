"""The profile's arithmetic and wording: interval histogram bins and their median, gap
lists, plot bucket widths, spans and durations as text. Pure functions of numbers."""
from __future__ import annotations

from typing import Any

import numpy as np

from .timerange import format_rfc3339

GAPS_SHOWN = 5            # gaps listed per series and overall in the result
SUB_BITS = 6              # mantissa bits per histogram bin: 2**6 = 64 bins per octave
_BIN_BASE = (1023 << SUB_BITS) - 1   # bin of 1 ns is 1; 0 holds "no interval"


_NICE_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def bucketing(first: int, last: int, most: int) -> tuple[int, int, int]:
    """(bucket width, origin, count): a round width (1 s, 10 min, 1 h, 1 d, 7 d, ...; finer than a
    second: a power of ten) with at most `most` buckets, aligned to multiples of the width."""
    wanted = -(-(last - first + 1) // most)
    if wanted < 10**9:
        width = 10 ** max(0, len(str(wanted - 1)) if wanted > 1 else 0)
    else:
        day = 86_400 * 10**9
        width = next((n * 10**9 for n in _NICE_S if n * 10**9 >= wanted), None) or -(-wanted // day) * day
    origin = first // width * width
    while (last - origin) // width + 1 > most:   # alignment can need one more bucket than `most`
        width = next((n * 10**9 for n in _NICE_S if n * 10**9 > width), width * 2)
        origin = first // width * width
    return width, origin, int((last - origin) // width + 1)


def bins(intervals: np.ndarray) -> np.ndarray:
    """Histogram bin of each interval (ns): the float64's exponent and top SUB_BITS mantissa
    bits, so 2**SUB_BITS bins per octave, 1 for 1 ns; 0 for zero or negative ("no interval")."""
    bits = intervals.astype(np.float64).view(np.int64) >> (52 - SUB_BITS)
    return np.maximum(bits - _BIN_BASE, 0)


def median(hist: dict[int, list[int]]) -> tuple[int, int, int] | None:
    """Lower median of the histogram's intervals: (estimate, lowest and highest it can be)."""
    total = sum(e[0] for e in hist.values())
    if not total:
        return None
    rank = (total - 1) // 2
    for b in sorted(hist):
        n, low, high = hist[b]
        if rank < n:
            value = low if n == 1 or low == high else low + round((high - low) * rank / (n - 1))
            return int(value), int(low), int(high)
        rank -= n
    raise AssertionError("unreachable")


def gaps(count: int, lower_bound: bool, longest: int, where: list[tuple[int, int, str]],
          threshold: float | None) -> dict[str, Any]:
    return {"threshold_ns": threshold, "count": count, "count_is_lower_bound": lower_bound, "longest_ns": longest,
            "longest": [{"series": s, **span(a, b, "start", "end"), "duration_ns": b - a,
                         "duration": duration_text(b - a)} for a, b, s in where]}


def all_gaps(kept: tuple[np.ndarray, np.ndarray], threshold: float | None) -> list[dict[str, int]]:
    if threshold is None:
        return []
    durations, ends = kept
    return [{"start_ns": int(e - d), "end_ns": int(e)} for d, e in zip(durations.tolist(), ends.tolist())
            if d > threshold]


def span(first: int, last: int, a: str = "first", b: str = "last") -> dict[str, Any]:
    return {f"{a}_time": format_rfc3339(first), f"{a}_ns": first,
            f"{b}_time": format_rfc3339(last), f"{b}_ns": last}


def sorted_values(counts: dict[str, int], numeric: bool) -> dict[str, int]:
    if numeric:
        return dict(sorted(counts.items(), key=lambda item: float(item[0])))
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


_UNITS = ((86_400 * 10**9, "d"), (3_600 * 10**9, "h"), (60 * 10**9, "min"), (10**9, "s"), (10**6, "ms"),
          (10**3, "us"), (1, "ns"))


def duration_text(ns: float) -> str:
    """A readable duration: 250 ms, 10 s, 6 min 40 s, 3 h, 1 d 2 h."""
    ns = abs(ns)
    for index, (size, unit) in enumerate(_UNITS):
        if ns >= size or size == 1:
            if size < 60 * 10**9:
                return f"{ns / size:.3g} {unit}"
            minor, minor_unit = _UNITS[index + 1]
            rounded = round(ns / minor) * minor
            if index and rounded >= _UNITS[index - 1][0]:   # 59 min 59.9 s -> 1 h
                return duration_text(rounded)
            major, rest = divmod(rounded // minor, size // minor)
            return f"{major} {unit}" + (f" {rest} {minor_unit}" if rest else "")
    return "0 ns"


def short(ns: int, minutes: bool = False) -> str:
    text = format_rfc3339(ns)
    return text[:16] + "Z" if minutes else text[:10] + " " + text[11:19] + "Z"
