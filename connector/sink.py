"""Streaming, atomic file writers: CSV, CSV.gz and Parquet.

The file is written under a temporary name in the target folder and renamed over the
target only when complete and flushed to disk: a failed or killed run leaves no partial
file, and an older file of the same name stays as it was until the new one is whole.
Temp files a killed run left behind are removed by the next run.
"""
from __future__ import annotations

import glob
import gzip
import logging
import os
import queue
import secrets
import shutil
import sys
import threading
from pathlib import Path
from typing import BinaryIO

from .errors import OutputError

log = logging.getLogger("connector")
TEMP_MARK = ".partial-"


def temp_path_for(path: Path) -> Path:
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


class AtomicFile:
    """A temp file beside `path`; `commit` makes it `path`, anything else removes it."""

    def __init__(self, path: Path, base: Path | None = None) -> None:
        self.path = path
        self.base = base  # append: the new file starts as a copy of this one
        self.temp: Path | None = None
        self._raw: BinaryIO | None = None

    def __enter__(self):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(self.path)
            self.temp = temp_path_for(self.path)
            self._raw = open(self.temp, "wb")
            if self.base is not None:
                with open(self.base, "rb") as old:
                    shutil.copyfileobj(old, self._raw, 1 << 24)
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write to {self.path.parent}: {exc.strerror or exc}") from None
        self.opened()
        return self

    def opened(self) -> None:
        """Set up the format's writer on self._raw."""

    def finish(self) -> None:
        """Flush the format's writer (trailers, footers) before the rename."""

    def commit(self) -> None:
        try:
            self.finish()
            self._raw.flush()  # type: ignore[union-attr]
            os.fsync(self._raw.fileno())  # type: ignore[union-attr]
            self._raw.close()  # type: ignore[union-attr]
            os.replace(self.temp, self.path)  # type: ignore[arg-type]
            self.temp = None
            _fsync_dir(self.path.parent)
        except OSError as exc:
            raise OutputError(f"finishing {self.path} failed: {exc.strerror or exc}") from None

    def abort(self) -> None:
        try:
            if self._raw is not None:
                self._raw.close()
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


class AtomicCsv(AtomicFile):
    """CSV bytes, optionally gzip-compressed (appending to a .gz adds a gzip member:
    concatenated members read as one stream).

    Writing (and compressing) happens on a thread of its own, a few buffers behind, so the
    next window is rendered while this one goes to disk (file writes and zlib release the GIL).
    """

    QUEUE_BUFFERS = 2

    def __init__(self, path: Path, compress: bool = False, base: Path | None = None,
                 header: bytes = b"") -> None:
        super().__init__(path, base)
        self.compress = compress
        self.header = header  # written first (not when appending to `base`, which has one)
        self._out: BinaryIO | None = None
        self._queue: queue.Queue = queue.Queue(self.QUEUE_BUFFERS)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def opened(self) -> None:
        # mtime=0: the same data gives the same .gz bytes; level 1: gzip must not be the bottleneck.
        self._out = (gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=1, mtime=0)  # type: ignore[assignment]
                     if self.compress else self._raw)
        self._thread = threading.Thread(target=self._drain, name="write", daemon=True)
        self._thread.start()
        if self.header and self.base is None:
            self.write(self.header)

    def _drain(self) -> None:
        writeback = Writeback(self._raw)  # type: ignore[arg-type]
        while True:
            data = self._queue.get()
            if data is None:
                return
            if self._failure is None:
                try:
                    self._out.write(data)  # type: ignore[union-attr]
                    writeback.after_write()
                except BaseException as exc:  # reported by the next write or by commit
                    self._failure = exc

    def _raise_failure(self) -> None:
        if self._failure is not None:
            exc = self._failure
            raise OutputError(f"writing {self.path} failed: {getattr(exc, 'strerror', None) or exc}") from None

    def write(self, data) -> None:
        self._raise_failure()
        self._queue.put(data)

    def _stop_writer(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def finish(self) -> None:
        self._stop_writer()
        self._raise_failure()
        if self._out is not self._raw and self._out is not None:
            self._out.close()

    def abort(self) -> None:
        self._stop_writer()
        if self._out is not self._raw and self._out is not None:
            try:
                self._out.close()
            except (OSError, ValueError):
                pass
        super().abort()


class AtomicParquet(AtomicFile):
    """Arrow tables, one row group per window, with the schema fixed up front."""

    def __init__(self, path: Path, schema) -> None:
        super().__init__(path)
        self.schema = schema
        self._writer = None

    def opened(self) -> None:
        import pyarrow.parquet as pq

        self._writer = pq.ParquetWriter(self._raw, self.schema, compression="snappy")
        self._writeback = Writeback(self._raw)  # type: ignore[arg-type]

    def write(self, table) -> None:
        try:
            self._writer.write_table(table)  # type: ignore[union-attr]
            self._writeback.after_write()
        except OSError as exc:
            raise OutputError(f"writing {self.path} failed: {exc}") from None

    def finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def abort(self) -> None:
        self._writer = None
        super().abort()


class Writeback:
    """Asks the kernel to start writing each finished stretch of the file to disk while the
    export goes on (Linux's sync_file_range, as databases do), so that the fsync in commit
    waits for the last few MB and not the whole file: fsync of 100 MB took 64 ms here. Only a
    hint: where the call does not exist or fails, the fsync does all of it as before."""

    EVERY = 8 << 20

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.started = raw.tell()
        self._start_writing = _sync_file_range()

    def after_write(self) -> None:
        if self._start_writing is None:
            return
        position = self.raw.tell()
        if position - self.started < self.EVERY:
            return
        self.raw.flush()
        if self._start_writing(self.raw.fileno(), self.started, position - self.started, _SYNC_FILE_RANGE_WRITE):
            self._start_writing = None  # not on this file system: leave it to fsync
        self.started = position


_SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


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
