"""The original cnvrg connector's path, as the baseline: one Flux query -> DataFrame -> CSV.

Why: it is what users ran before. influxdb-client's query_data_frame parses the whole
pivoted answer into one pandas frame (memory grows with the result), then pandas writes
it. Only 2.x (it speaks Flux only).

    python -m bench.old_connector --url U --token T --org O --bucket B --measurement M \
        --start 2024-01-01T00:00:00Z --stop 2024-01-04T00:00:00Z --out out.csv
"""
from __future__ import annotations

import argparse

import pandas as pd
from influxdb_client import InfluxDBClient

META = ["result", "table", "_start", "_stop", "_measurement"]


def flux(bucket: str, measurement: str, start: str, stop: str) -> str:
    """The pivoted query over the whole range (what the old connector sent, plus a stop)."""
    return (f'from(bucket: "{bucket}")\n'
            f"  |> range(start: {start}, stop: {stop})\n"
            f'  |> filter(fn: (r) => r._measurement == "{measurement}")\n'
            '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("url", "token", "org", "bucket", "measurement", "start", "stop", "out"):
        parser.add_argument("--" + name, required=True)
    args = parser.parse_args()
    with InfluxDBClient(url=args.url, token=args.token, org=args.org, timeout=600_000) as client:
        frame = client.query_api().query_data_frame(flux(args.bucket, args.measurement, args.start, args.stop))
    if isinstance(frame, list):
        frame = pd.concat(frame, ignore_index=True)
    frame = frame.drop(columns=[c for c in META if c in frame.columns])
    frame.to_csv(args.out, index=False)
    print(f"wrote {len(frame)} rows", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
