"""Container lifecycle: create, start, state, kill, delete, exec — in-process, no threads.

Callers: the ``dockyard-runtime`` CLI (the cold path) and the supervisor (the warm path,
a pre-started single-threaded fork server). Both must be single-threaded when they call
``create`` or ``exec_process``: these fork, and setns into a mount namespace fails in a
multi-threaded process.

Processes are made by the fork chain of ``dockyard.runtime.spawn`` (runc's nsexec, in
Python); the init reports "ready" (or the first error) on a sync pipe, then blocks opening
the exec fifo until ``start``.

The warm path (``create(..., pool=...)``, the supervisor only) takes child1 from a pool of
spares (``dockyard.runtime.pool``): a process forked ahead of time that already sits in a
cgroup of its own, which is renamed to the container's; the spare is sent the job (the
init's context and descriptors) and does child1's work from the setns on. The CLI never
uses a pool.
"""

from __future__ import annotations

import os
import select
import time

from dockyard.errors import (
    Conflict,
    DockyardError,
    FailedPrecondition,
    InvalidArgument,
    NotImplementedByDockyard,
)
from dockyard.linux import syscalls as sc
from dockyard.oci.runtime_spec import Process, Resources, Seccomp, Spec, load_spec
from dockyard.runtime import cgroups, init, process, rootfs, seccomp, spawn, state
from dockyard.runtime.spawn import INHERIT, Stdio, make_pool
from dockyard.runtime.state import ContainerState

# Neither typing nor signal's enums (enum, functools, collections, re: ~20 ms): this module
# is on the start-up path of every ``dockyard-runtime`` command (see dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
    from typing import Any, NamedTuple, NoReturn

    from dockyard.runtime.pool import Claim, SparePool
else:
    import _signal as signal  # signal's functions and numbers, without its IntEnums

    from dockyard.records import NamedTuple

_NS_FLAGS = {
    "pid": sc.CLONE_NEWPID,
    "network": sc.CLONE_NEWNET,
    "mount": sc.CLONE_NEWNS,
    "ipc": sc.CLONE_NEWIPC,
    "uts": sc.CLONE_NEWUTS,
    "cgroup": sc.CLONE_NEWCGROUP,
}
_NS_PROC = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
            "cgroup": "cgroup"}
# The order in which exec joins a container's namespaces: mnt last, so /proc/<pid>/ns
# stays reachable until the end.
_JOIN_ORDER = ("ipc", "uts", "network", "pid", "cgroup", "mount")


class Status:
    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


def _check_console(plan: process.ProcessPlan, path: str | None, fd: int | None) -> None:
    if plan.terminal and path is None and fd is None:
        raise InvalidArgument("cannot allocate a tty without a console socket (--console-socket)")
    if not plan.terminal and (path is not None or fd is not None):
        raise InvalidArgument("a console socket was given but process.terminal is false")


def _console_setup(
    plan: process.ProcessPlan,
) -> Callable[[int, int, int, tuple[int, int] | None], None] | None:
    """The pty set-up function, imported (before any fork) only for a terminal."""
    if not plan.terminal:
        return None
    from dockyard.runtime import console

    return console.setup_console


def _rmtree(path: str, ignore_errors: bool = False) -> None:
    """Remove a container's state directory: its files (``state.json``, the fifo), then
    itself. ``shutil`` (~10 ms to import: it loads zlib, bz2 and lzma) only if something
    in it is a directory, which ``create`` never makes."""
    try:
        with os.scandir(path) as it:
            entries = list(it)
    except OSError:
        if not ignore_errors:
            raise
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                import shutil

                shutil.rmtree(entry.path, ignore_errors=ignore_errors)
            else:
                os.unlink(entry.path)
        except OSError:
            if not ignore_errors:
                raise
    try:
        os.rmdir(path)
    except OSError:
        if not ignore_errors:
            raise


def _connect_console(path: str) -> int:
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise InvalidArgument(f"console socket {path}: {e.strerror}") from None
    return s.detach()


