"""The command lines being compared, and the queries the connector really sends.

Why read the queries from the connector's own --verbose log: the raw-transfer baseline
must fetch exactly the windows the connector asks for (its adaptive window plan
included), or the comparison is not like for like.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.servers import ROOT

_RECORD = re.compile(r"^\[influxdb-connector\] ", re.MULTILINE)


@dataclass(frozen=True)
class Range:
    """Half-open [start, stop) as RFC 3339 text, and how many rows it holds."""

    start: str
    stop: str
    rows: int


def connector(url: str, token: str, org: str, bucket: str, measurement: str, rng: Range, out_dir: Path,
              *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "influxdb_connector.py"), "--url", url, "--token", token, "--org", org,
            "--bucket", bucket, "--measurement", measurement, "--time_col", "time",
            "--range_start", rng.start, "--range_end", rng.stop, "--local_dir", str(out_dir),
            "--file_name", "bench.csv", *extra]


def old_connector(url: str, token: str, org: str, bucket: str, measurement: str, rng: Range, out: Path) -> list[str]:
    return [sys.executable, "-m", "bench.old_connector", "--url", url, "--token", token, "--org", org,
            "--bucket", bucket, "--measurement", measurement, "--start", rng.start, "--stop", rng.stop,
            "--out", str(out)]


def influx_cli(port: int, database: str, measurement: str, rng: Range) -> list[str]:
    query = f"SELECT * FROM \"{measurement}\" WHERE time >= '{rng.start}' AND time < '{rng.stop}'"
    return [shutil.which("influx") or "influx", "-host", "127.0.0.1", "-port", str(port), "-database", database,
            "-execute", query, "-format", "csv", "-precision", "rfc3339"]


def logged_queries(stderr: str) -> list[tuple[str, str]]:
    """(language, text) of every query in a --verbose log, in the order sent."""
    queries = []
    for record in _RECORD.split(stderr):
        if record.startswith("flux query:\n"):
            queries.append(("flux", record[len("flux query:\n"):].rstrip("\n")))
        elif record.startswith("influxql query: "):
            queries.append(("influxql", record[len("influxql query: "):].rstrip("\n")))
    return queries


def _flux_body(flux: str) -> bytes:
    """The JSON body influxdb-client itself sends for query_raw / query_data_frame."""
    from influxdb_client import Configuration, Query
    from influxdb_client._sync.api_client import ApiClient
    from influxdb_client.client._base import _BaseQueryApi

    query = Query(query=flux, dialect=_BaseQueryApi.default_dialect, extern=_BaseQueryApi._build_flux_ast(None, None))
    return json.dumps(ApiClient(Configuration()).sanitize_for_serialization(query)).encode()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def curl_v2(url: str, token: str, org: str, queries: list[str], work: Path, name: str = "v2") -> list[str]:
    """One curl run POSTing every Flux query in turn (one kept-alive connection), bodies to stdout."""
    config = []
    for i, flux in enumerate(queries):
        body = work / f"{name}-flux-{i}.json"
        body.write_bytes(_flux_body(flux))
        config += ["next" if i else "", f"url = {_quote(f'{url}/api/v2/query?org={org}')}",
                   f"header = {_quote(f'Authorization: Token {token}')}",
                   'header = "Content-Type: application/json"', 'header = "Accept: application/csv"',
                   f"data-binary = {_quote('@' + str(body))}"]
    return _curl(config, work / f"{name}.curlrc")


def curl_v1(url: str, database: str, queries: list[str], work: Path, chunk_rows: int) -> list[str]:
    """The same /query POSTs as the connector: planning questions in JSON, windows as chunked CSV."""
    config = []
    for i, influxql in enumerate(queries):
        text = work / f"influxql-{i}.txt"
        text.write_text(influxql)
        window = influxql.startswith("SELECT") and not influxql.endswith("LIMIT 1")
        form = {"db": database, "epoch": "ns"}
        if window:
            form.update(chunked="true", chunk_size=str(chunk_rows))
        config += ["next" if i else "", f"url = {_quote(url + '/query')}",
                   f"header = {_quote('Accept: application/csv' if window else 'Accept: application/json')}",
                   *(f"data-urlencode = {_quote(f'{k}={v}')}" for k, v in form.items()),
                   f"data-urlencode = {_quote('q@' + str(text))}"]
    return _curl(config, work / "v1.curlrc")


def _curl(config: list[str], path: Path) -> list[str]:
    path.write_text("\n".join(line for line in config if line) + "\n")
    return [shutil.which("curl") or "curl", "-sS", "--fail", "-K", str(path)]
