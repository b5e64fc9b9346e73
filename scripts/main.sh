#!/usr/bin/env bash
# The main job on a fresh machine (as root): install, then run the lab: Figure 2.1 of the
# Keepalived Overview in network namespaces, with lvsfast on both LVS routers and traffic from a
# client. Interactive on a terminal (keys fail and restore routers and real servers); otherwise,
# or with --tour, the scripted tour. Every namespace is removed on exit, Ctrl-C included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
VENV=$(bash scripts/venv.sh | tail -n 1)
if [ $# -eq 0 ] && [ ! -t 0 ]; then
  set -- --tour
fi
exec "$VENV/bin/python" -m lvsfast.lab "$@"
