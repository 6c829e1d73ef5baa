"""The command line as cnvrg runs it: `python influxdb_connector.py --key value ...` in a subprocess.

Exit 0 with one summary line on stdout; exit 2 for a bad parameter and 1 for a runtime
failure, each with exactly one stderr line starting `error: ` (a traceback only with
`--verbose True`); the token never appears in stdout or stderr.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from support.influx1 import Influx1Server

REPO = Path(__file__).resolve().parents[1]
T = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
S = 1_000_000_000
KEYS = {entry["key"] for entry in yaml.safe_load((REPO / "library.yaml").read_text())["arguments"]}
# Runtime failures that are worth retrying would be retried with backoff: keep those tests fast.
NO_RETRY = ["--retries", "0"] if "retries" in KEYS else []


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_") and k != "CNVRG_WORKDIR"}
    environ.update(env or {})
    return subprocess.run([sys.executable, "influxdb_connector.py", *args], cwd=REPO, env=environ,
                          capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=120)


def argv(values: dict[str, str | None], *extra: str) -> list[str]:
    words: list[str] = []
    for key, value in values.items():
        if value is not None:
            words += [f"--{key}", value]
    return words + list(extra)


def assert_one_error_line(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    if code == 2:
        assert result.stdout == ""  # a bad parameter is found before anything runs
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert result.stderr.endswith("\n")
    assert "Traceback" not in result.stderr
    return lines[0]


def new_db(server: Influx1Server, hint: str) -> str:
    name = f"{hint}_{uuid.uuid4().hex[:8]}"
    server.create_database(name)
    return name


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def valid(server_url: str, db: str, out: Path, **overrides: str | None) -> dict[str, str | None]:
    values: dict[str, str | None] = {
        "url": server_url, "token": "", "org": "-", "bucket": db, "measurement": "m", "time_col": "time",
        "range_start": "2024-01-01", "range_end": "2024-01-02", "local_dir": str(out), "api": "v1",
    }
    values.update(overrides)
    return values


EXPECTED_CSV = ("time,unit,v\n"
                "2024-01-01T00:00:00.000000000Z,u1,1.5\n"
                "2024-01-01T00:00:01.000000007Z,u2,2.0\n")


def data_db(server: Influx1Server) -> str:
    db = new_db(server, "cli")
    server.write(db, [f"m,unit=u1 v=1.5 {T}", f"m,unit=u2 v=2.0 {T + S + 7}"])
    return db


# ---------------------------------------------------------------- --help

def test_help_lists_every_parameter_with_description_and_default() -> None:
    result = cli("--help")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    squashed = re.sub(r"\s+", "", result.stdout)  # argparse wraps lines (and breaks at hyphens)
    arguments = yaml.safe_load((REPO / "library.yaml").read_text())["arguments"]
    assert arguments
    for entry in arguments:
        key = entry["key"]
        assert f"--{key} VALUE" in result.stdout or f"--{key}" in result.stdout.split(), key
        assert re.sub(r"\s+", "", entry["description"]) in squashed, key
        values = entry.get("values") or []
        description = re.sub(r"\s+", "", entry["description"])
        if values:
            default = re.sub(r"\s+", "", str(values[0]))
            assert f"(default{default})" in squashed, key
        else:
            assert f"{description}(required)" in squashed, key
    assert cli("-h").stdout == result.stdout


# ---------------------------------------------------------------- bad parameters: exit 2, one line

OK = {"url": "http://127.0.0.1:9", "token": "", "org": "-", "bucket": "b", "measurement": "m", "time_col": "t"}

BAD = [
    ("missing_measurement", {"measurement": None}, [], ["measurement is required"]),
    ("missing_url", {"url": None}, [], ["url is required"]),
    ("missing_token", {"token": None}, [], ["token is required"]),
    ("missing_bucket", {"bucket": None}, [], ["bucket is required"]),
    ("empty_time_col", {"time_col": ""}, [], ["time_col is required"]),
    ("missing_org_for_auto", {"org": None}, [], ["org is required"]),
    ("url_scheme", {"url": "ftp://example.com"}, [], ["url: 'ftp://example.com'"]),
    ("url_no_host", {"url": "http://"}, [], ["url: 'http:", "is not an http"]),
    ("url_with_credentials", {"url": "http://user:pa55@127.0.0.1:8086"}, [], ["url: put credentials in token"]),
    ("range_start_unit", {"range_start": "-1q"}, [], ["range_start: '-1q'"]),
    ("range_start_bad_date", {"range_start": "2024-02-30"}, [], ["range_start: '2024-02-30'"]),
    ("range_end_bad", {"range_end": "2024-13-01"}, [], ["range_end: '2024-13-01'"]),
    ("start_after_end", {"range_start": "2024-02-01", "range_end": "2024-01-01"}, [],
     ["range_start (2024-02-01T00:00:00.000000000Z) must be before range_end (2024-01-01T00:00:00.000000000Z)"]),
    ("start_equals_end", {"range_start": "2024-01-01", "range_end": "2024-01-01T00:00:00Z"}, [],
     ["range_start", "must be before range_end"]),
    ("file_name_ending", {"file_name": "out.txt"}, [], ["file_name: 'out.txt'"]),
    ("file_name_folder", {"file_name": "sub/out.csv"}, [], ["file_name: 'sub/out.csv'"]),
    ("file_name_only_ending", {"file_name": ".csv"}, [], ["file_name: '.csv'"]),
    ("window_unit", {"window": "1x"}, [], ["window: '1x'"]),
    ("window_zero", {"window": "0s"}, [], ["window: '0s'"]),
    ("api_unknown", {"api": "v3"}, [], ["api: 'v3'"]),
    ("v2_without_token", {"api": "v2", "org": "o"}, [], ["token"]),
    ("verbose_not_bool", {"verbose": "maybe"}, [], ["verbose: 'maybe'"]),
    ("rename_not_pairs", {"rename": "unit"}, [], ["rename: 'unit'"]),
    ("fields_empty_name", {"fields": "a,,b"}, [], ["fields: 'a,,b'"]),
    ("unknown_flag", {}, ["--bogus", "1"], ["--bogus"]),
    ("stray_word", {}, ["stray"], ["'stray'"]),
    ("value_missing_at_end", {}, ["--fields"], ["--fields needs a value"]),
    ("flag_twice", {}, ["--measurement", "m2"], ["--measurement is given twice"]),
    ("secret_without_env", {"token": "Secret"}, [], ["INFLUXDB_TOKEN"]),
    ("token_with_inner_line_break", {"token": "tok-SEKRET\nmore"}, [], ["token"]),
    ("token_with_control_character", {"token": "tok-SEKRET\x01"}, [], ["token"]),
    ("secret_upper_without_env", {"token": "SECRET", "bucket": "secret"}, [], ["INFLUXDB_TOKEN", "INFLUXDB_BUCKET"]),
]


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Every BAD case run once, a few at a time (each is a fresh interpreter: ~0.4 s)."""
    root = tmp_path_factory.mktemp("bad")

    def one(case):
        name, overrides, extra, _ = case
        out = root / name / "out"
        return name, (out, cli(*argv({**OK, "local_dir": str(out), **overrides}, *extra)))

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, BAD))


