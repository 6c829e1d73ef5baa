"""InfluxDB 2.x annotated CSV -> Arrow tables, one per annotation block, in bulk.

The answer to a pivoted Flux query is a run of blocks: `#datatype`, `#group` and
`#default` rows, a header, then data rows; a blank line and a new block whenever the
columns or their types change. Blocks are found with byte searches (quote-aware, so a
string value holding a blank line cannot fake one) and each block is handed whole to
Arrow's multi-threaded CSV reader. A block that is InfluxDB's error table means the
query failed after it had started answering: that is an error, never a shorter file.
"""
from __future__ import annotations

import csv
import io
import pyarrow as pa
import pyarrow.csv as pacsv

from ..arrow_compute import pc
from ..errors import DataError, ServerUnavailable
from .base import TIME_COLUMN, TIME_TYPE, Part
from .raw_rows import RawRows, locate

# Flux columns that never reach the output (dropped on the server when it can).
META_COLUMNS = frozenset({"", "result", "table", "_start", "_stop", "_measurement", "_field", "_value"})
_FIELD_KINDS = {
    "double": "float", "long": "int", "unsignedLong": "uint", "boolean": "bool", "string": "string",
}
_BLOCK_START = b"#datatype,"


def split_blocks(body: bytes) -> list[bytes]:
    """Cut an annotated CSV answer at the blank lines that start a new annotation block."""
    starts: list[int] = []
    position = body.find(_BLOCK_START)
    if position < 0:
        if body.strip(b"\r\n"):
            raise DataError("the server's answer is not annotated CSV (no #datatype row)")
        return []
    while position >= 0:
        starts.append(position)
        position = _next_block(body, position)
    if len(starts) == 1 and starts[0] == 0:
        return [body]  # the usual answer: one block; no copy of a window's bytes
    return [body[a:b] for a, b in zip(starts, starts[1:] + [len(body)])]


def _next_block(body: bytes, after: int) -> int:
    """The next `#datatype,` that starts a line outside quotes, or -1.

    '#' is looked for alone (memchr: about 10x faster over a 5 MB answer than the whole
    needle), since data rows rarely hold one; after many that start no block, the
    whole needle is looked for instead."""
    search_from = after + 1
    misses = 0
    while True:
        if misses < _MAX_HASH_MISSES:
            candidate = body.find(b"#", search_from)
            if candidate >= 0 and not (body[candidate - 1] == 0x0A and body.startswith(_BLOCK_START, candidate)):
                misses += 1
                search_from = candidate + 1
                continue
        else:
            candidate = body.find(b"\n" + _BLOCK_START, search_from - 1)
            candidate = candidate + 1 if candidate >= 0 else -1
        if candidate < 0:
            return -1
        # Inside a quoted value the count of quotes so far is odd.
        if body.count(b'"', after, candidate) % 2 == 0:
            return candidate
        search_from = candidate + 1


_MAX_HASH_MISSES = 64


def _annotation_rows(block: bytes) -> tuple[list[list[str]], int]:
    """The three annotation rows and the header, and where the data rows begin."""
    rows: list[list[str]] = []
    offset = 0
    for _ in range(4):
        end = block.find(b"\n", offset)
        if end < 0:
            end = len(block)
        line = block[offset:end].rstrip(b"\r").decode("utf-8")
        rows.append(next(csv.reader([line])) if line else [])
        offset = end + 1
    return rows, min(offset, len(block))


def parse_block(block: bytes) -> Part | None:
    """Parse one block; None when it holds no data rows."""
    (datatypes, groups, _defaults, header), data_start = _annotation_rows(block)
    if not datatypes or datatypes[0] != "#datatype" or not header:
        raise DataError("the server's answer has a malformed annotation block")
    if header[1:3] == ["error", "reference"]:
        raise_error_table(block[data_start:])
    if len(datatypes) != len(header):
        raise DataError("the server's answer has a header that does not match its #datatype row")
    kinds = dict(zip(header, datatypes))
    in_group = dict(zip(header, (g == "true" for g in groups))) if groups else {}
    if "_time" not in kinds:
        raise DataError("the server's answer has no _time column")
    tags, fields = [], {}
    for name in header:
        if name in META_COLUMNS or name == "_time":
            continue
        if in_group.get(name):  # a pivoted table is grouped by its tags
            tags.append(name)
        else:
            kind = _FIELD_KINDS.get(kinds[name])
            if kind is None:
                raise DataError(f"field {name!r} has the type {kinds[name]!r}, which cannot be exported")
            fields[name] = kind
    if not block[data_start:data_start + 16].strip(b"\r\n"):  # a data row starts right after the header
        return None
    rows = memoryview(block)[data_start:]  # a view: the window's bytes are not copied again
    quoted = block.find(b'"', data_start) >= 0
    if not quoted:
        raw = located(rows, header, [*tags, *fields], header.index("_time"), time_text=True,
                      floats=[f for f, k in fields.items() if k == "float"])
        if raw is not None:
            return Part(tuple(tags), fields, quoted=False, raw=raw)
    column_types = {"_time": TIME_TYPE, **{t: pa.string() for t in tags}}
    for name in fields:
        column_types[name] = pa.string()  # the server's text: CSV writes it as it is
    table = read_rows(rows, _unique_names(header), column_types, quoted)
    table = table.rename_columns([TIME_COLUMN if n == "_time" else n for n in table.column_names])
    if quoted:
        table = _undo_crlf_in_values(table, [*tags, *(f for f, k in fields.items() if k == "string")])
    return Part(tuple(tags), fields, table, quoted=quoted)


