"""Black-box tests of krbd-csi over its unix socket, through Python's grpcio and stubs generated from csi.proto.

csi/test/run.sh starts the server and sets:
  CSI_ENDPOINT     unix:///…/csi.sock
  CSI_STUBS        the directory holding csi_pb2.py and csi_pb2_grpc.py (generated during the run)
  CSI_NODE_ID      the --nodeid the server was started with
  CSI_DRIVER_NAME  the --drivername
  CSI_SERVER_LOG   the server's stderr, to check that secrets never reach it
"""

import concurrent.futures
import os
import re
import urllib.request
import sys
import threading
import time

import grpc
import pytest

sys.path.insert(0, os.environ["CSI_STUBS"])
import csi_pb2 as csi  # noqa: E402
import csi_pb2_grpc as csi_grpc  # noqa: E402

ENDPOINT = os.environ["CSI_ENDPOINT"]
NODE_ID = os.environ["CSI_NODE_ID"]
DRIVER = os.environ["CSI_DRIVER_NAME"]
SECRET = "AQD9o0Fd6hQRChAAt7fMaSZXduT3NWEqylNpmg=="
MOUNT_SECRET = "password=hunter2"
TWICE = [1, 2]  # every RPC is called twice: a CO retries, and the answer must not change


@pytest.fixture(scope="module")
def channel():
    with grpc.insecure_channel(ENDPOINT) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield ch


@pytest.fixture(scope="module")
def identity(channel):
    return csi_grpc.IdentityStub(channel)


@pytest.fixture(scope="module")
def node(channel):
    return csi_grpc.NodeStub(channel)


def capability(block=False, mode=csi.VolumeCapability.AccessMode.SINGLE_NODE_WRITER):
    cap = csi.VolumeCapability(access_mode=csi.VolumeCapability.AccessMode(mode=mode))
    if block:
        cap.block.SetInParent()
    else:
        cap.mount.fs_type = "ext4"
        cap.mount.mount_flags.extend(["noatime", MOUNT_SECRET])
    return cap


# Under the run's temp dir (CSI_WORK), laid out as kubelet lays them out.
WORK = os.environ["CSI_WORK"]
STAGING = WORK + "/plugins/kubernetes.io/csi/rbd.krbd.dev/0123/globalmount"
TARGET = WORK + "/pods/p/volumes/kubernetes.io~csi/pv-1/mount"
VOLUME = "0001-0009-rook-ceph-0000000000000002-4a2b6c1e-0000-4000-8000-000000000001"


def stage():
    return csi.NodeStageVolumeRequest(
        volume_id=VOLUME, staging_target_path=STAGING, volume_capability=capability(),
        secrets={"userID": "csi-rbd-node", "userKey": SECRET}, volume_context={"clusterID": "c1", "pool": "rbd"})


def unstage():
    return csi.NodeUnstageVolumeRequest(volume_id=VOLUME, staging_target_path=STAGING)


def publish():
    return csi.NodePublishVolumeRequest(
        volume_id=VOLUME, staging_target_path=STAGING, target_path=TARGET, volume_capability=capability(),
        secrets={"userKey": SECRET})


def unpublish():
    return csi.NodeUnpublishVolumeRequest(volume_id=VOLUME, target_path=TARGET)


def stats():
    return csi.NodeGetVolumeStatsRequest(volume_id=VOLUME, volume_path=TARGET)


def expand():
    return csi.NodeExpandVolumeRequest(
        volume_id=VOLUME, volume_path=TARGET, capacity_range=csi.CapacityRange(required_bytes=2 << 30),
        secrets={"userKey": SECRET})


