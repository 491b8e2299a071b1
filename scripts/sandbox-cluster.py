#!/usr/bin/python3
# Builds a one-node Ceph cluster (one monitor, one memstore OSD, pool "rbd")
# on 127.0.0.1 inside the sandbox guest, then creates the test fixtures.
#
# Everything runs from this single process: under software emulation each
# `ceph`/`rbd` CLI call costs seconds of interpreter start-up, so monitor
# commands go through the rados module's mon_command instead.
#
# Must run with Debian's /usr/bin/python3 (python3-rados, python3-rbd).
#
# Usage: sandbox-cluster.py DIR   (writes DIR/env with KEY=VALUE lines)

import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import uuid

import rados
import rbd

MON_V1 = "127.0.0.1:6789"
MON_V2 = "127.0.0.1:3300"
POOL = "rbd"
NAMESPACE = "ns1"
GIB = 1 << 30
LAYERING = rbd.RBD_FEATURE_LAYERING
EXCL = rbd.RBD_FEATURE_EXCLUSIVE_LOCK
BLANKS = ["blank%d" % i for i in range(6)]
# Blank images for the volume lifecycle tests and the demo (kept apart from the KRBD ones).
VOLUMES = ["vol%d" % i for i in range(4)] + ["demo"]
# Blank images for the hardening tests (issue 11: adoption, credentials, rollback, udev, mkfs kill).
HARDENING = ["hard%d" % i for i in range(6)]
# Blank images for krbd-csi's VM tests (csi/test/test_volumes_vm.py).
CSI_IMAGES = ["csi%d" % i for i in range(26)]
SECOND_USER = "krbdtest"

T0 = time.monotonic()


def log(msg):
    sys.stderr.write("sandbox-cluster: [%5.1fs] %s\n" % (time.monotonic() - T0, msg))
    sys.stderr.flush()


def new_key():
    # A cephx secret as Ceph encodes it: u16 type (1 = AES), utime_t created
    # (u32 seconds, u32 nanoseconds), u16 length, then the 16 secret bytes.
    header = struct.pack("<HIIH", 1, int(time.time()), 0, 16)
    return base64.b64encode(header + os.urandom(16)).decode()


def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def keyring_section(entity, key, caps=None):
    lines = ["[%s]" % entity, "\tkey = %s" % key]
    for kind, cap in (caps or {}).items():
        lines.append('\tcaps %s = "%s"' % (kind, cap))
    return "\n".join(lines) + "\n"


SETUP_LOG = None


def run(argv):
    # Tool chatter goes to the setup log, shown by the guest script on failure.
    log("$ " + " ".join(argv[:2]) + (" ..." if len(argv) > 2 else ""))
    with open(SETUP_LOG, "a") as out:
        out.write("$ %s\n" % " ".join(argv))
        out.flush()
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=out, stderr=out)


def mon_command(cluster, cmd, inbuf=b"", timeout=60):
    ret, out, err = cluster.mon_command(json.dumps(cmd), inbuf, timeout=timeout)
    if ret != 0:
        raise RuntimeError("mon command %s failed: %d %s" % (cmd["prefix"], ret, err))
    return out


