"""The export: settings -> plan -> windows fetched ahead -> rows -> atomic file -> upload.

`run` owns the loop; sources only fetch and sinks only write, so each can be tested on
its own and a test can hand `run` any source.
"""
from __future__ import annotations

import logging
import time
from contextlib import closing
from pathlib import Path
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Iterator

import pyarrow as pa

from . import native, render
from .append import Watermark, read_watermark
from .arrow_compute import pc
from .assemble import drop_written, parquet_schema, window_csv, window_table
from .columns import Layout, output_columns
from .config import Settings, build_settings
from .errors import DataError, ParameterError
from .progress import Progress
from .retry import with_retries
from .sink import AtomicCsv, AtomicFile, AtomicParquet
from .sources.base import TIME_COLUMN, Part, Plan, Source
from .timerange import Window, WindowPlanner, format_rfc3339

log = logging.getLogger("connector")


@dataclass(frozen=True)
class ExportSummary:
    """What a run produced; safe to print or save (no secrets)."""

    path: str
    rows: int
    columns: list[str]
    first_time: str | None
    last_time: str | None
    bytes: int
    seconds: float
    windows: int
    api: str
    mode: str = "overwrite"
    dataset: str | None = None
    profile: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        return (f"wrote {self.rows} rows x {len(self.columns)} columns, {self.first_time} .. {self.last_time}, "
                f"to {self.path} ({self.bytes / 1e6:.1f} MB) in {self.seconds:.1f} s ({rate:,.0f} rows/s)")


def export(**params: Any) -> ExportSummary:
    """The Python API: the same parameters as the CLI (library.yaml), as keyword arguments."""
    raw = {key: _as_text(value) for key, value in params.items()}
    return run(build_settings(raw))


