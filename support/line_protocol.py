"""InfluxDB line protocol parser for the in-repo 2.x test server (stdlib only).

Follows the documented grammar and InfluxDB's Go parser where it matters:

* ``measurement[,tag=value...] field=value[,field=value...] [timestamp]``
* measurement escapes ``\\,`` and ``\\ ``; tag keys, tag values and field keys
  escape ``\\,``, ``\\=`` and ``\\ `` (any other backslash stays literal);
* string field values are double-quoted, unescape only ``\\"`` and ``\\\\`` and may
  hold commas, spaces, ``=``, newlines and any unicode;
* floats (``1``, ``-1.5``, ``1e-3``), integers ``12i``, unsigned ``12u``, booleans
  ``t T true True TRUE f F false False FALSE``; NaN and Inf are rejected;
* blank lines and ``#`` comment lines are skipped; a missing timestamp takes the
  request's default time; ``precision`` (ns, us, ms, s) scales timestamps to ns.

Errors read like InfluxDB's: ``unable to parse '<line>': <reason>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

FieldValue = Union[float, int, bool, str]

PRECISION_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
MIN_TIME_NS = -9223372036854775806
MAX_TIME_NS = 9223372036854775806
_FLOAT_RE = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_INT_RE = re.compile(r"-?\d+\Z")
_UINT_RE = re.compile(r"\d+\Z")
_TIME_RE = re.compile(r"-?\d+\Z")
_TRUE = frozenset(("t", "T", "true", "True", "TRUE"))
_FALSE = frozenset(("f", "F", "false", "False", "FALSE"))


class LineProtocolError(ValueError):
    """A line that does not parse; ``str()`` is InfluxDB's wording."""


