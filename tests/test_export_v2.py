"""End to end on the 2.x API: the real influxdb-client against the in-repo 2.x server.

The server (support/v2server.py) is a stand-in: no InfluxDB 2.x can be installed on these
machines. Data goes in through influxdb-client's write API as line protocol, and the
connector reads it back with influxdb-client's query API, exactly as against InfluxDB 2.x.
"""
from __future__ import annotations

import pytest
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

from connector import DataError, ParameterError, ServerRefused, ServerUnavailable, export
from support.v2server import V2Server

TOKEN = "v2-tok-SEKRET-42"
ORG = "acme"


@pytest.fixture(scope="module")
def server():
    with V2Server(token=TOKEN, org=ORG, buckets=("plant",)) as srv:
        yield srv


_buckets = iter(range(10_000))


@pytest.fixture
def bucket(server):
    name = f"b{next(_buckets)}"
    server.create_bucket(name)
    return name


def write(server, bucket, lines):
    with InfluxDBClient(url=server.url, token=TOKEN, org=ORG) as client:
        client.write_api(write_options=SYNCHRONOUS).write(bucket=bucket, record=lines, write_precision="ns")


def run(server, bucket, tmp_path, **changes):
    params = dict(url=server.url, token=TOKEN, org=ORG, bucket=bucket, measurement="m", time_col="time",
                  range_start="2024-01-01", range_end="2024-01-02", local_dir=str(tmp_path), api="v2")
    params.update(changes)
    return export(**params)


def test_every_type_comes_out_exact(server, bucket, tmp_path):
    write(server, bucket, [
        'm,unit=u1 f=1.0,i=-9223372036854775808i,b=true,s="plain" 1704067200000000000',
        'm,unit=u1 f=0.1,i=9223372036854775807i,b=false,s="a,b" 1704067200000000001',
        'm,unit=u1 f=-0.0,i=0i,b=true,s="say \\"hi\\"" 1704067230000000789',
        'm,unit=u1 f=2.5e-300,i=7i,b=false,s="l1\nl2 ünï" 1704067240000000000',
        'm,unit=u1 f=1e20,i=8i,b=true,s=" lead" 1704067250000000000',
    ])
    summary = run(server, bucket, tmp_path)
    text = (tmp_path / "influxdb.csv").read_text(encoding="utf-8")
    assert text == (
        "time,unit,b,f,i,s\n"
        "2024-01-01T00:00:00.000000000Z,u1,true,1.0,-9223372036854775808,plain\n"
        '2024-01-01T00:00:00.000000001Z,u1,false,0.1,9223372036854775807,"a,b"\n'
        '2024-01-01T00:00:30.000000789Z,u1,true,-0.0,0,"say ""hi"""\n'
        '2024-01-01T00:00:40.000000000Z,u1,false,' + _go_float(2.5e-300) + ',7,"l1\nl2 ünï"\n'
        "2024-01-01T00:00:50.000000000Z,u1,true,100000000000000000000.0,8, lead\n"
    )
    assert summary.rows == 5
    assert summary.columns == ["time", "unit", "b", "f", "i", "s"]
    assert (summary.first_time, summary.last_time) == ("2024-01-01T00:00:00.000000000Z",
                                                        "2024-01-01T00:00:50.000000000Z")


def _go_float(value: float) -> str:
    """InfluxDB writes doubles like Go's strconv.FormatFloat(v, 'f', -1, 64)."""
    from decimal import Decimal

    text = format(Decimal(repr(value)), "f")
    return text if "." in text else text + ".0"


def test_series_with_different_tags_and_sparse_fields_share_one_header(server, bucket, tmp_path):
    write(server, bucket, [
        "m,unit=u2,site=s1 temp=2.0 1704067200000000000",
        "m,unit=u1 temp=1.5,rpm=900i 1704067200000000000",
        "m,site=s0 rpm=10i 1704067200000000000",
        "m,unit=u1 rpm=901i 1704067210000000000",
        'm,unit=u3 note="x" 1704067205000000000',
    ])
    run(server, bucket, tmp_path)
    assert (tmp_path / "influxdb.csv").read_text() == (
        "time,site,unit,note,rpm,temp\n"
        "2024-01-01T00:00:00.000000000Z,,u1,,900,1.5\n"   # no site sorts first
        "2024-01-01T00:00:00.000000000Z,s0,,,10,\n"
        "2024-01-01T00:00:00.000000000Z,s1,u2,,,2.0\n"
        "2024-01-01T00:00:05.000000000Z,,u3,x,,\n"
        "2024-01-01T00:00:10.000000000Z,,u1,,901,\n"
    )


