"""``dockyard-runtime``: an OCI runtime with runc's commands and flags.

The argument parser is hand-written rather than argparse: this is the cold path of every
container start when used as a runtime binary, and the CLI's start-up time is a goal
(no slower than runc's ~27 ms). argparse alone costs several milliseconds to import and
build; the grammar below (runc's: global flags, a command, its flags, positionals) is small.
"""

from __future__ import annotations

import os
import sys

from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.oci import jsoncodec
from dockyard.oci.runtime_spec import load_spec, parse_process
from dockyard.runtime import launcher, state

# No typing, json or signal's enums here (nor in what ``run`` imports): they would cost
# ~20 ms of every container start (see dockyard.records, dockyard.oci.jsoncodec).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
    from typing import NoReturn
else:
    import _signal as signal  # signal's functions and numbers, without its IntEnums

USAGE = """usage: dockyard-runtime [--root DIR] COMMAND [OPTIONS] ID

An OCI runtime (runc's commands and flags).

commands:
  create   create a container (its process waits for start)
  start    start a created container
  run      create and start a container (foreground unless -d)
  state    print a container's state as JSON
  kill     send a signal to the container's init (or --all its processes)
  delete   delete a container (--force kills it first)
  list     list containers (-q ids only, --format json)
  exec     run another process in a running container
  pause    freeze every process of a container
  resume   thaw a paused container
  ps       list a container's processes
  spec     write a default config.json (Docker's defaults) into the bundle

global options:
  --root DIR   state directory (default /run/dockyard-runtime)
  --log FILE   append errors to FILE;  --log-format text|json
"""

def _signal_numbers() -> dict[str, int]:
    """Signal names without ``SIG`` (``TERM``) to numbers: ``kill``'s names."""
    import signal as signal_enums  # the names are in its enums

    return {name[3:]: int(num) for name, num in signal_enums.Signals.__members__.items()
            if name.startswith("SIG") and not name.startswith("SIG_")}


class UsageError(Exception):
    pass


class Args:
    """Parsed flags: ``values`` for flags with arguments, ``bools`` for switches."""

    __slots__ = ("bools", "positional", "values")

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}
        self.bools: set[str] = set()
        self.positional: list[str] = []

    def get(self, name: str, default: str | None = None) -> str | None:
        v = self.values.get(name)
        return v[-1] if v else default

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])


def parse_flags(argv: list[str], takes_value: dict[str, str], switches: dict[str, str],
                stop_at_first_positional: bool = False) -> Args:
    """Go-style flags: ``--name value``, ``--name=value``, ``-n value``; ``--`` ends flags."""
    out = Args()
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            out.positional.extend(argv[i + 1:])
            break
        if a.startswith("-") and a != "-":
            name, eq, val = a.lstrip("-").partition("=")
            if name in takes_value:
                key = takes_value[name]
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise UsageError(f"flag needs an argument: {a}")
                    val = argv[i]
                out.values.setdefault(key, []).append(val)
            elif name in switches:
                if eq and val not in ("true", "false"):
                    raise UsageError(f"invalid boolean value {val!r} for {a}")
                if val != "false":
                    out.bools.add(switches[name])
            else:
                raise UsageError(f"flag provided but not defined: {a}")
        else:
            out.positional.append(a)
            if stop_at_first_positional:
                out.positional.extend(argv[i + 1:])
                break
        i += 1
    return out


def _one_id(a: Args, cmd: str) -> str:
    if len(a.positional) != 1:
        raise UsageError(f"{cmd} requires exactly one container id")
    return a.positional[0]


def _print_json(obj: object, indent: int | None = 2) -> None:
    import json  # not on the start path (regular expressions): only for printing

    sys.stdout.write(json.dumps(obj, indent=indent) + "\n")


def _parse_signal(text: str) -> int:
    t = text.upper()
    if t.isdigit():
        return int(t)
    t = t.removeprefix("SIG")
    numbers = _signal_numbers()
    if t not in numbers:
        raise InvalidArgument(f"unknown signal {text!r}")
    return numbers[t]


_CREATE_VALUES = {"bundle": "bundle", "b": "bundle", "console-socket": "console-socket",
                  "pid-file": "pid-file", "preserve-fds": "preserve-fds"}
