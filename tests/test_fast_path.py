"""The located fast path (unquoted blocks copied as bytes) writes exactly what parsing writes.

Every unquoted block now skips Arrow's CSV reader: its rows are found with a scan for
commas and copied into the output in pieces. These tests hold that path to the parsed one,
byte for byte, on generated blocks full of the cases that could tell them apart: whole
floats ('12' must become '12.0'), '1e+20', dots and 'e's in tags and strings, empty cells,
fields a block lacks, columns in another order, CRLF and LF, every time format.
"""
from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.assemble import window_csv
from connector.columns import Layout
from connector.sources import annotated_csv
from connector.sources.annotated_csv import parse_block, split_blocks
from connector.sources.base import TIME_COLUMN
from connector.sources.raw_rows import locate
from connector.views import Pieces, gather, per_row, strings


pytestmark = pytest.mark.usefixtures("byte_path")  # every test: on the C kernels, then on numpy


@contextmanager
def parsed_with_arrow():
    """The reference: every block parsed by Arrow's CSV reader, as before the fast path."""
    with mock.patch.object(annotated_csv, "located", lambda *args, **kwargs: None):
        yield


def rfc3339(ns: int) -> str:
    """Flux's RFC3339Nano: the fraction without trailing zeros, none at all when zero."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = np.datetime_as_string(np.datetime64(seconds, "s"), unit="s")
    return f"{text}.{fraction:09d}".rstrip("0").rstrip(".") + "Z"


FLOAT_TEXT = st.sampled_from(["12", "-7", "0", "1.5", "-0.25", "100000000000000000000", "1e+20", "60.28",
                              "0.000001", ""])
CELL_TEXT = {
    "double": FLOAT_TEXT,
    "long": st.sampled_from(["-3", "42", "0", ""]),
    "boolean": st.sampled_from(["true", "false", ""]),
    "string": st.sampled_from(["plain", "v1.2", "e", "12", "Zürich ü", "a b", "", "x.y.z"]),
}
TAG_TEXT = st.sampled_from(["u1", "unit.7", "e", "12", "Straße", "plant-a", "1.0", ""])  # "": a table lacks the tag


@st.composite
def blocks(draw):
    """One annotated CSV block (several tables), the names in it, and its line end."""
    tags = draw(st.lists(st.sampled_from(["site", "unit", "line", "e"]), min_size=0, max_size=3, unique=True))
    fields = draw(st.dictionaries(st.sampled_from(["temp", "rpm", "ok", "note", "load", "z"]),
                                  st.sampled_from(list(CELL_TEXT)), min_size=1, max_size=5))
    columns = tags + list(fields)
    columns = draw(st.permutations(columns))
    crlf = draw(st.booleans())
    end = "\r\n" if crlf else "\n"
    types = ["string", "long", "dateTime:RFC3339"] + ["string" if c in tags else fields[c] for c in columns]
    groups = ["false", "false", "false"] + ["true" if c in tags else "false" for c in columns]
    lines = ["#datatype," + ",".join(types), "#group," + ",".join(groups),
             "#default,_result" + "," * (len(types) - 1), ",result,table,_time," + ",".join(columns)]
    for table in range(draw(st.integers(1, 3))):
        tag_values = {t: draw(TAG_TEXT) for t in tags}
        times = sorted(draw(st.lists(st.integers(1_700_000_000_000_000_000, 1_700_000_000_000_999_999),
                                     min_size=1, max_size=6)))
        for ns in times:
            cells = [tag_values[c] if c in tags else draw(CELL_TEXT[fields[c]]) for c in columns]
            lines.append(f",,{table},{rfc3339(ns)}," + ",".join(cells))
    trailing = draw(st.sampled_from(["", end, end + end]))
    return (end.join(lines) + end + trailing).encode("utf-8"), tags, fields


@st.composite
def layouts(draw, tags: list[str], fields: dict[str, str]):
    """An output layout over the block: some tags, its fields plus some it lacks."""
    kept_tags = tuple(sorted(draw(st.lists(st.sampled_from(tags), unique=True)) if tags else []))
    extra = draw(st.lists(st.sampled_from(["absent", "zz_absent"]), unique=True))
    all_fields = tuple(sorted(set(fields) | set(extra)))
    time_format = draw(st.sampled_from(["iso", "epoch_ns", "epoch_ms", "epoch_s", "omit"]))
    timezone = draw(st.sampled_from(["UTC", "+05:30"])) if time_format == "iso" else "UTC"
    if time_format == "omit" and not kept_tags and not all_fields:
        time_format = "iso"
    return Layout(kept_tags, all_fields, tuple(sorted(tags)), time_format, timezone)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_located_blocks_write_the_same_bytes_as_parsed_ones(data):
    body, tags, fields = data.draw(blocks())
    layout = data.draw(layouts(tags, fields))
    (block,) = split_blocks(body)
    fast = parse_block(block)
    assert fast is not None and fast.raw is not None, "an unquoted block takes the fast path"
    with parsed_with_arrow():
        slow = parse_block(block)
    assert slow.raw is None
    assert window_csv([fast], layout).data[0].to_pybytes() == b"".join(
        b.to_pybytes() for b in window_csv([slow], layout).data)
    for name in slow.table.column_names:
        assert fast.table.column(name).to_pylist() == slow.table.column(name).to_pylist(), name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_located_blocks_give_the_same_profile_as_parsed_ones(data):
    import json

    from connector.profile import Profiler

    body, tags, fields = data.draw(blocks())
    (block,) = split_blocks(body)
    fast = parse_block(block)
    with parsed_with_arrow():
        slow = parse_block(block)
    results = []
    for part in (fast, slow):
        profiler = Profiler(tuple(sorted(tags)), dict(part.fields), 1_700_000_000_000_000_000,
                            1_700_000_000_001_000_000)
        profiler.add([part])
        results.append(json.dumps(profiler.result(), sort_keys=True, default=str))
    assert results[0] == results[1]


def test_a_window_mixing_located_and_parsed_parts_is_sorted_as_one():
    located = (b"#datatype,string,long,dateTime:RFC3339,string,double\n#group,false,false,false,true,false\n"
               b"#default,_result,,,,\n,result,table,_time,unit,temp\n"
               b",,0,2024-01-01T00:00:02Z,b,12\n,,0,2024-01-01T00:00:00Z,b,1.5\n")
    quoted = (b"#datatype,string,long,dateTime:RFC3339,string,string\n#group,false,false,false,true,false\n"
              b"#default,_result,,,,\n,result,table,_time,unit,note\n"
              b",,1,2024-01-01T00:00:01Z,a,\"x,y\"\n,,1,2024-01-01T00:00:02Z,a,plain\n")
    parts = [parse_block(located), parse_block(quoted)]
    assert parts[0].raw is not None and parts[1].raw is None
    layout = Layout(("unit",), ("note", "temp"), ("unit",))
    assert b"".join(b.to_pybytes() for b in window_csv(parts, layout).data) == (
        b"2024-01-01T00:00:00.000000000Z,b,,1.5\n"
        b"2024-01-01T00:00:01.000000000Z,a,\"x,y\",\n"
        b"2024-01-01T00:00:02.000000000Z,a,plain,\n"
        b"2024-01-01T00:00:02.000000000Z,b,,12.0\n")


HEADER = ["", "result", "table", "_time", "unit", "temp"]


@pytest.mark.parametrize("rows, why", [
    (b",,0,2024-01-01T00:00:00Z,u,1\n,,0,2024-01-01T00:00:01Z,u,1,2\n", "a row with a cell too many"),
    (b",,0,2024-01-01T00:00:00Z,u,1,2\n,,0,2024-01-01T00:00:01Z,u\n", "cells that only add up"),
    (b",,0,2024-01-01T00:00:00Z,u,1\r\n,,0,2024-01-01T00:00:01Z,u,1\n,,0,2024-01-01T00:00:02Z,u,1\n",
     "CRLF then LF"),
    (b",,0,2024-01-01T00:00:00Z,u,1\n,,0,2024-01-01T00:00:01Z,u,1\r\n,,0,2024-01-01T00:00:02Z,u,1\n",
     "LF then CRLF"),
    (b",,0,yesterday,u,1\n", "a time that is no time"),
    (b",,0,,u,1\n", "no time"),
    (b"\n", "no rows"),
])
def test_irregular_rows_are_left_to_the_csv_reader(rows, why):
    assert locate(rows, HEADER, {"unit": 4, "temp": 5}, 3, True, (5,)) is None, why


def test_a_block_the_fast_path_refuses_still_parses_or_fails_as_before():
    block = (b"#datatype,string,long,dateTime:RFC3339,string,double\n#group,false,false,false,true,false\n"
             b"#default,_result,,,,\n,result,table,_time,unit,temp\n,,0,2024-01-01T00:00:00Z,u,1,2\n")
    from connector.errors import DataError

    with pytest.raises(DataError, match="could not be parsed"):
        parse_block(block)


def test_located_rows_know_their_cells_and_times():
    rows = b",,0,2024-01-01T00:00:00.5Z,u.1,12\r\n,,0,2024-01-01T00:00:01Z,u.1,\r\n"
    raw = locate(rows, HEADER, {"unit": 4, "temp": 5}, 3, True, (5,))
    assert raw is not None
    assert raw.time_ns.tolist() == [1704067200500000000, 1704067201000000000]
    assert raw.column("unit").to_pylist() == ["u.1", "u.1"]
    assert raw.column("temp").to_pylist() == ["12", None]
    assert raw.column(TIME_COLUMN).cast("int64").to_pylist() == raw.time_ns.tolist()
    rows_at, cells_at, positions = raw.whole_float_ends([5])
    assert rows_at.tolist() == [0] and cells_at.tolist() == [5]
    assert bytes(raw.data[positions[0] - 2:positions[0]]) == b"12"


def test_gather_copies_inline_and_referenced_pieces_in_order():
    text = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    small = np.frombuffer(b"\n.0", dtype=np.uint8)
    pieces = Pieces(np.array([0, 1, 0, 1, 0, 0, 1], dtype=np.int32),
                    np.array([0, 1, 10, 0, 33, 20, 0], dtype=np.int64),
                    np.array([13, 2, 26, 1, 3, 0, 1], dtype=np.int64))
    assert gather([text, small], pieces).to_pybytes() == (
        b"0123456789abc" b".0" b"abcdefghijklmnopqrstuvwxyz" b"\n" b"xyz" b"" b"\n")


def test_pieces_follow_rows_in_the_order_given():
    counts = np.array([2, 1, 3])
    assert per_row(counts, np.array([2, 0, 1])).tolist() == [3, 4, 5, 0, 1, 2]
    assert per_row(counts, None).tolist() == [0, 1, 2, 3, 4, 5]


def test_strings_are_null_where_a_cell_is_empty():
    data = np.frombuffer(b"ab,,cdefghijklmnopq", dtype=np.uint8)
    assert strings(data, np.array([0, 3, 4]), np.array([2, 0, 15])).to_pylist() == ["ab", None, "cdefghijklmnopq"]


def test_a_row_s_own_line_break_is_copied_after_a_whole_float_gets_its_dot_zero():
    block = (b"#datatype,string,long,dateTime:RFC3339,string,double\n#group,false,false,false,true,false\n"
             b"#default,_result,,,,\n,result,table,_time,unit,temp\n"
             b",,0,2024-01-01T00:00:00Z,u,12\n,,0,2024-01-01T00:00:01Z,u,1.5\n")
    part = parse_block(block)
    assert part.raw is not None and part.raw.newline_after
    layout = Layout(("unit",), ("temp",), ("unit",))
    assert window_csv([part], layout).data[0].to_pybytes() == (
        b"2024-01-01T00:00:00.000000000Z,u,12.0\n2024-01-01T00:00:01.000000000Z,u,1.5\n")


def test_a_located_float_that_is_no_number_is_a_data_error_in_the_profile():
    from connector import profile_cells
    from connector.errors import DataError
    from connector.sources.base import Part

    raw = locate(b",,0,2024-01-01T00:00:00Z,u,abc\n", HEADER, {"unit": 4, "temp": 5}, 3, True, (5,))
    part = Part(("unit",), {"temp": "float"}, quoted=False, raw=raw)
    with pytest.raises(DataError, match="field 'temp' holds a value that is not a float"):
        profile_cells.numbers(part, "temp", "float")


def test_float_cells_are_read_in_bulk_with_nan_where_empty(byte_path):
    import pyarrow as pa

    header = ["", "result", "table", "_time", "a", "b", "c"]
    cells = {"a": 4, "b": 5, "c": 6}
    full = locate(b",,0,2024-01-01T00:00:00Z,1.5,-2,1e+20\n,,0,2024-01-01T00:00:01Z,0.1,3.25,7\n",
                  header, cells, 3, True, (4, 5, 6))
    for name in cells:
        values, empty = full.floats(name)
        assert values.tolist() == full.typed(name, pa.float64()).to_pylist() and not empty
    sparse = locate(b",,0,2024-01-01T00:00:00Z,1.5,,2\n", header, cells, 3, True, (4, 5, 6))
    if byte_path == "numpy":  # a run is cut out whole only when no cell of it is empty
        assert sparse.floats("a") is None and sparse.floats("b") is None
    else:
        assert sparse.floats("a")[0].tolist() == [1.5] and sparse.floats("a")[1] is False
        values, empty = sparse.floats("b")
        assert np.isnan(values[0]) and empty is True