@pytest.mark.parametrize("name, expected", [(case[0], case[3]) for case in BAD], ids=[case[0] for case in BAD])
def test_bad_parameter_exits_2_with_one_line(bad_runs, name: str, expected: list[str]) -> None:
    out, result = bad_runs[name]
    line = assert_one_error_line(result, 2)
    for text in expected:
        assert text in line, line
    assert "pa55" not in line and "SEKRET" not in line
    assert not out.exists()


def test_value_missing_in_the_middle_names_the_parameter(tmp_path: Path) -> None:
    """`--fields --window 1h`: fields got no value; the message must name fields (not '1h')."""
    values = {**OK, "local_dir": str(tmp_path)}
    line = assert_one_error_line(cli(*argv(values, "--fields", "--window", "1h")), 2)
    assert "fields" in line, line


def test_several_bad_parameters_are_reported_together_in_one_line(tmp_path: Path) -> None:
    values = {**OK, "url": "ftp://x", "range_start": "-1q", "window": "zz", "file_name": "x.txt",
              "verbose": "perhaps", "api": "v9", "local_dir": str(tmp_path)}
    line = assert_one_error_line(cli(*argv(values)), 2)
    for part in ("url: 'ftp://x'", "range_start: '-1q'", "window: 'zz'", "file_name: 'x.txt'",
                 "verbose: 'perhaps'", "api: 'v9'"):
        assert part in line, (part, line)
    missing = assert_one_error_line(cli(), 2)
    for key in ("url", "token", "org", "bucket", "measurement", "time_col"):
        assert f"{key} is required" in missing, (key, missing)


