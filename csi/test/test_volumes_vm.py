"""krbd-csi on a real kernel: rbd.ko and a one-node Ceph cluster in the sandbox guest (scripts/sandbox).

csi/test/vm.sh runs this inside the guest with the variables guest.py reads.

Each test starts its own server (a fresh socket and state directory); one test kills it with SIGKILL between stage
and unstage and lets a restarted server finish from its journal.
"""

import concurrent.futures
import ctypes
import errno
import os
import signal
import stat
import subprocess
import sys
import time

import grpc
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest import BINARY, IMAGES, KEY, MON, POOL, WORK, Mode, csi, csi_grpc  # noqa: E402
LIBC = ctypes.CDLL(None, use_errno=True)


class Server:
    """One krbd-csi process on its own socket; state survives restarts (same state directory)."""

    def __init__(self, name):
        self.dir = os.path.join(WORK, name)
        os.makedirs(self.dir, exist_ok=True)
        self.socket = os.path.join(self.dir, "csi.sock")
        self.state = os.path.join(self.dir, "state")
        self.log_path = os.path.join(self.dir, "server.log")
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            f.write('[{"clusterID": "c1", "monitors": ["%s"]}]' % MON)
        self.process = None
        self.channel = None

    def start(self):
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [BINARY, "--endpoint", "unix://" + self.socket, "--nodeid", "vm-node", "--cluster-config",
             os.path.join(self.dir, "config.json"), "--state-dir", self.state, "--log-level", "debug"],
            stderr=log, stdout=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("krbd-csi exited: " + self.log())
            if "serving CSI Identity and Node" in self.log():
                break
            time.sleep(0.1)
        else:
            raise AssertionError("krbd-csi did not come up: " + self.log())
        self.channel = grpc.insecure_channel("unix://" + self.socket)
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.node = csi_grpc.NodeStub(self.channel)
        return self

    def kill(self):
        self.channel.close()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self):
        self.channel.close()
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=60) == 0, self.log()[-3000:]

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


@pytest.fixture
def server(request):
    s = Server(request.node.name.replace("[", "-").replace("]", "")).start()
    yield s
    if s.process.poll() is None:
        s.stop()
    log = s.log()
    assert KEY not in log, "the cephx key reached the server's log"


def capability(mode=Mode.SINGLE_NODE_WRITER, fs="ext4", flags=()):
    cap = csi.VolumeCapability(access_mode=csi.VolumeCapability.AccessMode(mode=mode))
    cap.mount.fs_type = fs
    cap.mount.mount_flags.extend(flags)
    return cap


def paths(server, volume):
    staging = os.path.join(server.dir, "kubelet/plugins/kubernetes.io/csi/rbd.krbd.dev", volume, "globalmount")
    os.makedirs(staging, exist_ok=True)  # kubelet makes it before NodeStageVolume
    return staging


def target(server, pod, volume):
    path = os.path.join(server.dir, "kubelet/pods", pod, "volumes/kubernetes.io~csi", volume, "mount")
    os.makedirs(os.path.dirname(path), exist_ok=True)  # kubelet makes the parent, the plugin the path
    return path


def stage_request(volume, staging, image, mode=Mode.SINGLE_NODE_WRITER, fs="ext4", **context):
    ctx = {"clusterID": "c1", "pool": POOL, "imageName": image}
    ctx.update(context)
    return csi.NodeStageVolumeRequest(
        volume_id=volume, staging_target_path=staging, volume_capability=capability(mode, fs),
        secrets={"userID": "admin", "userKey": KEY}, volume_context=ctx)


def publish_request(volume, staging, path, readonly=False, mode=Mode.SINGLE_NODE_WRITER):
    return csi.NodePublishVolumeRequest(
        volume_id=volume, staging_target_path=staging, target_path=path, readonly=readonly,
        volume_capability=capability(mode))


