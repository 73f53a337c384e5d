"""Making container processes: the fork chain, its pipes, and jobs handed to spares.

The fork chain (runc's nsexec, in Python)::

    caller ── fork ──> child1: join the v1 cgroups (``tasks``), setns(paths), unshare
                         └─ clone3(CLONE_INTO_CGROUP) ──> child2 (the init, or an exec'd
                            process), born in its cgroup2 directory (else a plain fork)
                       child1 sends child2's pid up a pipe and exits

Neither move takes the kernel's global cgroup lock (``cgroups.JoinPlan`` says why).

When no namespace is joined by path, one fork does (``start_direct``, the cold path's
usual case)::

    caller ── clone3(CLONE_NEW* | CLONE_INTO_CGROUP) ──> the init, born in its new
              namespaces and its cgroup2 directory; it joins the v1 cgroups itself
              (``tasks``) before anything else

A new pid namespace made by clone3 (unlike ``unshare``) holds the child itself, so the
intermediate child is not needed; the init is then the caller's own child.

``unshare(CLONE_NEWPID)`` only applies to later children, hence the intermediate child;
child2 is then reparented to the nearest subreaper (the supervisor, or ``run``). Child2
reports "ready" (or the first error) on a sync pipe. On the warm path a spare of
``dockyard.runtime.pool`` is child1: it receives the job (``SpareJob``) and does child1's
work from the setns on. Everything here must run in a single-threaded process.
"""

from __future__ import annotations

import os

from dockyard.errors import FailedPrecondition
from dockyard.linux import syscalls as sc
from dockyard.runtime import init
from dockyard.runtime.cgroups.manager import NO_JOIN, JoinPlan

# Not typing's TYPE_CHECKING/NamedTuple: the runtime CLI's start-up (dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
    from collections.abc import Callable
    from typing import NamedTuple, NoReturn

    from dockyard.runtime.pool import Claim, Prepared, SparePool
else:
    import _signal

    from dockyard.records import NamedTuple


class Stdio(NamedTuple):
    """The container process's stdio: descriptors to dup onto 0/1/2; None keeps ours."""

    stdin: int | None = None
    stdout: int | None = None
    stderr: int | None = None


INHERIT = Stdio()
_ALL_SIGNALS = _signal.valid_signals()


def read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            b = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def apply_stdio(stdio: Stdio) -> None:
    for src, dst in ((stdio.stdin, 0), (stdio.stdout, 1), (stdio.stderr, 2)):
        if src is not None and src != dst:
            os.dup2(src, dst)


class Started(NamedTuple):
    """The init, forked: its pid, the sync pipe's read end, and how to reap child1 (it
    exits right after sending the pid; reaping it is left for later, off the path)."""

    pid: int
    sync_r: int
    reap: Callable[[], object]


def fork_chain(
    cgroup: JoinPlan,
    join: list[tuple[int, int]],
    unshare_flags: int,
    stdio: Stdio,
    child: Callable[[int], NoReturn],
    dumpable: bool,
    keep: tuple[int, ...] = (),
) -> tuple[int, int]:
    """``start_chain``, child1 reaped: (child2 pid, sync pipe read end)."""
    started = start_chain(cgroup, join, unshare_flags, stdio, child, dumpable, keep)
    started.reap()
    return started.pid, started.sync_r


def start_chain(
    cgroup: JoinPlan,
    join: list[tuple[int, int]],
    unshare_flags: int,
    stdio: Stdio,
    child: Callable[[int], NoReturn],
    dumpable: bool,
    keep: tuple[int, ...] = (),
) -> Started:
    """Fork child1 → child2 as described above.

    ``child(sync_w)`` runs in child2. Errors in child1 are sent up the sync pipe too.
    Child1 closes every descriptor but stdio, its pipes and ``keep``: a caller such as
    the supervisor holds other containers' pipes and its listening socket, which must not
    stay open in a container waiting for start.
    """
    pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    child1 = os.fork()
    if child1 == 0:
        os.close(pid_r)
        os.close(sync_r)
        run_child1(cgroup, join, unshare_flags, stdio, child, dumpable, keep, pid_w, sync_w)
    os.close(pid_w)
    os.close(sync_w)
    return collect(lambda: waitpid(child1), pid_r, sync_r)


def _nothing() -> int:
    return 0


