"""End to end against a real InfluxDB 1.6.7 (api=v1): exact file text for the nasty cases.

Every test writes into its own database on the session's ``influx1`` server and compares
the whole output file against an expected text written out by hand.
"""

from __future__ import annotations

import csv
import gzip
import io
import uuid
from pathlib import Path

import pandas as pd
import pytest

from connector import DataError, ParameterError, ServerRefused, ServerUnavailable, export
from connector.config import build_settings
from connector.export import run
from connector.params import load_arguments
from connector.sources.influxql import InfluxQLSource
from support.influx1 import Influx1Server

T = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
S = 1_000_000_000
DAY = "2024-01-01"
# A window that fails for a reason worth retrying would be retried with backoff: keep tests fast.
NO_RETRY = {"retries": "0"} if "retries" in {a.key for a in load_arguments()} else {}
NEXT_DAY = "2024-01-02"


# ---------------------------------------------------------------- helpers

def new_db(server: Influx1Server, hint: str) -> str:
    name = f"{hint}_{uuid.uuid4().hex[:8]}"
    server.create_database(name)
    return name


def lp_name(text: str) -> str:
    """Measurement in line protocol: comma and space escaped (backslash stays literal)."""
    return text.replace(",", "\\,").replace(" ", "\\ ")


def lp_key(text: str) -> str:
    """Tag key, tag value or field key in line protocol."""
    return text.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def lp_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def params(server: Influx1Server, db: str, out: Path, **overrides) -> dict:
    base = dict(url=server.url, token="", org="-", bucket=db, measurement="m", time_col="time",
                range_start=DAY, range_end=NEXT_DAY, local_dir=str(out), api="v1")
    base.update(overrides)
    return base


def run_export(server: Influx1Server, db: str, out: Path, **overrides) -> tuple[object, str]:
    summary = export(**params(server, db, out, **overrides))
    path = out / overrides.get("file_name", "influxdb.csv")
    assert summary.path == str(path)
    data = path.read_bytes()
    assert summary.bytes == len(data)
    return summary, data.decode("utf-8")


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# ---------------------------------------------------------------- value types

def test_float_values_exact_text(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "floats")
    values = ["0.1", "1.0", "-0.0", "2.5", "-1.5", "123456789.125", "0.30000000000000004", "1e20", "42.0",
              "0.000123", "-7"]
    influx1.write(db, [f"m v={v} {T + k}" for k, v in enumerate(values)])
    summary, text = run_export(influx1, db, tmp_path)
    assert text == (
        "time,v\n"
        "2024-01-01T00:00:00.000000000Z,0.1\n"
        "2024-01-01T00:00:00.000000001Z,1.0\n"
        "2024-01-01T00:00:00.000000002Z,-0.0\n"
        "2024-01-01T00:00:00.000000003Z,2.5\n"
        "2024-01-01T00:00:00.000000004Z,-1.5\n"
        "2024-01-01T00:00:00.000000005Z,123456789.125\n"
        "2024-01-01T00:00:00.000000006Z,0.30000000000000004\n"
        "2024-01-01T00:00:00.000000007Z,100000000000000000000.0\n"
        "2024-01-01T00:00:00.000000008Z,42.0\n"
        "2024-01-01T00:00:00.000000009Z,0.000123\n"
        "2024-01-01T00:00:00.000000010Z,-7.0\n"
    )
    assert summary.rows == 11
    assert summary.columns == ["time", "v"]
    assert summary.first_time == "2024-01-01T00:00:00.000000000Z"
    assert summary.last_time == "2024-01-01T00:00:00.000000010Z"
    assert summary.api == "v1"
    assert files_in(tmp_path) == ["influxdb.csv", "influxdb.csv.profile.json", "influxdb.csv.summary.json"]


def test_extreme_floats_round_trip(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "xfloats")
    values = [5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 2.2250738585072014e-308, 1e20,
              1.5e300, 1 / 3, -2.5e-10, 9007199254740993.0]
    influx1.write(db, [f"m v={v!r} {T + k}" for k, v in enumerate(values)])
    _, text = run_export(influx1, db, tmp_path)
    rows = cells(text)
    assert rows[0] == ["time", "v"]
    assert [r[0] for r in rows[1:]] == [f"2024-01-01T00:00:00.00000000{k}Z" for k in range(len(values))]
    for (_, cell), value in zip(rows[1:], values):
        assert float(cell) == value, (cell, value)
        assert "." in cell or "e" in cell.lower(), f"{cell!r} would read back as an integer"
    assert rows[2][1].endswith(".0")  # 1.7976931348623157e308 is whole
    assert len(rows) == len(values) + 1


