"""The mount table cache (``cgroups.mounts._MountTable``) read by several threads at once,
as the daemon's workers do for two ``stats`` requests: every reader gets the whole table
(one shared file offset moved by two readers once gave a torn table, so a running
container's cgroup was "not found" and ``docker stats`` printed zeros)."""

from __future__ import annotations

import threading

from dockyard.runtime.cgroups import mounts


def test_threads_reading_at_once_all_get_the_whole_table() -> None:
    expected = mounts.parse_mountinfo(mounts._read_text(mounts.DEFAULT_MOUNTINFO))
    table = mounts._MountTable()
    wrong: list[object] = []
    start = threading.Barrier(4)

    def reader() -> None:
        start.wait()
        for _ in range(200):
            table._text = None  # as after a change of the mounts: read again
            got = table.hierarchies(mounts.DEFAULT_ROOT)
            if got != expected:
                wrong.append(got)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not wrong
