#!/usr/bin/env bash
# Set up (first time only) and start the editor. Extra arguments go to `convolve`,
# e.g. scripts/run.sh photo.jpg. With no screen ($DISPLAY unset) it runs under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
  echo "run: no screen found; starting under Xvfb (xvfb-run)"
  exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/convolve "$@"
fi
exec .venv/bin/convolve "$@"