def _write_pid_file(path: str, pid: int) -> None:
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def _check_spec(spec: Spec, bundle: str) -> str:
    if spec.process is None:
        raise InvalidArgument("config.json: process is required to create a container")
    for ns in spec.linux.namespaces:
        if ns.type not in _NS_FLAGS:
            raise NotImplementedByDockyard(f"{ns.type} namespaces are not supported yet")
        if ns.path and not os.path.exists(ns.path):
            raise InvalidArgument(f"namespace path {ns.path} does not exist")
    if (spec.hostname or spec.domainname) and spec.linux.namespace("uts") is None:
        raise InvalidArgument("unable to set hostname without a new UTS namespace")
    root = spec.root.path if os.path.isabs(spec.root.path) else os.path.join(bundle, spec.root.path)
    if not os.path.isdir(root):
        raise InvalidArgument(f"rootfs {root} does not exist or is not a directory")
    rootfs.check_mounts(spec, bundle)
    return os.path.realpath(root)


class _Request(NamedTuple):
    """A create request, checked: nothing on disk has been touched yet."""

    container_id: str
    bundle: str
    spec: Spec
    rootfs: str
    plan: process.ProcessPlan
    mgr: cgroups.CgroupManager


def _check_request(container_id: str, bundle: str, console_socket: str | None,
                   console_fd: int | None, spec: Spec | None) -> _Request:
    state.validate_id(container_id)
    bundle = os.path.abspath(bundle)
    if not os.path.isdir(bundle):
        raise InvalidArgument(f"bundle {bundle} does not exist or is not a directory")
    if spec is None:
        spec = load_spec(os.path.join(bundle, "config.json"))
    rootfs_path = _check_spec(spec, bundle)
    if spec.process is None:  # for the type checker: _check_spec refused it already
        raise InvalidArgument("config.json: process is required")
    plan = process.plan(spec.process)
    _check_console(plan, console_socket, console_fd)
    mgr = cgroups.new_manager(spec.linux.cgroups_path, container_id)
    return _Request(container_id, bundle, spec, rootfs_path, plan, mgr)


