"""The command line: parse, run, and turn any failure into one line and an exit code."""
from __future__ import annotations

import gc
import logging
import sys
import traceback
from typing import Sequence

from .config import build_settings
from .errors import ConnectorError, redact
from .params import parse_bool, parse_cli

log = logging.getLogger("connector")


class _Redact(logging.Filter):
    """Last line of defence: no log record carries the token."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = redact(record.getMessage(), *self.secrets)
            record.args = ()
        return True


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time (a notebook or a test may swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


def _setup_logging(verbose: bool, secrets: list[str]) -> None:
    # Logs go to stdout with the summary; stderr carries only the one error line (and, with
    # --verbose, its traceback), so a failure is exactly one line there.
    handler = _StdoutHandler()
    handler.setFormatter(logging.Formatter("[influxdb-connector] %(message)s"))
    handler.addFilter(_Redact(secrets))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


def _verbose_hint(argv: Sequence[str]) -> bool:
    """--verbose from the raw argv, so even a bad parameter can show its traceback."""
    for index, word in enumerate(argv):
        if word == "--verbose" and index + 1 < len(argv):
            try:
                return parse_bool("verbose", argv[index + 1])
            except ConnectorError:
                return False
        if word.startswith("--verbose="):
            try:
                return parse_bool("verbose", word.split("=", 1)[1])
            except ConnectorError:
                return False
    return False


def _arrow_without_pandas() -> None:
    """pyarrow imports pandas (~0.25 s and ~40 MB here) the first time it converts a Python
    value or an array to numpy, only to learn whether pandas objects exist. The CLI never hands
    pyarrow a pandas object, so make those one-time checks find no pandas. Only the checks are
    cached: an explicit Table.to_pandas would still import it. Not done for the Python API,
    where a notebook may pass pandas objects to pyarrow afterwards."""
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        pa.scalar(0)  # runs pyarrow's pandas checks, both the Python and the C++ one
    finally:
        sys.meta_path.remove(blocker)


class _NoPandas:
    """An import finder that fails `import pandas` while it is installed."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is kept out of pyarrow's first check")
        return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = _verbose_hint(argv)
    secrets: list[str] = []
    _setup_logging(verbose, secrets)
    try:
        raw = parse_cli(argv)
        settings = build_settings(raw)
        secrets.append(settings.token)
        _arrow_without_pandas()
        from .export import dry_run_text, run
        from .publish import publish

        # The modules just imported are tens of thousands of objects that live as long as the
        # process; without this every garbage collection would walk them all again.
        gc.freeze()
        # And collect far less often than every 700 new objects: each collection holds the GIL
        # while it walks, stalling every thread's Python (a run's few reference cycles are
        # small). 30 ms less at 1M rows, 11 of 12 alternating runs; the API leaves it alone.
        gc.set_threshold(50_000, 20, 100)

        if settings.dry_run:
            print(redact(dry_run_text(settings), *secrets), flush=True)
            return 0

        summary = run(settings)
        print(summary.line(), flush=True)
        if settings.cnvrg_dataset:
            message = (f"{settings.measurement} {summary.first_time} .. {summary.last_time} "
                       f"({summary.rows} rows) from InfluxDB")
            commit = publish(settings.output_path, settings.cnvrg_dataset, message)
            print(f"uploaded to cnvrg dataset {settings.cnvrg_dataset!r}: commit {commit}", flush=True)
        return 0
    except ConnectorError as exc:
        if verbose:
            traceback.print_exc()
        print(f"error: {redact(str(exc), *secrets)}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; no file was written", file=sys.stderr, flush=True)
        return 130
    except Exception as exc:  # a bug of ours: still one line, the details with --verbose
        if verbose:
            traceback.print_exc()
        text = redact(f"{type(exc).__name__}: {exc}", *secrets)
        print(f"error: unexpected failure ({text}); rerun with --verbose True for details",
              file=sys.stderr, flush=True)
        return 1
