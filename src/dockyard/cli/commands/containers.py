"""The container lifecycle commands: ``start stop kill restart rm pause unpause rename
wait top port`` and ``container prune``, each one request per container the way the
docker CLI sends it, with its output (the names as given, exit codes, tables) and its
error handling (every container tried, the errors printed together, status 1).
"""

from __future__ import annotations

from dockyard.cli.args import BOOL, INT, LIST, STRING, Flag, Spec
from dockyard.cli.context import PROG, Context, StatusError
from dockyard.cli.filters import check_filter
from dockyard.client.http import quote

P = PROG


def cpath(name: str, action: str = "") -> str:
    """``/containers/<name>[/action]`` with the name quoted for the URL."""
    return f"/containers/{quote(name)}" + (f"/{action}" if action else "")


# ---------------------------------------------------------------------- start

START = Spec(f"{P} start", f"{P} start [OPTIONS] CONTAINER [CONTAINER...]",
             "Start one or more stopped containers", [
                 Flag("attach", BOOL, "Attach STDOUT/STDERR and forward signals", short="a"),
                 Flag("detach-keys", STRING, "Override the key sequence for detaching a "
                      "container"),
                 Flag("interactive", BOOL, "Attach container's STDIN", short="i"),
             ], min_args=1, aliases=[f"{P} container start", f"{P} start"])