def test_field_type_differing_between_shards_is_one_float_column(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "shards")
    influx1.write(db, f"m f=1.5 {T}")
    influx1.write(db, f"m f=2i {T + 21 * 86400 * S}")  # three weeks later: another shard
    _, text = run_export(influx1, db, tmp_path, range_end="2024-02-01")
    assert text == ("time,f\n"
                    "2024-01-01T00:00:00.000000000Z,1.5\n"
                    "2024-01-22T00:00:00.000000000Z,2.0\n")


def test_integer_values_exact_text(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "ints")
    values = [0, -9223372036854775808, 9223372036854775807, 2**53 + 1, -1, 42]
    influx1.write(db, [f"m v={v}i {T + k * S}" for k, v in enumerate(values)])
    _, text = run_export(influx1, db, tmp_path)
    assert text == (
        "time,v\n"
        "2024-01-01T00:00:00.000000000Z,0\n"
        "2024-01-01T00:00:01.000000000Z,-9223372036854775808\n"
        "2024-01-01T00:00:02.000000000Z,9223372036854775807\n"
        "2024-01-01T00:00:03.000000000Z,9007199254740993\n"
        "2024-01-01T00:00:04.000000000Z,-1\n"
        "2024-01-01T00:00:05.000000000Z,42\n"
    )


def test_boolean_values_exact_text(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "bools")
    spellings = ["t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"]
    influx1.write(db, [f"m v={v} {T + k}" for k, v in enumerate(spellings)])
    _, text = run_export(influx1, db, tmp_path)
    expected = ["time,v"] + [f"2024-01-01T00:00:00.00000000{k}Z,{'true' if k < 5 else 'false'}" for k in range(10)]
    assert text == "\n".join(expected) + "\n"


STRINGS = [
    ("plain", "plain"),
    ("comma, here", '"comma, here"'),
    ('quote " here', '"quote "" here"'),
    ('"', '""""'),
    ("new\nline", '"new\nline"'),
    ("cr\r\nlf", '"cr\r\nlf"'),
    ("lone\rcr", '"lone\rcr"'),
    (" lead", " lead"),
    ("trail ", "trail "),
    ("ünï €😀", "ünï €😀"),
    ("back\\slash", "back\\slash"),
    ("tab\tx", "tab\tx"),
    ("", ""),
    ("NA", "NA"),
    ("null", "null"),
    ("two\n\nblank lines", '"two\n\nblank lines"'),
    # a string that looks like the SHOW FIELD KEYS table the connector uses as its completion mark
    ("x\n\nname,tags,fieldKey,fieldType\nm,,s,string\n", '"x\n\nname,tags,fieldKey,fieldType\nm,,s,string\n"'),
    ("it's", "it's"),
    ('a,"b",c', '"a,""b"",c"'),
]


def test_string_values_exact_text(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "strings")
    influx1.write(db, [f"m s={lp_str(value)} {T + k * S}" for k, (value, _) in enumerate(STRINGS)])
    _, text = run_export(influx1, db, tmp_path)
    expected = "time,s\n" + "".join(
        f"2024-01-01T00:00:{k:02d}.000000000Z,{cell}\n" for k, (_, cell) in enumerate(STRINGS))
    assert text == expected
    # and a CSV reader gets the values back (the empty string comes back as an empty cell)
    assert [row[1] for row in cells(text)[1:]] == [value for value, _ in STRINGS]


def test_every_type_in_one_point_column_order(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "alltypes")
    influx1.write(db, [f'm,zone=z1,host=h1 s="x,y",i=-3i,f=1.0,b=true {T + 30 * S + 789}',
                       f'm,zone=z1,host=h1 s="",i=4i,f=0.5,b=false {T + 10 * S}'])
    summary, text = run_export(influx1, db, tmp_path)
    assert text == ("time,host,zone,b,f,i,s\n"
                    "2024-01-01T00:00:10.000000000Z,h1,z1,false,0.5,4,\n"
                    '2024-01-01T00:00:30.000000789Z,h1,z1,true,1.0,-3,"x,y"\n')
    assert summary.columns == ["time", "host", "zone", "b", "f", "i", "s"]


# ---------------------------------------------------------------- series, tags, time

def test_series_with_different_tag_sets_and_sparse_fields(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "sparse")
    influx1.write(db, [
        f"m,host=h1,region=eu temp=1.5,load=2i {T + 2 * S}",
        f'm,host=h2 temp=2.5,status="ok" {T + 1 * S}',
        f"m,region=us load=3i {T + 1 * S}",
        f"m flag=true {T + 3 * S}",
        f"m,host=h1,region=eu temp=3.0 {T}",
        f'm,host=h2 status="a, b" {T + 3 * S}',
    ])
    _, text = run_export(influx1, db, tmp_path)
    assert text == (
        "time,host,region,flag,load,status,temp\n"
        "2024-01-01T00:00:00.000000000Z,h1,eu,,,,3.0\n"
        "2024-01-01T00:00:01.000000000Z,,us,,3,,\n"
        "2024-01-01T00:00:01.000000000Z,h2,,,,ok,2.5\n"
        "2024-01-01T00:00:02.000000000Z,h1,eu,,2,,1.5\n"
        "2024-01-01T00:00:03.000000000Z,,,true,,,\n"
        '2024-01-01T00:00:03.000000000Z,h2,,,,"a, b",\n'
    )


