"""Byte pieces of several buffers, gathered into one contiguous run in a single copy.

A CSV row of the output is mostly bytes the server already sent: the cells after the
time, in the same order. Rather than parsing them and joining them again, each row is
described as a few pieces (the new time text, a slice of the server's row, a '.0', a
line break) and Arrow's string_view type does the gather: a view is 16 bytes saying
"length, then either the bytes inline (up to 12) or buffer, offset", and casting a view
array to a plain string array copies every piece once, in view order, in C++.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

_INLINE = 12  # a piece this short is stored inside its view, not referenced
# _KEEP[n]: a mask keeping the first n of 12 bytes (what an inline view of length n holds).
_KEEP = np.where(np.arange(_INLINE)[None, :] < np.arange(_INLINE + 1)[:, None], 255, 0).astype(np.uint8)


@dataclass(frozen=True)
class Pieces:
    """Pieces in output order: which buffer, where, how long (three equal-length arrays)."""

    buffer: np.ndarray   # int32 index into the buffer list
    start: np.ndarray    # int64 offset in that buffer
    length: np.ndarray   # int64

    @staticmethod
    def concat(parts: list["Pieces"]) -> "Pieces":
        return Pieces(np.concatenate([p.buffer for p in parts]), np.concatenate([p.start for p in parts]),
                      np.concatenate([p.length for p in parts]))

    def take(self, index: np.ndarray) -> "Pieces":
        return Pieces(self.buffer[index], self.start[index], self.length[index])


def gather(buffers: list[np.ndarray], pieces: Pieces) -> pa.Buffer:
    """The pieces' bytes, one after another, as one buffer."""
    if len(pieces.length) == 0:
        return pa.py_buffer(b"")
    joined = view_array(buffers, pieces).cast(pa.large_string())
    return joined.buffers()[2].slice(0, int(pieces.length.sum()))


def strings(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """One string per piece of `data`; an empty piece is null (an empty CSV cell)."""
    return typed(data, starts, lengths, pa.string())


def typed(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, kind: pa.DataType) -> pa.Array:
    """Pieces of `data` cast to `kind` (numbers parsed from their text); empty is null."""
    count = len(starts)
    pieces = Pieces(np.zeros(count, dtype=np.int32), starts.astype(np.int64, copy=False),
                    lengths.astype(np.int64, copy=False))
    present = lengths > 0
    validity = None if present.all() else pa.py_buffer(np.packbits(present, bitorder="little"))
    return view_array([data], pieces, validity).cast(kind)


def view_array(buffers: list[np.ndarray], pieces: Pieces, validity: pa.Buffer | None = None) -> pa.Array:
    """A string_view array over `buffers`: no byte is copied but the few inline ones."""
    count = len(pieces.length)
    if count and (int(pieces.length.max()) >= 2**31 or any(len(b) >= 2**31 for b in buffers)):
        raise ValueError("a piece or a buffer over 2 GiB cannot be viewed")
    # Each view: length, then the piece's first 12 bytes; a piece longer than 12 keeps only
    # 4 of them (the prefix Arrow compares with) and says buffer and offset in the other 8.
    words = np.empty((count, 4), dtype=np.int32)
    words[:, 0] = pieces.length
    if len(buffers) == 1:
        _fill_views(words, buffers[0], 0, pieces.start, pieces.length)
    else:
        for index, data in enumerate(buffers):
            rows = np.flatnonzero(pieces.buffer == index)
            if len(rows) == count:
                _fill_views(words, data, index, pieces.start, pieces.length)
            elif len(rows):
                part = np.empty((len(rows), 4), dtype=np.int32)
                _fill_views(part, data, index, pieces.start[rows], pieces.length[rows])
                words[rows, 1:] = part[:, 1:]
    return pa.Array.from_buffers(pa.string_view(), count, [validity, pa.py_buffer(words),
                                                           *[pa.py_buffer(b) for b in buffers]])


def _fill_views(words: np.ndarray, data: np.ndarray, index: int, starts: np.ndarray,
                lengths: np.ndarray) -> None:
    """Columns 1..3 of the views of pieces of one buffer."""
    short = lengths <= _INLINE
    if short.all():
        head = _bytes_at(data, starts, _INLINE)
        head &= _KEEP[lengths]
        words[:, 1:] = head.view(np.int32)
        return
    words[:, 1] = _bytes_at(data, starts, 4).view(np.int32)[:, 0]
    words[:, 2] = index
    words[:, 3] = starts
    if short.any():
        rows = np.flatnonzero(short)
        head = _bytes_at(data, starts[rows], _INLINE)
        head &= _KEEP[lengths[rows]]
        words[rows, 1:] = head.view(np.int32)


def _bytes_at(data: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """(len(starts), width) bytes: the `width` bytes at each start (zero past the buffer's end)."""
    if len(data) < width:
        data = np.concatenate([data, np.zeros(width, dtype=np.uint8)])
    # Every byte offset of the buffer seen as the start of a `width`-byte row: one gather.
    rows = np.lib.stride_tricks.as_strided(data, shape=(len(data) - width + 1, width), strides=(1, 1))
    inside = starts <= len(data) - width
    if inside.all():
        return rows[starts]
    out = np.zeros((len(starts), width), dtype=np.uint8)
    out[inside] = rows[starts[inside]]
    for position in np.flatnonzero(~inside):  # the last few bytes of a buffer
        tail = data[int(starts[position]):]
        out[position, :len(tail)] = tail
    return out


def per_row(counts: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """Indexes of pieces listed row by row (`counts[r]` pieces for row r), rows in `order`."""
    first = np.cumsum(counts) - counts
    if order is None:
        return np.arange(int(counts.sum()))
    counts_ordered = counts[order]
    total = int(counts_ordered.sum())
    starts_out = np.cumsum(counts_ordered) - counts_ordered
    return np.repeat(first[order] - starts_out, counts_ordered) + np.arange(total)
