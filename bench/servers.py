"""The two servers under test, started and seeded; seeding time is reported, never timed.

2.x: bench/serve_v2.py in its own process (bulk load_points, answer cache).
1.x: the real influxd (support/influx1.py), seeded through HTTP /write in line-protocol
batches, then left to finish its background compactions so they do not run during the
timed commands.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bench import data
from support.influx1 import Influx1Server

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "bench"


@contextmanager
def v2_server(timestamps: int) -> Iterator[dict]:
    """Start bench.serve_v2; yields {"plain": url, "throttled": url, "latency": url, "load_s": s}."""
    child = subprocess.Popen([sys.executable, "-m", "bench.serve_v2", "--timestamps", str(timestamps)],
                             cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        if not line:
            raise RuntimeError(f"bench.serve_v2 exited ({child.wait()}) before printing its URL")
        info = json.loads(line)
        info["pid"] = child.pid
        yield info
    finally:
        child.stdin.close()  # serve_v2 stops when its stdin closes
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.terminate()
            child.wait(timeout=10)


@contextmanager
def v1_server(timestamps: int) -> Iterator[tuple[Influx1Server, dict]]:
    """A real InfluxDB 1.x with the benchmark data; yields (server, seeding stats)."""
    with Influx1Server() as server:
        server.create_database(DATABASE)
        started = time.monotonic()
        sent = server.write(DATABASE, data.line_protocol(timestamps))
        written = time.monotonic() - started
        settle = wait_idle(server._proc.pid)  # noqa: SLF001 - only to watch its CPU
        yield server, {"write_s": round(written, 2), "settle_s": round(settle, 2),
                       "line_protocol_mb": round(sent / 1e6, 1)}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, below: float = 0.05, limit_s: float = 120.0) -> float:
    """Wait until the process uses < `below` of a core for two seconds running; the seconds waited."""
    started = time.monotonic()
    quiet = 0
    last = cpu_seconds(pid)
    while time.monotonic() - started < limit_s and quiet < 2:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - last < below else 0
        last = now
    return time.monotonic() - started
