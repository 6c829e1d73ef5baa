"""The InfluxDB 1.x test server and the sample data really work (fast: a few seconds)."""

from __future__ import annotations

import base64
import uuid

import numpy as np
import pandas as pd
import pytest

from support import sample_data
from support.influx1 import Influx1Server, InfluxError, _batches


def _db(server: Influx1Server) -> str:
    name = f"t_{uuid.uuid4().hex[:8]}"
    server.create_database(name)
    return name


def _rows(result: dict) -> tuple[list[str], list[list]]:
    series = result["results"][0]["series"]
    assert len(series) == 1
    return series[0]["columns"], series[0]["values"]


FLOATS = [0.1, 1 / 3, 1e20, 5e-324, 1.7976931348623157e308, -2.5, 123456789.125, 0.30000000000000004]
INTS = [0, -9223372036854775808, 9223372036854775807, 42, -1, 2**53 + 1, 7, 8]
STRINGS = ["plain", 'quote " here', "back\\slash", "comma, here", "new\nline", "", "ünï €😀", "tab\tx"]
BOOLS = [True, False, True, True, False, False, True, False]
TIMES = [1704067200000000001 + i * 123_456_789_011 for i in range(len(FLOATS))]


def test_every_field_type_round_trips_with_ns_time(influx1: Influx1Server) -> None:
    db = _db(influx1)

    def lp_str(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"m,host=h{i % 2},site=a\\ b f={f!r},i={n}i,s={lp_str(s)},b={str(b).lower()} {t}"
             for i, (f, n, s, b, t) in enumerate(zip(FLOATS, INTS, STRINGS, BOOLS, TIMES))]
    assert influx1.write(db, "\n".join(lines)) > 0
    columns, values = _rows(influx1.query('SELECT * FROM "m"', db=db))
    assert columns == ["time", "b", "f", "host", "i", "s", "site"]
    assert [v[0] for v in values] == TIMES
    assert [v[1] for v in values] == BOOLS
    got_floats = [float(v[2]) for v in values]
    assert got_floats == FLOATS and all(a.hex() == b.hex() for a, b in zip(got_floats, FLOATS))
    assert [v[3] for v in values] == [f"h{i % 2}" for i in range(len(FLOATS))]
    assert [v[4] for v in values] == INTS
    assert [v[5] for v in values] == STRINGS
    assert {v[6] for v in values} == {"a b"}
    fields = dict(_rows(influx1.query('SHOW FIELD KEYS FROM "m"', db=db))[1])
    assert fields == {"b": "boolean", "f": "float", "i": "integer", "s": "string"}


def test_write_accepts_iterables_and_precision(influx1: Influx1Server) -> None:
    db = _db(influx1)
    influx1.write(db, (f"p v={i}i {1704067200 + i}".encode() for i in range(3)), precision="s")
    _, values = _rows(influx1.query("SELECT v FROM p", db=db))
    assert values == [[(1704067200 + i) * 10**9, i] for i in range(3)]


def test_write_error_carries_server_message(influx1: Influx1Server) -> None:
    db = _db(influx1)
    with pytest.raises(InfluxError, match=r"HTTP 400: .*unable to parse"):
        influx1.write(db, "bad line without fields")
    with pytest.raises(InfluxError, match=r"database not found"):
        influx1.write("no_such_db", "m v=1 1")


def test_query_raises_on_statement_error(influx1: Influx1Server) -> None:
    with pytest.raises(InfluxError, match="database not found: no_such_db"):
        influx1.query("SELECT * FROM m", db="no_such_db")
    assert "error" in influx1.query("SELECT * FROM m", db="no_such_db", check=False)["results"][0]


def test_batches_split_only_at_line_ends() -> None:
    lines = [f"m v={i}i {i}" for i in range(1000)]
    bodies = list(_batches(["\n".join(lines[:500]), *lines[500:]], limit=1000))
    assert all(len(b) <= 1000 and b.endswith(b"\n") for b in bodies)
    assert b"".join(bodies).decode().splitlines() == lines