def test_identical_timestamps_are_ordered_by_tag_values(influx1: Influx1Server, tmp_path: Path) -> None:
    """Ties in time are ordered by the tag values (tags in column order, a missing tag first),
    whatever order the server sends the series in."""
    db = new_db(influx1, "ties")
    series = ["host=b", "host=a", "region=us", "host=a0", "host=a\\ b", "host=A", "host=ü",
              "host=a,region=eu", "host=a,region=ap", ""]
    lines = []
    for k, key in enumerate(series):
        tags = f",{key}" if key else ""
        lines.append(f"m{tags} x={k}i {T + 1}")
        lines.append(f"m{tags} x={k + 100}i {T}")
    influx1.write(db, lines)
    _, text = run_export(influx1, db, tmp_path)
    order = [("", "", 9), ("", "us", 2), ("A", "", 5), ("a", "", 1), ("a", "ap", 8), ("a", "eu", 7),
             ("a b", "", 4), ("a0", "", 3), ("b", "", 0), ("ü", "", 6)]
    expected = ["time,host,region,x"]
    for offset, add in ((0, 100), (1, 0)):
        expected += [f"2024-01-01T00:00:00.00000000{offset}Z,{h},{r},{x + add}" for h, r, x in order]
    assert text == "\n".join(expected) + "\n"


def test_nanosecond_times_and_edges_of_influx_time(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "times")
    times = [-9223372036854775805, -1, 0, 1, T + 30 * S + 789, T + 10 * S, 951782400 * S + 999999999,
             9223372036854775805]
    influx1.write(db, [f"m v={k}i {t}" for k, t in enumerate(times)])
    summary, text = run_export(influx1, db, tmp_path, range_start="1677-09-21T00:12:43.145224194Z",
                               range_end="2262-04-11T23:47:16.854775806Z")
    assert text == (
        "time,v\n"
        "1677-09-21T00:12:43.145224195Z,0\n"
        "1969-12-31T23:59:59.999999999Z,1\n"
        "1970-01-01T00:00:00.000000000Z,2\n"
        "1970-01-01T00:00:00.000000001Z,3\n"
        "2000-02-29T00:00:00.999999999Z,6\n"
        "2024-01-01T00:00:10.000000000Z,5\n"
        "2024-01-01T00:00:30.000000789Z,4\n"
        "2262-04-11T23:47:16.854775805Z,7\n"
    )
    assert summary.first_time == "1677-09-21T00:12:43.145224195Z"
    assert summary.last_time == "2262-04-11T23:47:16.854775805Z"


def test_range_cuts_between_points_start_included_end_excluded(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "cut")
    times = [T + S - 1, T + S, T + S + 1, T + 2 * S, T + 3 * S - 1, T + 3 * S, T + 3 * S + 1]
    influx1.write(db, [f"m v={k}i {t}" for k, t in enumerate(times)])
    summary, text = run_export(influx1, db, tmp_path, range_start="2024-01-01T00:00:01Z",
                               range_end="2024-01-01T00:00:03.000000000Z")
    assert text == (
        "time,v\n"
        "2024-01-01T00:00:01.000000000Z,1\n"
        "2024-01-01T00:00:01.000000001Z,2\n"
        "2024-01-01T00:00:02.000000000Z,3\n"
        "2024-01-01T00:00:02.999999999Z,4\n"
    )
    assert summary.rows == 4
    # nanosecond bounds, with an offset: 00:00:01.000000001Z is 01:00:01.000000001+01:00
    _, text = run_export(influx1, db, tmp_path, range_start="2024-01-01T01:00:01.000000001+01:00",
                         range_end="2024-01-01T00:00:02.999999999Z")
    assert text == ("time,v\n"
                    "2024-01-01T00:00:01.000000001Z,2\n"
                    "2024-01-01T00:00:02.000000000Z,3\n")


def test_tag_values_with_special_characters(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "tagvals")
    values = ["a,b", 'q"uote', "sp ace", "eq=ual", "ünï€😀", "x' OR '1'='1", " lead", "back\\slash", "tab\tx"]
    influx1.write(db, [f"m,t={lp_key(v)} n={k}i {T + k}" for k, v in enumerate(values)])
    _, text = run_export(influx1, db, tmp_path)
    assert text == (
        "time,t,n\n"
        '2024-01-01T00:00:00.000000000Z,"a,b",0\n'
        '2024-01-01T00:00:00.000000001Z,"q""uote",1\n'
        "2024-01-01T00:00:00.000000002Z,sp ace,2\n"
        "2024-01-01T00:00:00.000000003Z,eq=ual,3\n"
        "2024-01-01T00:00:00.000000004Z,ünï€😀,4\n"
        "2024-01-01T00:00:00.000000005Z,x' OR '1'='1,5\n"
        "2024-01-01T00:00:00.000000006Z, lead,6\n"
        "2024-01-01T00:00:00.000000007Z,back\\slash,7\n"
        "2024-01-01T00:00:00.000000008Z,tab\tx,8\n"
    )