_CREATE_SWITCHES = {"no-pivot": "no-pivot", "no-new-keyring": "no-new-keyring",
                    "d": "detach", "detach": "detach", "keep": "keep"}


def cmd_create(root: str, argv: list[str]) -> int:
    a = parse_flags(argv, _CREATE_VALUES, _CREATE_SWITCHES)
    cid = _one_id(a, "create")
    launcher.create(root, cid, a.get("bundle", ".") or ".",
                    console_socket=a.get("console-socket"), pid_file=a.get("pid-file"),
                    no_pivot="no-pivot" in a.bools)
    return 0


def cmd_run(root: str, argv: list[str]) -> int:
    from dockyard.linux import syscalls as sc

    a = parse_flags(argv, _CREATE_VALUES, _CREATE_SWITCHES)
    cid = _one_id(a, "run")
    bundle = a.get("bundle", ".") or "."
    detach = "detach" in a.bools
    if detach:
        launcher.create(root, cid, bundle, console_socket=a.get("console-socket"),
                        pid_file=a.get("pid-file"), no_pivot="no-pivot" in a.bools)
        launcher.start(root, cid)
        return 0
    # Foreground: we are the subreaper the init is reparented to, so we can wait for it.
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    master = -1
    ours = theirs = None
    spec = load_spec(os.path.join(bundle, "config.json"))
    if a.get("console-socket") is None and spec.process is not None and spec.process.terminal:
        from dockyard.runtime import console

        ours, theirs = console.pair()
    try:
        st = launcher.create(root, cid, bundle, console_socket=a.get("console-socket"),
                             console_fd=theirs.fileno() if theirs else None,
                             pid_file=a.get("pid-file"), no_pivot="no-pivot" in a.bools,
                             spec=spec)
        if ours is not None and theirs is not None:
            theirs.close()
            master = console.recv_master(ours)
        return _run_foreground(root, st, master, "keep" not in a.bools)
    finally:
        if ours is not None:
            ours.close()
        if master >= 0:
            os.close(master)


def _forward_signals(pid: int) -> None:
    def forward(sig: int, _frame: object) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                signal.SIGUSR2, signal.SIGWINCH if not os.isatty(0) else signal.SIGCONT):
        signal.signal(sig, forward)


def _run_foreground(root: str, st: state.ContainerState, master: int, remove: bool) -> int:
    cid, pid = st.id, st.pid
    try:
        launcher.start(root, cid, st=st)
        _forward_signals(pid)
        if master >= 0:
            from dockyard.runtime import console

            console.proxy(master, lambda: state.proc_start_time(pid) is not None)
        return launcher.wait_child(pid)
    finally:
        if remove:
            launcher.delete(root, cid, force=True, st=st)


def cmd_start(root: str, argv: list[str]) -> int:
    a = parse_flags(argv, {}, {})
    launcher.start(root, _one_id(a, "start"))
    return 0


def cmd_state(root: str, argv: list[str]) -> int:
    a = parse_flags(argv, {}, {})
    _print_json(launcher.state_json(root, _one_id(a, "state")))
    return 0


def cmd_kill(root: str, argv: list[str]) -> int:
    a = parse_flags(argv, {}, {"all": "all", "a": "all"})
    if not 1 <= len(a.positional) <= 2:
        raise UsageError("kill requires a container id and optionally a signal")
    sig = _parse_signal(a.positional[1]) if len(a.positional) == 2 else signal.SIGTERM
    launcher.kill(root, a.positional[0], sig, "all" in a.bools)
    return 0


def cmd_delete(root: str, argv: list[str]) -> int:
    a = parse_flags(argv, {}, {"force": "force", "f": "force"})
    if not a.positional:
        raise UsageError("delete requires at least one container id")
    for cid in a.positional:
        try:
            launcher.delete(root, cid, "force" in a.bools)
        except NotFound:
            # As runc: --force on a container that does not exist (or whose create
            # died before writing its state) is not an error; clear any leftover dir.
            if "force" not in a.bools:
                raise
            launcher.remove_leftovers(root, cid)
    return 0


