#!/usr/bin/env bash
# One-time set-up of a fresh machine: system tools (where we are allowed to install them) and a
# virtual environment with the exact package versions of requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"

# System tools from Debian: ExifTool (EXIF harvesting) and headless Chromium + chromedriver (the
# leaderboard site's browser test). Install what is missing when we can, say how otherwise.
need=()
command -v exiftool >/dev/null 2>&1 || need+=(libimage-exiftool-perl)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
      || echo "warning: could not install ${need[*]}; run: sudo apt-get install ${need[*]}" >&2
  else
    echo "note: missing ${need[*]}; run: sudo apt-get install ${need[*]}" >&2
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.lock
# The optional non-commercial extra (pyiqa, PolyForm Noncommercial 1.0.0: MUSIQ and MANIQA) only when
# asked for (CI sets it so pyiqa's reference tests run); without its heavy unused requirements.
if [ "${REFOCUS_BENCH_NONCOMMERCIAL:-0}" = "1" ]; then
  .venv/bin/python -m pip install -q --no-deps -r requirements-noncommercial.lock
fi
.venv/bin/python -m pip install -q --no-deps -e .
