"""Where the cgroup hierarchies are, which version the host runs, and what a cgroupsPath means.

* ``cgroup_version`` tells v1 from v2 by the filesystem type of ``/sys/fs/cgroup``
  (``statfs`` magic), as runc does: cgroup2 means the unified layout, tmpfs means v1 (or
  hybrid: v1 controllers plus a cgroup2 tree at ``unified/``).
* ``parse_mountinfo`` finds the hierarchies from ``/proc/self/mountinfo`` rather than from
  hard-coded paths, so ``cpu,cpuacct`` co-mounts, unusual mount points and mounts whose
  root is not ``/`` all work.
* ``resolve_cgroups_path`` gives the OCI ``linux.cgroupsPath`` its meaning (see there).

Nothing here reads the filesystem at import time.
"""

from __future__ import annotations

import os
from _thread import allocate_lock as _allocate_lock  # threading's import is not needed

from dockyard.errors import FailedPrecondition, InvalidArgument

# Not typing's TYPE_CHECKING/NamedTuple: the runtime CLI's start-up (dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from dockyard.records import NamedTuple

DEFAULT_ROOT = "/sys/fs/cgroup"
DEFAULT_MOUNTINFO = "/proc/self/mountinfo"
DEFAULT_PARENT = "/dockyard"

CGROUP2_SUPER_MAGIC = 0x63677270
CGROUP_SUPER_MAGIC = 0x0027E0EB
TMPFS_MAGIC = 0x01021994

# The v1 controllers the kernel knows; any other comma-separated super option of a cgroup
# mount (rw, xattr, release_agent=..., clone_children, ...) is not a controller.
V1_CONTROLLERS = frozenset({
    "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb", "memory",
    "misc", "net_cls", "net_prio", "perf_event", "pids", "rdma",
})
SYSTEMD_NAME = "name=systemd"


class Hierarchy(NamedTuple):
    """One mounted cgroup hierarchy.

    ``mountpoint`` is where it is mounted (``/sys/fs/cgroup/cpu,cpuacct``); ``root`` is the
    cgroup the mount shows at its top (``/`` on a host, something else inside a cgroup
    namespace or a bind mount); ``controllers`` are the v1 controllers attached (including
    a ``name=...`` pseudo-controller), empty for cgroup2; ``version`` is 1 or 2.
    """

    mountpoint: str
    root: str = "/"
    controllers: tuple[str, ...] = ()
    version: int = 1

    @property
    def name(self) -> str:
        """The directory name under /sys/fs/cgroup (``memory``, ``cpu,cpuacct``)."""
        return os.path.basename(self.mountpoint.rstrip("/"))

    @property
    def key(self) -> str:
        """A stable identity: the controllers joined by commas, ``""`` for cgroup2."""
        return ",".join(self.controllers)

    def dir_for(self, cgroup_path: str) -> str:
        """The host directory of the (absolute, normalised) cgroup ``cgroup_path``.

        When the mount's root is not ``/`` and the path lies under it, the root part is
        removed (the mount already shows it at its top).
        """
        rel = cgroup_path
        root = self.root.rstrip("/")
        if root and (rel == root or rel.startswith(root + "/")):
            rel = rel[len(root):]
        rel = rel.strip("/")
        return os.path.join(self.mountpoint, rel) if rel else self.mountpoint


def _unescape(field: str) -> str:
    r"""Undo mountinfo's octal escapes (``\040`` for a space, ``\134`` for a backslash)."""
    if "\\" not in field:
        return field
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str, root: str = DEFAULT_ROOT) -> tuple[Hierarchy, ...]:
    """The cgroup hierarchies in a ``/proc/<pid>/mountinfo`` text.

    v1: one entry per distinct set of controllers (the first mount wins when a hierarchy
    is mounted twice), keeping hierarchies with a kernel controller or ``name=systemd``;
    other named hierarchies are not ours to manage. v2: the cgroup2 mount at ``root``, or
    else the first cgroup2 mount under ``root`` (the hybrid layout's ``unified/``).
    """
    v1: list[Hierarchy] = []
    seen: set[tuple[str, ...]] = set()
    v2_candidates: list[Hierarchy] = []
    norm_root = root.rstrip("/") or "/"
    for line in text.splitlines():
        fields = line.split()
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 3:
            continue
        fstype = fields[sep + 1]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        mount_root = _unescape(fields[3])
        mountpoint = _unescape(fields[4])
        if fstype == "cgroup2":
            v2_candidates.append(Hierarchy(mountpoint, mount_root, (), 2))
            continue
        opts = fields[sep + 3].split(",")
        ctrls = tuple(sorted(o for o in opts if o in V1_CONTROLLERS or o.startswith("name=")))
        if not any(c in V1_CONTROLLERS or c == SYSTEMD_NAME for c in ctrls):
            continue
        if ctrls in seen:
            continue
        seen.add(ctrls)
        v1.append(Hierarchy(mountpoint, mount_root, ctrls, 1))
    unified = [h for h in v2_candidates if h.mountpoint == norm_root]
    if not unified:
        unified = [h for h in v2_candidates if h.mountpoint.startswith(norm_root + "/")]
    return (*v1, *unified[:1])


def read_hierarchies(mountinfo: str = DEFAULT_MOUNTINFO,
                     root: str = DEFAULT_ROOT) -> tuple[Hierarchy, ...]:
    """``parse_mountinfo`` of the file ``mountinfo``; ``FailedPrecondition`` if unreadable.

    The default mount table is read again only when it may have changed: a long-lived
    caller (the supervisor) keeps it open and asks the kernel with ``poll`` (mountinfo
    reports POLLPRI once its namespace's mounts changed since the last look; see
    ``_MountTable``)."""
    if mountinfo == DEFAULT_MOUNTINFO:
        return _TABLE.hierarchies(root)
    return parse_mountinfo(_read_text(mountinfo), root)


