"""Run the connector CLI end to end against a throw-away InfluxDB 1.x.

    python -m demo.run_demo [--days 7] [--units 3]

Why: one command shows the whole path a cnvrg user takes (server -> CLI -> CSV) on
realistic data, with timings.  The server is always stopped, also on failure or
Ctrl-C; the exit code is the connector's.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import sample_data
from support.influx1 import Influx1Server

REPO = Path(__file__).resolve().parents[1]
OUTPUT_DIR = REPO / "demo_output"
FILE_NAME = "telemetry.csv"


def _describe(path: Path) -> tuple[list[str], int]:
    """Header columns and data-row count, read cheaply (bytes, no CSV parse, no pandas).

    The count is of line ends, so a quoted value with a newline would count twice;
    the sample data has none.
    """
    lines = 0
    with path.open("rb") as f:
        header = f.readline().decode().rstrip("\r\n").split(",")
        while block := f.read(1 << 20):
            lines += block.count(b"\n")
    return header, lines


def _load(server: Influx1Server, units: int, days: float) -> int:
    t = time.perf_counter()
    df = sample_data.generate(units=units, days=days)
    t_gen = time.perf_counter() - t
    server.create_database("telemetry")
    sent = server.write("telemetry", sample_data.to_line_protocol(df))
    total = time.perf_counter() - t
    print(f"loaded {len(df):,} rows ({sent / 1e6:.1f} MB line protocol) in {total:.1f} s "
          f"(generate {t_gen:.1f} s, line protocol + write {total - t_gen:.1f} s)", flush=True)
    return len(df)


def _export(url: str) -> int:
    cmd = [sys.executable, "influxdb_connector.py", "--api", "v1", "--url", url, "--token", "", "--org", "-",
           "--bucket", "telemetry", "--measurement", "machine", "--time_col", "timestamp",
           "--range_start", "2024-01-01", "--range_end", "2024-01-08",
           "--local_dir", str(OUTPUT_DIR), "--file_name", FILE_NAME]
    print("$ " + " ".join(c if c else '""' for c in cmd[1:]), flush=True)
    t = time.perf_counter()
    code = subprocess.call(cmd, cwd=REPO)
    elapsed = time.perf_counter() - t
    out = OUTPUT_DIR / FILE_NAME
    if code == 0 and out.is_file():
        columns, rows = _describe(out)
        print(f"export: {out}\n  rows: {rows:,}\n  columns: {', '.join(columns)}\n  "
              f"size: {out.stat().st_size / 1e6:.1f} MB\n  took: {elapsed:.1f} s")
    else:
        print(f"export FAILED: connector exit code {code} after {elapsed:.1f} s", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=3)
    ap.add_argument("--days", type=float, default=7.0, help="at most 7: the export range is 2024-01-01..08")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the server
    server = Influx1Server()
    try:
        server.start()
        print(f"InfluxDB 1.x at {server.url} (temp dir {server.root})", flush=True)
        _load(server, args.units, args.days)
        return _export(server.url)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a demo: one line, not a traceback
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        server.stop()
        print("InfluxDB stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
