"""Progress: a bar on a terminal, a log line every few seconds in a cnvrg job (no TTY)."""
from __future__ import annotations

import logging
import sys
import time

from .timerange import format_rfc3339

log = logging.getLogger("connector")
LOG_EVERY_S = 5.0


class Progress:
    """Counts rows and how much of the data's time span is done."""

    def __init__(self, first_ns: int, stop_ns: int, interactive: bool | None = None) -> None:
        self.first_ns, self.stop_ns = first_ns, stop_ns
        self.rows = 0
        self.started = self._logged = time.monotonic()
        interactive = sys.stderr.isatty() if interactive is None else interactive
        self._bar = None
        if interactive:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=1000, unit="‰", desc="exporting", leave=False, file=sys.stderr,
                                 bar_format="{desc} {bar} {percentage:3.0f}% {elapsed}<{remaining} {postfix}")

    def fraction(self, covered_ns: int) -> float:
        span = max(1, self.stop_ns - self.first_ns)
        return min(1.0, max(0.0, (covered_ns - self.first_ns) / span))

    def update(self, covered_ns: int, rows: int) -> None:
        self.rows += rows
        done = self.fraction(covered_ns)
        elapsed = time.monotonic() - self.started
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        if self._bar is not None:
            self._bar.n = int(done * 1000)
            self._bar.set_postfix_str(f"{self.rows:,} rows, {rate:,.0f} rows/s", refresh=True)
        elif time.monotonic() - self._logged >= LOG_EVERY_S:
            self._logged = time.monotonic()
            log.info("%d%% of the range done (up to %s): %s rows, %s rows/s", done * 100,
                     format_rfc3339(covered_ns), f"{self.rows:,}", f"{rate:,.0f}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
