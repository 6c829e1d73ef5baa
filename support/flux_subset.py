"""The Flux subset the in-repo InfluxDB 2.x test server runs, and its annotated CSV.

Only the query shapes the connector and its tests send are accepted; anything
else is a 400 ``{"code": "invalid"}``, so an injected or malformed query is
rejected, never silently widened.  Parsing is a real tokenizer plus a small
recursive-descent parser (Flux strings, RFC 3339 time literals, durations,
``//`` comments), not regular expressions over the whole text.

Semantics follow InfluxDB 2.7 (Flux 0.19x) as read in its sources:

* ``from |> range`` gives one table per series and field, ordered by series key;
  columns ``_start,_stop,_time,_value`` then every tag key (``_field`` and
  ``_measurement`` included) in byte order; group key ``_start,_stop`` + tags.
* filters directly after ``range`` are evaluated per series like the storage
  predicate pushdown (a missing tag compares as the empty string for ``!=``).
* ``pivot(rowKey:["_time"], columnKey:["_field"], valueColumn:"_value")`` right
  after the read is the storage "sorted pivot" (``pivotTransformation2``):
  columns ``_time``, the remaining group key columns in key order, then the
  field columns sorted by name; rows are the union of times, sorted; tables
  are ordered by group key (``groupKeyLess``).
* aggregates pushed down to storage (``count``/``sum``/``mean`` directly after the
  read) have columns ``_start,_stop,_value,<tags>``; elsewhere they keep the
  group key columns then ``_value``.
* the CSV encoder mirrors ``flux/csv.ResultEncoder``: Go ``encoding/csv`` quoting
  with CRLF, ``strconv.FormatFloat(v, 'f', -1, 64)``, RFC3339Nano times, a new
  annotation block whenever the column list changes, a trailing CRLF per result.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import repeat
from typing import Any, Optional, Protocol

# --------------------------------------------------------------------------- errors


class FluxError(Exception):
    """A query error answered as JSON ``{"code", "message"}`` with ``status``."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class BucketNotFound(FluxError):
    def __init__(self, bucket: str) -> None:
        super().__init__(
            f'failed to initialize execute state: could not find bucket "{bucket}"', 404, "not found"
        )


def _unsupported(what: str) -> FluxError:
    return FluxError(f"unsupported by the test server's Flux subset: {what}")


# --------------------------------------------------------------------------- tokens

_DURATION_UNITS_NS = {
    "ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
    "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
_TIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2}))?"
)
_DURATION_RE = re.compile(r"(?:\d+(?:mo|ms|us|µs|ns|y|w|d|h|m|s))+(?![A-Za-z0-9_])")
_DURATION_PART_RE = re.compile(r"(\d+)(mo|ms|us|µs|ns|y|w|d|h|m|s)")
_NUMBER_RE = re.compile(r"\d+(\.\d+)?(?![A-Za-z0-9_])")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PUNCT = ("|>", "=>", "==", "!=", "<=", ">=", "=~", "!~", "(", ")", "[", "]", "{", "}",
          ",", ":", ".", "<", ">", "-", "+", "*", "/", "=", "%", "^", "?")
_STRING_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "$": "$"}


@dataclass(frozen=True)
class Token:
    kind: str  # IDENT STRING TIME DURATION INT FLOAT OP EOF
    value: Any
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while True:
        pos = _skip_space_and_comments(text, pos)
        if pos >= len(text):
            tokens.append(Token("EOF", None, pos))
            return tokens
        token, pos = _next_token(text, pos)
        tokens.append(token)


def _skip_space_and_comments(text: str, pos: int) -> int:
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
        elif text.startswith("//", pos):
            nl = text.find("\n", pos)
            pos = len(text) if nl < 0 else nl + 1
        else:
            break
    return pos


def _next_token(text: str, pos: int) -> tuple[Token, int]:
    ch = text[pos]
    if ch == '"':
        value, end = _lex_string(text, pos)
        return Token("STRING", value, pos), end
    if ch.isdigit():
        return _lex_number_like(text, pos)
    m = _IDENT_RE.match(text, pos)
    if m:
        return Token("IDENT", m.group(), pos), m.end()
    for punct in _PUNCT:
        if text.startswith(punct, pos):
            return Token("OP", punct, pos), pos + len(punct)
    raise FluxError(f"error @{_where(text, pos)}: invalid token {ch!r}")


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"{line}:{col}"


def _lex_string(text: str, pos: int) -> tuple[str, int]:
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            i = _lex_escape(text, i, out)
            continue
        if ch == "$" and text.startswith("${", i):
            raise _unsupported("string interpolation")
        out.append(ch)
        i += 1
    raise FluxError(f"error @{_where(text, pos)}: unterminated string literal")


def _lex_escape(text: str, i: int, out: list[str]) -> int:
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if nxt in _STRING_ESCAPES:
        out.append(_STRING_ESCAPES[nxt])
        return i + 2
    if nxt == "x":
        raw = bytearray()
        while text.startswith("\\x", i) and re.match(r"[0-9A-Fa-f]{2}", text[i + 2:i + 4]):
            raw.append(int(text[i + 2:i + 4], 16))
            i += 4
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise FluxError(f"error @{_where(text, i)}: invalid byte sequence in string") from exc
        if raw:
            return i
    raise FluxError(f"error @{_where(text, i)}: invalid escape sequence \\{nxt}")


def _lex_number_like(text: str, pos: int) -> tuple[Token, int]:
    m = _TIME_RE.match(text, pos)
    if m and (m.end() == len(text) or not (text[m.end()].isalnum() or text[m.end()] == "_")):
        return Token("TIME", _time_literal_ns(m), pos), m.end()
    m = _DURATION_RE.match(text, pos)
    if m:
        return Token("DURATION", _parse_duration(m.group()), pos), m.end()
    m = _NUMBER_RE.match(text, pos)
    if m:
        kind = "FLOAT" if m.group(1) else "INT"
        value = float(m.group()) if m.group(1) else int(m.group())
        return Token(kind, value, pos), m.end()
    raise FluxError(f"error @{_where(text, pos)}: invalid number literal")


