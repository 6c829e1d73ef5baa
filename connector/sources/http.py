"""Reading an HTTP answer whole, in bulk, and refusing one that was cut short."""
from __future__ import annotations

import ssl

from ..errors import ConnectorError, ServerRefused, ServerUnavailable

READ_SIZE = 1 << 20


def read_body(response) -> bytes:
    """All of a urllib3 response's (decoded) body.

    urllib3 raises when chunked framing breaks off; a Content-Length answer is checked
    here; and an annotated-CSV or CSV answer always ends with a line break, so a body
    that does not is a cut answer too.
    """
    import urllib3.exceptions as u3

    pieces: list[bytes] = []
    try:
        for piece in response.stream(READ_SIZE, decode_content=True):
            pieces.append(piece)
    except u3.ReadTimeoutError:
        raise ServerUnavailable("the server stopped sending its answer and the read timed out "
                                "(see the timeout parameter)") from None
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
