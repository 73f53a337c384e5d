"""Directory work shared by the v1 and v2 managers: making a cgroup's levels, undoing that,
removing a cgroup tree leaf-first while the kernel is still reaping, and moving a pid.

Lessons from runc's ``cgroups/utils.go``: ``rmdir`` on a cgroup fails with EBUSY while it
still has tasks (an exited task stays until reaped) or child cgroups, so removal goes
leaf-first and is retried with a growing delay; ENOENT means someone else already removed
it. Writing a pid to ``cgroup.procs`` can fail with EINVAL while the task is still being
set up by ``clone`` (TASK_NEW), so that write is retried a few times.
"""

from __future__ import annotations

import errno
import os
import time

from dockyard.errors import FailedPrecondition, NotFound
from dockyard.runtime.cgroups import files

# Not typing's TYPE_CHECKING: the runtime CLI's start-up (dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Sequence


def _log() -> logging.Logger:
    """This module's logger. ``logging`` costs ~7 ms to import, and the runtime CLI's
    start-up matters, so it is loaded only when something is actually logged."""
    import logging

    return logging.getLogger(__name__)


def make_levels(base: str, target: str,
                on_level: Callable[[str, str, bool], None] | None = None) -> list[str]:
    """Make every directory from ``base`` (which exists: a hierarchy's mount point) down to
    ``target``. ``on_level(dir, parent, is_leaf)`` runs for each level below ``base``,
    new or not, before the next level is made (cpuset copies its parent's values there).
    Returns the directories made by this call, top-down, for ``remove_made``.

    If anything fails, what was made is removed before the error propagates.
    """
    rel = os.path.relpath(target, base)
    parts = [] if rel == "." else rel.split(os.sep)
    made: list[str] = []
    cur = base
    try:
        for i, part in enumerate(parts):
            parent, cur = cur, os.path.join(cur, part)
            try:
                os.mkdir(cur, 0o755)
                made.append(cur)
            except FileExistsError:
                pass
            except OSError as e:
                raise files.translate(e, cur) from e
            if on_level is not None:
                on_level(cur, parent, i == len(parts) - 1)
    except BaseException:
        remove_made(made)
        raise
    return made


def remove_made(made: Sequence[str]) -> None:
    """Undo ``make_levels`` (bottom-up) on a failure path; a directory that cannot be
    removed is logged, not raised, so the original error is the one reported."""
    for d in reversed(made):
        try:
            os.rmdir(d)
        except FileNotFoundError:
            pass
        except OSError as e:
            _log().warning("cleaning up cgroup %s after a failed create: %s", d, e.strerror)


def _rmdir_tree(d: str) -> None:
    """Remove cgroup directory ``d`` and its sub-cgroups, leaf-first; raises ``OSError``
    (EBUSY while tasks remain). A missing directory is already removed."""
    try:
        os.rmdir(d)
        return
    except FileNotFoundError:
        return
    except OSError as e:
        if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):
            raise
    try:
        with os.scandir(d) as it:
            children = [e.path for e in it if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return
    for child in children:
        _rmdir_tree(child)
    try:
        os.rmdir(d)
    except FileNotFoundError:
        return


def remove_trees(dirs: Sequence[str], timeout: float) -> None:
    """Remove every cgroup directory in ``dirs`` (with sub-cgroups), retrying with backoff
    while the kernel answers EBUSY, for up to ``timeout`` seconds in all."""
    deadline = time.monotonic() + max(timeout, 0.0)
    delay = 0.005
    pending = list(dirs)
    while True:
        busy: list[tuple[str, OSError]] = []
        for d in pending:
            try:
                _rmdir_tree(d)
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise files.translate(e, d) from e
                busy.append((d, e))
        if not busy:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            stuck, err = busy[0]
            pids = files.procs_recursive(stuck)
            raise FailedPrecondition(
                f"cannot remove cgroup {stuck}: {err.strerror}"
                + (f" (processes still in it: {pids[:10]})" if pids else ""))
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.1)
        pending = [d for d, _ in busy]


def write_pid(procs_file: str, pid: int) -> None:
    """Write ``pid`` to a ``cgroup.procs`` file, retrying EINVAL (a task still in
    TASK_NEW) a few times."""
    for attempt in range(5):
        try:
            files.write_raw(procs_file, str(pid))
            return
        except OSError as e:
            if e.errno == errno.EINVAL and attempt < 4:
                time.sleep(0.03)
                continue
            if e.errno == errno.ESRCH:
                raise NotFound(f"cannot move process {pid} to {procs_file}: no such process") from e
            raise files.translate(e, procs_file, str(pid)) from e
