"""The benchmark's data set: deterministic sensor telemetry, the same for 1.x and 2.x.

Why its own generator: the benchmark needs 8 float fields and millions of rows made in
seconds (numpy, no per-value Python), and values whose text is as long as real sensor
readings (4-6 significant digits: "61.27", "1523.4", "0.24812"), not 17-digit noise
that would inflate every byte count.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

MEASUREMENT = "bench"
SERIES = 4
STEP_NS = 1_000_000_000          # one point per series per second
START_NS = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
# name: (base, daily swing, noise, decimals) -> 4-6 significant digits
FIELDS = {
    "current": (17.0, 2.0, 0.05, 3),       # 17.213
    "flow": (120.0, 15.0, 0.3, 3),         # 120.513
    "humidity": (45.0, 8.0, 0.2, 2),       # 45.12
    "pressure": (6.2, 0.4, 0.01, 4),       # 6.2143
    "rpm": (1500.0, 120.0, 4.0, 1),        # 1523.4
    "temperature": (60.0, 12.0, 0.3, 2),   # 61.27
    "vibration": (0.25, 0.05, 0.004, 5),   # 0.24812
    "voltage": (230.0, 3.0, 0.5, 2),       # 229.87
}


def tags(k: int) -> dict[str, str]:
    return {"site": f"plant-{'ab'[k % 2]}", "unit": f"unit-{k + 1:02d}"}


def times(timestamps: int) -> np.ndarray:
    return START_NS + np.arange(timestamps, dtype=np.int64) * STEP_NS


def values(k: int, field: str, timestamps: int) -> np.ndarray:
    """One series-field: daily cycle + slow random walk + noise, rounded to sensor resolution."""
    base, swing, noise, decimals = FIELDS[field]
    rng = np.random.default_rng([k, sorted(FIELDS).index(field)])
    day = np.arange(timestamps) / 86_400.0
    walk = np.cumsum(rng.normal(0, noise / 20, timestamps))
    v = base * (1 + 0.02 * k) + swing * np.sin(2 * np.pi * day) + walk + rng.normal(0, noise, timestamps)
    return np.round(v, decimals)


def line_protocol(timestamps: int, batch: int = 20_000) -> Iterator[bytes]:
    """Line protocol (ns) for all series, in batches of `batch` timestamps x SERIES lines."""
    columns = {(k, f): values(k, f, timestamps) for k in range(SERIES) for f in FIELDS}
    t = times(timestamps)
    heads = [MEASUREMENT + "".join(f",{key}={val}" for key, val in sorted(tags(k).items())) for k in range(SERIES)]
    for lo in range(0, timestamps, batch):
        hi = min(lo + batch, timestamps)
        stamps = list(map(str, t[lo:hi].tolist()))
        lines = []
        for k in range(SERIES):
            texts = [[f"{f}={x!r}" for x in columns[k, f][lo:hi].tolist()] for f in FIELDS]
            lines += [f"{heads[k]} {','.join(fv)} {ts}" for *fv, ts in zip(*texts, stamps)]
        yield ("\n".join(lines) + "\n").encode()
