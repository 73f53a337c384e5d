"""``inspect`` (any object: a container, else an image) and ``container inspect``.

The output is the docker CLI's ``inspect.Inspect``: an indented JSON array of what was
found, or ``-f`` rendered once per object; the names not found are reported after it
(``Error: No such object: x``; with ``--type``, the daemon's own ``No such container``),
status 1. Rendering is shared with ``image inspect`` (``images.inspect_output``).
"""

from __future__ import annotations

from dockyard.cli.args import BOOL, STRING, Flag, Spec
from dockyard.cli.commands.containers import cpath
from dockyard.cli.context import PROG, Context, StatusError, error_text
from dockyard.client.errors import APIError
from dockyard.client.http import Client, quote
from dockyard.errors import DockyardError

TYPES = ("config", "container", "image", "network", "node", "plugin", "secret", "service",
         "task", "volume")

INSPECT = Spec(f"{PROG} inspect", f"{PROG} inspect [OPTIONS] NAME|ID [NAME|ID...]",
               "Return low-level information on Docker objects", [
                   Flag("format", STRING, "Format output using a custom template", short="f"),
                   Flag("size", BOOL, "Display total file sizes if the type is container",
                        short="s"),
                   Flag("type", STRING, "Only inspect objects of the given type"),
               ], min_args=1)
CONTAINER_INSPECT = Spec(f"{PROG} container inspect",
                         f"{PROG} container inspect [OPTIONS] CONTAINER [CONTAINER...]",
                         "Display detailed information on one or more containers", [
                             Flag("format", STRING, "Format output using a custom template",
                                  short="f"),
                             Flag("size", BOOL, "Display total file sizes", short="s"),
                         ], min_args=1)


def _getters(client: Client, size: bool) -> dict[str, object]:
    def container(name: str) -> object:
        return client.get(cpath(name, "json"), {"size": True} if size else None).json()

    def image(name: str) -> object:
        return client.get(f"/images/{quote(name, '/:@')}/json").json()

    def network(name: str) -> object:
        return client.get(f"/networks/{quote(name)}").json()

    def volume(name: str) -> object:
        return client.get(f"/volumes/{quote(name)}").json()

    return {"container": container, "image": image, "network": network, "volume": volume}


def _output(ctx: Context, objects: list[object], errors: list[str], fmt: str) -> int:
    from dockyard.cli.commands.images import inspect_output

    return inspect_output(ctx, objects, errors, fmt)


def inspect(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(INSPECT, argv)
    kind = opts.text("type")
    if kind and kind not in TYPES:
        raise StatusError(f'unknown type: "{kind}": must be one of '
                          + ", ".join(f'"{t}"' for t in TYPES), 1)
    getters = _getters(ctx.client(), opts.flag("size"))
    order = [kind] if kind else ["container", "image", "network", "volume"]
    objects: list[object] = []
    errors: list[str] = []
    for name in opts.args:
        found = False
        for k in order:
            get = getters.get(k)
            if get is None or not callable(get):
                continue
            try:
                objects.append(get(name))
                found = True
                break
            except APIError as exc:
                if exc.status != 404 or kind:
                    errors.append(error_text(exc))
                    found = True
                    break
        if not found:
            errors.append(f"Error: No such object: {name}")
    return _output(ctx, objects, errors, opts.text("format"))


def container_inspect(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(CONTAINER_INSPECT, argv)
    client = ctx.client()
    objects: list[object] = []
    errors: list[str] = []
    for name in opts.args:
        try:
            objects.append(client.get(cpath(name, "json"),
                                      {"size": True} if opts.flag("size") else None).json())
        except DockyardError as exc:
            errors.append(error_text(exc))
    return _output(ctx, objects, errors, opts.text("format"))
