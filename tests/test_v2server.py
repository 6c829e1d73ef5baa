"""The in-repo InfluxDB 2.x server, driven by the real influxdb-client (never patched).

Expected texts are written by hand from InfluxDB's documented behaviour and its
sources (flux csv encoder, storage reader, sorted pivot), byte for byte.
"""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import urllib3
from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.flux_csv_parser import FluxQueryException
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from support import v2server
from support.flux_subset import format_float, format_time
from support.v2server import V2Server

ROOT = Path(__file__).resolve().parents[1]
DAY = '|> range(start: 2024-01-01T00:00:00Z, stop: 2024-01-02T00:00:00Z)'
START, STOP = "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"
T0 = 1704067200 * 10**9  # 2024-01-01T00:00:00Z
ANNOTATIONS = ["datatype", "group", "default"]


@pytest.fixture()
def server():
    with V2Server() as srv:
        yield srv


@pytest.fixture()
def client(server):
    with InfluxDBClient(server.url, "test-token", org="test-org", timeout=5_000) as c:
        yield c


def write(client: InfluxDBClient, lp: str, bucket: str = "test-bucket", **kw) -> None:
    client.write_api(write_options=SYNCHRONOUS).write(bucket, record=lp, **kw)


def raw(client: InfluxDBClient, flux: str) -> str:
    return client.query_api().query_raw(flux).data.decode("utf-8")


def crlf(text: str) -> str:
    """Hand-written expected CSV (one row per line) with CRLF line ends."""
    return text.replace("\n", "\r\n")


def api_error(exc: ApiException) -> tuple[int, dict]:
    return exc.status, json.loads(exc.body)


# --------------------------------------------------------------------------- formatting units


@pytest.mark.parametrize("value, text", [
    (0.1, "0.1"), (1.0, "1"), (-2.5, "-2.5"), (1e20, "100000000000000000000"), (1e-07, "0.0000001"),
    (5e-324, "0." + "0" * 323 + "5"), (1.7976931348623157e308, "17976931348623157" + "0" * 292),
    (-0.0, "-0"), (123456789.125, "123456789.125"), (float("nan"), "NaN"), (float("-inf"), "-Inf"),
])
def test_floats_are_formatted_like_go_format_float_f_minus_1(value, text):
    assert format_float(value) == text


@pytest.mark.parametrize("ns, text", [
    (T0 + 30 * 10**9, "2024-01-01T00:00:30Z"),
    (T0 + 30 * 10**9 + 789, "2024-01-01T00:00:30.000000789Z"),
    (T0 + 30 * 10**9 + 500_000_000, "2024-01-01T00:00:30.5Z"),
    (-1, "1969-12-31T23:59:59.999999999Z"),
])
def test_times_are_rfc3339nano_as_go_writes_them(ns, text):
    assert format_time(ns) == text


# --------------------------------------------------------------------------- ping, health


@settings(max_examples=40, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_is_exact_fixed_notation(value):
    text = format_float(value)
    assert float(text) == value and "e" not in text and "E" not in text
    assert not ("." in text and text.endswith("0"))


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30)


@settings(max_examples=30, deadline=None)
@given(_TEXT)
def test_any_string_field_round_trips_like_go_csv(value):
    with V2Server() as srv, InfluxDBClient(srv.url, "test-token", org="test-org") as c:
        lp_value = value.replace("\\", "\\\\").replace('"', '\\"')
        write(c, f'str v="{lp_value}" {T0}')
        records = c.query_api().query(f'from(bucket: "test-bucket") {DAY}')[0].records
    expected = value.replace("\r", "").replace("\n", "\r\n")  # Go csv.Writer{UseCRLF: true}
    assert records[0].get_value() == (expected or None)  # "\r" alone is written as "" and read as null


def test_ping_and_health(server, client):
    assert client.ping() is True
    assert client.version() == "v2.7.10"
    assert client.health().status == "pass"
    resp = urllib3.PoolManager().request("GET", server.url + "/ping")
    assert resp.status == 204
    assert resp.headers["X-Influxdb-Build"] == "OSS"
    assert resp.headers["X-Influxdb-Version"] == "v2.7.10"
    health = json.loads(urllib3.PoolManager().request("GET", server.url + "/health").data)
    assert (health["name"], health["status"], health["version"]) == ("influxdb", "pass", "v2.7.10")


