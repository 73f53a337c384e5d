"""cgroup management for containers, v1 and v2 behind one ``CgroupManager`` protocol.

Entry points::

    cgroup_version(root="/sys/fs/cgroup") -> 1 | 2
    new_manager(cgroups_path, container_id) -> CgroupManager

``new_manager`` checks the path and returns at once, without touching the filesystem; the
version (statfs of ``/sys/fs/cgroup``) and the hierarchies (``/proc/self/mountinfo``) are
looked up on first use. ``V1Manager`` and ``V2Manager`` can also be built directly, with an
explicit mount table or mount point (tests do so with a fake tree).

Layout of the package (split by noun): ``mounts`` (version, mount table, cgroupsPath),
``files`` (interface file I/O and error translation), ``tree`` (mkdir/rmdir/join),
``resources`` (checking and v1-to-v2 conversion), ``devices`` (the allow-list model),
``devices_bpf`` (the v2 eBPF filter), ``stats``, ``v1``, ``v2``, ``manager`` (protocol).
"""

from __future__ import annotations

from dockyard.oci.runtime_spec import Resources
from dockyard.runtime.cgroups.manager import NO_JOIN, CgroupManager, JoinPlan
from dockyard.runtime.cgroups.mounts import (
    DEFAULT_MOUNTINFO,
    DEFAULT_ROOT,
    Hierarchy,
    cgroup_version,
    parse_mountinfo,
    read_hierarchies,
    resolve_cgroups_path,
)
from dockyard.runtime.cgroups.v1 import V1Manager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.runtime.cgroups.stats import (
        BlkioEntry,
        BlkioStats,
        CgroupStats,
        CPUStats,
        MemoryStats,
        PidsStats,
        ThrottlingStats,
    )
    from dockyard.runtime.cgroups.v2 import V2Manager

# Names of the package loaded on first use (PEP 562's module __getattr__): the stats
# and, on a v1 host, v2 are not on the start-up path of the runtime CLI.
_LAZY = {"BlkioEntry": "stats", "BlkioStats": "stats", "CgroupStats": "stats",
         "CPUStats": "stats", "MemoryStats": "stats", "PidsStats": "stats",
         "ThrottlingStats": "stats", "V2Manager": "v2"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(__import__(f"{__name__}.{module}", fromlist=(name,)), name)
    globals()[name] = value
    return value


def open_manager(path: str, *, root: str = DEFAULT_ROOT,
                 mountinfo: str = DEFAULT_MOUNTINFO) -> CgroupManager:
    """The manager for the absolute cgroup ``path`` on this host, looking up the version
    and the hierarchies now."""
    if cgroup_version(root) == 2:
        from dockyard.runtime.cgroups.v2 import V2Manager

        mount_root = "/"
        for h in read_hierarchies(mountinfo, root):
            if h.version == 2 and h.mountpoint == root.rstrip("/"):
                mount_root = h.root
        return V2Manager(path, root, mount_root=mount_root)
    return V1Manager(path, read_hierarchies(mountinfo, root))


class DeferredManager:
    """A ``CgroupManager`` that picks v1 or v2 on first use, so that constructing one
    touches nothing. ``join_paths`` resolves too: call it (or ``create``) before forking."""

    __slots__ = ("_impl", "_mountinfo", "_path", "_root")

    def __init__(self, path: str, root: str = DEFAULT_ROOT,
                 mountinfo: str = DEFAULT_MOUNTINFO) -> None:
        self._path = path
        self._root = root
        self._mountinfo = mountinfo
        self._impl: CgroupManager | None = None

    def __repr__(self) -> str:
        return f"DeferredManager({self._path!r}, {self._impl!r})"

    def resolve(self) -> CgroupManager:
        """The v1 or v2 manager behind this one."""
        if self._impl is None:
            self._impl = open_manager(self._path, root=self._root, mountinfo=self._mountinfo)
        return self._impl

    @property
    def path(self) -> str:
        return self._path

    @property
    def version(self) -> int:
        return self.resolve().version

    def create(self, resources: Resources | None) -> None:
        self.resolve().create(resources)

    def join_paths(self) -> tuple[str, ...]:
        return self.resolve().join_paths()

    def join_plan(self) -> JoinPlan:
        return self.resolve().join_plan()

    def add_pid(self, pid: int) -> None:
        self.resolve().add_pid(pid)

    def pids(self) -> list[int]:
        return self.resolve().pids()

    def freeze(self) -> None:
        self.resolve().freeze()

    def thaw(self) -> None:
        self.resolve().thaw()

    def frozen(self) -> bool:
        return self.resolve().frozen()

    def update(self, resources: Resources) -> None:
        self.resolve().update(resources)

    def destroy(self, timeout: float = 5.0) -> None:
        self.resolve().destroy(timeout)

    def exists(self) -> bool:
        return self.resolve().exists()

    def stats(self) -> CgroupStats:
        return self.resolve().stats()

    def oom_kill_count(self) -> int:
        return self.resolve().oom_kill_count()

    def v1_binds(self) -> tuple[tuple[str, str], ...]:
        return self.resolve().v1_binds()

    def v1_symlinks(self) -> tuple[tuple[str, str], ...]:
        return self.resolve().v1_symlinks()


def new_manager(cgroups_path: str, container_id: str, *, root: str = DEFAULT_ROOT,
                mountinfo: str = DEFAULT_MOUNTINFO) -> CgroupManager:
    """The manager for a container's cgroup, from its OCI ``linux.cgroupsPath``.

    Absolute paths are relative to each hierarchy's mount point; relative ones go under
    ``/dockyard/``; empty means ``/dockyard/<container_id>``. ``..`` components and the
    systemd ``slice:prefix:name`` form are ``InvalidArgument``. Nothing is read or made
    until the manager is used.
    """
    return DeferredManager(resolve_cgroups_path(cgroups_path, container_id), root, mountinfo)


__all__ = [
    "NO_JOIN",
    "BlkioEntry",
    "BlkioStats",
    "CPUStats",
    "CgroupManager",
    "CgroupStats",
    "DeferredManager",
    "Hierarchy",
    "JoinPlan",
    "MemoryStats",
    "PidsStats",
    "ThrottlingStats",
    "V1Manager",
    "V2Manager",
    "cgroup_version",
    "new_manager",
    "open_manager",
    "parse_mountinfo",
    "read_hierarchies",
    "resolve_cgroups_path",
]
