"""One column of a part as the profile reads it: numbers (NaN for an empty cell), text,
which cells are empty, which rows a label marks, and value codes for the value counts.

A located part (see sources/raw_rows) gives numbers cast straight from the server's bytes
and empty cells from the cell positions; a parsed part gives its Arrow columns.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from .arrow_compute import call_function, pc
from .errors import DataError
from .sources.base import Part

VALUE_CAP = 200           # distinct values kept per column before it is reported as "many"
NEGATIVE_LABELS = ["", "0", "false", "no", "normal", "ok", "none"]  # a string label's "not an anomaly"


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values, NaNs as one, as np.unique gives them: np.unique imports
    numpy.ma on its first plain call (~12 ms under the GIL, once per export)."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    if ordered.dtype.kind == "f":
        keep[1:] &= ~(np.isnan(ordered[1:]) & np.isnan(ordered[:-1]))
    return ordered[keep]


def column_of(part: Part, name: str) -> pa.ChunkedArray | pa.Array | None:
    return part.column(name)


def _blank_to_null(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if len(column) and pc.min(pc.binary_length(column)).as_py() == 0:
        return pc.if_else(pc.equal(pc.binary_length(column), 0), pa.scalar(None, column.type), column)
    return column


def numbers(part: Part, name: str, kind: str | None) -> tuple[np.ndarray, bool]:
    """A numeric field as float64 (NaN = empty cell), cast in bulk from the server's text;
    and whether any cell is empty."""
    target = {"int": pa.int64(), "uint": pa.uint64()}.get(kind or "", pa.float64())
    if target == pa.float64() and part.located(name) and name in part.fields and part.fields[name] == "float":
        read = part.raw.floats(name)  # type: ignore[union-attr]
        if read is not None:
            return read
    try:
        column = part.raw.typed(name, target) if part.located(name) else column_of(part, name)  # type: ignore[union-attr]
        if column is None:
            return np.full(part.num_rows, np.nan), True
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = pc.cast(_blank_to_null(column), target)
    except pa.ArrowInvalid as exc:
        raise DataError(f"field {name!r} holds a value that is not a {kind or 'float'}: {exc}") from None
    if not pa.types.is_floating(column.type):
        # Statistics are float64: integers past 2**53 round, which is fine for min/max/mean.
        column = pc.cast(column, pa.float64(), safe=False)
    if column.null_count:
        return pc.fill_null(column, np.nan).to_numpy(), True
    return column.to_numpy(), False


def text(part: Part, name: str) -> pa.Array | None:
    column = column_of(part, name)
    if column is None:
        return None
    column = column.combine_chunks()
    if pa.types.is_boolean(column.type):
        return pc.cast(column, pa.string())
    if not pa.types.is_string(column.type):
        return column.cast(pa.string())
    return column


def empty(part: Part, name: str) -> np.ndarray:
    if part.located(name):
        return part.raw.empty(name)  # type: ignore[union-attr]
    column = column_of(part, name)
    if column is None:
        return np.ones(part.num_rows, bool)
    if pa.types.is_string(column.type):
        return pc.fill_null(pc.equal(pc.binary_length(column), 0), True).to_numpy(zero_copy_only=False)
    return pc.is_null(column).to_numpy(zero_copy_only=False)


def positive(part: Part, name: str) -> np.ndarray:
    """A bool or string label's "anomaly" rows: true, or a string not in NEGATIVE_LABELS."""
    words = text(part, name)
    if words is None:
        return np.zeros(part.num_rows, bool)
    negative = pc.is_in(pc.utf8_lower(words), value_set=pa.array(NEGATIVE_LABELS))
    return pc.fill_null(pc.invert(negative), False).to_numpy(zero_copy_only=False)


def number_codes(values: np.ndarray, empty: np.ndarray | None, low: float, high: float,
                  integral: bool) -> tuple[np.ndarray, list[str]] | None:
    """(code per row, -1 = empty; the text of each code's value) or None beyond VALUE_CAP values."""
    present = values if empty is None else values[~empty]
    if len(distinct(present[:4 * VALUE_CAP])) > VALUE_CAP:
        return None
    if high - low < 4 * VALUE_CAP and (integral or np.array_equal(present, np.floor(present))):
        shifted = values - low
        codes = (shifted if empty is None else np.where(empty, -1, shifted)).astype(np.int64)
        return codes, [number_text(low + i, integral) for i in range(int(high - low) + 1)]
    empty_rows = np.isnan(values)
    encoded = call_function("dictionary_encode", [_float_array(values, empty_rows)])  # a hash: ~9x np.unique
    if len(encoded.dictionary) > VALUE_CAP:
        return None
    indices = encoded.indices  # int32 in every pyarrow so far; the slots of nulls (NaNs) hold no defined value
    width = np.dtype(f"int{indices.type.bit_width}")
    codes = np.frombuffer(indices.buffers()[1], width, len(indices), indices.offset * width.itemsize).astype(np.int64)
    codes[empty_rows] = -1
    return codes, [number_text(v, integral) for v in encoded.dictionary.to_pylist()]


def _float_array(values: np.ndarray, nan: np.ndarray) -> pa.Array:
    """float64 values as an Arrow array, NaN (`nan`) as null: pa.array(values, from_pandas=True)
    without the numpy.ma import that pa.array makes for every numpy input."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    nulls = int(nan.sum())
    validity = pa.py_buffer(np.packbits(~nan, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(pa.float64(), len(values), [validity, pa.py_buffer(values)], null_count=nulls)


def number_text(value: float, integral: bool) -> str:
    return str(int(value)) if integral else repr(float(value))
