#!/usr/bin/env bash
# The benchmark harness on a fresh machine: install, then run every scenario this machine can.
# Arguments go to bench/run.py (e.g. --quick, --only micro,nft).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
VENV=$(bash scripts/venv.sh | tail -n 1)
exec "$VENV/bin/python" bench/run.py "$@"
