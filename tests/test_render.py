"""Typed columns -> CSV text, checked value by value against Python and pandas."""
import random
import struct

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from connector import render


@pytest.mark.usefixtures("byte_path")
def test_iso_time_is_nine_digits_utc_for_every_instant():
    ns = np.array([0, -1, 1_704_067_230_000_000_789, -2_208_988_799_500_000_000, 951_782_400 * 10**9,
                   9_223_372_036_854_775_806, -9_223_372_036_854_775_806], dtype=np.int64)
    assert render.iso_time(ns).to_pylist() == [
        "1970-01-01T00:00:00.000000000Z", "1969-12-31T23:59:59.999999999Z",
        "2024-01-01T00:00:30.000000789Z", "1900-01-01T00:00:00.500000000Z",
        "2000-02-29T00:00:00.000000000Z", "2262-04-11T23:47:16.854775806Z",
        "1677-09-21T00:12:43.145224194Z"]


@pytest.mark.usefixtures("byte_path")
def test_iso_time_agrees_with_pandas_on_random_instants():
    rng = np.random.default_rng(3)
    ns = rng.integers(-9_000_000_000_000_000_000, 9_000_000_000_000_000_000, size=20_000, dtype=np.int64)
    expected = pd.to_datetime(ns, utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ours = render.iso_time(ns).to_pylist()
    assert [o[:26] + "Z" for o in ours] == list(expected)  # pandas stops at microseconds
    assert [int(o[20:29]) for o in ours] == list(ns % 10**9)
    assert (pd.to_datetime(pd.Series(ours)).astype("int64").to_numpy() == ns).all()


@pytest.mark.usefixtures("byte_path")
def test_iso_time_with_a_fixed_offset():
    assert render.iso_time(np.array([0, 0]), np.array([5 * 3600 + 1800, -3600])).to_pylist() == [
        "1970-01-01T05:30:00.000000000+05:30", "1969-12-31T23:00:00.000000000-01:00"]


@pytest.mark.usefixtures("byte_path")
def test_iso_time_of_repeated_instants_and_whole_seconds():
    """Rows sorted by (time, tags) repeat an instant once per series, and sensors sample on
    whole seconds: both have short cuts in the kernel, each row still its own text."""
    t = 1_704_067_230 * 10**9
    ns = np.array([t, t, t, t + 10**9, t + 10**9, t + 10**9 + 5, t + 10**9 + 5, -10**9, -10**9, t,
                   t, t + 3600 * 10**9], dtype=np.int64)
    expected = [pd.Timestamp(v, tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.") + f"{v % 10**9:09d}Z" for v in ns.tolist()]
    assert render.iso_time(ns).to_pylist() == expected
    # local time; the last two are other instants with one local text, each with its own suffix
    offsets = np.array([0, 3600, 3600, 0, 0, 0, -1800, -1800, 0, 0, 3600, 0])
    local = [text[:29] for text in render.iso_time(ns + offsets * 10**9).to_pylist()]
    suffixes = ["+00:00", "+01:00", "+01:00", "+00:00", "+00:00", "+00:00", "-00:30", "-00:30", "+00:00", "+00:00",
                "+01:00", "+00:00"]
    assert render.iso_time(ns, offsets).to_pylist() == [a + b for a, b in zip(local, suffixes)]
    assert local[1] == local[10] == local[11] == "2024-01-01T01:00:30.000000000"
    assert local[6] == "2023-12-31T23:30:31.000000005"


@pytest.mark.usefixtures("byte_path")
def test_named_zones_follow_daylight_saving_and_keep_one_width():
    winter, summer = 1_704_067_200_000_000_000, 1_719_792_000_000_000_001  # 2024-01-01, 2024-07-01
    text = render.time_text(np.array([winter, summer]), "iso", "Europe/Berlin").to_pylist()
    assert text == ["2024-01-01T01:00:00.000000000+01:00", "2024-07-01T02:00:00.000000001+02:00"]
    assert render.time_text(np.array([winter]), "iso", "+00:00").to_pylist() == [
        "2024-01-01T00:00:00.000000000+00:00"]
    with pytest.raises(ValueError, match="is not a time zone"):
        render.zone_offsets("Mars/Olympus", [0])


def test_epoch_formats_round_down():
    ns = np.array([1_704_067_230_999_999_999, -1])
    assert render.time_text(ns, "epoch_ns").to_pylist() == ["1704067230999999999", "-1"]
    assert render.time_text(ns, "epoch_ms").to_pylist() == ["1704067230999", "-1"]
    assert render.time_text(ns, "epoch_s").to_pylist() == ["1704067230", "-1"]
    assert render.time_text(ns, "omit") is None


def test_float_text_round_trips_and_keeps_whole_numbers_float():
    assert render.float_text(pa.array([1.0, -0.0, 0.1, 1e20, 2.5, None])).to_pylist() == [
        "1.0", "-0.0", "0.1", "1e+20", "2.5", None]
    rng = random.Random(9)
    values = [struct.unpack("d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(50_000)]
    values = [v for v in values if v == v and abs(v) != float("inf")] + [5e-324, 1.7976931348623157e308]
    texts = render.float_text(pa.array(values)).to_pylist()
    assert all(float(t) == v for t, v in zip(texts, values))


def test_float_text_fix_on_server_text():
    server = pa.array(["1", "0.5", "100000000000000000000", "-0", "1e-07", None])
    assert render.float_text_fix(server).to_pylist() == [
        "1.0", "0.5", "100000000000000000000.0", "-0.0", "1e-07", None]


def test_quoting_only_where_rfc_4180_needs_it():
    values = pa.array(["plain", "a,b", 'say "hi"', "l1\nl2", "cr\r", " lead", "", None, "ünï"])
    assert render.quoted_text(values).to_pylist() == [
        "plain", '"a,b"', '"say ""hi"""', '"l1\nl2"', '"cr\r"', " lead", "", None, "ünï"]


def test_rows_join_with_empty_cells_for_nulls():
    rows = render.csv_rows([pa.array(["t1", "t2"]), pa.array(["a", None]), pa.array([None, "x"])])
    assert render.rows_buffer(rows).to_pybytes() == b"t1,a,\nt2,,x\n"
    assert render.rows_buffer(rows.slice(1)).to_pybytes() == b"t2,,x\n"


def test_header_quotes_odd_names():
    assert render.csv_header(["time", "a,b", 'q"'])  == b'time,"a,b","q"""\n'


def test_value_text_for_each_type():
    assert render.value_text(pa.array([1, -9223372036854775808])).to_pylist() == ["1", "-9223372036854775808"]
    assert render.value_text(pa.array([True, False, None])).to_pylist() == ["true", "false", None]
    assert render.value_text(pa.array(["a,b"])).to_pylist() == ['"a,b"']
