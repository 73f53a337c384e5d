"""``exec``: a new process in a running container.

The docker CLI's sequence: ``POST /containers/{id}/exec`` (the process's config), then
``POST /exec/{id}/start`` either detached (a plain request) or hijacked for the copy
(:mod:`.interactive`), a resize after the start when there is a terminal, and at the end
``GET /exec/{id}/json`` for the exit code, which becomes the CLI's (126/127 when the
command could not be run, as the daemon records them).
"""

from __future__ import annotations

from dockyard.cli.args import BOOL, LIST, STRING, Flag, Spec
from dockyard.cli.commands.attach import check_input_tty
from dockyard.cli.commands.containers import cpath
from dockyard.cli.commands.interactive import DETACHED, detach_keys, session, terminal_size
from dockyard.cli.commands.runopts import env_list, read_kv_file
from dockyard.cli.context import PROG, Context, StatusError
from dockyard.client.http import quote

EXEC = Spec(f"{PROG} exec", f"{PROG} exec [OPTIONS] CONTAINER COMMAND [ARG...]",
            "Execute a command in a running container", [
                Flag("detach", BOOL, "Detached mode: run command in the background",
                     short="d"),
                Flag("detach-keys", STRING, "Override the key sequence for detaching a "
                     "container"),
                Flag("env", LIST, "Set environment variables", short="e"),
                Flag("env-file", LIST, "Read in a file of environment variables"),
                Flag("interactive", BOOL, "Keep STDIN open even if not attached", short="i"),
                Flag("privileged", BOOL, "Give extended privileges to the command"),
                Flag("tty", BOOL, "Allocate a pseudo-TTY", short="t"),
                Flag("user", STRING, "Username or UID (format: \"<name|uid>[:<group|gid>]\")",
                     short="u"),
                Flag("workdir", STRING, "Working directory inside the container", short="w"),
            ], min_args=2, interspersed=False,
            aliases=[f"{PROG} container exec", f"{PROG} exec"])


def exec_(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(EXEC, argv)
    name, *cmd = opts.args
    detach = opts.flag("detach")
    tty = opts.flag("tty")
    stdin = opts.flag("interactive") and not detach
    if not detach:
        check_input_tty(tty, stdin)
    env_values: list[str] = []
    for path in opts.values("env-file"):
        env_values += read_kv_file(path, "env")
    env_values += opts.values("env")
    console = terminal_size(1) if tty else None
    config: dict[str, object] = {
        "User": opts.text("user"),
        "Privileged": opts.flag("privileged"),
        "Tty": tty,
        "AttachStdin": stdin,
        "AttachStdout": not detach,
        "AttachStderr": not detach,
        "DetachKeys": opts.text("detach-keys"),
        "Env": env_list(env_values, ctx.environ),
        "WorkingDir": opts.text("workdir"),
        "Cmd": cmd,
    }
    if console is not None:
        config["ConsoleSize"] = list(console)
    client = ctx.client()
    created = client.post(cpath(name, "exec"), body=config).json()
    exec_id = str(created["Id"])
    start_path = f"/exec/{quote(exec_id)}/start"
    start_body: dict[str, object] = {"Detach": detach, "Tty": tty}
    if console is not None:
        start_body["ConsoleSize"] = list(console)
    if detach:
        client.post(start_path, body=start_body).close()
        return 0
    keys = detach_keys(opts.text("detach-keys"))
    conn = client.hijack("POST", start_path, body=start_body)

    def resize(rows: int, cols: int) -> None:
        client.post(f"/exec/{quote(exec_id)}/resize", {"h": rows, "w": cols}).close()

    outcome = session(conn, stdin=stdin, tty=tty, keys=keys, resize=resize)
    if outcome == DETACHED:
        raise StatusError("read escape sequence", 1)  # as docker exec reports it
    info = client.get(f"/exec/{quote(exec_id)}/json").json()
    code = info.get("ExitCode") if isinstance(info, dict) else None
    if code is None and isinstance(info, dict) and info.get("Running"):
        raise StatusError("", 0)
    return code if isinstance(code, int) else 0
