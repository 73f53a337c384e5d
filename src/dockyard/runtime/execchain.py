"""The exec chain: one more process in a running container, made by a single fork.

::

    caller ── setns(the container's pid namespace): for its children only;
      │       made not dumpable, every signal blocked
      ├─ clone3 (CLONE_INTO_CGROUP: born in the container's cgroup2 directory, if any)
      │    └─> child: no wakeup fd; writes "0" to each v1 ``tasks`` (moves only itself);
      │              setns(ipc, uts, net, cgroup, mnt); stdio; every other descriptor
      │              closed; then ``child(sync_w)`` (setsid, console, ``finish_process``,
      │              execve, which unblocks the signals and restores dumpability)
      └─ caller: back to its own pid namespace for children, dumpable and mask as before

Why: the container's start (``spawn``) forks twice, because ``setns(CLONE_NEWPID)`` only
applies to the caller's later children: child1 joins the namespaces and forks child2.
Each Python fork of the zygote costs 1-2 ms (its page tables, then copy-on-write faults,
and ``os.fork``'s at-fork handlers), the largest part of a ``docker exec``. Here the
caller (the single-threaded supervisor, or the ``dockyard-runtime`` CLI) joins the pid
namespace for its children itself, so one fork suffices; the fork is a raw ``clone3``
(no at-fork handlers: this module does the little they would), and the exec'd process
is the caller's own child (``waitpid`` gives its status directly).

Neither cgroup move takes the kernel's global lock (``cgroups.JoinPlan``): the v1
``tasks`` write by a single-threaded process and CLONE_INTO_CGROUP for cgroup2. As with
runc's exec on cgroup v1, the process is charged to the container's ``pids`` cgroup by
its move, not by its fork (a move is never refused for the limit); its own forks are.

Security: unlike the start's child2, the child is in the container's pid namespace from
its birth while still in the host's other namespaces, until its ``setns`` calls (tens of
microseconds). It is born not dumpable (the caller is made so around the clone, and the
flag is inherited), so no process of the container may ptrace it or open its
``/proc/<pid>/root``, ``fd`` or ``exe`` meanwhile (short of ``CAP_SYS_PTRACE`` in the
host's user namespace, which only a privileged container has, and which reaches the
supervisor anyway); and the caller waits for its execve at most ``START_TIMEOUT``
(``read_sync``: a process there may stop it). Signals stay blocked until
``finish_process`` resets them, so none reaches a handler of the caller's in the child,
and the child drops the caller's wakeup descriptor first: the supervisor's loop never
sees the child's signals.

The caller must be single-threaded (setns for pid is per thread, the raw clone copies one
thread). If the caller cannot go back to its own pid namespace (it always can: its own
active namespace), its later children would be born in the container's: it exits.
"""

from __future__ import annotations

import errno
import os

from dockyard.errors import FailedPrecondition, InvalidArgument
from dockyard.linux import syscalls as sc
from dockyard.oci import jsoncodec
from dockyard.oci.runtime_spec import Seccomp, parse_seccomp
from dockyard.runtime import init
from dockyard.runtime.cgroups.manager import JoinPlan
from dockyard.runtime.spawn import Stdio, apply_stdio, close_all_but, write_each

# Not typing or signal's enums: the runtime CLI's start-up (see dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
    from collections.abc import Callable, Sequence
    from typing import NoReturn
else:
    import _signal

_PR_GET_DUMPABLE = 3
_PIDNS_FOR_CHILDREN = "/proc/self/ns/pid_for_children"
_ALL_SIGNALS = _signal.valid_signals()
# clone3 or CLONE_INTO_CGROUP unknown to the kernel (before 5.3 / 5.7): fork the old way.
_UNSUPPORTED = (errno.ENOSYS, errno.E2BIG, errno.EINVAL)
START_TIMEOUT = 10.0  # from the fork to the execve (normally a few milliseconds)


def exec_config(config_path: str) -> tuple[frozenset[str], Seccomp | None]:
    """What an exec takes from the bundle's ``config.json``: the namespace types
    (``pid``, ``mount``...) it joins, and the container's seccomp filter, which its
    processes get too. Only those are read (no whole ``Spec``: this is on every exec's
    path); the container was created from it, so it was validated then."""
    try:
        with open(config_path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise InvalidArgument(f"{config_path}: {e.strerror}") from None
    known = _EXEC_CONFIGS.get(raw)
    if known is None:
        if len(_EXEC_CONFIGS) >= _EXEC_CONFIGS_MAX:
            _EXEC_CONFIGS.clear()
        known = _EXEC_CONFIGS[raw] = _exec_config(config_path, raw)
    return known


# A container's config.json does not change while it runs: what its execs take from it
# is kept by the file's bytes (the seccomp filter's parsing was ~3/4 of the read).
_EXEC_CONFIGS: dict[bytes, tuple[frozenset[str], Seccomp | None]] = {}
_EXEC_CONFIGS_MAX = 64


def _exec_config(config_path: str, raw: bytes) -> tuple[frozenset[str], Seccomp | None]:
    try:
        doc = jsoncodec.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"{config_path}: malformed JSON: {e}") from None
    linux = doc.get("linux") if isinstance(doc, dict) else None
    if not isinstance(linux, dict):
        return frozenset(), None
    filt = parse_seccomp(linux["seccomp"]) if linux.get("seccomp") is not None else None
    entries = linux.get("namespaces")
    if not isinstance(entries, list):
        return frozenset(), filt
    kinds = set()
    for ns in entries:
        kind = ns.get("type") if isinstance(ns, dict) else None
        if not isinstance(kind, str):
            raise InvalidArgument(f"{config_path}: a namespace without a type: {ns!r}")
        kinds.add(kind)
    return frozenset(kinds), filt


