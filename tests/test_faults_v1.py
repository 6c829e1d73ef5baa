"""A real InfluxDB 1.x dies in the middle of an export: the run waits, retries the window it
lost, and writes the same file as a clean run; if the server stays down, no file at all."""
from __future__ import annotations

import logging
import threading
import time

import pytest

from connector import ServerUnavailable, export
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


def test_server_killed_and_restarted_mid_export_gives_the_same_file(fragile, tmp_path):
    clean = export(**params(fragile, tmp_path / "clean"))

    problems: list[BaseException] = []
    done = threading.Event()

    def outage() -> None:
        try:
            time.sleep(0.3)
            fragile.kill()
            time.sleep(1.5)
            fragile.restart()
        except BaseException as exc:  # shown by the test, not lost in the thread
            problems.append(exc)
        # influxd dies with the thread that started it (PR_SET_PDEATHSIG): stay until the end
        done.wait(120)

    retried: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: retried.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("connector").addHandler(handler)
    killer = threading.Thread(target=outage)
    killer.start()
    try:
        survived = export(**params(fragile, tmp_path / "survived", retries=8, timeout="10"))
    finally:
        done.set()
        killer.join()
        logging.getLogger("connector").removeHandler(handler)
    assert problems == []
    assert any("failed: cannot reach InfluxDB" in line or "cut off" in line for line in retried), retried
    assert survived.rows == clean.rows == 60_000
    assert (tmp_path / "survived" / "influxdb.csv").read_bytes() == (tmp_path / "clean" / "influxdb.csv").read_bytes()


def test_server_that_stays_down_fails_the_run_and_writes_nothing(fragile, tmp_path):
    def outage() -> None:
        time.sleep(0.3)
        fragile.kill()

    killer = threading.Thread(target=outage)
    killer.start()
    with pytest.raises(ServerUnavailable, match="gave up on .* after 2 attempts"):
        export(**params(fragile, tmp_path, retries=1, window="1m"))
    killer.join()
    assert list(tmp_path.iterdir()) == []
    fragile.restart()
