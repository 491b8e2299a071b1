"""What csi/test/vm.sh gives the guest's Python (test_volumes_vm.py, bench_vm.py): the generated stubs and the
sandbox's variables.

  CSI_BINARY   the krbd-csi executable (built on the host; the guest shares the host's root)
  CSI_STUBS    csi_pb2.py and csi_pb2_grpc.py, generated from csi/csi.proto during the run
  CSI_WORK     a scratch directory (kubelet's layout is made below it)
and the sandbox's KRBD_TEST_* variables (monitor, admin key, pool, the blank images csi0..csi25).
"""

import os
import sys

sys.path.insert(0, os.environ["CSI_STUBS"])
import csi_pb2 as csi  # noqa: E402,F401
import csi_pb2_grpc as csi_grpc  # noqa: E402,F401

BINARY = os.environ["CSI_BINARY"]
WORK = os.environ["CSI_WORK"]
MON = os.environ["KRBD_TEST_MON"]
KEY = os.environ["KRBD_TEST_KEY"]
POOL = os.environ["KRBD_TEST_POOL"]
IMAGES = os.environ["KRBD_TEST_CSI_IMAGES"].split()
Mode = csi.VolumeCapability.AccessMode
