#!/usr/bin/env bash
# The main job on a local default: start a real InfluxDB 1.x with a week of sample
# machine telemetry, export it with the connector, print where the CSV is, stop the server.
set -uo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh || exit 1
exec .venv/bin/python -m demo.run_demo "$@"