# ---------------------------------------------------------------- hostile identifiers

HOSTILE_MEASUREMENTS = ['m" OR 1=1 --', 'we"ird\\na,me ü=x', "it's; DROP DATABASE x", "a\\b", "/.*/"]


@pytest.mark.parametrize("measurement", HOSTILE_MEASUREMENTS)
def test_hostile_identifiers_export_only_themselves(influx1: Influx1Server, tmp_path: Path, measurement: str) -> None:
    db = new_db(influx1, "hostile")
    tags = ",".join(f"{lp_key(key)}={value}" for key, value in [("t k,=", "v1"), ('q"k', "v2"), ("it's", "v3")])
    fields = ",".join(f"{lp_key(key)}={value}" for key, value in [
        ('"f x,="', "1.5"), ("a\\b", "2i"), ("o'k", "true"), ("ü€😀", '"s"')])
    influx1.write(db, [
        f"{lp_name(measurement)},{tags} {fields} {T}",
        # decoys: same database, same times, other measurements (one starts with the name)
        f"m,leak=yes secret=666i {T}",
        f"m,leak=yes secret=667i {T + 1}",
        f"victim,leak=yes secret=1i {T}",
        f"{lp_name(measurement + ' 2')},leak=yes secret=2i {T}",
    ])
    # the hostile measurement really is stored under its exact name
    shown = influx1.query("SHOW MEASUREMENTS", db=db)["results"][0]["series"][0]["values"]
    assert [measurement] in shown
    summary, text = run_export(influx1, db, tmp_path, measurement=measurement)
    assert text == (
        'time,it\'s,"q""k","t k,=","""f x,=""",a\\b,o\'k,ü€😀\n'
        "2024-01-01T00:00:00.000000000Z,v3,v2,v1,1.5,2,true,s\n"
    )
    assert summary.rows == 1
    assert "secret" not in text and "leak" not in text and "666" not in text


def test_field_named_like_internal_time_column(influx1: Influx1Server, tmp_path: Path) -> None:
    """A 1.x field called `_time` is an ordinary field: it must not clash with the time column."""
    db = new_db(influx1, "ftime")
    influx1.write(db, f"m _time=1.5,v=2i {T}")
    _, text = run_export(influx1, db, tmp_path)
    assert text == "time,_time,v\n2024-01-01T00:00:00.000000000Z,1.5,2\n"


def test_tags_and_fields_named_like_the_servers_csv_columns(influx1: Influx1Server, tmp_path: Path) -> None:
    """1.x CSV starts with name,tags,time: a tag `name`/`tags` or a field `name` is still data."""
    db = new_db(influx1, "csvcols")
    influx1.write(db, [f"m,name=n1,tags=t1 value=1i,names=2i {T}", f"m,tags=t2 value=3i {T + 1}"])
    _, text = run_export(influx1, db, tmp_path)
    assert text == ("time,name,tags,names,value\n"
                    "2024-01-01T00:00:00.000000000Z,n1,t1,2,1\n"
                    "2024-01-01T00:00:00.000000001Z,,t2,,3\n")


def test_tag_and_field_with_one_name_is_an_error_unless_fields_excludes_it(
        influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "clash")
    influx1.write(db, f"m,x=tag x=1.5,y=1i {T}")
    with pytest.raises(DataError, match="'x' is both a tag and a field"):
        export(**params(influx1, db, tmp_path))
    assert files_in(tmp_path) == []
    _, text = run_export(influx1, db, tmp_path, fields="y")
    assert text == "time,x,y\n2024-01-01T00:00:00.000000000Z,tag,1\n"


def test_time_col_equal_to_a_tag_is_a_parameter_error(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "tcol")
    influx1.write(db, f"m,unit=u1 v=1i {T}")
    with pytest.raises(ParameterError, match="'unit' appears twice"):
        export(**params(influx1, db, tmp_path, time_col="unit"))
    assert files_in(tmp_path) == []


# ---------------------------------------------------------------- no data, missing things

