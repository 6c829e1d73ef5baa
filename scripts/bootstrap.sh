#!/usr/bin/env bash
# Make a fresh machine ready: a project virtualenv with every Python dependency, and
# Debian's packages below.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

# Debian's influxdb (a real InfluxDB 1.x), its influx CLI (influxdb-client: the benchmark
# times `influx -execute ... -format csv` beside the connector) and a C compiler (the
# connector builds its C kernels on first use; the tests check that they build, and run
# the numpy path as well).
packages=""
command -v influxd >/dev/null 2>&1 || packages="$packages influxdb"
command -v influx >/dev/null 2>&1 || packages="$packages influxdb-client"
command -v cc >/dev/null 2>&1 || packages="$packages gcc libc6-dev"
if [ -n "$packages" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[bootstrap] installing Debian's$packages" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
    # The influxdb package may start a system service; the tests and the demo start their own.
    (service influxdb stop >/dev/null 2>&1 || true)
  else
    echo "[bootstrap] missing$packages and cannot apt-get install them (not root?)" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[bootstrap] creating $VENV" >&2
  python3 -m venv "$VENV"
fi
stamp="$VENV/.requirements.sha"
want="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[bootstrap] installing Python dependencies into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
