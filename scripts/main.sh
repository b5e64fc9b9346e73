#!/usr/bin/env bash
# The main job on a fresh machine: install, then check the example configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
VENV=$(bash scripts/venv.sh | tail -n 1)
exec "$VENV/bin/lvsfast" -t -f examples/keepalived.conf "$@"
