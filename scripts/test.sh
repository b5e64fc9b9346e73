#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: system packages, venv, build, tests.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
VENV=$(bash scripts/venv.sh | tail -n 1)
exec "$VENV/bin/python" -m pytest "$@"