# --------------------------------------------------------------------------- types round trip

TYPES_LP = "\n".join([
    "# every type, written as line protocol",
    f"types f=0.1 {T0}", f"types f=1e20 {T0 + 10**9}", f"types f=5e-324 {T0 + 2 * 10**9}",
    f"types f=-2.5 {T0 + 3 * 10**9}", f"types f=1E-07 {T0 + 4 * 10**9}",
    f"types f=1.7976931348623157e308 {T0 + 5 * 10**9}",
    "",
    f"types i=-9223372036854775808i {T0}", f"types i=9223372036854775807i {T0 + 10**9}",
    f"types u=18446744073709551615u {T0}", f"types u=0u {T0 + 10**9}",
    f"types b=TRUE {T0}", f"types b=f {T0 + 10**9}", f"types b=True {T0 + 2 * 10**9}",
    f'types s="a,b" {T0}', f'types s="say \\"hi\\"" {T0 + 10**9}', f'types s="line1\nline2" {T0 + 2 * 10**9}',
    f'types s="ünïcødé ✓" {T0 + 3 * 10**9}', f'types s=" leading space" {T0 + 4 * 10**9}',
    f'types s="back\\\\slash" {T0 + 5 * 10**9}',
])


def _types_block(table: int, dtype: str, field: str, values: list[str]) -> str:
    head = (
        f"#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,{dtype},string,string\n"
        "#group,false,false,true,true,false,false,true,true\n"
        "#default,_result,,,,,,,\n"
        ",result,table,_start,_stop,_time,_value,_field,_measurement\n"
    )
    rows = "".join(
        f",,{table},{START},{STOP},2024-01-01T00:00:0{k}Z,{v},{field},types\n" for k, v in enumerate(values)
    )
    return head + rows


def test_every_type_round_trips_as_influxdb_writes_it(client):
    write(client, TYPES_LP)
    text = raw(client, f'from(bucket: "test-bucket") {DAY} |> filter(fn: (r) => r._measurement == "types")')
    expected = "\n".join([
        _types_block(0, "boolean", "b", ["true", "false", "true"]),
        _types_block(1, "double", "f", ["0.1", "100000000000000000000", "0." + "0" * 323 + "5", "-2.5",
                                        "0.0000001", "17976931348623157" + "0" * 292]),
        _types_block(2, "long", "i", ["-9223372036854775808", "9223372036854775807"]),
        _types_block(3, "string", "s", ['"a,b"', '"say ""hi"""', '"line1\r\nline2"', "ünïcødé ✓",
                                        '" leading space"', "back\\slash"]),
        _types_block(4, "unsignedLong", "u", ["18446744073709551615", "0"]),
    ]) + "\n"
    assert text == crlf(expected).replace("\r\r\n", "\r\n")

    tables = client.query_api().query(
        f'from(bucket: "test-bucket") {DAY} |> filter(fn: (r) => r._measurement == "types")')
    values = {t.records[0]["_field"]: [r.get_value() for r in t.records] for t in tables}
    assert values["f"] == [0.1, 1e20, 5e-324, -2.5, 1e-07, 1.7976931348623157e308]
    assert values["i"] == [-(2**63), 2**63 - 1]
    assert values["u"] == [2**64 - 1, 0]
    assert values["b"] == [True, False, True]
    # Go's CSV writer (UseCRLF) writes a newline inside a quoted field as CRLF
    assert values["s"] == ["a,b", 'say "hi"', "line1\r\nline2", "ünïcødé ✓", " leading space", "back\\slash"]


def test_point_objects_and_nanosecond_times(client):
    write(client, [
        Point("p").tag("unit", "u1").field("x", 1.5).time(T0 + 30 * 10**9, WritePrecision.NS),
        Point("p").tag("unit", "u1").field("x", 2.0).time(T0 + 30 * 10**9 + 789, WritePrecision.NS),
        Point("p").tag("unit", "u1").field("x", 3.25).time(T0 + 30 * 10**9 + 500_000_000, WritePrecision.NS),
    ])
    text = raw(client, f'from(bucket: "test-bucket") {DAY} |> filter(fn: (r) => r._measurement == "p")')
    assert text == crlf(
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string\n"
        "#group,false,false,true,true,false,false,true,true,true\n"
        "#default,_result,,,,,,,,\n"
        ",result,table,_start,_stop,_time,_value,_field,_measurement,unit\n"
        f",,0,{START},{STOP},2024-01-01T00:00:30Z,1.5,x,p,u1\n"
        f",,0,{START},{STOP},2024-01-01T00:00:30.000000789Z,2,x,p,u1\n"
        f",,0,{START},{STOP},2024-01-01T00:00:30.5Z,3.25,x,p,u1\n"
        "\n"
    )


