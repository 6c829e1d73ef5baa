"""Streaming, atomic file writers.

The file is written under a temporary name in the target folder and renamed over the
target only when complete and flushed to disk: a failed or killed run leaves no partial
file, and an older file of the same name stays as it was until the new one is whole.
"""
from __future__ import annotations

import glob
import gzip
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO

from .errors import OutputError

log = logging.getLogger("connector")
TEMP_MARK = ".partial-"


def temp_path_for(path: Path) -> Path:
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


class AtomicCsv:
    """CSV (optionally gzip) bytes to a temp file; `commit` renames it into place."""

    def __init__(self, path: Path, compress: bool = False, base: Path | None = None) -> None:
        self.path = path
        self.compress = compress
        self.base = base  # append: the new file starts as a copy of this one
        self.temp: Path | None = None
        self._raw: BinaryIO | None = None
        self._out: BinaryIO | None = None
        self.bytes_written = 0

    def __enter__(self) -> "AtomicCsv":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(self.path)
            self.temp = temp_path_for(self.path)
            self._raw = open(self.temp, "wb")
            if self.base is not None:
                with open(self.base, "rb") as old:
                    shutil.copyfileobj(old, self._raw, 1 << 24)
        except OSError as exc:
            raise OutputError(f"cannot write to {self.path.parent}: {exc.strerror or exc}") from None
        # mtime=0: the same data gives the same .gz bytes; level 1: gzip must not be the bottleneck.
        # Appending to a .gz adds a gzip member: concatenated members are one valid gzip stream.
        self._out = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=1, mtime=0) if self.compress else self._raw
        return self

    def write(self, data) -> None:
        try:
            self._out.write(data)  # type: ignore[union-attr]
        except OSError as exc:
            raise OutputError(f"writing {self.path} failed: {exc.strerror or exc}") from None
        self.bytes_written += len(data)

    def commit(self) -> None:
        try:
            if self._out is not self._raw:
                self._out.close()  # type: ignore[union-attr]
            self._raw.flush()  # type: ignore[union-attr]
            os.fsync(self._raw.fileno())  # type: ignore[union-attr]
            self._raw.close()  # type: ignore[union-attr]
            os.replace(self.temp, self.path)  # type: ignore[arg-type]
            self.temp = None
            _fsync_dir(self.path.parent)
        except OSError as exc:
            raise OutputError(f"finishing {self.path} failed: {exc.strerror or exc}") from None

    def abort(self) -> None:
        for handle in (self._out, self._raw):
            try:
                if handle is not None:
                    handle.close()
            except (OSError, ValueError):
                pass
        if self.temp is not None:
            try:
                self.temp.unlink()
            except FileNotFoundError:
                pass
            self.temp = None

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.temp is not None:
            self.abort()


def remove_stale_temps(path: Path) -> list[Path]:
    """Temp files that a killed run of ours left beside `path` (their process is gone)."""
    removed = []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}{TEMP_MARK}*"):
        pid_text = candidate.name[len(path.name) + 1 + len(TEMP_MARK):].split("-", 1)[0]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            try:
                candidate.unlink()
                removed.append(candidate)
                log.info("removed %s, left by a run that was killed", candidate.name)
            except OSError:
                pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
