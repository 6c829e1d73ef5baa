"""The connector's logger, watched by a test: a handler attached at a level, then removed.

Why not caplog: the CLI tests may have stopped the "connector" logger propagating to the
root logger that caplog watches.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

CONNECTOR = logging.getLogger("connector")


@contextmanager
def attached(handler: logging.Handler, level: int = logging.DEBUG) -> Iterator[logging.Handler]:
    """`handler` on the connector's logger, which logs at `level` meanwhile."""
    previous = CONNECTOR.level
    CONNECTOR.addHandler(handler)
    CONNECTOR.setLevel(level)
    try:
        yield handler
    finally:
        CONNECTOR.removeHandler(handler)
        CONNECTOR.setLevel(previous)


@contextmanager
def records(level: int = logging.INFO) -> Iterator[list[logging.LogRecord]]:
    """Every record the connector logs at `level` or above, meanwhile."""
    found: list[logging.LogRecord] = []
    handler = logging.Handler(level)
    handler.emit = found.append  # type: ignore[method-assign]
    with attached(handler, level):
        yield found
