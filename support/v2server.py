"""An in-repo InfluxDB 2.x server for tests, demos and benchmarks (stdlib only).

Why: no InfluxDB 2.x can be installed here, yet the connector's 2.x path must be
tested against the real ``influxdb-client`` on the documented wire protocol.  This
server answers ``/api/v2/write`` (line protocol), ``/api/v2/query`` (the Flux
subset of :mod:`support.flux_subset`, annotated CSV streamed in ~4 KB chunks),
``/ping`` and ``/health`` the way InfluxDB 2.7 does, and has hooks to inject
faults (HTTP errors, cut streams, stalls, mid-stream error tables, throttling).

    with V2Server() as server:
        client = InfluxDBClient(server.url, server.token, org=server.org)

CLI: ``python -m support.v2server --port 0 --token T --org O --bucket B [--load f.lp]``
prints the URL and serves until killed.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import itertools
import json
import re
import signal
import socket
import threading
import time
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, Optional
from urllib.parse import parse_qs, urlsplit

from support.flux_subset import (
    BucketNotFound,
    Dialect,
    FluxError,
    RawSeries,
    SeriesPredicate,
    encode_error,
    encode_result,
    evaluate,
)
from support.line_protocol import PRECISION_NS, LineProtocolError, parse_lines

VERSION = "v2.7.10"
CHUNK_BYTES = 4096
_KIND_NAMES = {"float": "float", "int": "integer", "uint": "unsigned", "bool": "boolean", "string": "string"}
_ARRAY_CODES = {"float": "d", "int": "q", "uint": "Q"}
_SERIES_ESCAPE = re.compile(r"([, =])")


# --------------------------------------------------------------------------- storage


class _FieldSeries:
    """Points of one series-field, columnar, sorted lazily (last write wins)."""

    __slots__ = ("kind", "times", "values", "sorted")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.times: array[int] = array("q")
        code = _ARRAY_CODES.get(kind)
        self.values: Any = array(code) if code else []
        self.sorted = True

    def append(self, t: int, v: Any) -> None:
        if self.times and t <= self.times[-1]:
            self.sorted = False
        self.times.append(t)
        self.values.append(v)

    def extend(self, times: Sequence[int], values: Sequence[Any]) -> None:
        start = len(self.times)
        self.times.extend(times)
        self.values.extend(values)
        t = self.times
        if start and len(t) > start and t[start] <= t[start - 1]:
            self.sorted = False
        elif self.sorted and any(a >= b for a, b in zip(t[start:], t[start + 1:])):
            self.sorted = False

    def normalize(self) -> None:
        """Sort by time; of equal times keep the last written (InfluxDB overwrite)."""
        if self.sorted:
            return
        order = sorted(range(len(self.times)), key=self.times.__getitem__)
        keep: list[int] = []
        for i in order:
            if keep and self.times[keep[-1]] == self.times[i]:
                keep[-1] = i  # stable sort: later writes come later
            else:
                keep.append(i)
        times, values = self.times, self.values
        self.times = array("q", (times[i] for i in keep))
        new_values = [values[i] for i in keep]
        code = _ARRAY_CODES.get(self.kind)
        self.values = array(code, new_values) if code else new_values
        self.sorted = True

    def window(self, start: int, stop: int) -> tuple[list[int], list[Any]]:
        self.normalize()
        lo = bisect.bisect_left(self.times, start)
        hi = bisect.bisect_left(self.times, stop)
        return self.times[lo:hi].tolist(), list(self.values[lo:hi])


def _series_key(measurement: str, tags: tuple[tuple[str, str], ...], field: str) -> bytes:
    """The storage series key bytes (measurement as tag \\x00, field as \\xff): its sort order."""
    esc = lambda s: _SERIES_ESCAPE.sub(r"\\\1", s)  # noqa: E731
    body = ",".join(f"{esc(k)}={esc(v)}" for k, v in tags)
    head = b"\x00=" + esc(measurement).encode()
    return head + (b"," + body.encode() if body else b"") + b",\xff=" + esc(field).encode()


class FieldTypeConflict(ValueError):
    """A write whose field type differs from the field's existing type."""


