"""mode=append on a real InfluxDB 1.x: nightly runs add exactly what is new."""
from __future__ import annotations

import gzip
import itertools

import pytest

from connector import DataError, export

_names = itertools.count()
T0 = 1704067200000000000
S = 10**9


@pytest.fixture
def db(influx1):
    name = f"append_{next(_names)}"
    influx1.create_database(name)
    return name


def run(influx1, db, tmp_path, **changes):
    params = dict(url=influx1.url, token="", org="-", api="v1", bucket=db, measurement="m", time_col="time",
                  range_start="2024-01-01", range_end="2024-01-02", local_dir=str(tmp_path), mode="append")
    params.update(changes)
    return export(**params)


def test_append_adds_exactly_the_new_rows_even_when_series_share_the_last_timestamp(influx1, db, tmp_path):
    # u1 and u2 share the last timestamp of the first run; u3 reports at that instant only later.
    influx1.write(db, [f"m,unit=u1 v={i}i {T0 + i * S}" for i in range(3)] + [f"m,unit=u2 v=10i {T0 + 2 * S}"])
    first = run(influx1, db, tmp_path)
    assert first.rows == 4
    influx1.write(db, [f"m,unit=u3 v=30i {T0 + 2 * S}", f"m,unit=u1 v=3i {T0 + 3 * S}",
                       f"m,unit=u2 v=11i {T0 + 3 * S}"])
    second = run(influx1, db, tmp_path)
    assert second.rows == 3
    whole = run(influx1, db, tmp_path / "whole", mode="overwrite")
    assert (tmp_path / "influxdb.csv").read_bytes() == (tmp_path / "whole" / "influxdb.csv").read_bytes()
    assert whole.rows == 7


def test_rerunning_with_no_new_data_changes_nothing(influx1, db, tmp_path):
    influx1.write(db, [f"m v={i}i {T0 + i * S}" for i in range(3)])
    run(influx1, db, tmp_path)
    before = (tmp_path / "influxdb.csv").stat()
    again = run(influx1, db, tmp_path)
    after = (tmp_path / "influxdb.csv").stat()
    assert again.rows == 0
    assert (before.st_mtime_ns, before.st_ino, before.st_size) == (after.st_mtime_ns, after.st_ino, after.st_size)


def test_append_to_a_missing_file_is_a_plain_export(influx1, db, tmp_path):
    influx1.write(db, [f"m v={i}i {T0 + i * S}" for i in range(3)])
    assert run(influx1, db, tmp_path).rows == 3
    assert (tmp_path / "influxdb.csv").read_text().splitlines()[0] == "time,v"


def test_a_file_with_other_columns_is_an_error_not_a_corruption(influx1, db, tmp_path):
    influx1.write(db, [f"m v={i}i {T0 + i * S}" for i in range(3)])
    (tmp_path / "influxdb.csv").write_text("time,w\n2024-01-01T00:00:00.000000000Z,1\n")
    with pytest.raises(DataError) as caught:
        run(influx1, db, tmp_path)
    assert str(caught.value) == ("mode append: influxdb.csv has the columns time, w but this export has "
                                 "time, v; use mode overwrite or another file_name")
    assert (tmp_path / "influxdb.csv").read_text() == "time,w\n2024-01-01T00:00:00.000000000Z,1\n"


def test_append_to_csv_gz_adds_a_gzip_member(influx1, db, tmp_path):
    influx1.write(db, [f"m v={i}i {T0 + i * S}" for i in range(3)])
    run(influx1, db, tmp_path, file_name="x.csv.gz", range_end="2024-01-01T00:00:02Z")
    run(influx1, db, tmp_path, file_name="x.csv.gz")
    assert gzip.decompress((tmp_path / "x.csv.gz").read_bytes()).decode() == (
        "time,v\n2024-01-01T00:00:00.000000000Z,0\n2024-01-01T00:00:01.000000000Z,1\n"
        "2024-01-01T00:00:02.000000000Z,2\n")


def test_append_with_epoch_times_and_a_time_zone(influx1, db, tmp_path):
    influx1.write(db, [f"m v={i}i {T0 + i * S + 5}" for i in range(4)])
    run(influx1, db, tmp_path / "e", time_format="epoch_ns", range_end="2024-01-01T00:00:02Z")
    run(influx1, db, tmp_path / "e", time_format="epoch_ns")
    assert (tmp_path / "e" / "influxdb.csv").read_text().splitlines()[1:] == [
        f"{T0 + i * S + 5},{i}" for i in range(4)]
    run(influx1, db, tmp_path / "z", timezone="Europe/Berlin", range_end="2024-01-01T00:00:02Z")
    run(influx1, db, tmp_path / "z", timezone="Europe/Berlin")
    assert (tmp_path / "z" / "influxdb.csv").read_text().splitlines()[-1] == "2024-01-01T01:00:03.000000005+01:00,3"
