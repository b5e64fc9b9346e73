#!/usr/bin/env bash
# Run one shell command as root inside Debian's kernel (which has IPVS) under qemu, with this
# machine's filesystem as the guest's root (read-only; /tmp is a writable overlay), through
# virtme-ng. KVM hangs on our CI hosts, so it is always off: everything is emulated.
#   scripts/vm.sh 'modprobe ip_vs && ipvsadm -Ln'
# Environment: LVSFAST_VENV (default /tmp/lvsfast-venv), LVSFAST_VM_KERNEL (default: newest
# /boot/vmlinuz-*), LVSFAST_VM_RWDIR (a host directory the guest may write; results go there),
# LVSFAST_VM_CPUS (default 2), LVSFAST_VM_MEMORY (default 2G).
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 '<command>'" >&2
  exit 2
fi
VENV=${LVSFAST_VENV:-/tmp/lvsfast-venv}
KERNEL=${LVSFAST_VM_KERNEL:-$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)}
if [ -z "$KERNEL" ] || [ ! -r "$KERNEL" ]; then
  echo "vm.sh: no readable kernel in /boot (apt-get install linux-image-amd64)" >&2
  exit 3
fi
export PATH="$VENV/bin:$PATH"
if ! command -v vng >/dev/null; then
  echo "vm.sh: vng not found in $VENV (pip install virtme-ng)" >&2
  exit 3
fi
args=(--run "$KERNEL" --disable-kvm --user root --memory "${LVSFAST_VM_MEMORY:-2G}" --cpus "${LVSFAST_VM_CPUS:-2}")
if [ -n "${LVSFAST_VM_RWDIR:-}" ]; then
  args+=(--rwdir "$LVSFAST_VM_RWDIR")
fi
# The guest sees the same paths; LVSFAST_IPVS_VM=1 tells the in-VM tests where they are.
exec vng "${args[@]}" --exec "export LVSFAST_IPVS_VM=1 PYTHONDONTWRITEBYTECODE=1 PATH=$VENV/bin:\$PATH; cd $(pwd) && $1"
