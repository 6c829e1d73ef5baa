"""The benchmark: the connector against the old path and the raw transfer, same run, same data.

    python -m bench.run [--rows 1000000] [--sizes 1,4] [--reps 3] [--slow-reps 1]
                        [--old-max-rows N] [--cli-max-rows N] [--json bench/results/latest.json]
                        [--workers-demo] [--profile]

Seeds N x max(sizes) rows (4 series x 8 float fields, 1 s apart) into a real InfluxDB
1.x and the in-repo 2.x server, then times every command as its own child process,
repetitions in alternating order, and reports medians. See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import commands, data, measure, report, servers
from bench.commands import Range
from bench.old_connector import flux as old_flux
from bench.serve_v2 import BUCKET, ORG, TOKEN

ROOT = servers.ROOT
WROTE = re.compile(r"^(?:\[influxdb-connector\] )?wrote (\d+) rows", re.MULTILINE)


@dataclass
class Job:
    """One command to time: what it is, against what, at which size, and where its output lands."""

    name: str
    target: str
    size: int | None
    argv: list[str]
    output: Path | None = None        # the file it writes (its size is the output MB)
    to_stdout: bool = False           # the output is the command's stdout
    rows: int | None = None
    slow: bool = False                # a slow baseline: only --slow-reps repetitions
    samples: list[dict] = field(default_factory=list)


def rfc3339(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 10**9))


def size_range(size: int, rows: int) -> Range:
    timestamps = size * rows // data.SERIES
    return Range(rfc3339(data.START_NS), rfc3339(data.START_NS + timestamps * data.STEP_NS),
                 timestamps * data.SERIES)


SERVER_PIDS: dict[str, int] = {}  # name -> pid: their CPU seconds per run go to the JSON


def execute(job: Job) -> dict:
    """Run a job once; the output file is measured, then deleted (4N outputs are large)."""
    if job.output is not None:
        job.output.unlink(missing_ok=True)
    before = {name: servers.cpu_seconds(pid) for name, pid in SERVER_PIDS.items()}
    busy = measure.busy_cpu_seconds()
    sample = measure.run(job.argv, stdout_path=job.output if job.to_stdout else None, cwd=str(ROOT))
    busy = measure.busy_cpu_seconds() - busy
    result = {"wall_s": sample.wall_s, "rss_mb": sample.rss_mb, "rc": sample.rc, "cpu_s": round(sample.cpu_s, 2),
              **{f"cpu_s_{name}": round(servers.cpu_seconds(pid) - before[name], 2)
                 for name, pid in SERVER_PIDS.items()}}
    # cores used by everything else on the machine meanwhile: the noise in this sample
    others = busy - sample.cpu_s - sum(v for k, v in result.items() if k.startswith("cpu_s_"))
    result["other_cores"] = round(max(0.0, others) / sample.wall_s, 2)
    if job.output is not None and job.output.exists():
        result["out_bytes"] = job.output.stat().st_size
        job.output.unlink()
    wrote = WROTE.search(sample.stdout + sample.stderr)
    if wrote:
        result["rows_reported"] = int(wrote.group(1))
    if sample.rc != 0:
        result["error"] = sample.stderr.strip().splitlines()[-1:] or ["(no message)"]
        print(f"  FAILED {job.name} {job.target} x{job.size}: rc={sample.rc} {result['error'][0]}", file=sys.stderr)
    return result


def verbose_queries(argv: list[str]) -> list[tuple[str, str]]:
    """Run the connector once with --verbose True: warms the 2.x answer cache, returns its queries."""
    sample = measure.run(argv + ["--verbose", "True"], cwd=str(ROOT))
    if sample.rc != 0:
        raise SystemExit(f"the connector failed in the warm-up run:\n{sample.stderr[-3000:]}")
    queries = commands.logged_queries(sample.stdout + sample.stderr)  # the log has moved between them
    if not queries:
        raise SystemExit("no queries found in the connector's --verbose log (has its format changed?)")
    return queries


def build_jobs(args, v2: dict, v1, work: Path) -> list[Job]:
    from connector.sources import influxql

    jobs: list[Job] = []
    chunk_rows = getattr(influxql, "CHUNK_ROWS", 50_000)
    for size in args.sizes:
        rng = size_range(size, args.rows)
        out = work / f"x{size}"
        out.mkdir()
        v2_argv = commands.connector(v2["plain"], TOKEN, ORG, BUCKET, data.MEASUREMENT, rng, out)
        v1_argv = commands.connector(v1.url, "", "-", servers.DATABASE, data.MEASUREMENT, rng, out)
        print(f"warm-up x{size}: capturing the connector's queries", file=sys.stderr)
        flux = [q for lang, q in verbose_queries(v2_argv) if lang == "flux"]
        influxql_queries = [q for lang, q in verbose_queries(v1_argv) if lang == "influxql"]
        raw, warm_dir = out / "raw", out / "warm"
        raw.mkdir()
        warm_dir.mkdir()
        csv = out / "bench.csv"
        for target in ("v2", "v2-1Gbit"):
            url = v2["plain" if target == "v2" else "throttled"]
            jobs.append(Job("connector", target, size, commands.connector(
                url, TOKEN, ORG, BUCKET, data.MEASUREMENT, rng, out), csv, rows=rng.rows))
            jobs.append(Job("raw (curl)", target, size, commands.curl_v2(url, TOKEN, ORG, flux, raw, target),
                            out / f"raw-{target}.csv", to_stdout=True, rows=rng.rows))
        # What the data profile (on by default) costs: the same export with it off.
        jobs.append(Job("connector, profile off", "v2", size, commands.connector(
            v2["plain"], TOKEN, ORG, BUCKET, data.MEASUREMENT, rng, out, "--profile", "False"), csv, rows=rng.rows))
        if rng.rows <= args.old_max_rows:
            query = old_flux(BUCKET, data.MEASUREMENT, rng.start, rng.stop)
            warm = measure.run(commands.curl_v2(v2["plain"], TOKEN, ORG, [query], warm_dir),
                               stdout_path=out / "warm-old.csv")
            (out / "warm-old.csv").unlink(missing_ok=True)
            if warm.rc != 0:
                raise SystemExit(f"warming the old path's query failed: {warm.stderr}")
            jobs.append(Job("old (query_data_frame)", "v2", size, commands.old_connector(
                v2["plain"], TOKEN, ORG, BUCKET, data.MEASUREMENT, rng, out / "old.csv"), out / "old.csv",
                rows=rng.rows, slow=True))
        jobs.append(Job("connector", "v1", size, v1_argv, csv, rows=rng.rows))
        curl_v1 = commands.curl_v1(v1.url, servers.DATABASE, influxql_queries, raw, chunk_rows)
        jobs.append(Job("raw (curl)", "v1", size, curl_v1, out / "raw-v1.csv", to_stdout=True, rows=rng.rows))
        if rng.rows <= args.cli_max_rows:
            cli = commands.influx_cli(v1.port, servers.DATABASE, data.MEASUREMENT, rng)
            jobs.append(Job("influx CLI", "v1", size, cli, out / "influx.csv", to_stdout=True, rows=rng.rows,
                            slow=True))
    python = sys.executable
    jobs += [Job("startup: --help", "-", None, [python, str(ROOT / "influxdb_connector.py"), "--help"]),
             Job("startup: import connector.export", "-", None, [python, "-c", "import connector.export"]),
             Job("startup: python -c pass", "-", None, [python, "-c", "pass"])]
    return jobs


def timed(jobs: list[Job], reps: int, slow_reps: int | None = None) -> None:
    """All jobs once per repetition, every other repetition in reverse order."""
    for rep in range(reps):
        order = jobs if rep % 2 == 0 else jobs[::-1]
        started = time.monotonic()
        for job in order:
            if not job.slow or slow_reps is None or rep < slow_reps:
                job.samples.append(execute(job))
        print(f"rep {rep + 1}/{reps}: {time.monotonic() - started:.0f} s", file=sys.stderr)


def workers_demo(args, v2: dict, work: Path) -> dict | None:
    """--workers 1 vs 4 with 0.2 s latency per query and fixed 1 h windows."""
    help_text = measure.run([sys.executable, str(ROOT / "influxdb_connector.py"), "--help"], cwd=str(ROOT)).stdout
    if "--workers" not in help_text:
        print("workers demo skipped: the CLI does not accept --workers yet", file=sys.stderr)
        return None
    rng = size_range(args.sizes[0], args.rows)
    out = work / "workers"
    out.mkdir()
    base = commands.connector(v2["plain"], TOKEN, ORG, BUCKET, data.MEASUREMENT, rng, out, "--window", "1h")
    windows = sum(1 for lang, q in verbose_queries(base) if "pivot(" in q)  # warms the 1 h windows
    jobs = [Job("connector --workers " + w, "v2+0.2s", args.sizes[0], commands.connector(
        v2["latency"], TOKEN, ORG, BUCKET, data.MEASUREMENT, rng, out, "--window", "1h", "--workers", w),
        out / "bench.csv", rows=rng.rows) for w in ("1", "4")]
    timed(jobs, args.reps)
    return {"windows": windows, "latency_s": 0.2, "jobs": [report.summarize(j) for j in jobs]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="N: rows at size 1 (timestamps x 4 series)")
    parser.add_argument("--sizes", default="1,4", help="multiples of N to run (default 1,4)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per command (median reported)")
    parser.add_argument("--old-max-rows", type=int, default=None,
                        help="run the old path only up to this many rows (default: N, i.e. the smallest size)")
    parser.add_argument("--cli-max-rows", type=int, default=None,
                        help="run the influx CLI only up to this many rows (default: N; it takes ~30 us a row)")
    parser.add_argument("--slow-reps", type=int, default=1,
                        help="repetitions of the slow baselines (old path, influx CLI; default 1: ~70 s a round)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument("--workers-demo", action="store_true", help="also --workers 1 vs 4 at 0.2 s latency")
    parser.add_argument("--profile", action="store_true", help="also cProfile one export at N (2.x, in-process)")
    args = parser.parse_args(argv)
    args.sizes = sorted({int(s) for s in args.sizes.split(",")})
    if args.old_max_rows is None:
        args.old_max_rows = args.sizes[0] * args.rows
    if args.cli_max_rows is None:
        args.cli_max_rows = args.sizes[0] * args.rows
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    timestamps = max(args.sizes) * args.rows // data.SERIES
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    results: dict = {"config": {
        "rows": args.rows, "sizes": args.sizes, "reps": args.reps, "slow_reps": args.slow_reps,
        "old_max_rows": args.old_max_rows, "cli_max_rows": args.cli_max_rows, "series": data.SERIES,
        "fields": list(data.FIELDS), "python": sys.version.split()[0]}}
    phases: dict[str, float] = {}
    clock = [time.monotonic()]

    def phase(name: str) -> None:  # seconds spent since the previous phase ended
        now = time.monotonic()
        phases[name] = round(now - clock[0], 1)
        clock[0] = now

    try:
        print(f"seeding {timestamps * data.SERIES:,} rows (not timed)...", file=sys.stderr)
        with servers.v2_server(timestamps) as v2, servers.v1_server(timestamps) as (v1, v1_seed):
            phase("seeding")
            results["seeding"] = {"v2_load_points_s": v2["load_s"], "v1": v1_seed, "total_s": phases["seeding"]}
            print(f"seeded: {results['seeding']}", file=sys.stderr)
            SERVER_PIDS.update(serve_v2=v2["pid"], influxd=v1._proc.pid)  # noqa: SLF001
            jobs = build_jobs(args, v2, v1, work)
            phase("warm-up")
            timed(jobs, args.reps, args.slow_reps)
            phase("timed")
            results["jobs"] = [report.summarize(j) for j in jobs]
            if args.workers_demo:
                results["workers_demo"] = workers_demo(args, v2, work)
                phase("workers demo")
            if args.profile:
                from bench import profiling

                rng = size_range(args.sizes[0], args.rows)
                results["profile"] = profiling.run(v2["plain"], TOKEN, ORG, BUCKET, data.MEASUREMENT, rng, work)
                phase("profile")
        phase("stopping servers")
        results["phases_s"] = phases
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results.update(report.derive(results["jobs"], args))
    print(report.render(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
