"""Reading a chunked answer whole: every byte, however the reads split it, or a clear failure.

The reader here hands out the wire in reads of any size, as a socket does: a chunk header,
its CRLF or the final zero chunk can be cut anywhere between two reads. An answer cut short
at any byte is an error, never a shorter body (a shorter body would be a silently short file).
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector import ServerUnavailable
from connector.sources.http import _dechunk


class Wire:
    """A socket file whose read1 returns the next of the given read sizes (then the rest)."""

    def __init__(self, data: bytes, reads: list[int]) -> None:
        self.data, self.reads, self.position = data, list(reads), 0

    def read1(self, size: int) -> bytes:
        step = min(size, self.reads.pop(0) if self.reads else size)
        piece = self.data[self.position:self.position + step]
        self.position += len(piece)
        return piece


def chunked(payload: bytes, sizes: list[int], trailer: bytes = b"") -> bytes:
    frames, at = [], 0
    for size in sizes:
        if at >= len(payload):
            break
        piece = payload[at:at + size]
        frames.append(b"%x\r\n%b\r\n" % (len(piece), piece))
        at += len(piece)
    if at < len(payload):
        frames.append(b"%x\r\n%b\r\n" % (len(payload) - at, payload[at:]))
    return b"".join(frames) + b"0\r\n" + trailer + b"\r\n"


lines = st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=30),
                 min_size=1, max_size=40).map(lambda rows: ("\n".join(rows) + "\n").encode("utf-8"))


@settings(max_examples=300, deadline=None)
@given(lines, st.lists(st.integers(1, 64), min_size=1, max_size=20), st.lists(st.integers(1, 50), max_size=60),
       st.sampled_from([b"", b"X-Influxdb-Error: none\r\n"]))
def test_every_split_of_the_wire_gives_the_whole_body(payload, sizes, reads, trailer):
    assert _dechunk(Wire(chunked(payload, sizes, trailer), reads)) == payload


@settings(max_examples=150, deadline=None)
@given(lines, st.lists(st.integers(1, 64), min_size=1, max_size=20), st.data())
def test_a_wire_cut_anywhere_is_an_error_never_a_shorter_body(payload, sizes, data):
    wire = chunked(payload, sizes)
    cut = data.draw(st.integers(0, len(wire) - 1), label="cut")
    reads = data.draw(st.lists(st.integers(1, 50), max_size=40), label="reads")
    with pytest.raises(ServerUnavailable, match="cut off"):
        _dechunk(Wire(wire[:cut], reads))


@pytest.mark.parametrize("wire", [b"zz\r\nab\n\r\n0\r\n\r\n",      # a size that is no hex number
                                  b"3\r\nabcd\n\r\n0\r\n\r\n",     # a chunk longer than its size
                                  b"3\r\nab\n",                   # no closing zero chunk
                                  b"3\r\nabc\r\n0\r\n\r\n"])        # whole framing, the last line unended
def test_broken_framing_or_a_last_line_without_its_break_is_an_error(wire):
    with pytest.raises(ServerUnavailable, match="cut off"):
        _dechunk(Wire(wire, []))
