"""``cp``: files between a container and the local filesystem, through the archive API.

Docker's rules (``docker cp --help``), on top of ``HEAD/GET/PUT
/containers/{id}/archive``:

- out of a container: the daemon sends a tar whose root entry is the source's name; it
  is extracted locally *as* the destination when that does not exist (a directory's
  contents then go into a new directory), *into* it when it is a directory (``SRC/.``:
  the contents only), over it when both are files; a directory never replaces a file,
  and a destination ending in ``/`` must be an existing directory. The local files get
  the caller's ownership, as with the docker CLI (``NoLchown``).
- into a container: the destination is looked up first (``HEAD``); the local source is
  sent as a tar streamed from a thread, its root entry named so that the daemon's
  extraction into the destination (or its parent) gives the same result.
  ``-a`` keeps the local owners (``copyUIDGID``); ``-L`` follows a symlink source.
- ``-`` as the source is a tar on stdin; ``-`` as the destination writes the tar to
  stdout.

dockyard's extensions: several sources in one command (the destination must then be
a directory), glob patterns in the last component of a source (``c:/var/log/*.log``,
matched on the container's files while its directory's archive streams by, or
``'*.txt'`` locally when the shell left it unexpanded) and ``--chown UID[:GID]`` (or
names, looked up in the container's ``/etc/passwd`` and ``/etc/group`` for copies
into it and on this host for copies out) to set the owner of everything copied.

Extraction is guarded: every entry's parent directory must be inside the destination
after symlinks are resolved, and hard links must point inside it too (a tar from a
container is not trusted). What is already at an entry's path is replaced, never
followed: an existing file or symlink (one left by an earlier copy) is unlinked first, as
the docker CLI's untar does; a directory is merged with a directory entry, and neither a
directory nor a non-directory replaces the other (``NoOverwriteDirNonDir``). The
destination given on the command line is the user's own: a symlink there is followed,
as docker does.
"""

from __future__ import annotations

import fnmatch
import os
import stat as stat_mod
import tarfile
import threading

from dockyard.cli.args import BOOL, STRING, Flag, Spec
from dockyard.cli.commands.containers import cpath
from dockyard.cli.context import PROG, Context, StatusError, error_text
from dockyard.client.errors import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from dockyard.client.http import Client, Response

CP = Spec(f"{PROG} cp",
          f"{PROG} cp [OPTIONS] CONTAINER:SRC_PATH [CONTAINER:SRC_PATH...] DEST_PATH|-\n"
          f"\t{PROG} cp [OPTIONS] SRC_PATH|- [SRC_PATH...] CONTAINER:DEST_PATH",
          "Copy files/folders between a container and the local filesystem\n\n"
          "Use '-' as the source to read a tar archive from stdin\n"
          "and extract it to a directory destination in a container.\n"
          "Use '-' as the destination to stream a tar archive of a\n"
          "container source to stdout.\n\n"
          "dockyard also takes several sources (the destination is then a directory),\n"
          "glob patterns in a source's last component (CONTAINER:/var/log/*.log) and\n"
          "--chown to set the owner of the copied files.", [
              Flag("archive", BOOL, "Archive mode (copy all uid/gid information)",
                   short="a"),
              Flag("chown", STRING, "Owner of the copied files: UID[:GID] or "
                   "USER[:GROUP] (dockyard)", metavar="owner"),
              Flag("follow-link", BOOL, "Always follow symbol link in SRC_PATH", short="L"),
              Flag("quiet", BOOL, "Suppress progress output during copy. Progress output "
                   "is automatically suppressed if no terminal is attached", short="q"),
          ], min_args=2, aliases=[f"{PROG} container cp", f"{PROG} cp"])

STAT_HEADER = "x-docker-container-path-stat"
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
_MAGIC = frozenset("*?[")


def split_arg(arg: str) -> tuple[str, str]:
    """``(container, path)``: the docker CLI's ``splitCpArg`` (an absolute or ``.``
    path is local even with a colon in it)."""
    if arg.startswith("/"):
        return "", arg
    container, colon, path = arg.partition(":")
    if not colon or container.startswith("."):
        return "", arg
    return container, path


def has_magic(path: str) -> bool:
    return any(c in _MAGIC for c in os.path.basename(path.rstrip("/")))


