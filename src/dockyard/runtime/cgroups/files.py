"""Reading and writing cgroup interface files, with errors that name the file and the value.

cgroupfs files are not ordinary files: a write is one ``write(2)`` of the whole value (no
``O_CREAT`` - a missing file is a missing controller - and no buffering that could split
it), and the kernel answers a refused value with an errno on that write. ``O_TRUNC`` is
harmless on cgroupfs (a shell's ``>`` uses it) and makes plain files in tests behave. Every ``OSError`` is translated here into the
dockyard error taxonomy, so that nothing above this module sees a raw ``OSError``:

=====================  ==================================================================
errno                  error
=====================  ==================================================================
ENOENT (dir missing)   ``NotFound`` - the cgroup itself is gone
ENOENT (file missing)  ``FailedPrecondition`` - controller not mounted/enabled, or kernel
                       too old for this knob
EINVAL, ERANGE, ...    ``InvalidArgument`` - the kernel refused the value
EBUSY, ENOSPC          ``FailedPrecondition`` - refused in the current state (a limit
                       below usage, an empty cpuset, ...)
EPERM, EACCES          ``PermissionDenied``
ESRCH                  ``NotFound`` - the process to move does not exist
anything else          ``Internal``
=====================  ==================================================================
"""

from __future__ import annotations

import errno
import os

from dockyard.errors import (
    DockyardError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

# Not typing's TYPE_CHECKING: the runtime CLI's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

_INVALID = (errno.EINVAL, errno.ERANGE, errno.EOVERFLOW, errno.E2BIG)
_BUSY = (errno.EBUSY, errno.ENOSPC, errno.EAGAIN)
_DENIED = (errno.EPERM, errno.EACCES, errno.EROFS)


def translate(err: OSError, path: str, value: str | None = None) -> DockyardError:
    """Turn an ``OSError`` met on ``path`` (while writing ``value``, if given) into one of
    our errors, with a message that says which file, which value and what the kernel said."""
    reason = err.strerror or os.strerror(err.errno or 0)
    what = f"{path}: cannot write {value!r}" if value is not None else f"{path}: cannot read"
    code = err.errno
    if code == errno.ENOENT:
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            return NotFound(f"cgroup {parent} does not exist")
        return FailedPrecondition(
            f"{what}: no such file (controller not enabled here, or not supported by this kernel)")
    if code == errno.ESRCH:
        return NotFound(f"{what}: no such process")
    if code in _INVALID:
        return InvalidArgument(f"{what}: the kernel refused it ({reason})")
    if code in _BUSY:
        return FailedPrecondition(f"{what}: the kernel refused it in the current state ({reason})")
    if code in _DENIED:
        return PermissionDenied(f"{what}: {reason}")
    return Internal(f"{what}: {reason}")


def write_raw(path: str, value: str) -> None:
    """Write ``value`` to ``path`` in one ``write(2)``; raises ``OSError`` (for callers that
    must look at the errno, e.g. to explain an EBUSY)."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        data = value.encode()
        if os.write(fd, data) != len(data):
            raise OSError(errno.EIO, "short write to a cgroup file", path)
    finally:
        os.close(fd)


def write(path: str, value: str) -> None:
    """Write ``value`` to the cgroup file ``path``; errors translated (see module doc)."""
    try:
        write_raw(path, value)
    except OSError as e:
        raise translate(e, path, value) from e


def write_many(writes: Sequence[tuple[str, str]]) -> None:
    """``write`` each (path, value) in order, one ``write(2)`` each, opening each file once
    for all its values (the devices rules: one rule per write)."""
    opened: dict[str, int] = {}
    try:
        for path, value in writes:
            try:
                fd = opened.get(path)
                if fd is None:
                    fd = opened[path] = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
                data = value.encode()
                if os.write(fd, data) != len(data):
                    raise OSError(errno.EIO, "short write to a cgroup file", path)
            except OSError as e:
                raise translate(e, path, value) from e
    finally:
        for fd in opened.values():
            os.close(fd)


def read(path: str) -> str:
    """The whole content of ``path``; errors translated (a missing file is ``NotFound`` when
    its cgroup is gone and ``FailedPrecondition`` otherwise)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        raise translate(e, path) from e


def read_optional(path: str) -> str | None:
    """Like ``read`` but ``None`` when the file does not exist (an optional knob or a
    controller that is not there); a vanished cgroup is still ``NotFound``."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        if not os.path.isdir(os.path.dirname(path)):
            raise NotFound(f"cgroup {os.path.dirname(path)} does not exist") from None
        return None
    except OSError as e:
        raise translate(e, path) from e


def parse_int(text: str, path: str) -> int:
    """One integer from a cgroup file's text; ``Internal`` naming the file if malformed."""
    try:
        return int(text.strip())
    except ValueError:
        raise Internal(f"{path}: expected an integer, found {text.strip()[:40]!r}") from None


def parse_limit(text: str, path: str) -> int | None:
    """A limit that may be ``max`` (v2) - ``None`` meaning unlimited."""
    s = text.strip()
    return None if s == "max" else parse_int(s, path)


def parse_flat_keyed(text: str, path: str) -> dict[str, int]:
    """A "flat keyed" file (``key value`` per line: memory.stat, cpu.stat, ...)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise Internal(f"{path}: malformed line {line!r}")
        out[parts[0]] = parse_int(parts[1], path)
    return out


def read_int_optional(path: str) -> int | None:
    """An integer file, or ``None`` when the file does not exist."""
    text = read_optional(path)
    return None if text is None else parse_int(text, path)


def read_procs(path: str) -> list[int]:
    """The pids in a ``cgroup.procs`` file; an absent file (vanished cgroup) gives none."""
    try:
        with open(path, "rb") as f:  # bytes.decode: no codec module to load (a text
            text = f.read().decode("ascii")  # file's "ascii" loads encodings.ascii)
    except FileNotFoundError:
        return []
    except OSError as e:
        raise translate(e, path) from e
    return [parse_int(line, path) for line in text.split()]


def procs_recursive(cgroup_dir: str) -> list[int]:
    """Every pid in ``cgroup_dir`` and its descendants (sorted, unique); a missing
    directory has no processes."""
    pids: set[int] = set()
    stack = [cgroup_dir]
    while stack:
        d = stack.pop()
        pids.update(read_procs(os.path.join(d, "cgroup.procs")))
        try:
            with os.scandir(d) as it:
                stack.extend(e.path for e in it if e.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            continue
        except OSError as e:
            raise translate(e, d) from e
    return sorted(pids)


def is_dir(path: str) -> bool:
    """Whether ``path`` is a directory (no error for anything missing)."""
    return os.path.isdir(path)
