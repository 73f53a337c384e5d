"""The image commands: ``images``, ``rmi``, ``tag``, ``history``, ``import``, ``save``,
``load``, ``image inspect``, ``image prune`` and ``image base`` (dockyard's offline base
images), with the docker CLI's flags, tables and messages.

The tables are docker's formatter contexts (``cli/command/formatter/image.go``,
``image/formatter_history.go``) as :class:`Row` values rendered by ``format.table``:
one row per repository and tag of an image (``<none>`` for dangling ones), the ID
truncated to 12 unless ``--no-trunc``, sizes with go-units' 3 significant digits.
"""

from __future__ import annotations

from dockyard.cli.args import BOOL, LIST, STRING, Flag, Spec
from dockyard.cli.context import PROG, Context, StatusError
from dockyard.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from dockyard.cli.format.rows import Row

P = PROG

IMAGE_HEADERS = {
    "ID": "IMAGE ID",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "VirtualSize": "SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}
IMAGE_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t"
    "{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
)
IMAGE_TABLE_DIGEST = (
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t"
    "{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
)
QUIET = "{{.ID}}"


def ipath(name: str, action: str = "") -> str:
    """``/images/<name>[/action]``; the name keeps its ``/`` and ``:`` as docker sends it."""
    return f"/images/{quote(name, safe='/:@')}" + (f"/{action}" if action else "")


def split_tag(ref: str) -> tuple[str, str]:
    """``host:5000/repo:tag`` → ``("host:5000/repo", "tag")``; no tag → ``""``."""
    name = ref.split("@", 1)[0]
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        return name[:colon], name[colon + 1 :]
    return name, ""


def familiar(name: str) -> str:
    """Docker's ``FamiliarName``: ``docker.io/library/busybox`` → ``busybox``."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def render_or_fail(fmt: str, rows: list[Row], headers: Mapping[str, str]) -> str:
    """``format.table.render_rows`` with a template error as docker's status 1 message."""
    from dockyard.cli.format.table import render_rows
    from dockyard.cli.format.template import TemplateError

    try:
        return render_rows(fmt, rows, headers)
    except TemplateError as err:
        raise StatusError(str(err), 1) from None


# ---------------------------------------------------------------------- images

IMAGES = Spec(
    f"{P} images",
    f"{P} images [OPTIONS] [REPOSITORY[:TAG]]",
    "List images",
    [
        Flag("all", BOOL, "Show all images (default hides intermediate images)", short="a"),
        Flag("digests", BOOL, "Show digests"),
        Flag("filter", LIST, "Filter output based on conditions provided", short="f"),
        Flag(
            "format",
            STRING,
            "Format output using a custom template:\n'table':"
            "            Print output in table format with column headers (default)\n"
            "'table TEMPLATE':   Print output in table format using the given Go template\n"
            "'json':             Print in JSON format\n"
            "'TEMPLATE':         Print output using the given Go template",
        ),
        Flag("no-trunc", BOOL, "Don't truncate output"),
        Flag("quiet", BOOL, "Only show image IDs", short="q"),
        Flag("tree", BOOL, "List multi-platform images as a tree (EXPERIMENTAL)", hidden=True),
    ],
    max_args=1,
    aliases=[f"{P} image ls", f"{P} image list", f"{P} images"],
)


def image_format(fmt: str, *, quiet: bool, digests: bool) -> str:
    """docker's ``NewImageFormat``."""
    if fmt == "table":
        if quiet:
            return QUIET
        return IMAGE_TABLE_DIGEST if digests else IMAGE_TABLE
    if fmt.startswith("table") and digests and "{{.Digest}}" not in fmt:
        fmt += "\t{{.Digest}}"
    return fmt


def image_rows(images: list[dict[str, Any]], *, trunc: bool, digests: bool, fmt: str) -> list[Row]:
    """One row per repository and tag (docker's ``imageFormat``); the digests of a
    repository go on its tags' rows when asked for, else on rows of their own."""
    from dockyard.cli.format.rows import Row

    need_digest = digests or "{{.Digest}}" in fmt
    rows: list[Row] = []
    for img in images:
        tags = [t for t in img.get("RepoTags") or [] if t != "<none>:<none>"]
        digs = [d for d in img.get("RepoDigests") or [] if d != "<none>@<none>"]
        if not tags and not digs:
            rows.append(image_row(img, "<none>", "<none>", "<none>", trunc, Row))
            continue
        repo_tags: dict[str, list[str]] = {}
        for ref in tags:
            repo, tag = split_tag(ref)
            if tag:
                repo_tags.setdefault(familiar(repo), []).append(tag)
        repo_digests: dict[str, list[str]] = {}
        for ref in digs:
            repo, at, digest = ref.partition("@")
            if at:
                repo_digests.setdefault(familiar(repo), []).append(digest)
        for repo, tag_list in repo_tags.items():
            repo_digs = repo_digests.pop(repo, [])
            if not need_digest:
                repo_digs = []
            for tag in tag_list:
                for digest in repo_digs or ["<none>"]:
                    rows.append(image_row(img, repo, tag, digest, trunc, Row))
        for repo, repo_digs in repo_digests.items():
            if digests:
                rows.extend(image_row(img, repo, "<none>", d, trunc, Row) for d in repo_digs)
            else:
                rows.append(image_row(img, repo, "<none>", "", trunc, Row))
    return rows


