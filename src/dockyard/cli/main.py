"""``dockyard``: the global flags and the lazy command table.

Start-up time is a goal (``dockyard ps`` under 80 ms end to end), so this module imports
almost nothing: the table maps each command to a ``"module:function"`` string and the
module is imported only when its command runs (``dockyard ps`` never loads the image
commands, the registry or ``asyncio``). The launcher installed by
``scripts/bootstrap.sh`` (:mod:`dockyard.cli.launcher`) runs this with ``python -I -S``
so the interpreter skips the site scan as well.

Docker's spellings: every top-level command (``ps``, ``rm``, ``images``, ...) and its
management-command twin (``container ls``, ``container rm``, ``image ls``, ``system
df``) point at the same function. A command is ``def cmd(ctx, argv) -> int`` (see
:mod:`dockyard.cli.context`). Exit statuses follow the docker CLI: the container's for
``run``/``attach``/``start -a``, 125 for flag errors and for ``run``/``create`` failing,
1 for other errors.
"""

from __future__ import annotations

import os
import sys

from dockyard.cli.context import PROG, Context, StatusError, error_text

C = "dockyard.cli.commands."

# name → ("module:function", one-line description). Commands of other helpers (images,
# system, events: E; distribution: G) are listed here too; their modules plug in by name.
COMMANDS: dict[str, tuple[str, str]] = {
    # containers
    "run": (C + "run:run", "Create and run a new container from an image"),
    "create": (C + "run:create", "Create a new container"),
    "start": (C + "containers:start", "Start one or more stopped containers"),
    "stop": (C + "containers:stop", "Stop one or more running containers"),
    "kill": (C + "containers:kill", "Kill one or more running containers"),
    "restart": (C + "containers:restart", "Restart one or more containers"),
    "rm": (C + "containers:rm", "Remove one or more containers"),
    "ps": (C + "listing:ps", "List containers"),
    "logs": (C + "logs:logs", "Fetch the logs of a container"),
    "exec": (C + "execs:exec_", "Execute a command in a running container"),
    "attach": (C + "attach:attach",
               "Attach local standard input, output, and error streams to a running container"),
    "inspect": (C + "inspect:inspect", "Return low-level information on Docker objects"),
    "top": (C + "containers:top", "Display the running processes of a container"),
    "stats": (C + "stats:stats", "Display a live stream of container(s) resource usage "
              "statistics"),
    "pause": (C + "containers:pause", "Pause all processes within one or more containers"),
    "unpause": (C + "containers:unpause",
                "Unpause all processes within one or more containers"),
    "rename": (C + "containers:rename", "Rename a container"),
    "wait": (C + "containers:wait",
             "Block until one or more containers stop, then print their exit codes"),
    "port": (C + "containers:port",
             "List port mappings or a specific mapping for the container"),
    "cp": (C + "cp:cp", "Copy files/folders between a container and the local filesystem"),
    "diff": (C + "changes:diff",
             "Inspect changes to files or directories on a container's filesystem"),
    "commit": (C + "changes:commit", "Create a new image from a container's changes"),
    "export": (C + "changes:export", "Export a container's filesystem as a tar archive"),
    "update": (C + "update:update", "Update configuration of one or more containers"),
    # images (helper E)
    "images": (C + "images:images", "List images"),
    "rmi": (C + "images:rmi", "Remove one or more images"),
    "tag": (C + "images:tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "history": (C + "images:history", "Show the history of an image"),
    "import": (C + "images:import_", "Import the contents from a tarball to create a "
               "filesystem image"),
    "save": (C + "images:save", "Save one or more images to a tar archive (streamed to "
             "STDOUT by default)"),
    "load": (C + "images:load", "Load an image from a tar archive or STDIN"),
    # system (helper E)
    "version": (C + "system:version", "Show the Docker version information"),
    "info": (C + "system:info", "Display system-wide information"),
    "events": (C + "events:events", "Get real time events from the server"),
    # distribution (helper G)
    "pull": (C + "distribution:pull", "Download an image from a registry"),
    "push": (C + "distribution:push", "Upload an image to a registry"),
    "login": (C + "distribution:login", "Log in to a registry"),
    "logout": (C + "distribution:logout", "Log out from a registry"),
    # dockyard's own
    "completion": (C + "completion:completion", "Print a shell completion script "
                   "(bash or zsh)"),
    "registry": ("dockyard.cli.main:registry", "The OCI Distribution registry "
                 "(serve, gc, htpasswd)"),
}

# Management commands: group → {verb: top-level command or "module:function"}.
GROUPS: dict[str, tuple[str, dict[str, str]]] = {
    "container": ("Manage containers", {
        "ls": "ps", "list": "ps", "ps": "ps", "rm": "rm", "remove": "rm",
        "run": "run", "create": "create", "start": "start", "stop": "stop", "kill": "kill",
        "restart": "restart", "logs": "logs", "exec": "exec", "attach": "attach",
        "inspect": C + "inspect:container_inspect", "top": "top", "stats": "stats",
        "pause": "pause", "unpause": "unpause", "rename": "rename", "wait": "wait",
        "port": "port", "cp": "cp", "diff": "diff", "commit": "commit",
        "export": "export", "update": "update",
        "prune": C + "containers:prune",
    }),
    "image": ("Manage images", {
        "ls": "images", "list": "images", "rm": "rmi", "remove": "rmi", "tag": "tag",
        "history": "history", "import": "import", "save": "save", "load": "load",
        "inspect": C + "images:image_inspect", "prune": C + "images:image_prune",
        "base": C + "images:image_base",
        "pull": "pull", "push": "push",
    }),
    "system": ("Manage Docker", {
        "df": C + "system:system_df", "prune": C + "system:system_prune",
        "info": "info", "events": "events",
    }),
    "manifest": ("Manage Docker image manifests and manifest lists", {
        "inspect": C + "manifest:inspect",
    }),
}

GLOBAL_HELP = """
Usage:  dockyard [OPTIONS] COMMAND

A Docker-compatible container platform (talks to dockyardd)

{sections}
Global Options:
  -D, --debug              Enable debug mode
  -H, --host string        Daemon socket to connect to (default
                           DOCKYARD_HOST, DOCKER_HOST, then
                           unix:///run/dockyard.sock)
  -l, --log-level string   Set the logging level ("debug", "info", "warn",
                           "error", "fatal") (default "info")
  -v, --version            Print version information and quit

Run 'dockyard COMMAND --help' for more information on a command.
"""


def _help() -> str:
    width = 12
    cmds = "\n".join(f"  {name.ljust(width)}{desc}" for name, (_, desc) in COMMANDS.items())
    groups = "\n".join(f"  {name.ljust(width)}{desc}" for name, (desc, _) in GROUPS.items())
    return GLOBAL_HELP.format(sections=f"Management Commands:\n{groups}\n\nCommands:\n{cmds}\n")


# One-line descriptions of the verbs that name a function directly (not a command).
VERB_HELP: dict[str, str] = {
    C + "inspect:container_inspect": "Display detailed information on one or more containers",
    C + "containers:prune": "Remove all stopped containers",
    C + "images:image_inspect": "Display detailed information on one or more images",
    C + "images:image_prune": "Remove unused images",
    C + "images:image_base": "Make a base image (busybox, debian) without a registry",
    C + "system:system_df": "Show docker disk usage",
    C + "system:system_prune": "Remove unused data",
    C + "manifest:inspect": "Display an image manifest, or manifest list",
}


def _group_help(group: str) -> str:
    """The group's verbs, each target once (its aliases hidden, as docker lists them)."""
    desc, verbs = GROUPS[group]
    lines = [f"\nUsage:  {PROG} {group} COMMAND\n", desc, "", "Commands:"]
    seen: set[str] = set()
    for verb, target in verbs.items():
        if target in seen:
            continue
        seen.add(target)
        text = COMMANDS[target][1] if target in COMMANDS else VERB_HELP.get(target, "")
        lines.append(f"  {verb.ljust(10)}{text}".rstrip())
    lines += ["", f"Run '{PROG} {group} COMMAND --help' for more information on a command.", ""]
    return "\n".join(lines)


def registry(ctx: Context, argv: list[str]) -> int:
    """``dockyard registry ...``: the registry's own CLI (issue 7)."""
    from dockyard.registry.cli import main as registry_main

    return registry_main(argv)


def _resolve(argv: list[str]) -> tuple[str, str, list[str]] | None:
    """``(display name, "module:function", the command's argv)`` for a command line
    without the global flags; None when it names no command."""
    name = argv[0]
    if name in GROUPS:
        verbs = GROUPS[name][1]
        if len(argv) < 2 or argv[1] not in verbs:
            return None
        target = verbs[argv[1]]
        ref = COMMANDS[target][0] if target in COMMANDS else target
        return f"{name} {argv[1]}", ref, argv[2:]
    if name in COMMANDS:
        return name, COMMANDS[name][0], argv[1:]
    return None


def _load(ref: str) -> object:
    module_name, _, func = ref.partition(":")
    try:
        module = __import__(module_name, fromlist=[func])
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise StatusError(f"{PROG}: this command is not available in this build "
                          f"({module_name} is missing)", 1) from None
    return getattr(module, func)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    host: str | None = None
    debug = False
    log_level = "info"
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        flag, eq, inline = args[i].partition("=")
        i += 1
        if flag in ("-H", "--host", "-l", "--log-level", "--config", "-c", "--context"):
            if eq:
                value = inline
            elif i < len(args):
                value = args[i]
                i += 1
            else:
                sys.stderr.write(f"flag needs an argument: {flag}\n\n"
                                 f"Run '{PROG} --help' for more information\n")
                return 125
            if flag in ("-H", "--host"):
                host = value
            elif flag in ("-l", "--log-level"):
                log_level = value
        elif flag in ("-D", "--debug"):
            debug = True
        elif flag in ("-v", "--version"):
            from dockyard import __version__ as dy_version

            sys.stdout.write(f"Dockyard version {dy_version}\n")
            return 0
        elif flag in ("-h", "--help"):
            sys.stdout.write(_help())
            return 0
        else:
            sys.stderr.write(f"unknown flag: {flag}\n\nRun '{PROG} --help' for more "
                             "information\n")
            return 125
    args = args[i:]
    if args[:1] == ["help"] and len(args) > 1:
        args = [*args[1:], "--help"]  # `dockyard help run` is `dockyard run --help`
    if not args or args[0] == "help":
        sys.stdout.write(_help())
        return 0
    if args[0] in GROUPS and (len(args) < 2 or args[1] in ("-h", "--help", "help")):
        sys.stdout.write(_group_help(args[0]))
        return 0
    found = _resolve(args)
    if found is None:
        shown = " ".join(args[:2]) if args[0] in GROUPS else args[0]
        sys.stderr.write(f"{PROG}: unknown command: {PROG} {shown}\n\n"
                         f"Run '{PROG} --help' for more information\n")
        return 1
    name, ref, rest = found
    return run_command(name, ref, rest, host=host, debug=debug, log_level=log_level)


def run_command(name: str, ref: str, argv: list[str], *, host: str | None, debug: bool,
                log_level: str) -> int:
    """Import and run one command, turning its errors into the docker CLI's output and
    exit statuses."""
    from dockyard.cli.args import UsageError
    from dockyard.errors import DockyardError

    try:
        from dockyard.client.hosts import resolve_host

        ctx = Context(resolve_host(host, os.environ), debug=debug, log_level=log_level,
                      environ=os.environ)
        func = _load(ref)
        if not callable(func):
            raise TypeError(f"{ref} is not a command")
        status = func(ctx, argv)
        return int(status or 0)
    except StatusError as exc:
        _flush_stdout()
        if exc.message:
            sys.stderr.write(exc.message if exc.message.endswith("\n") else exc.message + "\n")
        return exc.status
    except UsageError as exc:
        _flush_stdout()
        text = exc.spec.usage_error(exc) if exc.spec is not None else exc.message + "\n"
        sys.stderr.write(text)
        return exc.status
    except DockyardError as exc:
        _flush_stdout()
        sys.stderr.write(error_text(exc) + "\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `dockyard ps | head`: the reader went away; quiet, as Go programs are.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 141


def _flush_stdout() -> None:
    """What a command printed comes before its error, as with the docker CLI's
    unbuffered writes (stdout is block-buffered when it is a file or a pipe)."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