def test_ping_version_and_lifecycle(influx1: Influx1Server) -> None:
    ping = influx1.request("GET", "/ping")
    assert ping.status == 204 and ping.headers["x-influxdb-version"].startswith("1.")
    with Influx1Server() as other:
        root, url = other.root, other.url
        assert root is not None and root.is_dir() and url.startswith("http://127.0.0.1:")
        assert other.request("GET", "/ping").status == 204
    assert not root.exists()
    with pytest.raises(OSError):
        other.request("GET", "/ping", timeout=2)


def test_auth_mode_rejects_a_wrong_password(influx1_auth: Influx1Server) -> None:
    srv = influx1_auth
    assert srv.auth_enabled and srv.username and srv.password
    srv.create_database("secured")  # authenticated as the admin
    wrong = base64.b64encode(f"{srv.username}:not-the-password".encode()).decode()
    r = srv.request("GET", "/query", params={"q": "SHOW DATABASES"}, headers={"Authorization": f"Basic {wrong}"},
                    auth=False)
    assert r.status == 401 and r.json() == {"error": "authorization failed"}
    r = srv.request("GET", "/query", params={"q": "SHOW DATABASES"}, auth=False)
    assert r.status == 401 and "unable to parse authentication credentials" in r.json()["error"]
    r = srv.request("GET", "/query", params={"q": "SHOW DATABASES", "u": srv.username, "p": srv.password}, auth=False)
    assert r.status == 200 and ["secured"] in r.json()["results"][0]["series"][0]["values"]


# ---- sample data ---------------------------------------------------------------

def test_sample_is_deterministic_and_typed() -> None:
    a = sample_data.generate(days=1)
    pd.testing.assert_frame_equal(a, sample_data.generate(days=1))
    assert not a.equals(sample_data.generate(days=1, seed=8))
    assert list(a.columns) == ["time", "unit", "site", "temperature", "vibration", "pressure", "rpm", "current",
                               "cycle", "anomaly"]
    assert a["time"].dtype == np.int64 and a["cycle"].dtype == np.int64 and a["anomaly"].dtype == np.int64
    assert all(a[c].dtype == np.float64 for c in sample_data.FLOAT_FIELDS)
    assert sorted(a["unit"].unique()) == ["unit-01", "unit-02", "unit-03"]
    assert len(a) == 3 * 8640 and a["time"].is_monotonic_increasing
    assert a["time"].iloc[0] >= pd.Timestamp("2024-01-01T00:00:00Z").value
    assert a["time"].iloc[-1] < pd.Timestamp("2024-01-02T00:00:00Z").value
    assert set(a["anomaly"].unique()) <= {0, 1} and not a.isna().any().any()
    for _, unit in a.groupby("unit"):
        assert unit["cycle"].is_monotonic_increasing and unit["cycle"].diff().dropna().eq(1).all()


def test_sample_labels_mark_real_deviations() -> None:
    df = sample_data.generate()
    assert len(df) == 3 * 7 * 8640
    assert 0.005 <= df["anomaly"].mean() <= 0.08
    for _, unit in df.groupby("unit"):
        assert unit["anomaly"].any()
        bad, good = unit[unit["anomaly"] == 1], unit[unit["anomaly"] == 0]
        assert bad["vibration"].mean() > good["vibration"].mean() + 0.15
        assert bad["temperature"].mean() > good["temperature"].mean() + 5


def test_sample_line_protocol_round_trips_exactly(influx1: Influx1Server) -> None:
    df = sample_data.generate(days=1)
    db = _db(influx1)
    influx1.write(db, sample_data.to_line_protocol(df, batch_rows=10_000))
    columns, values = _rows(influx1.query("SELECT * FROM machine WHERE unit = 'unit-02'", db=db))
    got = pd.DataFrame(values, columns=columns)
    want = df[df["unit"] == "unit-02"].reset_index(drop=True)
    assert len(got) == len(want) == 8640
    assert got["time"].tolist() == want["time"].tolist()
    for col in ["unit", "site", "cycle", "anomaly"]:
        assert got[col].tolist() == want[col].tolist(), col
    for col in sample_data.FLOAT_FIELDS:  # exact: the server may print 60.0 as 60, the value is the same
        assert [float(v) for v in got[col]] == want[col].tolist(), col
    fields = dict(_rows(influx1.query("SHOW FIELD KEYS FROM machine", db=db))[1])
    assert fields == {**{c: "float" for c in sample_data.FLOAT_FIELDS}, "cycle": "integer", "anomaly": "integer"}