def test_precision_default_time_overwrite_and_escapes(server, client):
    write(client, "m\\,x\\ y,t\\=k=v\\ 1 f\\=g=1 1704067200", write_precision=WritePrecision.S)
    write(client, "m\\,x\\ y,t\\=k=v\\ 1 f\\=g=2 1704067200000", write_precision=WritePrecision.MS)  # same time
    before = time.time_ns()
    write(client, "now_m v=1i")
    after = time.time_ns()
    tables = client.query_api().query(
        'from(bucket: "test-bucket") |> range(start: 2024-01-01T00:00:00Z) '
        '|> filter(fn: (r) => r._measurement == "m,x y")')
    assert [(r["_measurement"], r["t=k"], r["_field"], r.get_value()) for r in tables[0].records] == [
        ("m,x y", "v 1", "f=g", 2.0)]  # last write wins
    tables = client.query_api().query(
        'from(bucket: "test-bucket") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "now_m")')
    stamp = tables[0].records[0].get_time().timestamp()
    assert before / 1e9 - 1e-3 <= stamp <= after / 1e9 + 1e-3


# --------------------------------------------------------------------------- tables, pivot, schema

PIVOT_LP = "\n".join([
    f"env,unit=u1 temp=20.5,count=1i {T0}",
    f"env,unit=u1 temp=21,count=2i {T0 + 1_500_000_000}",
    f"env,unit=u1 count=3i {T0 + 2_000_000_001}",
    f"env,unit=u2 temp=-3.25 {T0}",
])
ENV = f'from(bucket: "test-bucket") {DAY} |> filter(fn: (r) => r._measurement == "env")'


def test_series_are_tables_sharing_one_annotation_block(client):
    write(client, PIVOT_LP)
    text = raw(client, ENV + ' |> filter(fn: (r) => r._field == "temp")')
    assert text == crlf(
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string\n"
        "#group,false,false,true,true,false,false,true,true,true\n"
        "#default,_result,,,,,,,,\n"
        ",result,table,_start,_stop,_time,_value,_field,_measurement,unit\n"
        f",,0,{START},{STOP},2024-01-01T00:00:00Z,20.5,temp,env,u1\n"
        f",,0,{START},{STOP},2024-01-01T00:00:01.5Z,21,temp,env,u1\n"
        f",,1,{START},{STOP},2024-01-01T00:00:00Z,-3.25,temp,env,u2\n"
        "\n"
    )


def test_pivot_exact_bytes(client):
    write(client, PIVOT_LP)
    text = raw(client, ENV + ' |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")')
    # rowKey, then the group key minus _field, then the new columns sorted; a missing field is null
    assert text == crlf(
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,string,string,long,double\n"
        "#group,false,false,false,true,true,true,true,false,false\n"
        "#default,_result,,,,,,,,\n"
        ",result,table,_time,_start,_stop,_measurement,unit,count,temp\n"
        f",,0,2024-01-01T00:00:00Z,{START},{STOP},env,u1,1,20.5\n"
        f",,0,2024-01-01T00:00:01.5Z,{START},{STOP},env,u1,2,21\n"
        f",,0,2024-01-01T00:00:02.000000001Z,{START},{STOP},env,u1,3,\n"
        "\n"
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,string,string,double\n"
        "#group,false,false,false,true,true,true,true,false\n"
        "#default,_result,,,,,,,\n"
        ",result,table,_time,_start,_stop,_measurement,unit,temp\n"
        f",,1,2024-01-01T00:00:00Z,{START},{STOP},env,u2,-3.25\n"
        "\n"
    )


