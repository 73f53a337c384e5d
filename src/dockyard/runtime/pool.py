"""Spare processes for the warm path: the fork and the cgroup placement done ahead of time.

A container's create pays, before the init can even start building its rootfs, for a fork
of the (~20 MB) zygote and for making its cgroup in every hierarchy; and moving a process
into a cgroup through ``cgroup.procs`` takes the kernel's global
``cgroup_threadgroup_rwsem`` for writing, whose ``rcu_sync_enter`` waits for an RCU grace
period (~10 ms at HZ=250). A **spare** is that work done while the supervisor is idle:

* a cgroup ``<parent>/.spare-<owner pid>-<random>`` in every v1 hierarchy (the parent of
  the ``cgroupsPath`` requests come with: ``/dockyard`` for ``/dockyard/<id>``);
* a child of the zygote (the future "child1" of ``launcher``'s fork chain) that has moved
  itself into that cgroup and blocks reading a socketpair for its job.

On ``create`` the spare's cgroup is **renamed** to the container's (``rename(2)`` of a
cgroup directory within its parent is allowed by cgroup v1, and changes nothing for the
processes in it) and the job (the init's context and its descriptors, by SCM_RIGHTS) is
sent to the spare, which then does exactly what a freshly forked child1 does:
setns/unshare, fork the init, report the init's pid, exit. The caller applies the
resources to the cgroup meanwhile (``spawn.launch_spare``), before the init's "go".

A spare has also made, ahead of time, the namespaces that do not depend on the request
(``PRE_UNSHARED``: new network, IPC, UTS and PID namespaces, empty until the init fills
them; a new network namespace alone costs about a millisecond). A job that wants fewer
(``--network host``) or joins existing ones by path first goes back to the zygote's own
(``setns`` to ``/proc/<zygote>/ns/*``), so the result is what a fresh child1 would get.
The mount namespace is not made ahead: its copy would miss the mounts the caller makes
after the spare was forked (the container's rootfs) wherever the host's mounts do not
propagate.

Lifecycle of a spare::

    fill_one() ── fork ──> spare: PDEATHSIG, default signals, stdio on /dev/null, every
        │                   other descriptor closed, not dumpable; mkdir .spare-* in each
        │                   v1 hierarchy; write "0" to each ``tasks`` (moves only itself:
        │                   no global lock, no grace period); send READY; block in recvmsg
    claim(target) ── rename .spare-* → target in each v1 hierarchy; make the target in
        │             the hierarchies that refuse rename (cgroup2, e.g. the hybrid
        │             layout's ``unified/``): the spare clones the init into it
    Claim.launch(job) ── the spare runs the job (``runner``) and exits
    reaped() / close() ── a spare that died, or every spare at shutdown: killed, reaped,
                          its cgroups removed

Copy-on-write: right after a fork, every page the zygote writes (Python writes reference
counts everywhere) is copied first, so the request after a refill would pay for page
faults a fresh fork would have paid. Once its spares are forked, the pool pre-faults the
zygote's writable private memory (``madvise(MADV_POPULATE_WRITE)``), in small steps from
the idle loop like the forks. The spares of one refill keep sharing the old pages among
themselves: the cost is about one copy of the zygote's heap for the whole pool — ~19 ms
of CPU on this kind of machine, more than the faults it spares a request, so the caller
pre-faults only once it has been quiet a while (``short_of_spares`` tells the forks from
the pre-faulting): containers made in a row do not pay for it.

Where no spare fits, ``claim`` returns ``None`` and the caller takes its normal path: a
parent with no ready spare (the first request for a parent registers it, the refill
follows), a target cgroup that already exists, a pids limit too low for the spare's fork,
a cgroup v2 host (cgroup2 has no rename), a disabled pool (size 0), or a spare that died.

Stale spares: a spare dies with its supervisor (``PR_SET_PDEATHSIG``); the directories of
spares whose owner is gone are removed when a pool first sees their parent, and the
parents a pool has seen are remembered in ``parents_file`` (one cgroup path per line) so
that the next supervisor cleans them at start-up, and fills them again; a recorded parent
whose cgroup is gone from every hierarchy is dropped from the record instead. Spares of
another live supervisor (same parent, other state directory) are left alone: the owner's
pid is in the name.

Callers must be single-threaded (the zygote) and must not reap a spare behind the pool's
back: they pass every reaped pid to ``reaped`` first.
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import posixpath
import secrets
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, NoReturn

from dockyard.errors import DockyardError
from dockyard.linux import syscalls as sc
from dockyard.oci.runtime_spec import Resources
from dockyard.runtime.cgroups import files, tree
from dockyard.runtime.cgroups.manager import NO_JOIN, JoinPlan
from dockyard.runtime.cgroups.mounts import (
    DEFAULT_MOUNTINFO,
    DEFAULT_ROOT,
    Hierarchy,
    cgroup_version,
    read_hierarchies,
)
from dockyard.runtime.cgroups.v1 import V1Manager

if TYPE_CHECKING:
    import logging

SPARE_PREFIX = ".spare-"
DEFAULT_SIZE = 2
READY = b"R"
FAILED = b"E"
MAX_JOB_BYTES = 128 * 1024
MAX_JOB_FDS = 64
# After this many spares of one parent die before they are ready, stop refilling it.
MAX_FAILURES = 3
# Pre-faulted per fill step: about a millisecond of copying.
PREFAULT_STEP = 1 << 20
_FD = array.array("i")
# The namespaces a spare makes before it is ready (see the module doc).
PRE_UNSHARED = sc.CLONE_NEWNET | sc.CLONE_NEWIPC | sc.CLONE_NEWUTS | sc.CLONE_NEWPID
_NS_NAMES = ((sc.CLONE_NEWNET, "net"), (sc.CLONE_NEWIPC, "ipc"), (sc.CLONE_NEWUTS, "uts"),
             (sc.CLONE_NEWPID, "pid"))


class Prepared(NamedTuple):
    """What a spare did ahead of its job: the namespaces it made (``CLONE_NEW*`` flags,
    0 if it could not) and the pid of the zygote, whose namespaces are the ones it left."""

    unshared: int
    zygote: int

    def settle(self, wanted: int, joined: int) -> int:
        """In the spare, before the job's setns and unshare: go back to the zygote's
        namespace for each type made ahead that the job neither wants new (``wanted``)
        nor joins by path (``joined``, which replaces it anyway); returns the flags still
        to unshare."""
        for flag, name in _NS_NAMES:
            if self.unshared & flag and not (wanted | joined) & flag:
                fd = os.open(f"/proc/{self.zygote}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    sc.setns(fd, flag)
                finally:
                    os.close(fd)
        return wanted & ~self.unshared


NOTHING_PREPARED = Prepared(0, 0)

# The spare's entry point for its job: the payload, the descriptors that came with it
# (received close-on-exec) and what the spare prepared. Never returns.
Runner = Callable[[bytes, list[int], Prepared], NoReturn]


def _log() -> logging.Logger:
    import logging  # only when something is logged: the module stays cheap to import

    return logging.getLogger(__name__)


class SpareLost(Exception):
    """The spare died before it took its job: the caller falls back to its normal path."""


@dataclass(eq=False, slots=True)
class Spare:
    """One pre-forked process waiting in its own cgroup."""

    pid: int
    sock: socket.socket
    parent: str        # the cgroup parent, e.g. /dockyard
    path: str          # its cgroup now: <parent>/.spare-..., or the target once claimed
    ready: bool = False
    reaped: bool = False


@dataclass(eq=False, slots=True)
class Claim:
    """A spare renamed into a container's cgroup, not yet given its job.

    ``join`` is how the init joins the hierarchies that refused the rename (the hybrid
    layout's cgroup2: cloned into it by the spare, ``JoinPlan.into``). ``launch`` hands the job over; ``wait`` reaps
    the spare once it has forked the init; ``discard`` (on any failure) kills and reaps it
    if it is still there. The cgroup itself then belongs to the caller (its manager
    destroys it).
    """

    spare: Spare
    join: JoinPlan = NO_JOIN

    @property
    def pid(self) -> int:
        return self.spare.pid

    def launch(self, payload: bytes, fds: Sequence[int]) -> None:
        """Send the job; ``SpareLost`` if the spare is gone (nothing was started)."""
        if len(payload) > MAX_JOB_BYTES or len(fds) > MAX_JOB_FDS:
            raise SpareLost(f"job too large for a spare ({len(payload)} bytes, {len(fds)} fds)")
        try:
            self.spare.sock.sendmsg(
                [payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        except OSError as e:
            raise SpareLost(f"spare {self.spare.pid} is gone: {e.strerror}") from None
        finally:
            self.spare.sock.close()

    def wait(self) -> int:
        """Reap the spare (it exits once it has forked the init); its wait status."""
        _, status = _waitpid(self.spare.pid)
        self.spare.reaped = True
        return status

    def discard(self) -> None:
        """Kill and reap the spare if it is still there (idempotent). Its cgroup is the
        caller's to destroy."""
        s = self.spare
        if not s.reaped:
            _kill_quietly(s.pid)
            _waitpid(s.pid)
            s.reaped = True
        s.sock.close()


def _waitpid(pid: int) -> tuple[int, int]:
    while True:
        try:
            return os.waitpid(pid, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return pid, 0


class SparePool:
    """The spares of one zygote, by cgroup parent. Single-threaded; see the module doc."""

    def __init__(self, runner: Runner, size: int = DEFAULT_SIZE, *,
                 parents_file: str | None = None, root: str = DEFAULT_ROOT,
                 mountinfo: str = DEFAULT_MOUNTINFO,
                 hierarchies: Sequence[Hierarchy] | None = None) -> None:
        self._runner = runner
        self.size = max(0, size)
        self._parents_file = parents_file
        self._root = root
        self._mountinfo = mountinfo
        self._hier: tuple[Hierarchy, ...] | None = (
            tuple(hierarchies) if hierarchies is not None else None)
        self._enabled: bool | None = None if self.size else False
        self._parents: list[str] = []          # every parent seen, in order
        self._spares: dict[str, list[Spare]] = {}
        self._failures: dict[str, int] = {}
        self._prefault: list[tuple[int, int]] = []  # ranges still to pre-fault
        self._forked = False  # spares forked since the last pre-fault
        self.served = 0      # creates that took a spare
        self.fallbacks = 0   # claims that found none that fit (the caller's normal path)

    # ------------------------------------------------------------------ set-up

    @property
    def enabled(self) -> bool:
        """Size above 0 and a cgroup v1 (or hybrid) host: cgroup2 cannot rename."""
        if self._enabled is None:
            try:
                self._enabled = cgroup_version(self._root) == 1 and bool(self._v1())
            except DockyardError as e:
                _log().warning("spare pool disabled: %s", e)
                self._enabled = False
            if not self._enabled:
                _log().info("spare pool disabled: not a cgroup v1 host")
        return self._enabled

    def _hierarchies(self) -> tuple[Hierarchy, ...]:
        if self._hier is None:
            self._hier = tuple(read_hierarchies(self._mountinfo, self._root))
        return self._hier

    def _v1(self) -> tuple[Hierarchy, ...]:
        return tuple(h for h in self._hierarchies() if h.version == 1)

    def start(self) -> None:
        """Clean the stale spares of the parents an earlier zygote recorded, and want
        again those whose cgroup is still there (the refill follows from the event
        loop). A parent whose cgroup is gone in every hierarchy (a one-off
        ``--cgroup-parent``, a test's) is forgotten: forking spares for it would make
        its cgroups again and keep two idle processes for nothing, at every start from
        then on; its next create registers it again. The record is rewritten with the
        parents kept."""
        if not self.enabled or self._parents_file is None:
            return
        try:
            with open(self._parents_file, encoding="utf-8") as f:
                recorded = [ln.strip() for ln in f if ln.strip().startswith("/")]
        except FileNotFoundError:
            return
        kept = [p for p in dict.fromkeys(recorded) if self._exists(p)]
        for parent in kept:
            self.want(parent, record=False)
        if len(kept) == len(recorded):
            return
        tmp = f"{self._parents_file}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(p + "\n" for p in kept)
            os.replace(tmp, self._parents_file)
        except OSError as e:  # only the next start's work is at stake
            _log().warning("cannot rewrite the spare parents record: %s", e)
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def _exists(self, parent: str) -> bool:
        """``parent``'s cgroup directory is there in some v1 hierarchy (so may hold
        stale spares, which ``want`` cleans)."""
        return any(os.path.isdir(h.dir_for(parent)) for h in self._v1())

    def want(self, parent: str, *, record: bool = True) -> None:
        """Keep spares for ``parent`` from now on (the first time: clean stale spares)."""
        if not self.enabled or parent in self._spares:
            return
        self._spares[parent] = []
        self._parents.append(parent)
        self.clean_stale(parent)
        if record and self._parents_file is not None:
            try:
                with open(self._parents_file, "a", encoding="utf-8") as f:
                    f.write(parent + "\n")
            except OSError as e:  # only the next start's clean-up is at stake
                _log().warning("cannot record spare parent %s: %s", parent, e)

    def clean_stale(self, parent: str) -> list[str]:
        """Remove the ``.spare-*`` cgroups under ``parent`` whose owner is gone, killing
        any process left in them; returns the names removed."""
        removed: list[str] = []
        stale: dict[str, list[str]] = {}
        for h in self._v1():
            base = h.dir_for(parent)
            try:
                names = os.listdir(base)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                if name.startswith(SPARE_PREFIX) and not self._owner_alive(name):
                    stale.setdefault(name, []).append(os.path.join(base, name))
        for name, dirs in stale.items():
            for d in dirs:
                for pid in files.procs_recursive(d):
                    _kill_quietly(pid)
            try:
                tree.remove_trees(dirs, 2.0)
            except DockyardError as e:
                _log().warning("stale spare cgroup %s: %s", name, e)
                continue
            removed.append(name)
        if removed:
            _log().info("removed %d stale spare cgroup(s) under %s", len(removed), parent)
        return removed

    def _owner_alive(self, name: str) -> bool:
        owner = name[len(SPARE_PREFIX):].split("-", 1)[0]
        if not owner.isdigit():
            return False
        pid = int(owner)
        if pid == os.getpid():
            return any(s.path.endswith("/" + name) for ss in self._spares.values() for s in ss)
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return False
        # A zombie owner (killed, not yet reaped by its parent) is gone too.
        return stat[stat.rindex(b")") + 2:][:1] not in (b"Z", b"X")

    # ------------------------------------------------------------------ filling

    def _short(self) -> str | None:
        for p in self._parents:
            if len(self._spares[p]) < self.size and self._failures.get(p, 0) < MAX_FAILURES:
                return p
        return None

    def short_of_spares(self) -> bool:
        """A spare is still to be forked (not only memory to pre-fault)."""
        return self.enabled and self._short() is not None

    def needs_fill(self) -> bool:
        return self.enabled and (self._short() is not None or self._forked
                                 or bool(self._prefault))

    def fill_one(self) -> bool:
        """One step of refilling; True if more steps are wanted. A step is one fork of a
        spare for the first parent short of spares (the spare makes and joins its
        cgroups itself) or, once none is short, about 1 MiB of pre-faulting."""
        if not self.enabled:
            return False
        parent = self._short()
        if parent is not None:
            self._spawn(parent)
            self._forked = True
        elif self._forked or self._prefault:
            if self._forked:
                self._forked = False
                self._prefault = _writable_ranges()
            self._prefault_step()
        return self.needs_fill()

    def _prefault_step(self) -> None:
        budget = PREFAULT_STEP
        while self._prefault and budget > 0:
            start, length = self._prefault.pop()
            n = min(length, budget)
            try:
                sc.madvise(start, n, sc.MADV_POPULATE_WRITE)
            except OSError as e:
                if e.errno in (errno.EINVAL, errno.ENOSYS):
                    self._prefault.clear()  # a kernel before 5.14: nothing to gain
                    return
                # EFAULT and the like: a mapping that changed since it was listed.
            if n < length:
                self._prefault.append((start + n, length - n))
            budget -= n

    def _spawn(self, parent: str) -> None:
        me = os.getpid()
        path = posixpath.join(parent, f"{SPARE_PREFIX}{me}-{secrets.token_hex(4)}")
        ours, theirs = socket.socketpair(socket.AF_UNIX,
                                         socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        v1 = self._v1()
        try:
            pid = os.fork()
        except BaseException:
            ours.close()
            theirs.close()
            raise
        if pid == 0:
            fd = theirs.detach()
            ours.detach()
            _spare_main(fd, me, path, v1, self._runner)
        theirs.close()
        ours.setblocking(False)
        self._spares[parent].append(Spare(pid, ours, parent, path))

    # ------------------------------------------------------------------ status

    def _check(self, spare: Spare) -> bool:
        """Read what the spare said so far; False if it died or failed (then discarded)."""
        if spare.reaped:
            return False
        while True:
            try:
                msg = spare.sock.recv(4096)
            except BlockingIOError:
                return True
            except OSError:
                msg = b""
            if msg == READY:
                spare.ready = True
                self._failures.pop(spare.parent, None)
                continue
            if msg.startswith(FAILED):
                _log().warning("spare %d for %s failed: %s", spare.pid, spare.parent,
                               msg[1:].decode(errors="replace"))
            self._lost(spare)
            return False

    def _lost(self, spare: Spare) -> None:
        if not spare.ready:
            self._failures[spare.parent] = self._failures.get(spare.parent, 0) + 1
        self._kill(spare)

    def ready_count(self, parent: str | None = None) -> int:
        """How many spares are ready (for ``parent``, or in all)."""
        n = 0
        for p, spares in list(self._spares.items()):
            if parent is not None and p != parent:
                continue
            for s in list(spares):
                if self._check(s) and s.ready:
                    n += 1
        return n

    def status(self) -> dict[str, object]:
        """For ``ping``: the size, whether spares can be used here, how many are ready per
        parent, whether a refill is still under way (spares to fork, memory to pre-fault),
        and how many creates took one or fell back."""
        return {"size": self.size, "enabled": bool(self.size) and self.enabled,
                "ready": {p: self.ready_count(p) for p in self._parents},
                "filling": self.needs_fill(),
                "served": self.served, "fallbacks": self.fallbacks}

    # ------------------------------------------------------------------ claiming

    def claim(self, target: str, resources: Resources | None) -> Claim | None:
        """Rename a ready spare's cgroup to ``target`` (an absolute cgroup path); None
        when no spare fits (see the module doc) — the caller then takes its normal path.

        On success the target exists in every hierarchy: renamed in the v1 ones, made in
        the others (which ``Claim.join`` says how to join). Resources are the
        caller's to apply (``CgroupManager.update``).
        """
        claim = self._claim(target, resources) if self.enabled else None
        if claim is None:
            self.fallbacks += 1
        else:
            self.served += 1
        return claim

    def _claim(self, target: str, resources: Resources | None) -> Claim | None:
        parent = posixpath.dirname(target)
        if parent == "/" or target.endswith("/"):
            return None
        self.want(parent)
        if resources is not None and resources.pids is not None and 0 < resources.pids.limit < 2:
            return None  # the spare and the init it forks are both counted for a moment
        hier = self._hierarchies()
        if any(os.path.lexists(h.dir_for(target)) for h in hier):
            return None  # an existing cgroup has its own rules: the normal path applies them
        spare = next((s for s in list(self._spares[parent]) if self._check(s) and s.ready),
                     None)
        if spare is None:
            return None
        self._spares[parent].remove(spare)
        renamed: list[Hierarchy] = []
        try:
            for h in self._v1():
                os.rename(h.dir_for(spare.path), h.dir_for(target))
                renamed.append(h)
        except OSError as e:
            _log().warning("spare %d: cannot rename its cgroup to %s (%s): normal path",
                           spare.pid, target, e.strerror)
            if e.errno in (errno.EPERM, errno.EXDEV, errno.EINVAL, errno.ENOTSUP):
                self._failures[parent] = MAX_FAILURES  # this parent cannot use spares
            for h in reversed(renamed):
                try:
                    os.rename(h.dir_for(target), h.dir_for(spare.path))
                except OSError:
                    spare.path = target  # then at least what was renamed goes on kill
            self._kill(spare, also=target)
            return None
        spare.path = target
        claim = Claim(spare)
        rest = tuple(h for h in hier if h.version != 1)
        if rest:
            try:
                V1Manager(target, rest).create(None)
            except BaseException:
                self._kill(spare, also=target)
                raise
            claim.join = V1Manager(target, rest).join_plan()
        return claim

    # ------------------------------------------------------------------ ending

    def reaped(self, pid: int, status: int) -> bool:
        """The caller reaped ``pid``: True if it was a spare (now forgotten, cleaned)."""
        for spares in self._spares.values():
            for s in spares:
                if s.pid == pid:
                    s.reaped = True
                    self._lost(s)
                    return True
        return False

    def _kill(self, spare: Spare, also: str | None = None) -> None:
        """Kill, reap, close and remove a spare and its cgroups (``also``: another name
        its directories may have in some hierarchies)."""
        if not spare.reaped:
            _kill_quietly(spare.pid)
            _waitpid(spare.pid)
            spare.reaped = True
        spare.sock.close()
        spares = self._spares.get(spare.parent)
        if spares is not None and spare in spares:
            spares.remove(spare)
        paths = [spare.path] + ([also] if also and also != spare.path else [])
        dirs = [h.dir_for(p) for p in paths for h in self._v1()]
        try:
            tree.remove_trees([d for d in dirs if os.path.isdir(d)], 2.0)
        except DockyardError as e:
            _log().warning("removing the cgroup of spare %d: %s", spare.pid, e)

    def close(self) -> None:
        """Kill every spare and remove its cgroups (supervisor shutdown)."""
        for spares in list(self._spares.values()):
            for s in list(spares):
                self._kill(s)
        self._spares = {p: [] for p in self._parents}


def _writable_ranges() -> list[tuple[int, int]]:
    """(start, length) of this process's private writable mappings (heap, anonymous
    memory, data sections), from /proc/self/maps."""
    out: list[tuple[int, int]] = []
    with open("/proc/self/maps", encoding="ascii", errors="replace") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            perms = fields[1]
            name = fields[5].strip() if len(fields) > 5 else ""
            if perms[:2] != "rw" or perms[3] != "p" or name.startswith("[v"):
                continue
            lo, _, hi = fields[0].partition("-")
            start, end = int(lo, 16), int(hi, 16)
            out.append((start, end - start))
    return out


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------------- in the spare

_DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
                    signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2)


def _spare_main(fd: int, owner: int, path: str, v1: tuple[Hierarchy, ...],
                runner: Runner) -> NoReturn:
    """The spare: set up, move into its cgroup, wait for one job, run it."""
    try:
        # Die with the zygote (its parent); if it is already gone, do not linger.
        sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != owner:
            os._exit(0)
        # Nothing of the zygote's: stdio on /dev/null (so no received descriptor can land
        # on 0-2), every other descriptor but our socket closed, default dispositions for
        # the signals that stop a process, no ptrace or /proc/<pid>/exe access.
        try:
            signal.set_wakeup_fd(-1)
        except ValueError:
            pass
        for sig in _DEFAULT_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        if fd <= 2:
            moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
            os.close(fd)
            fd = moved
        null = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            if null != std:
                os.dup2(null, std)
        keep = fd
        if null > 2 and null != fd:
            os.close(null)
        if keep > 3:
            sc.close_range(3, keep - 1)
        sc.close_range(keep + 1)
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        sock = socket.socket(fileno=fd)
        # Our cgroup, made and joined here, off the zygote's loop. Writing "0" to a v1
        # ``tasks`` file moves the calling thread alone: the kernel then skips the global
        # threadgroup lock and its RCU grace period (we are single-threaded: the whole
        # process moves).
        V1Manager(path, v1).create(None)
        for h in v1:
            tfd = os.open(os.path.join(h.dir_for(path), "tasks"), os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(tfd, b"0")
            finally:
                os.close(tfd)
        prepared = _pre_unshare(owner)
        sock.sendall(READY)
        data, fds = _recv_job(sock)
        sock.detach()
        os.close(fd)
    except BaseException as e:
        try:
            os.write(fd, FAILED + str(e).encode(errors="replace")[:1000])
        finally:
            os._exit(1)
    if not data:
        os._exit(0)  # the zygote closed our socket: shutdown
    runner(data, fds, prepared)


def _pre_unshare(zygote: int) -> Prepared:
    """Make the request-independent namespaces now (nothing made if the kernel refuses:
    the job then unshares them itself)."""
    try:
        sc.unshare(PRE_UNSHARED)
    except OSError:
        return Prepared(0, zygote)
    return Prepared(PRE_UNSHARED, zygote)


def _recv_job(sock: socket.socket) -> tuple[bytes, list[int]]:
    """Block for the job: its bytes and descriptors (close-on-exec: Python 3.11's
    ``socket.recv_fds`` drops the flags argument, hence recvmsg here)."""
    while True:
        try:
            data, anc, flags, _ = sock.recvmsg(
                MAX_JOB_BYTES, socket.CMSG_SPACE(MAX_JOB_FDS * _FD.itemsize),
                socket.MSG_CMSG_CLOEXEC)
            break
        except InterruptedError:
            continue
    fds: list[int] = []
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(payload[: len(payload) - len(payload) % _FD.itemsize])
            fds.extend(arr)
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        raise OSError(errno.EMSGSIZE, "the job was truncated")
    return data, fds


__all__ = ["DEFAULT_SIZE", "NOTHING_PREPARED", "PRE_UNSHARED", "SPARE_PREFIX", "Claim",
           "Prepared", "Runner", "Spare", "SpareLost", "SparePool"]