def create(
    root: str,
    container_id: str,
    bundle: str,
    *,
    stdio: Stdio = INHERIT,
    console_socket: str | None = None,
    console_fd: int | None = None,
    pid_file: str | None = None,
    no_pivot: bool = False,
    pool: SparePool | None = None,
    spec: Spec | None = None,
    on_started: Callable[[int], None] | None = None,
) -> ContainerState:
    """Create a container from a bundle: set up, and leave its process waiting for start.

    ``spec`` is the bundle's ``config.json`` if the caller has loaded it already (``run``
    reads it first to see whether it needs a terminal). ``on_started(pid)`` (the
    supervisor's) runs once the init's pid is known, while it builds its rootfs: the
    caller's own records, off the critical path; if it raises, the create fails and is
    undone.

    Phases: check the request; reserve the state directory; place the cgroup (made, or a
    spare's renamed when ``pool`` has one: see ``dockyard.runtime.pool``); start child1
    (forked, or the spare given the job); move the init into the cgroups it is not in yet
    while it builds its rootfs; wait for its verdict; record the state.

    Nothing is left behind on failure: the state directory, cgroup and any process made so
    far are removed before the error is raised.
    """
    req = _check_request(container_id, bundle, console_socket, console_fd, spec)
    spec, plan, mgr, bundle = req.spec, req.plan, req.mgr, req.bundle
    cdir = state.reserve(root, container_id)
    fds: list[int] = []
    pid = 0
    claim: Claim | None = None
    started: spawn.Started | None = None
    sync_r = -1
    try:
        fifo = os.path.join(cdir, state.EXEC_FIFO)
        os.mkfifo(fifo, 0o622)
        os.chmod(fifo, 0o622)
        fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        fds.append(fifo_fd)
        cfd = -1
        if console_socket is not None:
            cfd = _connect_console(console_socket)
            fds.append(cfd)
        elif console_fd is not None:
            cfd = console_fd
        claim = _place(mgr, spec.linux.resources, pool)
        version = cgroups.cgroup_version()
        cg_plan = rootfs.CgroupMountPlan(
            version=version,
            binds=mgr.v1_binds() if version == 1 else (),
            symlinks=mgr.v1_symlinks() if version == 1 else (),
            v2_dir="/sys/fs/cgroup" + mgr.path if version == 2 else "",
            own_cgroupns=spec.linux.namespace("cgroup") is not None,
        )
        join, unshare_flags = _namespaces(spec)
        fds.extend(fd for fd, _ in join)
        # The init's cgroup namespace must be rooted at its cgroup: it unshares it itself,
        # once the parent has moved it there.
        new_cgroup_ns = bool(unshare_flags & sc.CLONE_NEWCGROUP)
        unshare_flags &= ~sc.CLONE_NEWCGROUP
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
        fds.extend((go_r, go_w))
        ctx = init.InitContext(
            spec=spec, bundle=bundle, rootfs=req.rootfs, plan=plan, cgroup=cg_plan,
            new_mount_ns=spec.linux.namespace("mount") is not None,
            new_uts_ns=spec.linux.namespace("uts") is not None,
            new_net_ns=_owns(spec, "network"),
            no_pivot=no_pivot, fifo_fd=fifo_fd, sync_fd=-1, console_fd=cfd,
            setup_console=_console_setup(plan), go_fd=go_r, new_cgroup_ns=new_cgroup_ns,
            seccomp=_seccomp_program(spec.linux.seccomp))
        late: tuple[str, ...] = ()
        if claim is not None:
            resources = spec.linux.resources
            started = spawn.launch_spare(
                claim, ctx, join, unshare_flags, stdio,
                meanwhile=None if resources is None else lambda: mgr.update(resources))
            if started is None:  # the spare died before it took the job
                claim.discard()
                claim = None
                mgr.destroy()
                mgr.create(spec.linux.resources)
        if started is None:
            def child(sync_w: int) -> NoReturn:
                init.run_init(ctx._replace(sync_fd=sync_w))

            chain_plan, late = _join_plan(mgr, spec.linux.resources)
            keep = (fifo_fd, cfd, go_r)
            if not join:  # one fork: the init cloned into its namespaces by us
                started = spawn.start_direct(chain_plan, unshare_flags, stdio, child, keep)
            if started is None:
                started = spawn.start_chain(chain_plan, join, unshare_flags, stdio, child,
                                            True, keep=keep)
        pid, sync_r = started.pid, started.sync_r
        # The init is born in its cgroups (child1 joined the v1 ones through ``tasks`` and
        # cloned the init into the cgroup2 one, or the init cloned into it joins them
        # itself first; a spare's v1 cgroups were renamed), so it may go on at once; only
        # a pids limit of 1 leaves the v1 moves to us (through ``cgroup.procs``, while
        # the init builds its rootfs and waits for our "go").
        _write_pid(late, pid)
        os.write(go_w, b"g")
        sync_r, ready_r = -1, sync_r
        # While the init builds its rootfs: the state, written but not yet in place.
        start_time = state.proc_start_time(pid)
        ns = spec.linux.namespace("pid")
        st = ContainerState(
            id=container_id, pid=pid, pid_start=start_time or 0, bundle=bundle,
            rootfs=req.rootfs, created=state.rfc3339_now(), cgroups_path=mgr.path,
            oci_version=spec.oci_version, annotations=dict(spec.annotations),
            new_pid_ns=ns is not None and not ns.path,
        )
        staged = state.stage(root, st)
        if on_started is not None:
            on_started(pid)
        spawn.wait_ready(ready_r)
        # Child1 (or the spare) exited right after it sent the init's pid; its exit tears
        # down a copy of the zygote's memory (~2 ms here), so it is reaped only now, once
        # the init has built its rootfs meanwhile.
        reap, started = started.reap, None
        reap()
        if start_time is None:
            raise FailedPrecondition("container init exited during setup")
        state.commit(root, container_id, staged)
        if pid_file:
            _write_pid_file(pid_file, pid)
        return st
    except BaseException:
        if sync_r >= 0:
            os.close(sync_r)
        if started is not None:
            started.reap()
        if pid:
            _kill_quietly(pid, signal.SIGKILL)
            _wait_gone(pid, None, 5.0)
        if claim is not None:
            claim.discard()
        try:
            mgr.destroy()
        finally:
            _rmtree(cdir, ignore_errors=True)
        raise
    finally:
        for fd in fds:
            os.close(fd)