def test_connector_window_query_shape(client):
    write(client, PIVOT_LP + "\n" + f"env,unit=u1,site=s9 temp=1 {T0}")
    flux = (
        f'from(bucket: "test-bucket")\n  {DAY}\n  |> filter(fn: (r) => r._measurement == "env")\n'
        '  |> filter(fn: (r) => r._field == "count" or r._field == "temp")\n'
        '  |> filter(fn: (r) => r["unit"] == "u1")\n'
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        '  |> drop(columns: ["_start", "_stop", "_measurement"])'
    )
    # two tag sets -> two tables, ordered by group key (the key without "site" first)
    assert raw(client, flux) == crlf(
        "#datatype,string,long,dateTime:RFC3339,string,long,double\n"
        "#group,false,false,false,true,false,false\n"
        "#default,_result,,,,,\n"
        ",result,table,_time,unit,count,temp\n"
        ",,0,2024-01-01T00:00:00Z,u1,1,20.5\n"
        ",,0,2024-01-01T00:00:01.5Z,u1,2,21\n"
        ",,0,2024-01-01T00:00:02.000000001Z,u1,3,\n"
        "\n"
        "#datatype,string,long,dateTime:RFC3339,string,string,double\n"
        "#group,false,false,false,true,true,false\n"
        "#default,_result,,,,,\n"
        ",result,table,_time,site,unit,temp\n"
        ",,1,2024-01-01T00:00:00Z,s9,u1,1\n"
        "\n"
    )
    # storage predicate semantics: a missing tag compares as "" (so != "s9" keeps the series without site)
    records = client.query_api().query(flux.replace('r["unit"] == "u1"', 'r.unit == "u1" and r.site != "s9"'))
    assert [[r["_time"].isoformat(), r["count"], r["temp"]] for t in records for r in t.records] == [
        ["2024-01-01T00:00:00+00:00", 1, 20.5], ["2024-01-01T00:00:01.500000+00:00", 2, 21.0],
        ["2024-01-01T00:00:02+00:00", 3, None]]


def test_probes_first_last_count(client):
    write(client, PIVOT_LP)
    first = raw(client, ENV + ' |> first() |> keep(columns: ["_time"]) |> group() |> min(column: "_time")')
    assert first == crlf(
        "#datatype,string,long,dateTime:RFC3339\n#group,false,false,false\n#default,_result,,\n"
        ",result,table,_time\n,,0,2024-01-01T00:00:00Z\n\n")
    last = raw(client, ENV + ' |> last() |> keep(columns: ["_time"]) |> group() |> max(column: "_time")')
    assert last == crlf(
        "#datatype,string,long,dateTime:RFC3339\n#group,false,false,false\n#default,_result,,\n"
        ",result,table,_time\n,,0,2024-01-01T00:00:02.000000001Z\n\n")
    count = raw(client, ENV + " |> count() |> group() |> sum()")
    assert count == crlf("#datatype,string,long,long\n#group,false,false,false\n#default,_result,,\n"
                         ",result,table,_value\n,,0,6\n\n")
    per_series = raw(client, ENV + ' |> filter(fn: (r) => r.unit == "u2") |> count()')
    assert per_series == crlf(  # storage's pushed-down aggregate layout
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,long,string,string,string\n"
        "#group,false,false,true,true,false,true,true,true\n#default,_result,,,,,,,\n"
        ",result,table,_start,_stop,_value,_field,_measurement,unit\n"
        f",,0,{START},{STOP},1,temp,env,u2\n\n")


def test_schema_tag_and_field_keys(client):
    write(client, PIVOT_LP + "\n" + f"env,unit=u1,Zone=z temp=1 {T0}\nother,x=1 y=1 {T0}")
    args = f'bucket: "test-bucket", measurement: "env", start: {START}, stop: {STOP}'
    tags = raw(client, f'import "influxdata/influxdb/schema"\nschema.measurementTagKeys({args})')
    assert tags == crlf("#datatype,string,long,string\n#group,false,false,false\n#default,_result,,\n"
                        ",result,table,_value\n,,0,_start\n,,0,_stop\n,,0,_measurement\n,,0,Zone\n,,0,unit\n"
                        ",,0,_field\n\n")
    fields = raw(client, f'import "influxdata/influxdb/schema"\nschema.measurementFieldKeys({args})')
    assert fields == crlf("#datatype,string,long,string\n#group,false,false,false\n#default,_result,,\n"
                          ",result,table,_value\n,,0,count\n,,0,temp\n\n")
    none = raw(client, 'import "influxdata/influxdb/schema"\n'
                       f'schema.measurementFieldKeys(bucket: "test-bucket", measurement: "nope", start: {START})')
    assert none == crlf("#datatype,string,long,string\n#group,false,false,false\n#default,_result,0,\n"
                        ",result,table,_value\n\n")  # an empty table: its annotations carry the table id