def test_empty_range_is_a_data_error_and_writes_nothing(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "empty")
    influx1.write(db, f"m v=1i {T}")
    out = tmp_path / "out"
    with pytest.raises(DataError) as caught:
        export(**params(influx1, db, out, range_start="2023-01-01", range_end="2023-06-01"))
    message = str(caught.value)
    assert message.startswith("no data")
    assert "'m'" in message and repr(db) in message
    assert "2023-01-01 (2023-01-01T00:00:00.000000000Z)" in message
    assert "2023-06-01 (2023-06-01T00:00:00.000000000Z)" in message
    assert "\n" not in message
    assert caught.value.exit_code == 1
    assert files_in(out) == []


def test_unknown_measurement_is_no_data(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "nomeas")
    influx1.write(db, f"m v=1i {T}")
    with pytest.raises(DataError, match=r"^no data: measurement 'nope' in bucket "):
        export(**params(influx1, db, tmp_path, measurement="nope"))
    assert files_in(tmp_path) == []


def test_unknown_database_is_refused_with_the_servers_words(influx1: Influx1Server, tmp_path: Path) -> None:
    name = f"nope_{uuid.uuid4().hex[:8]}"
    with pytest.raises(ServerRefused) as caught:
        export(**params(influx1, name, tmp_path))
    message = str(caught.value)
    assert f"database not found: {name}" in message
    assert "bucket" in message
    assert caught.value.exit_code == 1
    assert files_in(tmp_path) == []


def test_unknown_retention_policy_is_refused(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "norp")
    influx1.write(db, f"m v=1i {T}")
    with pytest.raises(ServerRefused) as caught:
        export(**params(influx1, f"{db}/nope", tmp_path))
    assert "retention policy not found: nope" in str(caught.value)
    assert "bucket" in str(caught.value)
    assert files_in(tmp_path) == []


def test_bucket_database_slash_retention_policy(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "rp")
    influx1.query(f'CREATE RETENTION POLICY "two weeks" ON "{db}" DURATION INF REPLICATION 1 SHARD DURATION 1d',
                  db=db)
    influx1.write(db, [f"m,host=auto v=1.5 {T}", f"m,host=auto v=2.5 {T + S}"])
    influx1.write(db, [f"m,host=rp v=10.0 {T + 2}", f"m,host=rp v=11.25 {T + S}"], rp="two weeks")
    _, text = run_export(influx1, f"{db}/two weeks", tmp_path)
    assert text == ("time,host,v\n"
                    "2024-01-01T00:00:00.000000002Z,rp,10.0\n"
                    "2024-01-01T00:00:01.000000000Z,rp,11.25\n")
    _, text = run_export(influx1, db, tmp_path)  # the default retention policy (autogen)
    assert text == ("time,host,v\n"
                    "2024-01-01T00:00:00.000000000Z,auto,1.5\n"
                    "2024-01-01T00:00:01.000000000Z,auto,2.5\n")
    _, text = run_export(influx1, f"{db}/autogen", tmp_path)
    assert text == ("time,host,v\n"
                    "2024-01-01T00:00:00.000000000Z,auto,1.5\n"
                    "2024-01-01T00:00:01.000000000Z,auto,2.5\n")


# ---------------------------------------------------------------- auth, api=auto

def _auth_db(server: Influx1Server) -> str:
    db = new_db(server, "auth")
    server.write(db, [f"m,unit=u1 v=1.5 {T}", f"m,unit=u2 v=2.0 {T}"])
    return db


def test_auth_user_password_works(influx1_auth: Influx1Server, tmp_path: Path) -> None:
    db = _auth_db(influx1_auth)
    token = f"{influx1_auth.username}:{influx1_auth.password}"
    _, text = run_export(influx1_auth, db, tmp_path, token=token)
    assert text == ("time,unit,v\n"
                    "2024-01-01T00:00:00.000000000Z,u1,1.5\n"
                    "2024-01-01T00:00:00.000000000Z,u2,2.0\n")


@pytest.mark.parametrize("token, server_says", [
    ("admin:pw-SEKRET-9", "authorization failed"),
    ("nobody:pw-SEKRET-9", "authorization failed"),
    ("", "unable to parse authentication credentials"),
])
def test_auth_wrong_credentials_are_refused(influx1_auth: Influx1Server, tmp_path: Path, token: str,
                                            server_says: str) -> None:
    db = _auth_db(influx1_auth)
    with pytest.raises(ServerRefused) as caught:
        export(**params(influx1_auth, db, tmp_path, token=token))
    message = str(caught.value)
    assert "(401)" in message and server_says in message and "token" in message
    assert "SEKRET" not in message and "\n" not in message
    assert caught.value.exit_code == 1
    assert files_in(tmp_path) == []


def test_api_auto_on_a_1x_server_picks_v1(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "auto")
    influx1.write(db, f"m,unit=u1 v=1.0 {T + 5}")
    summary, text = run_export(influx1, db, tmp_path, api="auto")
    assert summary.api == "v1"
    assert text == "time,unit,v\n2024-01-01T00:00:00.000000005Z,u1,1.0\n"


