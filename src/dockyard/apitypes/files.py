"""The wire types of the file endpoints: ``X-Docker-Container-Path-Stat`` (base64 of
``ContainerPathStat`` JSON with Go's ``os.FileMode`` bits), ``FilesystemChange`` lists, and
the query and body of ``POST /commit``."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.apitypes.times import format_ns
from dockyard.archive import Change
from dockyard.archive.scoped import PathStat
from dockyard.errors import InvalidArgument
from dockyard.oci.manifest import ContainerConfig

__all__ = ["CommitRequest", "PathStat", "changes_json", "go_file_mode", "parse_commit",
           "path_stat_header", "path_stat_json"]

PATH_STAT_HEADER = "X-Docker-Container-Path-Stat"


@dataclass(frozen=True, slots=True)
class CommitRequest:
    """``POST /commit``: its query and the optional config override in its body."""

    container: str
    repo: str = ""
    tag: str = ""
    comment: str = ""
    author: str = ""
    pause: bool = True
    changes: tuple[str, ...] = ()
    config: ContainerConfig | None = None

# Go's os.FileMode type bits (io/fs).
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20
MODE_IRREGULAR = 1 << 19


def go_file_mode(st_mode: int) -> int:
    """``st_mode`` as Go's ``os.FileMode`` (what ``fs.FileInfo.Mode()`` returns)."""
    mode = st_mode & 0o777
    kind = stat.S_IFMT(st_mode)
    if kind == stat.S_IFDIR:
        mode |= MODE_DIR
    elif kind == stat.S_IFLNK:
        mode |= MODE_SYMLINK
    elif kind == stat.S_IFIFO:
        mode |= MODE_NAMED_PIPE
    elif kind == stat.S_IFSOCK:
        mode |= MODE_SOCKET
    elif kind == stat.S_IFCHR:
        mode |= MODE_DEVICE | MODE_CHAR_DEVICE
    elif kind == stat.S_IFBLK:
        mode |= MODE_DEVICE
    elif kind != stat.S_IFREG:
        mode |= MODE_IRREGULAR
    if st_mode & stat.S_ISUID:
        mode |= MODE_SETUID
    if st_mode & stat.S_ISGID:
        mode |= MODE_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= MODE_STICKY
    return mode


def path_stat_json(s: PathStat) -> dict[str, Any]:
    return {"name": s.name, "size": s.size, "mode": go_file_mode(s.mode),
            "mtime": format_ns(s.mtime_ns), "linkTarget": s.link_target}


def path_stat_header(s: PathStat) -> str:
    raw = json.dumps(path_stat_json(s), separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(raw.encode()).decode("ascii")


def changes_json(found: Sequence[Change]) -> list[dict[str, Any]] | None:
    """Docker's ``[{"Path", "Kind"}]``; ``null`` when nothing changed (Go's nil slice)."""
    if not found:
        return None
    return [{"Path": c.path, "Kind": c.kind.value} for c in found]


def _bool(query: Mapping[str, str], key: str, default: bool) -> bool:
    if key not in query or query[key] == "":
        return default
    return query[key].strip().lower() not in ("0", "no", "false", "none")


def parse_commit(query: Mapping[str, str], changes: Sequence[str], body: Any) -> CommitRequest:
    """``POST /commit``'s query and its optional body (a container ``Config``)."""
    container = query.get("container", "")
    if not container:
        raise InvalidArgument("container is required (container=...)")
    config = None
    if body is not None:
        if not isinstance(body, Mapping):
            raise InvalidArgument("the commit body must be a container config object")
        if body:
            config = ContainerConfig.from_json(body, "config")
    return CommitRequest(container=container, repo=query.get("repo", ""),
                         tag=query.get("tag", ""), comment=query.get("comment", ""),
                         author=query.get("author", ""), pause=_bool(query, "pause", True),
                         changes=tuple(changes), config=config)


def parse_archive_path(query: Mapping[str, str]) -> str:
    path = query.get("path", "")
    if not path:
        raise InvalidArgument("path is required (path=...)")
    return path