def test_empty_result_is_one_crlf(client):
    write(client, PIVOT_LP)
    assert raw(client, f'from(bucket: "test-bucket") {DAY} |> filter(fn: (r) => r._measurement == "none")') == "\r\n"
    assert raw(client, 'from(bucket: "test-bucket") |> range(start: 2023-01-01T00:00:00Z, stop: 2023-06-01T00:00:00Z)'
                       ' |> filter(fn: (r) => r._measurement == "env") |> count() |> group() |> sum()') == "\r\n"


def test_aggregate_window_and_fill(client):
    write(client, f"aw v=1 {T0 + 10 * 10**9}\naw v=3 {T0 + 20 * 10**9}\naw v=10 {T0 + 130 * 10**9}")
    flux = (f'from(bucket: "test-bucket") |> range(start: {START}, stop: 2024-01-01T00:03:30Z) '
            '|> filter(fn: (r) => r._measurement == "aw") |> aggregateWindow(every: 1m, fn: mean) '
            '|> fill(usePrevious: true)')
    records = client.query_api().query(flux)[0].records
    assert [(r.get_time().isoformat(), r.get_value()) for r in records] == [
        ("2024-01-01T00:01:00+00:00", 2.0), ("2024-01-01T00:02:00+00:00", 2.0),
        ("2024-01-01T00:03:00+00:00", 10.0), ("2024-01-01T00:03:30+00:00", 10.0)]
    counts = client.query_api().query(flux.replace("fn: mean) |> fill(usePrevious: true)",
                                                   "fn: count, createEmpty: false)"))[0].records
    assert [r.get_value() for r in counts] == [2, 1]


# --------------------------------------------------------------------------- protocol details


def test_gzip_both_ways(server):
    with InfluxDBClient(server.url, "test-token", org="test-org", enable_gzip=True) as gz:
        write(gz, PIVOT_LP)
        resp = gz.query_api().query_raw(ENV)
        assert resp.headers["Content-Encoding"] == "gzip"
        gz_text = resp.data.decode()
    assert server.requests[0].path == "/api/v2/write"
    assert server.requests[0].body == PIVOT_LP  # recorded decompressed
    with InfluxDBClient(server.url, "test-token", org="test-org") as plain:
        assert gz_text == raw(plain, ENV)


def test_gzip_min_bytes_keeps_small_answers_plain():
    with V2Server(gzip_min_bytes=2_000) as srv, InfluxDBClient(
            srv.url, "test-token", org="test-org", enable_gzip=True) as gz:
        write(gz, PIVOT_LP)
        small = gz.query_api().query_raw(ENV)
        assert "Content-Encoding" not in small.headers and small.data.startswith(b"#datatype")
        srv.load_points("test-bucket", "env", {"unit": "u9"}, "temp", range(T0, T0 + 100), [1.0] * 100, "float")
        big = gz.query_api().query_raw(ENV)
        assert big.headers["Content-Encoding"] == "gzip" and big.data.count(b"\r\n") > 100


def test_query_csv_rows(client):
    write(client, PIVOT_LP)
    rows = list(client.query_api().query_csv(ENV + ' |> filter(fn: (r) => r.unit == "u2")'))
    assert rows[3:5] == [["", "result", "table", "_start", "_stop", "_time", "_value", "_field", "_measurement", "unit"],
                         ["", "", "0", START, STOP, "2024-01-01T00:00:00Z", "-3.25", "temp", "env", "u2"]]