def test_api_auto_with_auth(influx1_auth: Influx1Server, tmp_path: Path) -> None:
    db = _auth_db(influx1_auth)
    summary, _ = run_export(influx1_auth, db, tmp_path, api="auto",
                            token=f"{influx1_auth.username}:{influx1_auth.password}")
    assert summary.api == "v1"


# ---------------------------------------------------------------- fields, rename

def _fields_db(server: Influx1Server) -> str:
    db = new_db(server, "fields")
    server.write(db, [
        f"m,unit=u1 temp=1.5,load=2i,speed=3.0 {T}",
        f'm,unit=u2 temp=2.5,status="ok" {T + S}',
        f'm,unit=u3 status="only" {T + 2 * S}',
        f"m,unit=u1 load=5i {T + 3 * S}",
    ])
    return db


def test_fields_selection_only_those_columns_sorted(influx1: Influx1Server, tmp_path: Path) -> None:
    db = _fields_db(influx1)
    summary, text = run_export(influx1, db, tmp_path, fields="temp,load")
    assert summary.columns == ["time", "unit", "load", "temp"]
    # rows that have none of the selected fields are not exported
    assert text == ("time,unit,load,temp\n"
                    "2024-01-01T00:00:00.000000000Z,u1,2,1.5\n"
                    "2024-01-01T00:00:01.000000000Z,u2,,2.5\n"
                    "2024-01-01T00:00:03.000000000Z,u1,5,\n")
    _, text = run_export(influx1, db, tmp_path, fields=["status"])
    assert text == ("time,unit,status\n"
                    "2024-01-01T00:00:01.000000000Z,u2,ok\n"
                    "2024-01-01T00:00:02.000000000Z,u3,only\n")


def test_unknown_field_is_a_parameter_error_listing_the_real_fields(influx1: Influx1Server, tmp_path: Path) -> None:
    db = _fields_db(influx1)
    with pytest.raises(ParameterError) as caught:
        export(**params(influx1, db, tmp_path, fields="temp,nope"))
    message = str(caught.value)
    assert message.startswith("fields: 'nope' not in measurement 'm'")
    assert "load, speed, status, temp" in message
    assert caught.value.exit_code == 2
    assert files_in(tmp_path) == []


def test_rename_renames_the_header(influx1: Influx1Server, tmp_path: Path) -> None:
    db = _fields_db(influx1)
    summary, text = run_export(influx1, db, tmp_path, fields="temp", rename="unit:id,temp:temperature,time:ts")
    assert summary.columns == ["ts", "id", "temperature"]
    assert text == ("ts,id,temperature\n"
                    "2024-01-01T00:00:00.000000000Z,u1,1.5\n"
                    "2024-01-01T00:00:01.000000000Z,u2,2.5\n")
    with pytest.raises(ParameterError, match="rename: 'nope' is not an output column"):
        export(**params(influx1, db, tmp_path, rename="nope:x"))
    with pytest.raises(ParameterError, match="'unit' appears twice"):
        export(**params(influx1, db, tmp_path, rename="temp:unit"))


# ---------------------------------------------------------------- windows, formats, atomicity

def _multiday_db(server: Influx1Server) -> str:
    """3 days, every 15 minutes, two units on identical timestamps, extra points 1 ns either
    side of the hour edges, and the last point exactly on an hour edge."""
    db = new_db(server, "days")
    lines = []
    step = 15 * 60 * S
    for k in range(3 * 96 + 1):
        t = T + k * step
        lines.append(f"m,unit=u2 v={k}.5,c={k}i {t}")
        lines.append(f"m,unit=u1 v={k}.25,c={k}i {t}")
        if k % 4 == 0 and 0 < k < 3 * 96:
            lines.append(f"m,unit=u1 edge=true {t - 1}")
            lines.append(f'm,unit=u3 note="after, {k}" {t + 1}')
    server.write(db, lines)
    return db


