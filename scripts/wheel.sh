#!/usr/bin/env bash
# Build the sdist and a manylinux wheel (compiled core included) into dist/.
# Needs: a venv with build and auditwheel (scripts/venv.sh installs them), patchelf.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${LVSFAST_VENV:-/tmp/lvsfast-venv}
OUT=${1:-dist}
rm -rf "$OUT/raw"
"$VENV/bin/python" -m build --sdist --wheel --outdir "$OUT/raw" . >/dev/null
# auditwheel grafts no libraries here (the core needs only libc) but gives the portable tag.
PATH="$VENV/bin:$PATH" "$VENV/bin/auditwheel" repair --wheel-dir "$OUT" "$OUT"/raw/*.whl >/dev/null
mv "$OUT"/raw/*.tar.gz "$OUT"/
rm -rf "$OUT/raw"
ls "$OUT"
