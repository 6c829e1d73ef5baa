"""The in-repo InfluxDB 2.x server, loaded with the benchmark data, in its own process.

Why a separate process: the test server is Python; in the measured process its CPU and
GIL would compete with the connector. Three listeners share one storage and one answer
cache (cache_answers=True: after one warm-up query the server only streams stored
bytes, so the server is not what is measured):

    plain      unthrottled
    throttled  rate_limit_bytes_per_s=125e6 (a 1 Gbit/s link)
    latency    latency_s=0.2 per query (the --workers demo)

    python -m bench.serve_v2 --timestamps 250000
prints one JSON line {"plain": url, "throttled": url, "latency": url, "load_s": s} and
serves until SIGTERM or until its stdin closes (so it never outlives run.py).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import signal
import sys
import threading
import time
from array import array

from bench import data
from support.v2server import V2Server

TOKEN, ORG, BUCKET = "bench-token", "bench-org", "bench"
LINK_BYTES_PER_S = 125e6
LATENCY_S = 0.2


def load(server: V2Server, timestamps: int) -> None:
    """The fast bulk path: load_points per series-field, from numpy buffers (no HTTP)."""
    times = array("q")
    times.frombytes(data.times(timestamps).tobytes())
    for k in range(data.SERIES):
        for field in data.FIELDS:
            values = array("d")
            values.frombytes(data.values(k, field, timestamps).tobytes())
            server.load_points(BUCKET, data.MEASUREMENT, data.tags(k), field, times, values, "float")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timestamps", type=int, required=True, help="points per series (rows / 4)")
    args = parser.parse_args()
    try:  # Linux: die with the parent even if it is SIGKILLed
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    started = time.monotonic()
    plain = V2Server(token=TOKEN, org=ORG, buckets=[BUCKET], cache_answers=True)
    load(plain, args.timestamps)
    others = {"throttled": V2Server(token=TOKEN, org=ORG, buckets=[BUCKET], cache_answers=True,
                                    rate_limit_bytes_per_s=LINK_BYTES_PER_S),
              "latency": V2Server(token=TOKEN, org=ORG, buckets=[BUCKET], cache_answers=True, latency_s=LATENCY_S)}
    for server in others.values():  # one storage, one cache: a query warmed on one is warm on all
        server.storage, server.answers = plain.storage, plain.answers
    servers = {"plain": plain, **others}
    for server in servers.values():
        server.start()
    urls = {name: server.url for name, server in servers.items()}
    print(json.dumps({**urls, "load_s": round(time.monotonic() - started, 2)}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    for server in servers.values():
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
