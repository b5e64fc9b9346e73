#!/usr/bin/env bash
# Install the system packages lvsfast's tests, lab and benchmarks use (Debian 12).
# Idempotent: packages already present are not fetched again.
set -euo pipefail
PKGS=(
  build-essential python3-dev python3-venv
  iproute2 iputils-ping nftables conntrack tcpdump psmisc procps
  keepalived frr nginx-light ipvsadm
  qemu-system-x86 linux-image-amd64 busybox-static
  systemd
  snmpd snmp snmptrapd
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: not root; missing: ${missing[*]} (tests needing them will skip)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts these on install; tests run their own instances in namespaces.
for svc in keepalived frr nginx snmpd snmptrapd; do
  systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
  pkill -x "$svc" >/dev/null 2>&1 || true
done