# (RPC method name on the stub, request factory, how to break it, field named in the message)
MISSING = [
    ("NodeStageVolume", stage, lambda r: r.ClearField("volume_id"), "volume_id"),
    ("NodeStageVolume", stage, lambda r: r.ClearField("staging_target_path"), "staging_target_path"),
    ("NodeStageVolume", stage, lambda r: r.ClearField("volume_capability"), "volume_capability"),
    ("NodeStageVolume", stage, lambda r: r.volume_capability.ClearField("access_mode"),
     "volume_capability.access_mode"),
    ("NodeStageVolume", stage, lambda r: r.volume_capability.access_mode.ClearField("mode"),
     "volume_capability.access_mode.mode"),
    ("NodeStageVolume", stage, lambda r: r.volume_capability.ClearField("mount"), "access type"),
    ("NodeUnstageVolume", unstage, lambda r: r.ClearField("volume_id"), "volume_id"),
    ("NodeUnstageVolume", unstage, lambda r: r.ClearField("staging_target_path"), "staging_target_path"),
    ("NodePublishVolume", publish, lambda r: r.ClearField("volume_id"), "volume_id"),
    ("NodePublishVolume", publish, lambda r: r.ClearField("target_path"), "target_path"),
    ("NodePublishVolume", publish, lambda r: r.ClearField("volume_capability"), "volume_capability"),
    ("NodePublishVolume", publish, lambda r: r.volume_capability.ClearField("access_mode"),
     "volume_capability.access_mode"),
    ("NodeUnpublishVolume", unpublish, lambda r: r.ClearField("volume_id"), "volume_id"),
    ("NodeUnpublishVolume", unpublish, lambda r: r.ClearField("target_path"), "target_path"),
    ("NodeGetVolumeStats", stats, lambda r: r.ClearField("volume_id"), "volume_id"),
    ("NodeGetVolumeStats", stats, lambda r: r.ClearField("volume_path"), "volume_path"),
    ("NodeExpandVolume", expand, lambda r: r.ClearField("volume_id"), "volume_id"),
    ("NodeExpandVolume", expand, lambda r: r.ClearField("volume_path"), "volume_path"),
]

def call_error(node, method, request):
    with pytest.raises(grpc.RpcError) as raised:
        getattr(node, method)(request, timeout=10)
    return raised.value


# ---------------------------------------------------------------------------------------------------------------
# Identity


@pytest.mark.parametrize("attempt", TWICE)
def test_get_plugin_info(identity, attempt):
    info = identity.GetPluginInfo(csi.GetPluginInfoRequest(), timeout=10)
    assert info.name == DRIVER
    assert info.vendor_version  # REQUIRED by the spec
    assert dict(info.manifest) == {}


@pytest.mark.parametrize("attempt", TWICE)
def test_get_plugin_capabilities_has_no_controller(identity, attempt):
    response = identity.GetPluginCapabilities(csi.GetPluginCapabilitiesRequest(), timeout=10)
    services = [c.service.type for c in response.capabilities if c.HasField("service")]
    assert csi.PluginCapability.Service.CONTROLLER_SERVICE not in services
    assert csi.PluginCapability.Service.VOLUME_ACCESSIBILITY_CONSTRAINTS not in services
    assert list(response.capabilities) == []


@pytest.mark.parametrize("attempt", TWICE)
def test_probe_ready(identity, attempt):
    response = identity.Probe(csi.ProbeRequest(), timeout=10)
    assert response.HasField("ready")
    assert response.ready.value is True


# ---------------------------------------------------------------------------------------------------------------
# Node: what is real


@pytest.mark.parametrize("attempt", TWICE)
def test_node_get_info(node, attempt):
    info = node.NodeGetInfo(csi.NodeGetInfoRequest(), timeout=10)
    assert info.node_id == NODE_ID
    # 2^20 minors / 16 per device (single_major); the fixture sysfs has no single_major=N.
    assert info.max_volumes_per_node == 65536
    assert not info.HasField("accessible_topology")