def start(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(START, argv)
    if opts.flag("attach") or opts.flag("interactive"):
        if len(opts.args) > 1:
            raise StatusError("you cannot start and attach multiple containers at once", 1)
        from dockyard.cli.commands.attach import start_attached

        return start_attached(ctx, opts.args[0], stdin=opts.flag("interactive"),
                              detach_keys=opts.text("detach-keys"))
    client = ctx.client()
    return ctx.each(opts.args, lambda name: client.post(cpath(name, "start")).close(),
                    summary="Error: failed to start containers")


# ---------------------------------------------------------------------- stop, restart, kill

def _stop_flags() -> list[Flag]:
    return [
        Flag("signal", STRING, "Signal to send to the container", short="s"),
        Flag("time", INT, "Seconds to wait before killing the container", short="t"),
        Flag("timeout", INT, "", hidden=True),
    ]


STOP = Spec(f"{P} stop", f"{P} stop [OPTIONS] CONTAINER [CONTAINER...]",
            "Stop one or more running containers", _stop_flags(), min_args=1,
            aliases=[f"{P} container stop", f"{P} stop"])
RESTART = Spec(f"{P} restart", f"{P} restart [OPTIONS] CONTAINER [CONTAINER...]",
               "Restart one or more containers", _stop_flags(), min_args=1,
               aliases=[f"{P} container restart", f"{P} restart"])


def _stop_query(opts_spec: Spec, ctx: Context, argv: list[str]) -> tuple[list[str],
                                                                          dict[str, str]]:
    opts = ctx.parse(opts_spec, argv)
    query: dict[str, str] = {}
    if opts.text("signal"):
        query["signal"] = opts.text("signal")
    if opts.given("time") or opts.given("timeout"):
        query["t"] = str(opts.number("time") if opts.given("time")
                         else opts.number("timeout"))
    return opts.args, query


def stop(ctx: Context, argv: list[str]) -> int:
    names, query = _stop_query(STOP, ctx, argv)
    client = ctx.client()
    return ctx.each(names, lambda n: client.post(cpath(n, "stop"), query).close())


def restart(ctx: Context, argv: list[str]) -> int:
    names, query = _stop_query(RESTART, ctx, argv)
    client = ctx.client()
    return ctx.each(names, lambda n: client.post(cpath(n, "restart"), query).close())


KILL = Spec(f"{P} kill", f"{P} kill [OPTIONS] CONTAINER [CONTAINER...]",
            "Kill one or more running containers", [
                Flag("signal", STRING, "Signal to send to the container", short="s"),
            ], min_args=1, aliases=[f"{P} container kill", f"{P} kill"])


def kill(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(KILL, argv)
    query = {"signal": opts.text("signal")} if opts.text("signal") else {}
    client = ctx.client()
    return ctx.each(opts.args, lambda n: client.post(cpath(n, "kill"), query).close())


# ---------------------------------------------------------------------- rm

RM = Spec(f"{P} rm", f"{P} rm [OPTIONS] CONTAINER [CONTAINER...]",
          "Remove one or more containers", [
              Flag("force", BOOL, "Force the removal of a running container (uses SIGKILL)",
                   short="f"),
              Flag("link", BOOL, "Remove the specified link", short="l"),
              Flag("volumes", BOOL, "Remove anonymous volumes associated with the container",
                   short="v"),
          ], min_args=1, aliases=[f"{P} container rm", f"{P} container remove", f"{P} rm"])


def rm(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(RM, argv)
    query = {"v": opts.flag("volumes"), "force": opts.flag("force"),
             "link": opts.flag("link")}
    client = ctx.client()
    names = [n.strip("/") for n in opts.args]
    if any(not n for n in names):
        raise StatusError("Error: container name cannot be empty", 1)
    from dockyard.cli.context import error_text
    from dockyard.client.errors import APIError

    def remove(name: str) -> bool:
        try:
            client.delete(cpath(name), query).close()
        except APIError as exc:
            if not (opts.flag("force") and exc.status == 404):
                raise
            # -f: a container that is not there is reported, not a failure (docker).
            ctx.out.flush()
            ctx.warn(error_text(exc))
            return False
        return True

    return ctx.each(names, remove)


# ---------------------------------------------------------------------- pause, unpause

PAUSE = Spec(f"{P} pause", f"{P} pause CONTAINER [CONTAINER...]",
             "Pause all processes within one or more containers", min_args=1,
             aliases=[f"{P} container pause", f"{P} pause"])
UNPAUSE = Spec(f"{P} unpause", f"{P} unpause CONTAINER [CONTAINER...]",
               "Unpause all processes within one or more containers", min_args=1,
               aliases=[f"{P} container unpause", f"{P} unpause"])


def pause(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(PAUSE, argv)
    client = ctx.client()
    return ctx.each(opts.args, lambda n: client.post(cpath(n, "pause")).close())


def unpause(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(UNPAUSE, argv)
    client = ctx.client()
    return ctx.each(opts.args, lambda n: client.post(cpath(n, "unpause")).close())


# ---------------------------------------------------------------------- rename, wait

RENAME = Spec(f"{P} rename", f"{P} rename CONTAINER NEW_NAME", "Rename a container",
              min_args=2, max_args=2, aliases=[f"{P} container rename", f"{P} rename"])


def rename(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(RENAME, argv)
    old, new = opts.args[0].strip(), opts.args[1].strip()
    if not old or not new:
        raise StatusError("Error: neither old nor new names may be empty", 1)
    from dockyard.cli.context import error_text
    from dockyard.errors import DockyardError

    try:
        ctx.client().post(cpath(old, "rename"), {"name": new}).close()
    except DockyardError as exc:
        raise StatusError(f"{error_text(exc)}\nError: failed to rename container named "
                          f"{old}", 1) from None
    return 0


WAIT = Spec(f"{P} wait", f"{P} wait CONTAINER [CONTAINER...]",
            "Block until one or more containers stop, then print their exit codes",
            min_args=1, aliases=[f"{P} container wait", f"{P} wait"])


def wait(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(WAIT, argv)
    client = ctx.client()

    def one(name: str) -> None:
        body = client.post(cpath(name, "wait")).json()
        ctx.out.write(f"{body.get('StatusCode', 0) if isinstance(body, dict) else 0}\n")

    from dockyard.cli.context import error_text
    from dockyard.errors import DockyardError

    errors = []
    for name in opts.args:
        try:
            one(name)
        except DockyardError as exc:
            errors.append(error_text(exc))
    if errors:
        raise StatusError("\n".join(errors), 1)
    return 0


# ---------------------------------------------------------------------- top

TOP = Spec(f"{P} top", f"{P} top CONTAINER [ps OPTIONS]",
           "Display the running processes of a container", min_args=1, interspersed=False,
           aliases=[f"{P} container top", f"{P} top"])


def top(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(TOP, argv)
    name, *ps_args = opts.args
    query = {"ps_args": " ".join(ps_args)} if ps_args else {}
    body = ctx.client().get(cpath(name, "top"), query).json()
    from dockyard.cli.format.table import TabWriter

    rows = [list(map(str, body.get("Titles") or []))]
    rows += [list(map(str, p)) for p in body.get("Processes") or []]
    # The docker CLI's tabwriter for top: minwidth 20, tabwidth 1, padding 3.
    writer = TabWriter(minwidth=20, tabwidth=1, padding=3)
    for row in rows:
        writer.write("\t".join(row) + "\n")
    ctx.out.write(writer.getvalue())
    return 0


# ---------------------------------------------------------------------- port

PORT = Spec(f"{P} port", f"{P} port CONTAINER [PRIVATE_PORT[/PROTO]]",
            "List port mappings or a specific mapping for the container", min_args=1,
            max_args=2, aliases=[f"{P} container port", f"{P} port"])


def port(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(PORT, argv)
    body = ctx.client().get(cpath(opts.args[0], "json")).json()
    ports = ((body.get("NetworkSettings") or {}).get("Ports") or {}) if isinstance(
        body, dict) else {}
    if len(opts.args) == 2:
        want = opts.args[1]
        port_s, _, proto = want.partition("/")
        key = f"{port_s}/{proto or 'tcp'}"
        bindings = ports.get(key)
        if not bindings:
            raise StatusError(f"Error: No public port '{want}' published for "
                              f"{opts.args[0]}", 1)
        for b in bindings:
            ctx.out.write(f"{_host_port(b)}\n")
        return 0
    for key in sorted(ports, key=_port_key):
        for b in ports[key] or []:
            ctx.out.write(f"{key} -> {_host_port(b)}\n")
    return 0


def _host_port(binding: dict[str, str]) -> str:
    ip = binding.get("HostIp") or "0.0.0.0"
    if ":" in ip:
        ip = f"[{ip}]"
    return f"{ip}:{binding.get('HostPort', '')}"


def _port_key(key: str) -> tuple[int, str]:
    num, _, proto = key.partition("/")
    return (int(num) if num.isdigit() else 0, proto)


# ---------------------------------------------------------------------- container prune

PRUNE = Spec(f"{P} container prune", f"{P} container prune [OPTIONS]",
             "Remove all stopped containers", [
                 Flag("filter", LIST, 'Provide filter values (e.g. "until=<timestamp>")',
                      metavar="filter", convert=check_filter),
                 Flag("force", BOOL, "Do not prompt for confirmation", short="f"),
             ], max_args=0)


def prune(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(PRUNE, argv)
    if not opts.flag("force") and not confirm(
            ctx, "WARNING! This will remove all stopped containers.\n"
                 "Are you sure you want to continue?"):
        return 0
    from dockyard.cli.filters import filters_query

    body = ctx.client().post("/containers/prune",
                             filters_query(opts.values("filter"))).json() or {}
    deleted = body.get("ContainersDeleted") or []
    from dockyard.cli.format.human import human_size

    if deleted:
        ctx.out.write("Deleted Containers:\n" + "".join(f"{c}\n" for c in deleted) + "\n")
    ctx.out.write(f"Total reclaimed space: {human_size(body.get('SpaceReclaimed') or 0)}\n")
    return 0


def confirm(ctx: Context, question: str) -> bool:
    """Docker's ``[y/N]`` prompt on stdin (no answer, or stdin closed, is no)."""
    ctx.out.write(f"{question} [y/N] ")
    ctx.out.flush()
    answer = ctx.stdin.readline()
    return answer.strip().lower() in ("y", "yes")