class _Bucket:
    def __init__(self) -> None:
        self.series: dict[tuple[str, tuple[tuple[str, str], ...], str], _FieldSeries] = {}
        self.field_types: dict[tuple[str, str], str] = {}

    def get(self, measurement: str, tags: tuple[tuple[str, str], ...], field: str, kind: str) -> _FieldSeries:
        existing = self.field_types.setdefault((measurement, field), kind)
        if existing != kind:
            raise FieldTypeConflict(
                f'field type conflict: input field "{field}" on measurement "{measurement}" is type '
                f"{_KIND_NAMES[kind]}, already exists as type {_KIND_NAMES[existing]}"
            )
        key = (measurement, tags, field)
        fs = self.series.get(key)
        if fs is None:
            fs = self.series[key] = _FieldSeries(kind)
        return fs

    def conflicts(self, measurement: str, fields: dict[str, tuple[str, Any]], pending: dict[tuple[str, str], str]) -> Optional[str]:
        for name, (kind, _) in fields.items():
            existing = self.field_types.get((measurement, name)) or pending.get((measurement, name))
            if existing is not None and existing != kind:
                return (f'field type conflict: input field "{name}" on measurement "{measurement}" is type '
                        f"{_KIND_NAMES[kind]}, already exists as type {_KIND_NAMES[existing]}")
        return None


class Storage:
    """Buckets of series; thread safe; implements flux_subset.Store."""

    def __init__(self, buckets: Iterable[str]) -> None:
        self.lock = threading.RLock()
        self.buckets: dict[str, _Bucket] = {name: _Bucket() for name in buckets}
        self.generation = 0  # bumped on every write, for the answer cache

    def create_bucket(self, name: str) -> None:
        with self.lock:
            self.buckets.setdefault(name, _Bucket())

    def bucket(self, name: str) -> _Bucket:
        b = self.buckets.get(name)
        if b is None:
            raise BucketNotFound(name)
        return b

    def write_points(self, bucket: str, points: Iterable[Any]) -> tuple[int, Optional[str]]:
        """Write parsed points; a point with a conflicting field type is dropped whole.

        Returns (dropped, first conflict message)."""
        with self.lock:
            b = self.bucket(bucket)
            dropped, first_error = 0, None
            pending: dict[tuple[str, str], str] = {}
            for p in points:
                error = b.conflicts(p.measurement, p.fields, pending)
                if error:
                    dropped += 1
                    first_error = first_error or error
                    continue
                tags = tuple(sorted(p.tags.items()))
                for name, (kind, value) in p.fields.items():
                    b.get(p.measurement, tags, name, kind).append(p.time_ns, value)
            self.generation += 1
            return dropped, first_error

    def load(self, bucket: str, measurement: str, tags: dict[str, str], field: str,
             times_ns: Sequence[int], values: Sequence[Any], kind: str) -> None:
        if kind not in _KIND_NAMES:
            raise ValueError(f"kind must be one of {sorted(_KIND_NAMES)}, not {kind!r}")
        if len(times_ns) != len(values):
            raise ValueError("times_ns and values differ in length")
        with self.lock:
            fs = self.bucket(bucket).get(measurement, tuple(sorted(tags.items())), field, kind)
            fs.extend(times_ns, values)
            self.generation += 1

    def scan(self, bucket: str, start: int, stop: int, pred: SeriesPredicate) -> list[RawSeries]:
        with self.lock:
            b = self.bucket(bucket)
            out: list[tuple[bytes, RawSeries]] = []
            for (measurement, tags, field), fs in b.series.items():
                if not pred(measurement, dict(tags), field):
                    continue
                times, values = fs.window(start, stop)
                if times:
                    raw = RawSeries(measurement, tags, field, fs.kind, times, values)
                    out.append((_series_key(measurement, tags, field), raw))
        out.sort(key=lambda kv: kv[0])
        return [raw for _, raw in out]


# --------------------------------------------------------------------------- faults


@dataclass
class _Failure:
    status: int
    times: int
    retry_after: Optional[float]
    body: Optional[Any]
    match: Optional[str]


def _matches(match: Optional[str], query_text: Optional[str]) -> bool:
    """No filter: any API request; a filter: only a query whose Flux text contains it."""
    return match is None or (query_text is not None and match in query_text)


