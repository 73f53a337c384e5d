"""The last steps of a container process before execve: identity, limits, privileges.

Everything that needs information from the host (capability numbers, rlimit constants) is
computed into a ``ProcessPlan`` *before* pivot_root, by plain code in the parent; the
functions that apply it run in the container's init or exec child and only make system
calls (a lazy import after pivot_root would read the container's files).

The order follows runc's ``finalizeNamespace``: bounding set → keep caps → groups, gid,
uid → clear keep caps → effective/permitted/inheritable → ambient → no_new_privs.
"""

from __future__ import annotations

import os
import resource
import stat

from dockyard.errors import InvalidArgument
from dockyard.linux import caps as capsmod
from dockyard.linux import syscalls as sc
from dockyard.oci.runtime_spec import Process

# Not typing's TYPE_CHECKING/NamedTuple: the runtime CLI's start-up (dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from dockyard.records import NamedTuple

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ProcessPlan(NamedTuple):
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    umask: int
    rlimits: tuple[tuple[int, int, int], ...]
    bounding: int
    effective: int
    permitted: int
    inheritable: int
    ambient: tuple[int, ...]
    last_cap: int
    no_new_privileges: bool
    oom_score_adj: int | None
    terminal: bool
    console_size: tuple[int, int] | None  # rows, cols


def plan(process: Process) -> ProcessPlan:
    """Turn the spec's process into numbers; raises InvalidArgument on unknown names."""
    rlimits = []
    for r in process.rlimits:
        num = getattr(resource, r.type, None)
        if not isinstance(num, int):
            raise InvalidArgument(f"process.rlimits: unknown rlimit {r.type!r}")
        rlimits.append((num, r.soft, r.hard))
    last = capsmod.last_cap()
    c = process.capabilities
    bounding = capsmod.mask_of(c.bounding, last) if c else 0
    ambient = tuple(capsmod.CAPABILITIES[n] for n in c.ambient
                    if capsmod.CAPABILITIES[n] <= last) if c else ()
    size = None
    if process.console_size is not None:
        size = (process.console_size.height, process.console_size.width)
    return ProcessPlan(
        args=process.args,
        env=process.env,
        cwd=process.cwd,
        uid=process.user.uid,
        gid=process.user.gid,
        groups=process.user.additional_gids,
        umask=process.user.umask if process.user.umask is not None else 0o022,
        rlimits=tuple(rlimits),
        bounding=bounding,
        effective=capsmod.mask_of(c.effective, last) if c else 0,
        permitted=capsmod.mask_of(c.permitted, last) if c else 0,
        inheritable=capsmod.mask_of(c.inheritable, last) if c else 0,
        ambient=ambient,
        last_cap=last,
        no_new_privileges=process.no_new_privileges,
        oom_score_adj=process.oom_score_adj,
        terminal=process.terminal,
        console_size=size,
    )


def set_oom_score_adj(p: ProcessPlan) -> None:
    if p.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(p.oom_score_adj))


def set_rlimits(p: ProcessPlan) -> None:
    for num, soft, hard in p.rlimits:
        resource.setrlimit(num, (soft, hard))


def drop_privileges(p: ProcessPlan) -> None:
    """Bounding set, user and groups, capability sets, ambient set, no_new_privs."""
    for cap in range(p.last_cap + 1):
        if not p.bounding & (1 << cap):
            sc.prctl(sc.PR_CAPBSET_DROP, cap)
    sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    os.setgroups(list(p.groups))
    os.setresgid(p.gid, p.gid, p.gid)
    os.setresuid(p.uid, p.uid, p.uid)
    sc.prctl(sc.PR_SET_KEEPCAPS, 0)
    sc.capset(p.effective, p.permitted, p.inheritable)
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in p.ambient:
        sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, cap)
    if p.no_new_privileges:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    os.umask(p.umask)


def enter_cwd(p: ProcessPlan) -> None:
    """chdir to the process's cwd and prove it is inside the container's root.

    runc CVE-2024-21626: a cwd reached through a leaked host fd (``/proc/self/fd/N``) sits
    outside the root; getcwd(2) then fails with ENOENT (or returns "(unreachable)").
    """
    try:
        os.chdir(p.cwd)
    except OSError as e:
        # runc's words, which moby passes on (an exec's ``-w`` that does not exist); the
        # daemon's exit code reads them as a start's: 127 for "no such file or
        # directory", 126 for "permission denied".
        reason = os.strerror(e.errno).lower() if e.errno else str(e)
        raise InvalidArgument(f'chdir to cwd ("{p.cwd}") set in config.json failed: '
                              f'{reason}') from None
    try:
        cwd = os.getcwd()
    except FileNotFoundError:
        raise PermissionError(f"current working directory {p.cwd} is outside the container") from None
    if not cwd.startswith("/"):
        raise PermissionError(f"current working directory {p.cwd} is outside the container")


def with_home(p: ProcessPlan) -> ProcessPlan:
    """Add HOME when the spec has none, from the container's /etc/passwd ("/" if absent).

    runc does the same; it runs after pivot_root, so the file read is the container's own.
    """
    if any(kv.startswith("HOME=") for kv in p.env):
        return p
    home = "/"
    try:
        # Unbuffered, in small reads: a buffered read(1 MiB) maps and unmaps a 1 MiB buffer.
        with open("/etc/passwd", "rb", buffering=0) as f:
            chunks: list[bytes] = []
            size = 0
            while size < 1 << 20 and (chunk := f.read(min(65536, (1 << 20) - size))):
                chunks.append(chunk)
                size += len(chunk)
            for line in b"".join(chunks).decode(errors="replace").splitlines():
                fields = line.split(":")
                if len(fields) >= 6 and fields[2] == str(p.uid):
                    home = fields[5] or "/"
                    break
    except OSError:
        pass
    return p._replace(env=(*p.env, f"HOME={home}"))


def lookup_executable(p: ProcessPlan) -> str:
    """Find args[0] as runc does, with the container's PATH; checks it is executable.

    The messages are runc's (a directory is "permission denied" too): the docker CLI maps
    "executable file not found" and "no such file or directory" to exit status 127 and
    "permission denied" to 126.
    """
    name = p.args[0]
    if "/" in name:
        try:
            st = os.stat(name)
        except FileNotFoundError:
            raise FileNotFoundError(
                f'exec: "{name}": stat {name}: no such file or directory') from None
        if not stat.S_ISREG(st.st_mode) or not os.access(name, os.X_OK):
            raise PermissionError(f'exec: "{name}": permission denied')
        return name
    path = DEFAULT_PATH
    for kv in p.env:
        if kv.startswith("PATH="):
            path = kv[5:]
    for d in path.split(":"):
        c = os.path.join(d or ".", name)
        try:
            st = os.stat(c)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and os.access(c, os.X_OK):
            return c
    raise FileNotFoundError(f'exec: "{name}": executable file not found in $PATH')
