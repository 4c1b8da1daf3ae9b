#!/usr/bin/env bash
# Set up (first time only) and run the whole test suite offscreen.
# Extra arguments go to pytest, e.g. scripts/test.sh -k histogram.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