def main():
    top = sys.argv[1]
    cdir = os.path.join(top, "ceph")
    run_dir = os.path.join(cdir, "run")
    log_dir = os.path.join(cdir, "log")
    mon_dir = os.path.join(cdir, "mon-a")
    osd_dir = os.path.join(cdir, "osd-0")
    for d in (cdir, run_dir, log_dir, mon_dir, osd_dir, "/etc/ceph"):
        os.makedirs(d, exist_ok=True)
    global SETUP_LOG
    SETUP_LOG = os.path.join(log_dir, "setup.log")

    fsid = str(uuid.uuid4())
    conf_path = os.path.join(cdir, "ceph.conf")
    conf = f"""[global]
fsid = {fsid}
mon_host = [v2:{MON_V2},v1:{MON_V1}]
mon_initial_members = a
public_addr = 127.0.0.1
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
run_dir = {run_dir}
admin_socket = {run_dir}/$cluster-$name.asok
pid_file = {run_dir}/$cluster-$name.pid
log_file = {log_dir}/$cluster-$name.log
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
rados_osd_op_timeout = 300
rados_mon_op_timeout = 120

[mon]
mon_data = {mon_dir}
mon_data_avail_warn = 1
mon_data_avail_crit = 0

[osd]
osd_data = {osd_dir}
osd_objectstore = memstore
memstore_device_bytes = 3221225472
osd_max_object_name_len = 256
osd_max_object_namespace_len = 64
"""
    write(conf_path, conf, 0o644)
    shutil.copy(conf_path, "/etc/ceph/ceph.conf")

    mon_key = new_key()
    admin_key = new_key()
    admin_caps = {"mon": "allow *", "osd": "allow *", "mgr": "allow *", "mds": "allow *"}
    admin_keyring = os.path.join(cdir, "ceph.client.admin.keyring")
    write(admin_keyring, keyring_section("client.admin", admin_key, admin_caps))
    shutil.copy(admin_keyring, "/etc/ceph/ceph.client.admin.keyring")
    mon_keyring = os.path.join(cdir, "mon.keyring")
    write(mon_keyring, keyring_section("mon.", mon_key, {"mon": "allow *"})
          + keyring_section("client.admin", admin_key, admin_caps))

    monmap = os.path.join(cdir, "monmap")
    run(["monmaptool", "--create", "--clobber", "--fsid", fsid,
         "--addv", "a", f"[v2:{MON_V2},v1:{MON_V1}]", "--enable-all-features", monmap])
    run(["ceph-mon", "-c", conf_path, "--mkfs", "-i", "a",
         "--monmap", monmap, "--keyring", mon_keyring])
    run(["ceph-mon", "-c", conf_path, "-i", "a"])
    log("monitor started")

    cluster = rados.Rados(conffile=conf_path, rados_id="admin",
                          conf={"keyring": admin_keyring})
    cluster.connect(timeout=120)
    log("connected to the monitor")

    osd_uuid = str(uuid.uuid4())
    osd_key = new_key()
    out = mon_command(cluster, {"prefix": "osd new", "uuid": osd_uuid, "format": "json"},
                      json.dumps({"cephx_secret": osd_key}).encode())
    osd_id = json.loads(out)["osdid"]
    write(os.path.join(osd_dir, "keyring"), keyring_section("osd.%d" % osd_id, osd_key))
    run(["ceph-osd", "-c", conf_path, "-i", str(osd_id), "--mkfs", "--osd-uuid", osd_uuid])
    run(["ceph-osd", "-c", conf_path, "-i", str(osd_id)])
    log("osd.%d started" % osd_id)

    mon_command(cluster, {"prefix": "osd pool create", "pool": POOL,
                          "pg_num": 8, "pgp_num": 8})
    mon_command(cluster, {"prefix": "osd pool set", "pool": POOL, "var": "size",
                          "val": "1", "yes_i_really_mean_it": True})
    mon_command(cluster, {"prefix": "osd pool set", "pool": POOL, "var": "min_size",
                          "val": "1"})
    mon_command(cluster, {"prefix": "osd pool application enable", "pool": POOL,
                          "app": "rbd"})

    deadline = time.monotonic() + 240
    while True:
        dump = json.loads(mon_command(cluster, {"prefix": "osd dump", "format": "json"}))
        if any(o["osd"] == osd_id and o["up"] for o in dump["osds"]):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("osd.%d did not come up" % osd_id)
        time.sleep(0.5)
    log("osd.%d is up" % osd_id)

    second_keyring = os.path.join(cdir, "ceph.client.%s.keyring" % SECOND_USER)
    out = mon_command(cluster, {"prefix": "auth get-or-create",
                                "entity": "client." + SECOND_USER,
                                "caps": ["mon", "profile rbd", "osd", "profile rbd pool=%s" % POOL],
                                "format": "json"})
    second_key = json.loads(out)[0]["key"]
    write(second_keyring, keyring_section("client." + SECOND_USER, second_key))
    shutil.copy(second_keyring, "/etc/ceph/")

    ioctx = cluster.open_ioctx(POOL)
    api = rbd.RBD()
    # The first write waits for the placement groups to peer.
    api.pool_init(ioctx, True)
    log("pool %s ready" % POOL)

    api.create(ioctx, "plain", GIB, old_format=False, features=LAYERING)
    api.create(ioctx, "excl", GIB, old_format=False, features=LAYERING | EXCL)
    api.create(ioctx, "snapimg", GIB, old_format=False, features=LAYERING)
    with rbd.Image(ioctx, "snapimg") as image:
        image.write(b"krbd-sandbox snapimg@s1\n".ljust(4096, b"\0"), 0)
        image.create_snap("s1")
    for name in BLANKS + VOLUMES + HARDENING + CSI_IMAGES:
        api.create(ioctx, name, GIB, old_format=False, features=LAYERING | EXCL)
    # No exclusive-lock feature: the kernel cannot fence it.
    api.create(ioctx, "volnolock", GIB, old_format=False, features=LAYERING)
    api.namespace_create(ioctx, NAMESPACE)
    ioctx.set_namespace(NAMESPACE)
    api.create(ioctx, "nsimg", GIB, old_format=False, features=LAYERING)
    ioctx.set_namespace("")
    ioctx.close()
    cluster.shutdown()
    log("fixtures created")

    env = {
        "KRBD_SANDBOX": "1",
        "KRBD_TEST_MON": MON_V1,
        "KRBD_TEST_MON_V2": MON_V2,
        "KRBD_TEST_USER": "admin",
        "KRBD_TEST_KEY": admin_key,
        "KRBD_TEST_KEYRING": admin_keyring,
        "KRBD_TEST_CEPH_CONF": conf_path,
        "KRBD_TEST_POOL": POOL,
        "KRBD_TEST_FSID": fsid,
        "KRBD_TEST_IMAGES": " ".join(["plain", "excl", "snapimg"] + BLANKS),
        "KRBD_TEST_BLANK_IMAGES": " ".join(BLANKS),
        "KRBD_TEST_VOLUME_IMAGES": " ".join(VOLUMES + ["volnolock"]),
        "KRBD_TEST_HARDENING_IMAGES": " ".join(HARDENING),
        "KRBD_TEST_CSI_IMAGES": " ".join(CSI_IMAGES),
        "KRBD_TEST_SNAPSHOT": "snapimg@s1",
        "KRBD_TEST_NAMESPACE": NAMESPACE,
        "KRBD_TEST_NS_IMAGE": "nsimg",
        "KRBD_TEST_FIXTURES": " ".join(
            ["rbd/plain", "rbd/excl", "rbd/snapimg", "rbd/snapimg@s1", "rbd/ns1/nsimg"]
            + ["rbd/" + b for b in BLANKS]),
        "KRBD_TEST_USER2": SECOND_USER,
        "KRBD_TEST_KEYRING2": second_keyring,
        "KRBD_TEST_ENV_FILE": os.path.join(top, "env"),
    }
    # Values with spaces are single-quoted so that the file can be sourced.
    lines = ["%s=%s\n" % (k, ("'%s'" % v) if " " in v else v) for k, v in env.items()]
    write(os.path.join(top, "env"), "".join(lines), 0o644)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report any failure in one line
        log("FAILED: %s: %s" % (type(e).__name__, e))
        sys.exit(1)