def test_verbose_true_shows_the_traceback_for_a_bad_parameter(tmp_path: Path) -> None:
    result = cli(*argv({**OK, "range_start": "-1q", "verbose": "True", "local_dir": str(tmp_path)}))
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: range_start: '-1q'")


# ---------------------------------------------------------------- against the real 1.x server

def test_success_ends_with_one_summary_line_and_writes_the_file(influx1: Influx1Server, tmp_path: Path) -> None:
    """stdout is the job log (a few [influxdb-connector] lines, then the summary); stderr stays empty."""
    db = data_db(influx1)
    out = tmp_path / "out"
    result = cli(*argv(valid(influx1.url, db, out)))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    *log_lines, summary = result.stdout.splitlines()
    assert all(line.startswith("[influxdb-connector] ") for line in log_lines), result.stdout
    lines = [summary]
    path = out / "influxdb.csv"
    assert re.fullmatch(
        r"wrote 2 rows x 3 columns, 2024-01-01T00:00:00\.000000000Z \.\. 2024-01-01T00:00:01\.000000007Z, "
        rf"to {re.escape(str(path))} \(0\.0 MB\) in \d+\.\d s \([\d,]+ rows/s\)", lines[0]), lines[0]
    assert "error" not in result.stderr
    assert path.read_text() == EXPECTED_CSV
    assert files_in(out) == ["influxdb.csv", "influxdb.csv.profile.json", "influxdb.csv.summary.json"]


@pytest.mark.parametrize("spelling", ["Secret", "SECRET", "secret"])
def test_secret_token_reads_influxdb_token(influx1_auth: Influx1Server, tmp_path: Path, spelling: str) -> None:
    db = data_db(influx1_auth)
    password = influx1_auth.password
    env = {"INFLUXDB_TOKEN": f"{influx1_auth.username}:{password}"}
    result = cli(*argv(valid(influx1_auth.url, db, tmp_path, token=spelling)), env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "influxdb.csv").read_text() == EXPECTED_CSV
    assert password not in result.stdout + result.stderr


def test_every_connection_value_from_secrets(influx1: Influx1Server, tmp_path: Path) -> None:
    db = data_db(influx1)
    env = {"INFLUXDB_URL": influx1.url, "INFLUXDB_BUCKET": db, "INFLUXDB_ORG": "-", "INFLUXDB_TOKEN": "unused:x"}
    result = cli(*argv(valid("Secret", "secret", tmp_path, token="SECRET", org="sEcReT")), env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "influxdb.csv").read_text() == EXPECTED_CSV


def test_cnvrg_none_for_optional_values(influx1: Influx1Server, tmp_path: Path) -> None:
    db = data_db(influx1)
    work = tmp_path / "cnvrg workdir"
    values = valid(influx1.url, db, tmp_path, local_dir="None", fields="None", rename="none",
                   cnvrg_dataset="NONE", window="None")
    result = cli(*argv(values), env={"CNVRG_WORKDIR": str(work)})
    assert result.returncode == 0, result.stderr
    assert (work / "influxdb.csv").read_text() == EXPECTED_CSV
    assert "uploaded" not in result.stdout
    assert files_in(tmp_path) == ["cnvrg workdir"]