def test_range_start_is_included_and_range_end_excluded(server, bucket, tmp_path):
    write(server, bucket, [f"m v={i}i {1704067200000000000 + i}" for i in range(5)])
    run(server, bucket, tmp_path, range_start="2024-01-01T00:00:00.000000001Z",
        range_end="2024-01-01T00:00:00.000000003Z")
    assert (tmp_path / "influxdb.csv").read_text() == (
        "time,v\n2024-01-01T00:00:00.000000001Z,1\n2024-01-01T00:00:00.000000002Z,2\n")


def test_fixed_windows_give_the_same_file_as_automatic_ones(server, bucket, tmp_path):
    hour = 3600 * 10**9
    start = 1704067200000000000
    lines = [f"m,unit=u{i % 3} v={i}i,w={i / 7} {start + i * hour // 4}" for i in range(200)]
    lines += [f"m,unit=edge v=-1i {start + k * hour}" for k in range(40)]  # exactly on window edges
    write(server, bucket, lines)
    auto = run(server, bucket, tmp_path / "a", range_end="2024-01-05")
    fixed = run(server, bucket, tmp_path / "f", range_end="2024-01-05", window="1h")
    assert fixed.windows > 40 and fixed.rows == auto.rows == 240
    assert (tmp_path / "a" / "influxdb.csv").read_bytes() == (tmp_path / "f" / "influxdb.csv").read_bytes()


def test_hostile_measurement_reads_only_itself(server, bucket, tmp_path):
    hostile = 'm") or true //'
    write(server, bucket, ['m\\"\\)\\ or\\ true\\ // v=1i 1704067200000000000'.replace('\\"', '"').replace("\\)", ")"),
                           "other v=2i 1704067200000000000"])
    run(server, bucket, tmp_path, measurement=hostile)
    assert (tmp_path / "influxdb.csv").read_text() == "time,v\n2024-01-01T00:00:00.000000000Z,1\n"


def test_fields_selection_and_rename(server, bucket, tmp_path):
    write(server, bucket, ["m,unit=u1 a=1i,b=2i,c=3i 1704067200000000000"])
    summary = run(server, bucket, tmp_path, fields="c,a", rename="unit:id,c:see")
    assert summary.columns == ["time", "id", "a", "see"]
    assert (tmp_path / "influxdb.csv").read_text() == "time,id,a,see\n2024-01-01T00:00:00.000000000Z,u1,1,3\n"
    with pytest.raises(ParameterError, match=r"^fields: 'nope' not in measurement 'm' \(its fields: a, b, c\)$"):
        run(server, bucket, tmp_path, fields="nope")


def test_no_data_is_an_error_and_leaves_no_file(server, bucket, tmp_path):
    write(server, bucket, ["m v=1i 1704067200000000000"])
    with pytest.raises(DataError) as caught:
        run(server, bucket, tmp_path, range_start="2023-01-01", range_end="2023-01-02")
    assert str(caught.value) == (
        f"no data: measurement 'm' in bucket '{bucket}' has no points between 2023-01-01 "
        "(2023-01-01T00:00:00.000000000Z) and 2023-01-02 (2023-01-02T00:00:00.000000000Z)")
    assert list(tmp_path.iterdir()) == []


def test_wrong_token_unknown_bucket_and_unknown_org(server, bucket, tmp_path):
    with pytest.raises(ServerRefused) as caught:
        run(server, bucket, tmp_path, token="wrong-SEKRET")
    assert str(caught.value) == "InfluxDB refused the token (401): unauthorized access; check token"
    with pytest.raises(ServerRefused) as caught:
        run(server, "nope", tmp_path)
    assert "could not find bucket" in str(caught.value) and "check bucket ('nope')" in str(caught.value)
    with pytest.raises(ServerRefused, match="404"):
        run(server, bucket, tmp_path, org="no-such-org")
    assert list(tmp_path.iterdir()) == []


def test_api_auto_picks_flux_for_a_2x_server(server, bucket, tmp_path):
    write(server, bucket, ["m v=1i 1704067200000000000"])
    assert run(server, bucket, tmp_path, api="auto").api == "v2"


def _many_points(server, bucket):
    write(server, bucket, [f"m v={i}i {1704067200000000000 + i * 10**9}" for i in range(3000)])


