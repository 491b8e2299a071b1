#!/bin/bash
# Runs inside the sandbox guest as PID-1's child (virtme-ng --exec), as root.
# Argument: the host run directory (shared read-write) holding "spec".
#
# Loads rbd.ko, builds the one-node cluster, runs the command, then unmaps
# every rbd device and stops the daemons so that the guest can power off.
set -u

RUN_DIR=$1
# shellcheck source=/dev/null
. "$RUN_DIR/spec"

SB=/run/krbd-sandbox
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { printf 'sandbox(guest): %s\n' "$*" >&2; }
now() { date +%s.%N; }
timing() { awk -v s="$2" -v e="$(now)" -v n="$1" 'BEGIN{printf "sandbox: timing %-12s %6.1fs\n", n, e-s}' >&2; }
status() { printf '%s\n' "$*" >"$RUN_DIR/status"; }

show_ceph_logs() {
  local f
  for f in "$SB"/ceph/log/*.log; do
    [ -e "$f" ] || continue
    say "---- tail of $f ----"
    tail -n 40 "$f" >&2
  done
  say "---- dmesg (tail) ----"
  dmesg | tail -n 20 >&2
}

unmap_all() {
  local dev id try
  for dev in /sys/bus/rbd/devices/*; do
    [ -e "$dev" ] || continue
    id=${dev##*/}
    for try in 1 2 3 4 5 6 7 8 9 10; do
      if echo "$id force" >/sys/bus/rbd/remove_single_major 2>/dev/null; then
        say "unmapped rbd$id"
        break
      fi
      sleep 0.2
    done
  done
}

stop_daemons() {
  local name pidf pid i
  for name in osd.0 mon.a; do
    pidf=$SB/ceph/run/ceph-$name.pid
    [ -s "$pidf" ] || continue
    pid=$(cat "$pidf")
    kill "$pid" 2>/dev/null || continue
    for i in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  done
}

cleanup() {
  [ -d /sys/bus/rbd ] && unmap_all
  stop_daemons
}

infra_fail() {
  say "error: $*"
  show_ceph_logs
  status "failed $*"
  cleanup
  exit 125
}

boot_end=$(now)
awk -v s="$HOST_START" -v e="$boot_end" 'BEGIN{printf "sandbox: timing %-12s %6.1fs\n", "boot", e-s}' >&2
mkdir -p "$SB"
status booted

t0=$(now)
modprobe rbd single_major=Y || infra_fail "modprobe rbd failed"
[ "$(cat /sys/module/rbd/parameters/single_major)" = Y ] || infra_fail "rbd single_major is not Y"

if [ "$NO_UDEV" = 1 ]; then
  for pid in $(pgrep -x systemd-udevd; pgrep -x udevd); do
    kill "$pid" 2>/dev/null
  done
  for i in $(seq 50); do
    pgrep -x systemd-udevd >/dev/null || pgrep -x udevd >/dev/null || break
    sleep 0.1
  done
  if pgrep -x systemd-udevd >/dev/null || pgrep -x udevd >/dev/null; then
    infra_fail "could not stop udevd"
  fi
  say "udevd stopped (--no-udev)"
fi

/usr/bin/python3 "$HERE/sandbox-cluster.py" "$SB" || infra_fail "the Ceph cluster did not come up"
timing cluster-up "$t0"
status cluster-up

set -a
# shellcheck source=/dev/null
. "$SB/env"
set +a
for kv in "${PASS_ENV[@]}"; do
  export "${kv?}"
done
if [ -n "${HOST_TMPDIR:-}" ] && [ -d "$HOST_TMPDIR" ] && [ -w "$HOST_TMPDIR" ]; then
  export TMPDIR=$HOST_TMPDIR
else
  export TMPDIR=/tmp
fi
export HOME=/root
export PATH=/usr/local/sbin:/usr/sbin:/sbin:$HOST_PATH:/usr/local/bin:/usr/bin:/bin
# Swift executables built on the host carry RUNPATH /opt/swift/usr/lib/swift/linux,
# which the read-only 9p root shows at the same path: no LD_LIBRARY_PATH needed.

cd "$HOST_CWD" 2>/dev/null || { say "warning: cannot cd to $HOST_CWD, staying in /"; cd /; }

t0=$(now)
"${CMD[@]}"
rc=$?
timing command "$t0"
status "done $rc $(now)"
say "command exited with $rc"

cleanup
exit "$rc"