@dataclass
class Point:
    """One parsed line: kinds are 'float', 'int', 'uint', 'bool' or 'string'."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, tuple[str, FieldValue]] = field(default_factory=dict)
    time_ns: int = 0


class _Cursor:
    """A position in the request body, with the start of the current line."""

    __slots__ = ("text", "pos", "line_start")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line_start = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_line_end(self) -> bool:
        return self.pos >= len(self.text) or self.text[self.pos] == "\n"


def parse_lines(body: str, precision: str = "ns", default_time_ns: int = 0) -> list[Point]:
    """All points of a write body; raises LineProtocolError listing every bad line."""
    scale = PRECISION_NS[precision]
    cur = _Cursor(body)
    points: list[Point] = []
    errors: list[str] = []
    while cur.pos < len(body):
        _skip_blank_and_comments(cur)
        if cur.pos >= len(body):
            break
        cur.line_start = cur.pos
        try:
            points.append(_parse_point(cur, scale, default_time_ns))
        except LineProtocolError as exc:
            errors.append(f"unable to parse '{_rest_of_line(cur)}': {exc}")
            _skip_to_next_line(cur)
    if errors:
        raise LineProtocolError("\n".join(errors))
    return points


def _skip_blank_and_comments(cur: _Cursor) -> None:
    text = cur.text
    while cur.pos < len(text):
        ch = text[cur.pos]
        if ch in " \t\r\n":
            cur.pos += 1
        elif ch == "#":
            _skip_to_next_line(cur)
        else:
            return


def _skip_to_next_line(cur: _Cursor) -> None:
    nl = cur.text.find("\n", cur.pos)
    cur.pos = len(cur.text) if nl < 0 else nl + 1


def _rest_of_line(cur: _Cursor) -> str:
    nl = cur.text.find("\n", cur.line_start)
    end = len(cur.text) if nl < 0 else nl
    return cur.text[cur.line_start:end].rstrip("\r")


def _parse_point(cur: _Cursor, scale: int, default_time_ns: int) -> Point:
    measurement = _read_escaped(cur, stops=", ", escapable=", ")
    if not measurement:
        raise LineProtocolError("missing measurement")
    point = Point(measurement, _read_tags(cur))
    if cur.peek() != " ":
        raise LineProtocolError("missing fields")
    _skip_spaces(cur)
    if cur.at_line_end():
        raise LineProtocolError("missing fields")
    _read_fields(cur, point)
    point.time_ns = _read_timestamp(cur, scale, default_time_ns)
    if cur.pos < len(cur.text):
        cur.pos += 1  # the newline
    return point


def _skip_spaces(cur: _Cursor) -> None:
    while cur.peek() in (" ", "\t"):
        cur.pos += 1


def _read_escaped(cur: _Cursor, stops: str, escapable: str) -> str:
    """Text up to an unescaped stop char or line end; unescapes ``escapable``."""
    text, out = cur.text, []
    while cur.pos < len(text):
        ch = text[cur.pos]
        if ch == "\\" and cur.pos + 1 < len(text) and text[cur.pos + 1] in escapable:
            out.append(text[cur.pos + 1])
            cur.pos += 2
            continue
        if ch in stops or ch == "\n":
            break
        out.append(ch)
        cur.pos += 1
    return "".join(out)


def _read_tags(cur: _Cursor) -> dict[str, str]:
    tags: dict[str, str] = {}
    while cur.peek() == ",":
        cur.pos += 1
        key = _read_escaped(cur, stops=",= ", escapable=",= ")
        if not key:
            raise LineProtocolError("missing tag key")
        if cur.peek() != "=":
            raise LineProtocolError("missing tag value")
        cur.pos += 1
        value = _read_escaped(cur, stops=",= ", escapable=",= ")
        if not value or cur.peek() == "=":
            raise LineProtocolError("missing tag value")
        if key in tags:
            raise LineProtocolError("duplicate tags")
        tags[key] = value
    return tags


def _read_fields(cur: _Cursor, point: Point) -> None:
    while True:
        key = _read_escaped(cur, stops=",= ", escapable=",= ")
        if not key:
            raise LineProtocolError("missing field key")
        if cur.peek() != "=":
            raise LineProtocolError("missing field value")
        cur.pos += 1
        point.fields[key] = _read_field_value(cur)
        if cur.peek() != ",":
            return
        cur.pos += 1


def _read_field_value(cur: _Cursor) -> tuple[str, FieldValue]:
    if cur.peek() == '"':
        return "string", _read_string(cur)
    start = cur.pos
    text = cur.text
    while cur.pos < len(text) and text[cur.pos] not in ", \n":
        cur.pos += 1
    return _scalar(text[start:cur.pos].rstrip("\r"))


def _read_string(cur: _Cursor) -> str:
    text, out = cur.text, []
    cur.pos += 1  # opening quote
    while cur.pos < len(text):
        ch = text[cur.pos]
        if ch == "\\" and cur.pos + 1 < len(text) and text[cur.pos + 1] in '"\\':
            out.append(text[cur.pos + 1])
            cur.pos += 2
        elif ch == '"':
            cur.pos += 1
            return "".join(out)
        else:
            out.append(ch)
            cur.pos += 1
    raise LineProtocolError("unbalanced quotes")


def _scalar(token: str) -> tuple[str, FieldValue]:
    if not token:
        raise LineProtocolError("missing field value")
    if token in _TRUE:
        return "bool", True
    if token in _FALSE:
        return "bool", False
    if token.endswith("i") and _INT_RE.match(token[:-1]):
        value = int(token[:-1])
        if not -(2**63) <= value < 2**63:
            raise LineProtocolError(f"unable to parse integer {token[:-1]}: value out of range")
        return "int", value
    if token.endswith("u") and _UINT_RE.match(token[:-1]):
        value = int(token[:-1])
        if value >= 2**64:
            raise LineProtocolError(f"unable to parse unsigned {token[:-1]}: value out of range")
        return "uint", value
    if _FLOAT_RE.match(token):
        value_f = float(token)
        if value_f in (float("inf"), float("-inf")):
            raise LineProtocolError(f"unable to parse floating point {token}: value out of range")
        return "float", value_f
    raise LineProtocolError("invalid number")


def _read_timestamp(cur: _Cursor, scale: int, default_time_ns: int) -> int:
    _skip_spaces(cur)
    start = cur.pos
    text = cur.text
    while cur.pos < len(text) and text[cur.pos] != "\n":
        cur.pos += 1
    token = text[start:cur.pos].strip(" \t\r")
    if not token:
        return default_time_ns
    if not _TIME_RE.match(token):
        raise LineProtocolError("bad timestamp")
    ns = int(token) * scale
    if not MIN_TIME_NS <= ns <= MAX_TIME_NS:
        raise LineProtocolError("time outside range")
    return ns
