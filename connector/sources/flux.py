"""InfluxDB 2.x and Cloud through Flux, with influxdb-client as the HTTP client.

Every answer is read as raw bytes (query_raw, urllib3 underneath), gathered in large
pieces and parsed in bulk; influxdb-client's and urllib3's errors are translated into
ours here and nowhere else.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import replace
from typing import Iterator

import pyarrow as pa

from .. import query
from ..config import Settings
from ..errors import ConnectorError, ServerRefused, ServerUnavailable, redact
from ..timerange import Window
from .annotated_csv import block_field_kinds, parse_block, probe_tables, split_blocks
from .base import Part, Plan, concurrently, resampled_fields, unify_kinds
from .http import read_body, tls_refused, unreachable

log = logging.getLogger("connector")


class FluxSource:
    api = "v2"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._windows: query.Selection | None = None  # what each window asks for, set by plan()
        self.selection = query.Selection(settings.bucket, settings.measurement, settings.fields,
                                         settings.tag_filter)
        self._client = None

    # -- plumbing -------------------------------------------------------------

    def _query_api(self):
        if self._client is None:
            from influxdb_client import InfluxDBClient  # costs ~0.5 s: only on this path

            s = self.settings
            self._client = InfluxDBClient(
                url=s.url, token=s.token, org=s.org, timeout=int(s.timeout_s * 1000), enable_gzip=False,
                verify_ssl=s.verify_ssl, ssl_ca_cert=s.ssl_ca_cert, retries=False,
            )
        return self._client.query_api()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _answer(self, flux: str) -> bytes:
        log.debug("flux query:\n%s", flux)
        api = self._query_api()
        with self._translated():
            response = api.query_raw(flux, org=self.settings.org)
            try:
                return read_body(response)
            finally:
                response.release_conn()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """influxdb-client / urllib3 errors -> ours, with the server's own words."""
        from influxdb_client.rest import ApiException
        import urllib3.exceptions as u3

        try:
            yield
        except ConnectorError:
            raise
        except ApiException as exc:
            raise _from_status(exc.status, getattr(exc, "message", None) or exc.reason,
                               exc.headers, self.settings) from None
        except (u3.MaxRetryError, u3.NewConnectionError, u3.TimeoutError, u3.ProtocolError,
                ConnectionError, OSError) as exc:
            s = self.settings
            raise unreachable(s.url, exc, s.timeout_s, s.token) from None

    # -- the Source protocol --------------------------------------------------

    def describe(self, plan_only: bool = False) -> list[str]:
        sel, s = self.selection, self.settings
        resampled = replace(sel, every_ns=s.every_ns, agg=s.agg, fill=s.fill)
        queries = [
            query.flux_schema("tags", sel, s.start_ns, s.stop_ns),
            query.flux_schema("fields", sel, s.start_ns, s.stop_ns),
            query.flux_first_time(sel, s.start_ns, s.stop_ns),
            query.flux_last_time(sel, s.start_ns, s.stop_ns),
        ]
        if not plan_only:
            queries.append(query.flux_window(resampled, Window(s.start_ns, s.stop_ns)))
        return queries

    def _keys(self, kind: str) -> list[str]:
        s = self.settings
        names: list[str] = []
        for table in self._tables_with_value(query.flux_schema(kind, self.selection, s.start_ns, s.stop_ns)):
            if "_value" in table.column_names:
                names += [v for v in table.column("_value").to_pylist() if v is not None]
        return names

    def plan(self) -> Plan:
        s, sel = self.settings, self.selection
        # One question alone (a wrong token or bucket fails once), then the rest at once.
        tag_keys = self._keys("tags")
        typed = s.output_format == "parquet" or bool(s.every_ns)  # a Parquet schema, an aggregate
        field_keys, first, last, found_kinds = concurrently(
            lambda: self._keys("fields"),
            lambda: self._single_time(query.flux_first_time(sel, s.start_ns, s.stop_ns)),
            lambda: self._single_time(query.flux_last_time(sel, s.start_ns, s.stop_ns)),
            lambda: self._field_kinds() if typed else {})
        tags = sorted(set(tag_keys) - query.FLUX_META_TAGS)
        fields = sorted(set(field_keys))
        kinds: dict[str, str | None] = {f: None for f in fields}
        kinds.update(found_kinds)
        self._windows = self.selection
        if s.every_ns:
            chosen, kinds = resampled_fields(kinds, sel.fields, s.agg)
            self._windows = replace(sel, fields=chosen, every_ns=s.every_ns, agg=s.agg, fill=s.fill)
        if first is None:
            return Plan(tuple(tags), kinds, 0, -1)
        return Plan(tuple(tags), kinds, first, first if last is None else last)

    def _field_kinds(self) -> dict[str, str]:
        """Each field's type, from the #datatype of its first point in every series."""
        s = self.settings
        seen: dict[str, list[str]] = {}
        for block in split_blocks(self._answer(query.flux_field_types(self.selection, s.start_ns, s.stop_ns))):
            for name, kind in block_field_kinds(block):
                seen.setdefault(name, []).append(kind)
        return {name: unify_kinds(found) for name, found in seen.items()}

    def _single_time(self, flux: str) -> int | None:
        for part in self._tables_with_value(flux):
            # the timestamps' int64 ns as they are (a view: a cast would import pyarrow.compute)
            times = [t for chunk in part.column("_time").chunks for t in chunk.view(pa.int64()).to_pylist()
                     if t is not None]
            if times:
                return times[0]
        return None

    def _tables_with_value(self, flux: str):
        """Probe answers are tiny: parse them with every column typed."""
        return probe_tables(self._answer(flux))

    def fetch(self, window: Window) -> list[Part]:
        return self.parse(window, self.download(window))

    def download(self, window: Window) -> bytes:
        return self._answer(query.flux_window(self._windows, window))

    def parse(self, window: Window, body: bytes) -> list[Part]:
        return _parts(body)


def _parts(body: bytes) -> list[Part]:
    parts = []
    for block in split_blocks(body):
        part = parse_block(block)
        if part is not None:
            parts.append(part)
    return parts


def _from_status(status: int | None, message: str | None, headers, settings: Settings) -> ConnectorError:
    said = redact(str(message or "no message").strip(), settings.token)
    if status == 401 or status == 403:
        return ServerRefused(f"InfluxDB refused the token ({status}): {said}; check token", status)
    if status == 404:
        return ServerRefused(
            f"InfluxDB answered 404: {said}; check bucket ({settings.bucket!r}) and org ({settings.org!r})", status)
    if status == 400:
        return ServerRefused(f"InfluxDB rejected the query (400): {said}", status)
    if status in (429, 500, 502, 503, 504):
        retry_after = None
        if headers is not None and headers.get("Retry-After"):
            try:
                retry_after = float(headers.get("Retry-After"))
            except ValueError:
                retry_after = None
        return ServerUnavailable(f"InfluxDB is unavailable ({status}): {said}", status, retry_after)
    if status == 0:
        if "SSLError" in said or "CERTIFICATE" in said:
            return tls_refused(settings.url, said.splitlines()[-1])
        return ServerUnavailable(f"cannot reach InfluxDB at {settings.url}: {said}")
    return ServerRefused(f"InfluxDB answered {status}: {said}", status)
