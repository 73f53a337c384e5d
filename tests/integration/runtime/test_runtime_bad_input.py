"""Bad input: every refusal exits nonzero with a clear message and leaves nothing behind
(no state entry, no cgroup, no container process, no mount).

Where runc is lenient (it warns and goes on), the test says so and holds our runtime to
the safe outcome rather than to the exit status.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Box, Runtime

pytestmark = pytest.mark.root


def assert_refused(rt: Runtime, box: Box, *needles: str, command: str = "run") -> None:
    """``command`` on the box fails with a message naming the problem, and leaves nothing."""
    before = set(rt.container_processes())
    r = rt.run(box) if command == "run" else rt.create(box)
    assert r.returncode != 0, r
    message = r.stderr.lower()
    assert message.strip(), "no error message on stderr"
    for needle in needles:
        assert needle.lower() in message, f"{needle!r} not in the error: {r.stderr!r}"
    assert_nothing_left(rt, box, before)


def assert_nothing_left(rt: Runtime, box: Box, before: set[int] | None = None) -> None:
    assert not os.path.lexists(rt.root / box.id), f"state entry {rt.root / box.id} left"
    listed = rt.cli("list", "-q")
    assert box.id not in listed.stdout.split(), listed
    assert rt.existing_cgroup_dirs(box.id) == []
    assert rt.mounts_under(box.bundle) == []
    rt.wait_for(lambda: set(rt.container_processes()) <= (before or set()), 5.0,
                "no container process left behind")


def write_config(box: Box, text: str) -> None:
    (box.bundle / "config.json").write_text(text)


def edit_config(box: Box, change: Any) -> None:
    spec = box.config()
    change(spec)
    write_config(box, json.dumps(spec))


# ---------------------------------------------------------------------------- the bundle


def test_missing_bundle(oci_runtime: Runtime, tmp_path: Path) -> None:
    box = oci_runtime.bundle(["true"])
    missing = tmp_path / "no-such-bundle"
    r = oci_runtime.cli("run", "--bundle", str(missing), box.id)
    assert r.returncode != 0, r
    assert "no such file" in r.stderr.lower(), r.stderr
    assert_nothing_left(oci_runtime, box)


@pytest.mark.parametrize("command", ["run", "create"])
def test_missing_config_json(oci_runtime: Runtime, command: str) -> None:
    box = oci_runtime.bundle(["true"])
    (box.bundle / "config.json").unlink()
    assert_refused(oci_runtime, box, "config.json", command=command)


@pytest.mark.parametrize("text", ["{not json", "", "[]"])
def test_malformed_config_json(oci_runtime: Runtime, text: str) -> None:
    box = oci_runtime.bundle(["true"])
    write_config(box, text)
    assert_refused(oci_runtime, box)


def test_config_json_with_wrong_types(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["true"])
    edit_config(box, lambda s: s["process"].update(args="sh -c true"))
    assert_refused(oci_runtime, box, "args")


def test_config_without_process(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["true"])
    edit_config(box, lambda s: s.pop("process"))
    assert_refused(oci_runtime, box, "process")


def test_empty_args(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["true"])
    edit_config(box, lambda s: s["process"].update(args=[]))
    assert_refused(oci_runtime, box, "args")


def test_relative_cwd(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["true"])
    edit_config(box, lambda s: s["process"].update(cwd="relative/dir"))
    assert_refused(oci_runtime, box, "cwd")


# ---------------------------------------------------------------------------- root and mounts


def test_rootfs_that_does_not_exist(oci_runtime: Runtime, tmp_path: Path) -> None:
    box = oci_runtime.bundle(["true"])
    edit_config(box, lambda s: s["root"].update(path=str(tmp_path / "no-such-rootfs")))
    assert_refused(oci_runtime, box, "rootfs")


def test_rootfs_that_is_a_file(oci_runtime: Runtime, tmp_path: Path) -> None:
    box = oci_runtime.bundle(["true"])
    (tmp_path / "rootfs-file").write_text("not a directory\n")
    edit_config(box, lambda s: s["root"].update(path=str(tmp_path / "rootfs-file")))
    assert_refused(oci_runtime, box, "not a directory")


def test_bind_source_that_does_not_exist(oci_runtime: Runtime, tmp_path: Path) -> None:
    box = oci_runtime.bundle(["true"])
    edit_config(box, lambda s: s["mounts"].append(
        {"destination": "/mnt", "type": "bind", "source": str(tmp_path / "no-such-source"),
         "options": ["rbind"]}))
    assert_refused(oci_runtime, box, "no-such-source")


def test_unknown_filesystem_type(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["true"])
    edit_config(box, lambda s: s["mounts"].append(
        {"destination": "/mnt", "type": "nosuchfs", "source": "x", "options": []}))
    assert_refused(oci_runtime, box, "/mnt")


@pytest.mark.parametrize("link", ["absolute", "relative"])
def test_mount_destination_escaping_through_symlink_stays_inside(
        oci_runtime: Runtime, tmp_path: Path, link: str) -> None:
    """A symlink in the rootfs pointing out must resolve *inside* the rootfs (runc uses
    securejoin: it runs the container with the mount confined). A refusal is acceptable
    too, but the host path must never be created or mounted on."""
    outside = tmp_path / "outside"
    box = oci_runtime.bundle(["cat", "/proc/self/mounts"], copy_rootfs=True)
    rootfs = box.bundle / "rootfs"
    target = str(outside) if link == "absolute" else "../" * 12 + str(outside).lstrip("/")
    (rootfs / "mnt" / "escape").symlink_to(target)
    edit_config(box, lambda s: s["mounts"].append(
        {"destination": "/mnt/escape/sub", "type": "tmpfs", "source": "tmpfs",
         "options": ["size=1m"]}))
    before = set(oci_runtime.container_processes())
    r = oci_runtime.run(box)
    assert not os.path.lexists(outside), f"the runtime followed the symlink out to {outside}"
    if r.returncode == 0:
        assert f"{outside}/sub" in r.stdout, "the mount landed at the in-root path"
        assert (rootfs / str(outside).lstrip("/") / "sub").is_dir()
    else:
        assert r.stderr.strip(), "a refusal must say why"
        assert_nothing_left(oci_runtime, box, before)


def test_proc_as_symlink_in_rootfs_is_refused(oci_runtime: Runtime, tmp_path: Path) -> None:
    """CVE-2019-19921 class: procfs must be mounted on an ordinary directory."""
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    box = oci_runtime.bundle(["true"], copy_rootfs=True)
    (box.bundle / "rootfs" / "proc").rmdir()
    (box.bundle / "rootfs" / "proc").symlink_to(decoy)
    assert_refused(oci_runtime, box, "proc")
    assert list(decoy.iterdir()) == []


# ---------------------------------------------------------------------------- namespaces


def test_unknown_namespace_type(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["true"])
    edit_config(box, lambda s: s["linux"]["namespaces"].append({"type": "bogus"}))
    assert_refused(oci_runtime, box, "bogus")


def test_duplicated_namespace(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["true"])
    edit_config(box, lambda s: s["linux"]["namespaces"].append({"type": "pid"}))
    assert_refused(oci_runtime, box, "pid")


def test_namespace_path_that_does_not_exist(oci_runtime: Runtime, tmp_path: Path) -> None:
    box = oci_runtime.bundle(["true"])
    missing = str(tmp_path / "no-such-ns")

    def change(spec: dict[str, Any]) -> None:
        for ns in spec["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = missing

    edit_config(box, change)
    assert_refused(oci_runtime, box, "no-such-ns")


def test_namespace_path_that_is_not_a_namespace(oci_runtime: Runtime, tmp_path: Path) -> None:
    box = oci_runtime.bundle(["true"])
    plain = tmp_path / "plain-file"
    plain.write_text("")

    def change(spec: dict[str, Any]) -> None:
        for ns in spec["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = str(plain)

    edit_config(box, change)
    assert_refused(oci_runtime, box)


# ---------------------------------------------------------------------------- process


def test_missing_executable(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["/no/such/binary"])
    assert_refused(oci_runtime, box, "/no/such/binary")


def test_unknown_rlimit(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["true"])
    edit_config(box, lambda s: s["process"]["rlimits"].append(
        {"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}))
    assert_refused(oci_runtime, box, "RLIMIT_BOGUS")


def test_unknown_capability_is_not_granted(oci_runtime: Runtime) -> None:
    """runc warns "ignoring unknown or unavailable capabilities" and runs anyway."""
    box = oci_runtime.bundle(["grep", "CapEff", "/proc/self/status"])
    edit_config(box, lambda s: [caps.append("CAP_BOGUS") for caps in
                                (s["process"]["capabilities"]["bounding"],
                                 s["process"]["capabilities"]["effective"],
                                 s["process"]["capabilities"]["permitted"])])
    r = oci_runtime.run(box)
    assert "CAP_BOGUS" in r.stderr, r
    if r.returncode == 0:
        assert r.stdout.split() == ["CapEff:", "00000000a80425fb"], r
    else:
        assert_nothing_left(oci_runtime, box)


# ---------------------------------------------------------------------------- ids


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", ".", ""])
def test_invalid_container_id(oci_runtime: Runtime, bad_id: str, tmp_path: Path) -> None:
    box = oci_runtime.bundle(["true"])
    before = sorted(p.name for p in tmp_path.iterdir())
    r = oci_runtime.cli("create", "--bundle", str(box.bundle), bad_id)
    assert r.returncode != 0, r
    assert r.stderr.strip(), "a refusal must say why"
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert os.listdir(oci_runtime.root) == []


def test_duplicate_container_id(oci_runtime: Runtime) -> None:
    first = oci_runtime.bundle(["sh", "-c", "echo up; exec sleep 100"])
    pid = oci_runtime.started(first, ready="up")
    second = oci_runtime.bundle(["true"])
    r = oci_runtime.cli("create", "--bundle", str(second.bundle), first.id)
    assert r.returncode != 0, r
    assert "exist" in r.stderr, r.stderr
    state = oci_runtime.state(first.id)
    assert (state["status"], state["pid"], state["bundle"]) == ("running", pid,
                                                                 str(first.bundle))