def _seccomp_program(filt: Seccomp | None) -> seccomp.Program | None:
    """The filter compiled (once per filter in this process: the supervisor's creates
    and execs reuse it), or None."""
    return None if filt is None else seccomp.compiled(filt)


def _join_plan(mgr: cgroups.CgroupManager, resources: Resources | None
               ) -> tuple[cgroups.JoinPlan, tuple[str, ...]]:
    """The fork chain's ``JoinPlan``, and the ``cgroup.procs`` files the caller writes the
    init's pid into itself: child1 joining the v1 cgroups (``tasks``) is counted by a
    pids limit with the init it forks, so a limit of 1 moves the init from outside."""
    plan = mgr.join_plan()
    if resources is None or resources.pids is None or not 0 < resources.pids.limit < 2:
        return plan, ()
    late = tuple(os.path.join(os.path.dirname(t), "cgroup.procs") for t in plan.tasks)
    return plan._replace(tasks=()), late


def _write_pid(procs: tuple[str, ...], pid: int) -> None:
    raw = str(pid).encode()
    for path in procs:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, raw)
        except ProcessLookupError:
            raise FailedPrecondition("container init exited during setup") from None
        finally:
            os.close(fd)


def _place(mgr: cgroups.CgroupManager, resources: Resources | None,
           pool: SparePool | None) -> Claim | None:
    """Make the container's cgroup with its resources: a spare's, renamed, if the pool
    has one that fits (its resources are then applied by ``create`` while the spare
    forks the init, before the init's "go": as runc, which sets them once the init's
    rootfs is ready), else a new one."""
    claim = pool.claim(mgr.path, resources) if pool is not None else None
    if claim is None:
        mgr.create(resources)
        return None
    return claim


def _owns(spec: Spec, kind: str) -> bool:
    """The container gets a new namespace of this kind (not one joined by path)."""
    ns = spec.linux.namespace(kind)
    return ns is not None and not ns.path


def _namespaces(spec: Spec) -> tuple[list[tuple[int, int]], int]:
    join: list[tuple[int, int]] = []
    flags = 0
    try:
        for ns in spec.linux.namespaces:
            if ns.path:
                join.append((os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC), _NS_FLAGS[ns.type]))
            else:
                flags |= _NS_FLAGS[ns.type]
    except OSError as e:
        for fd, _ in join:
            os.close(fd)
        raise InvalidArgument(f"namespace {e.filename}: {e.strerror}") from None
    return join, flags


def _kill_quietly(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, start: int | None, timeout: float) -> bool:
    """Wait until the process is gone or a zombie (reaping is its parent's job)."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        now_start = state.proc_start_time(pid)
        if now_start is None or (start is not None and now_start != start):
            return True
        try:
            wpid, _ = os.waitpid(pid, os.WNOHANG)
            if wpid == pid:
                return True
        except ChildProcessError:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def status_of(root: str, st: ContainerState, mgr: cgroups.CgroupManager | None = None) -> str:
    """Derive the status from the process, the fifo and the freezer (never stored); ``mgr``
    is the container's cgroup manager if the caller has it already."""
    if state.proc_start_time(st.pid) != st.pid_start:
        return Status.STOPPED
    if os.path.exists(os.path.join(root, st.id, state.EXEC_FIFO)):
        return Status.CREATED
    if mgr is None:
        mgr = cgroups.new_manager(st.cgroups_path, st.id)
    if mgr.exists() and mgr.frozen():
        return Status.PAUSED
    return Status.RUNNING


