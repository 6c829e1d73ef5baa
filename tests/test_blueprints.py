"""The cnvrg flows (blueprint.yaml, blueprints/*.yaml) and the library spec they run.

Read top to bottom, these tests are the rules a flow must keep to import and run on cnvrg:
library.yaml has the shape of a cnvrg library; every blueprint has the shape of a cnvrg
blueprint; its connector tasks pass only arguments library.yaml defines; its graph is a
DAG fed by connectors; every /input/ path names a file an upstream task really writes;
and the defaults fit the demo data (support/sample_data.py), so the flows run as shipped.

What the flows rely on in cnvrg's own libraries is written down in DOWNSTREAM, with the
public source it was read in. Each failure message says what is wrong in plain words.
"""

from __future__ import annotations

import io
import re
import sys
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connector.config import build_settings
from connector.errors import ParameterError

from cnvrg_formats import (
    ARGUMENT_TYPES, FLOW_TAGS, LIBRARY_YAML, ROOT, Blueprint, Task, ancestors, arguments,
    blueprint_paths, default, find_cycle, input_dir, input_paths, is_none, load_yaml, params,
    slug, tasks, value,
)

if str(ROOT) not in sys.path:  # the demo data lives in the project's support package
    sys.path.insert(0, str(ROOT))
from support import sample_data  # noqa: E402

CONNECTOR_COMMAND = "python3 influxdb_connector.py"
LIBRARY_KEYS = ("title", "version", "description", "long_description", "author", "author_email",
                "tags", "command", "requirements", "image", "language", "arguments")
BLUEPRINT_KEYS = ("title", "version", "description", "long_description", "author", "author_email",
                  "tags", "tasks", "relations")
REQUIREMENTS = ("cpu", "memory", "gpu", "hpu")
TASK_TYPES = ("exec", "deploy", "data")
DEMO_MEASUREMENT = "machine"  # support/sample_data.to_line_protocol's default


@dataclass(frozen=True)
class Downstream:
    """What a flow may rely on in one of cnvrg's libraries, as read in its public source."""

    source: str                              # where we read it: repository: paths
    accepts: frozenset[str]                  # the --keys its script takes
    requires: frozenset[str] = frozenset()   # keys without a default (argparse required=True)
    writes: frozenset[str] = frozenset()     # files it leaves for downstream tasks
    reads: frozenset[str] = frozenset()      # /input/ folders it opens whatever its params say


def _fs(*names: str) -> frozenset[str]:
    return frozenset(names)


ADTS = "cnvrg/anomaly-detection-time-series"
RUL = "cnvrg/remaining-useful-life"
ADTS_FOLDERS = _fs("preprocessing", "train_valid_split", "model_comparison")
MODEL_KEYS = ("train_path", "valid_path", "positive_label", "negative_label")
RUL_PREPROCESS_KEYS = _fs("raw_train_data", "common_letter_numeric", "numeric_features", "meta_columns",
                          "sequence_length", "upper_limit", "lower_limit")
