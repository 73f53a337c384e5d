"""Offline base images: ``busybox`` from the host's static busybox, ``debian`` from Debian's
packages (``mmdebstrap`` or ``debootstrap``). Users and tests use these instead of a hub.

The busybox image is reproducible on one host: every path of its tree gets the busybox
binary's mtime and the config's ``created`` is that same time, so the same binary always
gives the same layer digest and the same image ID.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile

from dockyard.errors import FailedPrecondition, Internal
from dockyard.oci.manifest import ContainerConfig, canonical_json
from dockyard.oci.platform import host_platform

from .busybox import find_static_busybox, make_busybox_rootfs
from .create import commit_image, image_config_doc, store_layer, store_tree_layer
from .model import Image
from .resolve import normalize_name
from .stores import Stores
from .times import format_time

log = logging.getLogger(__name__)

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def _stamp_tree(root: str, ns: int) -> None:
    """Give every path under ``root`` (links themselves, not their targets) one mtime."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), ns=(ns, ns), follow_symlinks=False)
    os.utime(root, ns=(ns, ns))


def _busybox_version(binary: str) -> str:
    proc = subprocess.run([binary], capture_output=True, text=True, check=False)
    first = (proc.stdout or proc.stderr).splitlines()[:1]
    return first[0].strip() if first else "busybox"


def make_busybox_image(stores: Stores, name: str = "busybox:latest",
                       busybox: str | None = None) -> Image:
    """The ``busybox`` image: a one-layer rootfs (``make_busybox_rootfs``), ``Cmd ["sh"]``."""
    binary = busybox or find_static_busybox()
    st = os.stat(binary)
    mtime_ns = st.st_mtime_ns - st.st_mtime_ns % 1_000_000_000  # tar keeps whole seconds
    created = format_time(ns=mtime_ns)
    version = _busybox_version(binary)
    work = tempfile.mkdtemp(prefix="busybox-", dir=stores.tmp)
    try:
        rootfs = make_busybox_rootfs(os.path.join(work, "rootfs"), binary)
        _stamp_tree(rootfs, mtime_ns)
        with stores.meta.leases.temporary("busybox") as lease:
            layer, diff_id = store_tree_layer(stores, lease.id, rootfs)
            config = ContainerConfig(env=(DEFAULT_PATH,), cmd=("sh",))
            doc = image_config_doc(config, [diff_id], platform=host_platform(),
                                   created=created, history=[{
                                       "created": created,
                                       "created_by": f"dockyard: {version} from {binary}",
                                       "comment": "offline base image"}])
            return commit_image(stores, lease.id, canonical_json(doc), [layer],
                                [normalize_name(name)])
    finally:
        shutil.rmtree(work)


def debian_tool() -> str:
    """``mmdebstrap`` (faster) or ``debootstrap``, whichever is installed."""
    for tool in ("mmdebstrap", "debootstrap"):
        path = shutil.which(tool)
        if path:
            return path
    raise FailedPrecondition("neither mmdebstrap nor debootstrap is installed "
                             "(apt-get install mmdebstrap)")


def make_debian_image(stores: Stores, suite: str = "bookworm", name: str = "",
                      mirror: str = DEBIAN_MIRROR, variant: str = "minbase") -> Image:
    """A Debian image built from Debian's packages (needs root and the mirror; slow)."""
    tool = debian_tool()
    when = format_time()
    work = tempfile.mkdtemp(prefix="debian-", dir=stores.tmp)
    try:
        with stores.meta.leases.temporary("debian") as lease:
            if os.path.basename(tool) == "mmdebstrap":
                tarball = os.path.join(work, "rootfs.tar")
                _run([tool, f"--variant={variant}", "--mode=root", "--quiet", suite, tarball,
                      mirror])
                with open(tarball, "rb") as f:
                    layer, diff_id = store_layer(stores, lease.id, f)
            else:
                rootfs = os.path.join(work, "rootfs")
                _run([tool, f"--variant={variant}", suite, rootfs, mirror])
                layer, diff_id = store_tree_layer(stores, lease.id, rootfs)
            config = ContainerConfig(env=(DEFAULT_PATH,), cmd=("bash",))
            doc = image_config_doc(config, [diff_id], platform=host_platform(), created=when,
                                   history=[{"created": when, "created_by":
                                             f"{os.path.basename(tool)} --variant={variant} "
                                             f"{suite} {mirror}"}])
            return commit_image(stores, lease.id, canonical_json(doc), [layer],
                                [normalize_name(name or f"debian:{suite}")])
    finally:
        shutil.rmtree(work)


def _run(argv: list[str]) -> None:
    log.info("running %s", " ".join(argv))
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise Internal(f"{os.path.basename(argv[0])} failed ({proc.returncode}): "
                       + " | ".join(tail))