def test_an_error_table_mid_answer_fails_and_keeps_the_older_file(server, bucket, tmp_path):
    _many_points(server, bucket)
    run(server, bucket, tmp_path, window="1d")
    before = (tmp_path / "influxdb.csv").read_bytes()
    server.error_table_next(after_bytes=2000, message="panic: out of memory", match="pivot(")
    with pytest.raises(ServerUnavailable, match="panic: out of memory"):
        run(server, bucket, tmp_path, window="1d", range_end="2024-01-03", retries=0)
    assert (tmp_path / "influxdb.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["influxdb.csv", "influxdb.csv.profile.json",
                                                         "influxdb.csv.summary.json"]


def test_an_error_table_found_while_parsing_refetches_that_window(server, bucket, tmp_path):
    """The error table is seen by the parsing thread, not the download: it retries all the same."""
    _many_points(server, bucket)
    clean = run(server, bucket, tmp_path / "clean", window="10m")
    server.requests.clear()
    server.error_table_next(after_bytes=2000, message="panic: out of memory",
                            match="T00:10:00.000000000Z, stop: 2024-01-01T00:20:00")
    retried = run(server, bucket, tmp_path / "retried", window="10m", retries=2)
    assert retried.rows == clean.rows == 3000
    assert (tmp_path / "retried" / "influxdb.csv").read_bytes() == (tmp_path / "clean" / "influxdb.csv").read_bytes()
    windows = [r.body["query"] for r in server.requests if r.path == "/api/v2/query" and "pivot(" in r.body["query"]]
    assert sum("stop: 2024-01-01T00:20:00" in q for q in windows) == 2  # the error table once, then whole


def test_a_cut_answer_fails_and_leaves_no_file(server, bucket, tmp_path):
    _many_points(server, bucket)
    server.cut_next(after_bytes=5000, match="pivot(")
    with pytest.raises(ServerUnavailable, match="cut off"):
        run(server, bucket, tmp_path, window="1d", retries=0)
    assert list(tmp_path.iterdir()) == []


def test_only_the_failed_window_is_fetched_again(server, bucket, tmp_path):
    _many_points(server, bucket)
    clean = run(server, bucket, tmp_path / "clean", window="10m")
    server.requests.clear()
    server.fail_next(503, times=2, match="T00:10:00.000000000Z, stop: 2024-01-01T00:20:00")
    server.cut_next(after_bytes=3000, match="T00:30:00.000000000Z, stop: 2024-01-01T00:40:00")
    retried = run(server, bucket, tmp_path / "retried", window="10m", retries=3)
    assert retried.rows == clean.rows == 3000
    assert (tmp_path / "retried" / "influxdb.csv").read_bytes() == (tmp_path / "clean" / "influxdb.csv").read_bytes()
    queries = [r.body["query"] for r in server.requests if r.path == "/api/v2/query"]
    windows = [q for q in queries if "pivot(" in q]
    assert len(queries) - len(windows) == 4  # the plan: tag keys, field keys, first, last; once
    assert sum("stop: 2024-01-01T00:20:00" in q for q in windows) == 3  # two 503s, then the answer
    assert sum("stop: 2024-01-01T00:40:00" in q for q in windows) == 2  # cut once, then whole
    assert retried.windows == 5 and len(windows) == 5 + 2 + 1  # every other window once


def test_retry_after_is_honoured(server, bucket, tmp_path):
    import time

    _many_points(server, bucket)
    server.fail_next(429, retry_after=1, match="pivot(")
    started = time.monotonic()
    run(server, bucket, tmp_path, window="1d", retries=1)
    assert time.monotonic() - started >= 1.0


def test_refusals_are_never_retried(server, bucket, tmp_path):
    _many_points(server, bucket)
    server.requests.clear()
    with pytest.raises(ServerRefused):
        run(server, bucket, tmp_path, token="wrong", retries=5)
    assert len([r for r in server.requests if r.path == "/api/v2/query"]) == 1


def test_a_stalled_server_times_out_instead_of_hanging(server, bucket, tmp_path):
    _many_points(server, bucket)
    server.stall_next(seconds=5, match="pivot(")
    with pytest.raises(ServerUnavailable, match="timed out|did not answer within 0.5 s"):
        run(server, bucket, tmp_path, window="1d", retries=0, timeout="0.5")
    assert list(tmp_path.iterdir()) == []
