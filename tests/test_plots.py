"""Profile plots of the demo data: the PNGs exist, decode, have the set size and real content.

With WRITE_DOCS_IMAGES=1 the test also writes the example images in docs/.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from connector import plots
from connector.errors import OutputError
from connector.profile import Profiler
from connector.sources.base import TIME_COLUMN, TIME_TYPE, Part
from support.sample_data import FLOAT_FIELDS, INT_FIELDS, TAGS, generate

DOCS = Path(__file__).resolve().parents[1] / "docs"
FIELDS = {**{f: "float" for f in FLOAT_FIELDS}, **{f: "int" for f in INT_FIELDS}}


def _demo_profile(windows: int = 24, outage: bool = False) -> Profiler:
    """3 units x 7 days at 10 s, fed as the server's text, one part per unit and window (as 2.x answers).

    With `outage`, unit-02 loses 2024-01-03 04:00 .. 07:00 and unit-03 five 2-minute stretches,
    so the pictures show what gaps look like."""
    frame = generate(units=3, days=7)
    if outage:
        t = pd.to_datetime(frame["time"], utc=True)
        cut = (frame["unit"] == "unit-02") & (t >= "2024-01-03T04:00Z") & (t < "2024-01-03T07:00Z")
        for day in range(1, 6):
            start = pd.Timestamp(f"2024-01-0{day + 1}T12:00Z")
            cut |= (frame["unit"] == "unit-03") & (t >= start) & (t < start + pd.Timedelta("2min"))
        frame = frame[~cut.to_numpy()]
    times = frame["time"].to_numpy()
    profiler = Profiler(tuple(sorted(TAGS)), FIELDS, int(times.min()), int(times.max()), label_field="anomaly")
    edges = np.linspace(times.min(), times.max() + 1, windows + 1).astype(np.int64)
    for lo, hi in zip(edges[:-1], edges[1:]):
        window = frame[(times >= lo) & (times < hi)]
        parts = []
        for _unit, rows in window.groupby("unit", sort=True):
            columns = {TIME_COLUMN: pa.array(rows["time"].to_numpy()).cast(TIME_TYPE)}
            columns |= {tag: pa.array(rows[tag].tolist()) for tag in TAGS}
            columns |= {f: pa.array(rows[f].to_numpy()).cast(pa.string()) for f in FIELDS}
            parts.append(Part(tuple(sorted(TAGS)), dict(FIELDS), pa.table(columns)))
        profiler.add(parts)
    return profiler


@pytest.fixture(scope="module")
def demo() -> Profiler:
    return _demo_profile()


def test_plots_file_names_are_safe_and_unique():
    assert plots.file_stem("telemetry.csv.gz") == "telemetry"
    assert plots.file_stem("data/run.v2.parquet") == "run.v2"
    assert plots.file_names(["temp", "a/b c", "coverage", "a?b c", "..."], "t") == {
        "temp": "t.temp.png", "a/b c": "t.a_b_c.png", "coverage": "t.coverage-2.png",
        "a?b c": "t.a_b_c-2.png", "...": "t.field.png"}


def test_plots_render_the_demo_profile(demo, tmp_path):
    image = pytest.importorskip("matplotlib.image")
    paths = plots.render(demo, tmp_path, "telemetry")
    expected = [f"telemetry.{f}.png" for f in sorted(FIELDS) if f != "anomaly"] + ["telemetry.coverage.png"]
    assert [p.name for p in paths] == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)   # no partial files left
    for path in paths:
        pixels = image.imread(path)
        assert pixels.shape[:2] == (plots.SIZE_PX[1], plots.SIZE_PX[0]), path.name
        rgb = (pixels[..., :3] * 255).astype(np.uint32)
        colours = np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])
        assert len(colours) > 50, path.name   # lines, bands, legend and text, not a blank canvas


def test_plots_of_the_demo_with_an_outage_show_its_gaps(tmp_path):
    """Also the docs' example images (written with WRITE_DOCS_IMAGES=1)."""
    pytest.importorskip("matplotlib")
    profiler = _demo_profile(outage=True)
    lines = profiler.summary_lines()
    assert lines[2] == ("gaps: 1 > 50 s in site=plant-a,unit=unit-02, longest 3 h at 2024-01-03T03:59Z; "
                        "5 > 50 s in site=plant-b,unit=unit-03, longest 2 min 10 s at 2024-01-03T11:59Z")
    series = {s.label: s for s in profiler.plot_data().series}
    assert series["plant-a, unit-02"].gap_count == 1 and series["plant-b, unit-03"].gap_count == 5
    paths = plots.render(profiler, tmp_path, "telemetry")
    if os.environ.get("WRITE_DOCS_IMAGES") == "1":
        DOCS.mkdir(exist_ok=True)
        for name in ("temperature", "vibration", "coverage"):
            shutil.copyfile(tmp_path / f"telemetry.{name}.png", DOCS / f"profile-example-{name}.png")
    assert len(paths) == 7


def test_plots_mark_the_labelled_anomalies(demo, tmp_path):
    image = pytest.importorskip("matplotlib.image")
    data = demo.plot_data()
    assert data.positive is not None and int(data.positive.sum()) == demo.result()["columns"]["anomaly"]["positive"]
    pixels = image.imread(plots.render(demo, tmp_path, "t")[0])[..., :3]
    red = (pixels[..., 0] > 0.75) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)
    assert red.sum() > 200   # the anomaly markers


def test_plots_coverage_shows_a_gap(tmp_path):
    pytest.importorskip("matplotlib")
    s = 10**9
    times = np.r_[np.arange(0, 3000, 10), np.arange(6000, 9000, 10)].astype(np.int64) * s
    profiler = Profiler(("unit",), {"x": "float"}, int(times[0]), int(times[-1]))
    profiler.add([Part(("unit",), {"x": "float"}, pa.table({TIME_COLUMN: times, "unit": ["u"] * len(times),
                                                             "x": np.sin(times / 1e12)}))])
    series = profiler.plot_data().series[0]
    assert series.gaps == [(2990 * s, 6000 * s)] and series.gap_count == 1
    assert [p.name for p in plots.render(profiler, tmp_path / "new", "x.csv")] == ["x.csv.x.png", "x.csv.coverage.png"]


def test_plots_without_matplotlib_name_the_fix(monkeypatch, demo, tmp_path):
    import builtins

    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(OutputError, match=r"^plot=True needs matplotlib: pip install matplotlib$"):
        plots.render(demo, tmp_path, "t")
