"""Make a busybox root filesystem offline, from Debian's ``busybox-static`` binary.

The result is a minimal, self-contained tree: ``/bin/busybox`` plus one symlink per applet,
the usual top-level directories, and ``/etc/passwd``/``/etc/group`` with root and nobody.
It is what the README's first command runs a container in, and what tests use as a rootfs.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from dockyard.errors import FailedPrecondition

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "tmp", "root",
         "home", "var", "var/log", "run", "mnt")

_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
_GROUP = "root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n"


def find_static_busybox() -> str:
    """The path of a statically linked busybox, or a FailedPrecondition saying how to get one."""
    for path in BUSYBOX_CANDIDATES:
        if os.path.isfile(path):
            with open(path, "rb") as f:
                head = f.read(4096)
            if head.startswith(b"\x7fELF") and b"ld-linux" not in head:
                return path
    raise FailedPrecondition(
        "no static busybox found: install Debian's busybox-static (apt-get install busybox-static)"
    )


def make_busybox_rootfs(dest: str, busybox: str | None = None) -> str:
    """Populate ``dest`` (created if missing) with a busybox root filesystem; returns dest."""
    src = busybox or find_static_busybox()
    os.makedirs(dest, exist_ok=True)
    for d in _DIRS:
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    target = os.path.join(dest, "bin", "busybox")
    shutil.copy2(src, target)
    os.chmod(target, 0o755)
    out = subprocess.run([src, "--list-full"], check=True, capture_output=True, text=True).stdout
    for applet in out.split():
        link = os.path.join(dest, applet)
        if os.path.lexists(link) or applet == "bin/busybox":
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("/bin/busybox", link)
    for name, text in (("passwd", _PASSWD), ("group", _GROUP), ("hostname", "dockyard\n")):
        with open(os.path.join(dest, "etc", name), "w") as f:
            f.write(text)
    return dest
