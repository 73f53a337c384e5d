"""``linux.seccomp``: the container's process and the processes exec'd into it run under
the bundle's filter, in both runtimes alike (runc is the reference)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Runtime

pytestmark = pytest.mark.root

_CLONE_NEWUSER = 0x10000000


def _filter(no_new_privileges: bool = False) -> Any:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["noNewPrivileges"] = no_new_privileges
        spec["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                # mkdir fails with EACCES, rmdir with the default EPERM; the legacy open
                # too, which the C library no longer uses (nor the init's last steps).
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["rmdir", "open", "a_call_of_a_future_kernel"],
                 "action": "SCMP_ACT_ERRNO"},
                # unshare only with CLONE_NEWUSER.
                {"names": ["unshare"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": _CLONE_NEWUSER, "valueTwo": _CLONE_NEWUSER,
                           "op": "SCMP_CMP_MASKED_EQ"}]},
            ],
        }
    return edit


_PROBE = ("mkdir /tmp/a 2>&1; echo mkdir=$?; rmdir /tmp 2>&1; echo rmdir=$?; "
          "unshare -U true 2>&1; echo userns=$?; touch /dev/shm/f && echo touch=ok")


@pytest.mark.parametrize("nnp", [False, True], ids=["caps", "no-new-privs"])
def test_the_filter_applies_to_the_container_and_its_execs(oci_runtime: Runtime,
                                                           nnp: bool) -> None:
    box = oci_runtime.bundle(["sh", "-c", _PROBE + "; sleep 100"], _filter(nnp))
    oci_runtime.started(box, ready="touch=ok")
    out = box.output()
    assert "mkdir=1" in out and "Permission denied" in out, out
    assert "rmdir=1" in out and "Operation not permitted" in out, out
    assert "userns=1" in out, out  # CLONE_NEWUSER refused (it works without the filter)
    r = oci_runtime.exec(box.id, "sh", "-c", _PROBE)
    assert r.returncode == 0, r
    assert "mkdir=1" in r.stdout and "rmdir=1" in r.stdout and "userns=1" in r.stdout, r
    assert "touch=ok" in r.stdout, r
    assert oci_runtime.kill(box.id, "KILL").returncode == 0


def test_a_bad_filter_is_refused_with_its_field(oci_runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_SOMETHING"}]}

    box = oci_runtime.bundle(["true"], edit)
    r = oci_runtime.create(box)
    assert r.returncode != 0
    if oci_runtime.name == "dockyard":
        assert "linux.seccomp.syscalls[0].action" in r.stderr, r
