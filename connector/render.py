"""Typed Arrow columns -> CSV text, in bulk, without a Python loop per value.

The hot path of every export: each function turns a whole column into a string column
with C++ (Arrow) or numpy kernels, and `csv_lines` joins them into the bytes of the
rows. Times are written in one fixed width (RFC 3339, nine fractional digits, Z) that
pandas parses at nanosecond resolution; floats in the shortest text that reads back
to the same double, with `.0` on whole numbers so they stay floats when read again.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pyarrow as pa

from . import native
from .arrow_compute import pc

_ISO_TEMPLATE = np.frombuffer(b"0000-00-00T00:00:00.000000000Z", dtype=np.uint8)
_ISO_WIDTH = len(_ISO_TEMPLATE)
_NEEDS_QUOTES = r'[",\r\n]'


def _civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proleptic Gregorian (year, month, day) from days since 1970-01-01 (H. Hinnant's algorithm)."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


_PAIRS = np.array([[48 + i // 10, 48 + i % 10] for i in range(100)], dtype=np.uint8)


def _put_pair(out: np.ndarray, column: int, value: np.ndarray) -> None:
    """Write a 0..99 value as two ASCII digits: one table lookup instead of two divisions."""
    out[:, column:column + 2] = _PAIRS[value]


@lru_cache(maxsize=None)
def _digits(width: int) -> np.ndarray:
    """Row i is i in `width` ASCII digits (zero-padded)."""
    numbers = np.arange(10 ** width, dtype=np.int64)[:, None]
    return (numbers // 10 ** np.arange(width - 1, -1, -1) % 10 + 48).astype(np.uint8)


@lru_cache(maxsize=None)
def _clock() -> np.ndarray:
    """Row s is the second of the day s as HH:MM:SS."""
    second = np.arange(86400)
    out = np.empty((86400, 8), dtype=np.uint8)
    out[:, 2] = out[:, 5] = ord(":")
    out[:, 0:2] = _digits(2)[second // 3600]
    out[:, 3:5] = _digits(2)[second // 60 % 60]
    out[:, 6:8] = _digits(2)[second % 60]
    return out

_MAX_DAY_TABLE = 200_000  # days a window may span before dates are computed row by row


def _dates(days: np.ndarray) -> np.ndarray:
    """'YYYY-MM-DD' per row: computed once per distinct day of the span, then looked up."""
    low, high = int(days.min()), int(days.max())
    if high - low < _MAX_DAY_TABLE:
        span = np.arange(low, high + 1, dtype=np.int64)
        return _date_text(span)[days - low]
    return _date_text(days)


def _date_text(days: np.ndarray) -> np.ndarray:
    year, month, day = _civil_from_days(days)
    out = np.empty((len(days), 10), dtype=np.uint8)
    out[:, 4] = out[:, 7] = ord("-")
    century, year_of_century = np.divmod(year, 100)
    for column, part in ((0, century), (2, year_of_century), (5, month), (8, day)):
        _put_pair(out, column, part)
    return out


def iso_time(ns: pa.Array | np.ndarray, offsets_s: np.ndarray | None = None) -> pa.Array:
    """int64 ns -> 'YYYY-MM-DDTHH:MM:SS.fffffffffZ', or local time ending '+HH:MM' when each
    instant's UTC offset (seconds) is given: one fixed width per file either way.

    Every part is a table lookup (dates per distinct day, the clock per second of the day,
    the fraction in two pieces), so a row costs a few byte copies, not a calendar."""
    values = _as_int64(ns)
    if offsets_s is not None:
        offsets_s = np.broadcast_to(np.asarray(offsets_s, dtype=np.int64), values.shape)
        values = values + offsets_s * 1_000_000_000
    count = len(values)
    width = _ISO_WIDTH if offsets_s is None else _ISO_WIDTH + 5
    kernels = native.kernels()
    if kernels is not None:
        out = kernels.iso_time(values, offsets_s, width)
    else:
        out = np.empty((count, width), dtype=np.uint8)
    if count and kernels is None:
        seconds, fraction = np.divmod(values, 1_000_000_000)
        days, second_of_day = np.divmod(seconds, 86400)
        out[:, 0:10] = _dates(days)
        out[:, 10] = ord("T")
        out[:, 11:19] = _clock()[second_of_day]
        out[:, 19] = ord(".")
        high, low = np.divmod(fraction, 10_000)
        out[:, 20:25] = _digits(5)[high]
        out[:, 25:29] = _digits(4)[low]
        out[:, 29] = ord("Z")
        if offsets_s is not None:
            out[:, 29] = np.where(offsets_s < 0, ord("-"), ord("+"))
            offset_hours, offset_minutes = np.divmod(np.abs(offsets_s) // 60, 60)
            _put_pair(out, 30, offset_hours)
            out[:, 32] = ord(":")
            _put_pair(out, 33, offset_minutes)
    offsets = np.arange(0, (count + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(out)])


_FIXED_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


def zone_offsets(zone: str, ns) -> np.ndarray | None:
    """Each instant's UTC offset in seconds in `zone`; None for UTC (written with Z)."""
    if zone.upper() in ("UTC", "Z"):
        return None
    fixed = _FIXED_OFFSET.fullmatch(zone)
    if fixed:
        sign, hours, minutes = fixed.groups()
        if int(hours) > 23 or int(minutes) > 59:
            raise ValueError(f"{zone!r} is not a UTC offset")
        value = (int(hours) * 3600 + int(minutes) * 60) * (-1 if sign == "-" else 1)
        return np.full(len(ns), value, dtype=np.int64)
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(zone)
    except Exception:
        raise ValueError(f"{zone!r} is not a time zone; use UTC, an offset like +05:30 "
                         f"or a name like Europe/Berlin") from None
    import pandas as pd  # only for named zones: DST rules, vectorised

    instants = _as_int64(ns) if not isinstance(ns, list) else np.asarray(ns, dtype=np.int64)
    local = pd.DatetimeIndex(pd.to_datetime(instants, utc=True)).tz_convert(zone).tz_localize(None)
    return (local.asi8 - instants) // 1_000_000_000