def start_direct(
    cgroup: JoinPlan,
    clone_flags: int,
    stdio: Stdio,
    child: Callable[[int], NoReturn],
    keep: tuple[int, ...] = (),
) -> Started | None:
    """The init cloned by the caller itself into its new namespaces (``clone_flags``, no
    ``CLONE_NEWCGROUP``) and its cgroup2 directory, as the module doc draws it; None if
    the kernel refused that clone (nothing was started: fork the chain instead, which
    reports the refusal as before). For a create without namespaces joined by path.

    In the child, before ``child(sync_w)``: dumpable as a fresh fork (child1's rule), the
    v1 cgroups joined through ``tasks``, stdio, every descriptor closed but ``keep``.
    Signals are blocked around the clone and the caller's wakeup descriptor dropped in
    the child before they are unblocked (a supervisor's loop must not see its signals);
    its handlers are the caller's until the init sets its own, as a fork's are.
    """
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    cg_fd = -1
    pid = -1
    try:
        if cgroup.into:
            cg_fd = os.open(cgroup.into, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            clone_flags |= sc.CLONE_INTO_CGROUP
        mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, _ALL_SIGNALS)
        try:
            pid = sc.clone3(clone_flags, max(cg_fd, 0))
        except OSError:
            pid = -1
        if pid == 0:
            _direct_child(cgroup, stdio, child, keep, sync_w, mask)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
    except BaseException:
        os.close(sync_r)
        raise
    finally:  # never in the child: _direct_child does not return
        os.close(sync_w)
        if cg_fd >= 0:
            os.close(cg_fd)
    if pid < 0:
        os.close(sync_r)
        return None
    return Started(pid, sync_r, _nothing)


def _direct_child(cgroup: JoinPlan, stdio: Stdio, child: Callable[[int], NoReturn],
                  keep: tuple[int, ...], sync_w: int, mask: set[int | _signal.Signals]) -> NoReturn:
    try:
        _signal.set_wakeup_fd(-1)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
        sc.prctl(sc.PR_SET_DUMPABLE, 1)
        # The mount namespace is a copy of the host's: the cgroup paths still resolve.
        write_each(cgroup.tasks, b"0")
        write_each(cgroup.procs, str(os.getpid()).encode())
        apply_stdio(stdio)
        close_all_but({sync_w, *keep})
        child(sync_w)
    except BaseException as e:
        init.report_error(sync_w, e)


