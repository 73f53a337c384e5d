"""dockyard's default seccomp profile: what it refuses, what a capability gives back,
and that the runtime's parser and libseccomp take it."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.daemon.containers import seccomp_profile as sp
from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import parse_seccomp
from dockyard.runtime import seccomp

DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE",
                "CAP_SETFCAP"]


def _denied(profile: dict[str, Any]) -> set[str]:
    return {n for r in profile["syscalls"] if not r.get("args") and r["errnoRet"] == sp.EPERM
            for n in r["names"]}


def test_the_default_refuses_the_host_s_interfaces() -> None:
    p = sp.default_profile(DEFAULT_CAPS)
    assert p["defaultAction"] == "SCMP_ACT_ALLOW"
    denied = _denied(p)
    for call in ("keyctl", "add_key", "request_key", "unshare", "setns", "mount",
                 "open_by_handle_at", "init_module", "kexec_load", "bpf", "perf_event_open",
                 "io_uring_setup", "userfaultfd", "clock_settime", "reboot", "acct"):
        assert call in denied, call
    for call in ("read", "write", "clone", "execve", "ptrace", "chroot", "memfd_create"):
        assert call not in denied, call
    clones = [r for r in p["syscalls"] if r["names"] == ["clone"]]
    assert len(clones) == 7 and {r["args"][0]["value"] for r in clones} == {
        0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
        0x40000000}
    assert {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": sp.ENOSYS} in \
        p["syscalls"]


def test_a_capability_gives_its_calls_back() -> None:
    p = sp.default_profile([*DEFAULT_CAPS, "CAP_SYS_ADMIN", "CAP_SYS_TIME"])
    denied = _denied(p)
    assert not {"mount", "unshare", "setns", "bpf", "clock_settime"} & denied
    assert {"keyctl", "init_module", "reboot"} <= denied  # not lifted by those two
    assert not any(r["names"] in (["clone"], ["clone3"]) for r in p["syscalls"])


def test_chosen_as_docker_does() -> None:
    caps = DEFAULT_CAPS
    assert sp.profile_for(False, (), caps) == sp.default_profile(caps)
    assert sp.profile_for(False, ("no-new-privileges",), caps) == sp.default_profile(caps)
    assert sp.profile_for(False, ("seccomp=builtin",), caps) == sp.default_profile(caps)
    assert sp.profile_for(True, (), caps) is None
    assert sp.profile_for(False, ("seccomp=unconfined",), caps) is None
    assert sp.profile_for(False, ("seccomp:unconfined",), caps) is None
    # The last seccomp option counts.
    assert sp.profile_for(False, ("seccomp=unconfined", "seccomp=builtin"), caps) is not None


_DOCKER_FORMAT = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"name": "exit_group", "action": "SCMP_ACT_ALLOW", "comment": "the old form"},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["chroot"], "action": "SCMP_ACT_ALLOW",
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["uselib"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
    ],
}


def _names(profile: dict[str, Any]) -> set[str]:
    return {n for r in profile["syscalls"] for n in r["names"]}


def test_a_docker_format_profile_becomes_the_spec_s(monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import os
    real = os.uname()
    monkeypatch.setattr(sp.os, "uname", lambda: real._replace(machine="x86_64")
                        if hasattr(real, "_replace") else real)
    text = json.dumps(_DOCKER_FORMAT)
    plain = sp.from_docker_profile(text, DEFAULT_CAPS)
    assert plain["defaultAction"] == "SCMP_ACT_ERRNO" and plain["defaultErrnoRet"] == 1
    assert plain["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert _names(plain) == {"read", "write", "exit_group", "chroot", "ptrace", "personality"}
    admin = sp.from_docker_profile(text, [*DEFAULT_CAPS, "CAP_SYS_ADMIN"])
    assert "mount" in _names(admin) and "chroot" not in _names(admin)
    assert next(r for r in plain["syscalls"] if r["names"] == ["personality"])["args"] == [
        {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]
    seccomp.compile(parse_seccomp(plain))  # libseccomp takes it


@pytest.mark.parametrize(("text", "words"), [
    ("{not json", "Decoding seccomp profile failed"),
    ("[]", "Decoding seccomp profile failed"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {"a": 1}}', "syscalls is not a list"),
    ('{"defaultAction": "SCMP_ACT_PERHAPS"}', "seccomp profile: linux.seccomp.defaultAction"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], '
     '"action": "SCMP_ACT_ERRNO", "includes": ["CAP_SYS_ADMIN"]}]}', "includes is not an object"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], '
     '"action": "SCMP_ACT_ERRNO", "excludes": {"caps": 7}}]}', "caps is not a list of strings"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], '
     '"action": "SCMP_ACT_ERRNO", "includes": {"arches": [1]}}]}',
     "arches is not a list of strings"),
])
def test_a_bad_profile_is_refused(text: str, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        sp.from_docker_profile(text, DEFAULT_CAPS)


def test_the_runtime_parses_and_compiles_it() -> None:
    filt = parse_seccomp(sp.default_profile(DEFAULT_CAPS))
    program = seccomp.compile(filt)
    assert len(program.bpf) % 8 == 0 and len(program.bpf) // 8 > 20
    assert seccomp.compiled(filt) is seccomp.compiled(filt)  # once per filter


@pytest.mark.parametrize(("doc", "field"), [
    ({"defaultAction": "SCMP_ACT_NOPE"}, "linux.seccomp.defaultAction"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86_64"]},
     "linux.seccomp.architectures"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"]},
     "linux.seccomp.flags"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock"},
     "linux.seccomp.listenerPath"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]},
     "linux.seccomp.syscalls[0].names"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]},
     "linux.seccomp.syscalls[0].args[0].op"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "linux.seccomp.syscalls[0].args[0].index"),
])
def test_bad_filters_are_refused_naming_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_seccomp(doc)
