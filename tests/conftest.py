"""Shared pytest fixtures.

Real-server fixtures: ``influx1`` (InfluxDB 1.x without auth) and ``influx1_auth``
(auth enabled, admin credentials as ``.username``/``.password``), each one
``influxd`` for the whole session, from Debian's ``influxdb`` package.

When ``influxd`` is missing or does not start:
  * with the environment variable ``CI`` set (non-empty) the fixture FAILS: in CI the
    server tests must run, never silently skip;
  * otherwise the tests that need it are skipped with a loud reason.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root: `support`, `connector`

from support.influx1 import Influx1Server, influxd_available  # noqa: E402


_START_FAILURES: dict[bool, str] = {}  # auth -> reason: try to start each kind once per session


def _start_influx1(auth: bool) -> Influx1Server:
    """A started server, or fail (CI) / skip (elsewhere) with the reason."""
    if auth not in _START_FAILURES:
        if not influxd_available():
            _START_FAILURES[auth] = "influxd (Debian package influxdb) not installed: apt-get install influxdb"
        else:
            try:
                return Influx1Server(auth_enabled=auth).start()
            except Exception as exc:  # noqa: BLE001 - any start failure is reported the same way
                _START_FAILURES[auth] = f"influxd (Debian package influxdb) did not start: {exc}"
    reason = _START_FAILURES[auth]
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so InfluxDB 1.x tests must run: {reason}", pytrace=False)
    pytest.skip(f"{reason} (InfluxDB 1.x server tests SKIPPED; with CI set they fail)")


@pytest.fixture(scope="session")
def influx1() -> Iterator[Influx1Server]:
    """A real InfluxDB 1.x server without auth, shared by the session."""
    server = _start_influx1(auth=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def influx1_auth() -> Iterator[Influx1Server]:
    """A real InfluxDB 1.x server with auth enabled and an admin user."""
    server = _start_influx1(auth=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["c", "numpy"])
def byte_path(request, monkeypatch):
    """Run a test on the C kernels and again on the numpy path: both must write the same.
    Where a C compiler exists (CI installs one), the kernels must build."""
    from connector import native

    monkeypatch.setenv("INFLUXDB_CONNECTOR_NATIVE", "1" if request.param == "c" else "0")
    if request.param == "c" and native.kernels() is None:
        pytest.fail("the C kernels did not build (is a C compiler installed?)")
    return request.param
