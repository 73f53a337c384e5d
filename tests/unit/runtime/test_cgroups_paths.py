"""cgroupsPath resolution, mount table parsing and the deferred manager (no cgroups needed)."""

from __future__ import annotations

import pytest

from dockyard.errors import FailedPrecondition, InvalidArgument
from dockyard.runtime.cgroups import (
    DeferredManager,
    Hierarchy,
    new_manager,
    parse_mountinfo,
    resolve_cgroups_path,
)

HYBRID = """\
22 1 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 22 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
42 31 0:39 / /sys/fs/cgroup/elogind rw,relatime - cgroup cgroup rw,name=elogind
43 1 0:32 /docker /mnt/memory\\040copy rw,relatime - cgroup cgroup rw,memory
"""


# --------------------------------------------------------------------------- cgroupsPath


@pytest.mark.parametrize(("given", "expected"), [
    ("", "/dockyard/abc"),
    ("/", None),
    ("/a/b", "/a/b"),
    ("/a//b/./c/", "/a/b/c"),
    ("x", "/dockyard/x"),
    ("x/y", "/dockyard/x/y"),
])
def test_resolve_cgroups_path(given: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(InvalidArgument, match="root cgroup"):
            resolve_cgroups_path(given, "abc")
    else:
        assert resolve_cgroups_path(given, "abc") == expected


@pytest.mark.parametrize("bad", ["/a/../b", "..", "a/..", "system.slice:docker:abc",
                                 "/a/b\0c"])
def test_resolve_cgroups_path_refuses(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        resolve_cgroups_path(bad, "abc")


def test_systemd_form_error_says_why() -> None:
    with pytest.raises(InvalidArgument, match="systemd"):
        new_manager("system.slice:docker:abc", "abc")


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b", "a:b"])
def test_empty_path_needs_a_usable_id(cid: str) -> None:
    with pytest.raises(InvalidArgument):
        resolve_cgroups_path("", cid)


def test_new_manager_touches_nothing(tmp_path: object) -> None:
    # Neither the root nor the mount table exist: constructing must still succeed.
    m = new_manager("", "abc", root="/nonexistent/cgroup", mountinfo="/nonexistent/mountinfo")
    assert isinstance(m, DeferredManager)
    assert m.path == "/dockyard/abc"
    # First use looks things up, and says clearly what is wrong.
    with pytest.raises(FailedPrecondition, match="/nonexistent/cgroup"):
        m.exists()


def test_new_manager_relative_and_absolute() -> None:
    assert new_manager("/my/group", "abc").path == "/my/group"
    assert new_manager("rel", "abc").path == "/dockyard/rel"


# --------------------------------------------------------------------------- mountinfo


def test_parse_mountinfo_hybrid() -> None:
    hs = parse_mountinfo(HYBRID)
    by_key = {h.key: h for h in hs}
    # kernel controllers and name=systemd; other named hierarchies are skipped
    assert set(by_key) == {"cpu,cpuacct", "cpuset", "memory", "net_cls,net_prio",
                           "name=systemd", ""}
    assert by_key["cpu,cpuacct"].mountpoint == "/sys/fs/cgroup/cpu,cpuacct"
    assert by_key["cpu,cpuacct"].controllers == ("cpu", "cpuacct")
    assert by_key["cpuset"].controllers == ("cpuset",)  # clone_children is an option
    assert by_key["name=systemd"].name == "systemd"
    unified = by_key[""]
    assert unified.version == 2 and unified.mountpoint == "/sys/fs/cgroup/unified"
    # the first mount of a hierarchy wins over a later bind of it
    assert by_key["memory"].mountpoint == "/sys/fs/cgroup/memory"


def test_parse_mountinfo_unescapes_and_keeps_root() -> None:
    hs = parse_mountinfo("43 1 0:32 /docker /mnt/memory\\040copy rw - cgroup cgroup rw,memory\n")
    assert hs == (Hierarchy("/mnt/memory copy", "/docker", ("memory",), 1),)


def test_parse_mountinfo_pure_v2() -> None:
    text = ("30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
            "50 30 0:26 / /other rw - cgroup2 cgroup2 rw\n")
    assert parse_mountinfo(text) == (Hierarchy("/sys/fs/cgroup", "/", (), 2),)


def test_parse_mountinfo_ignores_garbage() -> None:
    assert parse_mountinfo("not a mountinfo line\n\n1 2 3\n") == ()


@pytest.mark.parametrize(("root", "path", "expected"), [
    ("/", "/dockyard/abc", "/m/dockyard/abc"),
    ("/docker", "/docker/abc", "/m/abc"),
    ("/docker", "/docker", "/m"),
    ("/docker", "/other/abc", "/m/other/abc"),
])
def test_dir_for(root: str, path: str, expected: str) -> None:
    assert Hierarchy("/m", root, ("memory",)).dir_for(path) == expected
