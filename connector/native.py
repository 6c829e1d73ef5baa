"""The C byte kernels (native.c), compiled with the machine's C compiler and loaded with ctypes.

Why C: locating cells, finding whole floats, reading times and floats, and gathering the
output's pieces are each one pass over a window's bytes, which numpy spends several
passes and large index arrays on. The kernels are an accelerator, never a requirement:
without a compiler (or with INFLUXDB_CONNECTOR_NATIVE=0) `kernels()` is None and the
numpy path, which writes the same bytes, runs instead. The shared library is cached per
source and machine in $INFLUXDB_CONNECTOR_CACHE (default ~/.cache/influxdb-connector),
so only the first run on a machine compiles (0.3 s, on a thread of its own: `prepare`).

C trusts its arguments, so every call is checked here first: dtypes, shapes, contiguity,
cell indices, and (in the gather) every piece against its buffer's size.
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
_CELLS = [_P, _I, _I, _P, _P, _P]  # data, rows, commas per row, commas, starts, ends
_SIGNATURES = {  # name: (argument types, result type)
    "icx_count": ([_P, _I, ctypes.c_int32], _I),
    "icx_locate": ([_P, _I, _I, _I, _P, _P, _P], _I),
    "icx_whole_floats": ([*_CELLS, _P, _I, _P, _P, _P, _I], _I),
    "icx_times": ([*_CELLS, _I, ctypes.c_int32, _P], _I),
    "icx_floats_many": ([*_CELLS, _P, _I, _P, _P], _I),
    "icx_runs": ([*_CELLS, _P, _I, _P, _I], _I),
    "icx_iso_time": ([_P, _I, _P, _P, _I], None),
    "icx_gather": ([_P, _P, _P, _P, _P, _P, _P, _P, _I, _P, _P, _P, _P, _I], _I),
}


def _pointer(array: np.ndarray | None, dtype: type, shape: tuple[int, ...] | None = None) -> int | None:
    """The address of an array C may read or write, after checking what C assumes of it."""
    if array is None:
        return None
    if array.dtype != dtype or not array.flags.c_contiguous or (shape is not None and array.shape != shape):
        raise TypeError(f"a C kernel needs a contiguous {np.dtype(dtype)} array of shape {shape}, "
                        f"not {array.dtype} {array.shape}")
    return array.ctypes.data


def _cells(data: np.ndarray, commas: np.ndarray, starts: np.ndarray, ends: np.ndarray,
           wanted: list[int] | tuple[int, ...] = ()) -> list:
    """The located block as the cell kernels take it (see RawRows), checked."""
    rows, per_row = len(starts), len(commas)
    if any(not 0 <= cell <= per_row for cell in wanted):
        raise IndexError(f"cells {list(wanted)} are not all within 0..{per_row}")
    if rows and (int(starts.min()) < 0 or int(ends.max()) > len(data)):
        raise IndexError("rows outside the data")
    return [_pointer(data, np.uint8), rows, per_row, _pointer(commas, np.int64, (per_row, rows)),
            _pointer(starts, np.int64, (rows,)), _pointer(ends, np.int64, (rows,))]


class Kernels:
    """Typed, checked calls into the library."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._lib = library
        for name, (argtypes, restype) in _SIGNATURES.items():
            function = getattr(library, name)
            function.argtypes = argtypes
            function.restype = restype

    def count(self, data: np.ndarray, byte: int) -> int:
        return self._lib.icx_count(_pointer(data, np.uint8), len(data), byte)

    def locate(self, data: np.ndarray, end: int, rows: int, per_row: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool] | None:
        """(commas (per_row, rows), starts, ends, crlf) of data[:end], or None if irregular."""
        if not 0 <= end <= len(data) or rows < 1 or per_row < 1:
            raise ValueError("locate needs at least one row and one comma within the data")
        commas = np.empty((per_row, rows), dtype=np.int64)
        starts = np.empty(rows, dtype=np.int64)
        ends = np.empty(rows, dtype=np.int64)
        crlf = self._lib.icx_locate(_pointer(data, np.uint8), end, rows, per_row, _pointer(commas, np.int64),
                                    _pointer(starts, np.int64), _pointer(ends, np.int64))
        return None if crlf == IRREGULAR else (commas, starts, ends, bool(crlf))

    def whole_floats(self, data: np.ndarray, commas: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                     cells: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, cell, end) of every float cell written whole, by row then cell."""
        wanted = np.asarray(sorted(cells), dtype=np.int64)
        located = _cells(data, commas, starts, ends, cells)
        cap = len(starts)
        while True:
            out = [np.empty(cap, dtype=np.int64) for _ in range(3)]
            found = self._lib.icx_whole_floats(*located, _pointer(wanted, np.int64), len(wanted),
                                               *(_pointer(a, np.int64) for a in out), cap)
            if found <= cap:
                return out[0][:found], out[1][:found], out[2][:found]
            cap = found

    def times(self, data: np.ndarray, commas: np.ndarray, starts: np.ndarray, ends: np.ndarray, cell: int,
              text: bool) -> np.ndarray | None:
        """One cell of every row as ns (RFC 3339 text, or integer ns); None when one is not read here."""
        out = np.empty(len(starts), dtype=np.int64)
        status = self._lib.icx_times(*_cells(data, commas, starts, ends, [cell]), cell, int(text),
                                     _pointer(out, np.int64))
        return None if status == IRREGULAR else out

    def floats(self, data: np.ndarray, commas: np.ndarray, starts: np.ndarray, ends: np.ndarray,
               cell: int) -> tuple[np.ndarray, bool] | None:
        """(values, whether any cell was empty: NaN there), or None when a cell is not a plain number."""
        found = self.floats_many(data, commas, starts, ends, [cell])
        return None if found is None else (found[0][0], bool(found[1][0]))

    def floats_many(self, data: np.ndarray, commas: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                    cells: list[int]) -> tuple[np.ndarray, np.ndarray] | None:
        """((len(cells), rows) float64, NaN where empty; whether each cell had an empty one),
        read in one pass over the rows; None when a cell is not a plain number."""
        wanted = np.asarray(cells, dtype=np.int64)
        out = np.empty((len(cells), len(starts)), dtype=np.float64)
        empty = np.zeros(len(cells), dtype=np.uint8)
        status = self._lib.icx_floats_many(*_cells(data, commas, starts, ends, cells), _pointer(wanted, np.int64),
                                           len(wanted), _pointer(out, np.float64), _pointer(empty, np.uint8))
        return None if status == IRREGULAR else (out, empty.astype(bool))

    def runs(self, data: np.ndarray, commas: np.ndarray, starts: np.ndarray, ends: np.ndarray, cells: list[int],
             cap: int) -> np.ndarray | None:
        """The first row of each run of rows with the same bytes in `cells`; None past `cap` runs."""
        wanted = np.asarray(cells, dtype=np.int64)
        out = np.empty(max(cap, 1), dtype=np.int64)
        found = self._lib.icx_runs(*_cells(data, commas, starts, ends, cells), _pointer(wanted, np.int64),
                                   len(wanted), _pointer(out, np.int64), min(cap, len(out)))
        return None if found == IRREGULAR else out[:found]

    def iso_time(self, ns: np.ndarray, offsets_s: np.ndarray | None, width: int) -> np.ndarray:
        """(count, width) bytes of times as render.iso_time writes them."""
        if width != (30 if offsets_s is None else 35):
            raise ValueError(f"an ISO time is 30 or 35 bytes wide, not {width}")
        ns = np.ascontiguousarray(ns, dtype=np.int64)
        offsets = None if offsets_s is None else np.ascontiguousarray(offsets_s, dtype=np.int64)
        out = np.empty((len(ns), width), dtype=np.uint8)
        self._lib.icx_iso_time(_pointer(ns, np.int64), len(ns), _pointer(offsets, np.int64, ns.shape),
                               _pointer(out, np.uint8), width)
        return out

    def gather(self, buffers: list[np.ndarray], piece_buffer: np.ndarray, piece_start: np.ndarray,
               piece_length: np.ndarray, row_first: np.ndarray, row_count: np.ndarray, order: np.ndarray | None,
               cut_first: np.ndarray, cut_position: np.ndarray, cut_buffer: np.ndarray, size: int) -> np.ndarray:
        """The rows' bytes (see icx_gather); `size` must be exactly what they add up to."""
        pieces, rows, cuts = (len(piece_buffer),), (len(row_first),), (len(cut_position),)
        order_rows = rows if order is None else (len(order),)
        if order is not None and len(order) and (int(order.min()) < 0 or int(order.max()) >= rows[0]):
            raise IndexError("the row order names rows that do not exist")
        if len(row_first) and int((row_first + row_count).max()) > pieces[0] or len(cut_first) != rows[0] + 1:
            raise IndexError("rows name pieces or cuts that do not exist")
        if len(piece_buffer) and not 0 <= int(piece_buffer.min()) <= int(piece_buffer.max()) < len(buffers):
            raise IndexError("a piece names a buffer that does not exist")
        pointers = np.array([_pointer(b, np.uint8) for b in buffers], dtype=np.uintp)
        sizes = np.array([len(b) for b in buffers], dtype=np.int64)
        out = np.empty(size, dtype=np.uint8)
        written = self._lib.icx_gather(
            _pointer(pointers, np.uintp), _pointer(sizes, np.int64), _pointer(piece_buffer, np.int32, pieces),
            _pointer(piece_start, np.int64, pieces), _pointer(piece_length, np.int64, pieces),
            _pointer(row_first, np.int64, rows), _pointer(row_count, np.int64, rows),
            _pointer(order, np.int64, order_rows), order_rows[0], _pointer(cut_first, np.int64),
            _pointer(cut_position, np.int64, cuts), _pointer(cut_buffer, np.int32, cuts), _pointer(out, np.uint8),
            size)
        if written == IRREGULAR:
            raise IndexError("a piece lies outside its buffer, or the pieces add up to more than size")
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
