#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: system packages, venv, build, tests.
# Extra arguments go to the main pytest run.
#
# Two runs. The main one: every test, the compiled core in use. Then the unit tests (no
# namespaces, root, VM or keepalived; conftest.py marks those by the fixtures they use, and
# need_root() skips the rest as out of this run) again with LVSFAST_NO_EXTENSIONS=1, so the pure
# twins pass the same tests (about 2 minutes). LVSFAST_TWIN_RUN=0 leaves that run out.
# The exit status is the main run's if it failed, else the unit run's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
VENV=$(bash scripts/venv.sh | tail -n 1)
status=0
"$VENV/bin/python" -m pytest --durations=40 "$@" || status=$?
if [ "${LVSFAST_TWIN_RUN:-1}" != "0" ]; then
  unit=0
  LVSFAST_NO_EXTENSIONS=1 LVSFAST_TEST_UNIT_ONLY=1 "$VENV/bin/python" -m pytest -q \
    -m "not compiled and not netns and not root and not vm and not keepalived" || unit=$?
  [ "$status" -ne 0 ] || status=$unit
fi
exit "$status"
