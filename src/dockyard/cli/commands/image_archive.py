"""``import``, ``save`` and ``load``: images in and out of the daemon as tar streams
(a file, stdin/stdout or a URL), with the docker CLI's flags and messages."""

from __future__ import annotations

import sys

from dockyard.cli.args import BOOL, LIST, STRING, Flag, Spec
from dockyard.cli.commands.images import split_tag
from dockyard.cli.context import PROG, Context, StatusError
from dockyard.cli.outfiles import check_output_path, copy_to_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any, BinaryIO

P = PROG


IMPORT = Spec(
    f"{P} import",
    f"{P} import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
    "Import the contents from a tarball to create a filesystem image",
    [
        Flag("change", LIST, "Apply Dockerfile instruction to the created image", short="c"),
        Flag("message", STRING, "Set commit message for imported image", short="m"),
        Flag("platform", STRING, "Set platform if server is multi-platform capable"),
    ],
    min_args=1,
    max_args=2,
    aliases=[f"{P} image import", f"{P} import"],
)

CHUNK = 256 * 1024


def _file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def _file_source(path: str) -> Iterator[bytes]:
    """The chunks of a tar file named on the command line, refused now (docker's ``open
    PATH: no such file or directory``, status 1) when it cannot be opened."""
    try:
        open(path, "rb").close()
    except OSError as err:
        raise StatusError(
            f"open {path}: {err.strerror.lower() if err.strerror else err}", 1
        ) from None
    return _file_chunks(path)


def _stdin_chunks(ctx: Context) -> Iterator[bytes]:
    stream: BinaryIO = getattr(ctx.stdin, "buffer", None) or sys.stdin.buffer
    while chunk := stream.read(CHUNK):
        yield chunk


def _post_tar(ctx: Context, path: str, query: Mapping[str, Any],
              data: Iterator[bytes] | None) -> None:
    """Send a tar stream (import, load) and show the daemon's JSON-lines answer."""
    resp = ctx.client().post(path, query, data=data, headers={"Content-Type": "application/x-tar"})
    _show_stream(ctx, resp)


def _show_stream(ctx: Context, resp: Any) -> None:
    """A JSON-lines answer (import, load, base image) shown as docker shows it."""
    from dockyard.cli.jsonmessage import StreamError, display

    try:
        display(resp.iter_json(), ctx.out, tty=ctx.out.isatty())
    except StreamError as err:
        raise StatusError(str(err), 1) from None
    finally:
        resp.close()


def import_(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(IMPORT, argv)
    source = opts.args[0]
    query: dict[str, str | list[str]] = {}
    if len(opts.args) > 1:
        repo, tag_name = split_tag(opts.args[1])
        query["repo"] = repo
        if tag_name:
            query["tag"] = tag_name
    if opts.text("message"):
        query["message"] = opts.text("message")
    if opts.values("change"):
        query["changes"] = opts.values("change")
    if opts.text("platform"):
        query["platform"] = opts.text("platform")
    data: Iterator[bytes] | None
    if source == "-":
        query["fromSrc"] = "-"
        data = _stdin_chunks(ctx)
    elif "://" in source:
        query["fromSrc"] = source
        data = None
    else:
        data = _file_source(source)
        query["fromSrc"] = "-"
    _post_tar(ctx, "/images/create", query, data)
    return 0


SAVE = Spec(
    f"{P} save",
    f"{P} save [OPTIONS] IMAGE [IMAGE...]",
    "Save one or more images to a tar archive (streamed to STDOUT by default)",
    [
        Flag("output", STRING, "Write to a file, instead of STDOUT", short="o"),
        Flag("platform", LIST, "Save only the given platform(s)"),
    ],
    min_args=1,
    aliases=[f"{P} image save", f"{P} save"],
)


def save(ctx: Context, argv: list[str]) -> int:

    opts = ctx.parse(SAVE, argv)
    output = opts.text("output")
    if not output and ctx.out.isatty():
        raise StatusError("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1)
    if output and (why := check_output_path(output)) is not None:
        raise StatusError(f"failed to save image: {why}", 1)
    resp = ctx.client().get("/images/get", {"names": list(opts.args)})
    try:
        if not output:
            out = ctx.out_bytes
            for chunk in resp.iter_raw():
                out.write(chunk)
            out.flush()
            return 0
        copy_to_file(resp.iter_raw(), output)
    finally:
        resp.close()
    return 0


LOAD = Spec(
    f"{P} load",
    f"{P} load [OPTIONS]",
    "Load an image from a tar archive or STDIN",
    [
        Flag("input", STRING, "Read from tar archive file, instead of STDIN", short="i"),
        Flag("quiet", BOOL, "Suppress the load output", short="q"),
        Flag("platform", LIST, "Load only the given platform(s)"),
    ],
    max_args=0,
    aliases=[f"{P} image load", f"{P} load"],
)


def load(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(LOAD, argv)
    path = opts.text("input")
    data: Iterator[bytes]
    if path:
        data = _file_source(path)
    else:
        if ctx.stdin.isatty():
            raise StatusError("requested load from stdin, but stdin is empty", 1)
        data = _stdin_chunks(ctx)
    quiet = opts.flag("quiet") or not ctx.out.isatty()
    _post_tar(ctx, "/images/load", {"quiet": quiet}, data)
    return 0