def start(
    cgroup: JoinPlan,
    pidns: int,
    join: Sequence[tuple[int, int]],
    stdio: Stdio,
    child: Callable[[int], NoReturn],
    keep: tuple[int, ...] = (),
) -> tuple[int, int]:
    """Fork the exec'd process as described above: (its pid, the sync pipe's read end).

    ``pidns``: a descriptor of the container's pid namespace (-1: none to join); ``join``:
    the other namespaces, in order, as (descriptor, CLONE_NEW* type); ``child(sync_w)``
    runs in the child once it is in its cgroups and namespaces, with ``keep`` still open.
    An error in the child before ``child`` is sent up the sync pipe as ``child``'s are.
    """
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    cg_fd = ours = -1
    try:
        if cgroup.into:
            cg_fd = os.open(cgroup.into, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        if pidns >= 0:
            ours = os.open(_PIDNS_FOR_CHILDREN, os.O_RDONLY | os.O_CLOEXEC)
        pid, moved = _fork(cg_fd, pidns, ours)
        if pid == 0:
            _child(cgroup, cg_fd if not moved else -1, join, stdio, child, keep, sync_w)
    except BaseException:
        os.close(sync_r)
        raise
    finally:
        os.close(sync_w)
        for fd in (cg_fd, ours):
            if fd >= 0:
                os.close(fd)
    return pid, sync_r


def read_sync(sync_r: int, pid: int, timeout: float = START_TIMEOUT) -> str:
    """What the child said on the sync pipe (``sync_r``, closed here) until its end: ""
    once it has exec'd, else its error. At most ``timeout`` seconds: the child is in the
    container's pid namespace, where a process may stop it (SIGSTOP) on its way to execve;
    it is killed then (it is our child, not yet reaped: no pid reuse) rather than hold the
    caller, the supervisor of every container, forever."""
    import select
    import time

    poller = select.poll()
    poller.register(sync_r, select.POLLIN)
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                os.kill(pid, _signal.SIGKILL)
                raise FailedPrecondition(
                    f"the exec'd process did not start within {timeout:g}s: killed")
            b = os.read(sync_r, 4096)
            if not b:
                return b"".join(chunks).decode(errors="replace").strip()
            chunks.append(b)
    finally:
        os.close(sync_r)


def _fork(cg_fd: int, pidns: int, ours: int) -> tuple[int, bool]:
    """(pid, born in the cgroup ``cg_fd``). In the child the pid is 0 and nothing is
    restored: no ``finally`` on this path may run in it."""
    mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, _ALL_SIGNALS)
    # 1 is "dumpable by its user"; 0 and 2 (root only) already keep the container out.
    dumpable = sc.prctl(_PR_GET_DUMPABLE) == 1
    if dumpable:
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
    joined = False
    pid, moved = -1, False
    error: OSError | None = None
    try:
        if pidns >= 0:
            sc.setns(pidns, sc.CLONE_NEWPID)
            joined = True
        pid, moved = _clone(cg_fd)
    except OSError as e:
        error = e
    if pid == 0:
        return 0, moved
    try:
        if joined:
            _back(ours)
    finally:
        if dumpable:
            sc.prctl(sc.PR_SET_DUMPABLE, 1)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
    if error is not None:
        raise error
    return pid, moved


def _clone(cg_fd: int) -> tuple[int, bool]:
    """A raw fork, born in the cgroup2 directory ``cg_fd`` if there is one: (pid, born
    there). Where the kernel refuses that clone for the cgroup's sake, a plain fork (the
    child then moves itself); where it has no clone3 at all, ``os.fork``."""
    if cg_fd >= 0:
        try:
            return sc.clone_into_cgroup(cg_fd), True
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.ENOMEM):
                raise  # a pids limit, a dying pid namespace: no other way around
    try:
        return sc.fork_raw(), False
    except OSError as e:
        if e.errno not in _UNSUPPORTED:
            raise
    return os.fork(), False


def _back(ours: int) -> None:
    """Our own pid namespace for our children again, or exit (see the module doc)."""
    try:
        sc.setns(ours, sc.CLONE_NEWPID)
    except OSError as e:
        os.write(2, f"exec chain: cannot return to our pid namespace: {e}\n".encode())
        os._exit(70)


def _child(cgroup: JoinPlan, move_into: int, join: Sequence[tuple[int, int]], stdio: Stdio,
           child: Callable[[int], NoReturn], keep: tuple[int, ...], sync_w: int) -> NoReturn:
    try:
        _signal.set_wakeup_fd(-1)
        # Before any setns: the cgroup paths are the host's.
        write_each(cgroup.tasks, b"0")
        me = str(os.getpid()).encode()
        if move_into >= 0:
            fd = os.open("cgroup.procs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=move_into)
            try:
                os.write(fd, me)
            finally:
                os.close(fd)
        write_each(cgroup.procs, me)
        for fd, nstype in join:
            sc.setns(fd, nstype)
        apply_stdio(stdio)
        close_all_but({sync_w, *keep})
        child(sync_w)
    except BaseException as e:
        init.report_error(sync_w, e)
