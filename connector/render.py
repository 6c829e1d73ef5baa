"""Typed Arrow columns -> CSV text, in bulk, without a Python loop per value.

The hot path of every export: each function turns a whole column into a string column
with C++ (Arrow) or numpy kernels, and `csv_lines` joins them into the bytes of the
rows. Times are written in one fixed width (RFC 3339, nine fractional digits, Z) that
pandas parses at nanosecond resolution; floats in the shortest text that reads back
to the same double, with `.0` on whole numbers so they stay floats when read again.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


def iso_time(ns: pa.Array | np.ndarray, offsets_s: np.ndarray | None = None) -> pa.Array:
    """int64 ns -> 'YYYY-MM-DDTHH:MM:SS.fffffffffZ', or local time ending '+HH:MM' when each
    instant's UTC offset (seconds) is given: one fixed width per file either way."""
    values = _as_int64(ns)
    if offsets_s is not None:
        offsets_s = np.broadcast_to(np.asarray(offsets_s, dtype=np.int64), values.shape)
        values = values + offsets_s * 1_000_000_000
    seconds, fraction = np.divmod(values, 1_000_000_000)
    days, second_of_day = np.divmod(seconds, 86400)
    year, month, day = _civil_from_days(days)
    hour, rest = np.divmod(second_of_day, 3600)
    minute, second = np.divmod(rest, 60)
    count = len(values)
    width = _ISO_WIDTH if offsets_s is None else _ISO_WIDTH + 5
    out = np.empty((count, width), dtype=np.uint8)
    out[:, :_ISO_WIDTH] = _ISO_TEMPLATE
    century, year_of_century = np.divmod(year, 100)
    for column, part in ((0, century), (2, year_of_century), (5, month), (8, day),
                         (11, hour), (14, minute), (17, second)):
        _put_pair(out, column, part)
    high, low = np.divmod(fraction, 100_000)          # 4 digits, 5 digits
    _put_pair(out, 20, high // 100)
    _put_pair(out, 22, high % 100)
    first, low = np.divmod(low, 10_000)
    out[:, 24] = first + 48
    _put_pair(out, 25, low // 100)
    _put_pair(out, 27, low % 100)
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
    """A float's text as the server wrote it ('1', '0.5', '1e+20') -> '.0' on whole numbers."""
    plain = pc.invert(pc.or_(pc.match_substring(text, "."), pc.match_substring(text, "e")))
    return pc.if_else(plain, pc.binary_join_element_wise(text, ".0", ""), text)


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


def rows_buffer(rows: pa.Array | pa.ChunkedArray) -> pa.Buffer:
    """The bytes behind a string array of rows, without copying them."""
    if isinstance(rows, pa.ChunkedArray):
        rows = rows.combine_chunks()
    if len(rows) == 0:
        return pa.py_buffer(b"")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32, count=len(rows) + 1, offset=rows.offset * 4)
    return rows.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