def waitpid(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


def run_child1(
    cgroup: JoinPlan,
    join: list[tuple[int, int]],
    unshare_flags: int,
    stdio: Stdio,
    child: Callable[[int], NoReturn],
    dumpable: bool,
    keep: tuple[int, ...],
    pid_w: int,
    sync_w: int,
    prepared: Prepared | None = None,
) -> NoReturn:
    """Child1's work, in a fresh fork or in a spare of the pool: join the cgroup and the
    namespaces, unshare, fork child2, send its pid up ``pid_w`` and exit. A spare says
    what it ``prepared`` (the namespaces it already made)."""
    try:
        # exec: nothing in the container may ptrace us or open our /proc/<pid>/exe (the
        # host's python3) while we hold host resources. create: dumpable, as a fresh fork
        # of the caller is (a spare of the pool is not dumpable while it waits).
        sc.prctl(sc.PR_SET_DUMPABLE, 1 if dumpable else 0)
        # Before any setns: the paths are the host's.
        cg_fd = os.open(cgroup.into, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) \
            if cgroup.into else -1
        write_each(cgroup.tasks, b"0")
        write_each(cgroup.procs, str(os.getpid()).encode())
        if prepared is not None:
            # Before any join: /proc must still be the host's.
            joined = 0
            for _fd, nstype in join:
                joined |= nstype
            unshare_flags = prepared.settle(unshare_flags, joined)
        for fd, nstype in join:
            sc.setns(fd, nstype)
        if unshare_flags:
            sc.unshare(unshare_flags)
        apply_stdio(stdio)
        close_all_but({pid_w, sync_w, *keep, *((cg_fd,) if cg_fd >= 0 else ())})
        pid2 = _fork_into(cg_fd)
        if pid2 == 0:
            os.close(pid_w)
            if cg_fd >= 0:
                os.close(cg_fd)
            child(sync_w)
        os.write(pid_w, str(pid2).encode())
        os._exit(0)
    except BaseException as e:
        init.report_error(sync_w, e)


def write_each(paths: tuple[str, ...], data: bytes) -> None:
    """Write ``data`` to each file of ``paths`` (cgroup ``tasks``/``cgroup.procs``)."""
    for path in paths:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def _fork_into(cg_fd: int) -> int:
    """Fork, the child born in the cgroup2 directory ``cg_fd`` if there is one. Where
    clone3 cannot (an older kernel), this process moves itself there first and forks."""
    if cg_fd < 0:
        return os.fork()
    try:
        return sc.clone_into_cgroup(cg_fd)
    except OSError:
        fd = os.open("cgroup.procs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=cg_fd)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
        return os.fork()


def collect(reap: Callable[[], int], pid_r: int, sync_r: int) -> Started:
    """Read child2's pid as soon as child1 sends it (child1's exit, the teardown of a
    copy of the zygote's memory, is not waited for here), or child1's error."""
    try:
        while True:
            try:
                raw = os.read(pid_r, 64)
                break
            except InterruptedError:
                continue
    finally:
        os.close(pid_r)
    if not raw:
        status = reap()
        msg = read_all(sync_r).decode(errors="replace").strip()
        os.close(sync_r)
        raise FailedPrecondition(error_text(msg) or f"container setup failed (status {status})")
    return Started(int(raw), sync_r, reap)


def close_all_but(keep: set[int]) -> None:
    """Close every descriptor above stdio except those in ``keep``."""
    low = 3
    for fd in sorted(f for f in keep if f >= 3):
        if fd > low:
            sc.close_range(low, fd - 1)
        low = fd + 1
    sc.close_range(low)


def error_text(msg: str) -> str:
    return msg[6:] if msg.startswith("error ") else msg


def wait_ready(sync_r: int) -> None:
    """Read the init's verdict: ready, or the error that stopped it."""
    try:
        buf = b""
        while not buf.endswith(b"\n"):
            b = os.read(sync_r, 4096)
            if not b:
                break
            buf += b
    finally:
        os.close(sync_r)
    if buf == init.SYNC_READY:
        return
    text = error_text(buf.decode(errors="replace").strip())
    raise FailedPrecondition(text or "container init exited during setup")


class SpareJob(NamedTuple):
    """What a spare needs to do child1's work. Descriptors are indices into the list sent
    with it (-1: none); slots 0 and 1 are the pid and sync pipes' write ends."""

    ctx: init.InitContext
    join: tuple[tuple[int, int], ...]
    unshare_flags: int
    stdio: tuple[int, int, int]
    cgroup: JoinPlan = NO_JOIN


def launch_spare(claim: Claim, ctx: init.InitContext, join: list[tuple[int, int]],
                 unshare_flags: int, stdio: Stdio,
                 meanwhile: Callable[[], object] | None = None) -> Started | None:
    """Give the job to a claimed spare; the init as ``start_chain`` gives it, or None if
    the spare was gone before it took the job (nothing started). ``meanwhile`` runs once
    the spare has the job, while it forks the init (the cgroup's resources); if it fails,
    the init is killed and its error raised."""
    import pickle  # the zygote loaded it before forking its spares (make_pool)

    from dockyard.runtime.pool import SpareLost

    pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    fds = [pid_w, sync_w]

    def slot(fd: int | None) -> int:
        if fd is None or fd < 0:
            return -1
        fds.append(fd)
        return len(fds) - 1

    try:
        # A stdio left as ours (None) is our own 0/1/2, as a fork would inherit it.
        std = tuple(slot(fd if fd is not None else (i if is_open(i) else None))
                    for i, fd in enumerate(stdio))
        job = SpareJob(
            ctx=ctx._replace(fifo_fd=slot(ctx.fifo_fd), console_fd=slot(ctx.console_fd),
                             go_fd=slot(ctx.go_fd)),
            join=tuple((slot(fd), nstype) for fd, nstype in join),
            unshare_flags=unshare_flags, stdio=(std[0], std[1], std[2]), cgroup=claim.join)
        claim.launch(pickle.dumps(job, pickle.HIGHEST_PROTOCOL), fds)
    except SpareLost:
        os.close(pid_r)
        os.close(sync_r)
        return None
    except BaseException:
        os.close(pid_r)
        os.close(sync_r)
        raise
    finally:
        os.close(pid_w)
        os.close(sync_w)
    if meanwhile is None:
        return collect(claim.wait, pid_r, sync_r)
    try:
        meanwhile()
    except BaseException:
        _abandon(claim, pid_r, sync_r)
        raise
    return collect(claim.wait, pid_r, sync_r)


def _abandon(claim: Claim, pid_r: int, sync_r: int) -> None:
    """A job that failed on our side once the spare had it: the init it forks is killed
    (and reaped later by whoever reaps the caller's children), the spare reaped."""
    import signal  # the failure path only

    try:
        started = collect(claim.wait, pid_r, sync_r)
    except BaseException:
        return  # the spare failed too: nothing runs (collect reaped it, closed sync_r)
    os.close(started.sync_r)
    try:
        os.kill(started.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    started.reap()


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def run_spare_job(payload: bytes, fds: list[int], prepared: Prepared) -> NoReturn:
    """In a spare of the pool: unpack the job and do child1's work (never returns)."""
    import pickle

    pid_w, sync_w = fds[0], fds[1]
    try:
        job: SpareJob = pickle.loads(payload)

        def fd(i: int) -> int:
            return fds[i] if i >= 0 else -1

        ctx = job.ctx._replace(fifo_fd=fd(job.ctx.fifo_fd), console_fd=fd(job.ctx.console_fd),
                               go_fd=fd(job.ctx.go_fd))
        stdio = Stdio(*(fds[i] if i >= 0 else None for i in job.stdio))
        join = [(fds[i], nstype) for i, nstype in job.join]
    except BaseException as e:
        init.report_error(sync_w, e)

    def child(w: int) -> NoReturn:
        init.run_init(ctx._replace(sync_fd=w))

    run_child1(job.cgroup, join, job.unshare_flags, stdio, child, True,
               (ctx.fifo_fd, ctx.console_fd, ctx.go_fd), pid_w, sync_w, prepared)


def make_pool(size: int = 2, *, parents_file: str | None = None) -> SparePool:
    """A pool of spares whose jobs are this module's creates (for the zygote). Loads now
    what a spare needs, so that no spare imports anything."""
    import pickle  # noqa: F401

    from dockyard.runtime import console  # noqa: F401  (a terminal job refers to it)
    from dockyard.runtime.pool import SparePool

    return SparePool(run_spare_job, size, parents_file=parents_file)