def state_json(root: str, container_id: str) -> dict[str, Any]:
    """runc's ``state`` document."""
    st = state.load(root, container_id)
    status = status_of(root, st)
    out: dict[str, Any] = {
        "ociVersion": st.oci_version,
        "id": st.id,
        "pid": st.pid if status != Status.STOPPED else 0,
        "status": status,
        "bundle": st.bundle,
        "rootfs": st.rootfs,
        "created": st.created,
        "owner": "",
    }
    if st.annotations:
        out["annotations"] = st.annotations
    return out


def start(root: str, container_id: str, *, st: ContainerState | None = None) -> None:
    """Let a created container's process exec its program. ``st``: its state, if the
    caller holds it already (``run``, from its create): not read again."""
    if st is None:
        st = state.load(root, container_id)
    fifo = os.path.join(root, container_id, state.EXEC_FIFO)
    status = status_of(root, st)
    if status != Status.CREATED:
        raise Conflict(f"cannot start a container that is {status}, only a created one")
    # Non-blocking open of the read end: succeeds at once, and releases the init's
    # blocking open of the write end. Then wait for its byte, watching that it lives.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + 10
        while True:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    if os.read(fd, 1):
                        break
                except BlockingIOError:
                    continue
            if state.proc_start_time(st.pid) != st.pid_start:
                raise FailedPrecondition("container process exited before it was started")
            if time.monotonic() > deadline:
                raise FailedPrecondition("container process did not take the start signal")
    finally:
        os.close(fd)
    os.unlink(fifo)


def kill(root: str, container_id: str, signum: int, all_processes: bool = False) -> None:
    st = state.load(root, container_id)
    status = status_of(root, st)
    if status == Status.STOPPED:
        raise Conflict(f"container {container_id} is not running")
    if all_processes or not st.new_pid_ns:
        mgr = cgroups.new_manager(st.cgroups_path, st.id)
        for pid in mgr.pids():
            _kill_quietly(pid, signum)
        if signum == signal.SIGKILL and mgr.exists() and mgr.frozen():
            mgr.thaw()
    else:
        os.kill(st.pid, signum)


def delete(root: str, container_id: str, force: bool = False, *,
           retire: Callable[[str], None] | None = None,
           st: ContainerState | None = None) -> None:
    """Remove a container: its processes (with force), its cgroup and its state.

    ``retire`` (the supervisor's): takes the state directory away instead of its removal
    here; the supervisor renames it at once and removes it after its reply (an rmdir
    costs milliseconds on some filesystems). ``st``: its state, if the caller holds it
    already (``run``): not read again."""
    if st is None:
        st = state.load(root, container_id)
    status = status_of(root, st)
    if status in (Status.RUNNING, Status.PAUSED) and not force:
        raise Conflict(f"cannot delete container {container_id} that is {status}: "
                       "stop it first or use --force")
    mgr = cgroups.new_manager(st.cgroups_path, st.id)
    if status != Status.STOPPED or (mgr.exists() and mgr.pids()):
        if mgr.exists():
            for pid in mgr.pids():
                _kill_quietly(pid, signal.SIGKILL)
            if mgr.frozen():
                mgr.thaw()
        if status != Status.STOPPED:
            _kill_quietly(st.pid, signal.SIGKILL)
        if not _wait_gone(st.pid, st.pid_start, 10.0):
            raise FailedPrecondition(f"container {container_id}: process {st.pid} did not die")
    mgr.destroy()
    if retire is not None:
        retire(os.path.join(root, container_id))
    else:
        _rmtree(os.path.join(root, container_id))


def remove_leftovers(root: str, container_id: str) -> None:
    """Remove the directory of a container whose state was never written."""
    d = state.container_dir(root, container_id)
    if os.path.isdir(d) and not os.path.exists(os.path.join(d, state.STATE_FILE)):
        _rmtree(d)