def _raw_http(server: V2Server, body: bytes, timeout: float = 5.0) -> bytes:
    """POST a query over a bare socket and return every byte the server sent."""
    req = (b"POST /api/v2/query?org=test-org HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           b"Authorization: Token test-token\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n%b" % (len(body), body))
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(req)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def _chunks(data: bytes) -> tuple[bytes, list[int], bool]:
    """(headers, data chunk sizes, saw the terminating zero chunk)."""
    head, _, rest = data.partition(b"\r\n\r\n")
    sizes = []
    while rest:
        line, _, rest = rest.partition(b"\r\n")
        size = int(line, 16)
        if size == 0:
            return head, sizes, True
        if len(rest) < size + 2:
            sizes.append(len(rest))
            return head, sizes, False
        sizes.append(size)
        rest = rest[size + 2:]
    return head, sizes, False


def test_answer_streams_in_4k_chunks_with_terminator(server, client):
    server.load_points("test-bucket", "big", {"unit": "u1"}, "v", range(T0, T0 + 2000 * 10**9, 10**9),
                       [i / 3 for i in range(2000)], "float")
    body = json.dumps({"query": f'from(bucket: "test-bucket") {DAY}', "dialect": {"annotations": ANNOTATIONS}})
    head, sizes, terminated = _chunks(_raw_http(server, body.encode()))
    assert b"Transfer-Encoding: chunked" in head and b"Content-Type: text/csv; charset=utf-8" in head
    assert terminated and len(sizes) > 10
    assert set(sizes[:-1]) == {4096} and 0 < sizes[-1] <= 4096


def test_requests_are_recorded(server, client):
    raw(client, ENV)
    req = server.requests[-1]
    assert (req.method, req.path, req.query) == ("POST", "/api/v2/query", {"org": "test-org"})
    assert req.body["query"] == ENV
    assert req.body["dialect"]["annotations"] == ANNOTATIONS


# --------------------------------------------------------------------------- errors


def test_error_bodies(server, client):
    with InfluxDBClient(server.url, "wrong", org="test-org") as bad:
        with pytest.raises(ApiException) as exc:
            raw(bad, ENV)
    assert api_error(exc.value) == (401, {"code": "unauthorized", "message": "unauthorized access"})
    assert exc.value.headers["Content-Type"] == "application/json; charset=utf-8"
    with InfluxDBClient(server.url, "test-token", org="nope") as bad:
        with pytest.raises(ApiException) as exc:
            raw(bad, ENV)
    assert api_error(exc.value) == (404, {"code": "not found", "message": 'organization name "nope" not found'})
    with pytest.raises(ApiException) as exc:
        raw(client, f'from(bucket: "missing") {DAY}')
    assert api_error(exc.value) == (404, {
        "code": "not found", "message": 'failed to initialize execute state: could not find bucket "missing"'})
    with pytest.raises(ApiException) as exc:
        raw(client, f'from(bucket: "test-bucket") {DAY} |> map(fn: (r) => r)')
    status, body = api_error(exc.value)
    assert status == 400 and body["code"] == "invalid"
    with pytest.raises(ApiException) as exc:
        raw(client, 'from(bucket: "test-bucket") |> range(start: 2024-01-02T00:00:00Z, stop: 2024-01-01T00:00:00Z)')
    assert api_error(exc.value) == (400, {
        "code": "invalid", "message": "error in building plan while starting program: cannot query an empty range"})
    with pytest.raises(ApiException) as exc:
        raw(client, 'from(bucket: "test-bucket")')
    assert api_error(exc.value)[1]["message"].startswith('cannot submit unbounded read to "test-bucket"')


def test_write_errors(client):
    with pytest.raises(ApiException) as exc:
        write(client, "bad,t= f=1")
    assert api_error(exc.value) == (400, {"code": "invalid", "message": "unable to parse 'bad,t= f=1': missing tag value"})
    write(client, f"conf f=1 {T0}")
    with pytest.raises(ApiException) as exc:
        write(client, f"conf f=2i {T0 + 1}\nconf g=1 {T0 + 2}")
    assert api_error(exc.value) == (422, {"code": "unprocessable entity", "message": (
        'failure writing points to database: partial write: field type conflict: input field "f" on measurement '
        '"conf" is type integer, already exists as type float dropped=1')})
    fields = [t.records[0]["_field"] for t in client.query_api().query(
        f'from(bucket: "test-bucket") {DAY} |> filter(fn: (r) => r._measurement == "conf")')]
    assert fields == ["f", "g"]  # the valid point of the batch was written
    with pytest.raises(ApiException) as exc:
        write(client, "x v=1", bucket="missing")
    assert api_error(exc.value) == (404, {"code": "not found", "message": 'bucket "missing" not found'})


def test_group_schema_collision(client):
    write(client, f'mixed a=1 {T0}\nmixed s="x" {T0}')
    with pytest.raises(ApiException) as exc:
        raw(client, f'from(bucket: "test-bucket") {DAY} |> filter(fn: (r) => r._measurement == "mixed") |> group()')
    status, body = api_error(exc.value)
    assert status == 400 and body["code"] == "invalid"
    assert 'schema collision detected: column "_value" is both of type string and float' in body["message"]


def test_hostile_string_matches_only_that_exact_name(client):
    hostile = 'x") or true //'
    write(client, f'x")\\ or\\ true\\ //,unit=u1 v=1 {T0}\nx,unit=u1 v=2 {T0}\nother,unit=u1 v=3 {T0}')
    escaped = hostile.replace("\\", "\\\\").replace('"', '\\"')
    tables = client.query_api().query(
        f'from(bucket: "test-bucket") {DAY} |> filter(fn: (r) => r._measurement == "{escaped}")')
    assert [(r["_measurement"], r.get_value()) for t in tables for r in t.records] == [(hostile, 1.0)]
    tables = client.query_api().query(
        f'from(bucket: "test-bucket") {DAY} |> filter(fn: (r) => r["unit"] == "{escaped}")')
    assert tables == []
    with pytest.raises(ApiException) as exc:  # the same text spliced in unescaped is rejected, not widened
        raw(client, f'from(bucket: "test-bucket") {DAY} |> filter(fn: (r) => r._measurement == "{hostile}")')
    assert exc.value.status == 400
    with pytest.raises(ApiException) as exc:
        raw(client, f'from(bucket: "test-bucket") {DAY} |> filter(fn: (r) => r._measurement == "${{x}}")')
    assert exc.value.status == 400


# --------------------------------------------------------------------------- fault hooks and bench hooks


def test_fail_next_then_success(server, client):
    write(client, PIVOT_LP)
    server.fail_next(503)
    with pytest.raises(ApiException) as exc:
        raw(client, ENV)
    assert exc.value.status == 503
    server.fail_next(429, times=2, retry_after=2)
    for _ in range(2):
        with pytest.raises(ApiException) as exc:
            raw(client, ENV)
        assert exc.value.status == 429 and exc.value.headers["Retry-After"] == "2"
    assert raw(client, ENV).startswith("#datatype")


def test_cut_next_closes_without_terminating_chunk(server, client):
    write(client, PIVOT_LP)
    server.cut_next(100)
    body = json.dumps({"query": ENV, "dialect": {"annotations": ANNOTATIONS}}).encode()
    _, sizes, terminated = _chunks(_raw_http(server, body))
    assert sum(sizes) == 100 and not terminated
    server.cut_next(50)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        client.query_api().query_raw(ENV).data
    assert raw(client, ENV).endswith("\r\n\r\n")  # the next answer is whole again


def test_faults_with_match_skip_other_queries(server, client):
    write(client, PIVOT_LP)
    server.cut_next(10, match="pivot(")
    server.fail_next(503, match="count()")
    whole = raw(client, ENV)  # neither matches: untouched
    assert whole.endswith("\r\n\r\n")
    with pytest.raises(ApiException) as exc:
        raw(client, ENV + " |> count()")
    assert exc.value.status == 503
    with pytest.raises(urllib3.exceptions.ProtocolError):
        client.query_api().query_raw(ENV + ' |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")').data
    assert raw(client, ENV) == whole
    server.error_table_next(0, "again and again", times=2)
    for _ in range(2):
        assert raw(client, ENV).endswith(crlf(',error,reference\n,again and again,\n'))
    assert raw(client, ENV) == whole


def test_stall_next_trips_the_client_read_timeout(server):
    with InfluxDBClient(server.url, "test-token", org="test-org", timeout=300) as c:
        write(c, PIVOT_LP)
        server.stall_next(1.0)
        began = time.monotonic()
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            c.query_api().query_raw(ENV).data
        assert 0.25 < time.monotonic() - began < 0.9


def test_error_table_mid_stream(server, client):
    write(client, PIVOT_LP)
    server.error_table_next(300, "boom, it failed")
    text = raw(client, ENV)
    assert text.startswith("#datatype,string,long,dateTime:RFC3339")
    assert text.endswith(crlf("\n#datatype,string,string\n#group,true,true\n#default,,\n"
                              ',error,reference\n,"boom, it failed",\n'))
    server.error_table_next(300, "boom again")
    with pytest.raises(FluxQueryException) as exc:
        client.query_api().query(ENV)
    assert exc.value.message == "boom again"


def test_rate_limit_and_latency():
    with V2Server(rate_limit_bytes_per_s=40_000, latency_s=0.2) as srv:
        srv.load_points("test-bucket", "big", {}, "v", range(T0, T0 + 300 * 10**9, 10**9), [0.5] * 300, "float")
        with InfluxDBClient(srv.url, "test-token", org="test-org") as c:
            began = time.monotonic()
            size = len(raw(c, f'from(bucket: "test-bucket") {DAY}'))
            elapsed = time.monotonic() - began
    assert size > 20_000
    assert elapsed >= 0.2 + (size - 4096) / 40_000


def test_cache_answers_serves_repeats_from_memory(monkeypatch):
    calls = []
    real = v2server.evaluate
    monkeypatch.setattr(v2server, "evaluate", lambda *a: calls.append(1) or real(*a))
    with V2Server(cache_answers=True) as srv, InfluxDBClient(srv.url, "test-token", org="test-org") as c:
        write(c, PIVOT_LP)
        first, second = raw(c, ENV), raw(c, ENV)
        assert first == second and len(calls) == 1
        write(c, f"env,unit=u3 temp=1 {T0}")
        assert raw(c, ENV) != first and len(calls) == 2


def test_a_cached_answer_goes_out_as_the_same_bytes_in_the_same_4k_chunks():
    """The benchmark's server sends cached answers as stored chunk frames: on the wire they
    must be exactly the first answer, framing included; a cut still cuts them."""
    with V2Server(cache_answers=True) as srv:
        srv.load_points("test-bucket", "big", {"unit": "u1"}, "v", range(T0, T0 + 2000 * 10**9, 10**9),
                        [i * 0.5 for i in range(2000)], "float")
        body = json.dumps({"query": f'from(bucket: "test-bucket") {DAY}'}).encode()
        first, second = _raw_http(srv, body), _raw_http(srv, body)
        srv.cut_next(after_bytes=10_000)
        cut = _raw_http(srv, body)
    strip_date = lambda data: b"\r\n".join(line for line in data.split(b"\r\n") if not line.startswith(b"Date:"))
    assert strip_date(first) == strip_date(second)
    head, sizes, whole = _chunks(second)
    assert whole and len(sizes) > 10 and set(sizes[:-1]) == {4096}
    _head, cut_sizes, cut_whole = _chunks(cut)
    assert not cut_whole and sum(cut_sizes) == 10_000


def test_cached_frames_count_their_payload_against_the_rate_limit():
    written = []

    class Sink:
        write, flush = written.append, staticmethod(lambda: None)

    sender = v2server._ChunkSender(Sink(), rate=1e12, cut_after=None)
    for chunk in (b"a" * 4096, b"b" * 17):
        sender.send_frame(v2server._frame(chunk))
    assert sender.sent == 4096 + 17
    assert written == [b"1000\r\n" + b"a" * 4096 + b"\r\n", b"11\r\n" + b"b" * 17 + b"\r\n"]
    assert v2server._payload(written) == b"a" * 4096 + b"b" * 17


def test_load_points_sorts_lazily_and_last_write_wins(server, client):
    server.load_points("test-bucket", "bulk", {"unit": "u1"}, "v", [T0 + 2, T0, T0 + 1, T0], [3, 1, 2, 9], "int")
    text = raw(client, f'from(bucket: "test-bucket") {DAY} |> filter(fn: (r) => r._measurement == "bulk")')
    rows = [line.split(",")[5:7] for line in text.split("\r\n") if line.startswith(",,0,")]
    assert rows == [["2024-01-01T00:00:00Z", "9"], ["2024-01-01T00:00:00.000000001Z", "2"],
                    ["2024-01-01T00:00:00.000000002Z", "3"]]
    with pytest.raises(ValueError, match="field type conflict"):
        server.load_points("test-bucket", "bulk", {"unit": "u2"}, "v", [T0], [1.5], "float")


def test_cli_serves_a_loaded_file(tmp_path):
    lp = tmp_path / "data.lp"
    lp.write_text(PIVOT_LP + "\n", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "support.v2server", "--port", "0", "--token", "T", "--org", "O", "--bucket", "B",
         "--load", str(lp)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with InfluxDBClient(url, "T", org="O") as c:
            tables = c.query_api().query(ENV.replace('"test-bucket"', '"B"'))
        assert len(tables) == 3
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_client_errors_are_influxdb_errors(client):
    with pytest.raises(InfluxDBError):
        write(client, "no fields here")
