"""Deterministic machine telemetry for tests, demos and benchmarks.

Why: the connector feeds anomaly-detection, forecasting and remaining-useful-life
flows, so its sample data must look like the real thing: several units, daily load
cycles, sensor noise and wear drift, a monotonically increasing ``cycle`` counter and
an ``anomaly`` label on a few episodes where the sensors really deviate.  The same
seed always gives the same frame, byte for byte.

Timestamps are on a ``step_s`` grid plus a per-point jitter of up to 20 ms with
nanosecond digits, so any loss of time precision on the way out shows up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import repeat

import numpy as np
import pandas as pd

FLOAT_FIELDS = ("temperature", "vibration", "pressure", "rpm", "current")
INT_FIELDS = ("cycle", "anomaly")
TAGS = ("unit", "site")
COLUMNS = ("time", *TAGS, *FLOAT_FIELDS, *INT_FIELDS)
_DAY_NS = 86_400 * 10**9


def _episodes(rng: np.random.Generator, n: int, step_s: float) -> np.ndarray:
    """A boolean mask of 2 non-overlapping anomaly episodes of 1-3 hours, none in the first 10 %."""
    mask = np.zeros(n, dtype=bool)
    for _ in range(2):
        length = max(1, int(rng.uniform(1.0, 3.0) * 3600 / step_s))
        for _try in range(20):
            start = int(rng.integers(n // 10, max(n // 10 + 1, n - length)))
            lo, hi = max(0, start - length), min(n, start + 2 * length)
            if not mask[lo:hi].any():
                mask[start:start + length] = True
                break
    return mask


def _unit(rng: np.random.Generator, k: int, n: int, t0_ns: int, step_s: float) -> pd.DataFrame:
    """One unit's series: a sensor model with daily load, drift, noise and labelled faults."""
    step_ns = int(step_s * 10**9)
    time = t0_ns + np.arange(n, dtype=np.int64) * step_ns + rng.integers(0, 20_000_000, n)
    days = (time - t0_ns) / _DAY_NS
    load = 0.5 + 0.4 * np.sin(2 * np.pi * (days - 0.25)) + rng.normal(0, 0.03, n)  # peaks mid-day
    wear = days / max(days[-1], 1e-9) * rng.uniform(0.5, 1.5)  # 0 -> ~1 over the period
    fault = _episodes(rng, n, step_s)
    ramp = np.zeros(n)
    if fault.any():  # deviation grows through each episode
        edges = np.flatnonzero(np.diff(np.r_[0, fault.astype(np.int8), 0]))
        for a, b in zip(edges[::2], edges[1::2]):
            ramp[a:b] = np.linspace(0.3, 1.0, b - a)
    rpm = 1450 + 300 * load + rng.normal(0, 8, n) - 250 * ramp
    frame = {
        "time": time,
        "unit": f"unit-{k + 1:02d}",
        "site": f"plant-{'abc'[k // 2 % 3]}",
        "temperature": 55 + 3 * k + 12 * load + 4 * wear + rng.normal(0, 0.4, n) + 18 * ramp,
        "vibration": 0.18 + 0.05 * load + 0.06 * wear + np.abs(rng.normal(0, 0.01, n)) + 0.5 * ramp,
        "pressure": 6.2 - 0.4 * load - 0.2 * wear + rng.normal(0, 0.03, n) - 1.5 * ramp,
        "rpm": rpm,
        "current": 8 + 0.006 * rpm * (1 + 0.1 * wear) + rng.normal(0, 0.1, n) + 4 * ramp,
        "cycle": int(rng.integers(1, 5000)) + np.arange(n, dtype=np.int64),
        "anomaly": fault.astype(np.int64),
    }
    df = pd.DataFrame(frame)
    # sensor resolution: realistic values, still written and read back exactly
    return df.round({"temperature": 2, "vibration": 4, "pressure": 3, "rpm": 1, "current": 3})


def generate(units: int = 3, days: float = 7.0, step_s: float = 10, start: str = "2024-01-01T00:00:00Z",
             seed: int = 7) -> pd.DataFrame:
    """Telemetry for ``units`` machines over ``days``, one row per unit and ``step_s``, sorted by time."""
    rng = np.random.default_rng(seed)
    t0_ns = pd.Timestamp(start).value
    n = int(round(days * 86_400 / step_s))
    parts = [_unit(rng, k, n, t0_ns, step_s) for k in range(units)]
    df = pd.concat(parts, ignore_index=True).sort_values(["time", "unit"], kind="stable", ignore_index=True)
    return df[list(COLUMNS)]


def _escape_key(text: str, special: str = ", =") -> str:
    """Line-protocol escaping of names and tag values: a backslash before each special character.

    InfluxDB 1.x does not unescape ``\\`` in names (measured on 1.6.7): backslashes stay literal.
    """
    for ch in special:
        text = text.replace(ch, "\\" + ch)
    return text


def _field_text(s: pd.Series) -> list[str]:
    """Line-protocol field values: floats as repr() (exact round trip), ints with ``i``."""
    values = s.tolist()
    if pd.api.types.is_bool_dtype(s):
        return list(map({True: "true", False: "false"}.__getitem__, values))
    if pd.api.types.is_integer_dtype(s):
        return list(map("{}i".format, values))
    if pd.api.types.is_float_dtype(s):
        return list(map(float.__repr__, values))
    return ['"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]


def to_line_protocol(df: pd.DataFrame, measurement: str = "machine", batch_rows: int = 50_000,
                     tags: tuple[str, ...] = TAGS) -> Iterator[bytes]:
    """Yield newline-terminated batches of line protocol (ns precision), built column by column.

    ``time`` is the timestamp column, ``tags`` the tag columns, everything else a field.
    Each column is formatted in one pass and the lines are glued by ``zip``/``join``:
    no Python-level code per value for tags, numbers and booleans.  Missing (NaN) fields are not
    supported (``generate`` makes none).
    """
    fields = [c for c in df.columns if c != "time" and c not in tags]
    for lo in range(0, len(df), batch_rows):
        part = df.iloc[lo:lo + batch_rows]
        cols: list[Iterable[str]] = [repeat(_escape_key(measurement, ", "))]
        for tag in tags:  # tag values repeat a lot: escape each distinct value once
            escaped = {v: _escape_key(str(v)) for v in part[tag].unique()}
            cols += [repeat(f",{_escape_key(tag)}="), map(escaped.__getitem__, part[tag].tolist())]
        for i, name in enumerate(fields):
            cols += [repeat(f"{' ' if i == 0 else ','}{_escape_key(name)}="), _field_text(part[name])]
        cols += [repeat(" "), map(str, part["time"].tolist())]
        yield ("\n".join(map("".join, zip(*cols))) + "\n").encode()
