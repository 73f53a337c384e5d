"""``User`` (``name``, ``uid``, ``name:group``, ``uid:gid``) resolved against the container's
own ``/etc/passwd`` and ``/etc/group``, read *inside* its root filesystem.

The image is untrusted: ``/etc/passwd`` may be a symlink to ``/etc/shadow`` of the host, or
``/etc`` a symlink to ``../../../../etc``. Paths are therefore walked one component at a
time from a directory descriptor of the rootfs (``O_PATH | O_NOFOLLOW``), symlinks are
resolved by hand as the container would see them (absolute targets restart at the rootfs,
``..`` stops at it), so nothing outside the rootfs is ever opened (what ``openat2`` with
``RESOLVE_IN_ROOT`` does, which Python does not expose). Reads are bounded.

The rules are runc's ``GetExecUser``: a name must exist in passwd; a numeric uid need not
(gid 0, home ``/``); the group is the passwd entry's unless one is given; supplementary
groups are the primary group first, then the groups listing the user (unless a group was
given), then ``GroupAdd``, each once. The primary group is among them as in moby since
20.10.18 (CVE-2022-36109, ``getUser``): without it, a process that changes its gid (a
setgid program) sheds the primary group, and a file's group bits that deny that group
(mode 0604) no longer apply to it.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

MAX_LINKS = 40
MAX_FILE = 4 << 20


@dataclass(frozen=True, slots=True)
class ExecUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str


def open_in_root(root: str, path: str) -> int:
    """An ``O_PATH`` descriptor of ``path`` resolved inside ``root`` (final symlink
    followed); ``FileNotFoundError``/``OSError`` as the walk finds."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return _walk(root_fd, path)
    finally:
        os.close(root_fd)


def _walk(root_fd: int, path: str) -> int:
    todo = [p for p in path.split("/") if p]
    todo.reverse()
    stack: list[int] = []  # descriptors of the directories walked, root excluded
    links = 0

    def current() -> int:
        return stack[-1] if stack else root_fd

    try:
        while todo:
            part = todo.pop()
            if part == ".":
                continue
            if part == "..":
                if stack:
                    os.close(stack.pop())
                continue
            fd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=current())
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(part, dir_fd=current())
                os.close(fd)
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
                if target.startswith("/"):
                    while stack:
                        os.close(stack.pop())
                todo.extend(reversed([p for p in target.split("/") if p]))
                continue
            if todo and not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                raise OSError(errno.ENOTDIR, "not a directory", path)
            stack.append(fd)
        return stack.pop() if stack else os.dup(root_fd)
    finally:
        for fd in stack:
            os.close(fd)


def read_in_root(root: str, path: str, limit: int = MAX_FILE) -> bytes | None:
    """The contents of a regular file inside ``root``; None if it does not exist."""
    try:
        fd = open_in_root(root, path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        rfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    finally:
        os.close(fd)
    try:
        data = os.read(rfd, limit + 1)
    finally:
        os.close(rfd)
    if len(data) > limit:
        raise InvalidArgument(f"{path} in the container is larger than {limit} bytes")
    return data


@dataclass(frozen=True, slots=True)
class _Passwd:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True, slots=True)
class _Group:
    name: str
    gid: int
    members: tuple[str, ...]


def _lines(data: bytes | None) -> list[list[str]]:
    if data is None:
        return []
    out = []
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line.split(":"))
    return out


def parse_passwd(data: bytes | None) -> list[_Passwd]:
    out = []
    for f in _lines(data):
        if len(f) >= 4 and f[2].isdigit() and f[3].isdigit():
            out.append(_Passwd(f[0], int(f[2]), int(f[3]), f[5] if len(f) > 5 else ""))
    return out


def parse_group(data: bytes | None) -> list[_Group]:
    out = []
    for f in _lines(data):
        if len(f) >= 3 and f[2].isdigit():
            members = tuple(m for m in (f[3].split(",") if len(f) > 3 else []) if m)
            out.append(_Group(f[0], int(f[2]), members))
    return out


def _id(text: str) -> int | None:
    if text.isdigit():
        value = int(text)
        if value < 2**32 - 1:
            return value
    return None


def resolve_user(rootfs: str, user: str, group_add: tuple[str, ...] = ()) -> ExecUser:
    """The uid, gid, supplementary gids and home of ``user`` in the container at ``rootfs``."""
    name, _, group = user.partition(":")
    passwd = parse_passwd(read_in_root(rootfs, "/etc/passwd"))
    groups = parse_group(read_in_root(rootfs, "/etc/group"))
    if not name:
        name = "0"
    uid = _id(name)
    entry = next((p for p in passwd if (p.uid == uid if uid is not None else p.name == name)),
                 None)
    if entry is None and uid is None:
        raise InvalidArgument(f"unable to find user {name}: no matching entries in passwd file")
    gid = entry.gid if entry is not None else 0
    if group:
        gid_num = _id(group)
        if gid_num is None:
            g = next((g for g in groups if g.name == group), None)
            if g is None:
                raise InvalidArgument(
                    f"unable to find group {group}: no matching entries in group file")
            gid_num = g.gid
        gid = gid_num
    extra: list[int] = []
    if not group and entry is not None:
        extra = [g.gid for g in groups if entry.name in g.members]
    for add in group_add:
        num = _id(add)
        if num is None:
            g = next((g for g in groups if g.name == add), None)
            if g is None:
                raise InvalidArgument(f"Unable to find group {add}: no matching entries in "
                                      "group file")
            num = g.gid
        extra.append(num)
    home = entry.home if entry is not None and entry.home else "/"
    return ExecUser(uid if uid is not None else entry.uid if entry is not None else 0, gid,
                    tuple(dict.fromkeys((gid, *extra))), home)
