#!/usr/bin/env bash
# krbd-csi's VM tier: runs inside the sandbox guest (real rbd.ko, one-node Ceph), started by scripts/test as
#   scripts/sandbox run [--no-udev] -- csi/test/vm.sh
# (`csi/test/vm.sh --bench [BINARY]`: csi/test/bench_vm.py's numbers instead of the tests; scripts/bench --csi
# runs it with the release build.)
# Needs what csi/test/run.sh made on the host: the venv (csi/.venv) and the debug krbd-csi binary. Generates the
# Python stubs from csi/csi.proto into a temp dir and runs pytest on test_volumes_vm.py, which starts its own
# servers. Prints pytest's summary (`N passed`); exits non-zero when a test failed or none ran.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${KRBD_CSI_VENV:-$PWD/.venv}
binary=${CSI_BINARY:-$PWD/.build/debug/krbd-csi}
[ "${1:-}" = --bench ] && [ -n "${2:-}" ] && binary=$2
[ "${KRBD_SANDBOX:-}" = 1 ] || { echo "vm.sh: run me in the sandbox guest (scripts/sandbox run -- $0)" >&2; exit 2; }
[ -x "$venv/bin/python" ] || { echo "vm.sh: no venv at $venv: run csi/test/run.sh on the host first" >&2; exit 2; }
[ -x "$binary" ] || { echo "vm.sh: no krbd-csi at $binary: run csi/test/run.sh on the host first" >&2; exit 2; }
tmp=$(mktemp -d /tmp/krbd-csi-vm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/stubs" "$tmp/work"
"$venv/bin/python" -m grpc_tools.protoc -I . --python_out="$tmp/stubs" --grpc_python_out="$tmp/stubs" csi.proto
export CSI_BINARY="$binary" CSI_STUBS="$tmp/stubs" CSI_WORK="$tmp/work" PYTHONDONTWRITEBYTECODE=1
if [ "${1:-}" = --bench ]; then
  # The numbers of issue 14 (csi/test/bench_vm.py), printed between markers.
  CSI_BENCH_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo "?") "$venv/bin/python" test/bench_vm.py
  exit
fi
"$venv/bin/python" -m pytest -q -p no:cacheprovider test/test_volumes_vm.py