class _Faults:
    """One-shot fault hooks, each consumed by the next request it matches."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failures: list[_Failure] = []
        self.stream: dict[str, list[Any]] = {}  # kind -> [argument, match, times left]

    def add_failure(self, failure: _Failure) -> None:
        with self.lock:
            self.failures.append(failure)

    def add_stream_fault(self, kind: str, argument: Any, match: Optional[str], times: int) -> None:
        with self.lock:
            self.stream[kind] = [argument, match, times]

    def take_failure(self, query_text: Optional[str]) -> Optional[_Failure]:
        with self.lock:
            for i, f in enumerate(self.failures):
                if _matches(f.match, query_text):
                    f.times -= 1
                    if f.times <= 0:
                        self.failures.pop(i)
                    return f
            return None

    def take_stream_faults(self, query_text: str) -> dict[str, Any]:
        """The cut/stall/error_table faults this query triggers (and consumes)."""
        with self.lock:
            hits = {kind: fault[0] for kind, fault in self.stream.items() if _matches(fault[1], query_text)}
            for kind in hits:
                self.stream[kind][2] -= 1
                if self.stream[kind][2] <= 0:
                    del self.stream[kind]
            return hits


_DEFAULT_FAILURE_CODES = {400: "invalid", 401: "unauthorized", 404: "not found", 413: "request too large",
                          429: "too many requests", 500: "internal error", 503: "unavailable"}


# --------------------------------------------------------------------------- HTTP


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: Optional[dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def _json_error(status: int, code: str, message: str) -> _ApiError:
    return _ApiError(status, code, message)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    streaming = False  # set once a 200 answer has started (errors then cut the stream)
    server: "_HTTPServer"

    def setup(self) -> None:
        super().setup()
        # Go's net package sets TCP_NODELAY on every connection, so InfluxDB does too. Without
        # it the answer's last small chunk waits for the client's delayed ACK: ~40 ms a query.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def send_response(self, code: int, message: Optional[str] = None) -> None:
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())
        self.send_header("X-Influxdb-Build", "OSS")
        self.send_header("X-Influxdb-Version", VERSION)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    # -- routing
    def _dispatch(self, method: str) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self.streaming = False
        try:
            body = self._read_body()
            app.record(method, url.path, query, self.headers, body)
            if url.path in ("/ping", "/health"):
                return self._ping() if url.path == "/ping" else self._health()
            if app.latency_s:
                time.sleep(app.latency_s)
            failure = app.faults.take_failure(_query_text(url.path, body))
            if failure is not None:
                raise self._failure_error(failure)
            if url.path == "/api/v2/write" and method == "POST":
                return self._write(query, body)
            if url.path == "/api/v2/query" and method == "POST":
                return self._query(query, body)
            raise _json_error(404, "not found", "path not found")
        except _ApiError as err:
            self._send_json(err.status, {"code": err.code, "message": err.message}, err.headers)
        except OSError:  # the client went away
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - a server bug must still answer, never hang the client
            if self.streaming:
                self._abort_connection()
            else:
                self._send_json(500, {"code": "internal error", "message": f"test server bug: {exc!r}"})

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    @staticmethod
    def _failure_error(f: _Failure) -> _ApiError:
        headers = {"Retry-After": f"{f.retry_after:g}"} if f.retry_after is not None else {}
        if isinstance(f.body, dict):
            code, message = str(f.body.get("code", "")), str(f.body.get("message", ""))
        else:
            code = _DEFAULT_FAILURE_CODES.get(f.status, "internal error")
            message = str(f.body) if f.body is not None else f"injected failure {f.status}"
        return _ApiError(f.status, code, message, headers)

    # -- responses
    def _send_json(self, status: int, obj: Any, headers: Optional[dict[str, str]] = None) -> None:
        data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        if status >= 400:
            self.send_header("X-Platform-Error-Code", str(obj.get("code", "")))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _ping(self) -> None:
        self.send_response(204)
        self.end_headers()

    def _health(self) -> None:
        self._send_json(200, {"name": "influxdb", "message": "ready for queries and writes", "status": "pass",
                              "checks": [], "version": VERSION, "commit": "in-repo-test-server"})

    # -- auth and org
    def _authorize(self) -> None:
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme != "Token" or token.strip() != self.server.app.token:
            raise _json_error(401, "unauthorized", "unauthorized access")

    def _org(self, query: dict[str, str]) -> str:
        app = self.server.app
        org, org_id = query.get("org"), query.get("orgID")
        if org is None and org_id is None:
            raise _json_error(400, "invalid", "Please provide either orgID or org")
        if org_id is not None and org is None:
            if org_id != app.org_id:
                raise _json_error(404, "not found", "organization not found")
            return app.org
        if org != app.org:
            raise _json_error(404, "not found", f'organization name "{org}" not found')
        return org

    # -- write
    def _write(self, query: dict[str, str], body: bytes) -> None:
        app = self.server.app
        self._authorize()
        self._org(query)
        bucket = query.get("bucket", "")
        if bucket not in app.storage.buckets:
            raise _json_error(404, "not found", f'bucket "{bucket}" not found')
        precision = query.get("precision") or "ns"
        if precision not in PRECISION_NS:
            raise _json_error(400, "invalid", "invalid precision; valid precision units are ns, us, ms, and s")
        text = self._decode_write_body(body)
        try:
            points = parse_lines(text, precision, time.time_ns())
        except LineProtocolError as exc:
            raise _json_error(400, "invalid", str(exc)) from None
        dropped, error = app.storage.write_points(bucket, points)
        if dropped:
            raise _json_error(422, "unprocessable entity",
                              f"failure writing points to database: partial write: {error} dropped={dropped}")
        self.send_response(204)
        self.end_headers()

    def _decode_write_body(self, body: bytes) -> str:
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as exc:
                raise _json_error(400, "invalid", f"gzip: invalid header: {exc}") from None
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise _json_error(400, "invalid", "unable to parse points: invalid UTF-8") from None

    # -- query
    def _query(self, query: dict[str, str], body: bytes) -> None:
        app = self.server.app
        self._authorize()
        org = self._org(query)
        text, dialect = self._query_request(body)
        accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "").lower()
        faults = app.faults.take_stream_faults(text)
        cut, stall, error_table = faults.get("cut"), faults.get("stall"), faults.get("error_table")
        key = (org, text, repr(dialect), accepts_gzip)
        generation = app.storage.generation
        use_cache = app.cache_answers and error_table is None
        cached = app.answers.get(key, generation) if use_cache else None
        if cached is not None:
            gzipped, frames = cached
            if cut is None and stall is None:
                self._send_frames(frames, gzipped)
            else:
                self._stream(iter([_payload(frames)]), gzipped=gzipped, compress=False, cut=cut, stall=stall)
            return
        try:
            result = evaluate(text, app.storage, time.time_ns())
        except FluxError as exc:
            raise _json_error(exc.status, exc.code, exc.message) from None
        if error_table is None:
            texts: Iterator[str] = encode_result(result, dialect)
        else:
            texts = _with_error_table(encode_result(result, dialect, rows_per_piece=1, trailer=False),
                                      dialect, *error_table)
        gzipped, pieces = _gzip_decision(accepts_gzip, app.gzip_min_bytes, (t.encode("utf-8") for t in texts))
        capture: Optional[list[bytes]] = [] if use_cache else None
        if self._stream(pieces, gzipped, gzipped, cut, stall, capture) and capture is not None:
            app.answers.put(key, generation, gzipped, capture)

    def _query_request(self, body: bytes) -> tuple[str, Dialect]:
        ctype = self.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()
        if ctype == "application/vnd.flux":
            return body.decode("utf-8"), Dialect()
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            raise _json_error(400, "invalid", "failed to decode request body: invalid JSON") from None
        if not isinstance(req, dict) or not isinstance(req.get("query"), str) or not req["query"].strip():
            raise _json_error(400, "invalid", "query request body must contain a query")
        if req.get("type", "flux") != "flux":
            raise _json_error(400, "invalid", f"unknown query request type {req.get('type')}")
        extern = req.get("extern")
        if (isinstance(extern, dict) and extern.get("body")) or req.get("params"):
            raise _json_error(400, "invalid", "unsupported by the test server's Flux subset: query parameters")
        try:
            return req["query"], Dialect.from_json(req.get("dialect"))
        except FluxError as exc:
            raise _json_error(400, "invalid", exc.message) from None

    def _start_chunked(self, gzipped: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Vary", "Accept-Encoding")
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        self.streaming = True

    def _send_frames(self, frames: list[bytes], gzipped: bool) -> None:
        """A cached answer: its chunk frames as first sent, one write each (the same bytes and
        the same writes on the wire), without re-cutting and re-framing it: the benchmark's
        server must cost as little of the machine's two cores as it can."""
        self._start_chunked(gzipped)
        sender = _ChunkSender(self.wfile, self.server.app.rate_limit_bytes_per_s, None)
        try:
            for frame in frames:
                sender.send_frame(frame)
            sender.finish()
        except OSError:  # the client went away
            self.close_connection = True

    def _stream(self, pieces: Iterable[bytes], gzipped: bool, compress: bool, cut: Optional[int],
                stall: Optional[float], capture: Optional[list[bytes]] = None) -> bool:
        """Send a 200 chunked answer (cut, stall, throttle applied); True when sent whole.
        `capture` collects the chunk frames sent, for the answer cache."""
        self._start_chunked(gzipped)
        if stall:
            time.sleep(stall)
        sender = _ChunkSender(self.wfile, self.server.app.rate_limit_bytes_per_s, cut)
        try:
            for chunk in _rechunk(_gzip_stream(pieces) if compress else pieces, CHUNK_BYTES):
                if capture is not None:
                    capture.append(_frame(chunk))
                if not sender.send(chunk):
                    self._abort_connection()
                    return False
            sender.finish()
        except OSError:  # the client went away
            self.close_connection = True
            return False
        return True

    def _abort_connection(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _query_text(path: str, body: bytes) -> Optional[str]:
    """The Flux text of a query request (for fault matching), else None."""
    if path != "/api/v2/query":
        return None
    try:
        req = json.loads(body)
        return req.get("query") if isinstance(req, dict) else None
    except ValueError:
        return body.decode("utf-8", "replace")


def _with_error_table(pieces: Iterator[str], dialect: Dialect, after_bytes: int, message: str) -> Iterator[str]:
    """Rows until at least after_bytes are out, then the mid-stream error table."""
    sent = 0
    for piece in pieces:
        if sent >= after_bytes:
            break
        yield piece
        sent += len(piece.encode("utf-8"))
    yield encode_error(message, dialect, written=sent > 0)


def _gzip_decision(accepts: bool, min_bytes: int, pieces: Iterator[bytes]) -> tuple[bool, Iterator[bytes]]:
    """Gzip when the client accepts it and the answer reaches ``min_bytes`` (peeked ahead)."""
    if not accepts or min_bytes <= 0:
        return accepts, pieces
    head: list[bytes] = []
    size = 0
    for piece in pieces:
        head.append(piece)
        size += len(piece)
        if size >= min_bytes:
            break
    return size >= min_bytes, itertools.chain(head, pieces)


def _gzip_stream(pieces: Iterable[bytes]) -> Iterator[bytes]:
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    for piece in pieces:
        out = comp.compress(piece)
        if out:
            yield out
    yield comp.flush()


def _rechunk(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Re-cut a byte stream into chunks of ``size`` (the last may be shorter)."""
    buf = bytearray()
    for piece in pieces:
        buf += piece
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


def _frame(chunk: bytes) -> bytes:
    """One chunk as HTTP/1.1 chunked framing puts it on the wire."""
    return b"%x\r\n%b\r\n" % (len(chunk), chunk)


def _payload(frames: list[bytes]) -> bytes:
    """The body that chunk frames carry."""
    return b"".join(frame[frame.index(b"\r\n") + 2:-2] for frame in frames)


class _ChunkSender:
    """HTTP/1.1 chunked framing with an optional byte budget and rate limit."""

    def __init__(self, wfile: Any, rate: Optional[float], cut_after: Optional[int]) -> None:
        self.wfile, self.rate, self.budget = wfile, rate, cut_after
        self.sent = 0
        self.t0 = time.monotonic()

    def send(self, chunk: bytes) -> bool:
        """Send one chunk; False when the cut budget is spent (stream must be cut)."""
        if self.budget is not None:
            chunk = chunk[: max(0, self.budget - self.sent)]
        if chunk:
            self.wfile.write(_frame(chunk))
            self.wfile.flush()
            self.sent += len(chunk)
            self._throttle()
        return self.budget is None or self.sent < self.budget

    def send_frame(self, frame: bytes) -> None:
        """Send one chunk already framed (no budget: cached answers are sent whole)."""
        self.wfile.write(frame)
        self.wfile.flush()
        if self.rate:
            self.sent += len(frame) - frame.index(b"\r\n") - 4
            self._throttle()

    def _throttle(self) -> None:
        if self.rate:
            ahead = self.sent / self.rate - (time.monotonic() - self.t0)
            if ahead > 0:
                time.sleep(ahead)

    def finish(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: "V2Server"


# --------------------------------------------------------------------------- public API


class _AnswerCache:
    """Encoded answers per (org, query, dialect, gzip), as the chunk frames first sent, valid
    for one storage generation."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[Any, tuple[int, bool, list[bytes]]] = {}

    def get(self, key: Any, generation: int) -> Optional[tuple[bool, list[bytes]]]:
        with self.lock:
            hit = self.entries.get(key)
        if hit is None or hit[0] != generation:
            return None
        return hit[1], hit[2]

    def put(self, key: Any, generation: int, gzipped: bool, frames: list[bytes]) -> None:
        with self.lock:
            self.entries[key] = (generation, gzipped, frames)


class RecordedRequest(NamedTuple):
    """One received request: (method, path, query-string dict, body as JSON, text or None)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any


class V2Server:
    """A local InfluxDB 2.x lookalike on 127.0.0.1 (a free port); a context manager."""

    def __init__(self, token: str = "test-token", org: str = "test-org", buckets: Sequence[str] = ("test-bucket",),
                 gzip_min_bytes: int = 0, rate_limit_bytes_per_s: Optional[float] = None,
                 latency_s: float = 0.0, cache_answers: bool = False, port: int = 0) -> None:
        self.token, self.org, self.org_id = token, org, "0000000000000001"
        self.gzip_min_bytes = gzip_min_bytes  # gzip (when accepted) only answers at least this long
        self.rate_limit_bytes_per_s = rate_limit_bytes_per_s
        self.latency_s = latency_s
        self.cache_answers = cache_answers
        self.storage = Storage(buckets)
        self.faults = _Faults()
        self.requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self.answers = _AnswerCache()
        self._port = port
        self._httpd: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle
    def start(self) -> "V2Server":
        if self._httpd is None:
            self._httpd = _HTTPServer(("127.0.0.1", self._port), _Handler)
            self._httpd.app = self
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="v2server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "V2Server":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- data
    def create_bucket(self, name: str) -> None:
        self.storage.create_bucket(name)

    def load_points(self, bucket: str, measurement: str, tags: dict[str, str], field: str,
                    times_ns: Sequence[int], values: Sequence[Any], kind: str) -> None:
        """Bulk-load one series-field, bypassing HTTP (benchmarks); raises on a type conflict."""
        self.storage.load(bucket, measurement, tags, field, times_ns, values, kind)

    def load_line_protocol(self, bucket: str, text: str, precision: str = "ns") -> None:
        dropped, error = self.storage.write_points(bucket, parse_lines(text, precision, time.time_ns()))
        if dropped:
            raise FieldTypeConflict(f"{error} dropped={dropped}")

    # -- fault injection
    def fail_next(self, status: int, times: int = 1, retry_after: Optional[float] = None, body: Any = None,
                  match: Optional[str] = None) -> None:
        """The next ``times`` API requests (only queries containing ``match``, if given) answer
        ``status`` with a JSON body (``body``: a message or a {code, message} dict) and Retry-After."""
        self.faults.add_failure(_Failure(status, times, retry_after, body, match))

    def cut_next(self, after_bytes: int, match: Optional[str] = None, times: int = 1) -> None:
        """The next ``times`` query answers (containing ``match``, if given) send ``after_bytes``
        body bytes, then the socket closes without the terminating chunk."""
        self.faults.add_stream_fault("cut", after_bytes, match, times)

    def stall_next(self, seconds: float, match: Optional[str] = None, times: int = 1) -> None:
        """The next ``times`` query answers send their headers, then nothing for ``seconds``, then the body."""
        self.faults.add_stream_fault("stall", seconds, match, times)

    def error_table_next(self, after_bytes: int, message: str, match: Optional[str] = None, times: int = 1) -> None:
        """The next ``times`` query answers (200) end, after at least ``after_bytes`` of rows, with
        InfluxDB's mid-stream error table carrying ``message``."""
        self.faults.add_stream_fault("error_table", (after_bytes, message), match, times)

    # -- bookkeeping used by the handler
    def record(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes) -> None:
        if headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                pass
        decoded: Any = None
        if body:
            text = body.decode("utf-8", "replace")
            try:
                decoded = json.loads(text) if "json" in headers.get("Content-Type", "") else text
            except ValueError:
                decoded = text
        with self._requests_lock:
            self.requests.append(RecordedRequest(method, path, query, decoded))


# --------------------------------------------------------------------------- CLI


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support.v2server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--org", default="test-org")
    parser.add_argument("--bucket", action="append", default=None, help="repeatable")
    parser.add_argument("--load", metavar="FILE.lp", help="line protocol (ns) loaded into the first bucket")
    args = parser.parse_args(argv)
    buckets = args.bucket or ["test-bucket"]
    server = V2Server(token=args.token, org=args.org, buckets=buckets, port=args.port)
    if args.load:
        with open(args.load, encoding="utf-8") as fh:
            server.load_line_protocol(buckets[0], fh.read())
    server.start()
    print(server.url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