def located(rows: memoryview | bytes, header: list[str], names: list[str], time_cell: int,
            time_text: bool, floats: list[str]) -> RawRows | None:
    """The fast path for an unquoted block (see raw_rows); None when a name is ambiguous."""
    if len(set(header)) != len(header):
        return None
    cells = {name: header.index(name) for name in names}
    return locate(rows, header, cells, time_cell, time_text, tuple(sorted(cells[f] for f in floats)))


def _undo_crlf_in_values(table: pa.Table, names: list[str]) -> pa.Table:
    """InfluxDB writes CSV the way Go's csv.Writer does with UseCRLF: a line break inside a
    quoted value goes out as CRLF too. Go's reader turns it back into LF; so do we."""
    for name in names:
        if name in table.column_names and pa.types.is_string(table.schema.field(name).type):
            index = table.column_names.index(name)
            table = table.set_column(index, name, pc.replace_substring(table.column(name), "\r\n", "\n"))
    return table


def _unique_names(header: list[str]) -> list[str]:
    """Arrow needs a name for the unnamed annotation column; give it one no tag can have."""
    return ["\x00annotation" if name == "" else name for name in header]


def read_rows(rows: bytes | memoryview, names: list[str], column_types: dict[str, pa.DataType],
              quoted: bool | None = None) -> pa.Table:
    """Arrow's CSV reader over the data rows, with only '' as null (never 'NA' or 'null')."""
    if quoted is None:
        quoted = b'"' in rows
    parse = pacsv.ParseOptions(newlines_in_values=quoted)
    read = pacsv.ReadOptions(column_names=names, block_size=1 << 22)
    convert = pacsv.ConvertOptions(
        column_types=column_types,
        include_columns=list(column_types),
        null_values=[""],
        true_values=["true"],
        false_values=["false"],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    try:
        return pacsv.read_csv(pa.BufferReader(pa.py_buffer(rows)), read_options=read, parse_options=parse,
                              convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise DataError(f"the server's answer could not be parsed: {exc}") from exc


def raise_error_table(rows: bytes) -> None:
    """InfluxDB reports a failure mid-answer as a table with `error` and `reference`."""
    lines = list(csv.reader(io.StringIO(rows.decode("utf-8", "replace"))))
    message = next((row[1] for row in lines if len(row) > 1 and row[1]), "unknown error")
    raise ServerUnavailable(f"the query failed while the server was answering: {message}")


def block_field_kinds(block: bytes) -> list[tuple[str, str]]:
    """(field, kind) for each row of a `first() |> keep(_field, _value)` block."""
    (datatypes, _groups, _defaults, header), data_start = _annotation_rows(block)
    if header[1:3] == ["error", "reference"]:
        raise_error_table(block[data_start:])
    kinds = dict(zip(header, datatypes))
    kind = _FIELD_KINDS.get(kinds.get("_value", ""), "string")
    rows = block[data_start:]
    if "_field" not in kinds or not rows.strip(b"\r\n"):
        return []
    table = read_rows(rows, _unique_names(header), {"_field": pa.string()})
    return [(name, kind) for name in table.column("_field").to_pylist() if name is not None]


_PROBE_TYPES = {
    "dateTime:RFC3339": TIME_TYPE, "dateTime:RFC3339Nano": TIME_TYPE, "long": pa.int64(),
    "unsignedLong": pa.uint64(), "double": pa.float64(), "boolean": pa.bool_(), "string": pa.string(),
}


def probe_tables(body: bytes) -> list[pa.Table]:
    """Small answers (schema keys, first/last time, counts): every column, typed."""
    tables = []
    for block in split_blocks(body):
        (datatypes, _groups, _defaults, header), data_start = _annotation_rows(block)
        if header[1:3] == ["error", "reference"]:
            raise_error_table(block[data_start:])
        rows = block[data_start:]
        if not rows.strip(b"\r\n"):
            continue
        types = {name: _PROBE_TYPES.get(kind, pa.string())
                 for name, kind in zip(header, datatypes) if name not in ("", "result", "table")}
        tables.append(read_rows(rows, _unique_names(header), types))
    return tables
