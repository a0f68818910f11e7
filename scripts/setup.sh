#!/usr/bin/env bash
# One-time set-up of a fresh machine: system tools (where we are allowed to install them) and a
# virtual environment with the exact package versions of requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"

# ExifTool (EXIF harvesting) comes from Debian; install it when we can, say how otherwise.
if ! command -v exiftool >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libimage-exiftool-perl >/dev/null) \
      || echo "warning: could not install ExifTool; run: sudo apt-get install libimage-exiftool-perl" >&2
  else
    echo "note: ExifTool not found; for 'refocus-bench harvest' run: sudo apt-get install libimage-exiftool-perl" >&2
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.lock
.venv/bin/python -m pip install -q --no-deps -e .
