#!/bin/bash
# Runs inside the sandbox guest (scripts/sandbox demo): the product's main job on a real
# rbd.ko and Ceph. Attach an image to this node, set it up for two workloads (read-write with
# a group, read-only), write and read a file, show the state, tear everything down.
set -euo pipefail
krbd=${KRBD_DEMO_BIN:?}
root=/run/krbd-demo/kubelet
mon=${KRBD_TEST_MON:-127.0.0.1:6789}
keyring=${KRBD_TEST_KEYRING:-/etc/ceph/ceph.client.admin.keyring}
conn=(--root "$root" -m "$mon" --keyring "$keyring")
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "krbd $*"; "$krbd" "$@"; }

run doctor
run attach rbd/demo "${conn[@]}"
run attach rbd/demo "${conn[@]}"
run setup rbd/demo --pod writer-pod --fs-group 1000 "${conn[@]}"
run setup rbd/demo --pod reader-pod --read-only "${conn[@]}"
writer=$root/pods/writer-pod/volumes/kubernetes.io~rbd/demo
reader=$root/pods/reader-pod/volumes/kubernetes.io~rbd/demo
step "echo 'hello from krbd' > $writer/hello.txt"
echo 'hello from krbd' > "$writer/hello.txt"
step "cat $reader/hello.txt"
cat "$reader/hello.txt"
step "touch $reader/nope   # read-only bind"
touch "$reader/nope" 2>&1 || true
step "ls -ln $writer"
ls -ln "$writer"
run list
run status --root "$root" --reconcile
run detach rbd/demo "${conn[@]}" || true
run teardown rbd/demo --pod writer-pod "${conn[@]}"
run teardown rbd/demo --pod reader-pod "${conn[@]}"
run detach rbd/demo "${conn[@]}"
run list
run attach rbd/demo "${conn[@]}"
step "cat $root/plugins/kubernetes.io/rbd/mounts/rbd-image-demo/hello.txt   # data survived detach"
cat "$root/plugins/kubernetes.io/rbd/mounts/rbd-image-demo/hello.txt"
run detach rbd/demo "${conn[@]}"