def time_text(ns, time_format: str, zone: str = "UTC") -> pa.Array | None:
    """The time column's text in the chosen format; None when there is no time column."""
    if time_format == "omit":
        return None
    if time_format == "iso":
        return iso_time(ns, zone_offsets(zone, ns) if zone.upper() not in ("UTC", "Z") else None)
    divisor = {"epoch_ns": 1, "epoch_ms": 1_000_000, "epoch_s": 1_000_000_000}[time_format]
    values = _as_int64(ns)
    return pc.cast(pa.array(values // divisor if divisor > 1 else values), pa.string())


def _as_int64(ns: pa.Array | pa.ChunkedArray | np.ndarray) -> np.ndarray:
    if isinstance(ns, np.ndarray):
        return ns.astype(np.int64, copy=False)
    if isinstance(ns, pa.ChunkedArray):
        ns = ns.combine_chunks()
    if pa.types.is_timestamp(ns.type):
        ns = ns.cast(pa.int64())
    return ns.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def float_text(values: pa.Array) -> pa.Array:
    """Shortest round-trip text; whole numbers get '.0' so a reader keeps the float type."""
    return float_text_fix(pc.cast(values, pa.string()))


def float_text_fix(text: pa.Array) -> pa.Array:
    """A float's text as the server wrote it ('1', '0.5', '1e+20') -> '.0' on whole numbers.

    InfluxDB writes floats without exponents (Go's 'f' format), so a missing '.' is the
    whole test. A float has at most one '.', so when a chunk's bytes hold as many dots as it
    has values, none needs the fix (the usual case), found by one byte count."""
    if isinstance(text, pa.ChunkedArray):
        return pa.chunked_array([float_text_fix(chunk) for chunk in text.chunks], type=text.type)
    if _dots(text) == len(text) - text.null_count:
        return text
    whole = pc.invert(pc.match_substring(text, "."))
    if text.null_count:
        whole = pc.fill_null(whole, False)
    candidates = pc.filter(text, whole)
    exponent = pc.match_substring(candidates, "e")  # '1e+20' from Arrow's own formatting
    if pc.any(exponent).as_py():
        mask = whole.to_numpy(zero_copy_only=False).copy()
        mask[np.flatnonzero(mask)[exponent.to_numpy(zero_copy_only=False)]] = False
        whole = pa.array(mask)
        candidates = pc.filter(text, whole)
    return pc.replace_with_mask(text, whole, pc.binary_join_element_wise(candidates, ".0", ""))


def _dots(text: pa.Array) -> int:
    """How many '.' bytes the values of a string array hold together."""
    if len(text) == 0:
        return 0
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32, count=len(text) + 1, offset=text.offset * 4)
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return int(np.count_nonzero(data == 46))


def quoted_text(values: pa.Array) -> pa.Array:
    """RFC 4180 quoting, only where a value holds a comma, a quote or a line break."""
    if len(values) == 0:
        return values
    needs = pc.match_substring_regex(values, _NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return values
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, values)


def value_text(values: pa.Array) -> pa.Array:
    """Any field or tag column -> its CSV text (null stays null: an empty cell)."""
    kind = values.type
    if pa.types.is_floating(kind):
        return float_text(values)
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return pc.cast(values, pa.string())
    if pa.types.is_timestamp(kind):
        return iso_time(values)
    if pa.types.is_null(kind):
        return pa.nulls(len(values), pa.string())
    return quoted_text(values.cast(pa.string()) if not pa.types.is_string(kind) else values)


def csv_header(names: list[str]) -> bytes:
    return (",".join(_quote_name(n) for n in names) + "\n").encode("utf-8")


def _quote_name(name: str) -> str:
    if any(ch in name for ch in ',"\r\n'):
        return '"' + name.replace('"', '""') + '"'
    return name


def csv_rows(columns: list[pa.Array]) -> pa.Array:
    """Text columns -> one string per row, ending in a newline (null cells left empty)."""
    if len(columns) == 1:
        return pc.binary_join_element_wise(columns[0], "", "\n", null_handling="replace", null_replacement="")
    rows = pc.binary_join_element_wise(*columns, ",", null_handling="replace", null_replacement="")
    return pc.binary_join_element_wise(rows, "", "\n")


def rows_buffer(rows: pa.Array) -> pa.Buffer:
    """The bytes behind a string array of rows, without copying them."""
    if len(rows) == 0:
        return pa.py_buffer(b"")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32, count=len(rows) + 1, offset=rows.offset * 4)
    return rows.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def rows_buffers(rows: pa.Array | pa.ChunkedArray) -> list[pa.Buffer]:
    """The bytes of every chunk of rows, in order, without copying them."""
    chunks = rows.chunks if isinstance(rows, pa.ChunkedArray) else [rows]
    return [rows_buffer(chunk) for chunk in chunks if len(chunk)]
