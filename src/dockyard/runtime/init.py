"""The container's init: the ordered steps between fork and execve.

Runs in the second forked child of ``launcher`` (already in the new namespaces and the
cgroup, PID 1 of its PID namespace when it has one), single-threaded, with every module
it needs imported by its parent: after pivot_root a lazy import would read the
container's files, so nothing here may import. Each step is one call; the order is
runc's ``standard_init_linux.go`` with its reasons noted. The first error is written to
the sync pipe (the parent turns it into a clear message) and the child exits.
"""

from __future__ import annotations

import os

from dockyard.linux import syscalls as sc
from dockyard.oci.runtime_spec import Spec
from dockyard.runtime import execwait, process, rootfs, seccomp
from dockyard.runtime.process import ProcessPlan
from dockyard.runtime.rootfs import CgroupMountPlan

# Not typing's TYPE_CHECKING/NamedTuple: the runtime CLI's start-up (dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
    from typing import NamedTuple, NoReturn
else:
    import _signal as signal  # signal's functions and numbers, without its IntEnums

    from dockyard.records import NamedTuple

SYNC_READY = b"ready\n"


class InitContext(NamedTuple):
    spec: Spec
    bundle: str
    rootfs: str
    plan: ProcessPlan
    cgroup: CgroupMountPlan
    new_mount_ns: bool
    new_uts_ns: bool
    new_net_ns: bool
    no_pivot: bool
    fifo_fd: int  # O_PATH descriptor of <state>/exec.fifo
    sync_fd: int  # write end of the sync pipe to the parent
    console_fd: int  # connected console socket, or -1
    # console.setup_console when the process has a terminal: imported by the parent only
    # then (it pulls in socket and termios), and always before the fork.
    setup_console: Callable[[int, int, int, tuple[int, int] | None], None] | None
    go_fd: int  # read end: the parent writes once it has moved us into our cgroup
    new_cgroup_ns: bool
    seccomp: seccomp.Program | None = None  # linux.seccomp, compiled by the parent


def report_error(sync_fd: int, exc: BaseException) -> NoReturn:
    """Send the failure to the parent over the sync pipe, then exit the child."""
    try:
        msg = str(exc) if not isinstance(exc, OSError) or not exc.filename else (
            f"{exc.strerror}: {exc.filename}")
        os.write(sync_fd, b"error " + (msg or type(exc).__name__).encode(errors="replace") + b"\n")
    finally:
        os._exit(1)


def reset_signals() -> None:
    """The process must start with default dispositions and an empty mask.

    Python ignores SIGPIPE and SIGXFSZ at start-up, and ignored signals survive execve:
    without this a container's ``yes | head`` would never end.
    """
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                signal.SIGCHLD, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH):
        signal.signal(sig, signal.SIG_DFL)


_STOP_WHILE_CREATED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def _die_of_signal(signum: int, _frame: object) -> None:
    os._exit(128 + signum)