def test_fixed_windows_give_the_same_bytes_as_auto(influx1: Influx1Server, tmp_path: Path) -> None:
    db = _multiday_db(influx1)
    results = {}
    for window in ("auto", "1h", "1d", "7m"):
        summary, text = run_export(influx1, db, tmp_path / window, window=window, range_end="2024-01-05")
        results[window] = (summary, text)
    auto_summary, auto_text = results["auto"]
    rows = 2 * (3 * 96 + 1) + 2 * (3 * 24 - 1)
    assert auto_summary.rows == rows
    assert auto_text.count("\n") == rows + 1
    for window in ("1h", "1d", "7m"):
        summary, text = results[window]
        assert text == auto_text, window
        assert summary.rows == rows
    # windows start at the first point: 72 h + 1 ns of data is 73 one-hour windows, 4 days
    assert results["1h"][0].windows == 73
    assert results["1d"][0].windows == 4
    lines = auto_text.splitlines()
    assert lines[0] == "time,unit,c,edge,note,v"
    assert lines[1:6] == [
        "2024-01-01T00:00:00.000000000Z,u1,0,,,0.25",
        "2024-01-01T00:00:00.000000000Z,u2,0,,,0.5",
        "2024-01-01T00:15:00.000000000Z,u1,1,,,1.25",
        "2024-01-01T00:15:00.000000000Z,u2,1,,,1.5",
        "2024-01-01T00:30:00.000000000Z,u1,2,,,2.25",
    ]
    assert lines[7:14] == [
        "2024-01-01T00:45:00.000000000Z,u1,3,,,3.25",
        "2024-01-01T00:45:00.000000000Z,u2,3,,,3.5",
        "2024-01-01T00:59:59.999999999Z,u1,,true,,",
        "2024-01-01T01:00:00.000000000Z,u1,4,,,4.25",
        "2024-01-01T01:00:00.000000000Z,u2,4,,,4.5",
        '2024-01-01T01:00:00.000000001Z,u3,,,"after, 4",',
        "2024-01-01T01:15:00.000000000Z,u1,5,,,5.25",
    ]
    assert lines[-2:] == ["2024-01-04T00:00:00.000000000Z,u1,288,,,288.25",
                          "2024-01-04T00:00:00.000000000Z,u2,288,,,288.5"]


def test_csv_gz_decompresses_to_the_csv_bytes(influx1: Influx1Server, tmp_path: Path) -> None:
    db = _fields_db(influx1)
    run_export(influx1, db, tmp_path, file_name="out.csv")
    summary = export(**params(influx1, db, tmp_path, file_name="out.csv.gz"))
    plain = (tmp_path / "out.csv").read_bytes()
    packed = (tmp_path / "out.csv.gz").read_bytes()
    assert packed[:2] == b"\x1f\x8b"
    assert gzip.decompress(packed) == plain
    assert summary.bytes == len(packed)
    assert summary.rows == 4
    assert files_in(tmp_path) == ["out.csv", "out.csv.gz", "out.csv.gz.profile.json", "out.csv.gz.summary.json",
                                  "out.csv.profile.json", "out.csv.summary.json"]


def test_local_dir_is_created(influx1: Influx1Server, tmp_path: Path) -> None:
    db = _fields_db(influx1)
    out = tmp_path / "a" / "b c" / "ü"
    summary, _ = run_export(influx1, db, out, file_name="x.csv")
    assert files_in(out) == ["x.csv", "x.csv.profile.json", "x.csv.summary.json"]


class _DropDatabaseAfterPlan:
    """The real 1.x source; the database disappears between planning and the first window."""

    def __init__(self, settings, server: Influx1Server, db: str) -> None:
        self.inner = InfluxQLSource(settings)
        self.api = self.inner.api
        self.server, self.db = server, db
        self.fetched = 0

    def plan(self):
        plan = self.inner.plan()
        self.server.query(f'DROP DATABASE "{self.db}"')
        return plan

    def fetch(self, window):
        self.fetched += 1
        return self.inner.fetch(window)

    def describe(self, plan_only=False):
        return self.inner.describe(plan_only)

    def close(self):
        self.inner.close()


def test_failing_runs_leave_an_older_file_byte_identical(influx1: Influx1Server, tmp_path: Path) -> None:
    db = _fields_db(influx1)
    target = tmp_path / "influxdb.csv"
    old = b"old,file\r\nkeep,me\n"
    target.write_bytes(old)

    # fails before any file is opened: empty range
    with pytest.raises(DataError):
        export(**params(influx1, db, tmp_path, range_start="2023-01-01", range_end="2023-01-02"))
    assert target.read_bytes() == old
    # fails at the server: unknown database
    with pytest.raises(ServerRefused):
        export(**params(influx1, db + "_missing", tmp_path))
    assert target.read_bytes() == old
    # fails after the temp file was opened and the header written: the database is dropped
    settings = build_settings(params(influx1, db, tmp_path, **NO_RETRY))
    source = _DropDatabaseAfterPlan(settings, influx1, db)
    with pytest.raises(ServerUnavailable, match="ended before the query finished"):
        run(settings, source=source)
    assert source.fetched >= 1
    assert target.read_bytes() == old
    assert files_in(tmp_path) == ["influxdb.csv"]  # no .influxdb.csv.partial-* left behind


def test_failing_run_without_an_older_file_leaves_nothing(influx1: Influx1Server, tmp_path: Path) -> None:
    db = _fields_db(influx1)
    settings = build_settings(params(influx1, db, tmp_path, file_name="x.csv.gz", **NO_RETRY))
    with pytest.raises(ServerUnavailable):
        run(settings, source=_DropDatabaseAfterPlan(settings, influx1, db))
    assert files_in(tmp_path) == []