@pytest.mark.parametrize("attempt", TWICE)
def test_node_get_capabilities(node, attempt):
    response = node.NodeGetCapabilities(csi.NodeGetCapabilitiesRequest(), timeout=10)
    types = [c.rpc.type for c in response.capabilities]
    rpc = csi.NodeServiceCapability.RPC
    assert types == [rpc.STAGE_UNSTAGE_VOLUME, rpc.GET_VOLUME_STATS, rpc.VOLUME_CONDITION, rpc.EXPAND_VOLUME,
                     rpc.SINGLE_NODE_MULTI_WRITER]
    assert rpc.VOLUME_MOUNT_GROUP not in types


# ---------------------------------------------------------------------------------------------------------------
# Node: the argument checks of the volume RPCs


@pytest.mark.parametrize("attempt", TWICE)
@pytest.mark.parametrize("method,make,breaker,field", MISSING,
                         ids=[f"{m}-{f}" for m, _, _, f in MISSING])
def test_missing_field_is_invalid_argument(node, method, make, breaker, field, attempt):
    request = make()
    breaker(request)
    error = call_error(node, method, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith(method + ": ")
    assert field in error.details()
    # The spec wants status details empty: no grpc-status-details-bin trailer.
    assert all(key != "grpc-status-details-bin" for key, _ in (error.trailing_metadata() or ()))


@pytest.mark.parametrize("attempt", TWICE)
def test_publish_without_staging_path_is_failed_precondition(node, attempt):
    request = publish()
    request.ClearField("staging_target_path")
    error = call_error(node, "NodePublishVolume", request)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "staging_target_path" in error.details()


@pytest.mark.parametrize("attempt", TWICE)
def test_relative_path_is_invalid_argument(node, attempt):
    request = stage()
    request.staging_target_path = "relative/globalmount"
    error = call_error(node, "NodeStageVolume", request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "must be an absolute path" in error.details()


@pytest.mark.parametrize("attempt", TWICE)
def test_multi_node_writer_needs_block(node, attempt):
    request = stage()
    request.volume_capability.access_mode.mode = csi.VolumeCapability.AccessMode.MULTI_NODE_MULTI_WRITER
    error = call_error(node, "NodeStageVolume", request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    block = capability(block=True, mode=csi.VolumeCapability.AccessMode.MULTI_NODE_MULTI_WRITER)
    request.volume_capability.CopyFrom(block)
    # Past the capability checks: the next refusal is the missing image name.
    error = call_error(node, "NodeStageVolume", request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "imageName is required" in error.details(), \
        error.details()


# ---------------------------------------------------------------------------------------------------------------
# Node: the volume RPCs where no rbd device is needed (the VM tier, csi/test/vm.sh, maps real images)


@pytest.mark.parametrize("attempt", TWICE)
def test_unstage_of_a_volume_never_staged_is_ok(node, attempt):
    node.NodeUnstageVolume(unstage(), timeout=10)


@pytest.mark.parametrize("attempt", TWICE)
def test_unpublish_of_a_missing_target_is_ok(node, attempt):
    node.NodeUnpublishVolume(unpublish(), timeout=10)
    assert not os.path.exists(TARGET)


@pytest.mark.parametrize("attempt", TWICE)
def test_publish_onto_an_empty_staging_directory_is_refused(node, attempt):
    # kubelet after a reboot: the staging directory is there, nothing is mounted on it (ceph-csi #4762 bound it,
    # and the workload wrote to the node's disk).
    os.makedirs(STAGING, exist_ok=True)
    error = call_error(node, "NodePublishVolume", publish())
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert "not mounted at " + STAGING in error.details()
    assert "stage" in error.details()
    assert not os.path.exists(TARGET)


@pytest.mark.parametrize("attempt", TWICE)
def test_expand_of_a_volume_not_staged_is_failed_precondition(node, attempt):
    error = call_error(node, "NodeExpandVolume", expand())
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert "stage it before expanding it" in error.details()


@pytest.mark.parametrize("attempt", TWICE)
def test_stats_of_a_volume_not_staged_is_not_found(node, attempt):
    error = call_error(node, "NodeGetVolumeStats", stats())
    assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
    assert "not attached on this node" in error.details()


def staged(**context):
    request = stage()
    request.volume_context.update({"imageName": "csi-vol-1"})
    for key, value in context.items():
        if value is None:
            del request.volume_context[key]
        else:
            request.volume_context[key] = value
    return request


# (context changes, expected code, text in the message)
BAD_CONTEXT = [
    ({"clusterID": "elsewhere"}, grpc.StatusCode.FAILED_PRECONDITION, 'clusterID "elsewhere" is not in'),
    ({"clusterID": None}, grpc.StatusCode.INVALID_ARGUMENT, "clusterID is required"),
    ({"pool": None}, grpc.StatusCode.INVALID_ARGUMENT, "pool is required"),
    ({"imageName": None}, grpc.StatusCode.INVALID_ARGUMENT, "imageName is required"),
    ({"mounter": "rbd-nbd"}, grpc.StatusCode.INVALID_ARGUMENT, "rbd-nbd"),
    ({"staticVolume": "yes"}, grpc.StatusCode.INVALID_ARGUMENT, "staticVolume"),
    ({"unmapOptions": "force"}, grpc.StatusCode.INVALID_ARGUMENT, "unmapOptions"),
    ({"mapOptions": "krbd:queue_depth=0;nbd:try-netlink"}, grpc.StatusCode.INVALID_ARGUMENT, "queue_depth"),
    ({"mapOptions": "secret=" + SECRET}, grpc.StatusCode.INVALID_ARGUMENT, "mapOptions"),
    ({"mkfsOptions": "-m0 /dev/sda"}, grpc.StatusCode.INVALID_ARGUMENT, "/dev/sda"),
    ({"pool": "a/b"}, grpc.StatusCode.INVALID_ARGUMENT, "no valid image"),
]


@pytest.mark.parametrize("attempt", TWICE)
@pytest.mark.parametrize("changes,code,text", BAD_CONTEXT, ids=[str(c) for c, _, _ in BAD_CONTEXT])
def test_stage_with_a_bad_context_writes_nothing(node, changes, code, text, attempt):
    error = call_error(node, "NodeStageVolume", staged(**changes))
    assert error.code() == code, error.details()
    assert text in error.details()
    assert SECRET not in error.details()
    # Refused before the journal or a mapping: the state directory holds no record.
    journal = os.environ["CSI_STATE"] + "/plugins/rbd/journal"
    assert not os.path.isdir(journal) or os.listdir(journal) == []


@pytest.mark.parametrize("attempt", TWICE)
@pytest.mark.parametrize("secrets", [{}, {"userID": "csi-rbd-node"}, {"userKey": SECRET},
                                     {"userID": "csi-rbd-node", "userKey": "not base64!"}],
                         ids=["none", "no-key", "no-user", "bad-key"])
def test_stage_needs_user_and_key(node, secrets, attempt):
    request = staged()
    request.secrets.clear()
    request.secrets.update(secrets)
    error = call_error(node, "NodeStageVolume", request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert "userID" in error.details() and "userKey" in error.details()


@pytest.mark.parametrize("attempt", TWICE)
@pytest.mark.parametrize("block", [True, False], ids=["block", "mount"])
def test_image_features_the_kernel_lacks_are_refused_before_mapping(node, block, attempt):
    # run.sh's fixture kernel supports 0x3d: no journaling.
    request = staged(imageFeatures="layering,exclusive-lock,journaling")
    request.volume_capability.CopyFrom(capability(block=block))
    error = call_error(node, "NodeStageVolume", request)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert "does not support journaling" in error.details()
    assert "rbd feature disable" in error.details()
    assert SECRET not in error.details()
    journal = os.environ["CSI_STATE"] + "/plugins/rbd/journal"
    assert not os.path.isdir(journal) or os.listdir(journal) == []


@pytest.mark.parametrize("attempt", TWICE)
def test_unknown_image_features_are_invalid(node, attempt):
    request = staged(imageFeatures="layering,exclusive_lock")
    request.volume_capability.CopyFrom(capability(block=True))
    error = call_error(node, "NodeStageVolume", request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert 'unknown image feature "exclusive_lock"' in error.details()


@pytest.mark.parametrize("attempt", TWICE)
def test_a_shared_block_writer_may_not_be_fenced(node, attempt):
    request = staged(fencing="exclusiveLock")
    request.volume_capability.CopyFrom(
        capability(block=True, mode=csi.VolumeCapability.AccessMode.MULTI_NODE_MULTI_WRITER))
    error = call_error(node, "NodeStageVolume", request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert "MULTI_NODE_MULTI_WRITER" in error.details()


def test_secrets_never_logged(node):
    call_error(node, "NodeStageVolume", stage())
    call_error(node, "NodePublishVolume", publish())
    call_error(node, "NodeExpandVolume", expand())
    bad = stage()
    bad.ClearField("volume_id")
    call_error(node, "NodeStageVolume", bad)
    time.sleep(0.2)  # the lines are written before the response, but leave the pipe a moment
    with open(os.environ["CSI_SERVER_LOG"], encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert "method=NodeStageVolume" in log, log[-2000:]
    assert "<redacted>" in log
    assert SECRET not in log
    assert "hunter2" not in log
    assert "csi-rbd-node" not in log


# ---------------------------------------------------------------------------------------------------------------
# Concurrency


def test_sixteen_concurrent_calls(channel):
    identity = csi_grpc.IdentityStub(channel)
    node = csi_grpc.NodeStub(channel)
    start = threading.Barrier(16)

    def one(i):
        start.wait(timeout=10)
        kind = i % 4
        if kind == 0:
            return identity.GetPluginInfo(csi.GetPluginInfoRequest(), timeout=10).name == DRIVER
        if kind == 1:
            return identity.Probe(csi.ProbeRequest(), timeout=10).ready.value
        if kind == 2:
            return node.NodeGetInfo(csi.NodeGetInfoRequest(), timeout=10).node_id == NODE_ID
        bad = unstage()
        bad.ClearField("volume_id")
        return call_error_plain(node, bad) == grpc.StatusCode.INVALID_ARGUMENT

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(16)))
    assert results == [True] * 16


def call_error_plain(node, request):
    try:
        node.NodeUnstageVolume(request, timeout=10)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


# ---------------------------------------------------------------------------------------------------------------
# Metrics (--metrics-address 127.0.0.1:0: the port is in the server's log)


def metrics_text():
    with open(os.environ["CSI_SERVER_LOG"], encoding="utf-8", errors="replace") as f:
        match = re.search(r"address=\S*:(\d+) path=/metrics", f.read())
    assert match, "no 'serving metrics' line in the server's log"
    with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % match.group(1), timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()


def test_metrics_count_rpcs_by_method_and_code(node):
    node.NodeGetInfo(csi.NodeGetInfoRequest(), timeout=10)
    call_error(node, "NodeStageVolume", staged(clusterID="elsewhere"))
    text = metrics_text()
    assert re.search(r'krbd_csi_rpc_duration_seconds_count\{[^}]*method="NodeGetInfo"[^}]*\} [1-9]', text) or \
        re.search(r'krbd_csi_rpc_duration_seconds_count\{[^}]*code="OK"[^}]*method="NodeGetInfo"[^}]*\} [1-9]', text), \
        text[:3000]
    assert 'code="FAILED_PRECONDITION"' in text
    assert SECRET not in text and "csi-rbd-node" not in text and VOLUME not in text


def test_metrics_serves_only_metrics():
    with open(os.environ["CSI_SERVER_LOG"], encoding="utf-8", errors="replace") as f:
        port = re.search(r"address=\S*:(\d+) path=/metrics", f.read()).group(1)
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen("http://127.0.0.1:%s/" % port, timeout=10)
    assert raised.value.code == 404