RUL_CNN_KEYS = _fs("x_train", "y_train", "batch_size", "epochs", "seed", "shape_data")
RUL_PREDICT_KEYS = _fs("x_test", "cnn", "shape_data")
DOWNSTREAM: dict[str, Downstream] = {
    "adts-preprocess": Downstream(
        f"{ADTS}: adts-preprocess/preprocess.py",
        _fs("dataset_path", "timestamp_column", "sensordata_columns", "label_column", "imputation",
            "categorical_columns", "output_dir", "positive_label", "negative_label"),
        requires=_fs("dataset_path"),
        writes=_fs("preprocessed.csv", "column_names.csv", "categorical_column_names.csv",
                   "categorical_modes.csv")),
    "adts-train-valid-split": Downstream(
        f"{ADTS}: adts-train-valid-split/tvsplit.py",
        _fs("dataset_path", "valid_size", "output_dir"),
        writes=_fs("train.csv", "valid.csv", "train_scaler.pkl")),
    "adts-autoencoder": Downstream(
        f"{ADTS}: adts-autoencoder/library.yaml, autoencoder_config.yaml",
        _fs(*MODEL_KEYS, "dropout", "l2_reg"), reads=_fs("preprocessing", "train_valid_split")),
    "adts-knn": Downstream(f"{ADTS}: adts-knn/library.yaml", _fs(*MODEL_KEYS, "num_neighbors", "knn_radius")),
    "adts-iforest": Downstream(f"{ADTS}: adts-iforest/library.yaml", _fs(*MODEL_KEYS, "num_estimators")),
    "adts-ocsvm": Downstream(f"{ADTS}: adts-ocsvm/library.yaml", _fs(*MODEL_KEYS, "nu")),
    # compare.py moves /input/<winning task>/model.pkl, or /input/autoencoder/model for the deep model
    "adts-compare": Downstream(f"{ADTS}: adts-compare/compare.py", _fs(), reads=_fs("autoencoder")),
    "adts-inference": Downstream(f"{ADTS}: adts-inference/library.yaml, inference_config.yaml", _fs(),
                                 reads=ADTS_FOLDERS),
    "adts-batch-predict": Downstream(
        f"{ADTS}: adts-batch-predict/batchpredict.py, batchpredict_config.yaml",
        _fs("dataset_path", "output_dir"), requires=_fs("dataset_path"),
        writes=_fs("predictions.csv"), reads=ADTS_FOLDERS),
    "rul-data-preprocessing": Downstream(
        f"{RUL}: data_preprocessing/data_preprocessing.py",
        RUL_PREPROCESS_KEYS, requires=RUL_PREPROCESS_KEYS, writes=_fs("x_train", "y_train", "shape_data.csv")),
    "rul-cnn": Downstream(
        f"{RUL}: cnn/cnn.py",
        RUL_CNN_KEYS, requires=RUL_CNN_KEYS, writes=_fs("cnn_model.h5")),
    "rul-batch-predict": Downstream(
        f"{RUL}: batch_predict/predict.py",
        RUL_PREDICT_KEYS, requires=RUL_PREDICT_KEYS,
        writes=_fs("predicted_data.csv")),
}
# No public source of cnvrg's sensor-forecasting (TSF) libraries was found; these slugs and
# their params are unchecked and must be confirmed in the cnvrg library hub.
UNVERIFIED = frozenset({"tsf-train", "tsf-inference"})


# ---------------------------------------------------------------- loading

@cache
def _library() -> dict:
    return load_yaml(LIBRARY_YAML)


@cache
def _blueprints() -> dict[str, Blueprint]:
    """Every blueprint that parses, by path relative to the project root."""
    found: dict[str, Blueprint] = {}
    for path in blueprint_paths():
        try:
            doc = load_yaml(path)
        except Exception:  # reported by test_yaml_parses
            continue
        if isinstance(doc, dict):
            found[path.relative_to(ROOT).as_posix()] = doc
    return found


BLUEPRINT_NAMES = [p.relative_to(ROOT).as_posix() for p in blueprint_paths()]


def _blueprint(name: str) -> Blueprint:
    doc = _blueprints().get(name)
    assert doc is not None, f"{name} does not exist or is not a YAML mapping"
    return doc


def _is_connector(task: Task) -> bool:
    return task.get("library") == slug(_library()["title"])


def _connectors(bp: Blueprint) -> dict[str, Task]:
    return {title: t for title, t in tasks(bp).items() if _is_connector(t)}


def _tasks_of(library: str) -> list[tuple[str, str]]:
    """(blueprint, task title) for every task running ``library``, for parametrize."""
    return [(name, title) for name, bp in _blueprints().items()
            for title, t in tasks(bp).items() if t.get("library") == library]


def _source(bp: Blueprint, task: Task, key: str) -> Task | None:
    """The task whose file the ``key`` param of ``task`` reads through /input/, if any."""
    by_folder = {input_dir(title): t for title, t in tasks(bp).items()}
    for k, folder, _file in input_paths(task):
        if k == key:
            return by_folder.get(folder)
    return None


# ---------------------------------------------------------------- the demo data

