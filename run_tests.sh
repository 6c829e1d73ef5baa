#!/usr/bin/env bash
# The test command: installs what it needs, then runs the whole suite.
# pytest's exit code 5 (no tests collected) is a failure here, never a pass.
set -uo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh || exit 1
.venv/bin/python -m pytest -p no:cacheprovider "$@"
code=$?
if [ "$code" = "5" ]; then
  echo "run_tests.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$code"
