"""The device allow-list model, v1 transitions and the v2 eBPF program.

The eBPF program is checked by running it: a tiny interpreter for the handful of opcodes
we emit evaluates it for many device accesses, and the verdicts must match the model.
"""

from __future__ import annotations

import itertools
import struct

import pytest

from dockyard.errors import Internal, InvalidArgument
from dockyard.oci.runtime_spec import DeviceRule
from dockyard.runtime.cgroups import devices_bpf as bpf
from dockyard.runtime.cgroups.devices import DeviceEmulator, normalize_rule, v1_line

DENY_ALL = DeviceRule(allow=False)
ALLOW_ALL = DeviceRule(allow=True)


def allow(t: str, major: int | None, minor: int | None, access: str = "rwm") -> DeviceRule:
    return DeviceRule(allow=True, type=t, major=major, minor=minor, access=access)


def deny(t: str, major: int | None, minor: int | None, access: str = "rwm") -> DeviceRule:
    return DeviceRule(allow=False, type=t, major=major, minor=minor, access=access)


DOCKER_DEFAULT = (
    DENY_ALL,
    allow("c", None, None, "m"), allow("b", None, None, "m"),
    allow("c", 1, 3), allow("c", 1, 5), allow("c", 1, 7), allow("c", 5, 0), allow("c", 5, 1),
    allow("c", 1, 8), allow("c", 1, 9), allow("c", 5, 2), allow("c", 136, None),
    allow("c", 10, 200),
)


# --------------------------------------------------------------------------- rules


def test_normalize_rule() -> None:
    assert normalize_rule(DeviceRule(allow=True, type="c", major=-1, minor=3, access="mwr")) == \
        DeviceRule(allow=True, type="c", major=None, minor=3, access="rwm")
    assert normalize_rule(DeviceRule(allow=False, type="a", major=5, access="r")) == DENY_ALL
    for bad in (DeviceRule(allow=True, type="x"), DeviceRule(allow=True, access="rx"),
                DeviceRule(allow=True, access=""), DeviceRule(allow=True, type="c", major=-2),
                DeviceRule(allow=True, type="c", minor=1 << 32)):
        with pytest.raises(InvalidArgument):
            normalize_rule(bad)


def test_v1_line() -> None:
    assert v1_line(DENY_ALL) == "a *:* rwm"
    assert v1_line(allow("c", 1, 3)) == "c 1:3 rwm"
    assert v1_line(allow("b", None, None, "m")) == "b *:* m"
    assert v1_line(allow("c", 136, None, "rw")) == "c 136:* rw"


def test_emulator_in_order_semantics() -> None:
    emu = DeviceEmulator.from_rules(DOCKER_DEFAULT)
    assert not emu.default_allow
    assert emu.allows("c", 1, 3, "rw")           # /dev/null
    assert not emu.allows("c", 1, 1, "r")        # /dev/mem
    assert emu.allows("c", 8, 0, "m")            # mknod of anything char...
    assert not emu.allows("c", 8, 0, "r")        # ...but not reading it
    assert emu.allows("c", 136, 42, "rw")        # any pty
    # a later deny removes an earlier allow
    emu = DeviceEmulator.from_rules((DENY_ALL, allow("c", 1, 3), deny("c", 1, 3, "w")))
    assert emu.allows("c", 1, 3, "r") and not emu.allows("c", 1, 3, "w")
    # no deny-all first: the starting allow-all stays, with a deny exception
    emu = DeviceEmulator.from_rules((deny("c", 1, 3),))
    assert emu.default_allow and not emu.allows("c", 1, 3, "r") and emu.allows("c", 1, 5, "r")
    # an 'a' rule later resets everything
    emu = DeviceEmulator.from_rules((DENY_ALL, allow("c", 1, 3), ALLOW_ALL))
    assert emu.default_allow and not emu.exceptions


def test_emulator_refuses_hole_punching() -> None:
    with pytest.raises(InvalidArgument, match=r"devices\[2\].*c \*:\*"):
        DeviceEmulator.from_rules((DENY_ALL, allow("c", None, None, "rw"), deny("c", 1, 3, "r")))
    # same key, or no overlap in access, is fine
    DeviceEmulator.from_rules((DENY_ALL, allow("c", None, None, "m"), deny("c", 1, 3, "r")))
    DeviceEmulator.from_rules((DENY_ALL, allow("c", 1, None), deny("c", 1, None, "r")))


def test_from_list() -> None:
    assert DeviceEmulator.from_list("a *:* rwm\n").default_allow
    emu = DeviceEmulator.from_list("c 1:3 rwm\nc *:* m\nb 8:0 r\n")
    assert not emu.default_allow
    assert emu.allows("c", 1, 3, "w") and emu.allows("c", 9, 9, "m") and emu.allows("b", 8, 0, "r")
    with pytest.raises(Internal):
        DeviceEmulator.from_list("c 1:x rwm\n")


def test_transition_from_fresh_cgroup() -> None:
    fresh = DeviceEmulator.from_list("a *:* rwm\n")
    target = DeviceEmulator.from_rules((DENY_ALL, allow("c", 1, 5), allow("c", 1, 3)))
    assert [v1_line(r) + (" allow" if r.allow else " deny") for r in fresh.transition(target)] \
        == ["a *:* rwm deny", "c 1:3 rwm allow", "c 1:5 rwm allow"]


