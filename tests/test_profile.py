"""The streaming profile: exact on a dataset whose gaps, duplicates, empty cells and labels are known."""
from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from connector import profile
from connector.errors import ParameterError
from connector.profile import Profiler
from connector.sources.base import TIME_COLUMN, TIME_TYPE, Part

S = 10**9
T0 = pd.Timestamp("2024-01-01T00:00:00Z").value
TAGS = ("site", "unit")
FIELDS = {"anomaly": "int", "count": "int", "never": "float", "ok": "bool", "serial": "string",
          "state": "string", "temp": "float"}
# Windows are half-open [edge, next edge): the gap 2990 s -> 3300 s of unit a straddles 3150 s, and
# unit a's duplicate at 4500 s sits on a window's first instant, one copy in a part of its own.
EDGES = [T0 + s * S for s in (0, 1500, 3150, 4500, 5800, 8000)]


def _series_a() -> pd.DataFrame:
    """10 s sampling; gaps 990 -> 1120 s and 2990 -> 3300 s; duplicates at 2000 s and 4500 s."""
    i = np.array([k for k in range(600) if not 100 <= k <= 111 and not 300 <= k <= 329] + [200, 450])
    return pd.DataFrame({
        "time": T0 + i * 10 * S, "site": "s1", "unit": "a",
        "temp": np.where(i % 50 == 7, np.nan, (i % 17) * 0.25),
        "count": i, "anomaly": ((i >= 500) & (i < 520)).astype(int),
        "state": np.array(["idle", "run", "stop"])[i % 3], "serial": [f"sn-a-{k}" for k in i],
        "ok": pd.array(i % 4 == 0, dtype="boolean"),
    })


def _series_b() -> pd.DataFrame:
    """1 s sampling, no `site` tag; 20 gaps of 8 s (more than the kept 16) and one of 100 s."""
    drop = {k for g in range(20) for k in range(200 + g * 300, 207 + g * 300)} | set(range(6801, 6900))
    i = np.array([k for k in range(7000) if k not in drop])
    temp = (i % 13) * 0.5 - 3
    return pd.DataFrame({
        "time": T0 + i * S, "site": None, "unit": "b",
        "temp": np.where(np.isin(i % 100, (3, 4)), np.nan, temp),
        "count": i * 3, "anomaly": ((i >= 1000) & (i < 1050)).astype(int),
        "state": np.where(i % 250 == 0, None, "run"), "serial": [f"sn-b-{k}" for k in i],
        "ok": pd.array(i % 2 == 1, dtype="boolean"),
    })


def _series_c() -> pd.DataFrame:
    """60 s sampling (some 61 s), one gap of 400 s; no `ok` values at all."""
    steps = [61 if k % 3 == 0 else 60 for k in range(99)]
    steps[50] = 400
    i = np.arange(100)
    return pd.DataFrame({
        "time": T0 + np.r_[0, np.cumsum(steps)] * S, "site": "s2", "unit": "c",
        "temp": (i % 7) * 1.5, "count": i, "anomaly": 0,
        "state": np.array(["idle", "run", "stop"])[(i + 1) % 3], "serial": [f"sn-c-{k}" for k in i],
        "ok": pd.array([None] * 100, dtype="boolean"),
    })


def _b_without_ok(b: pd.DataFrame) -> pd.Series:
    """Unit b's rows that come in a part lacking the `ok` column (window 1 after its first 500)."""
    inside = b[(b["time"] >= EDGES[1]) & (b["time"] < EDGES[2])]
    return b.index.isin(inside.index[500:])


def _frame() -> pd.DataFrame:
    b = _series_b()
    b.loc[_b_without_ok(b), "ok"] = pd.NA   # those cells are empty in the output
    return pd.concat([_series_a(), b, _series_c()], ignore_index=True)


def _text(values: pd.Series, kind: str) -> pa.Array:
    """The server's TEXT: whole floats as '1', empty cells as null or '' (both occur)."""
    out = []
    for k, v in enumerate(values.tolist()):
        if v is None or v is pd.NA or isinstance(v, float) and math.isnan(v):
            out.append("" if k % 2 else None)
        elif kind == "bool":
            out.append("true" if v else "false")
        elif kind == "float":
            out.append(str(int(v)) if float(v).is_integer() else repr(float(v)))
        else:
            out.append(str(v))
    return pa.array(out, pa.string())


