"""every / agg / fill: resampled on the server, the same file from 1.x and from 2.x."""
from __future__ import annotations

import pytest
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

from connector import ParameterError, export
from support.v2server import V2Server

T0 = 1704067200000000000
S = 10**9
LINES = (
    [f"m,unit=u1 temp={20 + i * 0.5},rpm={900 + i}i,ok=true,note=\"n{i}\" {T0 + i * 20 * S + 7}" for i in range(12)]
    + [f"m,unit=u2 temp={30 - i * 0.25},rpm={1200 - i}i {T0 + 35 * S + i * 45 * S}" for i in range(5)]
)  # u1: every 20 s for 4 minutes; u2: every 45 s, with a gap of empty minutes after it


@pytest.fixture(scope="module")
def servers(influx1):
    influx1.create_database("resample")
    influx1.write("resample", "\n".join(LINES))
    with V2Server(token="tok", org="org", buckets=("resample",)) as v2:
        with InfluxDBClient(url=v2.url, token="tok", org="org") as client:
            client.write_api(write_options=SYNCHRONOUS).write(bucket="resample", record=LINES)
        yield {"v1": (influx1.url, ""), "v2": (v2.url, "tok")}


def run(servers, api, folder, **changes):
    url, token = servers[api]
    params = dict(url=url, token=token, org="org", api=api, bucket="resample", measurement="m", time_col="time",
                  range_start="2024-01-01T00:00:00Z", range_end="2024-01-01T00:10:00Z", local_dir=str(folder),
                  every="1m")
    params.update(changes)
    export(**params)
    return (folder / "influxdb.csv").read_text()


def test_mean_per_minute_exactly(servers, tmp_path):
    text = run(servers, "v1", tmp_path)
    assert text == (
        "time,unit,rpm,temp\n"
        "2024-01-01T00:00:00.000000000Z,u1,901.0,20.5\n"
        "2024-01-01T00:00:00.000000000Z,u2,1200.0,30.0\n"
        "2024-01-01T00:01:00.000000000Z,u1,904.0,22.0\n"
        "2024-01-01T00:01:00.000000000Z,u2,1199.0,29.75\n"
        "2024-01-01T00:02:00.000000000Z,u1,907.0,23.5\n"
        "2024-01-01T00:02:00.000000000Z,u2,1197.5,29.375\n"   # u2 at 02:05 and 02:50
        "2024-01-01T00:03:00.000000000Z,u1,910.0,25.0\n"
        "2024-01-01T00:03:00.000000000Z,u2,1196.0,29.0\n"
    )


@pytest.mark.parametrize("agg, fill", [("mean", "none"), ("max", "null"), ("last", "previous"), ("first", "none"),
                                       ("sum", "none"), ("min", "previous")])
def test_both_apis_resample_to_the_same_bytes(servers, tmp_path, agg, fill):
    one = run(servers, "v1", tmp_path / "v1", agg=agg, fill=fill, window="3m")
    two = run(servers, "v2", tmp_path / "v2", agg=agg, fill=fill)
    assert one == two
    assert one.count("\n") > 8


def test_only_whole_buckets_inside_the_range(servers, tmp_path):
    text = run(servers, "v1", tmp_path, range_start="2024-01-01T00:00:30Z", range_end="2024-01-01T00:02:30Z")
    assert [line.split(",")[0] for line in text.splitlines()[1:]] == ["2024-01-01T00:01:00.000000000Z"] * 2


def test_a_numeric_aggregate_of_a_string_field_is_a_parameter_error(servers, tmp_path):
    for api in ("v1", "v2"):
        with pytest.raises(ParameterError, match="agg mean needs numeric fields; 'note' is not"):
            run(servers, api, tmp_path, fields="temp,note")


def test_months_are_not_a_bucket_size(servers, tmp_path):
    with pytest.raises(ParameterError, match="every: '1mo' must be a fixed duration"):
        run(servers, "v1", tmp_path, every="1mo")