def run_init(ctx: InitContext) -> NoReturn:
    """Everything from the fresh fork to execve; never returns."""
    try:
        exe, plan = _prepare(ctx)
    except BaseException as e:
        report_error(ctx.sync_fd, e)
    # While it waits for start, the init is PID 1 of its namespace: signals with the
    # default action would be ignored. Like runc's init, die on the usual ones.
    for sig in _STOP_WHILE_CREATED:
        signal.signal(sig, _die_of_signal)
    # Tell the parent we are ready: create returns; the process waits for start.
    os.write(ctx.sync_fd, SYNC_READY)
    args = list(plan.args)
    env = env_dict(plan.env)
    try:
        # It waits as a tiny program, this address space torn down now rather than at
        # start (``execwait``); if it cannot, it waits here.
        execwait.exec_waiting(ctx.fifo_fd, exe, args, env)
    except BaseException as e:
        os.write(2, f"dockyard-runtime: {e}\n".encode(errors="replace"))
        os._exit(127)
    try:
        # Block until `start` opens the fifo's read end. The fd was opened O_PATH on the
        # host; reopening it through /proc/self/fd needs no path into the host tree.
        fd = os.open(f"/proc/self/fd/{ctx.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        os.write(fd, b"0")
        reset_signals()
        os.execve(exe, args, env)
    except BaseException as e:
        os.write(2, f"dockyard-runtime: {e}\n".encode(errors="replace"))
    os._exit(127)


def env_dict(env: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for kv in env:
        k, _, v = kv.partition("=")
        out[k] = v
    return out


def _await_cgroup(ctx: InitContext) -> None:
    """Block until the parent has moved us into the container's cgroup."""
    if os.read(ctx.go_fd, 1) != b"g":
        raise RuntimeError("the runtime went away before the cgroup was joined")
    os.close(ctx.go_fd)
    if ctx.new_cgroup_ns:
        sc.unshare(sc.CLONE_NEWCGROUP)


def _prepare(ctx: InitContext) -> tuple[str, ProcessPlan]:
    spec, plan = ctx.spec, ctx.plan
    # A session of its own: the container's signals and terminal are its own.
    os.setsid()
    # Device nodes and mount points get exactly the modes we ask for.
    os.umask(0)
    if ctx.new_cgroup_ns:
        # The cgroup filesystem mounted below must show our cgroup as its root.
        _await_cgroup(ctx)
    if ctx.new_mount_ns:
        # 1-2: no propagation back to the host; the rootfs becomes a mount point.
        rootfs.prepare_root(ctx.rootfs, spec.linux.rootfs_propagation)
        # 3: the spec's mounts, destinations resolved inside the rootfs.
        rootfs.mount_all(spec, ctx.rootfs, ctx.bundle, ctx.cgroup)
        # As runc: a missing working directory is created (in the rootfs, even a
        # read-only one, which becomes read-only only later).
        rootfs.ensure_cwd(ctx.rootfs, plan.cwd)
        # 4: device nodes and /dev links.
        if rootfs.needs_dev(spec):
            rootfs.create_devices(ctx.rootfs, spec.linux.devices)
        # 5: the rootfs becomes /, the host's tree is detached.
        rootfs.pivot_root(ctx.rootfs, ctx.no_pivot,
                          rootfs.root_propagation(spec.linux.rootfs_propagation))
    else:
        os.chroot(ctx.rootfs)
        os.chdir("/")
    # The pty is made in the container's devpts, after the mounts, before /dev turns ro.
    if ctx.setup_console is not None:
        ctx.setup_console(ctx.console_fd, plan.uid, plan.gid, plan.console_size)
    if ctx.new_mount_ns:
        rootfs.remount_dev_ro(spec)
    if ctx.new_net_ns:
        # As runc does for a new network namespace: the loopback comes up.
        sc.interface_up("lo")
    if ctx.new_uts_ns:
        if spec.hostname:
            sc.sethostname(spec.hostname)
        if spec.domainname:
            sc.setdomainname(spec.domainname)
    for key, value in spec.linux.sysctl:
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)
    # 6: read-only and masked paths, then the read-only root.
    for path in spec.linux.readonly_paths:
        rootfs.readonly_path(path)
    for path in spec.linux.masked_paths:
        rootfs.mask_path(path)
    if spec.root.readonly:
        rootfs.readonly_root()
    # From here on the process must be in its cgroup (limits apply to what it does).
    if not ctx.new_cgroup_ns:
        _await_cgroup(ctx)
    return finish_process(plan, ctx.seccomp)


def finish_process(plan: ProcessPlan, filt: seccomp.Program | None = None
                   ) -> tuple[str, ProcessPlan]:
    """The last steps before execve, shared by the init and exec'd processes; returns
    the executable's path and the plan with HOME added. ``filt``: the seccomp filter."""
    # Lowering the OOM score needs CAP_SYS_RESOURCE: before the capabilities go.
    process.set_oom_score_adj(plan)
    process.set_rlimits(plan)
    # No descriptor of ours may reach the container process (runc CVE-2024-21626):
    # everything above stdio is closed by execve.
    sc.close_range(3, 0xFFFFFFFF, sc.CLOSE_RANGE_CLOEXEC)
    if filt is not None and not plan.no_new_privileges:
        # As runc: without no_new_privs a filter needs CAP_SYS_ADMIN, held until below.
        seccomp.install(filt)
    # User, groups, capabilities, no_new_privs, umask.
    process.drop_privileges(plan)
    # The working directory, proven to be inside the new root.
    process.enter_cwd(plan)
    plan = process.with_home(plan)
    exe = process.lookup_executable(plan)
    reset_signals()
    if filt is not None and plan.no_new_privileges:
        seccomp.install(filt)  # as late as can be: the fewer of our calls it must allow
    return exe, plan
