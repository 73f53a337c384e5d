"""``runtime.seccomp.compile`` with libseccomp: a program of any size comes back (or is
refused for its length), never a hang."""

from __future__ import annotations

import threading

import pytest

from dockyard import errors
from dockyard.oci.runtime_spec import parse_seccomp
from dockyard.runtime import seccomp


def _ioctl_rules(n: int) -> dict[str, object]:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": i, "op": "SCMP_CMP_EQ"}]} for i in range(n)]}


def _compile_within(doc: dict[str, object], seconds: float) -> seccomp.Program:
    filt = parse_seccomp(doc)
    out: list[seccomp.Program | BaseException] = []

    def work() -> None:
        try:
            out.append(seccomp.compile(filt))
        except BaseException as exc:  # handed to the test's thread
            out.append(exc)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(seconds)
    assert out, f"compile did not return within {seconds}s"
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]


def test_a_small_filter_compiles() -> None:
    program = _compile_within(_ioctl_rules(10), 30)
    assert 0 < len(program.bpf) // 8 <= seccomp.BPF_MAXINSNS


def test_a_filter_longer_than_a_pipe_and_the_kernel_allow_is_refused_not_hung() -> None:
    # ~9000 instructions, ~72 KiB: more than a pipe's buffer (the old export hung on it)
    # and more than the kernel's 4096 instructions.
    with pytest.raises(errors.InvalidArgument, match="at most 4096"):
        _compile_within(_ioctl_rules(9000), 60)
