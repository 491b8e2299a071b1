#!/bin/bash
# Runs inside the sandbox guest (scripts/bench): `krbd-bench vm` with its standard output — where
# the library's default logger writes — in a file on /run, progress on stderr, then the Markdown
# section between markers on stdout.
#   bench-guest.sh KRBD_BENCH [vm options...]
set -euo pipefail
bench=${1:?usage: bench-guest.sh KRBD_BENCH [vm options...]}
shift
out=/run/krbd-bench-out
mkdir -p "$out"
rc=0
"$bench" vm --output "$out/vm.md" "$@" >"$out/vm.log" || rc=$?
if [ "$rc" != 0 ]; then
  echo "bench-guest: krbd-bench vm failed ($rc); the end of its log:" >&2
  tail -20 "$out/vm.log" >&2
  exit "$rc"
fi
echo "<!-- krbd-bench vm begin -->"
cat "$out/vm.md"
echo "<!-- krbd-bench vm end -->"
