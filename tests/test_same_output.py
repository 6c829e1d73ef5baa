"""One contract for every server: the same points stored in a real InfluxDB 1.x and in the
2.x test server come out as byte-identical files."""
from __future__ import annotations

import pytest
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

from connector import export
from support import sample_data
from support.v2server import V2Server

NASTY = [
    'odd\\ name,unit=u\\,1,plant=ünï\\=x f=1.0,i=-9223372036854775808i,b=true,s="a,b \\"q\\"\nl2" 1704067200000000001',
    "odd\\ name,unit=u2 f=1e20,g=0.1 1704067200000000001",
    "odd\\ name,unit=u1 f=5e-324,i=9223372036854775807i 1704067210000000000",
    'odd\\ name,plant=p f=-0.0,s="" 1704067210000000000',
    'odd\\ name,unit=u3 s="it\'s ü" 1704067215000000000',
]


@pytest.fixture(scope="module")
def both(influx1):
    """The same line protocol written to both servers, each through its own write API."""
    frame = sample_data.generate(units=2, days=0.5)
    telemetry = b"".join(sample_data.to_line_protocol(frame)).decode()
    influx1.create_database("same")
    influx1.write("same", telemetry)
    influx1.write("same", "\n".join(NASTY))
    with V2Server(token="tok", org="org", buckets=("same",)) as v2:
        with InfluxDBClient(url=v2.url, token="tok", org="org") as client:
            writer = client.write_api(write_options=SYNCHRONOUS)
            writer.write(bucket="same", record=telemetry, write_precision="ns")
            writer.write(bucket="same", record="\n".join(NASTY), write_precision="ns")
        yield influx1, v2


@pytest.mark.parametrize("measurement, extra", [
    ("machine", {}),
    ("machine", {"fields": "temperature,anomaly", "rename": "unit:id"}),
    ("machine", {"window": "17m"}),
    ("odd name", {}),
])
def test_v1_and_v2_write_the_same_bytes(both, tmp_path, measurement, extra):
    v1, v2 = both
    common = dict(bucket="same", measurement=measurement, time_col="timestamp", range_start="2024-01-01",
                  range_end="2024-01-02", **extra)
    one = export(url=v1.url, token="", org="-", api="v1", local_dir=str(tmp_path / "v1"), **common)
    two = export(url=v2.url, token="tok", org="org", api="v2", local_dir=str(tmp_path / "v2"), **common)
    assert one.rows == two.rows > 0
    assert one.columns == two.columns
    assert (tmp_path / "v1" / "influxdb.csv").read_bytes() == (tmp_path / "v2" / "influxdb.csv").read_bytes()


def test_the_nasty_measurement_exactly(both, tmp_path):
    v1, _ = both
    export(url=v1.url, token="", org="-", api="v1", bucket="same", measurement="odd name", time_col="t",
           range_start="2024-01-01", range_end="2024-01-02", local_dir=str(tmp_path))
    assert (tmp_path / "influxdb.csv").read_text(encoding="utf-8") == (
        "t,plant,unit,b,f,g,i,s\n"
        "2024-01-01T00:00:00.000000001Z,,u2,,100000000000000000000.0,0.1,,\n"
        '2024-01-01T00:00:00.000000001Z,ünï=x,"u,1",true,1.0,,-9223372036854775808,"a,b ""q""\nl2"\n'
        "2024-01-01T00:00:10.000000000Z,,u1,," + format(__import__("decimal").Decimal("5e-324"), "f")
        + ",,9223372036854775807,\n"
        "2024-01-01T00:00:10.000000000Z,p,,,-0.0,,,\n"
        "2024-01-01T00:00:15.000000000Z,,u3,,,,,it's ü\n"
    )


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize("measurement", ["machine", "odd name"])
def test_the_c_kernels_and_the_numpy_path_write_the_same_files(both, tmp_path, monkeypatch, api, measurement):
    v1, v2 = both
    server = v1 if api == "v1" else v2
    common = dict(url=server.url, token="" if api == "v1" else "tok", org="-" if api == "v1" else "org", api=api,
                  bucket="same", measurement=measurement, time_col="timestamp", range_start="2024-01-01",
                  range_end="2024-01-02")
    written = {}
    for path in ("1", "0"):
        monkeypatch.setenv("INFLUXDB_CONNECTOR_NATIVE", path)
        export(local_dir=str(tmp_path / path), **common)
        written[path] = [(tmp_path / path / name).read_bytes() for name in ("influxdb.csv", "influxdb.csv.profile.json")]
    assert written["1"] == written["0"]
    assert written["1"][0].count(b"\n") > 1
