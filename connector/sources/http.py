"""Reading an HTTP answer whole, in bulk, and refusing one that was cut short."""
from __future__ import annotations

import ssl

from ..errors import ConnectorError, ServerRefused, ServerUnavailable

READ_SIZE = 1 << 20


def read_body(response) -> bytes:
    """All of a urllib3 response's (decoded) body.

    A chunked answer is de-chunked here in 1 MB reads from the socket: a Go server sends
    chunks of a few KB, and urllib3 handles each one in Python. A cut answer (no closing
    zero-length chunk, a short Content-Length body, a body that does not end with a line
    break) is an error, never a shorter answer.
    """
    import urllib3.exceptions as u3

    raw = _socket_file(response)
    if raw is not None:
        body = _dechunk(raw)
        response._fp._close_conn()  # read to the end: the connection can be reused
        return _decoded(body, response.headers.get("Content-Encoding"))
    pieces: list[bytes] = []
    try:
        for piece in response.stream(READ_SIZE, decode_content=True):
            pieces.append(piece)
    except u3.ReadTimeoutError:
        raise _timed_out() from None
    except (u3.ProtocolError, u3.DecodeError) as exc:
        raise ServerUnavailable(f"the server's answer was cut off: {exc}") from None
    body = b"".join(pieces)
    expected = response.headers.get("Content-Length")
    if expected is not None and expected.isdigit() and response.tell() != int(expected):
        raise ServerUnavailable(
            f"the server's answer was cut off: {response.tell()} of {expected} bytes arrived")
    if body and not body.endswith(b"\n"):
        raise ServerUnavailable("the server's answer was cut off mid-line")
    return body


def _timed_out() -> ServerUnavailable:
    return ServerUnavailable("the server stopped sending its answer and the read timed out "
                             "(see the timeout parameter)")


def _socket_file(response):
    """The buffered socket file under a chunked urllib3 response, if it is the usual kind."""
    inner = getattr(response, "_fp", None)
    if not getattr(response, "chunked", False) or inner is None or not hasattr(inner, "_close_conn"):
        return None
    raw = getattr(inner, "fp", None)
    if raw is None or not hasattr(raw, "read1") or getattr(inner, "chunk_left", None) is not None:
        return None
    return raw


def _dechunk(raw) -> bytes:
    """The payload of a chunked body, read in large pieces; ServerUnavailable if it breaks off."""
    pieces: list[memoryview] = []
    buffer = b""
    position = 0

    def more(after: int) -> None:
        nonlocal buffer, position
        try:
            data = raw.read1(READ_SIZE)
        except (TimeoutError, OSError) as exc:
            if isinstance(exc, TimeoutError) or "timed out" in str(exc):
                raise _timed_out() from None
            raise ServerUnavailable(f"the server's answer was cut off: {exc}") from None
        if not data:
            raise ServerUnavailable("the server's answer was cut off: the connection closed "
                                    "before the last chunk")
        buffer = buffer[after:] + data
        position -= after

    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            more(position)
            continue
        try:
            size = int(buffer[position:line_end].split(b";", 1)[0], 16)
        except ValueError:
            raise ServerUnavailable("the server's answer was cut off: broken chunk framing") from None
        start = line_end + 2
        if size == 0:
            while buffer.find(b"\r\n", start) != start:  # optional trailers, then an empty line
                trailer_end = buffer.find(b"\r\n", start)
                if trailer_end < 0:
                    keep = position
                    more(keep)
                    start -= keep
                    continue
                start = trailer_end + 2
            break
        while len(buffer) < start + size + 2:
            keep = position
            more(keep)
            start -= keep
        if buffer[start + size:start + size + 2] != b"\r\n":
            raise ServerUnavailable("the server's answer was cut off: broken chunk framing")
        pieces.append(memoryview(buffer)[start:start + size])
        position = start + size + 2
    body = b"".join(pieces)
    if body and not body.endswith(b"\n"):
        raise ServerUnavailable("the server's answer was cut off mid-line")
    return body


def _decoded(body: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding.lower() == "identity":
        return body
    import zlib

    if encoding.lower() in ("gzip", "x-gzip", "deflate"):
        try:
            inflater = zlib.decompressobj(wbits=47 if "gzip" in encoding.lower() else 15)
            data = inflater.decompress(body) + inflater.flush()
        except zlib.error as exc:
            raise ServerUnavailable(f"the server's compressed answer is broken: {exc}") from None
        if not inflater.eof:
            raise ServerUnavailable("the server's compressed answer was cut off")
        return data
    raise ServerUnavailable(f"the server answered in an encoding this connector does not read: {encoding}")


def tls_refused(url: str, detail: str) -> ServerRefused:
    """A certificate that does not verify will not verify on retry either."""
    return ServerRefused(f"the HTTPS certificate of {url} did not verify ({detail.strip()}); pass ssl_ca_cert "
                         f"with your CA bundle, or verify_ssl False to skip the check (not recommended)")


def unreachable(url: str, exc: BaseException, timeout_s: float, token: str) -> ConnectorError:
    """One message for every way a request can fail before the server answers."""
    import urllib3.exceptions as u3

    from ..errors import redact

    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, (u3.SSLError, ssl.SSLError)):
        return tls_refused(url, redact(str(reason), token).splitlines()[-1])
    # urllib3 1.26 makes NewConnectionError (refused, no route) a kind of ConnectTimeoutError.
    if isinstance(reason, (u3.TimeoutError, TimeoutError)) and not isinstance(reason, u3.NewConnectionError):
        return ServerUnavailable(f"InfluxDB at {url} did not answer within {timeout_s:g} s (timeout)")
    return ServerUnavailable(f"cannot reach InfluxDB at {url}: {redact(str(reason), token)}")