class Copied:
    """Bytes of archive moved, for docker's ``Successfully copied 2.05kB to ...`` (shown
    when stderr is a terminal and ``-q`` was not given)."""

    __slots__ = ("total",)

    def __init__(self) -> None:
        self.total = 0

    def count(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.total += len(chunk)
            yield chunk


# ---------------------------------------------------------------------- the command

def cp(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(CP, argv)
    *sources, dest = opts.args
    dest_container, dest_path = split_arg(dest)
    parsed = [split_arg(s) for s in sources]
    src_containers = {c for c, _ in parsed}
    if dest_container and any(src_containers):
        raise StatusError("copying between containers is not supported", 1)
    if not dest_container and not all(src_containers):
        raise StatusError("must specify at least one container source", 1)
    if not dest_path and dest != "-":
        raise StatusError("destination can not be empty", 1)
    for _, path in parsed:
        if not path:
            raise StatusError("source can not be empty", 1)
    client = ctx.client()
    chown = opts.text("chown")
    copied = Copied()
    show = not opts.flag("quiet") and ctx.err.isatty()
    try:
        if dest_container:
            owner = resolve_container_owner(client, dest_container, chown) if chown else None
            local = expand_local([p for _, p in parsed])
            if len(local) > 1:
                require_container_dir(client, dest_container, dest_path)
            for src in local:
                copy_in(ctx, client, src, dest_container, dest_path,
                        archive=opts.flag("archive"), follow=opts.flag("follow-link"),
                        owner=owner, copied=copied)
            if show:
                _report(ctx, copied, f"{dest_container}:{dest_path}")
            return 0
        owner = resolve_local_owner(chown) if chown else None
        many = len(parsed) > 1 or any(has_magic(p) for _, p in parsed)
        if many:
            if dest == "-":
                raise StatusError("several sources cannot be written to stdout", 1)
            if not os.path.isdir(dest_path):
                raise StatusError(f"destination \"{dest_path}\" must be a directory for "
                                  "several sources", 1)
        for container, path in parsed:
            if has_magic(path):
                copy_out_glob(client, container, path, dest_path, owner=owner,
                              copied=copied)
            else:
                copy_out(ctx, client, container, path, dest, owner=owner,
                         follow=opts.flag("follow-link"), copied=copied)
    except APIError as exc:
        raise StatusError(error_text(exc), 1) from None
    if show and dest != "-":
        _report(ctx, copied, os.path.abspath(dest_path))
    return 0


def _report(ctx: Context, copied: Copied, where: str) -> None:
    from dockyard.cli.format.human import human_size

    ctx.err.write(f"Successfully copied {human_size(copied.total, 3)} to {where}\n")


# ---------------------------------------------------------------------- owners

def parse_owner(spec: str, users: Callable[[str], int | None],
                groups: Callable[[str], int | None]) -> tuple[int, int]:
    """``uid[:gid]`` or ``user[:group]`` → ``(uid, gid)`` (a user alone: gid = uid, as
    Dockerfile ``COPY --chown`` does)."""
    user, _, group = spec.partition(":")

    def one(name: str, lookup: Callable[[str], int | None], what: str) -> int:
        if name.isdigit():
            return int(name)
        found = lookup(name)
        if found is None:
            raise StatusError(f"--chown: unknown {what} {name!r}", 1)
        return found

    if not user:
        raise StatusError(f"--chown: invalid owner {spec!r}", 1)
    uid = one(user, users, "user")
    gid = one(group, groups, "group") if group else uid
    return uid, gid


def _id_table(text: str) -> dict[str, int]:
    """name → id from ``/etc/passwd`` or ``/etc/group`` text."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            out.setdefault(fields[0], int(fields[2]))
    return out


def _container_file(client: Client, container: str, path: str) -> str:
    try:
        resp = client.get(cpath(container, "archive"), {"path": path})
    except APIError as exc:
        if exc.status == 404:
            return ""
        raise
    reader = ResponseReader(resp)
    with resp, tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            f = tar.extractfile(member)
            if f is not None:
                return str(f.read().decode("utf-8", "replace"))
    return ""


def resolve_container_owner(client: Client, container: str, spec: str) -> tuple[int, int]:
    names = [p for p in spec.split(":") if p and not p.isdigit()]
    users: dict[str, int] = {}
    groups: dict[str, int] = {}
    if names:
        users = _id_table(_container_file(client, container, "/etc/passwd"))
        groups = _id_table(_container_file(client, container, "/etc/group"))
    return parse_owner(spec, users.get, groups.get)


def resolve_local_owner(spec: str) -> tuple[int, int]:
    def user(name: str) -> int | None:
        import pwd

        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            return None

    def group(name: str) -> int | None:
        import grp

        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            return None

    return parse_owner(spec, user, group)


# ---------------------------------------------------------------------- container stat

def container_stat(client: Client, container: str, path: str) -> dict[str, object] | None:
    """The ``X-Docker-Container-Path-Stat`` of ``path`` (None when it does not exist)."""
    resp = client.head(cpath(container, "archive"), {"path": path}, check=False)
    resp.close()
    if resp.status == 404:
        return None
    if resp.status >= 400:
        if resp.status == 409 or resp.status == 500:
            raise APIError(resp.status, f"Could not stat {path} in container {container}")
        raise APIError(resp.status, f"No such container:path: {container}:{path}")
    return decode_stat(resp.headers.get(STAT_HEADER, ""))


def decode_stat(header: str) -> dict[str, object]:
    import base64

    from dockyard.oci.jsoncodec import loads

    if not header:
        return {}
    value = loads(base64.b64decode(header + "=" * (-len(header) % 4)))
    return value if isinstance(value, dict) else {}


def is_dir(st: dict[str, object] | None) -> bool:
    mode = st.get("mode") if st else 0
    return isinstance(mode, int) and bool(mode & GO_DIR)


def require_container_dir(client: Client, container: str, path: str) -> None:
    if not is_dir(container_stat(client, container, path)):
        raise StatusError(f"destination \"{container}:{path}\" must be a directory for "
                          "several sources", 1)


# ---------------------------------------------------------------------- copy in

def expand_local(paths: list[str]) -> list[str]:
    """Local sources with unexpanded globs expanded (sorted); a pattern that matches
    nothing is an error, as in a shell with ``failglob``."""
    import glob

    out: list[str] = []
    for p in paths:
        if p != "-" and has_magic(p) and not os.path.lexists(p):
            matches = sorted(glob.glob(p))
            if not matches:
                raise StatusError(f"no such file or directory: {p}", 1)
            out.extend(matches)
        else:
            out.append(p)
    return out


def copy_in(ctx: Context, client: Client, src: str, container: str, dest: str, *,
            archive: bool, follow: bool, owner: tuple[int, int] | None,
            copied: Copied | None = None) -> None:
    query: dict[str, str | bool] = {"noOverwriteDirNonDir": True,
                                    "copyUIDGID": archive or owner is not None}
    if src == "-":
        query["path"] = dest
        chunks = _file_chunks(ctx.stdin.buffer.fileno())
        client.put(cpath(container, "archive"), query,
                   data=copied.count(chunks) if copied else chunks).close()
        return
    try:
        st = os.stat(src) if follow else os.lstat(src)
    except OSError as exc:
        raise StatusError(f"{'stat' if follow else 'lstat'} {src}: "
                          f"{(exc.strerror or str(exc)).lower()}", 1) from None
    src_dir = stat_mod.S_ISDIR(st.st_mode)
    contents = src_dir and (src.endswith("/.") or src == ".")
    dest_st = container_stat(client, container, dest)
    if dest_st is not None and is_dir(dest_st):
        put_dir = dest
        root = "." if contents else os.path.basename(os.path.normpath(src))
    elif dest_st is not None:
        if src_dir:
            raise StatusError(f"cannot copy directory \"{src}\" to the file "
                              f"\"{container}:{dest}\"", 1)
        put_dir, root = os.path.dirname(dest.rstrip("/")) or "/", os.path.basename(dest)
    else:
        if dest.endswith("/"):
            raise StatusError(f"destination \"{container}:{dest}\" must be a directory", 1)
        put_dir = os.path.dirname(dest) or "/"
        root = os.path.basename(dest)
        if container_stat(client, container, put_dir) is None:
            raise StatusError(f"Error response from daemon: Could not find the file "
                              f"{put_dir} in container {container}", 1)
    query["path"] = put_dir
    tar = tar_stream(src, root, follow=follow, owner=owner, copied=copied)
    client.put(cpath(container, "archive"), query, data=tar).close()


def _file_chunks(fd: int) -> Iterator[bytes]:
    while True:
        data = os.read(fd, 65536)
        if not data:
            return
        yield data


def tar_stream(src: str, root: str, *, follow: bool, owner: tuple[int, int] | None,
               copied: Copied | None = None) -> Iterator[bytes]:
    """A tar of ``src`` with its root entry named ``root`` (``.`` for a directory's
    contents), made by a thread and read from a pipe as it is written. ``copied`` gets
    the archive's size as Go's tar writer would make it (without Python's padding of the
    last record to 10 KiB)."""
    rfd, wfd = os.pipe()
    failure: list[BaseException] = []
    size: list[int] = []

    def rename(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime = int(info.mtime)  # a float needs a PAX record per file (Go sends none)
        if owner is not None:
            info.uid, info.gid = owner
            info.uname = info.gname = ""
        return info

    def write() -> None:
        try:
            with os.fdopen(wfd, "wb") as out, \
                    tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                                 dereference=False) as tar:
                top = os.path.realpath(src) if follow else src
                tar.add(top, arcname=root, recursive=True, filter=rename)
                size.append(tar.offset + 2 * tarfile.BLOCKSIZE)  # + the end-of-archive
        except BaseException as exc:  # handed to the reading side
            failure.append(exc)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        with os.fdopen(rfd, "rb") as pipe:
            while True:
                data = pipe.read1(65536)
                if not data:
                    break
                yield data
    finally:
        thread.join()
    if copied is not None and size:
        copied.total += size[0]
    if failure:
        exc = failure[0]
        raise StatusError(f"cannot archive {src}: {exc}", 1) from exc


# ---------------------------------------------------------------------- copy out

class ResponseReader:
    """A file-like ``read`` over a response body (for ``tarfile``'s stream mode)."""

    def __init__(self, resp: Response, copied: Copied | None = None) -> None:
        self._chunks = copied.count(resp.iter_raw()) if copied else resp.iter_raw()
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buf += chunk
        if n < 0:
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:n], self._buf[n:]
        return data


def copy_out(ctx: Context, client: Client, container: str, src: str, dest: str, *,
             owner: tuple[int, int] | None, follow: bool, copied: Copied | None = None
             ) -> None:
    path = src
    if follow:
        st = container_stat(client, container, src)
        target = st.get("linkTarget") if st else ""
        if isinstance(target, str) and target:
            path = target if target.startswith("/") else \
                os.path.join(os.path.dirname(src), target)
    resp = client.get(cpath(container, "archive"), {"path": path})
    with resp:
        if dest == "-":
            from dockyard.cli.commands.interactive import write_all

            fd = ctx.out_bytes.fileno()
            for chunk in resp.iter_raw():
                write_all(fd, chunk)
            return
        st = decode_stat(resp.headers.get(STAT_HEADER, ""))
        src_dir = is_dir(st)
        contents = src_dir and (src.endswith("/.") or src == ".")
        if os.path.islink(dest):
            # The user's destination: followed, even dangling (docker's
            # CopyInfoDestinationPath); the entries of the tar never are.
            dest = os.path.realpath(dest)
        base = os.path.basename(os.path.normpath(src)) if not contents else "."
        if os.path.isdir(dest):
            target_dir, new_root = dest, base
        elif os.path.lexists(dest):
            if src_dir:
                raise StatusError(f"cannot copy a directory to a file: \"{dest}\"", 1)
            target_dir, new_root = os.path.dirname(dest) or ".", os.path.basename(dest)
        else:
            if dest.endswith("/"):
                raise StatusError("no such directory", 1)
            parent = os.path.dirname(os.path.normpath(dest)) or "."
            if not os.path.isdir(parent):
                raise StatusError(f"no such directory: {parent}", 1)
            target_dir, new_root = parent, os.path.basename(os.path.normpath(dest))
        tar_root = str(st.get("name") or base)
        extract(ResponseReader(resp, copied), target_dir,
                lambda name: rebase(name, tar_root, new_root), owner=owner)


def copy_out_glob(client: Client, container: str, pattern: str, dest_dir: str, *,
                  owner: tuple[int, int] | None, copied: Copied | None = None) -> None:
    """Copy the entries of the pattern's directory whose names match it into
    ``dest_dir`` (one archive of the directory, filtered as it streams)."""
    parent = os.path.dirname(pattern.rstrip("/")) or "/"
    glob = os.path.basename(pattern.rstrip("/"))
    resp = client.get(cpath(container, "archive"), {"path": parent})
    with resp:
        st = decode_stat(resp.headers.get(STAT_HEADER, ""))
        tar_root = str(st.get("name") or os.path.basename(parent) or ".")
        matched: set[str] = set()

        def select(name: str) -> str | None:
            rel = rebase(name, tar_root, "")
            if rel is None or rel in ("", "."):
                return None
            first = rel.split("/", 1)[0]
            if not fnmatch.fnmatchcase(first, glob):
                return None
            matched.add(first)
            return rel

        extract(ResponseReader(resp, copied), dest_dir, select, owner=owner)
    if not matched:
        raise StatusError(f"Error response from daemon: Could not find the file {pattern} "
                          f"in container {container}", 1)


def rebase(name: str, old_root: str, new_root: str) -> str | None:
    """``old_root/x`` → ``new_root/x`` (``new_root`` empty: ``x``); None for a name
    outside ``old_root``."""
    name = name.rstrip("/")
    old = old_root.rstrip("/")
    if old in ("", "."):
        # The root's archive: "/x" as Docker names it (older daemons: "./x").
        rel = name[2:] if name.startswith("./") else ("" if name == "." else name.lstrip("/"))
    elif name == old:
        rel = ""
    elif name.startswith(old + "/"):
        rel = name[len(old) + 1:]
    else:
        return None
    if not new_root or new_root == ".":
        return rel or "."
    return f"{new_root}/{rel}" if rel else new_root


def extract(fileobj: ResponseReader, dest_dir: str, rename: Callable[[str], str | None], *,
            owner: tuple[int, int] | None) -> None:
    """Extract the tar stream into ``dest_dir``, each entry under ``rename(name)``
    (skipped when None); entries that would land outside ``dest_dir`` (``..``, through
    a symlink, a hard link to outside) are refused. Files get the caller's owner (or
    ``owner``)."""
    dest_real = os.path.realpath(dest_dir)
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            new = rename(member.name)
            if new is None:
                continue
            if new == ".":
                continue  # the destination directory itself exists already
            member.name = new
            if member.islnk():
                link = rename(member.linkname)
                if link is None or link == ".":
                    continue  # a hard link to an entry left out of the copy
                member.linkname = link
            _make_room(dest_real, member)
            if member.isdev() and os.geteuid() != 0:
                continue
            # The docker CLI's NoLchown: keep the mode and times, the owner is ours.
            member.uid, member.gid, member.uname, member.gname = _OURS
            try:
                tar.extract(member, dest_real, set_attrs=True, numeric_owner=True,
                            **_TRUSTED)
            except FileExistsError as exc:
                raise StatusError(str(exc), 1) from None
            if owner is not None:
                os.lchown(os.path.join(dest_real, new), *owner)


_OURS = (os.geteuid(), os.getegid(), "", "")
# Entries are checked by _make_room: tarfile's own extraction filters (3.11.4+; Debian
# 12's Python 3.11.2 has none) are told to trust them, where they exist.
_TRUSTED: dict[str, Any] = (
    {"filter": tarfile.fully_trusted_filter} if hasattr(tarfile, "fully_trusted_filter")
    else {})


def _make_room(dest_real: str, member: tarfile.TarInfo) -> None:
    """Refuse an entry whose parent directory (symlinks resolved) is not inside
    ``dest_real``, or a hard link to outside it; then clear the entry's path: an existing
    non-directory is unlinked (a symlink there is replaced, never written through), an
    existing directory is kept for a directory entry, and a directory and a
    non-directory never replace one another (docker's ``NoOverwriteDirNonDir``)."""
    name = member.name
    if name.startswith("/") or ".." in name.split("/"):
        raise StatusError(f"refusing to extract {name!r}: outside the destination", 1)
    head, tail = os.path.split(name)
    parent = os.path.realpath(os.path.join(dest_real, head))
    if os.path.commonpath([parent, dest_real]) != dest_real or not tail:
        raise StatusError(f"refusing to extract {name!r}: outside the destination", 1)
    if member.islnk():
        link = os.path.realpath(os.path.join(dest_real, member.linkname))
        if os.path.commonpath([link, dest_real]) != dest_real:
            raise StatusError(f"refusing to extract {name!r}: a hard link out of the "
                              "destination", 1)
    path = os.path.join(parent, tail)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:  # a parent that is not a directory
        raise StatusError(f"cannot extract {name!r}: {exc.strerror}", 1) from None
    if stat_mod.S_ISDIR(mode):
        if not member.isdir():
            raise StatusError(f'cannot overwrite directory "{path}" with non-directory '
                              f'"{dest_real}"', 1)
    elif member.isdir():
        raise StatusError(f'cannot overwrite non-directory "{path}" with directory '
                          f'"{dest_real}"', 1)
    else:
        os.unlink(path)

