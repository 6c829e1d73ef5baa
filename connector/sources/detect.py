"""api=auto: ask the server's /ping which query API it speaks."""
from __future__ import annotations

import logging

from ..config import Settings

log = logging.getLogger("connector")
PING_TIMEOUT_S = 10.0


def api_for_version(version: str) -> str:
    """1.x and 3.x answer InfluxQL on /query; 2.x and Cloud want Flux."""
    number = version.strip().lstrip("vV")
    return "v1" if number[:2] in ("1.", "3.") or number in ("1", "3") else "v2"


def detect_api(settings: Settings) -> str:
    import urllib3

    from .influxql import pool_for

    try:
        response = pool_for(settings).request("GET", settings.url + "/ping", timeout=PING_TIMEOUT_S, retries=False)
        version = response.headers.get("X-Influxdb-Version", "")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        log.warning("api=auto: %s/ping did not answer (%s); using the 2.x (Flux) API", settings.url,
                    type(exc).__name__)
        return "v2"
    api = api_for_version(version) if version else "v2"
    log.info("api=auto: the server says version %r; using the %s API", version or "unknown",
             "1.x (InfluxQL)" if api == "v1" else "2.x (Flux)")
    return api
