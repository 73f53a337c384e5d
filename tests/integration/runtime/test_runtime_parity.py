"""Same bundle, same view: what a process sees inside, under runc and under the runtime
under test, compared line by line after removing what legitimately differs (container
ids, mount ids, device numbers of fresh tmpfs instances, timestamps).

Under the ``runc`` parameter this compares runc with itself, which keeps the probes and
their normalisation honest (deterministic).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Box, Runtime

pytestmark = pytest.mark.root

PROBES: dict[str, str] = {
    "dev-nodes": ("for f in /dev/* /dev/pts/* /dev/mqueue /dev/shm; do "
                  "stat -c '%n|%F|%a|%u|%g|%t:%T|%N' $f; done"),
    "mount-table": "cat /proc/self/mountinfo",
    "proc-status": ("grep -E '^(Cap|NoNewPrivs|Seccomp|Uid|Gid|Groups|Umask)' "
                    "/proc/self/status"),
    "rlimits": "ulimit -a",
    "environment": "env",
    "cgroup-membership": "cat /proc/self/cgroup",
    "device-rules": "cat /sys/fs/cgroup/devices/devices.list",
    "controller-dirs": "ls /sys/fs/cgroup; ls /sys/fs/cgroup/memory",
    "session-and-tty": ("cut -d' ' -f1,5,6,7,8 /proc/1/stat; cat /proc/self/oom_score_adj; "
                        "umask; hostname; cat /proc/sys/kernel/domainname"),
    "network": "ls /sys/class/net; cat /proc/net/dev | wc -l",
    "masked-and-readonly": ("for p in /proc/acpi /proc/keys /proc/timer_list /sys/firmware "
                            "/proc/bus /proc/fs /proc/irq /proc/sys; do "
                            "stat -c '%n|%F|%a|%t:%T' $p; done"),
}


def _mountinfo(text: str) -> list[str]:
    rows = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        lf, rf = left.split(), right.split()
        # mount id, parent id and st_dev vary between tmpfs/proc instances: drop them
        root, point, opts = lf[3], lf[4], ",".join(sorted(lf[5].split(",")))
        fstype, source = rf[0], rf[1]
        supers = ",".join(sorted(o for o in rf[2].split(",") if not o.startswith("inode")))
        if point == "/sys/fs/cgroup" and fstype == "tmpfs":
            # Accepted difference: runc 1.1.5 leaves this tmpfs writable on a hybrid v1
            # host although the spec says "ro"; the issue asks for it read-only.
            opts, supers = (re.sub(r"\b(ro|rw)\b", "r?", x) for x in (opts, supers))
        rows.append(f"{point} {root} {opts} {fstype} {source} {supers}")
    return sorted(rows)


def normalise(probe: str, out: str, box: Box) -> list[str]:
    out = out.replace(box.id, "<id>")
    if probe == "mount-table":
        return _mountinfo(out)
    if probe == "session-and-tty":
        return out.splitlines()
    return sorted(out.splitlines())


def observe(rt: Runtime, probe: str) -> tuple[int, list[str], str]:
    box = rt.bundle(["sh", "-c", PROBES[probe]])
    r = rt.run(box)
    stderr = re.sub(r"\d+", "N", r.stderr.replace(box.id, "<id>"))
    return r.returncode, normalise(probe, r.stdout, box), stderr


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_same_view_as_the_reference(oci_runtime: Runtime, runc_reference: Runtime, probe: str) -> None:
    want = observe(runc_reference, probe)
    got = observe(oci_runtime, probe)
    assert want[0] == 0, f"the probe fails under runc: {want}"
    only_runc = [line for line in want[1] if line not in got[1]]
    only_ours = [line for line in got[1] if line not in want[1]]
    assert got == want, (f"exit {got[0]} vs runc's {want[0]}; stderr {got[2]!r} vs {want[2]!r}\n"
                         f"only under runc: {only_runc}\n"
                         f"only under {oci_runtime.name}: {only_ours}")
