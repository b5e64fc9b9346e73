#!/usr/bin/env bash
# The main job on a fresh machine: install, then check the example configuration (Figure 2.1)
# the way keepalived -t would, in a throwaway namespace that has the example's eth0 and eth1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
VENV=$(bash scripts/venv.sh | tail -n 1)
NS=lvsfast-example-$$
ip netns add "$NS"
trap 'ip netns del "$NS" 2>/dev/null || true' EXIT
ip -n "$NS" link add eth0 type veth peer name eth1
ip netns exec "$NS" "$VENV/bin/lvsfast" -t -f examples/keepalived.conf "$@"
