#!/usr/bin/env bash
# Black-box tests of krbd-csi: a real server on a unix socket, a client that shares nothing with the Swift code but
# csi/csi.proto (Python grpcio, stubs generated from the proto during this run).
#
# 1. a venv (csi/.venv, git-ignored; KRBD_CSI_VENV overrides) with pinned grpcio, grpcio-tools, protobuf, pytest;
# 2. Python stubs from csi/csi.proto into a temp dir;
# 3. `swift build --product krbd-csi` (debug; a no-op when up to date), under nice;
# 4. the server on <tmp>/csi.sock over a stale socket left there (it must replace it), with a temp state dir, a
#    cluster config and a fixture sysfs that has /sys/bus/rbd (so Probe is ready without rbd.ko);
# 5. pytest csi/test/test_identity_node.py; it must run tests and pass;
# 6. a second server on the same (live) socket must refuse to start and leave the first serving;
# 7. SIGTERM: the server must exit 0 and remove its socket.
# The trap kills the server and removes the temp dir on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

venv=${KRBD_CSI_VENV:-$PWD/.venv}
python=${PYTHON:-python3}
pins=(grpcio==1.85.3 grpcio-tools==1.85.1 protobuf==7.36.2 pytest==9.2.0)

tmp=$(mktemp -d /tmp/krbd-csi-test.XXXXXX)
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if ! "$venv/bin/python" -c 'import grpc, grpc_tools, pytest' 2>/dev/null; then
  echo "run.sh: creating $venv" >&2
  "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"

mkdir -p "$tmp/stubs"
"$venv/bin/python" -m grpc_tools.protoc -I . --python_out="$tmp/stubs" --grpc_python_out="$tmp/stubs" csi.proto

echo "run.sh: building krbd-csi (debug)" >&2
nice -n 19 swift build --product krbd-csi 2>&1 | tail -3
binary="$(swift build --show-bin-path)/krbd-csi"

mkdir -p "$tmp/sys/bus/rbd" "$tmp/state"
# A kernel without journaling (0x3d: layering, exclusive-lock, object-map, fast-diff, deep-flatten).
echo 0x000000000000003d >"$tmp/sys/bus/rbd/supported_features"
cat >"$tmp/config.json" <<'JSON'
[{"clusterID": "c1", "monitors": ["192.0.2.1:6789", "[v2:192.0.2.2:3300/0,v1:192.0.2.2:6789/0]"],
  "rbd": {"radosNamespace": "tenant-a"}}]
JSON
socket="$tmp/csi.sock"
# A stale socket, as a killed run leaves it: bound, then the process is gone.
"$venv/bin/python" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$socket"
[ -S "$socket" ]

node_id=test-node-1
driver=rbd.krbd.dev
"$binary" --endpoint "unix://$socket" --nodeid "$node_id" --drivername "$driver" \
  --cluster-config "$tmp/config.json" --state-dir "$tmp/state" --sysfs "$tmp/sys" --log-level debug \
  --metrics-address 127.0.0.1:0 \
  2>"$tmp/server.log" &
server_pid=$!

# Up when the log says so (the stale socket file is there from the start, so its existence proves nothing).
for _ in $(seq 1 300); do
  grep -q "serving CSI Identity and Node" "$tmp/server.log" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; echo "run.sh: krbd-csi exited" >&2; exit 1; }
  sleep 0.1
done
grep -q "serving CSI Identity and Node" "$tmp/server.log" || { cat "$tmp/server.log" >&2; exit 1; }

set +e
mkdir -p "$tmp/work"
CSI_ENDPOINT="unix://$socket" CSI_STUBS="$tmp/stubs" CSI_NODE_ID="$node_id" CSI_DRIVER_NAME="$driver" \
  CSI_SERVER_LOG="$tmp/server.log" CSI_WORK="$tmp/work" CSI_STATE="$tmp/state" PYTHONDONTWRITEBYTECODE=1 \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider test/test_identity_node.py
status=$?
set -e
if [ "$status" != 0 ]; then
  echo "run.sh: pytest exited $status; the server's log:" >&2
  tail -40 "$tmp/server.log" >&2
  exit 1
fi

# A second instance on the live socket must refuse (exit 2) and leave the first one serving.
set +e
"$binary" --endpoint "unix://$socket" --nodeid other --cluster-config "$tmp/config.json" --state-dir "$tmp/state" \
  --sysfs "$tmp/sys" 2>"$tmp/second.log"
second=$?
set -e
if [ "$second" != 2 ] || ! grep -q "another process is serving" "$tmp/second.log" || ! kill -0 "$server_pid"; then
  echo "run.sh: a second krbd-csi on the same socket exited $second:" >&2
  cat "$tmp/second.log" >&2
  exit 1
fi
[ -S "$socket" ]
echo "run.sh: a second instance refused the live socket" >&2

# Clean shutdown: SIGTERM drains, exits 0, removes the socket.
kill -TERM "$server_pid"
set +e
wait "$server_pid"
exit_code=$?
set -e
server_pid=
if [ "$exit_code" != 0 ] || [ -e "$socket" ]; then
  left=$([ -e "$socket" ] && echo left || echo gone)
  echo "run.sh: after SIGTERM krbd-csi exited $exit_code and the socket is $left" >&2
  tail -20 "$tmp/server.log" >&2
  exit 1
fi
grep -q "stopped" "$tmp/server.log"
echo "run.sh: SIGTERM: exit 0, socket removed" >&2
