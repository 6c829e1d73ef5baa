"""The validated, typed settings of one export, built once from raw parameter values.

Every problem is collected and reported together, so a user fixes a call in one go.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from .errors import ParameterError
from .params import is_unset, load_arguments, parse_bool
from .timerange import TimeParseError, format_rfc3339, now_ns, parse_duration, parse_time

SECRET_ENV = {
    "token": "INFLUXDB_TOKEN",
    "url": "INFLUXDB_URL",
    "org": "INFLUXDB_ORG",
    "bucket": "INFLUXDB_BUCKET",
}
FORMATS = {".csv.gz": "csv.gz", ".csv": "csv", ".parquet": "parquet"}
DEFAULT_WORKDIR = "/cnvrg"
# library.yaml lists one value per option (several values would make a cnvrg flow run a
# grid of them); the choices live here and in the descriptions.
API_CHOICES = ("auto", "v2", "v1")
MODES = ("overwrite", "append")
AGGREGATES = ("mean", "median", "min", "max", "sum", "first", "last", "count")
NUMERIC_AGGREGATES = ("mean", "median", "min", "max", "sum")
FILLS = ("none", "null", "previous")
TIME_FORMATS = ("iso", "epoch_ns", "epoch_ms", "epoch_s", "omit")  # not "none": cnvrg reads that as unset


@dataclass(frozen=True)
class Settings:
    """One export, fully resolved. The token is kept out of repr and of `public()`."""

    url: str
    token: str = field(repr=False)
    org: str
    bucket: str
    measurement: str
    time_col: str
    range_start: str
    range_end: str
    start_ns: int
    stop_ns: int
    file_name: str
    local_dir: Path
    output_format: str
    cnvrg_dataset: str | None
    api: str
    fields: tuple[str, ...] | None
    rename: tuple[tuple[str, str], ...]
    window_ns: int | None
    verbose: bool
    workers: int = 1
    retries: int = 5
    timeout_s: float = 300.0
    verify_ssl: bool = True
    ssl_ca_cert: str | None = None
    tags: tuple[str, ...] | None = None
    tag_filter: tuple[tuple[str, str], ...] = ()
    time_format: str = "iso"
    timezone: str = "UTC"
    dry_run: bool = False
    mode: str = "overwrite"
    profile: bool = True
    gap_factor: float = 5.0
    label_field: str | None = None
    plot: bool = False
    every_ns: int | None = None
    agg: str = "mean"
    fill: str = "none"

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.public().items())
        return f"Settings({shown})"

    @property
    def output_path(self) -> Path:
        return self.local_dir / self.file_name

    def public(self) -> dict[str, Any]:
        """The settings as plain data, token masked: safe for logs, dry runs and summaries."""
        data = asdict(self)
        data["token"] = "***" if self.token else ""
        data["local_dir"] = str(self.local_dir)
        data["start"] = format_rfc3339(self.start_ns)
        data["stop"] = format_rfc3339(self.stop_ns)
        return data


def _text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if is_unset(value):
        return None
    return str(value)


def _secret(raw: Mapping[str, Any], key: str, environ: Mapping[str, str], problems: list[str]) -> str | None:
    """The value, or the environment variable for `Secret`; surrounding white space (a pasted
    newline) is dropped, and a control character inside is an error that does not show it."""
    value = _secret_value(raw, key, environ, problems)
    if value is None:
        return None
    value = value.strip()
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        problems.append(f"{key} contains a line break or another control character; check how it was pasted")
        return None
    return value


def _secret_value(raw: Mapping[str, Any], key: str, environ: Mapping[str, str], problems: list[str]) -> str | None:
    value = _text(raw, key)
    if value is not None and value.strip().lower() == "secret":
        variable = SECRET_ENV[key]
        resolved = environ.get(variable)
        if resolved is None or resolved == "":
            problems.append(f"{key} is Secret but the environment variable {variable} is not set "
                            f"(add it under Project > Settings > Secrets)")
            return None
        return resolved
    return value


def _names(text: str | None, key: str, problems: list[str]) -> tuple[str, ...] | None:
    if text is None or text.strip() == "":
        return None
    names = tuple(part.strip() for part in text.split(","))
    if any(not name for name in names):
        problems.append(f"{key}: {text!r} has an empty name; use a comma-separated list like a,b")
        return None
    if len(set(names)) != len(names):
        problems.append(f"{key}: {text!r} names a column twice")
    return names


def _rename(text: str | None, problems: list[str]) -> tuple[tuple[str, str], ...]:
    if text is None or text.strip() == "":
        return ()
    pairs = []
    for part in text.split(","):
        old, sep, new = part.partition(":")
        if not sep or not old.strip() or not new.strip():
            problems.append(f"rename: {part!r} is not old:new; use e.g. unit:id,temp:temperature")
            return ()
        pairs.append((old.strip(), new.strip()))
    olds = [old for old, _ in pairs]
    if len(set(olds)) != len(olds):
        problems.append(f"rename: {text!r} renames a column twice")
    return tuple(pairs)


def _tag_filter(text: str | None, problems: list[str]) -> tuple[tuple[str, str], ...]:
    if text is None or text.strip() == "":
        return ()
    pairs = []
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or value == "":
            problems.append(f"tag_filter: {part!r} is not key=value; use e.g. unit=unit-01,site=plant-a")
            return ()
        pairs.append((key.strip(), value))
    return tuple(pairs)


def _flag(raw: Mapping[str, Any], key: str, default: str, problems: list[str]) -> bool:
    value = raw.get(key, default)
    try:
        return parse_bool(key, default if is_unset(value) else value)
    except ParameterError as exc:
        problems.append(str(exc))
        return default == "True"


def _number(raw: Mapping[str, Any], key: str, kind: type, low: float, high: float,
            problems: list[str]) -> float | int | None:
    text = _text(raw, key)
    if text is None:
        problems.append(f"{key} is required (a number from {low:g} to {high:g})")
        return None
    try:
        value = kind(text.strip())
    except ValueError:
        problems.append(f"{key}: {text!r} is not {'a whole number' if kind is int else 'a number'}")
        return None
    if not low <= value <= high:
        problems.append(f"{key}: {text!r} must be from {low:g} to {high:g}")
        return None
    return value


def build_settings(
    raw: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    now: int | None = None,
) -> Settings:
    """Validate raw values (strings from the CLI, or Python values from the API)."""
    environ = os.environ if environ is None else environ
    now = now_ns() if now is None else now
    arguments = load_arguments()
    known = {a.key for a in arguments}
    problems: list[str] = []
    unknown = sorted(set(raw) - known)
    if unknown:
        problems.append(f"unknown parameter(s): {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    values = {a.key: raw.get(a.key, a.default) for a in arguments}

    token = _secret(values, "token", environ, problems)
    url = _secret(values, "url", environ, problems)
    org = _secret(values, "org", environ, problems)
    bucket = _secret(values, "bucket", environ, problems)
    measurement = _text(values, "measurement")
    time_col = _text(values, "time_col")

    api = (_text(values, "api") or "auto").strip().lower()
    api_choices = API_CHOICES
    if api not in api_choices:
        problems.append(f"api: {api!r} is not valid; valid values are: {', '.join(api_choices)}")

    for key, value in (("url", url), ("bucket", bucket), ("measurement", measurement), ("time_col", time_col)):
        if value is None or value.strip() == "":
            if not any(p.startswith(f"{key} is Secret") for p in problems):
                problems.append(f"{key} is required")
    if org is None or org.strip() == "":
        if api != "v1" and not any(p.startswith("org is Secret") for p in problems):
            problems.append("org is required (pass - for the 1.x API)")
    if "token" not in raw:
        problems.append("token is required (pass \"\" for a 1.x server without authentication)")
    token = token or ""
    if api == "v2" and not token:
        problems.append("token: InfluxDB 2.x and Cloud need an API token")

    if url:
        url = url.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"url: {url!r} is not an http:// or https:// URL")
        elif parts.username or parts.password:
            problems.append("url: put credentials in token, not in the URL")
            url = None

    start_text = _text(values, "range_start") or "-10y"
    end_text = _text(values, "range_end") or "now()"
    start_ns = stop_ns = 0
    try:
        start_ns = parse_time(start_text, now)
    except TimeParseError as exc:
        problems.append(f"range_start: {exc}")
    try:
        stop_ns = parse_time(end_text, now)
    except TimeParseError as exc:
        problems.append(f"range_end: {exc}")
    if not any(p.startswith("range_") for p in problems) and start_ns >= stop_ns:
        problems.append(f"range_start ({format_rfc3339(start_ns)}) must be before range_end ({format_rfc3339(stop_ns)})")

    file_name = (_text(values, "file_name") or "influxdb.csv").strip()
    output_format = next((fmt for ending, fmt in FORMATS.items() if file_name.lower().endswith(ending)), None)
    if "/" in file_name or "\\" in file_name or file_name in (".", "..") or file_name.startswith("."):
        problems.append(f"file_name: {file_name!r} must be a plain file name; put the folder in local_dir")
    elif output_format is None or file_name.lower() in FORMATS:
        problems.append(f"file_name: {file_name!r} must end in one of: {', '.join(FORMATS)}")

    local_dir_text = _text(values, "local_dir")
    local_dir = Path(local_dir_text or environ.get("CNVRG_WORKDIR") or DEFAULT_WORKDIR).expanduser()

    window_text = (_text(values, "window") or "auto").strip().lower()
    window_ns = None
    if window_text != "auto":
        try:
            window_ns = parse_duration(window_text)
        except TimeParseError as exc:
            problems.append(f"window: {exc} (or auto)")

    verbose = _flag(values, "verbose", "False", problems)

    workers = _number(values, "workers", int, 1, 16, problems)
    retries = _number(values, "retries", int, 0, 100, problems)
    timeout_s = _number(values, "timeout", float, 0.1, 86400.0, problems)
    verify_ssl = _flag(values, "verify_ssl", "True", problems)
    ssl_ca_cert = _text(values, "ssl_ca_cert")
    if ssl_ca_cert is not None and not Path(ssl_ca_cert).expanduser().is_file():
        problems.append(f"ssl_ca_cert: {ssl_ca_cert!r} is not a file")

    fields = _names(_text(values, "fields"), "fields", problems)
    tags = _names(_text(values, "tags"), "tags", problems)
    tag_filter = _tag_filter(_text(values, "tag_filter"), problems)
    time_format = (_text(values, "time_format") or "iso").strip().lower()
    if time_format not in TIME_FORMATS:
        problems.append(f"time_format: {time_format!r} is not valid; valid values are: {', '.join(TIME_FORMATS)}")
    timezone = (_text(values, "timezone") or "UTC").strip()
    try:
        from .render import zone_offsets

        zone_offsets(timezone, [0])
    except ValueError as exc:
        problems.append(f"timezone: {exc}")
    mode = (_text(values, "mode") or "overwrite").strip().lower()
    if mode not in MODES:
        problems.append(f"mode: {mode!r} is not valid; valid values are: {', '.join(MODES)}")
    profile = _flag(values, "profile", "True", problems)
    plot = _flag(values, "plot", "False", problems)
    gap_factor = _number(values, "gap_factor", float, 1.0, 1e6, problems)
    label_field = _text(values, "label_field")
    every_text = _text(values, "every")
    every_ns = None
    if every_text is not None and every_text.strip():
        if any(unit in every_text for unit in ("mo", "y")):
            problems.append(f"every: {every_text!r} must be a fixed duration (s, m, h, d, w), not months or years")
        else:
            try:
                every_ns = parse_duration(every_text)
            except TimeParseError as exc:
                problems.append(f"every: {exc}")
    agg = (_text(values, "agg") or "mean").strip().lower()
    if agg not in AGGREGATES:
        problems.append(f"agg: {agg!r} is not valid; valid values are: {', '.join(AGGREGATES)}")
    fill = (_text(values, "fill") or "none").strip().lower()
    if fill not in FILLS:
        problems.append(f"fill: {fill!r} is not valid; valid values are: {', '.join(FILLS)}")
    if every_ns and not any(p.startswith("range_") for p in problems):
        aligned_start = -(-start_ns // every_ns) * every_ns   # whole buckets only
        aligned_stop = stop_ns // every_ns * every_ns
        if aligned_start >= aligned_stop:
            problems.append(f"every: the range holds no whole {every_text} bucket "
                            f"({format_rfc3339(start_ns)} .. {format_rfc3339(stop_ns)})")
        start_ns, stop_ns = aligned_start, aligned_stop
    dry_run = _flag(values, "dry_run", "False", problems)
    rename = _rename(_text(values, "rename"), problems)
    dataset = _text(values, "cnvrg_dataset")

    if problems:
        raise ParameterError(problems)
    return Settings(
        url=url or "", token=token, org=(org or "").strip(), bucket=(bucket or "").strip(),
        measurement=measurement or "", time_col=time_col or "",
        range_start=start_text, range_end=end_text, start_ns=start_ns, stop_ns=stop_ns,
        file_name=file_name, local_dir=local_dir, output_format=output_format or "csv",
        cnvrg_dataset=dataset.strip() if dataset else None, api=api, fields=fields,
        rename=rename, window_ns=window_ns, verbose=verbose, workers=int(workers or 1),
        retries=int(retries if retries is not None else 5), timeout_s=float(timeout_s or 300.0),
        verify_ssl=verify_ssl, ssl_ca_cert=str(Path(ssl_ca_cert).expanduser()) if ssl_ca_cert else None,
        tags=tags, tag_filter=tag_filter, time_format=time_format, timezone=timezone, dry_run=dry_run,
        mode=mode, profile=profile or plot, gap_factor=float(gap_factor or 5.0),
        label_field=label_field.strip() if label_field else None, plot=plot,
        every_ns=every_ns, agg=agg, fill=fill,
    )