def pause(root: str, container_id: str) -> None:
    st = state.load(root, container_id)
    status = status_of(root, st)
    if status not in (Status.RUNNING, Status.CREATED):
        raise Conflict(f"container {container_id} is {status}, not running")
    cgroups.new_manager(st.cgroups_path, st.id).freeze()


def resume(root: str, container_id: str) -> None:
    st = state.load(root, container_id)
    status = status_of(root, st)
    if status != Status.PAUSED:
        raise Conflict(f"container {container_id} is {status}, not paused")
    cgroups.new_manager(st.cgroups_path, st.id).thaw()


def pids(root: str, container_id: str) -> list[int]:
    st = state.load(root, container_id)
    return sorted(cgroups.new_manager(st.cgroups_path, st.id).pids())


def exec_process(
    root: str,
    container_id: str,
    proc: Process,
    *,
    stdio: Stdio = INHERIT,
    console_socket: str | None = None,
    console_fd: int | None = None,
    pid_file: str | None = None,
) -> int:
    """Start another process in a running container: its namespaces, its cgroup.

    Returns the new process's pid once it has exec'd (or raises the error that stopped it).
    The process is the caller's child, made by one fork (``execchain``).
    """
    from dockyard.runtime import execchain  # exec's alone: not on create's start-up path

    st = state.load(root, container_id)
    mgr = cgroups.new_manager(st.cgroups_path, st.id)
    status = status_of(root, st, mgr)
    if status != Status.RUNNING:
        raise Conflict(f"cannot exec in a container that is {status}")
    kinds, filt = execchain.exec_config(os.path.join(st.bundle, "config.json"))
    program = _seccomp_program(filt)
    plan = process.plan(proc)
    _check_console(plan, console_socket, console_fd)
    fds: list[int] = []
    try:
        cfd = -1
        if console_socket is not None:
            cfd = _connect_console(console_socket)
            fds.append(cfd)
        elif console_fd is not None:
            cfd = console_fd
        pidns = -1
        join: list[tuple[int, int]] = []
        for kind in _JOIN_ORDER:
            if kind not in kinds:
                continue
            path = f"/proc/{st.pid}/ns/{_NS_PROC[kind]}"
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise FailedPrecondition(f"container {container_id} is not running") from None
            fds.append(fd)
            if kind == "pid":
                pidns = fd  # joined by this process, for its child (execchain)
            else:
                join.append((fd, _NS_FLAGS[kind]))
        if state.proc_start_time(st.pid) != st.pid_start:
            raise FailedPrecondition(f"container {container_id} is not running")

        setup_console = _console_setup(plan)

        def child(sync_w: int) -> NoReturn:
            try:
                os.setsid()
                if setup_console is not None:
                    setup_console(cfd, plan.uid, plan.gid, plan.console_size)
                exe, full = init.finish_process(plan, program)
                os.execve(exe, list(full.args), init.env_dict(full.env))
            except BaseException as e:
                init.report_error(sync_w, e)

        pid, sync_r = execchain.start(mgr.join_plan(), pidns, join, stdio, child, keep=(cfd,))
        msg = execchain.read_sync(sync_r, pid)
        if msg:
            raise FailedPrecondition(spawn.error_text(msg))
        if pid_file:
            _write_pid_file(pid_file, pid)
        return pid
    finally:
        for fd in fds:
            os.close(fd)


def exit_status(status: int) -> int:
    """A wait status as a shell would report it: the code, or 128 + the signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def wait_child(pid: int) -> int:
    """Wait for a child (or a reparented grandchild, as subreaper); returns exit_status."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return exit_status(status)
        except InterruptedError:
            continue
        except ChildProcessError:
            raise FailedPrecondition(f"process {pid} is not our child") from None


__all__ = [
    "DockyardError",
    "Status",
    "Stdio",
    "create",
    "delete",
    "exec_process",
    "exit_status",
    "kill",
    "make_pool",
    "pause",
    "pids",
    "resume",
    "start",
    "state_json",
    "wait_child",
]