def mounts():
    """(target, major:minor, options) of every mount of this process's namespace."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            target_path = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
            out.append((target_path, fields[2], fields[5]))
    return out


def mounted(path):
    return any(m[0] == path for m in mounts())


def mapped(image):
    """The rbd device ids that map `POOL/image`."""
    ids = []
    base = "/sys/bus/rbd/devices"
    for entry in os.listdir(base):
        try:
            with open(os.path.join(base, entry, "name")) as f:
                name = f.read().strip()
            with open(os.path.join(base, entry, "pool")) as f:
                pool = f.read().strip()
        except FileNotFoundError:
            continue
        if name == image and pool == POOL:
            ids.append(entry)
    return ids


def error_of(call, request, timeout=120):
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=timeout)
    return raised.value


def unmount(path):
    if LIBC.umount2(path.encode(), 0) != 0:
        raise OSError(ctypes.get_errno(), "umount2 " + path)


def unpublish_and_unstage_twice(server, volume, staging, targets):
    """Unpublish every target, then unstage, each twice (a CO retries: the second call finds nothing to do)."""
    for _ in range(2):
        for path in targets:
            server.node.NodeUnpublishVolume(csi.NodeUnpublishVolumeRequest(volume_id=volume, target_path=path),
                                            timeout=120)
    assert not any(os.path.exists(path) for path in targets)
    for _ in range(2):
        server.node.NodeUnstageVolume(csi.NodeUnstageVolumeRequest(volume_id=volume, staging_target_path=staging),
                                      timeout=120)


# ---------------------------------------------------------------------------------------------------------------


def test_stage_publish_unpublish_unstage(server):
    volume, image = "pv-lifecycle", IMAGES[0]
    staging = paths(server, volume)
    for _ in range(2):  # a CO retries: the same answer, nothing done twice
        server.node.NodeStageVolume(stage_request(volume, staging, image), timeout=300)
    assert mounted(staging)
    assert len(mapped(image)) == 1

    rw, ro = target(server, "pod-a", volume), target(server, "pod-b", volume)
    for _ in range(2):
        server.node.NodePublishVolume(publish_request(volume, staging, rw), timeout=120)
        server.node.NodePublishVolume(publish_request(volume, staging, ro, readonly=True), timeout=120)
    with open(os.path.join(rw, "data"), "w") as f:
        f.write("written through pod-a\n")
    with open(os.path.join(ro, "data")) as f:
        assert f.read() == "written through pod-a\n"
    with pytest.raises(OSError) as raised:
        open(os.path.join(ro, "other"), "w")
    assert raised.value.errno == errno.EROFS
    # Every mount of the volume carries nodev,nosuid; the read-only one is ro.
    options = {m[0]: m[2].split(",") for m in mounts()}
    for path in (staging, rw, ro):
        assert "nodev" in options[path] and "nosuid" in options[path], (path, options[path])
    assert "ro" in options[ro] and "rw" in options[rw]

    stats = server.node.NodeGetVolumeStats(csi.NodeGetVolumeStatsRequest(volume_id=volume, volume_path=rw), timeout=60)
    units = {u.unit: u for u in stats.usage}
    assert units[csi.VolumeUsage.BYTES].total > 900 << 20  # a 1 GiB image
    assert 0 < units[csi.VolumeUsage.BYTES].used < units[csi.VolumeUsage.BYTES].total
    assert units[csi.VolumeUsage.INODES].total > 0
    assert not stats.volume_condition.abnormal, stats.volume_condition.message

    # Other arguments for a staged volume: ALREADY_EXISTS, and the volume stays as it was.
    for other in (stage_request(volume, staging, image, mode=Mode.SINGLE_NODE_READER_ONLY),
                  stage_request(volume, staging, image, fs="xfs")):
        error = error_of(server.node.NodeStageVolume, other)
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS, error.details()
    # Unstage while published: refused, nothing undone.
    error = error_of(server.node.NodeUnstageVolume,
                     csi.NodeUnstageVolumeRequest(volume_id=volume, staging_target_path=staging))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert mounted(staging) and mounted(rw)

    unpublish_and_unstage_twice(server, volume, staging, (rw, ro))
    assert not mounted(staging)
    assert mapped(image) == []

    # Staged again: the filesystem and its data are kept (never formatted twice).
    os.makedirs(staging, exist_ok=True)
    server.node.NodeStageVolume(stage_request(volume, staging, image), timeout=300)
    server.node.NodePublishVolume(publish_request(volume, staging, rw), timeout=120)
    with open(os.path.join(rw, "data")) as f:
        assert f.read() == "written through pod-a\n"
    server.node.NodeUnpublishVolume(csi.NodeUnpublishVolumeRequest(volume_id=volume, target_path=rw), timeout=120)
    server.node.NodeUnstageVolume(csi.NodeUnstageVolumeRequest(volume_id=volume, staging_target_path=staging),
                                  timeout=120)
    assert mapped(image) == []


def test_a_static_volume_is_never_formatted(server):
    volume, image = IMAGES[1], IMAGES[1]  # a static PV's volumeHandle is the image name
    staging = paths(server, volume)
    request = stage_request(volume, staging, image, staticVolume="true")
    del request.volume_context["imageName"]
    error = error_of(server.node.NodeStageVolume, request, timeout=300)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert "never formatted" in error.details()
    assert not mounted(staging)
    assert mapped(image) == []


def test_publish_after_a_reboot_is_refused_until_staged_again(server):
    volume, image = "pv-reboot", IMAGES[2]
    staging = paths(server, volume)
    server.node.NodeStageVolume(stage_request(volume, staging, image), timeout=300)
    # A reboot: the mount and the mapping are gone, kubelet's directory and our journal stay.
    unmount(staging)
    (device,) = mapped(image)
    with open("/sys/bus/rbd/remove_single_major", "w") as f:
        f.write(device)
    path = target(server, "pod-r", volume)
    error = error_of(server.node.NodePublishVolume, publish_request(volume, staging, path))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert not os.path.exists(path), "an empty staging directory was bound: data would go to the node's disk"
    stats = server.node.NodeGetVolumeStats(
        csi.NodeGetVolumeStatsRequest(volume_id=volume, volume_path=staging), timeout=60)
    assert stats.volume_condition.abnormal
    assert "gone" in stats.volume_condition.message
    # kubelet stages again after the reboot: the volume comes back with a new mapping.
    server.node.NodeStageVolume(stage_request(volume, staging, image), timeout=300)
    server.node.NodePublishVolume(publish_request(volume, staging, path), timeout=120)
    assert mounted(path)
    server.node.NodeUnpublishVolume(csi.NodeUnpublishVolumeRequest(volume_id=volume, target_path=path), timeout=120)
    server.node.NodeUnstageVolume(csi.NodeUnstageVolumeRequest(volume_id=volume, staging_target_path=staging),
                                  timeout=120)
    assert mapped(image) == []


def test_a_killed_plugin_is_finished_by_its_successor(server):
    volume, image = "pv-killed", IMAGES[3]
    staging = paths(server, volume)
    server.node.NodeStageVolume(stage_request(volume, staging, image), timeout=300)
    server.kill()
    server.start()  # same socket, same state directory
    server.node.NodeUnstageVolume(csi.NodeUnstageVolumeRequest(volume_id=volume, staging_target_path=staging),
                                  timeout=120)
    assert not mounted(staging)
    assert mapped(image) == []


def rbd(*args):
    """The rbd CLI as a test fixture (never used by krbd-csi), with the sandbox's admin keyring."""
    subprocess.run(["rbd", "-c", os.environ["KRBD_TEST_CEPH_CONF"], "--keyring", os.environ["KRBD_TEST_KEYRING"],
                    *args], check=True, timeout=120, capture_output=True)


