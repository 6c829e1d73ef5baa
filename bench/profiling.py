"""One export at N under cProfile, in-process, every thread included.

Why every thread: the connector downloads and parses windows on threads of their own, so a
main-thread-only profile would show little but waiting. Each new thread gets its own
cProfile.Profile (via threading.setprofile) and the stats are merged; "cumulative" of
the main thread's wait appears as lock acquire time, the work as the threads' frames.
"""
from __future__ import annotations

import cProfile
import io
import pstats
import sys
import threading
import time
from pathlib import Path

from bench.commands import Range

TOP = 25


def run(url: str, token: str, org: str, bucket: str, measurement: str, rng: Range, work: Path) -> dict:
    from connector import export  # imported before profiling: start-up is measured separately

    out = work / "profile"
    out.mkdir(exist_ok=True)
    profiles: list[cProfile.Profile] = []

    def start_in_thread(*_):
        sys.setprofile(None)
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()

    main = cProfile.Profile()
    threading.setprofile(start_in_thread)
    started = time.perf_counter()
    main.enable()
    try:
        summary = export(url=url, token=token, org=org, bucket=bucket, measurement=measurement, time_col="time",
                         range_start=rng.start, range_end=rng.stop, local_dir=str(out), file_name="profile.csv")
    finally:
        main.disable()
        threading.setprofile(None)
    wall = time.perf_counter() - started
    stats = pstats.Stats(main)
    for profile in profiles:
        stats.add(profile)
    stats.strip_dirs()
    text = {}
    for key in ("cumulative", "tottime"):
        stats.stream = buffer = io.StringIO()
        stats.sort_stats(key).print_stats(TOP)
        text[key] = buffer.getvalue()
    stats.stream = buffer = io.StringIO()
    stats.sort_stats("tottime").print_callers(5)  # who calls the heaviest (pyarrow's are all "wrapper")
    text["callers"] = buffer.getvalue()
    return {"rows": summary.rows, "wall_s_profiled": round(wall, 2), "threads": len(profiles) + 1, **text}