def test_transition_between_allow_lists_is_not_disruptive() -> None:
    live = DeviceEmulator.from_list("c 1:3 rwm\nc 1:5 rwm\nc 5:0 rw\n")
    target = DeviceEmulator.from_rules((DENY_ALL, allow("c", 1, 3), allow("c", 5, 0, "r"),
                                        allow("c", 1, 9)))
    steps = live.transition(target)
    assert all(r.type != "a" for r in steps)  # never passes through deny-all
    assert [(r.allow, v1_line(r)) for r in steps] == [
        (False, "c 1:5 rwm"), (False, "c 5:0 w"), (True, "c 1:9 rwm")]


def test_transition_to_deny_list() -> None:
    live = DeviceEmulator.from_list("c 1:3 rwm\n")
    target = DeviceEmulator.from_rules((ALLOW_ALL, deny("b", 8, None)))
    assert [(r.allow, v1_line(r)) for r in live.transition(target)] == [
        (True, "a *:* rwm"), (False, "b 8:* rwm")]


# --------------------------------------------------------------------------- eBPF


def run(prog: bytes, dev_type: int, access: int, major: int, minor: int) -> int:
    """Interpret the subset of eBPF that compile_filter emits."""
    mask = (1 << 64) - 1
    ctx = struct.pack("=III", (access << 16) | dev_type, major, minor)
    regs = [0] * 11
    insns = [struct.unpack_from("=BBhi", prog, i) for i in range(0, len(prog), 8)]
    pc = 0
    for _ in range(10_000):
        code, regbyte, off, imm = insns[pc]
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        u32 = imm & 0xFFFFFFFF
        if code == bpf.LDX_MEM_W:
            assert src == 1
            regs[dst] = struct.unpack_from("=I", ctx, off)[0]
        elif code == bpf.ALU32_AND_K:
            regs[dst] = (regs[dst] & u32) & 0xFFFFFFFF
        elif code == bpf.ALU32_RSH_K:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif code == bpf.ALU32_MOV_K:
            regs[dst] = u32
        elif code == bpf.ALU32_MOV_X:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif code == bpf.JMP_JNE_K:
            if regs[dst] != (imm & mask):
                pc += off
        elif code == bpf.JMP_JNE_X:
            if regs[dst] != regs[src]:
                pc += off
        elif code == bpf.JMP32_JNE_K:
            if regs[dst] & 0xFFFFFFFF != u32:
                pc += off
        elif code == bpf.JMP_EXIT:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("program did not terminate")


ACCESS = {"r": bpf.BPF_DEVCG_ACC_READ, "w": bpf.BPF_DEVCG_ACC_WRITE, "m": bpf.BPF_DEVCG_ACC_MKNOD}


@pytest.mark.parametrize("rules", [
    DOCKER_DEFAULT,
    (ALLOW_ALL,),
    (DENY_ALL,),
    (ALLOW_ALL, deny("c", 1, 3), deny("b", None, None, "w"), deny("c", 4000000000, 1, "r")),
    (DENY_ALL, allow("c", 1, None, "r"), allow("b", 8, 16, "rw"), allow("c", None, 7, "m")),
])
def test_filter_matches_model(rules: tuple[DeviceRule, ...]) -> None:
    emu = DeviceEmulator.from_rules(rules)
    prog = bpf.encode(bpf.compile_filter(emu))
    devs = [(1, 3), (1, 5), (1, 1), (5, 0), (136, 4), (8, 16), (8, 0), (9, 7),
            (4000000000, 1), (4000000000, 2), (10, 200)]
    for (t, tcode), (major, minor), acc in itertools.product(
            (("c", bpf.BPF_DEVCG_DEV_CHAR), ("b", bpf.BPF_DEVCG_DEV_BLOCK)), devs,
            ("r", "w", "m", "rw", "rwm")):
        bits = sum(ACCESS[ch] for ch in acc)
        got = run(prog, tcode, bits, major, minor)
        want = emu.allows(t, major, minor, acc)
        assert got == int(want), (t, major, minor, acc)


def test_filter_shape() -> None:
    prog = bpf.compile_filter(DeviceEmulator.from_rules((DENY_ALL, allow("c", 1, 3))))
    # 6 loads/shifts, one block (type, major, minor, verdict, exit), default verdict+exit
    assert [i.code for i in prog] == [
        bpf.LDX_MEM_W, bpf.ALU32_AND_K, bpf.LDX_MEM_W, bpf.ALU32_RSH_K, bpf.LDX_MEM_W,
        bpf.LDX_MEM_W, bpf.JMP_JNE_K, bpf.JMP32_JNE_K, bpf.JMP32_JNE_K, bpf.ALU32_MOV_K,
        bpf.JMP_EXIT, bpf.ALU32_MOV_K, bpf.JMP_EXIT]
    # every jump of the block lands on the default verdict (index 11)
    for idx in (6, 7, 8):
        assert idx + 1 + prog[idx].off == 11
    assert prog[9].imm == 1 and prog[11].imm == 0
