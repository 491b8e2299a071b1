"""krbd-csi's numbers on the real kernel (issue 14): each node RPC seen by a gRPC client, inside the server, and as
the kernel work the library did, next to the commands ceph-csi's node plugin runs for the same step; then the
server's resident memory when idle and at its peak during 16 concurrent stages. Nothing is asserted.

csi/test/vm.sh --bench runs it in the sandbox guest (the same variables as test_volumes_vm.py); it prints a Markdown
report between markers (scripts/bench --csi writes it to bench-out/csi.md). Rounds: $CSI_BENCH_ROUNDS (default 10);
medians.
"""

import concurrent.futures
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest import BINARY, IMAGES, KEY, MON, POOL, WORK, Mode, csi, csi_grpc  # noqa: E402

CEPH = ["-c", os.environ["KRBD_TEST_CEPH_CONF"], "-m", MON, "--id", "admin", "--keyring",
        os.environ["KRBD_TEST_KEYRING"]]
ROUNDS = int(os.environ.get("CSI_BENCH_ROUNDS", "10"))
METRICS = "127.0.0.1:9795"


def capability():
    cap = csi.VolumeCapability(access_mode=csi.VolumeCapability.AccessMode(mode=Mode.SINGLE_NODE_WRITER))
    cap.mount.fs_type = "ext4"
    return cap


def run(*command):
    subprocess.run(command, check=True, capture_output=True, timeout=300)


def out(*command):
    return subprocess.run(command, check=True, capture_output=True, timeout=300, text=True).stdout.strip()


def timed(body):
    start = time.monotonic()
    body()
    return time.monotonic() - start


def rss_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


def metrics():
    """{(metric, labels): value} of the server's _sum and _count series."""
    text = urllib.request.urlopen("http://%s/metrics" % METRICS, timeout=30).read().decode()
    values = {}
    for line in text.splitlines():
        match = re.match(r'^(krbd_csi_\w+_(?:sum|count))\{([^}]*)\} ([0-9.eE+-]+)$', line)
        if match:
            values[(match.group(1), match.group(2))] = float(match.group(3))
    return values


def series_sum(values, metric, **labels):
    """The sum over every series of `metric` whose labels include `labels` (a code label, say, is summed over)."""
    total = 0.0
    for (name, text), value in values.items():
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', text))
        if name == metric and all(pairs.get(k) == v for k, v in labels.items()):
            total += value
    return total


def main():
    directory = os.path.join(WORK, "bench")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        f.write('[{"clusterID": "c1", "monitors": ["%s"]}]' % MON)
    socket = os.path.join(directory, "csi.sock")
    log = open(os.path.join(directory, "server.log"), "w")
    server = subprocess.Popen(
        [BINARY, "--endpoint", "unix://" + socket, "--nodeid", "vm-node", "--cluster-config",
         os.path.join(directory, "config.json"), "--state-dir", os.path.join(directory, "state"),
         "--metrics-address", METRICS, "--log-level", "info"], stdout=log, stderr=log)
    try:
        channel = grpc.insecure_channel("unix://" + socket)
        grpc.channel_ready_future(channel).result(timeout=60)
        node = csi_grpc.NodeStub(channel)
        report = measure(node, server.pid, directory)
    finally:
        server.terminate()
        server.wait(timeout=60)
    # Between markers: the guest sees the host's tree read-only, so scripts/bench cuts the report out of the log.
    print("<!-- krbd-csi bench begin -->\n" + report + "\n<!-- krbd-csi bench end -->")


