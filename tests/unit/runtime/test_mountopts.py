from __future__ import annotations

from dockyard.linux import syscalls as sc
from dockyard.runtime import mountopts


def test_flags_data_and_propagation() -> None:
    o = mountopts.parse(["nosuid", "noexec", "rbind", "ro", "rprivate", "mode=755", "size=64k"])
    assert o.flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY
    assert o.propagation == (sc.MS_PRIVATE | sc.MS_REC,)
    assert o.data == "mode=755,size=64k"
    assert o.is_bind


def test_clearing_words_undo_earlier_ones() -> None:
    o = mountopts.parse(["ro", "rw", "nosuid", "suid", "noexec", "exec"])
    assert o.flags == 0
    assert not o.is_bind
