"""The ``CgroupManager`` protocol: one container's cgroup, whatever the cgroup version.

Lifecycle, as the runtime drives it::

    m = new_manager(spec.linux.cgroups_path, container_id)   # no filesystem access
    m.create(spec.linux.resources)      # mkdir everywhere, apply limits (cleans up on error)
    paths = m.join_paths()              # before fork: the child writes its pid into each
    ... fork; child: os.open/os.write(pid) into every path; exec ...
    m.update(resources)                 # `update`: apply to the live cgroup
    m.freeze(); m.thaw()                # `pause` / `resume`
    m.stats(); m.oom_kill_count()       # `stats`, `events`, exit reasons
    ... container exits, processes reaped ...
    m.destroy()                         # rmdir leaf-first, waiting out EBUSY

Errors are the dockyard taxonomy (``InvalidArgument`` for a value the spec or the kernel
refuses, ``NotFound`` for a cgroup that is gone, ``FailedPrecondition`` for a controller
that is missing or a state that forbids the change, ``PermissionDenied``, ``Internal``).
"""

from __future__ import annotations

from dockyard.oci.runtime_spec import Resources

# Not typing's TYPE_CHECKING/NamedTuple: the runtime CLI's start-up (dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple, Protocol

    from dockyard.runtime.cgroups.stats import CgroupStats
else:
    from dockyard.records import NamedTuple

    Protocol = object  # structural: checked by the type checker only


class JoinPlan(NamedTuple):
    """How a single-threaded process joins a cgroup without the kernel's global lock.

    Writing a pid into ``cgroup.procs`` takes ``cgroup_threadgroup_rwsem`` for writing,
    which waits for an RCU grace period (~10 ms at HZ=250). Two ways around it: writing
    ``0`` into a v1 ``tasks`` file moves only the writing thread, under no global lock;
    a child cloned with ``CLONE_INTO_CGROUP`` starts in its cgroup2 directory. So a
    forked child1 writes ``0`` into each of ``tasks`` and clones the init into ``into``;
    ``procs`` are the ``cgroup.procs`` files left for the old way (a second cgroup2 tree).
    """

    tasks: tuple[str, ...] = ()
    into: str = ""
    procs: tuple[str, ...] = ()


NO_JOIN = JoinPlan()


class CgroupManager(Protocol):
    """One container's cgroup, in every hierarchy the host has."""

    @property
    def path(self) -> str:
        """The cgroup path derived from ``linux.cgroupsPath`` (``/dockyard/<id>``)."""
        ...

    @property
    def version(self) -> int:
        """1 (v1 or hybrid) or 2 (unified)."""
        ...

    def create(self, resources: Resources | None) -> None:
        """Make the cgroup in every hierarchy and apply ``resources``.

        v1: every mounted controller hierarchy (and ``name=systemd``, and the hybrid
        layout's cgroup2 tree); each new cpuset level gets its parent's cpus/mems before
        any task can join. v2: the controllers are enabled on the ancestors. Idempotent
        for an existing empty cgroup (``Conflict`` if it has processes). On failure, the
        directories this call made are removed again.
        """
        ...

    def join_paths(self) -> tuple[str, ...]:
        """The ``cgroup.procs`` files a process writes its pid into to join the cgroup.

        Computed without touching the filesystem, so a forked single-threaded child can
        use the tuple with nothing but ``os.open``/``os.write``.
        """
        ...

    def join_plan(self) -> JoinPlan:
        """How a single-threaded child joins (see ``JoinPlan``); no filesystem access."""
        ...

    def add_pid(self, pid: int) -> None:
        """Move process ``pid`` into the cgroup (every hierarchy)."""
        ...

    def pids(self) -> list[int]:
        """Every process in the cgroup and its descendants (sorted; none if it is gone)."""
        ...

    def freeze(self) -> None:
        """Freeze every process; returns once they all are frozen."""
        ...

    def thaw(self) -> None:
        """Let the processes run again."""
        ...

    def frozen(self) -> bool:
        """Whether the cgroup itself is frozen (not merely an ancestor)."""
        ...

    def update(self, resources: Resources) -> None:
        """Apply ``resources`` to the live cgroup (only the values that are set)."""
        ...

    def destroy(self, timeout: float = 5.0) -> None:
        """Remove the cgroup (and any sub-cgroups) from every hierarchy, retrying while
        the kernel says EBUSY (exited tasks still being reaped) up to ``timeout`` seconds.
        Nothing to do if it is already gone; ``FailedPrecondition`` if it stays busy."""
        ...

    def exists(self) -> bool:
        """Whether the cgroup exists (in any hierarchy)."""
        ...

    def stats(self) -> CgroupStats:
        """Memory, CPU, pids and block I/O usage."""
        ...

    def oom_kill_count(self) -> int:
        """How many processes the OOM killer has killed in the cgroup."""
        ...

    def v1_binds(self) -> tuple[tuple[str, str], ...]:
        """For the in-container ``type: cgroup`` mount on v1: (host directory of this
        cgroup in a hierarchy, name under /sys/fs/cgroup such as ``memory`` or
        ``cpu,cpuacct``). Empty on v2."""
        ...

    def v1_symlinks(self) -> tuple[tuple[str, str], ...]:
        """The symlinks that go with co-mounted hierarchies: (link name, target), e.g.
        ``("cpu", "cpu,cpuacct")``, both relative to /sys/fs/cgroup. Empty on v2."""
        ...
