"""How the supervisor creates containers: the ``RuntimeDriver`` seam and its two drivers.

``OciCliDriver`` runs any OCI runtime binary with runc's command line (runc, crun, and our
``dockyard-runtime``); ``InProcessDriver`` calls the in-process launcher
(``dockyard.runtime.launcher``) from the supervisor itself, the warm path, since the
supervisor is the single-threaded zygote with every module imported. One conformance suite
(``tests/integration/runtime/test_supervisor_drivers.py``) runs against each.

Both drivers are synchronous: a call returns when the runtime is done. This matters for
reaping: the supervisor reaps with ``waitpid(-1)`` only from its event loop, never while a
driver call is under way, so a runtime subprocess's status is always collected by the code
that waits for it, and a container's init that exits before its pid is known stays a
zombie until the driver has returned that pid.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from dockyard import errors
from dockyard.runtime.supervisor.protocol import RuntimeKind, RuntimeSpec

if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import Spec
    from dockyard.runtime.pool import SparePool

log = logging.getLogger(__name__)

RUNTIME_TIMEOUT = 60.0
LAUNCHER_MODULE = "dockyard.runtime.launcher"
# The name a retired state directory gets in the trash: records.DELETED_PREFIX, so that
# the supervisor's sweep of its containers directory removes both kinds.
RETIRED_PREFIX = ".deleted-"


@dataclass(frozen=True, slots=True)
class Stdio:
    """The descriptors a container's process gets as 0, 1 and 2."""

    stdin: int
    stdout: int
    stderr: int


class RuntimeStatus(enum.Enum):
    """The OCI runtime spec's states (plus runc's ``paused``)."""

    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class RuntimeState:
    """The ``state`` of a container as the runtime reports it."""

    id: str
    pid: int
    status: RuntimeStatus
    bundle: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RuntimeState:
        try:
            return cls(str(d["id"]), int(d.get("pid") or 0), RuntimeStatus(d["status"]),
                       str(d.get("bundle", "")))
        except (KeyError, ValueError, TypeError) as exc:
            raise errors.Internal(f"unexpected runtime state {dict(d)!r}") from exc


class RuntimeDriver(Protocol):
    """Creates and controls containers for the supervisor.

    Lifecycle of a container through a driver: ``create`` builds it from an OCI bundle and
    leaves its init blocked before ``execve`` ("created"), with ``stdio`` as its 0/1/2 or
    a pty sent to ``console_socket``, and returns the init's host pid; ``start`` lets the
    init exec the user's process ("running"); ``kill`` signals it; when it has exited
    ("stopped"; the supervisor, its parent by sub-reaping, collects the status), ``delete``
    removes what the runtime keeps (state, cgroups). ``exec`` starts one more process in a
    running container, detached, and returns its host pid. ``pause`` freezes every process
    of a running container (its cgroup's freezer: "paused"), ``resume`` thaws them; a
    SIGKILL to every process (``kill`` with ``all_processes``) also ends a paused one. ``workdir`` is a directory the
    driver may use for pid files, process files and the runtime's log.

    Every method raises one of :mod:`dockyard.errors`: ``NotFound`` for an unknown
    container, ``AlreadyExists`` for a duplicate id, ``Conflict`` when the container is in
    the wrong state, ``FailedPrecondition`` for anything else the runtime refused.
    """

    @property
    def name(self) -> str: ...

    def create(self, container_id: str, bundle: str, stdio: Stdio, *, workdir: str,
               console_socket: str | None = None) -> int: ...

    def start(self, container_id: str) -> None: ...

    def kill(self, container_id: str, signum: int, *, all_processes: bool = False) -> None: ...

    def delete(self, container_id: str, *, force: bool = False) -> None: ...

    def state(self, container_id: str) -> RuntimeState: ...

    def exec(self, container_id: str, process: Mapping[str, Any], stdio: Stdio, *,
             workdir: str, console_socket: str | None = None) -> int: ...

    def pause(self, container_id: str) -> None: ...

    def resume(self, container_id: str) -> None: ...


def classify(message: str, verb: str = "") -> type[errors.DockyardError]:
    """The error class for a runtime's complaint (runc's, crun's, dockyard-runtime's words)."""
    m = message.lower()
    if "does not exist" in m or "not exist" in m or "no such container" in m:
        return errors.NotFound
    if verb not in ("create", "exec") and "no such file or directory" in m:
        return errors.NotFound  # crun: its state file for that id is missing
    if "already exists" in m or "already in use" in m:
        return errors.AlreadyExists
    if any(w in m for w in ("not running", "not stopped", "that is running", "is stopped",
                            "cannot start", "already running", "not created", "is paused",
                            "not in created state", "not paused", "already paused")):
        return errors.Conflict
    return errors.FailedPrecondition


