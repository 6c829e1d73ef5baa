"""Parquet output keeps the types: timestamp[ns, UTC], int64, float64, bool, string."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connector import export, read_dataframe
from support.v2server import V2Server

T0 = 1704067200000000000
LINES = [
    'm,unit=u1 f=1.0,i=-9223372036854775808i,b=true,s="a,b" 1704067200000000001',
    "m,unit=u2 f=0.1,i=5i,b=false 1704067200000000001",
    'm,site=x f=1e20,s="ü\\"q" 1704067210000000000',
]


@pytest.fixture(scope="module")
def servers(influx1):
    influx1.create_database("pq")
    influx1.write("pq", "\n".join(LINES))
    with V2Server(token="tok", org="org", buckets=("pq",)) as v2:
        v2.load_line_protocol("pq", "\n".join(LINES))
        yield {"v1": (influx1.url, ""), "v2": (v2.url, "tok")}


def run(servers, api, tmp_path, **changes):
    url, token = servers[api]
    params = dict(url=url, token=token, org="org", api=api, bucket="pq", measurement="m", time_col="time",
                  range_start="2024-01-01", range_end="2024-01-02", local_dir=str(tmp_path), file_name="m.parquet")
    params.update(changes)
    return export(**params)


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_parquet_types_and_values(servers, tmp_path, api):
    summary = run(servers, api, tmp_path)
    table = pq.read_table(tmp_path / "m.parquet")
    assert table.schema == pa.schema([("time", pa.timestamp("ns", tz="UTC")), ("site", pa.string()),
                                      ("unit", pa.string()), ("b", pa.bool_()), ("f", pa.float64()),
                                      ("i", pa.int64()), ("s", pa.string())])
    assert table.to_pydict() == {
        "time": table.column("time").to_pylist(),
        "site": [None, None, "x"], "unit": ["u1", "u2", None], "b": [True, False, None],
        "f": [1.0, 0.1, 1e20], "i": [-9223372036854775808, 5, None], "s": ["a,b", None, 'ü"q'],
    }
    assert table.column("time").cast(pa.int64()).to_pylist() == [T0 + 1, T0 + 1, T0 + 10 * 10**9]
    assert summary.rows == 3


def test_parquet_from_both_apis_is_the_same_table(servers, tmp_path):
    run(servers, "v1", tmp_path / "a")
    run(servers, "v2", tmp_path / "b")
    assert pq.read_table(tmp_path / "a" / "m.parquet").equals(pq.read_table(tmp_path / "b" / "m.parquet"))


def test_epoch_time_and_a_zone_in_parquet(servers, tmp_path):
    run(servers, "v1", tmp_path / "e", time_format="epoch_ms")
    assert pq.read_table(tmp_path / "e" / "m.parquet").column("time").to_pylist() == [1704067200000] * 2 + [
        1704067210000]
    run(servers, "v1", tmp_path / "z", timezone="Europe/Berlin")
    assert pq.read_table(tmp_path / "z" / "m.parquet").schema.field("time").type == pa.timestamp(
        "ns", tz="Europe/Berlin")


def test_read_dataframe_gives_pandas_types(servers):
    url, token = servers["v1"]
    frame = read_dataframe(url=url, token=token, org="-", api="v1", bucket="pq", measurement="m",
                           time_col="time", range_start="2024-01-01", range_end="2024-01-02")
    assert list(frame.columns) == ["time", "site", "unit", "b", "f", "i", "s"]
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert frame["time"].iloc[0].value == T0 + 1
    assert str(frame["f"].dtype) == "float64" and frame["f"].tolist() == [1.0, 0.1, 1e20]
    assert str(frame["i"].dtype) == "Int64"  # nullable: a missing integer stays missing, not NaN
    assert frame["b"].tolist()[:2] == [True, False]
