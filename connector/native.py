"""The C byte kernels (native.c), compiled on first use with the machine's C compiler.

Why C: locating cells, finding whole floats, reading times and floats, and gathering the
output's pieces are each one pass over a window's bytes, which numpy spends several
passes and large index arrays on. The kernels are an accelerator, never a requirement:
without a compiler (or with INFLUXDB_CONNECTOR_NATIVE=0) `kernels()` is None and the
numpy path, which writes the same bytes, runs instead. The shared library is cached per
source and machine in $INFLUXDB_CONNECTOR_CACHE (default ~/.cache/influxdb-connector),
so only the first run on a machine pays the compile (about half a second).
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger("connector")

SOURCE = Path(__file__).with_name("native.c")
FLAGS = ["-O2", "-shared", "-fPIC", "-fno-strict-aliasing"]
IRREGULAR = -1

_lock = threading.Lock()
_loaded: dict[str, "Kernels | None"] = {}

_P = ctypes.c_void_p
_I = ctypes.c_int64
_SIGNATURES = {
    "icx_count": [_P, _I, ctypes.c_int32],
    "icx_locate": [_P, _I, _I, _I, _P, _P, _P],
    "icx_whole_floats": [_P, _I, _I, _P, _P, _P, _P, _I, _P, _P, _P, _I],
    "icx_times": [_P, _I, _I, _P, _P, _P, _I, ctypes.c_int32, _P],
    "icx_floats": [_P, _I, _I, _P, _P, _P, _I, _P],
    "icx_gather": [_P, _P, _P, _P, _P, _P, _P, _I, _P, _P, _P, _P, _I],
    "icx_iso_time": [_P, _I, _P, _P, _I],
    "icx_runs": [_P, _I, _I, _P, _P, _P, _P, _I, _P, _I],
    "icx_floats_many": [_P, _I, _I, _P, _P, _P, _P, _I, _P, _P],
}


def _address(array: np.ndarray | None) -> int | None:
    return None if array is None else array.ctypes.data


class Kernels:
    """Typed calls into the library. Arrays must be C-contiguous int64 unless said otherwise."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._lib = library
        for name, argtypes in _SIGNATURES.items():
            function = getattr(library, name)
            function.argtypes = argtypes
            function.restype = ctypes.c_int64

    def count(self, data: np.ndarray, byte: int) -> int:
        return self._lib.icx_count(_address(data), len(data), byte)

    def locate(self, data: np.ndarray, end: int, rows: int, per_row: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool] | None:
        """(commas (per_row, rows), starts, ends, crlf) of data[:end], or None if irregular."""
        commas = np.empty((per_row, rows), dtype=np.int64)
        starts = np.empty(rows, dtype=np.int64)
        ends = np.empty(rows, dtype=np.int64)
        crlf = self._lib.icx_locate(_address(data), end, rows, per_row, _address(commas), _address(starts),
                                    _address(ends))
        return None if crlf == IRREGULAR else (commas, starts, ends, bool(crlf))

    def whole_floats(self, data: np.ndarray, commas: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                     cells: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows, per_row = len(starts), len(commas)
        wanted = np.asarray(sorted(cells), dtype=np.int64)
        cap = rows
        while True:
            out = [np.empty(cap, dtype=np.int64) for _ in range(3)]
            found = self._lib.icx_whole_floats(_address(data), rows, per_row, _address(commas), _address(starts),
                                               _address(ends), _address(wanted), len(wanted),
                                               *(_address(a) for a in out), cap)
            if found <= cap:
                return out[0][:found], out[1][:found], out[2][:found]
            cap = found

    def times(self, data: np.ndarray, commas: np.ndarray, starts: np.ndarray, ends: np.ndarray, cell: int,
              text: bool) -> np.ndarray | None:
        out = np.empty(len(starts), dtype=np.int64)
        status = self._lib.icx_times(_address(data), len(starts), len(commas), _address(commas), _address(starts),
                                     _address(ends), cell, int(text), _address(out))
        return None if status == IRREGULAR else out

    def floats(self, data: np.ndarray, commas: np.ndarray, starts: np.ndarray, ends: np.ndarray,
               cell: int) -> tuple[np.ndarray, bool] | None:
        """(values, whether any cell was empty: NaN there), or None when a cell is not a plain number."""
        out = np.empty(len(starts), dtype=np.float64)
        status = self._lib.icx_floats(_address(data), len(starts), len(commas), _address(commas),
                                      _address(starts), _address(ends), cell, _address(out))
        return None if status == IRREGULAR else (out, bool(status))

    def runs(self, data: np.ndarray, commas: np.ndarray, starts: np.ndarray, ends: np.ndarray, cells: list[int],
             cap: int) -> np.ndarray | None:
        """The first row of each run of rows with the same bytes in `cells`; None past `cap` runs."""
        wanted = np.asarray(cells, dtype=np.int64)
        out = np.empty(max(cap, 1), dtype=np.int64)
        found = self._lib.icx_runs(_address(data), len(starts), len(commas), _address(commas), _address(starts),
                                   _address(ends), _address(wanted), len(wanted), _address(out), cap)
        return None if found == IRREGULAR else out[:found]

    def iso_time(self, ns: np.ndarray, offsets_s: np.ndarray | None, width: int) -> np.ndarray:
        """(count, width) bytes of times as render.iso_time writes them."""
        ns = np.ascontiguousarray(ns, dtype=np.int64)
        offsets = None if offsets_s is None else np.ascontiguousarray(offsets_s, dtype=np.int64)
        out = np.empty((len(ns), width), dtype=np.uint8)
        self._lib.icx_iso_time(_address(ns), len(ns), _address(offsets), _address(out), width)
        return out

    def floats_many(self, data: np.ndarray, commas: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                    cells: list[int]) -> tuple[np.ndarray, np.ndarray] | None:
        """((len(cells), rows) float64, NaN where empty; whether each cell had an empty one),
        read in one pass over the rows; None when a cell is not a plain number."""
        wanted = np.asarray(cells, dtype=np.int64)
        out = np.empty((len(cells), len(starts)), dtype=np.float64)
        empty = np.zeros(len(cells), dtype=np.uint8)
        status = self._lib.icx_floats_many(_address(data), len(starts), len(commas), _address(commas),
                                           _address(starts), _address(ends), _address(wanted), len(wanted),
                                           _address(out), _address(empty))
        return None if status == IRREGULAR else (out, empty.astype(bool))

    def gather(self, buffers: list[np.ndarray], piece_buffer: np.ndarray, piece_start: np.ndarray,
               piece_length: np.ndarray, row_first: np.ndarray, row_count: np.ndarray, order: np.ndarray | None,
               cut_first: np.ndarray, cut_position: np.ndarray, cut_buffer: np.ndarray, size: int) -> np.ndarray:
        """The rows' bytes (see icx_gather); `size` must be exactly what they add up to."""
        pointers = np.array([b.ctypes.data for b in buffers], dtype=np.uintp)
        out = np.empty(size, dtype=np.uint8)
        rows = len(row_first) if order is None else len(order)
        written = self._lib.icx_gather(
            _address(pointers), _address(piece_buffer), _address(piece_start), _address(piece_length),
            _address(row_first), _address(row_count), _address(order), rows, _address(cut_first),
            _address(cut_position), _address(cut_buffer), _address(out), size)
        if written != size:
            raise AssertionError(f"gathered {written} bytes, expected {size}")
        return out


def kernels() -> Kernels | None:
    """The kernels, built and loaded once per process; None when they cannot be (logged once)."""
    key = os.environ.get("INFLUXDB_CONNECTOR_NATIVE", "1")
    with _lock:
        if key not in _loaded:
            _loaded[key] = None if key.strip().lower() in ("0", "false", "no", "off") else _load()
        return _loaded[key]


def prepare() -> None:
    """Start building (or loading) the kernels on a thread of their own: the compiler is a
    process of its own, so on a first run it works on the other core while the export
    imports and plans, and the first window does not wait for it."""
    key = os.environ.get("INFLUXDB_CONNECTOR_NATIVE", "1")
    if key not in _loaded:
        threading.Thread(target=kernels, name="native-build", daemon=True).start()


def _cache_dir() -> Path:
    configured = os.environ.get("INFLUXDB_CONNECTOR_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "influxdb-connector"


def _load() -> Kernels | None:
    source = SOURCE.read_bytes()
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    tag = hashlib.sha256(source + " ".join(FLAGS).encode() + platform.machine().encode()).hexdigest()[:16]
    target = _cache_dir() / f"native-{tag}.so"
    try:
        if not target.exists():
            if compiler is None:
                log.info("no C compiler found: using the numpy byte path (same output, about 1.5x "
                         "slower; install gcc, or set INFLUXDB_CONNECTOR_NATIVE=0 to silence this)")
                return None
            _build(compiler, target)
        return Kernels(ctypes.CDLL(str(target)))
    except (OSError, subprocess.SubprocessError, AttributeError) as exc:
        log.info("the C kernels could not be built or loaded (%s): using the numpy byte path "
                 "(same output, slower)", _first_line(exc))
        return None


def _first_line(exc: BaseException) -> str:
    detail = getattr(exc, "stderr", None)
    text = detail.decode(errors="replace") if isinstance(detail, bytes) and detail.strip() else str(exc)
    return text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__


def _build(compiler: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        built = Path(work) / target.name
        subprocess.run([compiler, *FLAGS, "-o", str(built), str(SOURCE)], check=True, capture_output=True,
                       timeout=120, stdin=subprocess.DEVNULL)
        os.replace(built, target)  # atomic: a concurrent run sees the old state or the whole file
    log.debug("compiled the C kernels into %s (%s)", target, sys.platform)