def _rfc3339(ns: pd.Series) -> pd.Series:
    """Nanoseconds since the epoch as the connector writes them: UTC, nine fractional digits."""
    whole = pd.to_datetime(ns, unit="ns", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S")
    return whole + "." + (ns % 10**9).astype(str).str.zfill(9) + "Z"


def _csv_list(text: str | None) -> list[str]:
    return [] if is_none(text) else [s.strip() for s in text.split(",") if s.strip()]


def _renames(text: str | None) -> dict[str, str]:
    return dict(pair.split(":", 1) for pair in _csv_list(text))


_DEMO = sample_data.generate(units=3, days=0.05, step_s=10)


def _exported(task: Task) -> pd.DataFrame:
    """What a connector task writes for the demo data, read back as a pandas task reads it.

    The connector's contract: the time column first, then the tags sorted, then the fields
    sorted (only those in ``fields``, unless None), then ``rename`` applied.
    """
    lib = _library()
    fields = _csv_list(value(task, "fields", lib)) or list(sample_data.FLOAT_FIELDS + sample_data.INT_FIELDS)
    fields = sorted(f for f in fields if f in _DEMO.columns)
    tags = _csv_list(value(task, "tags", lib)) or list(sample_data.TAGS)
    frame = _DEMO[[*sorted(tags), *fields]].copy()
    if (value(task, "time_format", lib) or "iso") != "omit":
        frame.insert(0, value(task, "time_col", lib) or "time", _rfc3339(_DEMO["time"]))
    frame = frame.rename(columns=_renames(value(task, "rename", lib)))
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    buf.seek(0)
    return pd.read_csv(buf)


def _numeric(df: pd.DataFrame, column: str) -> bool:
    return pd.api.types.is_numeric_dtype(df[column])


# ---------------------------------------------------------------- every YAML parses

@pytest.mark.parametrize("path", [LIBRARY_YAML, *blueprint_paths()], ids=lambda p: p.name)
def test_yaml_parses_to_a_mapping(path: Path) -> None:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    doc = load_yaml(path)
    assert isinstance(doc, dict), f"{path.relative_to(ROOT)} is a {type(doc).__name__}, not a mapping"


# ---------------------------------------------------------------- library.yaml is a cnvrg library

def test_library_has_every_cnvrg_library_key() -> None:
    lib = _library()
    missing = [k for k in LIBRARY_KEYS if lib.get(k) in (None, "", [])]
    assert not missing, f"library.yaml lacks {', '.join(missing)}"


def test_library_icon_is_optional_but_not_empty() -> None:
    # cnvrg's own library specs mark icon as optional (they all set "icon: python")
    icon = _library().get("icon", "python")
    assert isinstance(icon, str) and icon.strip(), "library.yaml: icon, when given, must be a name such as python"


def test_library_version_is_semantic() -> None:
    version = str(_library()["version"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"library.yaml: version {version!r} is not MAJOR.MINOR.PATCH"


def test_library_tags_name_a_flow_stage_and_connector() -> None:
    tags = _library()["tags"]
    assert set(tags) & set(FLOW_TAGS), f"library.yaml: tags {tags} name none of {', '.join(FLOW_TAGS)}"
    assert "connector" in tags, f"library.yaml: tags {tags} do not include connector"


def test_library_runs_the_entry_script_with_python3() -> None:
    lib = _library()
    assert lib["command"] == CONNECTOR_COMMAND, f"library.yaml: command is {lib['command']!r}, not {CONNECTOR_COMMAND!r}"
    assert lib["language"] == "python3", f"library.yaml: language is {lib['language']!r}, not 'python3'"
    assert isinstance(lib["image"], str) and ":" in lib["image"], f"library.yaml: image {lib['image']!r} is not name:tag"


def test_library_requirements_are_cpu_memory_gpu_hpu() -> None:
    req = _library()["requirements"]
    assert sorted(req) == sorted(REQUIREMENTS), f"library.yaml: requirements has {sorted(req)}, not {list(REQUIREMENTS)}"
    bad = [f"{k}={v!r}" for k, v in req.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0]
    assert not bad, f"library.yaml: requirements must be numbers >= 0: {', '.join(bad)}"


def test_library_arguments_are_cnvrg_arguments() -> None:
    problems: list[str] = []
    seen: set[str] = set()
    for i, arg in enumerate(_library()["arguments"]):
        key = arg.get("key")
        where = f"argument {key or i}"
        if not isinstance(key, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            problems.append(f"{where}: key must be a lower-case identifier (it becomes --key)")
        if key in seen:
            problems.append(f"{where}: key appears twice")
        seen.add(key)
        if set(arg) - {"key", "type", "values", "description"}:
            problems.append(f"{where}: unknown fields {sorted(set(arg) - {'key', 'type', 'values', 'description'})}")
        if arg.get("type") not in ARGUMENT_TYPES:
            problems.append(f"{where}: type {arg.get('type')!r} is not one of {', '.join(ARGUMENT_TYPES)}")
        values = arg.get("values")
        if not isinstance(values, list):
            problems.append(f"{where}: values must be a list ([] marks it required, the first value is the default)")
        elif not all(isinstance(v, str) for v in values):
            problems.append(f"{where}: values {values} must be quoted strings (YAML turns False into a boolean)")
        if not (isinstance(arg.get("description"), str) and arg["description"].strip()):
            problems.append(f"{where}: description is missing")
    assert not problems, "library.yaml:\n" + "\n".join(problems)


# ---------------------------------------------------------------- every blueprint is a cnvrg blueprint

@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_blueprint_has_every_blueprint_key(name: str) -> None:
    bp = _blueprint(name)
    missing = [k for k in BLUEPRINT_KEYS if k not in bp or bp[k] in (None, "")]
    assert not missing, f"{name} lacks {', '.join(missing)}"
    assert bp["tasks"], f"{name} has no tasks"
    assert set(bp["tags"]) & set(FLOW_TAGS), f"{name}: tags {bp['tags']} name none of {', '.join(FLOW_TAGS)}"


@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_every_task_names_a_library_and_a_version(name: str) -> None:
    problems: list[str] = []
    folders: dict[str, str] = {}
    for task in _blueprint(name)["tasks"]:
        title = task.get("title")
        if not title:
            problems.append(f"a task has no title: {task}")
            continue
        if input_dir(title) in folders:
            problems.append(f"{title!r} and {folders[input_dir(title)]!r} share /input/{input_dir(title)}/")
        folders[input_dir(title)] = title
        if not task.get("library"):
            problems.append(f"{title}: no library")
        if not re.fullmatch(r"\d+\.\d+\.\d+", str(task.get("library_version", ""))):
            problems.append(f"{title}: library_version {task.get('library_version')!r} is not MAJOR.MINOR.PATCH")
        if task.get("type") not in TASK_TYPES:
            problems.append(f"{title}: type {task.get('type')!r} is not one of {', '.join(TASK_TYPES)}")
        if task.get("type") == "deploy":
            for key in ("kind", "file_name", "function_name"):
                if not task.get(key):
                    problems.append(f"{title}: a deploy task needs {key}")
        elif task.get("type") == "exec" and not task.get("command"):
            problems.append(f"{title}: an exec task needs a command")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_connector_tasks_pass_library_yaml_arguments(name: str) -> None:
    lib = _library()
    args = arguments(lib)
    problems: list[str] = []
    connectors = _connectors(_blueprint(name))
    assert connectors, f"{name}: no task runs library {slug(lib['title'])!r} (the slug of {lib['title']!r})"
    for title, task in connectors.items():
        if str(task.get("library_version")) != str(lib["version"]):
            problems.append(f"{title}: library_version {task.get('library_version')} is not library.yaml's {lib['version']}")
        if task.get("command") != lib["command"]:
            problems.append(f"{title}: command {task.get('command')!r} is not library.yaml's {lib['command']!r}")
        for key, entry in params(task).items():
            if key not in args:
                problems.append(f"{title}: param {key!r} is not an argument in library.yaml")
                continue
            if entry.get("type") != args[key]["type"]:
                problems.append(f"{title}: {key} is {entry.get('type')!r} here, {args[key]['type']!r} in library.yaml")
            values = entry.get("values") or []
            if not all(isinstance(v, str) for v in values):
                problems.append(f"{title}: {key} values {values} must be quoted strings")
            if len(values) > 1:
                problems.append(f"{title}: {key} has {len(values)} values; cnvrg would run the export once per value")
        # The values must be ones the connector accepts: let its own validation judge them
        # (library.yaml lists one value per option, so it cannot list the choices).
        raw = {key: (entry.get("values") or [None])[0] for key, entry in params(task).items()}
        raw = {key: v for key, v in raw.items() if v is not None}
        env = {"INFLUXDB_TOKEN": "t", "INFLUXDB_URL": "https://influx.example.com", "INFLUXDB_ORG": "o",
               "INFLUXDB_BUCKET": "b"}
        try:
            build_settings(raw, environ=env)
        except ParameterError as exc:
            problems.append(f"{title}: the connector refuses these params: {exc}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_connector_tasks_give_every_required_argument_a_value(name: str) -> None:
    lib = _library()
    required = [k for k, arg in arguments(lib).items() if default(arg) is None]
    problems = [f"{title}: {key} is required and has no value (Secret reads it from the project secrets)"
                for title, task in _connectors(_blueprint(name)).items()
                for key in required if value(task, key) is None]
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_connectors_of_one_flow_export_the_same_columns(name: str) -> None:
    # the models are trained on one connector's columns and applied to the other's
    connectors = _connectors(_blueprint(name))
    problems: list[str] = []
    for key in ("measurement", "time_col", "fields", "rename"):
        seen = {title: value(t, key, _library()) for title, t in connectors.items()}
        if len(set(seen.values())) > 1:
            problems.append(f"{key} differs: " + ", ".join(f"{t} {v!r}" for t, v in seen.items()))
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_downstream_libraries_were_read_or_are_marked_unverified(name: str) -> None:
    unknown = sorted({t["library"] for t in tasks(_blueprint(name)).values()
                      if not _is_connector(t) and t.get("library") not in set(DOWNSTREAM) | UNVERIFIED})
    assert not unknown, f"{name}: libraries {unknown} are neither in DOWNSTREAM nor in UNVERIFIED"


@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_downstream_params_are_arguments_the_library_takes(name: str) -> None:
    problems: list[str] = []
    for title, task in tasks(_blueprint(name)).items():
        known = DOWNSTREAM.get(task.get("library", ""))
        if known is None:
            continue
        for key in sorted(set(params(task)) - known.accepts):
            problems.append(f"{title}: {task['library']} takes no --{key} ({known.source})")
        for key in sorted(known.requires):
            if value(task, key) is None:
                problems.append(f"{title}: {task['library']} requires --{key} ({known.source})")
        for key, entry in params(task).items():
            if not all(isinstance(v, str) for v in entry.get("values") or []):
                problems.append(f"{title}: {key} values {entry.get('values')} must be quoted strings")
    assert not problems, f"{name}:\n" + "\n".join(problems)


# ---------------------------------------------------------------- the graph

@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_relations_name_existing_tasks(name: str) -> None:
    bp = _blueprint(name)
    titles = set(tasks(bp))
    problems = [f"relation {rel} names a task that does not exist"
                for rel in bp.get("relations") or []
                if rel.get("from") not in titles or rel.get("to") not in titles]
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_flow_has_no_cycle(name: str) -> None:
    cycle = find_cycle(_blueprint(name))
    assert cycle is None, f"{name}: relations form a cycle: {' -> '.join(cycle or [])}"


@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_every_task_is_fed_by_a_connector(name: str) -> None:
    bp = _blueprint(name)
    connectors = set(_connectors(bp))
    orphans = [t for t in tasks(bp) if t not in connectors and not ancestors(bp, t) & connectors]
    assert not orphans, f"{name}: no connector is upstream of {', '.join(orphans)}"


# ---------------------------------------------------------------- files flow through /input/

@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_input_paths_name_a_file_an_upstream_task_writes(name: str) -> None:
    bp = _blueprint(name)
    everything = tasks(bp)
    problems: list[str] = []
    for title, task in everything.items():
        upstream = {input_dir(t): t for t in ancestors(bp, title)}
        for key, folder, file in input_paths(task):
            if folder not in upstream:
                problems.append(f"{title}: {key} reads /input/{folder}/, but no task upstream is titled so "
                                f"(upstream folders: {', '.join(sorted(upstream)) or 'none'})")
                continue
            source = everything[upstream[folder]]
            if _is_connector(source):
                expected = value(source, "file_name", _library())
                if file != expected:
                    problems.append(f"{title}: {key} reads {file!r}, but {upstream[folder]} writes {expected!r}")
                elif not file.endswith(".csv"):
                    problems.append(f"{title}: {key} reads {file!r}; the downstream libraries read CSV only")
                if not is_none(value(source, "local_dir", _library())):
                    problems.append(f"{upstream[folder]}: local_dir must stay None so {file} lands in the task's "
                                    f"working directory, which cnvrg hands on as /input/{folder}/")
            elif (known := DOWNSTREAM.get(source.get("library", ""))) and known.writes and file not in known.writes:
                problems.append(f"{title}: {key} reads {file!r}, but {source['library']} writes "
                                f"{', '.join(sorted(known.writes))} ({known.source})")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_folders_a_library_always_reads_belong_to_upstream_tasks(name: str) -> None:
    bp = _blueprint(name)
    problems: list[str] = []
    for title, task in tasks(bp).items():
        known = DOWNSTREAM.get(task.get("library", ""))
        if known is None:
            continue
        upstream = {input_dir(t) for t in ancestors(bp, title)}
        for folder in sorted(known.reads - upstream):
            problems.append(f"{title}: {task['library']} always reads /input/{folder}/ ({known.source}); "
                            f"no task upstream is titled so")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_timestamp_column_is_the_connectors_time_col(name: str) -> None:
    bp = _blueprint(name)
    problems: list[str] = []
    for title, task in tasks(bp).items():
        if "timestamp_column" not in params(task):
            continue
        source = _source(bp, task, "dataset_path")
        feeding = [source] if source is not None and _is_connector(source) else \
            [t for t_title, t in _connectors(bp).items() if t_title in ancestors(bp, title)]
        for connector in feeding:
            time_col = value(connector, "time_col", _library())
            if value(task, "timestamp_column") != time_col:
                problems.append(f"{title}: timestamp_column is {value(task, 'timestamp_column')!r}, "
                                f"but {connector['title']} names its time column {time_col!r}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


# ---------------------------------------------------------------- the defaults fit the demo data

@pytest.mark.parametrize("name", BLUEPRINT_NAMES)
def test_connectors_ask_for_what_the_demo_data_has(name: str) -> None:
    lib = _library()
    problems: list[str] = []
    for title, task in _connectors(_blueprint(name)).items():
        if value(task, "measurement") != DEMO_MEASUREMENT:
            problems.append(f"{title}: measurement {value(task, 'measurement')!r} is not the demo's {DEMO_MEASUREMENT!r}")
        for field in _csv_list(value(task, "fields", lib)):
            if field not in sample_data.FLOAT_FIELDS + sample_data.INT_FIELDS:
                problems.append(f"{title}: fields names {field!r}, which the demo data does not have")
        columns = set(sample_data.TAGS) | set(_csv_list(value(task, "fields", lib)) or
                                              sample_data.FLOAT_FIELDS + sample_data.INT_FIELDS)
        for old in _renames(value(task, "rename", lib)):
            if old not in columns:
                problems.append(f"{title}: rename maps {old!r}, which is not an exported column")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("name", "title"), _tasks_of("adts-preprocess"))
def test_adts_preprocess_defaults_fit_the_demo_data(name: str, title: str) -> None:
    bp = _blueprint(name)
    task = tasks(bp)[title]
    source = _source(bp, task, "dataset_path")
    assert source is not None and _is_connector(source), f"{title}: dataset_path does not read a connector's file"
    df = _exported(source)
    problems: list[str] = []
    ts = value(task, "timestamp_column")
    if ts not in df:
        problems.append(f"timestamp_column {ts!r} is not among the exported columns {list(df)}")
    else:
        try:  # exactly what preprocess.py does with it (under the older pandas of its image)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seconds = pd.to_datetime(df[ts]).values.astype(np.float64) // 10**9
            assert not np.isnan(seconds).any()
        except Exception as exc:  # noqa: BLE001 - any failure here is the finding
            problems.append(f"pandas.to_datetime cannot read {ts!r} ({exc!r})")
    sensors = _csv_list(value(task, "sensordata_columns"))
    problems += [f"sensor column {c!r} is missing or not numeric" for c in sensors if c not in df or not _numeric(df, c)]
    categorical = value(task, "categorical_columns")
    if is_none(categorical):
        problems.append("categorical_columns is None: preprocess.py then looks for a column named 'None'")
    else:
        problems += [f"categorical column {c!r} is not exported" for c in _csv_list(categorical) if c not in df]
    label = value(task, "label_column")
    labels = {value(task, "positive_label"), value(task, "negative_label")}
    if label not in df:
        problems.append(f"label_column {label!r} is not exported")
    elif not set(df[label].astype(str)) <= labels:
        problems.append(f"label values {sorted(set(df[label].astype(str)))} are not the labels {sorted(labels)}")
    imputation = value(task, "imputation")
    if not is_none(imputation):
        codes = imputation.split("!")
        if len(codes) != len(sensors):
            problems.append(f"imputation {imputation!r} has {len(codes)} codes for {len(sensors)} sensor columns")
        problems += [f"imputation code {c!r} is not 1 (mean), 2 (median) or 3 (knn)" for c in codes if c not in ("1", "2", "3")]
    assert not problems, f"{name}: {title}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("name", "title"), _tasks_of("adts-batch-predict"))
def test_adts_batch_predict_gets_the_columns_preprocessing_kept(name: str, title: str) -> None:
    bp = _blueprint(name)
    source = _source(bp, tasks(bp)[title], "dataset_path")
    assert source is not None and _is_connector(source), f"{title}: dataset_path does not read a connector's file"
    df = _exported(source)
    problems: list[str] = []
    for pre_title, pre in tasks(bp).items():
        if pre.get("library") == "adts-preprocess" and pre_title in ancestors(bp, title):
            kept = [value(pre, "timestamp_column"), *_csv_list(value(pre, "sensordata_columns")),
                    *_csv_list(value(pre, "categorical_columns"))]
            problems += [f"{c!r}, kept by {pre_title}, is not in {source['title']}'s export" for c in kept if c not in df]
    assert not problems, f"{name}: {title}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("name", "title"), _tasks_of("rul-data-preprocessing"))
def test_rul_preprocessing_defaults_fit_the_demo_data(name: str, title: str) -> None:
    bp = _blueprint(name)
    task = tasks(bp)[title]
    source = _source(bp, task, "raw_train_data")
    assert source is not None and _is_connector(source), f"{title}: raw_train_data does not read a connector's file"
    df = _exported(source)
    problems = [f"meta column {c!r} is not exported (columns: {list(df)})"
                for c in _csv_list(value(task, "meta_columns")) if c not in df]
    letter = value(task, "common_letter_numeric") or ""
    scaled = [c for c in df if c[:1] == letter]
    if not scaled:
        problems.append(f"no exported column starts with {letter!r}, so nothing is scaled")
    problems += [f"{c!r} starts with {letter!r}, so it is scaled, but it is not numeric" for c in scaled if not _numeric(df, c)]
    sequence = [c for c in df if c[:1] == "s"]  # data_preprocessing.py's sequence columns, whatever the letter
    problems += [f"{c!r} starts with 's', so it is a CNN input, but it is not numeric" for c in sequence if not _numeric(df, c)]
    extra = value(task, "numeric_features")
    if extra != "garbage999":  # the script's word for "none"
        problems += [f"numeric feature {c!r} is missing or not numeric" for c in _csv_list(extra)
                     if c not in df or not _numeric(df, c)]
    if "id" in df and df.groupby("id").size().min() <= int(value(task, "sequence_length") or 0):
        problems.append("some id has no more rows than sequence_length, so it yields no sequence")
    assert not problems, f"{name}: {title}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("name", "title"), _tasks_of("rul-batch-predict"))
def test_rul_batch_predict_sees_only_the_training_sensors(name: str, title: str) -> None:
    bp = _blueprint(name)
    task = tasks(bp)[title]
    source = _source(bp, task, "x_test")
    assert source is not None and _is_connector(source), f"{title}: x_test does not read a connector's file"
    df = _exported(source)
    meta = {c for t_title, t in tasks(bp).items() if t.get("library") == "rul-data-preprocessing"
            for c in _csv_list(value(t, "meta_columns"))}
    # predict.py drops constant columns, then takes every other non-meta column as a CNN input
    inputs = [c for c in df if c not in meta and df[c].nunique() != 1]
    stray = [c for c in inputs if c[:1] != "s" or not _numeric(df, c)]
    assert not stray, f"{name}: {title}: {stray} would reach the CNN as inputs beside the s_ sensors"