def read_dataframe(**params: Any):
    """For small pulls in a notebook: the same export (streamed to a temporary Parquet file,
    so the types survive), read back as a pandas DataFrame with nullable integer and
    boolean columns. file_name and local_dir are chosen here."""
    import tempfile

    import pandas as pd
    import pyarrow.parquet as pq

    if "file_name" in params or "local_dir" in params:
        raise ParameterError("read_dataframe chooses file_name and local_dir itself; use export() for a file")
    with tempfile.TemporaryDirectory(prefix="influxdb-connector-") as folder:
        summary = export(**params, file_name="frame.parquet", local_dir=folder)
        table = pq.read_table(summary.path)
    nullable = {pa.int64(): pd.Int64Dtype(), pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return table.to_pandas(types_mapper=nullable.get)


def _as_text(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return value


def open_source(settings: Settings) -> Source:
    api = settings.api
    if api == "auto":
        from .sources.detect import detect_api

        api = detect_api(settings)
    if api == "v1":
        from .sources.influxql import InfluxQLSource

        return InfluxQLSource(settings)
    from .sources.flux import FluxSource

    return FluxSource(settings)


def dry_run_text(settings: Settings) -> str:
    """What a run would do: the resolved settings (token masked) and the exact queries."""
    import json

    from .sources.flux import FluxSource
    from .sources.influxql import InfluxQLSource

    lines = ["settings:", json.dumps(settings.public(), indent=2, sort_keys=True, default=str)]
    apis = ["v2", "v1"] if settings.api == "auto" else [settings.api]
    for api in apis:
        source = FluxSource(settings) if api == "v2" else InfluxQLSource(settings)
        label = {"v2": "2.x (Flux)", "v1": "1.x (InfluxQL)"}[api]
        if settings.api == "auto":
            label += ", if /ping says so"
        lines.append(f"queries, {label}; the last one runs once per time window, with that window's bounds:")
        lines += [f"--- {number}\n{text}" for number, text in enumerate(source.describe(), 1)]
    return "\n".join(lines)


def fetch_ahead(source: Source, planner: WindowPlanner, workers: int,
                retries: int = 0) -> Iterator[tuple[Window, list[Part]]]:
    """Windows in order: up to `workers` downloading, one more being parsed, one being written.

    Parsing (numpy and Arrow, which release the GIL) runs on its own thread, so download,
    parsing and writing overlap even with one worker. Retries happen on the parsing thread, so
    an answer that breaks while it downloads or while it is parsed (a cut, an error table)
    is fetched again the same way.
    """
    download, parse = _stages(source)

    def parsed(window: Window, body: Future) -> list[Part]:
        prefetched = [body]

        def attempt() -> list[Part]:  # the first attempt uses the download already under way
            return parse(window, prefetched.pop().result() if prefetched else download(window))

        return with_retries(attempt, retries, f"window {window}")

    workers = max(1, workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as downloads, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse") as parsing:
        pending: deque[tuple[Window, Future]] = deque()

        def submit() -> None:
            window = planner.next()
            if window is not None:
                body = downloads.submit(download, window)
                pending.append((window, parsing.submit(parsed, window, body)))

        for _ in range(workers + 1):  # a few windows in memory, whatever the row count
            submit()
        try:
            while pending:
                window, future = pending.popleft()
                parts = future.result()
                planner.observe(window, sum(p.num_rows for p in parts))
                submit()  # the next window downloads while this one is written
                yield window, parts
        finally:
            for _, future in pending:
                future.cancel()


def _stages(source: Source) -> tuple[Callable[[Window], Any], Callable[[Window, Any], list[Part]]]:
    """(download, parse) of a source; a source with only fetch does both in the first."""
    if hasattr(source, "download") and hasattr(source, "parse"):
        return source.download, source.parse
    return source.fetch, lambda window, parts: parts


def run(settings: Settings, source: Source | None = None) -> ExportSummary:
    started = time.monotonic()
    native.prepare()
    if not settings.verify_ssl:
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        log.warning("verify_ssl=False: the server's HTTPS certificate is NOT checked; anyone on the "
                    "path could read the token and the data")
    mark = _watermark(settings)
    if mark is not None:
        settings = replace(settings, start_ns=max(settings.start_ns, mark.last_ns))
        if settings.start_ns >= settings.stop_ns:
            return _unchanged(settings, mark, started, "the file already reaches range_end")
    source = source or open_source(settings)
    try:
        plan = with_retries(source.plan, settings.retries, "planning the export")
        layout, header = output_columns(settings, plan)
        if mark is not None and mark.header != header:
            raise DataError(f"mode append: {settings.file_name} has the columns {', '.join(mark.header)} "
                            f"but this export has {', '.join(header)}; use mode overwrite or another file_name")
        if plan.empty:
            if mark is not None:
                return _unchanged(settings, mark, started, "no new points")
            raise _no_data(settings)
        log.info("exporting %s from %s, %s .. %s: %d tag and %d field column(s)",
                 settings.measurement, settings.bucket, format_rfc3339(plan.first_ns),
                 format_rfc3339(plan.last_ns), len(layout.tags), len(layout.fields))
        planner = WindowPlanner(plan.first_ns, min(plan.last_ns + 1, settings.stop_ns), settings.window_ns,
                                align=settings.every_ns)
        windows = rows = 0
        first = last = None
        sink, write = _output(settings, layout, header, plan, mark)
        progress = Progress(plan.first_ns, plan.last_ns + 1)
        profiling = _profiling(settings, layout, plan)
        with sink, closing(progress), profiling:
            for windows, (window, parts) in enumerate(
                    fetch_ahead(source, planner, settings.workers, settings.retries), 1):
                if mark is not None and window.start <= mark.last_ns:
                    parts = drop_written(parts, mark.last_ns, mark.written(len(layout.tags)), layout.tags)
                profiling.add(parts)
                count, window_first, window_last = write(parts)
                rows += count
                if count:
                    first = window_first if first is None else first
                    last = window_last
                log.debug("window %d %s: %d rows", windows, window, count)
                progress.update(window.stop, count)
            if rows == 0:
                if mark is not None:
                    sink.abort()
                    return _unchanged(settings, mark, started, "no new points")
                raise _no_data(settings)
            profile = profiling.result()
            sink.commit()
        size = settings.output_path.stat().st_size
    finally:
        source.close()
    summary = ExportSummary(
        path=str(settings.output_path), rows=rows, columns=header,
        first_time=format_rfc3339(first) if first is not None else None,
        last_time=format_rfc3339(last) if last is not None else None,
        bytes=size, seconds=round(time.monotonic() - started, 3), windows=windows, api=source.api,
        mode=settings.mode,
    )
    if profile is not None:
        write_side_file(settings.output_path, "profile", profile)
        for line in profiling.summary_lines(profile):
            log.info("profile: %s", line.removeprefix("profile: "))
        if settings.plot:
            from . import plots

            for path in plots.render(profiling.profiler, settings.local_dir, plots.file_stem(settings.file_name)):
                log.info("plot: %s", path)
        summary = replace(summary, profile=profile)
    public = {k: v for k, v in summary.as_dict().items() if k != "profile"}
    write_side_file(settings.output_path, "summary", {**public, "settings": settings.public()})
    return summary


def write_side_file(output: Path, kind: str, data: dict[str, Any]) -> Path:
    """`<file_name>.<kind>.json` beside the output, atomically (no secrets: callers pass public data)."""
    import json

    path = output.with_name(f"{output.name}.{kind}.json")
    text = json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8")
    with AtomicFile(path) as side:
        side._raw.write(text + b"\n")  # type: ignore[union-attr]
        side.commit()
    return path


WindowWriter = Callable[[list[Part]], tuple[int, "int | None", "int | None"]]


def _output(settings: Settings, layout: Layout, header: list[str], plan: Plan,
            mark: Watermark | None) -> tuple[AtomicFile, WindowWriter]:
    """The atomic file for the chosen format, and how one window's parts go into it."""
    if settings.output_format == "parquet":
        schema = parquet_schema(layout, plan.fields, header)
        parquet = AtomicParquet(settings.output_path, schema)

        def write_parquet(parts: list[Part]) -> tuple[int, int | None, int | None]:
            table = window_table(parts, layout, schema)
            if table.num_rows == 0:
                return 0, None, None
            parquet.write(table)
            times = pa.chunked_array([p.table.column(TIME_COLUMN).cast(pa.int64()) for p in parts
                                      if p.table.num_rows])
            return table.num_rows, pc.min(times).as_py(), pc.max(times).as_py()

        return parquet, write_parquet
    csv_file = AtomicCsv(settings.output_path, compress=settings.output_format == "csv.gz",
                         base=settings.output_path if mark is not None else None, header=render.csv_header(header))

    def write_csv(parts: list[Part]) -> tuple[int, int | None, int | None]:
        rendered = window_csv(parts, layout)
        for buffer in rendered.data:
            csv_file.write(buffer)
        return rendered.rows, rendered.first_ns, rendered.last_ns

    return csv_file, write_csv


class _Profiling:
    """The profiler beside the export: each window is profiled on its own thread, in order,
    while the main thread renders it (Arrow and numpy release the GIL)."""

    def __init__(self, profiler) -> None:
        self.profiler = profiler
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="profile") if profiler else None
        self._pending: deque[Future] = deque()

    def add(self, parts: list[Part]) -> None:
        if self._pool is not None:
            while len(self._pending) > 1:  # bounded: at most two windows behind
                self._pending.popleft().result()
            self._pending.append(self._pool.submit(self.profiler.add, parts))

    def result(self) -> dict[str, Any] | None:
        if self._pool is None:
            return None
        while self._pending:
            self._pending.popleft().result()
        return self.profiler.result()

    def summary_lines(self, result: dict[str, Any]) -> list[str]:
        return self.profiler.summary_lines(result)

    def __enter__(self) -> "_Profiling":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            for future in self._pending:
                future.cancel()
            self._pool.shutdown(wait=True)


def _profiling(settings: Settings, layout: Layout, plan: Plan) -> _Profiling:
    if not settings.profile:
        return _Profiling(None)
    from .profile import Profiler

    kinds = {name: plan.fields.get(name) for name in layout.fields}
    return _Profiling(Profiler(layout.tags, kinds, plan.first_ns, plan.last_ns,
                               label_field=settings.label_field, gap_factor=settings.gap_factor))


def _watermark(settings: Settings) -> Watermark | None:
    if settings.mode != "append" or not settings.output_path.exists():
        return None
    if settings.output_format not in ("csv", "csv.gz"):
        raise ParameterError(f"mode append works on .csv and .csv.gz files, not {settings.file_name}")
    mark = read_watermark(settings.output_path, settings.output_format == "csv.gz", settings.time_format)
    if mark is not None:
        log.info("mode append: %s ends at %s; exporting what comes after", settings.file_name,
                 format_rfc3339(mark.last_ns))
    return mark


def _unchanged(settings: Settings, mark: Watermark, started: float, why: str) -> ExportSummary:
    log.info("mode append: %s; %s is unchanged", why, settings.file_name)
    return ExportSummary(
        path=str(settings.output_path), rows=0, columns=mark.header, first_time=None, last_time=None,
        bytes=settings.output_path.stat().st_size, seconds=round(time.monotonic() - started, 3),
        windows=0, api="none", mode="append")


def _no_data(settings: Settings) -> DataError:
    return DataError(
        f"no data: measurement {settings.measurement!r} in bucket {settings.bucket!r} has no points "
        f"between {settings.range_start} ({format_rfc3339(settings.start_ns)}) and "
        f"{settings.range_end} ({format_rfc3339(settings.stop_ns)})")
