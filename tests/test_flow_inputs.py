"""What the connector really writes is what the next task of each flow can read.

The demo telemetry goes into a real InfluxDB 1.x; every connector task of every blueprint
runs with its own params (only the server address, credentials and range replaced), and
the file is checked the way the downstream library reads it: adts-preprocess (pandas
read_csv, to_datetime on the timestamp column, numeric sensors, a 0/1 label, a real
categorical column) and the RUL preprocessing (id and cycle, no time column, every other
column an s_ sensor).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from connector import export
from support import sample_data
from cnvrg_formats import LIBRARY_YAML, blueprint_paths, is_none, load_yaml, params, tasks, value

LIBRARY = load_yaml(LIBRARY_YAML)
CONNECTOR = "influxdb-connector"
OVERRIDES = {"url", "token", "org", "bucket", "range_start", "range_end", "local_dir", "cnvrg_dataset"}


def _connector_tasks():
    for path in blueprint_paths():
        blueprint = load_yaml(path)
        for title, task in tasks(blueprint).items():
            if task.get("library") == CONNECTOR:
                yield pytest.param(path.name, blueprint, title, task, id=f"{path.name}:{title}")


@pytest.fixture(scope="module")
def telemetry(influx1):
    influx1.create_database("flows")
    influx1.write("flows", b"".join(sample_data.to_line_protocol(sample_data.generate(units=3, days=1))))
    return influx1


def _export(server, task, folder: Path) -> Path:
    given = {key: (entry.get("values") or [None])[0] for key, entry in params(task).items()}
    given = {key: v for key, v in given.items() if key not in OVERRIDES and v is not None}
    summary = export(url=server.url, token="", org="-", bucket="flows", api="v1", local_dir=str(folder),
                     range_start="2024-01-01", range_end="2024-01-02", **{k: v for k, v in given.items() if k != "api"})
    return Path(summary.path)


def _downstream(blueprint, connector_title: str, file_name: str):
    folder = connector_title.lower().replace(" ", "_").replace("-", "_")
    wanted = f"/input/{folder}/{file_name}"
    for title, task in tasks(blueprint).items():
        for key, entry in params(task).items():
            if (entry.get("values") or [None])[0] == wanted:
                yield title, task, key


@pytest.mark.parametrize("name, blueprint, title, task", _connector_tasks())
def test_the_next_task_can_read_what_the_connector_writes(telemetry, tmp_path, name, blueprint, title, task):
    path = _export(telemetry, task, tmp_path)
    frame = pd.read_csv(path)
    readers = list(_downstream(blueprint, title, path.name))
    assert readers, f"{name}: no task reads {title}'s file {path.name}"
    for reader_title, reader, key in readers:
        library = reader.get("library")
        if library == "adts-preprocess":
            stamp = value(reader, "timestamp_column")
            times = pd.to_datetime(frame[stamp])
            assert str(times.dtype) == "datetime64[ns, UTC]"
            assert times.is_monotonic_increasing
            for sensor in value(reader, "sensordata_columns").split(","):
                assert pd.api.types.is_float_dtype(frame[sensor]), f"{sensor} is {frame[sensor].dtype}"
            label = value(reader, "label_column")
            assert set(frame[label].astype(str)) <= {value(reader, "positive_label"), value(reader, "negative_label")}
            assert (frame[label] == 1).any() and (frame[label] == 0).any()
            categorical = value(reader, "categorical_columns")
            assert not is_none(categorical) and categorical in frame.columns
        elif library == "rul-data-preprocessing" or library == "rul-batch-predict":
            assert {"id", "cycle"} <= set(frame.columns)
            assert not any(c in frame.columns for c in ("time", "timestamp"))
            others = [c for c in frame.columns if c not in ("id", "cycle")]
            assert others and all(c.startswith("s") and pd.api.types.is_float_dtype(frame[c]) for c in others)
            assert frame.groupby("id")["cycle"].apply(lambda c: c.is_monotonic_increasing).all()
        elif library == "adts-batch-predict" or (library or "").startswith("tsf-"):
            assert len(frame) > 0 and frame.columns[0] == value(task, "time_col")
        else:
            pytest.fail(f"{name}: {reader_title} ({library}) reads the connector's file; add its checks here")
