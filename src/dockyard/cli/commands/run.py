"""``run`` and ``create``.

``run`` follows the docker CLI's ``runContainer``: create (pulling the image first when
it is missing and ``--pull`` allows), then unless ``-d``: hijack the attach, register
the wait (``condition=removed`` with ``--rm``, whose removal the daemon does:
``AutoRemove``, else ``next-exit``), start, resize, copy; the container's exit status is
the CLI's. A failing start is 127 when the command was not found, 126 when it could not
be executed, 125 otherwise; any other daemon error of ``run`` is 125 (``create``: 1).
"""

from __future__ import annotations

import os

from dockyard.cli.args import Options, Spec
from dockyard.cli.commands.attach import Session, check_input_tty, wait_status
from dockyard.cli.commands.containers import cpath
from dockyard.cli.commands.interactive import DETACHED, terminal_size
from dockyard.cli.commands.runopts import create_request, run_flags
from dockyard.cli.context import PROG, Context, StatusError, error_text
from dockyard.client.errors import APIError
from dockyard.client.http import Client
from dockyard.errors import DockyardError

RUN = Spec(f"{PROG} run", f"{PROG} run [OPTIONS] IMAGE [COMMAND] [ARG...]",
           "Create and run a new container from an image", run_flags(run=True),
           min_args=1, interspersed=False,
           aliases=[f"{PROG} container run", f"{PROG} run"])
CREATE = Spec(f"{PROG} create", f"{PROG} create [OPTIONS] IMAGE [COMMAND] [ARG...]",
              "Create a new container", run_flags(run=False), min_args=1, interspersed=False,
              aliases=[f"{PROG} container create", f"{PROG} create"])


def _run_error(message: str, status: int = 125, cmd: str = "run") -> StatusError:
    return StatusError(f"{PROG}: {message}\n\nRun '{PROG} {cmd} --help' for more "
                       "information", status)


def _request(ctx: Context, opts: Options, *, cmd: str, detach: bool = False,
             console: tuple[int, int] | None = None) -> tuple[dict[str, str],
                                                               dict[str, object]]:
    """The create request, its errors as the docker CLI prints them (status 125 with
    the command's help hint; a status 1 error plain)."""
    if opts.text("pull", "missing") not in ("always", "missing", "never"):
        raise _run_error(f"invalid pull option: '{opts.text('pull')}': must be one of "
                         '"always", "missing" or "never"', cmd=cmd)
    try:
        return create_request(opts, environ=ctx.environ, cwd=os.getcwd(), detach=detach,
                              console_size=console)
    except StatusError as exc:
        if exc.status != 125:
            raise
        raise _run_error(exc.message, exc.status, cmd) from None


def start_error_status(message: str) -> int:
    """The docker CLI's ``runStartContainerErr``: 127 when the command was not found,
    126 when it could not be executed, else 125."""
    if any(s in message for s in ("executable file not found", "no such file or directory",
                                  "system cannot find the file specified")):
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def run(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(RUN, argv)
    detach = opts.flag("detach")
    tty = opts.flag("tty")
    interactive = opts.flag("interactive")
    if not detach:
        check_input_tty(tty, interactive)
    console = terminal_size(1) if tty else None
    query, body = _request(ctx, opts, cmd="run", detach=detach, console=console)
    client = ctx.client()
    try:
        cid = create_container(ctx, client, query, body, pull=opts.text("pull", "missing"),
                               quiet=opts.flag("quiet"), cidfile=opts.text("cidfile"))
    except DockyardError as exc:
        raise _run_error(error_text(exc)) from None
    host_config = body["HostConfig"]
    auto_remove = isinstance(host_config, dict) and bool(host_config.get("AutoRemove"))
    if detach:
        _start(client, cid)
        ctx.out.write(cid + "\n")
        return 0
    session = Session(client, cid, tty=tty, stdin=bool(body["AttachStdin"]),
                      stdout=bool(body["AttachStdout"]), stderr=bool(body["AttachStderr"]),
                      keys_spec=opts.text("detach-keys"), sig_proxy=opts.flag("sig-proxy"))
    try:
        conn = session.hijack()
        waiter = client.post(cpath(cid, "wait"),
                             {"condition": "removed" if auto_remove else "next-exit"})
    except DockyardError as exc:
        raise _run_error(error_text(exc)) from None
    try:
        try:
            _start(client, cid)
        except BaseException:
            conn.close()
            raise
        if session.run(conn) == DETACHED:
            return 0
        try:
            return wait_status(waiter)
        except DockyardError as exc:
            raise _run_error(error_text(exc)) from None
    finally:
        waiter.close()


def _start(client: Client, cid: str) -> None:
    try:
        client.post(cpath(cid, "start")).close()
    except DockyardError as exc:
        text = error_text(exc)
        raise _run_error(text, start_error_status(text)) from None


def create(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(CREATE, argv)
    console = terminal_size(1) if opts.flag("tty") else None
    query, body = _request(ctx, opts, cmd="create", console=console)
    cid = create_container(ctx, ctx.client(), query, body,
                           pull=opts.text("pull", "missing"), quiet=opts.flag("quiet"),
                           cidfile=opts.text("cidfile"))
    ctx.out.write(cid + "\n")
    return 0


def create_container(ctx: Context, client: Client, query: dict[str, str],
                     body: dict[str, object], *, pull: str, quiet: bool,
                     cidfile: str) -> str:
    """``POST /containers/create``; the image is pulled first with ``--pull always``, or
    after a "No such image" with ``--pull missing``. The ID, written to ``cidfile`` too;
    the daemon's warnings on stderr."""
    if pull not in ("always", "missing", "never"):
        raise StatusError(f'invalid pull option: \'{pull}\': must be one of "always", '
                          '"missing" or "never"', 125)
    if cidfile and os.path.exists(cidfile):
        raise StatusError(f"container ID file found, make sure the other container isn't "
                          f"running or delete {cidfile}", 125)
    image = str(body["Image"])
    if pull == "always":
        pull_image(ctx, client, image, quiet=quiet, platform=query.get("platform", ""))
    try:
        created = client.post("/containers/create", query, body=body).json()
    except APIError as exc:
        if exc.status != 404 or "No such image" not in exc.message or pull != "missing":
            raise
        ctx.err.write(f"Unable to find image '{_display_ref(image)}' locally\n")
        ctx.err.flush()
        pull_image(ctx, client, image, quiet=quiet, platform=query.get("platform", ""))
        created = client.post("/containers/create", query, body=body).json()
    for warning in created.get("Warnings") or []:
        ctx.err.write(f"WARNING: {warning}\n")
    cid = str(created["Id"])
    if cidfile:
        with open(cidfile, "w") as f:
            f.write(cid)
    return cid


def _display_ref(image: str) -> str:
    """``busybox`` → ``busybox:latest`` as the docker CLI shows it."""
    last = image.rsplit("/", 1)[-1]
    return image if "@" in image or ":" in last else f"{image}:latest"


def pull_image(ctx: Context, client: Client, image: str, *, quiet: bool,
               platform: str = "") -> None:
    """Pull ``image`` with ``dockyard pull``'s code (credentials, progress display, as
    ``docker run`` shows it), its output on stderr as the docker CLI's ``run`` writes it."""
    from dockyard.cli.commands.distribution import pull_image as pull

    sub = Context(ctx.host, debug=ctx.debug, log_level=ctx.log_level, environ=ctx.environ,
                  stdin=ctx.stdin, stdout=ctx.err, stderr=ctx.err)
    sub.use_client(client)
    pull(sub, image, quiet=quiet, platform=platform)
