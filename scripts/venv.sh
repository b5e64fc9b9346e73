#!/usr/bin/env bash
# Create (or refresh) the project venv and install lvsfast into it with its compiled core.
# The venv lives under /tmp so the IPVS VM (which overlays the host's /tmp) can use it too.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${LVSFAST_VENV:-/tmp/lvsfast-venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi
"$VENV/bin/pip" install -q -e '.[test,bench]'
echo "$VENV"