# ---------------------------------------------------------------- readers

def test_pandas_reads_types_and_nanosecond_times(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "pandas")
    lines = []
    for k in range(6):
        t = T + k * 10 * S + 789 * k
        lines.append(f'm,unit=u{k % 2} temp={20 + k}.0,cycle={k}i,ok={"true" if k % 3 else "false"},'
                     f'note={lp_str(f"n, {k}")} {t}')
    influx1.write(db, lines)
    _, text = run_export(influx1, db, tmp_path, time_col="timestamp")
    frame = pd.read_csv(tmp_path / "influxdb.csv")
    assert list(frame.columns) == ["timestamp", "unit", "cycle", "note", "ok", "temp"]
    assert frame["temp"].dtype == "float64"
    assert frame["cycle"].dtype == "int64"
    assert frame["ok"].dtype == "bool"
    assert pd.api.types.is_string_dtype(frame["unit"]) and pd.api.types.is_string_dtype(frame["note"])
    times = pd.to_datetime(frame["timestamp"])
    assert str(times.dtype) == "datetime64[ns, UTC]"
    assert times.astype("int64").tolist() == [T + k * 10 * S + 789 * k for k in range(6)]
    assert frame["temp"].tolist() == [20.0, 21.0, 22.0, 23.0, 24.0, 25.0]
    assert frame["note"].tolist() == [f"n, {k}" for k in range(6)]
    assert frame["ok"].tolist() == [False, True, True, False, True, True]


# ---------------------------------------------------------------- volume, odd names, permissions

def _iso(ns: int) -> str:
    import datetime as dt

    seconds, fraction = divmod(ns, S)
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def test_many_rows_across_growing_windows_and_server_chunks(influx1: Influx1Server, tmp_path: Path) -> None:
    """120,000 rows over 10 minutes: the first window is a minute, the next ones grow from the
    density seen, and a window holds more rows than the server's 50,000-row chunks."""
    db = new_db(influx1, "volume")
    count, step = 60_000, 10_000_007  # ~10 ms apart, with nanosecond digits
    times = [T + k * step for k in range(count)]
    influx1.write(db, ("\n".join(f"m,unit=u{u} v={k}i" + (f",s=\"a,{k}\"" if k % 1000 == 0 else "") + f" {t}"
                                 for k, t in enumerate(times) for u in (2, 1))))
    summary, text = run_export(influx1, db, tmp_path)
    expected = ["time,unit,s,v"]
    for k, t in enumerate(times):
        s = f'"a,{k}"' if k % 1000 == 0 else ""
        expected += [f"{_iso(t)},u1,{s},{k}", f"{_iso(t)},u2,{s},{k}"]
    assert summary.rows == 2 * count
    assert summary.windows >= 2
    assert text == "\n".join(expected) + "\n"


def test_long_string_value_with_quotes_and_line_breaks(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "long")
    value = ('x"y,\n\n' * 150_000) + "name,tags,fieldKey,fieldType\n"  # ~1 MB
    influx1.write(db, [f"m s={lp_str(value)} {T}", f"m s=\"after\" {T + 1}"])
    _, text = run_export(influx1, db, tmp_path)
    assert text == ("time,s\n"
                    f'2024-01-01T00:00:00.000000000Z,"{value.replace(chr(34), chr(34) * 2)}"\n'
                    "2024-01-01T00:00:00.000000001Z,after\n")


def test_hostile_database_name_and_header_names(influx1: Influx1Server, tmp_path: Path) -> None:
    db = f'we"ird db,ü \'{uuid.uuid4().hex[:6]}'
    influx1.create_database(db)
    influx1.write(db, f"m,unit=u1 v=1.5 {T}")
    summary, text = run_export(influx1, db, tmp_path, time_col='time "utc", ns', rename="unit:id\nx,v:a\"b")
    assert summary.columns == ['time "utc", ns', "id\nx", 'a"b']
    assert text == '"time ""utc"", ns","id\nx","a""b"\n2024-01-01T00:00:00.000000000Z,u1,1.5\n'


def test_user_without_read_permission_is_refused(influx1_auth: Influx1Server, tmp_path: Path) -> None:
    db = _auth_db(influx1_auth)
    other = new_db(influx1_auth, "other")
    user = f"reader_{uuid.uuid4().hex[:6]}"
    influx1_auth.query(f"CREATE USER \"{user}\" WITH PASSWORD 'pw-SEKRET-7'")
    influx1_auth.query(f'GRANT READ ON "{other}" TO "{user}"')
    with pytest.raises(ServerRefused) as caught:
        export(**params(influx1_auth, db, tmp_path, token=f"{user}:pw-SEKRET-7"))
    message = str(caught.value)
    assert "(403)" in message and "not authorized" in message and "token" in message
    assert "SEKRET" not in message
    assert files_in(tmp_path) == []
