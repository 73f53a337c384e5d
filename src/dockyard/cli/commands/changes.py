"""``diff``, ``commit`` and ``export``: a container's filesystem as changes, an image or
a tar archive."""

from __future__ import annotations

import os

from dockyard.cli.args import BOOL, LIST, STRING, Flag, Spec
from dockyard.cli.commands.containers import cpath
from dockyard.cli.commands.interactive import write_all
from dockyard.cli.context import PROG, Context, StatusError
from dockyard.cli.outfiles import check_output_path, copy_to_file

DIFF = Spec(f"{PROG} diff", f"{PROG} diff CONTAINER",
            "Inspect changes to files or directories on a container's filesystem",
            min_args=1, max_args=1, aliases=[f"{PROG} container diff", f"{PROG} diff"])
KINDS = {0: "C", 1: "A", 2: "D"}


def diff(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(DIFF, argv)
    changes = ctx.client().get(cpath(opts.args[0], "changes")).json() or []
    ctx.out.write("".join(f"{KINDS.get(c.get('Kind'), '?')} {c.get('Path')}\n"
                          for c in changes))
    return 0


COMMIT = Spec(f"{PROG} commit", f"{PROG} commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
              "Create a new image from a container's changes", [
                  Flag("author", STRING, 'Author (e.g., "John Hannibal Smith '
                       '<hannibal@a-team.com>")', short="a"),
                  Flag("change", LIST, "Apply Dockerfile instruction to the created image",
                       short="c"),
                  Flag("message", STRING, "Commit message", short="m"),
                  Flag("pause", BOOL, "Pause container during commit", short="p",
                       default=True),
              ], min_args=1, max_args=2,
              aliases=[f"{PROG} container commit", f"{PROG} commit"])


def split_reference(text: str) -> tuple[str, str]:
    """``repo[:tag]`` → ``(familiar repository, tag)`` as the docker CLI sends them,
    checked with Docker's grammar and words."""
    from dockyard.errors import InvalidArgument
    from dockyard.oci import reference

    try:
        ref = reference.parse_normalized_named(text)
    except InvalidArgument as exc:
        raise StatusError(str(exc), 1) from None
    if ref.digest is not None:
        raise StatusError("refusing to create a tag with a digest reference", 1)
    return ref.familiar_name, ref.tag


def commit(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(COMMIT, argv)
    query: dict[str, str | bool | list[str]] = {
        "container": opts.args[0], "pause": opts.flag("pause")}
    if len(opts.args) == 2:
        repo, tag = split_reference(opts.args[1])
        query["repo"] = repo
        if tag:
            query["tag"] = tag
    if opts.text("message"):
        query["comment"] = opts.text("message")
    if opts.text("author"):
        query["author"] = opts.text("author")
    if opts.values("change"):
        query["changes"] = opts.values("change")
    body = ctx.client().post("/commit", query, body={}).json() or {}
    ctx.out.write(f"{body.get('Id', '')}\n")
    return 0


EXPORT = Spec(f"{PROG} export", f"{PROG} export [OPTIONS] CONTAINER",
              "Export a container's filesystem as a tar archive", [
                  Flag("output", STRING, "Write to a file, instead of STDOUT", short="o"),
              ], min_args=1, max_args=1,
              aliases=[f"{PROG} container export", f"{PROG} export"])


def export(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(EXPORT, argv)
    output = opts.text("output")
    if not output and os.isatty(ctx.out_bytes.fileno()):
        raise StatusError("cowardly refusing to save to a terminal. Use the -o flag or "
                          "redirect", 1)
    if output and (why := check_output_path(output)) is not None:
        raise StatusError(f"failed to export container: {why}", 1)
    resp = ctx.client().get(cpath(opts.args[0], "export"))
    with resp:
        if not output:
            fd = ctx.out_bytes.fileno()
            for chunk in resp.iter_raw():
                write_all(fd, chunk)
            return 0
        copy_to_file(resp.iter_raw(), output)
    return 0