@dataclass(frozen=True)
class Duration:
    """A Flux duration: calendar months plus nanoseconds (``1mo`` is not 30d)."""

    months: int
    ns: int

    def negate(self) -> "Duration":
        return Duration(-self.months, -self.ns)


def _parse_duration(text: str) -> Duration:
    months = ns = 0
    for num, unit in _DURATION_PART_RE.findall(text):
        if unit == "mo":
            months += int(num)
        elif unit == "y":
            months += 12 * int(num)
        else:
            ns += int(num) * _DURATION_UNITS_NS[unit]
    return Duration(months, ns)


def _time_literal_ns(m: re.Match[str]) -> int:
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    hh, mm, ss = (int(m.group(i) or 0) for i in (4, 5, 6))
    frac = (m.group(7) or "").ljust(9, "0")
    offset = m.group(8) or "Z"
    try:
        days = _dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL
        _dt.time(hh, mm, ss)
    except ValueError as exc:
        raise FluxError(f"invalid time literal {m.group()!r}") from exc
    seconds = days * 86400 + hh * 3600 + mm * 60 + ss
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    return seconds * 1_000_000_000 + int(frac)


_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()


def add_duration(t_ns: int, dur: Duration) -> int:
    """``t + dur`` with calendar months, like Flux's ``date.add``."""
    if dur.months:
        sec, sub = divmod(t_ns, 1_000_000_000)
        d = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=sec)
        month0 = d.month - 1 + dur.months
        year, month = d.year + month0 // 12, month0 % 12 + 1
        day = min(d.day, calendar.monthrange(year, month)[1])
        d = d.replace(year=year, month=month, day=day)
        t_ns = int((d - _dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000_000 + sub
    return t_ns + dur.ns


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Literal:
    kind: str  # string time duration int float bool
    value: Any


@dataclass(frozen=True)
class ArrayLit:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Ident:
    name: str


@dataclass(frozen=True)
class NowCall:
    pass


@dataclass(frozen=True)
class Compare:
    column: str
    op: str  # == or !=
    value: str


@dataclass(frozen=True)
class Logical:
    op: str  # and / or
    left: Any
    right: Any


@dataclass(frozen=True)
class Predicate:
    body: Any  # Compare | Logical | Literal(bool)


@dataclass(frozen=True)
class Call:
    name: str  # e.g. "range", "schema.measurementTagKeys"
    args: dict[str, Any]
    pos: int
    end: int = 0


@dataclass(frozen=True)
class Program:
    imports: tuple[str, ...]
    calls: tuple[Call, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # -- token helpers
    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def is_op(self, value: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok.kind == "OP" and tok.value == value

    def expect_op(self, value: str) -> Token:
        if not self.is_op(value):
            self.fail(f"expected {value!r}")
        return self.next()

    def expect(self, kind: str) -> Token:
        if self.peek().kind != kind:
            self.fail(f"expected {kind}")
        return self.next()

    def fail(self, what: str) -> None:
        tok = self.peek()
        got = "end of query" if tok.kind == "EOF" else repr(tok.value)
        raise FluxError(f"error @{_where(self.text, tok.pos)}: {what}, got {got}")

    # -- grammar
    def program(self) -> Program:
        imports: list[str] = []
        while self.peek().kind == "IDENT" and self.peek().value == "import":
            self.next()
            imports.append(self.expect("STRING").value)
        calls = [self.call()]
        while self.is_op("|>"):
            self.next()
            calls.append(self.call())
        if self.peek().kind != "EOF":
            self.fail("expected '|>' or end of query")
        return Program(tuple(imports), tuple(calls))

    def call(self) -> Call:
        tok = self.expect("IDENT")
        name = tok.value
        if self.is_op("."):
            self.next()
            name += "." + self.expect("IDENT").value
        self.expect_op("(")
        args: dict[str, Any] = {}
        while not self.is_op(")"):
            key = self.expect("IDENT").value
            self.expect_op(":")
            if key in args:
                self.fail(f"duplicate argument {key!r}")
            args[key] = self.value()
            if not self.is_op(","):
                break
            self.next()
        close = self.expect_op(")")
        return Call(name, args, tok.pos, close.pos + 1)

    def value(self) -> Any:
        tok = self.peek()
        simple = {"STRING": "string", "TIME": "time", "DURATION": "duration", "INT": "int", "FLOAT": "float"}
        if tok.kind in simple:
            self.next()
            return Literal(simple[tok.kind], tok.value)
        if self.is_op("-") and self.peek(1).kind in ("DURATION", "INT", "FLOAT"):
            self.next()
            num = self.next()
            value = num.value.negate() if num.kind == "DURATION" else -num.value
            return Literal(simple[num.kind], value)
        if self.is_op("["):
            return self.array()
        if self.is_op("(") and self.peek(1).kind == "IDENT" and self.is_op(")", 2) and self.is_op("=>", 3):
            return self.function()
        if tok.kind == "IDENT":
            self.next()
            if tok.value in ("true", "false"):
                return Literal("bool", tok.value == "true")
            if tok.value == "now" and self.is_op("("):
                self.next()
                self.expect_op(")")
                return NowCall()
            return Ident(tok.value)
        self.fail("expected a value")
        raise AssertionError  # unreachable

    def array(self) -> ArrayLit:
        self.expect_op("[")
        items: list[Any] = []
        while not self.is_op("]"):
            items.append(self.value())
            if not self.is_op(","):
                break
            self.next()
        self.expect_op("]")
        return ArrayLit(tuple(items))

    def function(self) -> Predicate:
        self.expect_op("(")
        param = self.expect("IDENT").value
        self.expect_op(")")
        self.expect_op("=>")
        return Predicate(self.pred_or(param))

    def pred_or(self, param: str) -> Any:
        left = self.pred_and(param)
        while self.peek().kind == "IDENT" and self.peek().value == "or":
            self.next()
            left = Logical("or", left, self.pred_and(param))
        return left

    def pred_and(self, param: str) -> Any:
        left = self.pred_atom(param)
        while self.peek().kind == "IDENT" and self.peek().value == "and":
            self.next()
            left = Logical("and", left, self.pred_atom(param))
        return left

    def pred_atom(self, param: str) -> Any:
        if self.is_op("("):
            self.next()
            inner = self.pred_or(param)
            self.expect_op(")")
            return inner
        tok = self.peek()
        if tok.kind == "IDENT" and tok.value in ("true", "false"):
            self.next()
            return Literal("bool", tok.value == "true")
        column = self.member(param)
        if column in ("_value", "_time", "_start", "_stop"):
            raise _unsupported(f"filtering on {column} (only _measurement, _field and tags)")
        op_tok = self.next()
        if op_tok.kind != "OP" or op_tok.value not in ("==", "!="):
            raise _unsupported(f"comparison operator {op_tok.value!r} in filter")
        value_tok = self.next()
        if value_tok.kind != "STRING":
            raise _unsupported("filter comparisons other than with a string literal")
        return Compare(column, op_tok.value, value_tok.value)

    def member(self, param: str) -> str:
        tok = self.expect("IDENT")
        if tok.value != param:
            raise FluxError(f"error @{_where(self.text, tok.pos)}: undefined identifier {tok.value}")
        if self.is_op("."):
            self.next()
            return self.expect("IDENT").value
        self.expect_op("[")
        column = self.expect("STRING").value
        self.expect_op("]")
        return column


def parse(text: str) -> Program:
    return _Parser(text).program()


# --------------------------------------------------------------------------- tables

FLUX_TO_CSV_TYPE = {
    "string": "string", "int": "long", "uint": "unsignedLong", "float": "double",
    "bool": "boolean", "time": "dateTime:RFC3339",
}
_TYPE_ORDER = {"bool": 1, "int": 2, "uint": 3, "float": 4, "string": 5, "time": 6}


@dataclass
class Table:
    """A Flux table: ordered columns, a group key, columnar data.

    A column's values live either in ``consts`` (one value for every row, as the
    key columns coming from storage) or in ``data`` (a list of ``n`` values).
    """

    columns: list[tuple[str, str]]  # (label, flux type)
    key: list[str]
    consts: dict[str, Any]
    data: dict[str, list[Any]]
    n: int

    def labels(self) -> list[str]:
        return [label for label, _ in self.columns]

    def type_of(self, label: str) -> Optional[str]:
        for lab, typ in self.columns:
            if lab == label:
                return typ
        return None

    def values(self, label: str) -> list[Any]:
        if label in self.data:
            return self.data[label]
        return [self.consts[label]] * self.n

    def key_value(self, label: str) -> Any:
        if label in self.consts:
            return self.consts[label]
        vals = self.data[label]
        return vals[0] if vals else None

    def key_pairs(self) -> list[tuple[str, str, Any]]:
        return [(lab, self.type_of(lab) or "string", self.key_value(lab)) for lab in self.key]

    def take(self, rows: Sequence[int]) -> "Table":
        data = {lab: [vals[i] for i in rows] for lab, vals in self.data.items()}
        return Table(list(self.columns), list(self.key), dict(self.consts), data, len(rows))


def _group_key_less(a: list[tuple[str, str, Any]], b: list[tuple[str, str, Any]]) -> bool:
    """flux groupKeyLess: compare by sorted label, then type, then value (null first)."""
    sa, sb = sorted(a, key=lambda c: c[0]), sorted(b, key=lambda c: c[0])
    for (la, ta, va), (lb, tb, vb) in zip(sa, sb):
        if la != lb:
            return la > lb
        if ta != tb:
            return _TYPE_ORDER[ta] < _TYPE_ORDER[tb]
        if va is None or vb is None:
            if va is None and vb is None:
                continue
            return va is None
        if va != vb:
            return bool(vb) if ta == "bool" else va < vb
    return len(sa) < len(sb)


def _sort_by_group_key(tables: list[Table]) -> list[Table]:
    def cmp(x: Table, y: Table) -> int:
        kx, ky = x.key_pairs(), y.key_pairs()
        return -1 if _group_key_less(kx, ky) else (1 if _group_key_less(ky, kx) else 0)

    return sorted(tables, key=functools.cmp_to_key(cmp))


# --------------------------------------------------------------------------- storage access


@dataclass
class RawSeries:
    """One series-field of a bucket, restricted to the range, sorted by time."""

    measurement: str
    tags: tuple[tuple[str, str], ...]  # sorted by key
    field: str
    kind: str  # float int uint bool string
    times: list[int]
    values: list[Any]


SeriesPredicate = Callable[[str, dict[str, str], str], bool]


class Store(Protocol):
    """What the evaluator needs from the server's storage."""

    def scan(self, bucket: str, start: int, stop: int, pred: SeriesPredicate) -> list[RawSeries]:
        """Series with points in [start, stop) matching pred, in series-key order; BucketNotFound."""
        ...


def _series_columns(series: RawSeries) -> tuple[list[tuple[str, str]], list[str], dict[str, Any]]:
    tags = dict(series.tags)
    tags["_measurement"] = series.measurement
    tags["_field"] = series.field
    tag_keys = sorted(tags, key=lambda k: k.encode("utf-8"))
    consts: dict[str, Any] = {k: tags[k] for k in tag_keys}
    return [(k, "string") for k in tag_keys], tag_keys, consts


def _raw_table(series: RawSeries, start: int, stop: int) -> Table:
    tag_cols, tag_keys, consts = _series_columns(series)
    consts["_start"], consts["_stop"] = start, stop
    columns = [("_start", "time"), ("_stop", "time"), ("_time", "time"), ("_value", series.kind), *tag_cols]
    data = {"_time": series.times, "_value": series.values}
    return Table(columns, ["_start", "_stop", *tag_keys], consts, data, len(series.times))


def _eval_predicate(node: Any, tags: dict[str, str]) -> bool:
    """Storage pushdown semantics: a missing tag is ''; ``== ""`` never matches it."""
    if isinstance(node, Literal):
        return bool(node.value)
    if isinstance(node, Logical):
        left = _eval_predicate(node.left, tags)
        if node.op == "and":
            return left and _eval_predicate(node.right, tags)
        return left or _eval_predicate(node.right, tags)
    actual = tags.get(node.column)
    if node.op == "==":
        return actual is not None and actual == node.value
    if actual is None:  # storage compares a missing tag as "": matches != "x", never != ""
        return node.value != ""
    return actual != node.value


# --------------------------------------------------------------------------- evaluation


@dataclass
class Result:
    name: str
    tables: list[Table]


@dataclass
class _Ctx:
    store: Store
    now_ns: int
    imports: tuple[str, ...]
    text: str = ""
    start: int = 0
    stop: int = 0
    from_source: bool = False  # the current tables come straight from a storage read (from/range)
    result_name: str = "_result"


def evaluate(text: str, store: Store, now_ns: int) -> Result:
    """Parse and run one query; raises FluxError (400/404) on anything unsupported."""
    program = parse(text)
    for imp in program.imports:
        if imp not in ("influxdata/influxdb/schema", "interpolate"):
            raise FluxError(f'error @1:1: unknown import path "{imp}"')
    ctx = _Ctx(store, now_ns, program.imports, text)
    calls = list(program.calls)
    if calls and calls[-1].name == "yield":
        ctx.result_name = _opt_string(calls[-1], "name", "_result")
        calls.pop()
    tables = _run_source(calls, ctx)
    for call in calls:
        tables = _apply(call, tables, ctx)
        ctx.from_source = False
    return Result(ctx.result_name, tables)


def _run_source(calls: list[Call], ctx: _Ctx) -> list[Table]:
    """Consume the source calls at the head of ``calls``; return their tables."""
    first = calls.pop(0)
    if first.name.startswith("schema."):
        _require_import(ctx, "influxdata/influxdb/schema", "schema")
        return _schema_call(first, ctx)
    if first.name != "from":
        raise _unsupported(f"a query starting with {first.name}()")
    _check_args(first, {"bucket"}, {"bucket"})
    bucket = _string_arg(first, "bucket")
    if not calls or calls[0].name != "range":
        raise FluxError(f'cannot submit unbounded read to "{bucket}"; try bounding \'from\' with a call to \'range\'')
    ctx.start, ctx.stop = _range_bounds(calls.pop(0), ctx)
    preds: list[Any] = []
    while calls and calls[0].name == "filter":
        preds.append(_filter_predicate(calls.pop(0)))
    ctx.from_source = True
    return _scan(ctx, bucket, preds)


def _scan(ctx: _Ctx, bucket: str, preds: list[Any]) -> list[Table]:
    def match(measurement: str, tags: dict[str, str], field_key: str) -> bool:
        full = dict(tags, _measurement=measurement, _field=field_key)
        return all(_eval_predicate(p, full) for p in preds)

    series = ctx.store.scan(bucket, ctx.start, ctx.stop, match)
    return [_raw_table(s, ctx.start, ctx.stop) for s in series]


def _require_import(ctx: _Ctx, path: str, name: str) -> None:
    if path not in ctx.imports:
        raise FluxError(f"error @1:1: undefined identifier {name}")


def _check_args(call: Call, allowed: set[str], required: set[str]) -> None:
    for key in call.args:
        if key not in allowed:
            raise FluxError(f"error calling function \"{call.name}\": unexpected argument \"{key}\"")
    for key in required:
        if key not in call.args:
            raise FluxError(f"error calling function \"{call.name}\": missing required argument \"{key}\"")


def _string_arg(call: Call, key: str) -> str:
    node = call.args.get(key)
    if not (isinstance(node, Literal) and node.kind == "string"):
        raise FluxError(f'error calling function "{call.name}": argument "{key}" must be a string')
    return str(node.value)


def _opt_string(call: Call, key: str, default: str) -> str:
    return _string_arg(call, key) if key in call.args else default


def _string_list_arg(call: Call, key: str) -> list[str]:
    node = call.args.get(key)
    if not isinstance(node, ArrayLit) or not all(
        isinstance(i, Literal) and i.kind == "string" for i in node.items
    ):
        raise FluxError(f'error calling function "{call.name}": argument "{key}" must be an array of strings')
    return [i.value for i in node.items]


def _time_arg(node: Any, ctx: _Ctx, call: Call, key: str) -> int:
    if isinstance(node, NowCall):
        return ctx.now_ns
    if isinstance(node, Literal):
        if node.kind == "time":
            return int(node.value)
        if node.kind == "duration":
            return add_duration(ctx.now_ns, node.value)
        if node.kind == "int":
            return int(node.value) * 1_000_000_000
    raise FluxError(f'error calling function "{call.name}": argument "{key}" must be a time or duration')


def _range_bounds(call: Call, ctx: _Ctx) -> tuple[int, int]:
    _check_args(call, {"start", "stop"}, {"start"})
    start = _time_arg(call.args["start"], ctx, call, "start")
    stop = _time_arg(call.args["stop"], ctx, call, "stop") if "stop" in call.args else ctx.now_ns
    if start >= stop:
        raise FluxError("error in building plan while starting program: cannot query an empty range")
    return start, stop


def _filter_predicate(call: Call) -> Any:
    _check_args(call, {"fn"}, {"fn"})
    fn = call.args["fn"]
    if not isinstance(fn, Predicate):
        raise FluxError('error calling function "filter": argument "fn" must be a function')
    return fn.body


# ---- schema package


def _schema_call(call: Call, ctx: _Ctx) -> list[Table]:
    if call.name not in ("schema.measurementTagKeys", "schema.measurementFieldKeys"):
        raise _unsupported(call.name)
    _check_args(call, {"bucket", "measurement", "start", "stop"}, {"bucket", "measurement"})
    bucket, measurement = _string_arg(call, "bucket"), _string_arg(call, "measurement")
    start = _time_arg(call.args["start"], ctx, call, "start") if "start" in call.args else add_duration(
        ctx.now_ns, Duration(0, -30 * _DURATION_UNITS_NS["d"]))
    stop = _time_arg(call.args["stop"], ctx, call, "stop") if "stop" in call.args else ctx.now_ns
    if start >= stop:
        raise FluxError("error in building plan while starting program: cannot query an empty range")
    series = ctx.store.scan(bucket, start, stop, lambda m, _t, _f: m == measurement)
    if call.name.endswith("TagKeys"):
        # ReadTagKeys: _start, _stop, then the storage keys in byte order
        # (\x00 = _measurement first, \xff = _field last).
        tag_keys = sorted({k for s in series for k, _ in s.tags}, key=lambda k: k.encode("utf-8"))
        keys = ["_start", "_stop"] + (["_measurement", *tag_keys, "_field"] if series else [])
    else:
        keys = sorted({s.field for s in series}, key=lambda k: k.encode("utf-8"))
    return [Table([("_value", "string")], [], {}, {"_value": keys}, len(keys))]


# ---- transformations


def _apply(call: Call, tables: list[Table], ctx: _Ctx) -> list[Table]:
    handler = _HANDLERS.get(call.name)
    if handler is None:
        if call.name == "filter":
            raise _unsupported("filter() anywhere but directly after range()")
        raise _unsupported(f"{call.name}()")
    try:
        return handler(call, tables, ctx)
    except _RuntimeFailure as exc:
        where = f"{_where(ctx.text, call.pos)}-{_where(ctx.text, call.end)}"
        raise FluxError(f"runtime error @{where}: {call.name}: {exc}") from None


class _RuntimeFailure(Exception):
    """An execution error; _apply adds Flux's 'runtime error @pos: fn:' prefix."""


def _pivot(call: Call, tables: list[Table], ctx: _Ctx) -> list[Table]:
    _check_args(call, {"rowKey", "columnKey", "valueColumn"}, {"rowKey", "columnKey", "valueColumn"})
    if (_string_list_arg(call, "rowKey"), _string_list_arg(call, "columnKey"), _string_arg(call, "valueColumn")) != (
        ["_time"], ["_field"], "_value"
    ):
        raise _unsupported('pivot other than rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value"')
    if any("_field" not in t.key or "_time" not in t.data or "_value" not in t.data for t in tables):
        raise _unsupported("pivot() of tables without _field in the group key and _time/_value columns")
    groups: dict[tuple[Any, ...], list[Table]] = {}
    for t in tables:
        out_key = tuple((lab, t.key_value(lab)) for lab in t.key if lab != "_field")
        groups.setdefault(out_key, []).append(t)
    return _sort_by_group_key([_pivot_group(members) for members in groups.values()])


def _pivot_group(members: list[Table]) -> Table:
    first = members[0]
    key = [lab for lab in first.key if lab != "_field"]
    by_field = sorted(((t.consts["_field"], t) for t in members), key=lambda ft: ft[0].encode("utf-8"))
    time_lists = [t.data["_time"] for _, t in by_field]
    if all(tl == time_lists[0] for tl in time_lists[1:]):
        times = time_lists[0]
        data = {"_time": times, **{f: t.data["_value"] for f, t in by_field}}
    else:
        times = sorted(set().union(*time_lists))
        data = {"_time": times}
        for f, t in by_field:
            lookup = dict(zip(t.data["_time"], t.data["_value"]))
            data[f] = [lookup.get(ts) for ts in times]
    columns = [("_time", "time"), *((lab, first.type_of(lab) or "string") for lab in key)]
    columns += [(f, t.type_of("_value") or "float") for f, t in by_field]
    consts = {lab: first.key_value(lab) for lab in key}
    return Table(columns, key, consts, data, len(times))


def _drop(call: Call, tables: list[Table], ctx: _Ctx) -> list[Table]:
    _check_args(call, {"columns"}, {"columns"})
    gone = set(_string_list_arg(call, "columns"))
    return [_select_columns(t, [lab for lab in t.labels() if lab not in gone]) for t in tables]


def _keep(call: Call, tables: list[Table], ctx: _Ctx) -> list[Table]:
    _check_args(call, {"columns"}, {"columns"})
    wanted = set(_string_list_arg(call, "columns"))
    return [_select_columns(t, [lab for lab in t.labels() if lab in wanted]) for t in tables]


def _select_columns(t: Table, labels: list[str]) -> Table:
    keep = set(labels)
    return Table(
        [c for c in t.columns if c[0] in keep],
        [k for k in t.key if k in keep],
        {k: v for k, v in t.consts.items() if k in keep},
        {k: v for k, v in t.data.items() if k in keep},
        t.n,
    )


def _group(call: Call, tables: list[Table], ctx: _Ctx) -> list[Table]:
    if call.args:
        raise _unsupported("group() with arguments")
    if not tables:
        return []
    columns: list[tuple[str, str]] = []
    types: dict[str, str] = {}
    for t in tables:
        for label, typ in t.columns:
            if label not in types:
                types[label] = typ
                columns.append((label, typ))
            elif types[label] != typ:
                raise _RuntimeFailure(
                    f'schema collision detected: column "{label}" is both of type {typ} and {types[label]}'
                )
    data: dict[str, list[Any]] = {label: [] for label, _ in columns}
    for t in tables:
        present = set(t.labels())
        for label, _ in columns:
            data[label].extend(t.values(label) if label in present else [None] * t.n)
    return [Table(columns, [], {}, data, sum(t.n for t in tables))]


def _value_column(call: Call, t: Table, default: str = "_value") -> str:
    column = _opt_string(call, "column", default)
    if t.type_of(column) is None:
        raise _RuntimeFailure(f'column "{column}" does not exist')
    return column


def _selector(pick: Callable[[list[Any]], Optional[int]], default_column: str = "_value") -> Callable[..., list[Table]]:
    def run(call: Call, tables: list[Table], ctx: _Ctx) -> list[Table]:
        _check_args(call, {"column"}, set())
        out = []
        for t in tables:
            idx = pick(t.values(_value_column(call, t, default_column)))
            out.append(t.take([] if idx is None else [idx]))
        return out

    return run


def _first_index(vals: list[Any]) -> Optional[int]:
    return next((i for i, v in enumerate(vals) if v is not None), None)


def _last_index(vals: list[Any]) -> Optional[int]:
    return next((i for i in range(len(vals) - 1, -1, -1) if vals[i] is not None), None)


def _extreme_index(better: Callable[[Any, Any], bool]) -> Callable[[list[Any]], Optional[int]]:
    def pick(vals: list[Any]) -> Optional[int]:
        best: Optional[int] = None
        for i, v in enumerate(vals):
            if v is not None and (best is None or better(v, vals[best])):
                best = i
        return best

    return pick


def _aggregate(name: str) -> Callable[..., list[Table]]:
    def run(call: Call, tables: list[Table], ctx: _Ctx) -> list[Table]:
        _check_args(call, {"column"}, set())
        return [_aggregate_table(call, name, t, ctx.from_source) for t in tables]

    return run


def _aggregate_table(call: Call, name: str, t: Table, pushed_down: bool) -> Table:
    column = _value_column(call, t)
    in_type = t.type_of(column) or "float"
    vals = [v for v in t.values(column) if v is not None]
    out_type, value = _reduce(name, in_type, vals)
    if pushed_down:  # storage ReadWindowAggregate layout: _start,_stop,_value,<tags>
        columns = [("_start", "time"), ("_stop", "time"), (column, out_type)]
        columns += [(lab, typ) for lab, typ in t.columns if lab in t.key and lab not in ("_start", "_stop")]
    else:
        columns = [(lab, t.type_of(lab) or "string") for lab in t.key] + [(column, out_type)]
    consts = {lab: t.key_value(lab) for lab in t.key}
    return Table(columns, list(t.key), consts, {column: [value]}, 1)


def _reduce(name: str, in_type: str, vals: list[Any]) -> tuple[str, Any]:
    if name == "count":
        return "int", len(vals)
    if in_type not in ("int", "uint", "float"):
        raise _RuntimeFailure(f"unsupported aggregate column type {in_type}")
    if not vals:
        return (in_type if name == "sum" else "float"), None
    if name == "sum":
        return in_type, (float(sum(vals)) if in_type == "float" else sum(vals))
    return "float", float(sum(vals)) / len(vals)


_WINDOW_FNS = ("mean", "min", "max", "sum", "count", "first", "last")


def _aggregate_window(call: Call, tables: list[Table], ctx: _Ctx) -> list[Table]:
    """aggregateWindow as storage's pushed-down ReadWindowAggregate answers it.

    Columns ``_start,_stop,_time,_value,<tags>`` (``_start``/``_stop`` = the range),
    ``_time`` = window stop clipped to the range, windows aligned to the epoch."""
    _check_args(call, {"every", "fn", "createEmpty", "timeSrc"}, {"every", "fn"})
    if not ctx.from_source:
        raise _unsupported("aggregateWindow() anywhere but directly after range()/filter()")
    every = call.args["every"]
    if not (isinstance(every, Literal) and every.kind == "duration") or every.value.months or every.value.ns <= 0:
        raise _unsupported("aggregateWindow every: other than a positive fixed duration (no mo/y)")
    fn = call.args["fn"]
    if not isinstance(fn, Ident) or fn.name not in _WINDOW_FNS:
        raise _unsupported(f"aggregateWindow fn: other than {', '.join(_WINDOW_FNS)}")
    create_empty = _opt_bool(call, "createEmpty", True)
    source = call.args.get("timeSrc")
    time_src = "_stop" if source is None else source.value if isinstance(source, Literal) else None
    if time_src not in ("_start", "_stop"):
        raise _unsupported('aggregateWindow timeSrc: other than "_start" or "_stop"')
    return [_window_table(t, every.value.ns, fn.name, create_empty, ctx, time_src) for t in tables]


def _opt_bool(call: Call, key: str, default: bool) -> bool:
    node = call.args.get(key)
    if node is None:
        return default
    if not (isinstance(node, Literal) and node.kind == "bool"):
        raise FluxError(f'error calling function "{call.name}": argument "{key}" must be a boolean')
    return bool(node.value)


def _window_table(t: Table, every: int, fn: str, create_empty: bool, ctx: _Ctx, time_src: str = "_stop") -> Table:
    in_type = t.type_of("_value") or "float"
    if in_type in ("string", "bool") and fn not in ("count", "first", "last"):
        raise _RuntimeFailure(f"unsupported aggregate column type {in_type}")
    buckets: dict[int, list[Any]] = {}
    for ts, v in zip(t.data["_time"], t.data["_value"]):
        buckets.setdefault(ts - ts % every, []).append(v)
    first_window = ctx.start - ctx.start % every
    starts = range(first_window, ctx.stop, every) if create_empty else sorted(buckets)
    out_type = {"count": "int", "mean": "float"}.get(fn, in_type)
    times, values = [], []
    for w in starts:
        vals = buckets.get(w, [])
        times.append(min(w + every, ctx.stop) if time_src == "_stop" else max(w, ctx.start))
        values.append(_window_value(fn, vals, in_type))
    columns = [("_start", "time"), ("_stop", "time"), ("_time", "time"), ("_value", out_type)]
    columns += [(lab, typ) for lab, typ in t.columns if lab in t.key and lab not in ("_start", "_stop")]
    consts = {lab: t.key_value(lab) for lab in t.key}
    return Table(columns, list(t.key), consts, {"_time": times, "_value": values}, len(times))


def _window_value(fn: str, vals: list[Any], in_type: str) -> Any:
    if fn == "count":
        return len(vals)
    if not vals:
        return None
    if fn == "first":
        return vals[0]
    if fn == "last":
        return vals[-1]
    if fn in ("min", "max"):
        return min(vals) if fn == "min" else max(vals)
    return _reduce(fn, in_type, vals)[1]


def _fill(call: Call, tables: list[Table], ctx: _Ctx) -> list[Table]:
    _check_args(call, {"column", "value", "usePrevious"}, set())
    use_previous = _opt_bool(call, "usePrevious", False)
    if use_previous == ("value" in call.args):
        raise FluxError('error calling function "fill": fill requires exactly one of value or usePrevious')
    return [_fill_table(call, t, use_previous) for t in tables]


def _fill_table(call: Call, t: Table, use_previous: bool) -> Table:
    column = _value_column(call, t)
    typ = t.type_of(column)
    vals = list(t.values(column))
    if use_previous:
        prev = None
        for i, v in enumerate(vals):
            if v is None:
                vals[i] = prev
            else:
                prev = v
    else:
        node = call.args["value"]
        kind = {"int": "int", "float": "float", "string": "string", "bool": "bool", "time": "time"}.get(
            getattr(node, "kind", ""))
        if not isinstance(node, Literal) or kind != typ:
            raise _RuntimeFailure(f"fill value type {kind} does not match column type {typ}")
        vals = [node.value if v is None else v for v in vals]
    data = dict(t.data)
    data[column] = vals
    consts = {k: v for k, v in t.consts.items() if k != column}
    return Table(list(t.columns), list(t.key), consts, data, t.n)


def _yield_misplaced(call: Call, tables: list[Table], ctx: _Ctx) -> list[Table]:
    raise _unsupported("yield() anywhere but at the end")


_HANDLERS: dict[str, Callable[[Call, list[Table], _Ctx], list[Table]]] = {
    "pivot": _pivot,
    "drop": _drop,
    "keep": _keep,
    "group": _group,
    "first": _selector(_first_index),
    "last": _selector(_last_index),
    "min": _selector(_extreme_index(lambda a, b: a < b)),
    "max": _selector(_extreme_index(lambda a, b: a > b)),
    "count": _aggregate("count"),
    "sum": _aggregate("sum"),
    "mean": _aggregate("mean"),
    "aggregateWindow": _aggregate_window,
    "fill": _fill,
    "yield": _yield_misplaced,
}


# --------------------------------------------------------------------------- annotated CSV


@dataclass(frozen=True)
class Dialect:
    """The query request's ``dialect``; InfluxDB's defaults when absent."""

    header: bool = True
    delimiter: str = ","
    annotations: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: Optional[dict[str, Any]]) -> "Dialect":
        if obj is None:
            return cls()
        delimiter = obj.get("delimiter") or ","
        if len(delimiter) != 1:
            raise FluxError("CSV Delimiter must be a single character")
        fmt = obj.get("dateTimeFormat") or "RFC3339"
        if fmt not in ("RFC3339", "RFC3339Nano"):
            raise FluxError(f"invalid dateTimeFormat {fmt}")
        prefix = obj.get("commentPrefix") or ""
        if len(prefix) > 1:
            raise FluxError(f"invalid dialect comment prefix {prefix}")
        annotations = tuple(obj.get("annotations") or ())
        for a in annotations:
            if a not in ("datatype", "group", "default"):
                raise FluxError(f'unknown annotation "{a}"')
        header = obj.get("header")
        return cls(True if header is None else bool(header), delimiter, annotations)


_SECOND_OF_DAY = [f"T{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
_DATE_CACHE: dict[int, str] = {}


def _date_text(day: int) -> str:
    date = _dt.date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
    if len(_DATE_CACHE) < 100_000:
        _DATE_CACHE[day] = date
    return date


def format_time(ns: int, _dates: dict[int, str] = _DATE_CACHE, _sods: list[str] = _SECOND_OF_DAY) -> str:
    """Go's time.Format(time.RFC3339Nano) in UTC: fraction trimmed, 'Z'."""
    sec, frac = divmod(ns, 1_000_000_000)
    day, sod = divmod(sec, 86400)
    date = _dates.get(day) or _date_text(day)
    if frac:
        return f"{date}{_sods[sod]}.{frac:09d}".rstrip("0") + "Z"
    return f"{date}{_sods[sod]}Z"


def format_float(v: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64): shortest digits, never an exponent."""
    r = repr(v)
    if "e" in r:
        return format(Decimal(r), "f")
    if r.endswith(".0"):
        return r[:-2]
    if r == "nan":
        return "NaN"
    if r == "inf":
        return "+Inf"
    if r == "-inf":
        return "-Inf"
    return r


def _format_value(typ: str, v: Any) -> str:
    if v is None:
        return ""
    if typ == "float":
        return format_float(v)
    if typ == "time":
        return format_time(v)
    if typ == "bool":
        return "true" if v else "false"
    return str(v)


_BOOL_TEXT = {True: "true", False: "false", None: ""}


def _column_text(typ: str, vals: list[Any], quote: Callable[[str], str]) -> list[str]:
    """Every value of a column as CSV text; null is the empty cell."""
    if typ == "float":
        return _floats_text(vals)
    if typ == "time":
        return [format_time(v) if v is not None else "" for v in vals]
    if typ == "string":
        return [quote(v) if v is not None else "" for v in vals]
    if typ == "bool":
        return [_BOOL_TEXT[v] for v in vals]
    text = "\n".join(map(str, vals)) + "\n"
    return text.replace("None\n", "\n").split("\n")[:-1]


def _floats_text(vals: list[Any]) -> list[str]:
    """format_float over a column, in bulk: repr, then fix the rare forms in one pass."""
    text = "\n".join(map(repr, vals)) + "\n"
    text = text.replace(".0\n", "\n").replace("None\n", "\n")
    out = text.split("\n")[:-1]
    if "e" in text or "n" in text:  # exponent forms, nan, inf
        out = [format_float(float(v)) if ("e" in v or "n" in v) else v for v in out]
    return out


_GO_LATIN1_SPACE = frozenset("\t\n\v\f\r \x85\xa0")


def _csv_quoter(delimiter: str) -> Callable[[str], str]:
    """Go encoding/csv field quoting with UseCRLF (CR dropped, LF written as CRLF)."""
    special = re.compile("[" + re.escape(delimiter + '"\r\n') + "]")

    def quote(s: str) -> str:
        if s == "":
            return s
        first = s[0]
        if not special.search(s) and s != "\\." and first not in _GO_LATIN1_SPACE and not (
            first > "\xff" and first.isspace()
        ):
            return s
        return '"' + s.replace('"', '""').replace("\r", "").replace("\n", "\r\n") + '"'

    return quote


def encode_result(result: Result, dialect: Dialect, rows_per_piece: int = 512, trailer: bool = True) -> Iterator[str]:
    """The result as annotated CSV pieces, each ending at a row boundary; ``trailer``: the final CRLF."""
    quote = _csv_quoter(dialect.delimiter)
    sep = dialect.delimiter
    last_sig: Optional[tuple[tuple[str, str], ...]] = None
    last_empty = False
    for table_id, t in enumerate(result.tables):
        sig = tuple(t.columns)
        empty = t.n == 0
        if last_empty or empty or sig != last_sig:
            if last_sig is not None:
                yield "\r\n"
            yield _schema_block(t, table_id, result.name, dialect, quote, empty)
        yield from _table_rows(t, table_id, result.name, dialect, quote, rows_per_piece)
        last_sig, last_empty = sig, empty
    if trailer:
        yield "\r\n"


def _join_row(fields: Iterable[str], sep: str) -> str:
    return sep.join(fields) + "\r\n"


def _schema_block(t: Table, table_id: int, name: str, dialect: Dialect, quote: Callable[[str], str],
                  empty: bool) -> str:
    sep = dialect.delimiter
    rows: list[str] = []
    key = set(t.key)
    for annotation in dialect.annotations:
        if annotation == "datatype":
            cells = ["#datatype", "string", "long", *(FLUX_TO_CSV_TYPE[typ] for _, typ in t.columns)]
        elif annotation == "group":
            cells = ["#group", "false", "false", *("true" if lab in key else "false" for lab, _ in t.columns)]
        else:
            defaults = [
                quote(_format_value(typ, t.key_value(lab))) if empty and lab in key else "" for lab, typ in t.columns
            ]
            cells = ["#default", quote(name), str(table_id) if empty else "", *defaults]
        rows.append(_join_row(cells, sep))
    if dialect.header:
        rows.append(_join_row(["", "result", "table", *(quote(lab) for lab, _ in t.columns)], sep))
    return "".join(rows)


def _table_rows(t: Table, table_id: int, name: str, dialect: Dialect, quote: Callable[[str], str],
                rows_per_piece: int) -> Iterator[str]:
    if t.n == 0:
        return
    sep = dialect.delimiter
    result_cell = "" if "default" in dialect.annotations else quote(name)
    prefix = f"{sep}{result_cell}{sep}{table_id}"
    cols: list[Iterable[str]] = [repeat(prefix, t.n)]
    for label, typ in t.columns:
        if label in t.consts:
            text = _column_text(typ, [t.consts[label]], quote)[0]
            cols.append(repeat(text, t.n))
        else:
            cols.append(_column_text(typ, t.data[label], quote))
    rows = map(sep.join, zip(*cols))
    while True:
        batch = [r for _, r in zip(range(rows_per_piece), rows)]
        if not batch:
            return
        yield "\r\n".join(batch) + "\r\n"


def encode_error(message: str, dialect: Dialect, written: bool) -> str:
    """flux csv ResultEncoder.EncodeError: the error table sent after data has started."""
    sep = dialect.delimiter
    quote = _csv_quoter(sep)
    rows = ["\r\n"] if written else []
    for annotation in dialect.annotations:
        cells = {"datatype": ["#datatype", "string", "string"], "group": ["#group", "true", "true"],
                 "default": ["#default", "", ""]}[annotation]
        rows.append(_join_row(cells, sep))
    rows.append(_join_row(["", "error", "reference"], sep))
    rows.append(_join_row(["", quote(message), ""], sep))
    return "".join(rows)