def image_row(
    img: dict[str, Any], repo: str, tag: str, digest: str, trunc: bool, row: type[Row]
) -> Row:
    from dockyard.cli.format import human

    ident = str(img.get("Id", ""))
    created = int(img.get("Created") or 0)
    size = int(img.get("Size") or 0)
    shared = int(img.get("SharedSize", -1) if img.get("SharedSize") is not None else -1)
    containers = int(img.get("Containers", -1) if img.get("Containers") is not None else -1)
    return row(
        {
            "Containers": lambda: "N/A" if containers == -1 else str(containers),
            "CreatedAt": lambda: human.go_time(created),
            "CreatedSince": lambda: human.since(created),
            "Digest": digest,
            "ID": human.truncate_id(ident) if trunc else ident,
            "Repository": repo,
            "SharedSize": lambda: "N/A" if shared == -1 else human.human_size(shared),
            "Size": lambda: human.human_size(size, 3),
            "Tag": tag,
            "UniqueSize": lambda: (
                "N/A" if size == -1 or shared == -1 else human.human_size(size - shared)
            ),
            "VirtualSize": lambda: human.human_size(size),
        }
    )


def images(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(IMAGES, argv)
    from dockyard.cli.filters import parse_filters

    filters = parse_filters(opts.values("filter"))
    if opts.args:
        filters.setdefault("reference", {})[opts.args[0]] = True
    query: dict[str, str | bool] = {}
    if opts.flag("all"):
        query["all"] = True
    if filters:
        import json

        query["filters"] = json.dumps(filters)
    listed = ctx.client().get("/images/json", query).json()
    fmt = opts.text("format") or "table"
    quiet = opts.flag("quiet")
    fmt = image_format(fmt, quiet=quiet, digests=opts.flag("digests"))
    rows = image_rows(
        listed, trunc=not opts.flag("no-trunc"), digests=opts.flag("digests"), fmt=fmt
    )
    ctx.write(render_or_fail(fmt, rows, IMAGE_HEADERS))
    return 0


# ---------------------------------------------------------------------- rmi, tag

RMI = Spec(
    f"{P} rmi",
    f"{P} rmi [OPTIONS] IMAGE [IMAGE...]",
    "Remove one or more images",
    [
        Flag("force", BOOL, "Force removal of the image", short="f"),
        Flag("no-prune", BOOL, "Do not delete untagged parents"),
    ],
    min_args=1,
    aliases=[f"{P} image rm", f"{P} image remove", f"{P} rmi"],
)


def rmi(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(RMI, argv)
    from dockyard.cli.context import error_text
    from dockyard.errors import DockyardError

    query = {"force": opts.flag("force"), "noprune": opts.flag("no-prune")}
    client = ctx.client()
    errors: list[str] = []
    for name in opts.args:
        try:
            deleted = client.delete(ipath(name), query).json()
        except DockyardError as err:
            errors.append(error_text(err))
            continue
        for item in deleted or []:
            if item.get("Untagged"):
                ctx.write(f"Untagged: {item['Untagged']}\n")
            if item.get("Deleted"):
                ctx.write(f"Deleted: {item['Deleted']}\n")
    if errors:
        raise StatusError("\n".join(errors), 1)
    return 0


TAG = Spec(
    f"{P} tag",
    f"{P} tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    [],
    min_args=2,
    max_args=2,
    aliases=[f"{P} image tag", f"{P} tag"],
)


def tag(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(TAG, argv)
    source, target = opts.args
    from dockyard.errors import InvalidArgument
    from dockyard.oci import reference

    try:  # the docker client's ImageTag checks both names first, in its words
        ref = reference.parse_normalized_named(target)
    except InvalidArgument as err:
        raise StatusError(
            f'Error parsing reference: "{target}" is not a valid repository/tag: {err}', 1
        ) from None
    if ref.digest is not None:
        raise StatusError("refusing to create a tag with a digest reference", 1)
    query = {"repo": ref.familiar_name, "tag": ref.tag or "latest"}
    ctx.client().post(ipath(source, "tag"), query).close()
    return 0


# ---------------------------------------------------------------------- history

HISTORY_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}
HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_TABLE_RAW = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"

HISTORY = Spec(
    f"{P} history",
    f"{P} history [OPTIONS] IMAGE",
    "Show the history of an image",
    [
        Flag("format", STRING, "Format output using a custom template"),
        Flag(
            "human", BOOL, "Print sizes and dates in human readable format", short="H", default=True
        ),
        Flag("no-trunc", BOOL, "Don't truncate output"),
        Flag("quiet", BOOL, "Only show image IDs", short="q"),
        Flag("platform", STRING, "Show history for the given platform"),
    ],
    min_args=1,
    max_args=1,
    aliases=[f"{P} image history", f"{P} history"],
)


def history_rows(items: list[dict[str, Any]], *, trunc: bool, human_units: bool) -> list[Row]:
    from dockyard.cli.format import human
    from dockyard.cli.format.rows import Row

    rows = []
    for item in items:
        created = int(item.get("Created") or 0)
        ident = str(item.get("Id", ""))
        created_by = str(item.get("CreatedBy", "")).replace("\t", " ")
        size = int(item.get("Size") or 0)

        def since(created: int = created) -> str:
            if not human_units:
                return human.rfc3339(created)
            if created <= 946684800:  # docker shows no age before 2000
                return ""
            return human.since(created)

        rows.append(
            Row(
                {
                    "ID": human.truncate_id(ident) if trunc and ident != "<missing>" else ident,
                    "CreatedAt": lambda created=created: human.rfc3339(created),
                    "CreatedSince": since,
                    "CreatedBy": human.ellipsis(created_by, 45) if trunc else created_by,
                    "Size": human.human_size(size, 3) if human_units else str(size),
                    "Comment": str(item.get("Comment", "")),
                }
            )
        )
    return rows


def history(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(HISTORY, argv)
    items = ctx.client().get(ipath(opts.args[0], "history")).json()
    fmt = opts.text("format") or "table"
    human_units = opts.flag("human")
    if fmt == "table":
        fmt = QUIET if opts.flag("quiet") else (HISTORY_TABLE if human_units else HISTORY_TABLE_RAW)
    rows = history_rows(items, trunc=not opts.flag("no-trunc"), human_units=human_units)
    ctx.write(render_or_fail(fmt, rows, HISTORY_HEADERS))
    return 0


# ---------------------------------------------------------------------- import, save, load
# (in image_archive.py; these stay here for the command table)


def import_(ctx: Context, argv: list[str]) -> int:
    from dockyard.cli.commands import image_archive

    return image_archive.import_(ctx, argv)


def save(ctx: Context, argv: list[str]) -> int:
    from dockyard.cli.commands import image_archive

    return image_archive.save(ctx, argv)


def load(ctx: Context, argv: list[str]) -> int:
    from dockyard.cli.commands import image_archive

    return image_archive.load(ctx, argv)


# ---------------------------------------------------------------------- inspect, prune, base

IMAGE_INSPECT = Spec(
    f"{P} image inspect",
    f"{P} image inspect [OPTIONS] IMAGE [IMAGE...]",
    "Display detailed information on one or more images",
    [
        Flag("format", STRING, "Format output using a custom template", short="f"),
        Flag("platform", STRING, "Inspect a specific platform of the multi-platform image"),
    ],
    min_args=1,
)


def inspect_output(ctx: Context, objects: list[object], errors: list[str], fmt: str) -> int:
    """docker's ``inspect.Inspect`` output: an indented JSON array (``[]`` when nothing
    was found), or the template once per object; errors after, status 1."""
    import json

    if not fmt:
        text = json.dumps(objects, indent=4, ensure_ascii=False) if objects else "[]"
        ctx.write(text + "\n")
    elif fmt == "json":
        ctx.write(json.dumps(objects, separators=(",", ":"), ensure_ascii=False) + "\n")
    else:
        from dockyard.cli.format.gotypes import execute_inspect
        from dockyard.cli.format.template import TemplateError, compile

        try:
            tmpl = compile(fmt)
        except TemplateError as err:
            raise StatusError(f"template parsing error: {err}", 64) from None
        chunks: list[str] = []
        for obj in objects:
            try:
                chunks.append(execute_inspect(tmpl, obj) + "\n")
            except TemplateError as err:
                errors.append(f"template parsing error: {err}")
        ctx.write("".join(chunks) or "\n")
    if errors:
        raise StatusError("\n".join(errors), 1)
    return 0


def image_inspect(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(IMAGE_INSPECT, argv)
    from dockyard.cli.context import error_text
    from dockyard.errors import DockyardError

    client = ctx.client()
    objects: list[object] = []
    errors: list[str] = []
    for name in opts.args:
        try:
            objects.append(client.get(ipath(name, "json")).json())
        except DockyardError as err:
            errors.append(error_text(err))
    return inspect_output(ctx, objects, errors, opts.text("format"))


IMAGE_PRUNE = Spec(
    f"{P} image prune",
    f"{P} image prune [OPTIONS]",
    "Remove unused images",
    [
        Flag("all", BOOL, "Remove all unused images, not just dangling ones", short="a"),
        Flag("filter", LIST, 'Provide filter values (e.g. "until=<timestamp>")'),
        Flag("force", BOOL, "Do not prompt for confirmation", short="f"),
    ],
    max_args=0,
)

DANGLING_WARNING = "WARNING! This will remove all dangling images."
ALL_WARNING = (
    "WARNING! This will remove all images without at least one container associated to them."
)


def confirm(ctx: Context, warning: str) -> bool:
    """docker's ``PromptForConfirmation``: the warning, ``[y/N]``, one line of stdin."""
    ctx.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    ctx.out.flush()
    answer = ctx.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def prune_images(ctx: Context, *, all_images: bool, filters: list[str]) -> tuple[str, int]:
    """``POST /images/prune``: docker's "Deleted Images:" text and the space reclaimed."""
    import json

    from dockyard.cli.filters import parse_filters

    parsed = parse_filters(filters)
    parsed["dangling"] = {"false" if all_images else "true": True}
    report = ctx.client().post("/images/prune", {"filters": json.dumps(parsed)}).json()
    lines: list[str] = []
    for item in report.get("ImagesDeleted") or []:
        if item.get("Untagged"):
            lines.append(f"untagged: {item['Untagged']}")
        else:
            lines.append(f"deleted: {item.get('Deleted', '')}")
    text = "Deleted Images:\n" + "".join(line + "\n" for line in lines) if lines else ""
    return text, int(report.get("SpaceReclaimed") or 0)


def image_prune(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(IMAGE_PRUNE, argv)
    from dockyard.cli.format.human import human_size

    all_images = opts.flag("all")
    if not opts.flag("force") and not confirm(ctx, ALL_WARNING if all_images else DANGLING_WARNING):
        return 0
    text, reclaimed = prune_images(ctx, all_images=all_images, filters=opts.values("filter"))
    if text:
        ctx.write(text + "\n")
    ctx.write(f"Total reclaimed space: {human_size(reclaimed)}\n")
    return 0


IMAGE_BASE = Spec(
    f"{P} image base",
    f"{P} image base [OPTIONS] busybox|debian",
    "Make an offline base image in the daemon (no registry needed): busybox:latest from "
    "the host's busybox, debian:SUITE from Debian's packages",
    [
        Flag("ref", STRING, "The name to give the image (default busybox:latest or debian:SUITE)"),
        Flag("suite", STRING, "The Debian suite (debian only; default bookworm)"),
        Flag("quiet", BOOL, "Print only the image ID", short="q"),
    ],
    min_args=1,
    max_args=1,
)


def image_base(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(IMAGE_BASE, argv)
    kind = opts.args[0]
    if kind not in ("busybox", "debian"):
        raise StatusError(f'{P}: unknown base image "{kind}" (busybox or debian)', 1)
    query = {"name": kind, "ref": opts.text("ref") or None, "suite": opts.text("suite") or None}
    resp = ctx.client().post("/dockyard/images/base", query)
    made: list[str] = []
    quiet = opts.flag("quiet")
    try:
        for msg in resp.iter_json():
            if not isinstance(msg, dict):
                continue
            if msg.get("error"):
                raise StatusError(str(msg["error"]), 1)
            aux = msg.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                made.append(str(aux["ID"]))
                if quiet:
                    ctx.write(f"{aux['ID']}\n")
            elif not quiet and "stream" in msg:
                ctx.write(str(msg["stream"]))
            elif not quiet and "status" in msg:
                ctx.write(f"{msg['status']}\n")
            ctx.out.flush()
    finally:
        resp.close()
    if not made:
        raise StatusError(f"{P}: the daemon ended the stream before the image was made", 1)
    return 0