def read_pid_file(path: str) -> int:
    with open(path, encoding="ascii") as f:
        text = f.read().strip()
    if not text.isdigit():
        raise errors.Internal(f"pid file {path} holds {text!r}")
    return int(text)


class OciCliDriver:
    """Runs an OCI runtime binary with runc's command line.

    ``create``/``exec`` hand the runtime the container's stdio as the subprocess's own 0/1/2
    (runc's "pass-through" mode when detached without a terminal), so the runtime's own
    diagnostics go to ``--log <workdir>/runtime.log --log-format json`` instead of stderr,
    and are read back from there when the command fails. Other commands capture stderr.
    """

    __slots__ = ("binary", "root")

    def __init__(self, binary: str, root: str) -> None:
        self.binary = binary
        self.root = root

    @property
    def name(self) -> str:
        return os.path.basename(self.binary)

    def _base(self) -> list[str]:
        return [self.binary, "--root", self.root]

    def _run_with_stdio(self, verb: str, args: list[str], stdio: Stdio, workdir: str) -> None:
        runtime_log = os.path.join(workdir, "runtime.log")
        try:
            start = os.path.getsize(runtime_log)
        except FileNotFoundError:
            start = 0
        cmd = [*self._base(), "--log", runtime_log, "--log-format", "json", verb, *args]
        proc = self._spawn(cmd, stdin=stdio.stdin, stdout=stdio.stdout, stderr=stdio.stderr)
        if proc.returncode != 0:
            msg = _last_error(runtime_log, start) or f"exit status {proc.returncode}"
            raise classify(msg, verb)(f"{self.name} {verb}: {msg}")

    def _run(self, verb: str, args: list[str]) -> str:
        cmd = [*self._base(), verb, *args]
        proc = self._spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if proc.returncode != 0:
            msg = _stderr_message(proc.stderr) or f"exit status {proc.returncode}"
            raise classify(msg, verb)(f"{self.name} {verb}: {msg}")
        return proc.stdout.decode("utf-8", "replace")

    def _spawn(self, cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
        log.debug("running %s", " ".join(cmd))
        try:
            return subprocess.run(cmd, close_fds=True, timeout=RUNTIME_TIMEOUT, check=False,
                                  **kw)
        except FileNotFoundError:
            raise errors.FailedPrecondition(f"runtime binary not found: {self.binary}") from None
        except subprocess.TimeoutExpired:
            raise errors.Unavailable(
                f"{self.name} {cmd[3] if len(cmd) > 3 else ''} did not finish in "
                f"{RUNTIME_TIMEOUT:.0f}s") from None

    def create(self, container_id: str, bundle: str, stdio: Stdio, *, workdir: str,
               console_socket: str | None = None) -> int:
        pid_file = os.path.join(workdir, "init.pid")
        args = ["--bundle", bundle, "--pid-file", pid_file]
        if console_socket is not None:
            args += ["--console-socket", console_socket]
        self._run_with_stdio("create", [*args, container_id], stdio, workdir)
        return read_pid_file(pid_file)

    def start(self, container_id: str) -> None:
        self._run("start", [container_id])

    def kill(self, container_id: str, signum: int, *, all_processes: bool = False) -> None:
        self._run("kill", [*(["--all"] if all_processes else []), container_id, str(signum)])

    def delete(self, container_id: str, *, force: bool = False) -> None:
        self._run("delete", [*(["--force"] if force else []), container_id])

    def pause(self, container_id: str) -> None:
        self._run("pause", [container_id])

    def resume(self, container_id: str) -> None:
        self._run("resume", [container_id])

    def state(self, container_id: str) -> RuntimeState:
        out = self._run("state", [container_id])
        try:
            return RuntimeState.from_json(json.loads(out))
        except json.JSONDecodeError as exc:
            raise errors.Internal(f"{self.name} state printed {out[:200]!r}") from exc

    def exec(self, container_id: str, process: Mapping[str, Any], stdio: Stdio, *,
             workdir: str, console_socket: str | None = None) -> int:
        os.makedirs(workdir, exist_ok=True)
        process_file = os.path.join(workdir, "process.json")
        with open(process_file, "w", encoding="utf-8") as f:
            json.dump(process, f)
        pid_file = os.path.join(workdir, "exec.pid")
        args = ["--process", process_file, "--pid-file", pid_file, "--detach"]
        if console_socket is not None:
            args += ["--console-socket", console_socket]
        self._run_with_stdio("exec", [*args, container_id], stdio, workdir)
        return read_pid_file(pid_file)


def _stderr_message(stderr: bytes) -> str:
    lines = [ln for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    if not lines:
        return ""
    last = lines[-1]
    try:
        doc = json.loads(last)
    except json.JSONDecodeError:
        return _strip_logfmt(last)
    return str(doc.get("msg", last)) if isinstance(doc, dict) else last


def _strip_logfmt(line: str) -> str:
    # runc without --log prints logrus text: time="..." level=error msg="..."
    marker = 'msg="'
    i = line.find(marker)
    if i >= 0 and line.endswith('"'):
        return line[i + len(marker):-1].replace('\\"', '"')
    return line


def _last_error(runtime_log: str, start: int) -> str:
    """The last error-level message a runtime appended to its JSON log after ``start``."""
    try:
        with open(runtime_log, "rb") as f:
            f.seek(start)
            tail = f.read()
    except FileNotFoundError:
        return ""
    best = ""
    for raw in tail.decode("utf-8", "replace").splitlines():
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError:
            best = raw.strip() or best
            continue
        if isinstance(doc, dict) and doc.get("level") in ("error", "fatal"):
            best = str(doc.get("msg", raw))
    return best


class _HasPid(Protocol):
    @property
    def pid(self) -> int: ...


class Launcher(Protocol):
    """The part of ``dockyard.runtime.launcher`` the in-process driver calls (mypy checks
    the real module against it in :func:`load_launcher`)."""

    @property
    def Stdio(self) -> Callable[[int | None, int | None, int | None], Any]: ...

    def create(self, root: str, container_id: str, bundle: str, *, stdio: Any = ...,
               console_socket: str | None = None, console_fd: int | None = None,
               pid_file: str | None = None, no_pivot: bool = False,
               pool: SparePool | None = None, spec: Spec | None = None,
               on_started: Callable[[int], None] | None = None) -> _HasPid: ...

    def make_pool(self, size: int = ..., *, parents_file: str | None = None) -> SparePool: ...

    def start(self, root: str, container_id: str) -> None: ...

    def kill(self, root: str, container_id: str, signum: int,
             all_processes: bool = False) -> None: ...

    def delete(self, root: str, container_id: str, force: bool = False, *,
               retire: Callable[[str], None] | None = None) -> None: ...

    def state_json(self, root: str, container_id: str) -> dict[str, Any]: ...

    def pause(self, root: str, container_id: str) -> None: ...

    def resume(self, root: str, container_id: str) -> None: ...

    def exec_process(self, root: str, container_id: str, proc: Any, *, stdio: Any = ...,
                     console_socket: str | None = None, console_fd: int | None = None,
                     pid_file: str | None = None) -> int: ...


def load_launcher() -> Launcher:
    """Import the in-process launcher, or say clearly that it is not there."""
    try:
        from dockyard.runtime import launcher as module
    except ModuleNotFoundError as exc:
        if exc.name != LAUNCHER_MODULE:
            raise
        raise errors.FailedPrecondition(
            f"the in-process runtime needs {LAUNCHER_MODULE}, which is not installed") from None
    launcher: Launcher = module
    return launcher


class InProcessDriver:
    """Creates containers by calling the launcher in this (the supervisor's) process.

    The launcher forks from the supervisor, which is single-threaded and has every module
    imported: the zygote. Its errors are already :mod:`dockyard.errors`; an ``OSError``
    escaping it becomes ``FailedPrecondition`` with the errno's text. ``workdir`` only
    holds the pid files (the launcher keeps its own state under ``root``). With a
    ``pool`` (the supervisor's spares, shared by every root) a create takes a spare when
    one fits (see ``dockyard.runtime.pool``). With a ``trash`` directory, ``delete``
    renames a container's state directory into it (``.deleted-<id>-<random>``) instead of
    removing it, for the supervisor to remove after its reply (``retired``); where a rename
    cannot (another filesystem), it is removed at once.
    """

    __slots__ = ("_launcher", "pool", "root", "trash")

    def __init__(self, root: str, launcher: Launcher | None = None,
                 pool: SparePool | None = None, trash: str | None = None) -> None:
        self.root = root
        self._launcher = launcher if launcher is not None else load_launcher()
        self.pool = pool
        self.trash = trash

    @property
    def name(self) -> str:
        return "in-process"

    def _stdio(self, stdio: Stdio) -> Any:
        return self._launcher.Stdio(stdio.stdin, stdio.stdout, stdio.stderr)

    def create(self, container_id: str, bundle: str, stdio: Stdio, *, workdir: str,
               console_socket: str | None = None,
               on_started: Callable[[int], None] | None = None,
               config: dict[str, Any] | None = None) -> int:
        """As the protocol says; ``on_started(pid)`` runs as soon as the init's pid is
        known, while it builds its rootfs (the supervisor writes its record then).
        ``config``: the bundle's ``config.json`` if the caller has read it already (its
        spec is parsed from it, the file is not read again)."""
        # No pid file: the pid comes back directly and the container's record holds it.
        extra: dict[str, Any] = {"pool": self.pool} if self.pool is not None else {}
        if on_started is not None:
            extra["on_started"] = on_started
        if config is not None:
            from dockyard.oci.runtime_spec import parse_spec

            extra["spec"] = parse_spec(config)
        st = _call(self._launcher.create, self.root, container_id, bundle,
                   stdio=self._stdio(stdio), console_socket=console_socket, **extra)
        return int(st.pid)

    def start(self, container_id: str) -> None:
        _call(self._launcher.start, self.root, container_id)

    def kill(self, container_id: str, signum: int, *, all_processes: bool = False) -> None:
        _call(self._launcher.kill, self.root, container_id, signum, all_processes)

    def delete(self, container_id: str, *, force: bool = False) -> None:
        if self.trash is None:
            _call(self._launcher.delete, self.root, container_id, force)
        else:
            _call(self._launcher.delete, self.root, container_id, force, retire=self._retire)

    def _retire(self, path: str) -> None:
        if self.trash is None:
            raise errors.Internal("no trash directory")
        dest = os.path.join(self.trash, f"{RETIRED_PREFIX}{os.path.basename(path)}-"
                                        f"{os.urandom(4).hex()}")
        try:
            os.rename(path, dest)
        except FileNotFoundError:
            return
        except OSError:
            import shutil  # another filesystem (EXDEV): removed now

            shutil.rmtree(path)

    def state(self, container_id: str) -> RuntimeState:
        return RuntimeState.from_json(_call(self._launcher.state_json, self.root, container_id))

    def pause(self, container_id: str) -> None:
        _call(self._launcher.pause, self.root, container_id)

    def resume(self, container_id: str) -> None:
        _call(self._launcher.resume, self.root, container_id)

    def exec(self, container_id: str, process: Mapping[str, Any], stdio: Stdio, *,
             workdir: str, console_socket: str | None = None) -> int:
        from dockyard.oci.runtime_spec import parse_process

        # No pid file: the pid comes back directly, and nothing reads it (on the start's
        # path of every exec, its write and rename are not free).
        return int(_call(self._launcher.exec_process, self.root, container_id,
                         parse_process(dict(process)), stdio=self._stdio(stdio),
                         console_socket=console_socket))


def _call(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    try:
        return fn(*args, **kw)
    except OSError as exc:
        raise errors.FailedPrecondition(f"in-process runtime: {exc}") from exc


# A driver from its spec, the supervisor's spare pool and its trash directory (which only
# the in-process driver uses).
DriverFactory = Callable[[RuntimeSpec, "SparePool | None", "str | None"], RuntimeDriver]

# The explicit table of drivers (DESIGN.md: users choose an implementation by name).
DRIVERS: dict[RuntimeKind, DriverFactory] = {
    RuntimeKind.OCI_CLI: lambda spec, pool, trash: OciCliDriver(spec.binary, spec.root),
    RuntimeKind.IN_PROCESS: lambda spec, pool, trash: InProcessDriver(spec.root, pool=pool,
                                                                       trash=trash),
}


def make_driver(spec: RuntimeSpec, pool: SparePool | None = None,
                trash: str | None = None) -> RuntimeDriver:
    return DRIVERS[spec.kind](spec, pool, trash)


def make_pool(size: int, parents_file: str | None) -> SparePool | None:
    """The zygote's spare pool for the in-process driver; None when ``size`` is 0 or the
    launcher is not installed."""
    if size <= 0:
        return None
    try:
        launcher = load_launcher()
    except errors.FailedPrecondition:
        return None
    return launcher.make_pool(size, parents_file=parents_file)


def preload_launcher() -> bool:
    """Import the launcher now if it exists, so forks from the zygote find it loaded."""
    try:
        load_launcher()
    except errors.FailedPrecondition:
        return False
    return True
