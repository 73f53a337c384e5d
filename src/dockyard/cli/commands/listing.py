"""``ps`` (``container ls``): ``GET /containers/json`` as docker's table or ``--format``.

The row is docker's ``ContainerContext`` (``cli/command/formatter/container.go``): the
same field names, the same truncation (12-character IDs, 20-column commands, digests
dropped from image names, link names hidden) and the same human words, from
:mod:`dockyard.cli.format`. This is the command whose start-up time is a goal (under
80 ms end to end): it imports the client, the flag parser and the format package only.
"""

from __future__ import annotations

from dockyard.cli.args import BOOL, INT, LIST, STRING, Flag, Spec
from dockyard.cli.context import PROG, Context, StatusError
from dockyard.cli.filters import check_filter
from dockyard.cli.format.rows import Row

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t" \
        "{{.Ports}}\t{{.Names}}"
QUIET = "{{.ID}}"
HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
    "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Label": "LABEL",
    "Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES",
    "Platform": "PLATFORM",
}

PS = Spec(f"{PROG} ps", f"{PROG} ps [OPTIONS]", "List containers", [
    Flag("all", BOOL, "Show all containers (default shows just running)", short="a"),
    Flag("filter", LIST, "Filter output based on conditions provided", short="f",
         metavar="filter", convert=check_filter),
    Flag("format", STRING, "Format output using a custom template:\n"
         "'table':            Print output in table format with column headers (default)\n"
         "'table TEMPLATE':   Print output in table format using the given Go template\n"
         "'json':             Print in JSON format\n"
         "'TEMPLATE':         Print output using the given Go template"),
    Flag("last", INT, "Show n last created containers (includes all states)", short="n",
         default=-1),
    Flag("latest", BOOL, "Show the latest created container (includes all states)",
         short="l"),
    Flag("no-trunc", BOOL, "Don't truncate output"),
    Flag("quiet", BOOL, "Only display container IDs", short="q"),
    Flag("size", BOOL, "Display total file sizes", short="s"),
], max_args=0, aliases=[f"{PROG} container ls", f"{PROG} container list",
                        f"{PROG} container ps", f"{PROG} ps"])


def ps(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(PS, argv)
    quiet = opts.flag("quiet")
    fmt = opts.text("format")
    if fmt and quiet:
        ctx.warn("WARNING: Ignoring custom format, because both --format and --quiet "
                 "are set.")
        fmt = ""
    size = opts.flag("size")
    if fmt and not quiet and not opts.given("size") and ".Size" in fmt:
        size = True
    if not fmt or fmt == "table":
        fmt = QUIET if quiet else TABLE + ("\t{{.Size}}" if size else "")
    query: dict[str, str | bool | int] = {"all": opts.flag("all")}
    limit = 1 if opts.flag("latest") else opts.number("last", -1)
    if limit > 0:
        query["limit"] = limit
    if size:
        query["size"] = True
    if opts.values("filter"):
        from dockyard.cli.filters import filters_query

        query.update(filters_query(opts.values("filter")))
    containers = ctx.client().get("/containers/json", query).json() or []
    trunc = not opts.flag("no-trunc")
    if fmt == QUIET:
        # `ps -q` (scripts' favourite) needs no template engine: the IDs, one a line.
        ids = [str(c.get("Id", "")) for c in containers]
        ctx.out.write("".join(f"{_short(i) if trunc else i}\n" for i in ids))
        return 0
    rows = [container_row(c, trunc=trunc) for c in containers]
    from dockyard.cli.format.table import render_rows
    from dockyard.cli.format.template import TemplateError

    try:
        ctx.out.write(render_rows(fmt, rows, HEADERS))
    except TemplateError as err:
        raise StatusError(str(err), 1) from None
    return 0


def _short(ident: str) -> str:
    """``stringid.TruncateID`` (as ``format.human.truncate_id``, without its imports)."""
    return ident.partition(":")[2][:12] if ":" in ident else ident[:12]


def container_row(c: dict[str, Any], *, trunc: bool) -> Row:
    """docker's ``ContainerContext`` over one ``/containers/json`` entry."""
    from dockyard.cli.format import human

    labels: dict[str, str] = c.get("Labels") or {}

    def ident() -> str:
        cid = str(c.get("Id", ""))
        return human.truncate_id(cid) if trunc else cid

    def size() -> str:
        rw = human.human_size(c.get("SizeRw") or 0, 3)
        root = c.get("SizeRootFs") or 0
        return f"{rw} (virtual {human.human_size(root, 3)})" if root else rw

    def mounts() -> str:
        out = []
        for m in c.get("Mounts") or []:
            name = m.get("Name") or m.get("Source") or ""
            out.append(human.ellipsis(name, 15) if trunc else name)
        return ",".join(out)

    def networks() -> str:
        nets = ((c.get("NetworkSettings") or {}).get("Networks") or {})
        return ",".join(sorted(nets))

    fields: dict[str, object] = {
        "Command": lambda: human.command(str(c.get("Command", "")), trunc=trunc),
        "CreatedAt": lambda: human.go_time(c.get("Created") or 0),
        "ID": ident,
        "Image": lambda: image_name(c, trunc=trunc),
        "Labels": lambda: ",".join(f"{k}={v}" for k, v in labels.items()),
        "LocalVolumes": lambda: str(sum(1 for m in c.get("Mounts") or []
                                        if m.get("Driver") == "local")),
        "Mounts": mounts,
        "Names": lambda: names(c.get("Names") or [], trunc=trunc),
        "Networks": networks,
        "Platform": None,
        "Ports": lambda: display_ports(c.get("Ports") or []),
        "RunningFor": lambda: human.since(c.get("Created") or 0),
        "Size": size,
        "State": lambda: str(c.get("State", "")),
        "Status": lambda: str(c.get("Status", "")),
    }
    return Row(fields, {"Label": lambda name: labels.get(name, "")})


def image_name(c: dict[str, Any], *, trunc: bool) -> str:
    from dockyard.cli.format.human import truncate_id

    image = str(c.get("Image") or "")
    if not image:
        return "<no image>"
    if trunc:
        short = truncate_id(str(c.get("ImageID") or ""))
        if short and short == truncate_id(image):
            return short
        if "@" in image:
            return image.split("@", 1)[0]
    return image


def names(raw: list[str], *, trunc: bool) -> str:
    stripped = [n[1:] if n.startswith("/") else n for n in raw]
    if trunc:
        for n in stripped:
            if "/" not in n:
                return n
    return ",".join(stripped)


def display_ports(ports: list[dict[str, Any]]) -> str:
    """docker's ``DisplayablePorts`` (without its grouping of port ranges)."""
    out = []
    for p in sorted(ports, key=lambda p: (p.get("PrivatePort", 0), p.get("IP", ""))):
        proto = p.get("Type", "tcp")
        if p.get("PublicPort"):
            ip = str(p.get("IP") or "")
            host = f"[{ip}]" if ":" in ip else ip
            out.append(f"{host}:{p['PublicPort']}->{p.get('PrivatePort')}/{proto}")
        else:
            out.append(f"{p.get('PrivatePort')}/{proto}")
    return ", ".join(dict.fromkeys(out))
