"""kill -9 mid-export and two writers at once: the file is always whole, never a mix."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.v2server import V2Server

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "tok"
T0 = 1704067200000000000


@pytest.fixture(scope="module")
def slow_server():
    """20,000 rows served at 1 MB/s: an export takes a few seconds, long enough to kill."""
    with V2Server(token=TOKEN, org="org", buckets=("b",), rate_limit_bytes_per_s=1e6) as server:
        times = [T0 + i * 10**9 for i in range(20_000)]
        for field in ("a", "b", "c"):
            server.load_points("b", "m", {"unit": "u1"}, field, times, [i * 0.25 for i in range(20_000)], "float")
        yield server


def cli_args(server, folder: Path, **changes) -> list[str]:
    params = dict(url=server.url, token=TOKEN, org="org", bucket="b", measurement="m", time_col="time",
                  range_start="2024-01-01", range_end="2024-01-02", local_dir=str(folder), api="v2", window="1h")
    params.update(changes)
    return [sys.executable, str(ROOT / "influxdb_connector.py")] + [f"--{k}={v}" for k, v in params.items()]


def partials(folder: Path) -> list[Path]:
    return sorted(folder.glob(".influxdb.csv.partial-*"))


def test_kill_9_mid_export_leaves_the_older_file_and_the_next_run_cleans_up(slow_server, tmp_path):
    older = b"time,old\n2023-01-01T00:00:00.000000000Z,1\n"
    (tmp_path / "influxdb.csv").write_bytes(older)
    process = subprocess.Popen(cli_args(slow_server, tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not partials(tmp_path) or partials(tmp_path)[0].stat().st_size < 10_000:
        assert process.poll() is None, "the export ended before it could be killed"
        assert time.monotonic() < deadline, "no temp file grew within 30 s"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (tmp_path / "influxdb.csv").read_bytes() == older
    assert len(partials(tmp_path)) == 1  # what the killed run left

    done = subprocess.run(cli_args(slow_server, tmp_path, window="auto"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert partials(tmp_path) == []
    assert "left by a run that was killed" in done.stdout
    lines = (tmp_path / "influxdb.csv").read_text().splitlines()
    assert len(lines) == 20_001 and lines[0] == "time,unit,a,b,c"
    assert lines[-1] == "2024-01-01T05:33:19.000000000Z,u1,4999.75,4999.75,4999.75"


def test_two_runs_writing_one_file_at_once_end_with_one_whole_file(slow_server, tmp_path):
    reference = tmp_path / "reference"
    assert subprocess.run(cli_args(slow_server, reference), capture_output=True).returncode == 0
    shared = tmp_path / "shared"
    runs = [subprocess.Popen(cli_args(slow_server, shared), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(2)]
    for run in runs:
        assert run.wait(timeout=120) == 0, run.stderr.read()
    assert (shared / "influxdb.csv").read_bytes() == (reference / "influxdb.csv").read_bytes()
    assert partials(shared) == []


@pytest.mark.parametrize("kernel_says", [0, -1])  # the call works, or the file system refuses it
def test_writeback_is_started_as_the_file_grows_and_never_changes_a_byte(tmp_path, monkeypatch, kernel_says):
    from connector import sink

    calls: list[tuple[int, int]] = []

    def start_writing(fd: int, offset: int, length: int, flags: int) -> int:
        assert flags == sink._SYNC_FILE_RANGE_WRITE and os.fstat(fd).st_size >= offset + length
        calls.append((offset, length))
        return kernel_says

    monkeypatch.setattr(sink, "_sync_file_range", lambda: start_writing)
    monkeypatch.setattr(sink.Writeback, "EVERY", 1000)
    chunks = [bytes([48 + i % 10]) * 700 for i in range(10)]
    with sink.AtomicCsv(tmp_path / "out.csv", header=b"h\n") as out:
        for chunk in chunks:
            out.write(chunk)
        out.commit()
    assert (tmp_path / "out.csv").read_bytes() == b"h\n" + b"".join(chunks)
    if kernel_says == 0:  # each stretch of at least EVERY bytes once, in order, no gaps
        assert calls == [(0, 1402), (1402, 1400), (2802, 1400), (4202, 1400), (5602, 1400)]
    else:  # refused once, never asked again
        assert calls == [(0, 1402)]
