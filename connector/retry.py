"""Retrying what is worth retrying: connection errors, timeouts, cut answers, 429 and 5xx.

Only `ServerUnavailable` is retried; the server refusing (400/401/403/404) or the data
being wrong is final. The delay doubles per attempt with full jitter (so many nightly
flows hitting one overloaded server do not retry in lockstep), capped, and a server's
Retry-After wins when it gives one.
"""
from __future__ import annotations

import logging
import random
import time
from typing import Callable, TypeVar

from .errors import ServerUnavailable

log = logging.getLogger("connector")
T = TypeVar("T")
BASE_DELAY_S = 0.5
MAX_DELAY_S = 30.0
MAX_RETRY_AFTER_S = 300.0


def backoff(attempt: int, retry_after: float | None, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry)."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, MAX_RETRY_AFTER_S)
    return rng() * min(MAX_DELAY_S, BASE_DELAY_S * 2 ** attempt)


def with_retries(action: Callable[[], T], retries: int, what: str,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    attempt = 0
    while True:
        try:
            return action()
        except ServerUnavailable as exc:
            if attempt >= retries:
                if retries == 0:
                    raise
                raise ServerUnavailable(f"{exc} (gave up on {what} after {attempt + 1} attempts)",
                                        exc.status, exc.retry_after) from None
            delay = backoff(attempt, exc.retry_after)
            log.warning("%s failed: %s; retry %d of %d in %.1f s", what, exc, attempt + 1, retries, delay)
            sleep(delay)
            attempt += 1