def cmd_list(root: str, argv: list[str]) -> int:
    a = parse_flags(argv, {"format": "format", "f": "format"}, {"quiet": "quiet", "q": "quiet"})
    ids = state.list_ids(root)
    if "quiet" in a.bools:
        for cid in ids:
            print(cid)
        return 0
    states = []
    for cid in ids:
        try:
            states.append(launcher.state_json(root, cid))
        except DockyardError:
            continue
    if (a.get("format") or "table") == "json":
        _print_json(states, indent=None)
        return 0
    rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    for s in states:
        rows.append([s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], "root"])
    widths = [max(12, *(len(r[i]) + 3 for r in rows)) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + r[-1])
    return 0


def cmd_pause(root: str, argv: list[str]) -> int:
    launcher.pause(root, _one_id(parse_flags(argv, {}, {}), "pause"))
    return 0


def cmd_resume(root: str, argv: list[str]) -> int:
    launcher.resume(root, _one_id(parse_flags(argv, {}, {}), "resume"))
    return 0


def cmd_ps(root: str, argv: list[str]) -> int:
    import subprocess

    a = parse_flags(argv, {"format": "format", "f": "format"}, {}, stop_at_first_positional=True)
    if not a.positional:
        raise UsageError("ps requires a container id")
    cid, ps_args = a.positional[0], a.positional[1:] or ["-ef"]
    pids = launcher.pids(root, cid)
    if (a.get("format") or "table") == "json":
        _print_json(pids, indent=None)
        return 0
    out = subprocess.run(["ps", *ps_args], check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise InvalidArgument("ps output has no PID column")
    col = header.index("PID")
    print(lines[0])
    wanted = set(pids)
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            print(line)
    return 0


def cmd_exec(root: str, argv: list[str]) -> int:
    from dockyard.linux import syscalls as sc

    values = {"process": "process", "p": "process", "console-socket": "console-socket",
              "pid-file": "pid-file", "env": "env", "e": "env", "cwd": "cwd", "user": "user",
              "u": "user", "additional-gids": "gids", "g": "gids", "cap": "cap", "c": "cap",
              "preserve-fds": "preserve-fds", "process-label": "label", "apparmor": "apparmor"}
    switches = {"tty": "tty", "t": "tty", "detach": "detach", "d": "detach",
                "no-new-privs": "nnp"}
    a = parse_flags(argv, values, switches, stop_at_first_positional=True)
    if not a.positional:
        raise UsageError("exec requires a container id")
    cid, args = a.positional[0], a.positional[1:]
    proc = _exec_process(root, cid, a, args)
    detach = "detach" in a.bools
    if not detach:
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    ours = theirs = None
    if proc["terminal"] and a.get("console-socket") is None:
        if detach:
            raise InvalidArgument("cannot allocate a tty with --detach without --console-socket")
        from dockyard.runtime import console

        ours, theirs = console.pair()
    master = -1
    try:
        pid = launcher.exec_process(root, cid, parse_process(proc),
                                    console_socket=a.get("console-socket"),
                                    console_fd=theirs.fileno() if theirs else None,
                                    pid_file=a.get("pid-file"))
        if detach:
            return 0
        if ours is not None and theirs is not None:
            theirs.close()
            master = console.recv_master(ours)
        _forward_signals(pid)
        if master >= 0:
            from dockyard.runtime import console

            console.proxy(master, lambda: state.proc_start_time(pid) is not None)
        return launcher.wait_child(pid)
    finally:
        if ours is not None:
            ours.close()
        if master >= 0:
            os.close(master)


def _exec_process(root: str, cid: str, a: Args, args: list[str]) -> dict[str, object]:
    """The exec'd process: from --process, else the container's process with the flags."""
    path = a.get("process")
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = jsoncodec.loads(f.read())
        except (OSError, ValueError) as e:
            raise InvalidArgument(f"--process {path}: {e}") from None
        if not isinstance(data, dict):
            raise InvalidArgument(f"--process {path}: expected a JSON object")
        return data
    if not args:
        raise UsageError("exec needs a command (or --process)")
    st = state.load(root, cid)
    spec = load_spec(os.path.join(st.bundle, "config.json"))
    base = dict(spec.raw.get("process") or {})
    base["args"] = args
    base["env"] = [*base.get("env", []), *a.all("env")]
    base["terminal"] = "tty" in a.bools
    base.pop("consoleSize", None)
    if a.get("cwd"):
        base["cwd"] = a.get("cwd")
    if a.get("user"):
        uid, _, gid = (a.get("user") or "").partition(":")
        try:
            base["user"] = {"uid": int(uid), "gid": int(gid) if gid else 0}
        except ValueError:
            raise InvalidArgument(f"--user {a.get('user')!r}: expected UID[:GID]") from None
    if a.all("gids"):
        user = dict(base.get("user") or {})
        user["additionalGids"] = [int(g) for g in a.all("gids")]
        base["user"] = user
    if a.all("cap"):
        caps = dict(base.get("capabilities") or {})
        for key in ("bounding", "effective", "permitted", "ambient"):
            caps[key] = [*caps.get(key, []), *a.all("cap")]
        base["capabilities"] = caps
    if "nnp" in a.bools:
        base["noNewPrivileges"] = True
    return base


def cmd_spec(root: str, argv: list[str]) -> int:
    import json

    from dockyard.runtime.specgen import default_spec

    a = parse_flags(argv, {"bundle": "bundle", "b": "bundle"}, {"rootless": "rootless"})
    if "rootless" in a.bools:
        raise InvalidArgument("rootless specs are not supported")
    path = os.path.join(a.get("bundle", ".") or ".", "config.json")
    if os.path.exists(path):
        raise InvalidArgument(f"{path} exists; remove it first")
    with open(path, "w") as f:
        json.dump(default_spec(["sh"], terminal=True), f, indent=2)
    return 0


COMMANDS: dict[str, Callable[[str, list[str]], int]] = {
    "create": cmd_create, "start": cmd_start, "run": cmd_run, "state": cmd_state,
    "kill": cmd_kill, "delete": cmd_delete, "list": cmd_list, "exec": cmd_exec,
    "pause": cmd_pause, "resume": cmd_resume, "ps": cmd_ps, "spec": cmd_spec,
}

_GLOBAL_VALUES = {"root": "root", "log": "log", "log-format": "log-format",
                  "criu": "criu", "rootless": "rootless"}
_GLOBAL_SWITCHES = {"debug": "debug", "systemd-cgroup": "systemd-cgroup", "help": "help",
                    "h": "help", "version": "version", "v": "version"}


def _log_error(path: str | None, fmt: str | None, msg: str) -> None:
    if not path:
        return
    if fmt == "json":
        import json  # errors only: not on the start path

        line = json.dumps({"level": "error", "msg": msg, "time": state.rfc3339_now()})
    else:
        line = f"level=error msg={msg!r}"
    try:
        with open(path, "a") as f:
            f.write(line + "\n")
    except OSError:
        pass  # the message is on stderr anyway


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log = fmt = None
    try:
        g = parse_flags(argv, _GLOBAL_VALUES, _GLOBAL_SWITCHES, stop_at_first_positional=True)
        log, fmt = g.get("log"), g.get("log-format")
        if "version" in g.bools:
            from dockyard import __version__

            print(f"dockyard-runtime version {__version__}\nspec: 1.0.2")
            return 0
        if "help" in g.bools or not g.positional:
            sys.stdout.write(USAGE)
            return 0 if "help" in g.bools else 2
        if "systemd-cgroup" in g.bools:
            raise InvalidArgument("--systemd-cgroup is not supported: no systemd here")
        cmd, rest = g.positional[0], g.positional[1:]
        if cmd not in COMMANDS:
            raise UsageError(f"unknown command {cmd!r}")
        root = g.get("root", state.DEFAULT_ROOT) or state.DEFAULT_ROOT
        return COMMANDS[cmd](os.path.abspath(root), rest)
    except UsageError as e:
        sys.stderr.write(f"dockyard-runtime: {e}\n(see dockyard-runtime --help)\n")
        return 2
    except (DockyardError, OSError) as e:
        msg = str(e)
        sys.stderr.write(f"dockyard-runtime: {msg}\n")
        _log_error(log, fmt, msg)
        return 1


def run() -> NoReturn:
    """The command's process: ``main()``, then exit at once with its status.

    The interpreter's teardown (clearing every module, a last garbage collection) costs
    ~10 ms here, a fifth of ``runc run``: nothing needs it, since every file is closed by
    its ``with``, no thread runs and no ``atexit`` handler is ours. What it would still do
    is done here: flush stdout and stderr (a failed flush exits 120, as Python does).
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120
    os._exit(code)


if __name__ == "__main__":
    run()
