"""A real InfluxDB 1.x dies in the middle of an export: the run waits, retries the window it
lost, and writes the same file as a clean run; if the server stays down, no file at all."""
from __future__ import annotations

import logging
import threading
import time

import pytest

from connector import ServerUnavailable, export
from connector_log import attached
from support.influx1 import Influx1Server

T0 = 1704067200000000000


@pytest.fixture
def fragile(influx1):  # influx1 first: in CI the 1.x tests must run
    with Influx1Server() as server:
        server.create_database("f")
        lines = [f"m,unit=u{i % 3} v={i}i,w={i * 0.5} {T0 + i * 10**9}" for i in range(60_000)]
        server.write("f", "\n".join(lines))
        yield server


def params(server, folder, **changes):
    base = dict(url=server.url, token="", org="-", api="v1", bucket="f", measurement="m", time_col="time",
                range_start="2024-01-01", range_end="2024-01-02", local_dir=str(folder), window="20m",
                profile="False")
    base.update(changes)
    return base


class OnFirstWindow(logging.Handler):
    """Runs an action once, on the export's own thread, right after its first window is
    written: the fault lands mid-export however fast the export is (a clock cannot promise that)."""

    def __init__(self, action):
        super().__init__(logging.DEBUG)
        self.action, self.fired, self.warnings = action, False, []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            self.warnings.append(message)
        if not self.fired and message.startswith("window 1 "):
            self.fired = True
            self.action()


def test_server_killed_and_restarted_mid_export_gives_the_same_file(fragile, tmp_path):
    clean = export(**params(fragile, tmp_path / "clean"))

    problems: list[BaseException] = []
    killed, done = threading.Event(), threading.Event()

    def restart_later() -> None:
        try:
            if killed.wait(60):
                time.sleep(1.5)
                fragile.restart()
        except BaseException as exc:  # shown by the test, not lost in the thread
            problems.append(exc)
        # influxd dies with the thread that started it (PR_SET_PDEATHSIG): stay until the end
        done.wait(120)

    def kill() -> None:
        fragile.kill()
        killed.set()

    restarter = threading.Thread(target=restart_later)
    restarter.start()
    try:
        with attached(OnFirstWindow(kill)) as seen:
            survived = export(**params(fragile, tmp_path / "survived", retries=8, timeout="10"))
    finally:
        killed.set()
        done.set()
        restarter.join()
    assert problems == []
    assert seen.fired
    assert any("failed: cannot reach InfluxDB" in line or "cut off" in line for line in seen.warnings), seen.warnings
    assert survived.rows == clean.rows == 60_000
    assert (tmp_path / "survived" / "influxdb.csv").read_bytes() == (tmp_path / "clean" / "influxdb.csv").read_bytes()


def test_server_that_stays_down_fails_the_run_and_writes_nothing(fragile, tmp_path):
    with attached(OnFirstWindow(fragile.kill)) as seen:
        with pytest.raises(ServerUnavailable, match="gave up on .* after 2 attempts"):
            export(**params(fragile, tmp_path, retries=1, window="1m"))
    assert seen.fired
    assert list(tmp_path.iterdir()) == []
    fragile.restart()