def _rfc3339(ns: int) -> str:
    seconds, fraction = divmod(ns, S)
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def test_relative_range_values_starting_with_a_dash(influx1: Influx1Server, tmp_path: Path) -> None:
    db = new_db(influx1, "relative")
    now = time.time_ns()
    recent, old = now - 3600 * S - 123, now - 9 * 86400 * S
    influx1.write(db, [f"m,unit=u1 v=1.5 {recent}", f"m,unit=u1 v=9.5 {old}"])
    result = cli(*argv(valid(influx1.url, db, tmp_path, range_start="-7d", range_end="-1m")))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "influxdb.csv").read_text() == f"time,unit,v\n{_rfc3339(recent)},u1,1.5\n"
    # --key=value form, and a combined relative value
    values = valid(influx1.url, db, tmp_path, range_start=None, range_end=None, file_name="b.csv")
    result = cli(*argv(values, "--range_start=-1w3d", "--range_end=-30m"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "b.csv").read_text() == (f"time,unit,v\n{_rfc3339(old)},u1,9.5\n"
                                                f"{_rfc3339(recent)},u1,1.5\n")


def test_no_data_exits_1_naming_measurement_bucket_and_range(influx1: Influx1Server, tmp_path: Path) -> None:
    db = data_db(influx1)
    line = assert_one_error_line(
        cli(*argv(valid(influx1.url, db, tmp_path, range_start="2023-01-01", range_end="2023-02-01"))), 1)
    assert line.startswith("error: no data")
    assert "'m'" in line and repr(db) in line and "2023-01-01" in line and "2023-02-01" in line
    assert files_in(tmp_path) == []


def test_unknown_database_exits_1(influx1: Influx1Server, tmp_path: Path) -> None:
    line = assert_one_error_line(cli(*argv(valid(influx1.url, "nope_db", tmp_path))), 1)
    assert "database not found: nope_db" in line and "bucket" in line
    assert files_in(tmp_path) == []


def test_failure_with_default_api_auto_is_still_one_stderr_line(influx1: Influx1Server, tmp_path: Path) -> None:
    """cnvrg runs with api=auto: the failure must still be exactly one `error:` line."""
    line = assert_one_error_line(cli(*argv(valid(influx1.url, "nope_db", tmp_path, api=None))), 1)
    assert "database not found: nope_db" in line


def test_output_folder_that_is_a_file_exits_1_with_one_line(influx1: Influx1Server, tmp_path: Path) -> None:
    db = data_db(influx1)
    blocker = tmp_path / "not a folder"
    blocker.write_text("x")
    line = assert_one_error_line(cli(*argv(valid(influx1.url, db, blocker))), 1)
    assert str(blocker) in line
    assert blocker.read_text() == "x"


def test_older_file_survives_a_failing_cli_run(influx1: Influx1Server, tmp_path: Path) -> None:
    db = data_db(influx1)
    target = tmp_path / "influxdb.csv"
    target.write_bytes(b"older,file\n1,2\n")
    assert_one_error_line(cli(*argv(valid(influx1.url, db, tmp_path, range_start="2020-01-01",
                                          range_end="2020-01-02"))), 1)
    assert_one_error_line(cli(*argv(valid(influx1.url, db, tmp_path, fields="nope"))), 2)
    assert target.read_bytes() == b"older,file\n1,2\n"
    assert files_in(tmp_path) == ["influxdb.csv"]


@pytest.mark.parametrize("api", ["v1", "auto", "v2"])
def test_unreachable_server_exits_1_with_one_line(tmp_path: Path, api: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    values = valid(url, "db", tmp_path, api=api, token="tok-SEKRET-123", org="my-org")
    line = assert_one_error_line(cli(*argv(values, *NO_RETRY)), 1)
    assert url in line
    assert "connection refused" in line.lower()  # the OS's words: not a timeout
    assert "timeout" not in line.lower()
    assert "SEKRET" not in line
    assert files_in(tmp_path) == []


# ---------------------------------------------------------------- the token never shows

@pytest.mark.parametrize("verbose, api", [("False", "v1"), ("True", "auto")])
@pytest.mark.parametrize("token", ["admin:pw-SEKRET-9", "tok-SEKRET-123", "nobody:pw-SEKRET-9"])
def test_rejected_token_never_appears(influx1_auth: Influx1Server, tmp_path: Path, token: str, verbose: str,
                                      api: str) -> None:
    db = data_db(influx1_auth)
    result = cli(*argv(valid(influx1_auth.url, db, tmp_path, token=token, verbose=verbose, api=api)))
    assert result.returncode == 1, result.stderr
    assert "SEKRET" not in result.stdout + result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: InfluxDB refused the credentials (401)")
    if verbose == "False":
        assert_one_error_line(result, 1)
    assert files_in(tmp_path) == []


def test_accepted_password_never_appears_even_verbose(influx1_auth: Influx1Server, tmp_path: Path) -> None:
    db = data_db(influx1_auth)
    token = f"{influx1_auth.username}:{influx1_auth.password}"
    result = cli(*argv(valid(influx1_auth.url, db, tmp_path, token=token, verbose="True", api="auto")))
    assert result.returncode == 0, result.stderr
    assert influx1_auth.password not in result.stdout + result.stderr
    assert (tmp_path / "influxdb.csv").read_text() == EXPECTED_CSV


@pytest.mark.parametrize("api", ["auto", "v2"])
def test_token_never_appears_for_an_unreachable_server_even_verbose(tmp_path: Path, api: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = cli(*argv(valid(url, "db", tmp_path, token="tok-SEKRET-123", org="o", api=api, verbose="True"),
                       *NO_RETRY))
    assert result.returncode == 1
    assert "SEKRET" not in result.stdout + result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: ")
    assert url in result.stderr.splitlines()[-1]


@pytest.mark.parametrize("verbose", ["False", "True"])
def test_secret_with_a_trailing_newline_never_leaks(influx1: Influx1Server, tmp_path: Path, verbose: str) -> None:
    """A secret pasted with its line end (INFLUXDB_TOKEN='tok...\\n') must not end up in the output."""
    db = data_db(influx1)
    result = cli(*argv(valid(influx1.url, db, tmp_path, token="Secret", verbose=verbose)),
                 env={"INFLUXDB_TOKEN": "tok-SEKRET-123\n"})
    assert "SEKRET" not in result.stdout + result.stderr, result.stderr
    if result.returncode != 0:
        assert result.stderr.splitlines()[-1].startswith("error: ")
        assert "unexpected failure" not in result.stderr


def test_a_csv_export_never_imports_pandas_or_numpy_ma(influx1: Influx1Server, tmp_path: Path) -> None:
    """pandas costs ~0.25 s and ~40 MB of every run; a CSV export does not need it (pyarrow
    would import it only to ask whether values are pandas objects). numpy.ma (~12 ms under
    the GIL) comes with a plain np.unique, which the profile does without."""
    db = data_db(influx1)
    out = tmp_path / "out"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
    result = subprocess.run([sys.executable, "-X", "importtime", "influxdb_connector.py",
                             *argv(valid(influx1.url, db, out))], cwd=REPO, env=environ,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "influxdb.csv").read_text() == EXPECTED_CSV
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "pyarrow" in imported and "numpy" in imported
    # pyarrow's first check tries `import pandas` and is refused (one line, no submodule);
    # pandas really imported is hundreds of pandas.* modules.
    assert not {name for name in imported if name.startswith("pandas.")}
    assert "connector.profile" in imported
    assert "numpy.ma" not in imported


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_plain_csv_export_never_imports_pyarrow_compute(api: str, influx1: Influx1Server, tmp_path: Path) -> None:
    """pyarrow.compute builds ~300 wrappers at import (25-40 ms, under the GIL); an unquoted
    answer's rows are located and copied by the C kernels without it, on either API, and
    the profile (on, as by default) counts a float column's few values without it."""
    from support.v2server import V2Server

    with V2Server(token="t", org="o", buckets=("b",)) as v2:
        if api == "v1":
            url, bucket, token = influx1.url, data_db(influx1), ""
        else:
            v2.load_line_protocol("b", f"m,unit=u1 v=1.5 {T}\nm,unit=u2 v=2.0 {T + S + 7}")
            url, bucket, token = v2.url, "b", "t"
        probe = ("import sys, connector; connector.export(url=sys.argv[1], token=sys.argv[2], org='o', "
                 "bucket=sys.argv[3], measurement='m', time_col='time', range_start='2024-01-01', "
                 "range_end='2024-01-02', local_dir=sys.argv[4], api=sys.argv[5]); "
                 "print(sorted(m for m in ('pyarrow', 'pyarrow.compute', 'numpy.ma') if m in sys.modules))")
        result = subprocess.run([sys.executable, "-c", probe, url, token, bucket, str(tmp_path), api], cwd=REPO,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "influxdb.csv").read_text() == EXPECTED_CSV
    assert result.stdout.split("\n")[-2] == "['pyarrow']"


def test_the_command_line_collects_garbage_less_often_and_the_api_leaves_it_alone(influx1: Influx1Server,
                                                                                   tmp_path: Path) -> None:
    db = data_db(influx1)
    args = argv(valid(influx1.url, db, tmp_path / "cli"))
    probe = ("import gc, sys; from connector.cli import main; default = gc.get_threshold(); "
             "code = main(sys.argv[1:]); print(code, default[0], gc.get_threshold())")
    result = subprocess.run([sys.executable, "-c", probe, *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "0 700 (50000, 20, 100)"
    api = ("import gc, sys, connector; connector.export(url=sys.argv[1], token='', org='-', bucket=sys.argv[2], "
           "measurement='m', time_col='time', range_start='2024-01-01', range_end='2024-01-02', "
           "local_dir=sys.argv[3], api='v1'); print(gc.get_threshold()[0])")
    result = subprocess.run([sys.executable, "-c", api, influx1.url, db, str(tmp_path / "api")], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["700"]
    assert (tmp_path / "cli" / "influxdb.csv").read_text() == (tmp_path / "api" / "influxdb.csv").read_text() == EXPECTED_CSV


def test_the_entry_point_sets_its_process_settings_before_numpy_and_pyarrow() -> None:
    """influxdb_connector.py (not the Python API) picks Arrow's C allocator and one OpenBLAS thread."""
    environ = {k: v for k, v in os.environ.items() if k not in ("ARROW_DEFAULT_MEMORY_POOL", "OPENBLAS_NUM_THREADS")}
    probe = ("import influxdb_connector, os, pyarrow as pa; "
             "print(pa.default_memory_pool().backend_name, os.environ['OPENBLAS_NUM_THREADS'])")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=environ, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["system", "1"]
    library = subprocess.run([sys.executable, "-c", "import connector, pyarrow as pa; "
                              "print(pa.default_memory_pool().backend_name)"],
                             cwd=REPO, env=environ, capture_output=True, text=True, timeout=60)
    assert library.stdout.strip() != "system"  # the API leaves the process's defaults alone


@pytest.mark.parametrize("worker, code", [(False, 4), (True, 3)])
def test_the_entry_point_leaves_flushed_and_waits_for_a_thread_still_working(worker, code) -> None:
    """_leave skips the interpreter's teardown, but never a buffered byte or a working thread."""
    probe = ("import influxdb_connector as entry, threading, time, sys\n"
             "if %r:\n"
             "    threading.Thread(target=lambda: (time.sleep(0.3), print('thread done', flush=True))).start()\n"
             "print('buffered', end='')\n"
             "print('to stderr', end='', file=sys.stderr)\n"
             "entry._leave(%d)\n") % (worker, code)
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # a pipe: block-buffered
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=buffered, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == code
    assert result.stdout == ("buffered" + ("thread done\n" if worker else ""))
    assert result.stderr == "to stderr"