def rbd_fails(*args):
    result = subprocess.run(["rbd", "-c", os.environ["KRBD_TEST_CEPH_CONF"], "--keyring",
                             os.environ["KRBD_TEST_KEYRING"], *args], timeout=120, capture_output=True, text=True)
    assert result.returncode != 0, "rbd %s succeeded" % " ".join(args)
    return result.stderr


def expand_and_check(server, volume, staging, path, before):
    request = csi.NodeExpandVolumeRequest(volume_id=volume, volume_path=path, staging_target_path=staging,
                                          capacity_range=csi.CapacityRange(required_bytes=2 << 30))
    for _ in range(2):  # the second finds nothing to do: OK
        response = server.node.NodeExpandVolume(request, timeout=120)
        assert response.capacity_bytes == 2 << 30
    after = os.statvfs(path)
    assert after.f_blocks * after.f_frsize > 1.8 * (before.f_blocks * before.f_frsize), (before, after)
    # More than the image holds: refused after the wait, naming the sizes.
    request.capacity_range.required_bytes = 3 << 30
    error = error_of(server.node.NodeExpandVolume, request)
    assert error.code() != grpc.StatusCode.OK
    assert "less than" in error.details()


def test_expand_online_without_fencing(server):
    # fencing "none": the mapping hands the exclusive lock over on request, so `rbd resize` (what ceph-csi's
    # ControllerExpandVolume does) runs while the volume is staged, and the kernel sees the new size by itself.
    volume, image = "pv-expand-online", IMAGES[8]
    staging = paths(server, volume)
    server.node.NodeStageVolume(stage_request(volume, staging, image, fencing="none"), timeout=300)
    path = target(server, "pod-e", volume)
    server.node.NodePublishVolume(publish_request(volume, staging, path), timeout=120)
    before = os.statvfs(path)
    rbd("resize", "--size", "2048", "%s/%s" % (POOL, image))
    expand_and_check(server, volume, staging, path, before)
    server.node.NodeUnpublishVolume(csi.NodeUnpublishVolumeRequest(volume_id=volume, target_path=path), timeout=120)
    server.node.NodeUnstageVolume(csi.NodeUnstageVolumeRequest(volume_id=volume, staging_target_path=staging),
                                  timeout=120)
    assert mapped(image) == []