def measure(node, pid, directory):
    volume, image = "pv-bench", IMAGES[5]
    staging = os.path.join(directory, "kubelet/plugins/kubernetes.io/csi/rbd.krbd.dev", volume, "globalmount")
    target = os.path.join(directory, "kubelet/pods/pod-1/volumes/kubernetes.io~csi", volume, "mount")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    stage = csi.NodeStageVolumeRequest(
        volume_id=volume, staging_target_path=staging, volume_capability=capability(),
        secrets={"userID": "admin", "userKey": KEY}, volume_context={"clusterID": "c1", "pool": POOL,
                                                                     "imageName": image})
    publish = csi.NodePublishVolumeRequest(volume_id=volume, staging_target_path=staging, target_path=target,
                                           volume_capability=capability())
    unpublish = csi.NodeUnpublishVolumeRequest(volume_id=volume, target_path=target)
    unstage = csi.NodeUnstageVolumeRequest(volume_id=volume, staging_target_path=staging)
    steps = [("NodeStageVolume", "stage", lambda: node.NodeStageVolume(stage, timeout=300)),
             ("NodePublishVolume", "publish", lambda: node.NodePublishVolume(publish, timeout=120)),
             ("NodeUnpublishVolume", "unpublish", lambda: node.NodeUnpublishVolume(unpublish, timeout=120)),
             ("NodeUnstageVolume", "unstage", lambda: node.NodeUnstageVolume(unstage, timeout=120))]

    # The first stage formats the image; every measured round finds it formatted, as a pod's restart does.
    idle = rss_kib(pid, "VmRSS")
    os.makedirs(staging, exist_ok=True)
    for _, _, call in steps:
        call()

    client = {name: [] for name, _, _ in steps}
    server_side = {name: [] for name, _, _ in steps}
    kernel = {name: [] for name, _, _ in steps}
    for _ in range(ROUNDS):
        os.makedirs(staging, exist_ok=True)
        for name, operation, call in steps:
            before = metrics()
            client[name].append(timed(call))
            after = metrics()
            server_side[name].append(
                series_sum(after, "krbd_csi_rpc_duration_seconds_sum", method=name)
                - series_sum(before, "krbd_csi_rpc_duration_seconds_sum", method=name))
            kernel[name].append(
                series_sum(after, "krbd_csi_phase_duration_seconds_sum", operation=operation)
                - series_sum(before, "krbd_csi_phase_duration_seconds_sum", operation=operation))

    # What ceph-csi's node plugin runs for the same steps (its Go code around them not counted): a key file, then
    # `rbd map`, blkid's probe and mount for stage; mount --bind for publish; umount; umount and `rbd unmap`.
    keyfile = os.path.join(directory, "keyfile")
    cli = {name: [] for name, _, _ in steps}
    global_path = os.path.join(directory, "ceph-csi/staging", volume)
    cli_target = os.path.join(directory, "ceph-csi/target", volume)
    for _ in range(ROUNDS):
        os.makedirs(global_path, exist_ok=True)
        device = []

        def cli_stage():
            with open(keyfile, "w") as f:
                f.write(KEY)
            device.append(out("rbd", *CEPH[:2], "-m", MON, "--id", "admin", "--keyfile", keyfile, "device", "map",
                              "%s/%s" % (POOL, image)))
            os.unlink(keyfile)
            subprocess.run(["blkid", "-p", "-s", "TYPE", "-s", "PTTYPE", "-o", "export", device[0]],
                           capture_output=True, timeout=120)
            run("mount", "-t", "ext4", "-o", "_netdev,nodev,nosuid", device[0], global_path)

        def cli_publish():
            os.makedirs(cli_target, exist_ok=True)
            run("mount", "--bind", global_path, cli_target)

        def cli_unpublish():
            run("umount", cli_target)
            os.rmdir(cli_target)

        def cli_unstage():
            run("umount", global_path)
            run("rbd", *CEPH, "device", "unmap", device[0])

        for (name, _, _), body in zip(steps, (cli_stage, cli_publish, cli_unpublish, cli_unstage)):
            cli[name].append(timed(body))

    # 16 stages at once (each formats its image: the first stage of a new PVC), then their unstages.
    volumes = [("pv-peak-%02d" % i, IMAGES[10 + i]) for i in range(16)]

    def stage_one(volume_image):
        v, img = volume_image
        path = os.path.join(directory, "kubelet/plugins/kubernetes.io/csi/rbd.krbd.dev", v, "globalmount")
        os.makedirs(path, exist_ok=True)
        node.NodeStageVolume(csi.NodeStageVolumeRequest(
            volume_id=v, staging_target_path=path, volume_capability=capability(),
            secrets={"userID": "admin", "userKey": KEY},
            volume_context={"clusterID": "c1", "pool": POOL, "imageName": img}), timeout=900)
        return path

    before_peak = rss_kib(pid, "VmHWM")
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        start = time.monotonic()
        paths = list(pool.map(stage_one, volumes))
        storm = time.monotonic() - start
    peak = rss_kib(pid, "VmHWM")
    after = rss_kib(pid, "VmRSS")
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda vp: node.NodeUnstageVolume(
            csi.NodeUnstageVolumeRequest(volume_id=vp[0][0], staging_target_path=vp[1]), timeout=300),
            zip(volumes, paths)))

    def ms(values):
        return "%.1f ms" % (statistics.median(values) * 1000)

    lines = [
        "krbd-csi in the sandbox guest (real rbd.ko + Ceph, software emulation), %d rounds, medians; "
        "commit %s" % (ROUNDS, os.environ.get("CSI_BENCH_COMMIT", "?")),
        "",
        "| step | gRPC client | inside the server | the library's kernel phases | ceph-csi's commands | "
        "client/commands |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, _, _ in steps:
        lines.append("| %s | %s | %s | %s | %s | %.2f× |" % (
            name, ms(client[name]), ms(server_side[name]), ms(kernel[name]), ms(cli[name]),
            statistics.median(client[name]) / statistics.median(cli[name])))
    total_client = sum(statistics.median(v) for v in client.values())
    total_cli = sum(statistics.median(v) for v in cli.values())
    lines.append("| all four | %.1f ms | | | %.1f ms | %.2f× |" % (total_client * 1000, total_cli * 1000,
                                                               total_client / total_cli))
    lines += [
        "",
        "Resident memory of krbd-csi: %.1f MiB idle at start; peak %.1f MiB (%.1f MiB before) during 16 concurrent "
        "first stages (mkfs included; %.1f s in all), %.1f MiB right after." % (
            idle / 1024, peak / 1024, before_peak / 1024, storm, after / 1024),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
