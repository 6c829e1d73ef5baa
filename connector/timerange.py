"""Time expressions -> nanoseconds since the epoch (UTC), and half-open windows.

Everything is an int of nanoseconds so that nothing is lost on the way: Python's
datetime stops at microseconds, InfluxDB does not.
"""
from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from typing import Iterator

NS_PER_S = 1_000_000_000
# InfluxDB's own limits (models.MinNanoTime / MaxNanoTime).
MIN_NS = -9_223_372_036_854_775_806
MAX_NS = 9_223_372_036_854_775_806

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(Z|z|[+-]\d{2}:?\d{2})?"
)
_RELATIVE = re.compile(r"-((?:\d+(?:mo|ms|us|ns|y|w|d|h|m|s))+)")
_RELATIVE_PART = re.compile(r"(\d+)(mo|ms|us|ns|y|w|d|h|m|s)")
_DURATION = re.compile(r"((?:\d+(?:mo|ms|us|ns|y|w|d|h|m|s))+)")
_UNIT_NS = {
    "ns": 1, "us": 1_000, "ms": 1_000_000, "s": NS_PER_S, "m": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S, "d": 86400 * NS_PER_S, "w": 7 * 86400 * NS_PER_S,
}
FORMS = "RFC 3339 (2024-01-01T00:00:00Z), a date (2024-01-01), relative (-1y, -1mo, -1w, -1d, -1h, -1m, -1s) or now()"


class TimeParseError(ValueError):
    """The text is not one of the accepted time forms."""


def now_ns() -> int:
    return time.time_ns()


def parse_time(text: str, now: int) -> int:
    """Parse one range_start/range_end value against a frozen `now` (ns)."""
    value = text.strip()
    if value.lower() in ("now()", "now"):
        return now
    relative = _RELATIVE.fullmatch(value)
    if relative:
        return _subtract(now, relative.group(1))
    match = _RFC3339.fullmatch(value)
    if not match:
        raise TimeParseError(f"{text!r} is not a time; use {FORMS}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        seconds = calendar.timegm(
            (int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), 0, 0, 0)
        )
        _check_fields(int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), int(year))
    except ValueError as exc:
        raise TimeParseError(f"{text!r} is not a valid date or time ({exc})") from None
    ns = seconds * NS_PER_S + int((fraction or "").ljust(9, "0") or 0)
    if offset and offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        ns -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * NS_PER_S
    if not MIN_NS <= ns <= MAX_NS:
        raise TimeParseError(f"{text!r} is outside InfluxDB's time range (1677-09-21 to 2262-04-11)")
    return ns


def parse_duration(text: str) -> int:
    """A positive duration such as 1h, 1d12h or 500ms, in ns (months count as 30 days)."""
    value = text.strip()
    if not _DURATION.fullmatch(value):
        raise TimeParseError(f"{text!r} is not a duration; use e.g. 10s, 1m, 1h, 1d, 1w")
    total = 0
    for amount, unit in _RELATIVE_PART.findall(value):
        if unit == "y":
            total += int(amount) * 365 * 86400 * NS_PER_S
        elif unit == "mo":
            total += int(amount) * 30 * 86400 * NS_PER_S
        else:
            total += int(amount) * _UNIT_NS[unit]
    if total <= 0:
        raise TimeParseError(f"{text!r} must be longer than zero")
    return total


def _check_fields(month: int, day: int, hour: int, minute: int, second: int, year: int) -> None:
    if not 1 <= month <= 12:
        raise ValueError("month out of range")
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise ValueError("day out of range for month")
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError("time of day out of range")


def _subtract(now: int, parts: str) -> int:
    """now minus a relative offset; years and months are calendar steps, like Flux."""
    seconds, remainder = divmod(now, NS_PER_S)
    moment = time.gmtime(seconds)
    months = 0
    fixed = 0
    for amount, unit in _RELATIVE_PART.findall(parts):
        if unit == "y":
            months += 12 * int(amount)
        elif unit == "mo":
            months += int(amount)
        else:
            fixed += int(amount) * _UNIT_NS[unit]
    if months:
        total = moment.tm_year * 12 + (moment.tm_mon - 1) - months
        year, month = divmod(total, 12)
        if year < 1678:
            raise TimeParseError(f"-{parts} reaches before InfluxDB's earliest time (1677-09-21)")
        day = min(moment.tm_mday, calendar.monthrange(year, month + 1)[1])
        seconds = calendar.timegm((year, month + 1, day, moment.tm_hour, moment.tm_min, moment.tm_sec, 0, 0, 0))
    return seconds * NS_PER_S + remainder - fixed


def format_rfc3339(ns: int) -> str:
    """The fixed nine-digit UTC form, for queries and messages."""
    seconds, fraction = divmod(ns, NS_PER_S)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


@dataclass(frozen=True)
class Window:
    """A half-open time window [start, stop) in ns: consecutive windows never overlap."""

    start: int
    stop: int

    def __str__(self) -> str:
        return f"[{format_rfc3339(self.start)}, {format_rfc3339(self.stop)})"


def split(start: int, stop: int, step: int) -> Iterator[Window]:
    """Cut [start, stop) into windows of `step` ns, the last one shorter."""
    edge = start
    while edge < stop:
        following = min(edge + step, stop)
        yield Window(edge, following)
        edge = following


TARGET_ROWS_PER_WINDOW = 50_000
FIRST_STEP_NS = 60 * NS_PER_S
MAX_GROWTH = 8


class WindowPlanner:
    """Half-open windows from `first` to `stop`, each sized from the density seen so far.

    Nobody knows up front how many points a range holds (counting them would cost the
    server a second pass), so the first window is a minute long and each next one is
    sized to hold about `target_rows` at the density observed, growing at most 8x per
    step. A fixed `step` turns this off. Thread-safe enough for one planner thread.
    """

    def __init__(self, first: int, stop: int, step: int | None = None,
                 target_rows: int = TARGET_ROWS_PER_WINDOW, align: int | None = None) -> None:
        # align (resampling): every window edge on a bucket edge, so no bucket is split in two.
        self.align = align
        if align:
            first = first // align * align
            stop = -(-stop // align) * align
            step = -(-step // align) * align if step else None
        self.edge = first
        self.stop = stop
        self.fixed = step
        self.step = step or (-(-FIRST_STEP_NS // align) * align if align else FIRST_STEP_NS)
        self.target_rows = target_rows
        self.density: float | None = None  # rows per ns, from the last observed window

    def next(self) -> Window | None:
        if self.edge >= self.stop:
            return None
        if self.fixed is None and self.density is not None:
            wanted = int(self.target_rows / self.density) if self.density > 0 else self.step * MAX_GROWTH
            self.step = max(1, min(wanted, self.step * MAX_GROWTH))
            if self.align:
                self.step = -(-self.step // self.align) * self.align
        following = min(self.edge + self.step, self.stop)
        window = Window(self.edge, following)
        self.edge = following
        return window

    def observe(self, window: Window, rows: int) -> None:
        self.density = rows / max(1, window.stop - window.start)

    @property
    def covered(self) -> int:
        return self.edge
