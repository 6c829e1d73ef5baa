"""The C kernels read numbers and times exactly as Arrow (and Python) do, or decline.

A kernel that declines (None) hands the cells to the general path, so a wrong answer is
the only failure that matters: every accepted text must give the same double or the same
nanosecond as the reference, bit for bit.
"""
from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connector_log
from connector import native
from connector.sources.base import TIME_TYPE


@pytest.fixture(scope="module")
def kernels():
    found = native.kernels()
    if found is None:
        pytest.fail("the C kernels did not build (is a C compiler installed?)")
    return found


def one_column(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows 'x,<text>' as the kernels address them: (data, commas, starts, ends)."""
    encoded = [b"x," + t.encode() for t in texts]
    data = np.frombuffer(b"\n".join(encoded) + b"\n", dtype=np.uint8)
    starts = np.cumsum([0] + [len(e) + 1 for e in encoded[:-1]]).astype(np.int64)
    ends = starts + np.array([len(e) for e in encoded], dtype=np.int64)
    commas = (starts + 1).reshape(1, -1).copy()
    return data, commas, starts, ends


def read_float(kernels, text: str) -> float | None:
    found = kernels.floats(*one_column([text]), 1)
    return None if found is None else float(found[0][0])


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


FLOAT_FORMS = [repr, lambda x: f"{x:.6f}", lambda x: f"{x:.17g}", lambda x: f"{x:e}", lambda x: f"{x:.3E}",
               lambda x: f"{x:.0f}", lambda x: f"{x:.25f}"]


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(FLOAT_FORMS))
def test_every_decimal_text_reads_as_the_correctly_rounded_double(kernels, value, form):
    text = form(value)
    found = read_float(kernels, text)
    if found is None:  # declined: only texts too long to copy for strtod
        assert len(text) >= 512, text
    else:
        assert bits(found) == bits(float(text)), text


@pytest.mark.parametrize("text", ["0", "-0", "12", "-7", "60.28", "0.000001", "1e+20", "1E-5", "9007199254740993",
                                  "123456789012345678901234567890", "0.1000000000000000055511151231257827",
                                  "2.2250738585072011e-308", "1.7976931348623157e308", "4.9e-324", "1e-400",
                                  "00012.5000", "18446744073709551616"])
def test_hard_decimals_agree_with_python(kernels, text):
    assert bits(read_float(kernels, text)) == bits(float(text))


@pytest.mark.parametrize("text", ["1e", ".5", "1.", "+1", "--1", "nan", "NaN", "inf", "-Infinity", "0x10", " 1",
                                  "1 ", "1,5", "1e+", "e5", "-", "1.2.3", ""])
def test_anything_else_is_declined(kernels, text):
    # Declined: Arrow reads the column instead, and says what is wrong with it.
    assert read_float(kernels, text) is None or text == ""


SHORT_TEXTS = st.from_regex(r"\A-?[0-9]{1,8}(\.[0-9]{1,7})?\Z").filter(lambda t: len(t.lstrip("-")) <= 9)


@settings(max_examples=1500, deadline=None)
@given(st.lists(SHORT_TEXTS, min_size=1, max_size=40))
def test_short_decimals_read_a_word_at_a_time_match_python(kernels, texts):
    """Sensor values (1-8 bytes, a dot inside) take the 8-byte path, the last ones near the
    end of the data (where it must not read past the buffer and falls back): every value
    is float(text), bit for bit, whatever path read it."""
    values, empty = kernels.floats(*one_column(texts), 1)
    assert empty is False
    assert [bits(v) for v in values] == [bits(float(t)) for t in texts]


@pytest.mark.parametrize("text", ["1.2.3", "12.", ".5", "-.5", "1a", "1-2", "1.-2", "\u00e9", "1\u00e9", "12345678.",
                                  "1..2", "1 2", "-", "--1"])
def test_short_texts_that_are_no_decimals_are_declined(kernels, text):
    assert read_float(kernels, text) is None
    assert kernels.floats(*one_column([text, "1.5"]), 1) is None  # not last: read a word at a time


def test_empty_cells_are_nan_and_reported(kernels):
    values, empty = kernels.floats(*one_column(["1.5", "", "2"]), 1)
    assert values[0] == 1.5 and np.isnan(values[1]) and values[2] == 2.0 and empty is True
    assert kernels.floats(*one_column(["1.5", "2"]), 1)[1] is False


def arrow_ns(texts: list[str]) -> list[int | None]:
    try:
        return pa.array(texts).cast(TIME_TYPE).cast(pa.int64()).to_pylist()
    except pa.ArrowInvalid:
        return [None] * len(texts)


@settings(max_examples=500, deadline=None)
@given(st.integers(-9_223_372_036_854_775_000, 9_223_372_036_854_775_000),
       st.sampled_from([9, 6, 3, 1, 0]), st.sampled_from(["Z", "+05:30", "-11:00", "+00:00"]))
def test_rfc3339_times_read_as_arrow_reads_them(kernels, ns, digits, zone):
    seconds, fraction = divmod(ns, 10**9)
    text = np.datetime_as_string(np.datetime64(seconds, "s"), unit="s")
    if digits:
        text += "." + f"{fraction:09d}"[:digits]
    text += zone
    found = kernels.times(*one_column([text]), 1, True)
    expected = arrow_ns([text])[0]
    if found is not None:  # declined near the ends of int64: Arrow decides there
        assert int(found[0]) == expected, text


@pytest.mark.parametrize("text", ["2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2024-01-01 00:00:00Z",
                                  "2024-01-01T00:00:00", "2024-01-01T24:00:00Z", "2024-01-01T00:00:60Z",
                                  "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.1234567891Z", "2024-1-01T00:00:00Z",
                                  "2024-01-01T00:00:00+0530", "2024-01-01T00:00:00z", ""])
def test_other_time_texts_are_declined(kernels, text):
    assert kernels.times(*one_column([text]), 1, True) is None


@pytest.mark.parametrize("text, value", [("0", 0), ("-1", -1), ("1704067200000000000", 1704067200000000000),
                                         ("9223372036854775807", 2**63 - 1), ("-9223372036854775807", -(2**63 - 1)),
                                         ("000042", 42)])
def test_integer_times(kernels, text, value):
    assert kernels.times(*one_column([text]), 1, False).tolist() == [value]


@pytest.mark.parametrize("text", ["9223372036854775808", "99999999999999999999", "+5", "-", "", "1.0", "1e9"])
def test_integer_times_beyond_int64_or_not_integers_are_declined(kernels, text):
    assert kernels.times(*one_column([text]), 1, False) is None


def test_a_machine_without_a_compiler_runs_the_numpy_path_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("INFLUXDB_CONNECTOR_CACHE", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with connector_log.records() as records:
        assert native._load() is None
    assert any("no C compiler found: using the numpy byte path" in r.getMessage() for r in records)


def test_a_compiler_that_fails_leaves_nothing_half_built(tmp_path, monkeypatch):
    monkeypatch.setenv("INFLUXDB_CONNECTOR_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "/bin/false")
    with connector_log.records() as records:
        assert native._load() is None
    assert any("the C kernels could not be built or loaded" in r.getMessage() for r in records)
    assert list(tmp_path.iterdir()) == []


def test_the_library_is_built_once_per_source_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("INFLUXDB_CONNECTOR_CACHE", str(tmp_path))
    assert native._load() is not None
    built = list(tmp_path.iterdir())
    assert len(built) == 1 and built[0].name.startswith("native-") and built[0].suffix == ".so"
    monkeypatch.setenv("CC", "/bin/false")  # a second load must not compile again
    assert native._load() is not None


def test_the_switch_turns_the_kernels_off(monkeypatch):
    monkeypatch.setenv("INFLUXDB_CONNECTOR_NATIVE", "0")
    assert native.kernels() is None


def test_several_float_cells_read_in_one_pass_match_one_at_a_time(kernels):
    rows = [b"x,1.5,,7", b"x,-2,0.25,1e+20", b"x,,3,4"]
    data = np.frombuffer(b"\n".join(rows) + b"\n", dtype=np.uint8)
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
    ends = starts + lengths
    commas = np.array([[int(s) + [i for i, b in enumerate(r) if b == 44][k] for s, r in zip(starts, rows)]
                       for k in range(3)], dtype=np.int64)
    values, empty = kernels.floats_many(data, commas, starts, ends, [1, 2, 3])
    for index, cell in enumerate([1, 2, 3]):
        one, one_empty = kernels.floats(data, commas, starts, ends, cell)
        assert np.array_equal(values[index], one, equal_nan=True) and bool(empty[index]) == one_empty
    assert empty.tolist() == [True, True, False]
    assert kernels.floats_many(data, commas, starts, ends, [0, 1]) is None  # "x" is no number


def test_prepare_builds_on_a_thread_of_its_own_while_the_export_starts(tmp_path, monkeypatch):
    import threading

    monkeypatch.setenv("INFLUXDB_CONNECTOR_CACHE", str(tmp_path))
    monkeypatch.setenv("INFLUXDB_CONNECTOR_NATIVE", "yes")  # a switch value not loaded yet in this process
    monkeypatch.setattr(native, "_loaded", {})
    native.prepare()
    builders = [t for t in threading.enumerate() if t.name == "native-build"]
    assert builders, "no build thread started"
    for thread in builders:
        thread.join(timeout=120)
    assert native._loaded["yes"] is not None
    assert [p.suffix for p in tmp_path.iterdir()] == [".so"]


def test_the_gather_refuses_a_piece_outside_its_buffer(kernels):
    data = np.frombuffer(b"abcdef", dtype=np.uint8)
    one = np.array([1], dtype=np.int64)

    def gather(start: int, length: int, size: int):
        return kernels.gather([data], np.zeros(1, np.int32), np.array([start], np.int64), np.array([length], np.int64),
                              np.zeros(1, np.int64), one, None, np.zeros(2, np.int64), np.zeros(0, np.int64),
                              np.zeros(0, np.int32), size)

    assert bytes(gather(2, 3, 3)) == b"cde"
    for start, length in ((4, 3), (-1, 2), (0, -1)):
        with pytest.raises(IndexError):
            gather(start, length, max(length, 0))


def test_arrays_c_does_not_expect_are_refused_before_the_call(kernels):
    data, commas, starts, ends = one_column(["1.5", "2"])
    with pytest.raises(TypeError):
        kernels.floats(data, commas.astype(np.int32), starts, ends, 1)
    with pytest.raises(TypeError):
        kernels.floats(data, np.asfortranarray(np.vstack([commas, commas])), starts, ends, 1)
    with pytest.raises(IndexError):
        kernels.floats(data, commas, starts, ends, 2)  # one comma a row: cells 0 and 1 only
