#!/bin/bash
# End-to-end check run inside the sandbox guest by `scripts/sandbox selftest`:
# maps and unmaps fixtures through raw sysfs writes, the way the product does.
set -u
fails=0
ok() { printf 'selftest: ok   %s\n' "$*"; }
bad() { printf 'selftest: FAIL %s\n' "$*"; fails=$((fails + 1)); }
check() { # check LABEL EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then ok "$1 = '$3'"; else bad "$1: expected '$2', got '$3'"; fi
}
ms() { date +%s%3N; }

# Removes device $1, retrying EBUSY while udev's probe holds it.
remove_dev() {
  local try
  for try in $(seq 20); do
    if echo "$1" >/sys/bus/rbd/remove_single_major 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$1 force" >/sys/bus/rbd/remove_single_major
}

for v in KRBD_SANDBOX KRBD_TEST_MON KRBD_TEST_MON_V2 KRBD_TEST_USER KRBD_TEST_KEYRING \
         KRBD_TEST_CEPH_CONF KRBD_TEST_POOL KRBD_TEST_FSID KRBD_TEST_IMAGES; do
  [ -n "${!v:-}" ] && ok "$v is set" || bad "$v is not set"
done
[ -r /etc/ceph/ceph.conf ] && ok "/etc/ceph/ceph.conf exists" || bad "/etc/ceph/ceph.conf missing"
[ -w "${TMPDIR:-/nonexistent}" ] && ok "TMPDIR=$TMPDIR is writable" || bad "TMPDIR not writable"
check single_major Y "$(cat /sys/module/rbd/parameters/single_major)"
udev=no; pgrep -x systemd-udevd >/dev/null && udev=yes
echo "selftest: udevd running: $udev"

key=$(sed -n 's/^[[:space:]]*key[[:space:]]*=[[:space:]]*//p' "$KRBD_TEST_KEYRING" | head -n1)
[ -n "$key" ] && ok "key read from keyring" || bad "no key in $KRBD_TEST_KEYRING"

# 1) key= reference to a ceph key in the user keyring (raw, base64-decoded).
printf '%s' "$key" | base64 -d | keyctl padd ceph client.admin @u >/dev/null \
  && ok "ceph key added to @u" || bad "keyctl padd failed"
t=$(ms)
if echo "$KRBD_TEST_MON name=admin,key=client.admin $KRBD_TEST_POOL plain -" >/sys/bus/rbd/add_single_major; then
  ok "map rbd/plain with key=client.admin ($(( $(ms) - t )) ms)"
  check pool "$KRBD_TEST_POOL" "$(cat /sys/bus/rbd/devices/0/pool)"
  check name plain "$(cat /sys/bus/rbd/devices/0/name)"
  check current_snap - "$(cat /sys/bus/rbd/devices/0/current_snap)"
  check cluster_fsid "$KRBD_TEST_FSID" "$(cat /sys/bus/rbd/devices/0/cluster_fsid)"
  [ -b /dev/rbd0 ] && ok "/dev/rbd0 is a block device" || bad "/dev/rbd0 missing"
  if [ "$udev" = yes ]; then
    udevadm settle -t 10 2>/dev/null
    [ -e /dev/rbd/rbd/plain ] && ok "udev symlink /dev/rbd/rbd/plain" || bad "no udev symlink"
  fi
  head -c 4096 /dev/rbd0 | od -An -c | head -n1 >/dev/null && ok "read 4 KiB from /dev/rbd0" || bad "read failed"
  t=$(ms)
  remove_dev 0 && ok "unmap rbd0 ($(( $(ms) - t )) ms)" || bad "unmap rbd0 failed"
  [ ! -e /sys/bus/rbd/devices/0 ] && ok "device 0 gone" || bad "device 0 still there"
else
  bad "map rbd/plain with key=client.admin failed"
fi

# 2) secret= inline, a snapshot (read-only) and an image in a namespace.
if echo "$KRBD_TEST_MON name=admin,secret=$key $KRBD_TEST_POOL snapimg s1" >/sys/bus/rbd/add_single_major; then
  id=$(ls /sys/bus/rbd/devices | head -n1)
  check "snapimg current_snap" s1 "$(cat /sys/bus/rbd/devices/$id/current_snap)"
  check "snapimg ro" 1 "$(cat /sys/block/rbd$id/ro)"
  check "snapimg data" "krbd-sandbox snapimg@s1" "$(head -c 23 /dev/rbd$id)"
  remove_dev "$id" && ok "unmap snapimg" || bad "unmap snapimg failed"
else
  bad "map rbd/snapimg@s1 with secret= failed"
fi
if echo "$KRBD_TEST_MON name=admin,secret=$key,_pool_ns=${KRBD_TEST_NAMESPACE:-ns1} $KRBD_TEST_POOL ${KRBD_TEST_NS_IMAGE:-nsimg} -" >/sys/bus/rbd/add_single_major; then
  id=$(ls /sys/bus/rbd/devices | head -n1)
  check "nsimg pool_ns" "${KRBD_TEST_NAMESPACE:-ns1}" "$(cat /sys/bus/rbd/devices/$id/pool_ns)"
  remove_dev "$id" && ok "unmap nsimg" || bad "unmap nsimg failed"
else
  bad "map rbd/ns1/nsimg failed"
fi

# 3) the v2 port with ms_mode, and the limited second user.
if [ -n "${KRBD_TEST_KEYRING2:-}" ]; then
  key2=$(sed -n 's/^[[:space:]]*key[[:space:]]*=[[:space:]]*//p' "$KRBD_TEST_KEYRING2" | head -n1)
  if echo "$KRBD_TEST_MON_V2 name=$KRBD_TEST_USER2,secret=$key2,ms_mode=prefer-crc $KRBD_TEST_POOL excl -" >/sys/bus/rbd/add_single_major; then
    id=$(ls /sys/bus/rbd/devices | head -n1)
    ok "map rbd/excl as client.$KRBD_TEST_USER2 over msgr2 (features $(cat /sys/bus/rbd/devices/$id/features))"
    remove_dev "$id" && ok "unmap excl" || bad "unmap excl failed"
  else
    bad "map rbd/excl as client.$KRBD_TEST_USER2 over msgr2 failed"
  fi
fi

[ -z "$(ls /sys/bus/rbd/devices)" ] && ok "no device left mapped" || bad "devices left: $(ls /sys/bus/rbd/devices)"
echo "selftest: $fails failure(s)"
[ "$fails" = 0 ]
