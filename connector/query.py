"""Flux and InfluxQL text, from pure functions.

Every name that reaches a query goes through one quoting function per language, so a
measurement, tag or field name can contain anything (quotes, backslashes, newlines,
`|>`, `) or true`) and still means exactly that name and nothing more.
"""
from __future__ import annotations

from dataclasses import dataclass

from .timerange import Window, format_rfc3339

FLUX_META_TAGS = frozenset({"_start", "_stop", "_measurement", "_field"})


@dataclass(frozen=True)
class Selection:
    """What to read: one measurement, optionally some fields and exact tag matches."""

    bucket: str
    measurement: str
    fields: tuple[str, ...] | None = None
    tag_filter: tuple[tuple[str, str], ...] = ()
    every_ns: int | None = None  # resample on the server into buckets this long
    agg: str = "mean"
    fill: str = "none"


_DURATION_UNITS = (("w", 7 * 86400 * 10**9), ("d", 86400 * 10**9), ("h", 3600 * 10**9), ("m", 60 * 10**9),
                   ("s", 10**9), ("ms", 10**6), ("ns", 1))


def duration(ns: int) -> str:
    """A duration literal both languages read, in the largest unit that divides it."""
    unit, size = next((u, n) for u, n in _DURATION_UNITS if ns % n == 0)
    return f"{ns // size}{unit}"


# --- Flux -----------------------------------------------------------------

def flux_string(value: str) -> str:
    """A Flux string literal: backslash, quote and `${` (interpolation) escaped."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("${", "\\${")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def flux_time(ns: int) -> str:
    return format_rfc3339(ns)


def _flux_source(sel: Selection, start: int, stop: int) -> str:
    lines = [
        f"from(bucket: {flux_string(sel.bucket)})",
        f"  |> range(start: {flux_time(start)}, stop: {flux_time(stop)})",
        f"  |> filter(fn: (r) => r._measurement == {flux_string(sel.measurement)})",
    ]
    if sel.fields:
        alternatives = " or ".join(f"r._field == {flux_string(f)}" for f in sel.fields)
        lines.append(f"  |> filter(fn: (r) => {alternatives})")
    if sel.tag_filter:
        required = " and ".join(f"r[{flux_string(k)}] == {flux_string(v)}" for k, v in sel.tag_filter)
        lines.append(f"  |> filter(fn: (r) => {required})")
    return "\n".join(lines)


def _flux_resample(sel: Selection) -> str:
    if not sel.every_ns:
        return ""
    text = (f"\n  |> aggregateWindow(every: {duration(sel.every_ns)}, fn: {sel.agg}, "
            f"createEmpty: {'false' if sel.fill == 'none' else 'true'}, timeSrc: \"_start\")")
    if sel.fill == "previous":
        text += "\n  |> fill(usePrevious: true)"
    return text


def flux_window(sel: Selection, window: Window) -> str:
    """One window of points, one column per field, meta columns dropped on the server."""
    return (
        _flux_source(sel, window.start, window.stop)
        + _flux_resample(sel)
        + '\n  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")'
        + '\n  |> drop(columns: ["_start", "_stop", "_measurement"])'
    )


def flux_first_time(sel: Selection, start: int, stop: int) -> str:
    return (
        _flux_source(sel, start, stop)
        + '\n  |> first()\n  |> keep(columns: ["_time"])\n  |> group()\n  |> min(column: "_time")'
    )


def flux_last_time(sel: Selection, start: int, stop: int) -> str:
    return (
        _flux_source(sel, start, stop)
        + '\n  |> last()\n  |> keep(columns: ["_time"])\n  |> group()\n  |> max(column: "_time")'
    )


def flux_field_types(sel: Selection, start: int, stop: int) -> str:
    """One row per series and field whose table's #datatype says the field's type."""
    return _flux_source(sel, start, stop) + '\n  |> first()\n  |> keep(columns: ["_field", "_value"])'


def flux_schema(kind: str, sel: Selection, start: int, stop: int) -> str:
    """schema.measurementTagKeys / measurementFieldKeys over the export range."""
    function = {"tags": "measurementTagKeys", "fields": "measurementFieldKeys"}[kind]
    return (
        'import "influxdata/influxdb/schema"\n\n'
        f"schema.{function}(bucket: {flux_string(sel.bucket)}, measurement: {flux_string(sel.measurement)}, "
        f"start: {flux_time(start)}, stop: {flux_time(stop)})"
    )


# --- InfluxQL -------------------------------------------------------------

def influxql_identifier(name: str) -> str:
    """A double-quoted InfluxQL identifier: backslash, quote and newline escaped."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def influxql_string(value: str) -> str:
    """A single-quoted InfluxQL string literal."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


def _influxql_where(sel: Selection, start: int, stop: int) -> str:
    conditions = [f"time >= {start}", f"time < {stop}"]
    conditions += [f"{influxql_identifier(k)} = {influxql_string(v)}" for k, v in sel.tag_filter]
    return " AND ".join(conditions)


def _influxql_columns(sel: Selection, tags: tuple[str, ...]) -> str:
    """The tags, then the fields, each sorted: the output's own column order, so the answer's
    cells after the time can be copied as one run (`SELECT *` sorts tags and fields together)."""
    if not sel.fields:
        return "*"
    columns = [f"{influxql_identifier(t)}::tag" for t in sorted(tags)]
    columns += [f"{influxql_identifier(f)}::field" for f in sorted(sel.fields)]
    return ", ".join(columns)


def influxql_window(sel: Selection, window: Window, tags: tuple[str, ...] = ()) -> str:
    """One window of points; the times are ns integers because the request says epoch=ns."""
    if sel.every_ns:
        columns = ", ".join(f"{sel.agg}({influxql_identifier(f)}) AS {influxql_identifier(f)}"
                            for f in sel.fields or ())
        return (f"SELECT {columns} FROM {influxql_identifier(sel.measurement)} "
                f"WHERE {_influxql_where(sel, window.start, window.stop)} "
                f"GROUP BY time({duration(sel.every_ns)}), * fill({sel.fill})")
    return (
        f"SELECT {_influxql_columns(sel, tags)} FROM {influxql_identifier(sel.measurement)} "
        f"WHERE {_influxql_where(sel, window.start, window.stop)}"
    )


def influxql_edge_time(sel: Selection, start: int, stop: int, last: bool) -> str:
    order = "DESC" if last else "ASC"
    return (
        f"SELECT {_influxql_columns(sel, ())} FROM {influxql_identifier(sel.measurement)} "
        f"WHERE {_influxql_where(sel, start, stop)} ORDER BY time {order} LIMIT 1"
    )


def influxql_show(kind: str, sel: Selection) -> str:
    keyword = {"tags": "TAG KEYS", "fields": "FIELD KEYS"}[kind]
    return f"SHOW {keyword} FROM {influxql_identifier(sel.measurement)}"
