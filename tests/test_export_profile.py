"""The profile and plots come out of a real export, beside the file, in one pass."""
from __future__ import annotations

import json

import pytest

from connector import ParameterError, export
from support import sample_data


@pytest.fixture(scope="module")
def demo(influx1):
    influx1.create_database("profiled")
    frame = sample_data.generate(units=2, days=1)
    influx1.write("profiled", b"".join(sample_data.to_line_protocol(frame)))
    return influx1, frame


def run(demo, tmp_path, **changes):
    server, _ = demo
    params = dict(url=server.url, token="", org="-", api="v1", bucket="profiled", measurement="machine",
                  time_col="timestamp", range_start="2024-01-01", range_end="2024-01-02", local_dir=str(tmp_path),
                  file_name="t.csv")
    params.update(changes)
    return export(**params)


def test_the_profile_is_written_beside_the_file_and_returned(demo, tmp_path):
    _, frame = demo
    summary = run(demo, tmp_path, label_field="anomaly")
    on_disk = json.loads((tmp_path / "t.csv.profile.json").read_text())
    assert summary.profile == on_disk
    assert on_disk["rows"] == len(frame) == summary.rows
    assert sorted(s["series"] for s in on_disk["series"]) == ["site=plant-a,unit=unit-01", "site=plant-a,unit=unit-02"]
    assert [s["rows"] for s in on_disk["series"]] == [len(frame) // 2] * 2
    assert on_disk["columns"]["anomaly"]["positive"] == int(frame["anomaly"].sum())
    assert on_disk["columns"]["temperature"]["max"] == frame["temperature"].max()
    saved = json.loads((tmp_path / "t.csv.summary.json").read_text())
    assert saved["rows"] == summary.rows and saved["settings"]["token"] == "" and "profile" not in saved


def test_profile_false_writes_no_profile(demo, tmp_path):
    summary = run(demo, tmp_path, profile="False")
    assert summary.profile is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.csv.summary.json"]


def test_plots_beside_the_file(demo, tmp_path):
    pytest.importorskip("matplotlib")
    run(demo, tmp_path, plot="True", label_field="anomaly")
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["t.coverage.png", "t.current.png", "t.cycle.png", "t.pressure.png", "t.rpm.png",
                    "t.temperature.png", "t.vibration.png"]
    assert all((tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in pngs)


def test_an_unknown_label_field_is_a_parameter_error(demo, tmp_path):
    with pytest.raises(ParameterError, match="label_field"):
        run(demo, tmp_path, label_field="nope")
    assert list(tmp_path.iterdir()) == []
