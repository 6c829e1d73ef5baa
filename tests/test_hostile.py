"""Hostile names, property-tested against both servers: whatever a measurement, tag or field
is called, the export reads exactly that name, never more, and writes it back exactly."""
from __future__ import annotations

import csv
import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

from connector import DataError, export
from support.v2server import V2Server

TOKEN = "tok"
T0 = 1704067200000000000
TRICKY = ['"', "\\", "'", " ", ",", "=", "|>", ") or true", "${x}", "ü", "雪", "/*", "--", ";", "#"]
# Line protocol cannot carry every name: no newlines, no backslash before an escapable character
# or at the end, no leading '#' (a comment line), no reserved keys. Those go through the query
# tests below instead.
_UNWRITABLE = re.compile(r"[\n\r\t\x00]|\\([,= \\\"]|$)")


def writable(name: str) -> bool:
    return bool(name.strip()) and not _UNWRITABLE.search(name) and not name.startswith(("#", "_")) \
        and name not in ("time",) and name == name.strip()


names = st.lists(st.sampled_from(TRICKY) | st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=3),
                 min_size=1, max_size=4).map("".join).filter(writable)


def lp_measurement(name: str) -> str:
    return name.replace(",", "\\,").replace(" ", "\\ ")


def lp_key(name: str) -> str:
    return name.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def csv_line(*cells: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


@pytest.fixture(scope="module")
def servers(influx1):
    with V2Server(token=TOKEN, org="org", buckets=()) as v2:
        with InfluxDBClient(url=v2.url, token=TOKEN, org="org") as client:
            writer = client.write_api(write_options=SYNCHRONOUS)
            made: set[str] = set()

            def write(db: str, lines: str) -> None:
                """Into database/bucket `db` of both servers, with a decoy measurement beside it."""
                if db not in made:
                    influx1.create_database(db)
                    v2.create_bucket(db)
                    made.add(db)
                    lines = f"decoy,unit=u v=-1i {T0}\n" + lines
                influx1.write(db, lines)
                writer.write(bucket=db, record=lines, write_precision="ns")

            write("hostile", "")
            yield influx1, v2, write


_examples = iter(range(10**6))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(measurement=names, tag=names, value=names, field=names)
def test_any_writable_name_round_trips_and_reads_only_itself(servers, tmp_path_factory, measurement, tag,
                                                             value, field):
    if tag == field or measurement == "decoy":
        return
    v1, v2, write = servers
    db = f"h{next(_examples)}"
    write(db, f"{lp_measurement(measurement)},{lp_key(tag)}={lp_key(value)} {lp_key(field)}=7i {T0 + 1}\n")
    expected = csv_line("time", tag, field) + csv_line("2024-01-01T00:00:00.000000001Z", value, "7")
    for api, url, token in (("v1", v1.url, ""), ("v2", v2.url, TOKEN)):
        folder = tmp_path_factory.mktemp(api)
        selectable = "," not in field  # fields= is a comma-separated list
        filterable = "," not in tag + value and "=" not in tag  # tag_filter= is key=value,...
        export(url=url, token=token, org="org", api=api, bucket=db, measurement=measurement,
               time_col="time", range_start="2024-01-01", range_end="2024-01-02", local_dir=str(folder),
               fields=field if selectable else "None", tag_filter=f"{tag}={value}" if filterable else "None")
        assert (folder / "influxdb.csv").read_text(encoding="utf-8") == expected, api


@pytest.mark.parametrize("measurement", [
    'decoy" OR 1=1 --', "decoy\n", 'x")|>yield()//', "decoy' OR 'a'='a", "/.*/", 'decoy\\', "line1\nline2",
    "${decoy}", '") or true //',
])
def test_names_that_try_to_widen_the_query_find_nothing(servers, tmp_path, measurement):
    v1, v2, _ = servers
    for api, url, token in (("v1", v1.url, ""), ("v2", v2.url, TOKEN)):
        with pytest.raises(DataError, match="^no data: measurement "):
            export(url=url, token=token, org="org", api=api, bucket="hostile", measurement=measurement,
                   time_col="time", range_start="2024-01-01", range_end="2024-01-02", local_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []
