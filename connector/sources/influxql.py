"""InfluxDB 1.x, 1.8 and 3.x through the 1.x /query API (InfluxQL), with urllib3.

Small questions (keys, first/last time, counts) are asked in JSON, which carries the
server's errors; windows of points are fetched as chunked CSV (`Accept:
application/csv`), which is compact, streams past the server's row limit, and is
parsed in bulk by Arrow. Times arrive as nanosecond integers (epoch=ns).
"""
from __future__ import annotations

import base64
import csv
import io
import json
import logging
import threading
from dataclasses import replace
from typing import Any

import pyarrow as pa

from .. import query
from ..config import Settings
from ..errors import ConnectorError, DataError, ParameterError, ServerRefused, ServerUnavailable, redact
from ..timerange import Window
from .annotated_csv import located, read_rows
from .base import TIME_COLUMN, Part, Plan, concurrently, resampled_fields, unify_kinds
from .http import read_body, unreachable

log = logging.getLogger("connector")
CHUNK_ROWS = 50_000
_KIND_OF = {"float": "float", "integer": "int", "unsigned": "uint", "boolean": "bool", "string": "string"}
_pools: dict[tuple, Any] = {}
_pools_lock = threading.Lock()


def pool_for(settings: Settings):
    """One urllib3 pool per (URL, TLS settings); certificates verified unless opted out."""
    import urllib3

    key = (settings.url, settings.verify_ssl, settings.ssl_ca_cert)
    with _pools_lock:
        if key not in _pools:
            if not settings.verify_ssl:
                _pools[key] = urllib3.PoolManager(maxsize=16, cert_reqs="CERT_NONE")
            else:
                ca_certs = settings.ssl_ca_cert
                if ca_certs is None:
                    try:
                        import certifi

                        ca_certs = certifi.where()
                    except ImportError:
                        ca_certs = None
                _pools[key] = urllib3.PoolManager(maxsize=16, cert_reqs="CERT_REQUIRED", ca_certs=ca_certs)
        return _pools[key]


def _auth_headers(token: str) -> dict[str, str]:
    if not token:
        return {}
    if ":" in token:  # 1.x user:password
        return {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}
    return {"Authorization": f"Token {token}"}  # 3.x token (or 1.8's Token user:password)


class InfluxQLSource:
    api = "v1"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        database, _, retention = settings.bucket.partition("/")
        if not database:
            raise ParameterError(f"bucket: {settings.bucket!r} is not a database or database/retention_policy")
        self.database = database
        self.retention = retention or None
        self.selection = query.Selection(settings.bucket, settings.measurement, settings.fields,
                                         settings.tag_filter)
        self._tags: tuple[str, ...] = ()
        self._kinds: dict[str, str] = {}
        self._windows: query.Selection | None = None  # what each window asks for, set by plan()

    def close(self) -> None:
        pass

    # -- HTTP -----------------------------------------------------------------

    def _request(self, influxql: str, csv_answer: bool) -> bytes:
        import urllib3

        log.debug("influxql query: %s", influxql)
        params = {"db": self.database, "epoch": "ns", "q": influxql}
        if self.retention:
            params["rp"] = self.retention
        if csv_answer:
            params.update(chunked="true", chunk_size=str(CHUNK_ROWS))
        headers = {"Accept": "application/csv" if csv_answer else "application/json",
                   **_auth_headers(self.settings.token)}
        try:
            response = pool_for(self.settings).request(
                "POST", self.settings.url + "/query", fields=params, encode_multipart=False, headers=headers,
                preload_content=False, retries=False,
                timeout=urllib3.Timeout(connect=self.settings.timeout_s, read=self.settings.timeout_s),
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            s = self.settings
            raise unreachable(s.url, exc, s.timeout_s, s.token) from None
        try:
            if response.status != 200:
                raise self._refusal(response)
            return read_body(response)
        finally:
            response.release_conn()

    def _refusal(self, response) -> ConnectorError:
        body = response.data.decode("utf-8", "replace")
        message = response.headers.get("X-Influxdb-Error") or ""
        try:
            message = json.loads(body).get("error") or message
        except (ValueError, AttributeError):
            message = message or body.strip().splitlines()[-1:] and body.strip().splitlines()[-1].strip('"') or ""
        said = redact(message or response.reason or "no message", self.settings.token)
        status = response.status
        if status in (401, 403):
            return ServerRefused(f"InfluxDB refused the credentials ({status}): {said}; check token", status)
        if status == 404:
            return ServerRefused(f"InfluxDB answered 404 for {self.settings.url}/query: {said}; check url", status)
        if status == 400:
            return ServerRefused(f"InfluxDB rejected the query (400): {said}", status)
        if status in (429, 500, 502, 503, 504):
            retry = response.headers.get("Retry-After")
            return ServerUnavailable(f"InfluxDB is unavailable ({status}): {said}", status,
                                     float(retry) if retry and retry.isdigit() else None)
        return ServerRefused(f"InfluxDB answered {status}: {said}", status)

    def _series(self, influxql: str) -> list[dict[str, Any]]:
        """The series of a JSON answer; a statement error is the server refusing."""
        answer = json.loads(self._request(influxql, csv_answer=False))
        if answer.get("error"):
            raise ServerRefused(f"InfluxDB: {redact(answer['error'], self.settings.token)}")
        series: list[dict[str, Any]] = []
        for result in answer.get("results", []):
            if result.get("error"):
                error = redact(result["error"], self.settings.token)
                hint = "; check bucket (database or database/retention_policy)" if "not found" in error else ""
                raise ServerRefused(f"InfluxDB: {error}{hint}")
            series += result.get("series", [])
        return series

    # -- the Source protocol --------------------------------------------------

    def describe(self, plan_only: bool = False) -> list[str]:
        s, sel = self.settings, self.selection
        resampled = replace(sel, every_ns=s.every_ns, agg=s.agg, fill=s.fill)
        queries = [query.influxql_show("tags", sel), query.influxql_show("fields", sel),
                   query.influxql_edge_time(sel, s.start_ns, s.stop_ns, last=False),
                   query.influxql_edge_time(sel, s.start_ns, s.stop_ns, last=True)]
        if not plan_only:
            queries.append(self._window_query(Window(s.start_ns, s.stop_ns), resampled))
        return queries

    def plan(self) -> Plan:
        s, sel = self.settings, self.selection
        # One question alone (a wrong password or database fails once), then the rest at once.
        tag_series = self._series(query.influxql_show("tags", sel))
        field_series, first, last = concurrently(
            lambda: self._series(query.influxql_show("fields", sel)),
            lambda: self._edge(sel, last=False), lambda: self._edge(sel, last=True))
        tags = sorted({row[0] for serie in tag_series for row in serie.get("values", [])})
        kinds: dict[str, list[str]] = {}
        for serie in field_series:
            for name, kind in serie.get("values", []):
                kinds.setdefault(name, []).append(_KIND_OF.get(kind, "string"))
        self._kinds = {name: unify_kinds(k) for name, k in kinds.items()}
        self._tags = tuple(tags)
        fields = dict(sorted(self._kinds.items()))
        # Every field named, not `SELECT *`: the answer's columns come in the output's order.
        self._windows = replace(sel, fields=sel.fields or tuple(fields)) if fields else sel
        if s.every_ns:
            chosen, fields = resampled_fields(fields, sel.fields, s.agg)
            self._kinds = dict(fields)
            self._windows = replace(sel, fields=chosen, every_ns=s.every_ns, agg=s.agg, fill=s.fill)
        if first is None:
            return Plan(self._tags, fields, 0, -1)
        return Plan(self._tags, fields, first, first if last is None else last)

    def _edge(self, sel: query.Selection, last: bool) -> int | None:
        s = self.settings
        for serie in self._series(query.influxql_edge_time(sel, s.start_ns, s.stop_ns, last)):
            for row in serie.get("values", []):
                return int(row[0])
        return None

    def _window_query(self, window: Window, selection: query.Selection | None = None) -> str:
        """The window's SELECT, then a SHOW that must answer too: a CSV answer hides errors, so
        a missing SHOW table is how a killed, timed-out or failed SELECT shows itself."""
        chosen = selection or self._windows or self.selection
        return (query.influxql_window(chosen, window, self._tags) + "; "
                + query.influxql_show("fields", self.selection))

    def fetch(self, window: Window) -> list[Part]:
        return self.parse(window, self.download(window))

    def download(self, window: Window) -> bytes:
        return self._request(self._window_query(window), csv_answer=True)

    def parse(self, window: Window, body: bytes) -> list[Part]:
        end = _completion_mark(body)
        if end is None:
            raise ServerUnavailable(
                f"InfluxDB's answer for {window} ended before the query finished "
                f"(it was killed, timed out or failed on the server)")
        return self.parse_csv(body[:end])

    def parse_csv(self, body: bytes) -> list[Part]:
        """1.x CSV: name,tags,time, then the columns (fields and tags, sorted together)."""
        if not body.strip(b"\r\n"):
            return []
        header_end = _line_end(body)
        header = next(csv.reader(io.StringIO(body[:header_end].decode("utf-8"))))
        if header == ["error"]:
            message = body[header_end:].decode("utf-8", "replace").strip().strip('"')
            raise ServerRefused(f"InfluxDB: {redact(message, self.settings.token)}")
        if header[:3] != ["name", "tags", "time"]:
            raise DataError(f"the server's CSV answer starts with an unexpected header: {header[:3]}")
        positional = [f"c{i}" for i in range(len(header))]
        types: dict[str, pa.DataType] = {"c2": pa.int64()}
        tags, fields = [], {}
        for position, name in enumerate(header[3:], start=3):
            if name in self._tags:
                tags.append(name)
                types[f"c{position}"] = pa.string()
            elif name in self._kinds:
                fields[name] = self._kinds[name]
                types[f"c{position}"] = pa.string()
        quoted = b'"' in body
        grouped = self._windows is not None and bool(self._windows.every_ns)  # GROUP BY *: tags in a cell
        if not quoted and not grouped:
            raw = located(memoryview(body)[header_end + 1:], header, [*tags, *fields], 2, time_text=False,
                          floats=[f for f, k in fields.items() if k == "float"])
            if raw is not None:
                return [Part(tuple(tags), fields, quoted=False, raw=raw)]
        try:
            table = read_rows(body[header_end + 1:], positional, types)
        except DataError:
            if b"\nerror\n" in body:
                tail = body[body.rindex(b"\nerror\n") + 7:].decode("utf-8", "replace").strip().strip('"')
                raise ServerUnavailable(f"the query failed while the server was answering: {tail}") from None
            raise
        names = {f"c{i}": name for i, name in enumerate(header)}
        renamed = table.rename_columns([TIME_COLUMN if c == "c2" else names[c] for c in table.column_names])
        if grouped:
            series = read_rows(body[header_end + 1:], positional, {"c1": pa.string()}).column("c1")
            renamed, tags = _with_series_tags(renamed, series)
        return [Part(tuple(tags), fields, renamed, quoted=quoted)]


def _line_end(body: bytes) -> int:
    """Index of the newline that ends the first CSV record (quotes may hold newlines)."""
    position = body.find(b"\n")
    while position >= 0 and body.count(b'"', 0, position) % 2:
        position = body.find(b"\n", position + 1)
    return position if position >= 0 else len(body)


_MARK = b"name,tags,fieldKey,fieldType\n"


def _completion_mark(body: bytes) -> int | None:
    """Where the trailing SHOW FIELD KEYS table starts (outside quotes), or None."""
    if body.startswith(_MARK):
        return 0
    position = body.rfind(b"\n\n" + _MARK)
    while position >= 0:
        if body.count(b'"', 0, position) % 2 == 0:
            return position + 1
        position = body.rfind(b"\n\n" + _MARK, 0, position)
    return None


def _with_series_tags(table: pa.Table, series: pa.ChunkedArray) -> tuple[pa.Table, list[str]]:
    """GROUP BY * puts a row's tags in one cell, `k=v,k2=v2` escaped as in line protocol:
    turn them into tag columns (parsed once per distinct series, not per row)."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(series.combine_chunks())
    parsed = [_parse_tag_set(text or "") for text in encoded.dictionary.to_pylist()]
    keys = sorted({key for tags in parsed for key in tags})
    indices = encoded.indices
    for key in keys:
        values = pa.array([tags.get(key) for tags in parsed], pa.string())
        table = table.append_column(key, pc.take(values, indices))
    return table, keys


def _parse_tag_set(text: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    pair: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "=" and not pair:
            pair.append("".join(current))
            current = []
        elif ch == ",":
            if pair:
                tags[pair[0]] = "".join(current)
            pair, current = [], []
        else:
            current.append(ch)
    if pair:
        tags[pair[0]] = "".join(current)
    return tags