def test_expand_of_a_fenced_xfs_volume_is_offline(server):
    # The default fence holds the image's exclusive lock: another client's resize is refused while staged (the
    # trade-off the README states); unstaged, resized, staged again, NodeExpandVolume grows xfs online.
    volume, image = "pv-expand-xfs", IMAGES[9]
    staging = paths(server, volume)
    stage = stage_request(volume, staging, image, fs="xfs")
    server.node.NodeStageVolume(stage, timeout=300)
    path = target(server, "pod-x", volume)
    server.node.NodePublishVolume(publish_request(volume, staging, path), timeout=120)
    before = os.statvfs(path)
    rbd_fails("resize", "--size", "2048", "%s/%s" % (POOL, image))
    server.node.NodeUnpublishVolume(csi.NodeUnpublishVolumeRequest(volume_id=volume, target_path=path), timeout=120)
    server.node.NodeUnstageVolume(csi.NodeUnstageVolumeRequest(volume_id=volume, staging_target_path=staging),
                                  timeout=120)
    rbd("resize", "--size", "2048", "%s/%s" % (POOL, image))
    os.makedirs(staging, exist_ok=True)
    server.node.NodeStageVolume(stage, timeout=300)
    server.node.NodePublishVolume(publish_request(volume, staging, path), timeout=120)
    expand_and_check(server, volume, staging, path, before)
    with open("/proc/self/mountinfo") as f:
        lines = [line for line in f if (" %s " % staging) in line]
    assert lines and "nouuid" in lines[-1].split(" - ")[1], lines  # as ceph-csi mounts xfs
    server.node.NodeUnpublishVolume(csi.NodeUnpublishVolumeRequest(volume_id=volume, target_path=path), timeout=120)
    server.node.NodeUnstageVolume(csi.NodeUnstageVolumeRequest(volume_id=volume, staging_target_path=staging),
                                  timeout=120)
    assert mapped(image) == []


def test_concurrent_stages_and_publishes(server):
    # 16 volumes staged and published at once, while 8 more stages of the first one arrive at once: every call
    # OK (calls on one volume wait their turn instead of ABORTED), one mapping per image, every publish bound.
    volumes = [("pv-c%02d" % i, IMAGES[10 + i]) for i in range(16)]

    def stage_and_publish(volume, image):
        staging = paths(server, volume)
        server.node.NodeStageVolume(stage_request(volume, staging, image), timeout=900)
        path = target(server, "pod-" + volume, volume)
        server.node.NodePublishVolume(publish_request(volume, staging, path), timeout=300)
        return path

    first_volume, first_image = volumes[0]
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        publishes = [pool.submit(stage_and_publish, v, image) for v, image in volumes]
        same = [pool.submit(server.node.NodeStageVolume,
                            stage_request(first_volume, paths(server, first_volume), first_image), timeout=900)
                for _ in range(8)]
        targets = [future.result() for future in publishes]
        for future in same:
            future.result()
    for (v, image), path in zip(volumes, targets):
        assert len(mapped(image)) == 1, image
        assert mounted(paths(server, v)) and mounted(path)

    def unpublish_and_unstage(volume, path):
        server.node.NodeUnpublishVolume(csi.NodeUnpublishVolumeRequest(volume_id=volume, target_path=path),
                                        timeout=300)
        server.node.NodeUnstageVolume(
            csi.NodeUnstageVolumeRequest(volume_id=volume, staging_target_path=paths(server, volume)), timeout=300)

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        for future in [pool.submit(unpublish_and_unstage, v, path) for (v, _), path in zip(volumes, targets)]:
            future.result()
    for _, image in volumes:
        assert mapped(image) == []


