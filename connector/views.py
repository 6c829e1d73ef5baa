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
    count = len(starts)
    pieces = Pieces(np.zeros(count, dtype=np.int32), starts.astype(np.int64, copy=False),
                    lengths.astype(np.int64, copy=False))
    present = lengths > 0
    validity = None if present.all() else pa.py_buffer(np.packbits(present, bitorder="little"))
    return view_array([data], pieces, validity).cast(pa.string())


def view_array(buffers: list[np.ndarray], pieces: Pieces, validity: pa.Buffer | None = None) -> pa.Array:
    """A string_view array over `buffers`: no byte is copied but the few inline ones."""
    count = len(pieces.length)
    if count and (int(pieces.length.max()) >= 2**31 or any(len(b) >= 2**31 for b in buffers)):
        raise ValueError("a piece or a buffer over 2 GiB cannot be viewed")
    words = np.zeros((count, 4), dtype=np.int32)  # per view: length, then 12 bytes
    words[:, 0] = pieces.length
    for index, data in enumerate(buffers):
        if len(data) < 4096:  # a small buffer (a constant): pad it, so no read passes its end
            data = np.concatenate([data, np.zeros(16, dtype=np.uint8)])
        rows = np.flatnonzero(pieces.buffer == index)
        if len(rows) == 0:
            continue
        starts, lengths = pieces.start[rows], pieces.length[rows]
        short = lengths <= _INLINE
        long_rows, long_starts = rows[~short], starts[~short]
        # A long piece: its first 4 bytes (the prefix Arrow compares with), buffer, offset.
        words[long_rows, 1] = _word_at(data, long_starts)
        words[long_rows, 2] = index
        words[long_rows, 3] = long_starts
        # A short piece: its bytes inside the view, zero-padded.
        short_rows, short_starts, short_lengths = rows[short], starts[short], lengths[short]
        for word in range(3):
            valid = np.clip(short_lengths - 4 * word, 0, 4)
            mask = ((np.uint64(1) << (valid * 8).astype(np.uint64)) - np.uint64(1)).astype(np.uint32)
            values = _word_at(data, short_starts + 4 * word).view(np.uint32) & mask
            words[short_rows, 1 + word] = values.view(np.int32)
    return pa.Array.from_buffers(pa.string_view(), count, [validity, pa.py_buffer(words),
                                                           *[pa.py_buffer(b) for b in buffers]])


def _word_at(data: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The 4 bytes at each start as one int32 (bytes past the buffer's end read as zero)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int32)
    if len(data) >= 4:
        # Every byte offset of the buffer seen as an (unaligned) little-endian int32.
        at = np.ndarray((len(data) - 3,), dtype="<i4", buffer=data, strides=(1,))
        inside = starts <= len(data) - 4
        if inside.all():
            return at[starts]
    else:
        inside = np.zeros(len(starts), dtype=bool)
    out = np.zeros(len(starts), dtype=np.int32)
    if inside.any():
        out[inside] = at[starts[inside]]
    for position in np.flatnonzero(~inside):  # the last few bytes of a buffer
        tail = bytes(data[int(starts[position]):int(starts[position]) + 4]).ljust(4, b"\0")
        out[position] = int.from_bytes(tail, "little", signed=True)
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