def _typed(values: pd.Series, kind: str) -> pa.Array:
    arrow = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "string": pa.string()}[kind]
    return pa.array([None if v is pd.NA or v is None or isinstance(v, float) and math.isnan(v) else v
                     for v in values.tolist()], arrow)


def _part(rows: pd.DataFrame, text: bool, tags: tuple[str, ...], skip: tuple[str, ...] = ()) -> Part:
    columns = {TIME_COLUMN: pa.array(rows["time"].to_numpy(), pa.int64())}
    if not text:
        columns[TIME_COLUMN] = columns[TIME_COLUMN].cast(TIME_TYPE)
    for tag in tags:
        columns[tag] = pa.array(rows[tag].tolist(), pa.string())
    kinds = {}
    for name, kind in FIELDS.items():
        if name in skip or name == "never":
            continue
        columns[name] = (_text if text else _typed)(rows[name], kind)
        kinds[name] = kind
    return Part(tags, kinds, pa.table(columns))


def _windows() -> list[list[Part]]:
    """Per window: units a and c interleaved in one typed part (as 1.x answers), unit b as text
    in its own parts (as 2.x answers), sometimes split in two, sometimes lacking `ok`."""
    a, b, c = _series_a(), _series_b(), _series_c()
    out = []
    for w, (lo, hi) in enumerate(zip(EDGES[:-1], EDGES[1:])):
        def inside(df: pd.DataFrame) -> pd.DataFrame:
            return df[(df["time"] >= lo) & (df["time"] < hi)]
        ac = pd.concat([inside(a), inside(c)]).sort_values("time", kind="stable")
        parts = []
        if w == 3:   # the duplicate at 4500 s: one copy in a part of its own, after the other
            first = ac.index[(ac["unit"] == "a") & (ac["time"] == T0 + 4500 * S)][0]
            parts += [_part(ac.drop(index=first), False, TAGS), _part(ac.loc[[first]], False, TAGS)]
        else:
            parts.append(_part(ac, False, TAGS))
        bw = inside(b)
        if w == 1:
            assert _b_without_ok(b)[b.index.isin(bw.index[500:])].all()
            parts += [_part(bw.iloc[:500], True, ("unit",)), _part(bw.iloc[500:], True, ("unit",), skip=("ok",))]
        else:
            parts.append(_part(bw, True, ("unit",)))
        out.append(parts[::-1] if w % 2 else parts)
    return out


def _profile(**options) -> Profiler:
    frame = _frame()
    profiler = Profiler(TAGS, FIELDS, int(frame["time"].min()), int(frame["time"].max()), **options)
    for parts in _windows():
        profiler.add(parts)
    return profiler


@pytest.fixture(scope="module")
def result() -> dict:
    return _profile(label_field="anomaly").result()


def _key(row: pd.Series) -> str:
    return ",".join(f"{t}={row[t]}" for t in TAGS if row[t] is not None)