def block_capability(mode=Mode.SINGLE_NODE_WRITER):
    cap = csi.VolumeCapability(access_mode=csi.VolumeCapability.AccessMode(mode=mode))
    cap.block.SetInParent()
    return cap


def test_a_block_volume_is_the_device_bound_onto_files(server):
    # kubelet's layout for volumeMode: Block: a staging directory per PV, a publish file per pod.
    volume, image = "pv-block", IMAGES[4]
    kubelet = os.path.join(server.dir, "kubelet/plugins/kubernetes.io/csi/volumeDevices")
    staging = os.path.join(kubelet, "staging", volume)
    os.makedirs(staging, exist_ok=True)
    os.makedirs(os.path.join(kubelet, "publish", volume), exist_ok=True)
    rw, ro = (os.path.join(kubelet, "publish", volume, pod) for pod in ("pod-a", "pod-b"))

    stage = stage_request(volume, staging, image, imageFeatures="layering")
    stage.volume_capability.CopyFrom(block_capability())
    for _ in range(2):
        server.node.NodeStageVolume(stage, timeout=300)
    (device_id,) = mapped(image)
    node = os.path.join(staging, "device")
    st = os.stat(node)
    with open("/sys/bus/rbd/devices/%s/major" % device_id) as f:
        major = int(f.read())
    with open("/sys/bus/rbd/devices/%s/minor" % device_id) as f:
        minor = int(f.read())
    assert stat.S_ISBLK(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor)
    with open(node, "rb") as f:
        assert f.read(1 << 20) == bytes(1 << 20), "a block volume was formatted"

    def publish(path, readonly=False, capability=None):
        return csi.NodePublishVolumeRequest(
            volume_id=volume, staging_target_path=staging, target_path=path, readonly=readonly,
            volume_capability=capability or block_capability())

    for _ in range(2):
        server.node.NodePublishVolume(publish(rw), timeout=120)
        server.node.NodePublishVolume(publish(ro, readonly=True), timeout=120)
    assert mounted(rw) and mounted(ro) and "ro" in {m[0]: m[2].split(",") for m in mounts()}[ro]
    pattern = b"krbd-csi block volume " * 100
    with open(rw, "r+b") as f:
        f.seek(1 << 20)
        f.write(pattern)
        f.flush()
        os.fsync(f.fileno())
    # A Filesystem publish of a volume staged as Block: refused.
    error = error_of(server.node.NodePublishVolume, publish(target(server, "pod-m", volume), capability=capability()))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS, error.details()

    stats = server.node.NodeGetVolumeStats(csi.NodeGetVolumeStatsRequest(volume_id=volume, volume_path=rw), timeout=60)
    assert [(u.unit, u.total) for u in stats.usage] == [(csi.VolumeUsage.BYTES, 1 << 30)], stats
    assert not stats.volume_condition.abnormal, stats.volume_condition.message
    expanded = server.node.NodeExpandVolume(
        csi.NodeExpandVolumeRequest(volume_id=volume, volume_path=rw, volume_capability=block_capability()),
        timeout=120)
    assert expanded.capacity_bytes == 1 << 30

    error = error_of(server.node.NodeUnstageVolume,
                     csi.NodeUnstageVolumeRequest(volume_id=volume, staging_target_path=staging))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    unpublish_and_unstage_twice(server, volume, staging, (rw, ro))
    assert not os.path.exists(node) and mapped(image) == []

    # Mapped anew, the data written through pod-a's file is on the image (it went to the cluster).
    os.makedirs(staging, exist_ok=True)
    server.node.NodeStageVolume(stage, timeout=300)
    server.node.NodePublishVolume(publish(rw), timeout=120)
    with open(rw, "rb") as f:
        f.seek(1 << 20)
        assert f.read(len(pattern)) == pattern
    server.node.NodeUnpublishVolume(csi.NodeUnpublishVolumeRequest(volume_id=volume, target_path=rw), timeout=120)
    server.node.NodeUnstageVolume(csi.NodeUnstageVolumeRequest(volume_id=volume, staging_target_path=staging),
                                  timeout=120)
    assert mapped(image) == []