def _read_text(mountinfo: str) -> str:
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError as e:
        raise FailedPrecondition(f"{mountinfo}: cannot read the mount table: {e.strerror}") from e


class _MountTable:
    """``/proc/self/mountinfo``, parsed once per change of the mount namespace.

    Holds the file open; ``poll`` with no timeout says whether the namespace's mounts
    changed since the last poll (the kernel's ``mounts_poll``: POLLERR|POLLPRI), and only
    then is it read and parsed again. The open file belongs to the process that opened it:
    a fork (whose descriptors may be closed and reused) reads the table afresh.

    Threads (the daemon's workers read stats at once) take turns (a lock), and the file
    is read with ``pread``: one shared offset moved by two readers gave a torn table
    whose hierarchies were missing (``NotFound`` for a running container's cgroup). A
    table that changed while it was read (the kernel may then skip entries) is read again.
    """

    __slots__ = ("_fd", "_lock", "_parsed", "_pid", "_text")

    def __init__(self) -> None:
        self._pid = -1
        self._fd = -1
        self._text: str | None = None
        self._parsed: dict[str, tuple[Hierarchy, ...]] = {}
        self._lock = _allocate_lock()

    def hierarchies(self, root: str) -> tuple[Hierarchy, ...]:
        with self._lock:
            if self._pid != os.getpid():
                self._open()
            elif self._changed():
                self._text = None
            text = self._text
            if text is None:
                self._parsed.clear()
                text = self._read()
                for _ in range(2):
                    if not self._changed():
                        break
                    text = self._read()
                self._text = text
            found = self._parsed.get(root)
            if found is None:
                found = self._parsed[root] = parse_mountinfo(text, root)
            return found

    def _open(self) -> None:
        self._fd = -1
        self._text = None
        self._pid = os.getpid()
        try:
            self._fd = os.open(DEFAULT_MOUNTINFO, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return  # read (and fail with a clear message) in _read
        self._changed()  # consume the "changed" state a new open starts with

    def _changed(self) -> bool:
        import select

        if self._fd < 0:
            return True
        p = select.poll()
        p.register(self._fd, select.POLLPRI | select.POLLERR)
        try:
            return bool(p.poll(0))
        except OSError:
            return True

    def _read(self) -> str:
        if self._fd < 0:
            return _read_text(DEFAULT_MOUNTINFO)
        chunks = []
        offset = 0
        try:
            while True:
                b = os.pread(self._fd, 65536, offset)
                if not b:
                    break
                chunks.append(b)
                offset += len(b)
        except OSError:
            return _read_text(DEFAULT_MOUNTINFO)
        return b"".join(chunks).decode("utf-8", "surrogateescape")


_TABLE = _MountTable()
def fs_magic(path: str) -> int:
    """The ``f_type`` that ``statfs(2)`` reports for ``path``."""
    from dockyard.linux import syscalls  # loaded already on the runtime's paths

    try:
        return syscalls.statfs_type(path)
    except OSError as e:
        raise FailedPrecondition(f"statfs {path}: {os.strerror(e.errno or 0)}") from None


def cgroup_version(root: str = DEFAULT_ROOT) -> int:
    """2 if ``root`` is a cgroup2 filesystem, 1 if it is a tmpfs (v1 or hybrid) or a lone
    v1 hierarchy; ``FailedPrecondition`` if no cgroup filesystem is there."""
    magic = fs_magic(root)
    if magic == CGROUP2_SUPER_MAGIC:
        return 2
    if magic in (TMPFS_MAGIC, CGROUP_SUPER_MAGIC):
        return 1
    raise FailedPrecondition(f"{root} is not a cgroup filesystem (statfs type {magic:#x})")


def resolve_cgroups_path(cgroups_path: str, container_id: str) -> str:
    """The absolute, normalised cgroup path for an OCI ``linux.cgroupsPath``.

    * absolute (``/a/b``) - that path, relative to each hierarchy's mount point;
    * relative (``a/b``) - under ``/dockyard/`` (``/dockyard/a/b``);
    * empty - ``/dockyard/<container_id>``.

    ``..`` components, the systemd ``slice:prefix:name`` form and a path naming the root
    cgroup itself are refused with ``InvalidArgument``; nothing on disk is looked at.
    """
    if "\0" in cgroups_path:
        raise InvalidArgument("linux.cgroupsPath: must not contain a NUL byte")
    if ":" in cgroups_path:
        raise InvalidArgument(
            f"linux.cgroupsPath {cgroups_path!r}: the systemd form 'slice:prefix:name' is not "
            "supported (dockyard manages cgroups through cgroupfs)")
    if not cgroups_path:
        _check_id(container_id)
        return f"{DEFAULT_PARENT}/{container_id}"
    parts = [p for p in cgroups_path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArgument(f"linux.cgroupsPath {cgroups_path!r}: must not contain '..'")
    if not parts:
        raise InvalidArgument(
            f"linux.cgroupsPath {cgroups_path!r}: must not name the root cgroup")
    if cgroups_path.startswith("/"):
        return "/" + "/".join(parts)
    return DEFAULT_PARENT + "/" + "/".join(parts)


def _check_id(container_id: str) -> None:
    if (not container_id or container_id in (".", "..") or "/" in container_id
            or "\0" in container_id or ":" in container_id):
        raise InvalidArgument(
            f"container id {container_id!r} cannot name a cgroup (empty, '/', ':' or dots)")