def _expected_sampling(times: np.ndarray, factor: float = 5.0) -> dict:
    d = np.diff(np.sort(times))
    positive = np.sort(d[d > 0])
    median = int(positive[(len(positive) - 1) // 2])
    big = np.flatnonzero(d > factor * median)
    ends = np.sort(times)[1:]
    gaps = sorted(((int(d[k]), int(ends[k])) for k in big), key=lambda g: (-g[0], g[1]))
    return {"duplicates": int((d == 0).sum()), "median": median, "gaps": gaps}


def test_profile_counts_rows_and_spans_per_series(result):
    frame = _frame()
    assert result["rows"] == len(frame) and result["series_count"] == 3
    assert [s["series"] for s in result["series"]] == ["unit=b", "site=s1,unit=a", "site=s2,unit=c"]
    assert result["series"][0]["tags"] == {"site": None, "unit": "b"}
    for s in result["series"]:
        rows = frame[frame["unit"] == s["tags"]["unit"]]
        assert s["rows"] == len(rows)
        assert (s["first_ns"], s["last_ns"]) == (rows["time"].min(), rows["time"].max())
        assert s["first_time"] == pd.Timestamp(rows["time"].min(), tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.000000000Z")
    assert (result["first_ns"], result["last_ns"]) == (frame["time"].min(), frame["time"].max())
    assert result["first_time"] == "2024-01-01T00:00:00.000000000Z"


def test_profile_median_interval_gaps_and_duplicates_are_exact(result):
    frame = _frame()
    for s in result["series"]:
        expected = _expected_sampling(frame.loc[frame["unit"] == s["tags"]["unit"], "time"].to_numpy())
        sampling = s["sampling"]
        assert sampling["median_interval_ns"] == expected["median"]
        assert sampling["median_interval_bounds_ns"] == [expected["median"]] * 2
        assert sampling["duplicates"] == expected["duplicates"]
        gaps = sampling["gaps"]
        assert gaps["count"] == len(expected["gaps"]) and not gaps["count_is_lower_bound"]
        assert gaps["longest_ns"] == expected["gaps"][0][0]
        shown = [(g["duration_ns"], g["end_ns"]) for g in gaps["longest"]]
        assert shown == expected["gaps"][:profile.GAPS_SHOWN]
        assert all(g["start_ns"] == g["end_ns"] - g["duration_ns"] for g in gaps["longest"])
    a, b, c = (result["series"][k]["sampling"] for k in (1, 0, 2))
    assert a["median_interval_ns"] == 10 * S and a["duplicates"] == 2
    assert [(g["start_time"], g["end_time"]) for g in a["gaps"]["longest"]] == [
        ("2024-01-01T00:49:50.000000000Z", "2024-01-01T00:55:00.000000000Z"),   # across the 3150 s edge
        ("2024-01-01T00:16:30.000000000Z", "2024-01-01T00:18:40.000000000Z")]
    assert b["median_interval_ns"] == S and b["gaps"]["count"] == 21 and b["gaps"]["longest_ns"] == 100 * S
    assert c["median_interval_ns"] == 60 * S and c["gaps"]["count"] == 1 and c["gaps"]["longest_ns"] == 400 * S
    overall = result["sampling"]
    assert overall["duplicates"] == 2 and overall["gaps"]["count"] == 24
    assert overall["gaps"]["longest"][0]["series"] == "site=s2,unit=c"
    assert overall["median_interval_ns"] == S


def _empty(values: pd.Series) -> int:
    return int(values.isna().sum())


def test_profile_empty_cells_min_max_mean_are_exact(result):
    frame = _frame()
    for scope, rows in [(result, frame)] + [(s, frame[frame["unit"] == s["tags"]["unit"]]) for s in result["series"]]:
        columns = scope["columns"]
        assert columns["never"]["empty"] == len(rows) and columns["never"]["filled"] == 0
        for name in ("temp", "count", "anomaly", "state", "ok"):
            assert columns[name]["empty"] == _empty(rows[name]), name
            assert columns[name]["empty_fraction"] == _empty(rows[name]) / len(rows)
        for name in ("temp", "count", "anomaly"):
            values = rows[name].dropna()
            assert columns[name]["min"] == values.min() and columns[name]["max"] == values.max()
            assert columns[name]["mean"] == math.fsum(values) / len(values), name   # sums of k/4: exact
    assert isinstance(result["columns"]["count"]["min"], int) and result["columns"]["count"]["kind"] == "int"


def _counts(values: pd.Series, text) -> dict:
    return dict(Counter(text(v) for v in values.dropna().tolist()))


def test_profile_value_counts_and_many(result):
    frame = _frame()
    for scope, rows in [(result, frame)] + [(s, frame[frame["unit"] == s["tags"]["unit"]]) for s in result["series"]]:
        columns = scope["columns"]
        assert columns["state"]["values"] == _counts(rows["state"], str)
        assert columns["anomaly"]["values"] == _counts(rows["anomaly"], str)
        assert columns["ok"]["values"] == _counts(rows["ok"], lambda v: "true" if v else "false")
        assert columns["temp"]["values"] == _counts(rows["temp"], repr)
        assert columns["serial"]["values"] == "many" and columns["serial"]["distinct"] == "many"
        assert columns["anomaly"]["positive"] == int(rows["anomaly"].sum())
    columns = result["columns"]
    assert columns["count"]["values"] == "many"
    assert list(columns["state"]["values"]) == ["run", "idle", "stop"]   # most frequent first
    assert list(columns["anomaly"]["values"]) == ["0", "1"] and columns["anomaly"]["label_like"]
    assert columns["anomaly"]["values"]["1"] == 70 and not columns["state"].get("label_like")


def test_profile_result_is_json_with_nine_digit_times(result):
    text = json.dumps(result, allow_nan=False)
    assert json.loads(text) == result
    assert result["export_span"]["last_time"].endswith("Z") and len(result["export_span"]["last_time"]) == 30
    assert "token" not in text.lower()


def test_profile_summary_lines_read_well():
    assert _profile(label_field="anomaly").summary_lines() == [
        "profile: 3 series by site, unit, 7,421 rows, 2024-01-01 00:00:00Z .. 2024-01-01 01:56:39Z",
        "sampling (median interval): 1 s in unit=b, 10 s in site=s1,unit=a, 1 min in site=s2,unit=c; "
        "2 duplicate timestamps",
        "gaps: 1 > 5 min in site=s2,unit=c, longest 6 min 40 s at 2024-01-01T00:50Z; "
        "2 > 50 s in site=s1,unit=a, longest 5 min 10 s at 2024-01-01T00:49Z; "
        "21 > 5 s in unit=b, longest 1 min 40 s at 2024-01-01T01:53Z",
        "anomaly: 1 = 0.9% (70 of 7,421 rows)",
        "empty cells: never 100.0%, ok 16.4%, temp 1.5%, state 0.3%",
        "strings: serial > 200 distinct; state 3 distinct (run 94%, idle 3%, stop 3%)",
    ]
    # without a label field, 0/1 and true/false columns are reported as labels
    assert _profile().summary_lines()[3:5] == ["anomaly: 1 = 0.9% (70 of 7,421 rows)",
                                               "ok: true = 47.9% (2,971 of 6,206 rows)"]


def test_profile_gap_count_is_a_lower_bound_when_the_threshold_splits_a_full_bin():
    # median 10 s, threshold 5.02 x 10 s = 50.2 s: 50.1 s and 50.4 s share one histogram bin,
    # and 20 intervals of 50.4 s are more than the 16 kept
    steps = [10] * 100 + [50.4] * 20 + [50.1] * 5
    times = T0 + (np.r_[0, np.cumsum(steps)] * S).astype(np.int64)
    profiler = Profiler(("unit",), {"x": "float"}, int(times[0]), int(times[-1]), gap_factor=5.02)
    for chunk in np.array_split(times, 7):
        profiler.add([Part(("unit",), {"x": "float"}, pa.table({TIME_COLUMN: chunk, "unit": ["u"] * len(chunk),
                                                                 "x": np.ones(len(chunk))}))])
    gaps = profiler.result()["series"][0]["sampling"]["gaps"]
    assert gaps["count_is_lower_bound"] and gaps["count"] == profile.GAP_KEEP
    assert gaps["longest_ns"] == int(50.4 * S)
    assert "at least 16 > 50.2 s in unit=u" in profiler.summary_lines()[2]


def test_profile_median_between_bins_lies_within_its_bounds():
    rng = np.random.default_rng(5)
    steps = 10 * S + rng.integers(-20_000_000, 20_000_000, 5000)
    times = T0 + np.r_[0, np.cumsum(steps)]
    profiler = Profiler((), {}, int(times[0]), int(times[-1]))
    for chunk in np.array_split(times, 9):
        profiler.add([Part((), {}, pa.table({TIME_COLUMN: chunk}))])
    sampling = profiler.result()["sampling"]
    true = int(np.sort(steps)[(len(steps) - 1) // 2])
    low, high = sampling["median_interval_bounds_ns"]
    assert low <= true <= high and low <= sampling["median_interval_ns"] <= high
    assert (high - low) / low <= 2 ** -profile.SUB_BITS   # one bin: 1.6 % wide at most
    assert sampling["gaps"]["count"] == 0


def _steady_window(rng: np.random.Generator, w: int, rows: int = 1000) -> list[Part]:
    start = T0 + w * rows * 10 * S
    parts = []
    for unit in ("u1", "u2", "u3"):
        t = start + np.arange(rows, dtype=np.int64) * 10 * S + rng.integers(0, 20_000_000, rows)
        parts.append(Part(("unit",), dict(FIELDS), pa.table({
            TIME_COLUMN: t, "unit": [unit] * rows,
            "temp": pa.array(rng.normal(50, 5, rows).round(3).astype(str)),
            "count": pa.array((np.arange(rows) + w * rows).astype(str)),
            "anomaly": pa.array((rng.random(rows) < 0.01).astype(int).astype(str)),
            "state": pa.array(rng.choice(["idle", "run"], rows)),
            "serial": pa.array([f"{unit}-{w}-{k}" for k in range(rows)]),
            "ok": pa.array(rng.random(rows) < 0.5),
        })))
    return parts


def test_profile_state_stays_bounded_over_200_windows():
    rng = np.random.default_rng(11)
    profiler = Profiler(("unit",), FIELDS, T0, T0 + 200 * 1000 * 10 * S, label_field="anomaly")
    sizes = []
    for w in range(200):
        profiler.add(_steady_window(rng, w))
        sizes.append(profiler.state_size())
    assert sizes[19] == sizes[-1]   # nothing grows with the rows once every value has been seen
    series, columns = 3, len(FIELDS)
    plots = profile.MAX_PLOT_SERIES * profiler.buckets * (2 + 4 * 3)   # rows, positives, 3 plotted fields
    bound = plots + series * (5 + 3 * 4096 + 2 * profile.GAP_KEEP) + columns * (series * (4 + profile.VALUE_CAP)
                                                                               + profile.VALUE_CAP)
    assert sizes[-1] <= bound
    result = profiler.result()
    assert result["rows"] == 200 * 1000 * 3 and result["columns"]["serial"]["values"] == "many"
    assert result["columns"]["anomaly"]["positive"] == sum(result["columns"]["anomaly"]["values"].values()) - \
        result["columns"]["anomaly"]["values"]["0"]


def test_profile_rejects_an_unknown_label_field():
    with pytest.raises(ParameterError, match="label_field: 'nope' is not an exported field"):
        Profiler(("unit",), {"x": "float"}, 0, 1, label_field="nope")


def test_profile_many_series_interleaved_in_one_part():
    # 1.x answers one table for all series, ordered by time: 2,000 series take the sorting paths
    units, steps = 2000, 12
    t = np.repeat(T0 + np.arange(steps, dtype=np.int64) * 10 * S, units)
    unit = np.tile([f"u{k:04d}" for k in range(units)], steps)
    t = t + np.tile(np.arange(units, dtype=np.int64) * 1000, steps) * (np.repeat(np.arange(steps), units) % 3)
    profiler = Profiler(("rack", "unit"), {"x": "float"}, int(t.min()), int(t.max()))
    for window in np.array_split(np.arange(len(t)), 3):
        profiler.add([Part(("rack", "unit"), {"x": "float"}, pa.table({
            TIME_COLUMN: t[window], "rack": np.char.add("r", (np.arange(len(t))[window] % units % 7).astype(str)),
            "unit": unit[window], "x": pa.array((np.arange(len(t))[window] % 5).astype(str))}))])
    result = profiler.result()
    assert result["series_count"] == units and result["rows"] == units * steps
    for k in (0, 1, 999, 1999):
        s = result["series"][[x["tags"]["unit"] for x in result["series"]].index(f"u{k:04d}")]
        times = np.sort(t[unit == f"u{k:04d}"])
        assert s["tags"]["rack"] == f"r{k % 7}" and s["rows"] == steps
        assert (s["first_ns"], s["last_ns"]) == (times[0], times[-1])
        low, high = s["sampling"]["median_interval_bounds_ns"]   # exact when the bin holds one value
        assert low <= _expected_sampling(times)["median"] <= high and (k > 0 or low == high)
    assert result["columns"]["x"]["values"] == {repr(float(v)): units * steps // 5 for v in range(5)}
    assert len(profiler.plot_data().series) == profile.MAX_PLOT_SERIES
    assert profiler.plot_data().series_count == units


def test_a_float_column_with_few_values_is_coded_by_value_empty_cells_apart():
    """The value counts' codes (Arrow's hash, reached without importing pyarrow.compute):
    0.0 and -0.0 are two values, as Arrow tells them apart; an empty cell (NaN) is -1."""
    from connector.profile_cells import number_codes

    values = np.array([0.5, -0.0, np.nan, 0.0, 0.5, 2.25, np.nan])
    codes, texts = number_codes(values, np.isnan(values), -0.0, 2.25, integral=False)
    assert [texts[c] if c >= 0 else None for c in codes.tolist()] == ["0.5", "-0.0", None, "0.0", "0.5", "2.25", None]
    assert codes.dtype == np.int64 and sorted(texts) == ["-0.0", "0.0", "0.5", "2.25"]


def test_value_codes_fall_back_to_the_public_compute_module(monkeypatch):
    """A pyarrow without pyarrow._compute.call_function: the public module's does the same."""
    import sys

    from connector.profile_cells import number_codes

    values = np.array([0.5, np.nan, 2.25, 0.5])
    expected = number_codes(values, np.isnan(values), 0.5, 2.25, integral=False)
    monkeypatch.setitem(sys.modules, "pyarrow._compute", None)  # its import now raises ImportError
    codes, texts = number_codes(values, np.isnan(values), 0.5, 2.25, integral=False)
    assert codes.tolist() == expected[0].tolist() == [0, -1, 1, 0] and texts == expected[1] == ["0.5", "2.25"]
