"""The seccomp filter every container gets unless it is privileged or started with
``--security-opt seccomp=unconfined``: dockyard's own default profile.

Docker's default profile is an allow-list of ~370 calls; this one is a deny-list of the
system calls through which a container, even with the capabilities it keeps, reaches
what is the host's and not its own, or which widen the kernel's attack surface. Each
group names the capability that makes it legitimate: a container given that capability
(``--cap-add``) gets those calls back, as Docker's profile does.

Calls refused with EPERM:

* the kernel keyring (``keyctl``, ``add_key``, ``request_key``): it is not namespaced,
  so a container's root would share the host root's keys;
* kernel modules, kexec and reboot, swap, process accounting, quotas, the clock: the
  machine's, not the container's;
* mounts, ``pivot_root``, ``setns``, ``unshare`` and ``clone`` with any ``CLONE_NEW*``
  flag: new namespaces, user namespaces above all, bring the kernel's namespaced
  privileges within reach; ``clone3``, whose flags a filter cannot see, answers ENOSYS
  (the C library then uses ``clone``);
* ``bpf``, ``perf_event_open``, ``fanotify_init``, ``lookup_dcookie``, ``syslog``: views
  of the host's kernel;
* ``open_by_handle_at`` and ``name_to_handle_at``: a file handle opens a file outside the
  container's root (the "shocker" escape);
* ``iopl``/``ioperm`` (port I/O), ``userfaultfd`` (a tool of kernel exploits), io_uring
  (a second way to make most system calls, which seccomp does not see), and obsolete
  interfaces (``_sysctl``, ``uselib``, ``ustat``, ``sysfs``, ``vm86``, ...).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

EPERM = 1
ENOSYS = 38

_GROUPS: tuple[tuple[tuple[str, ...], str | None], ...] = (
    (("keyctl", "add_key", "request_key"), None),
    (("init_module", "finit_module", "delete_module", "create_module", "query_module",
      "get_kernel_syms"), "CAP_SYS_MODULE"),
    (("kexec_load", "kexec_file_load", "reboot"), "CAP_SYS_BOOT"),
    (("swapon", "swapoff", "quotactl", "quotactl_fd"), "CAP_SYS_ADMIN"),
    (("acct",), "CAP_SYS_PACCT"),
    (("settimeofday", "stime", "clock_settime", "clock_adjtime"), "CAP_SYS_TIME"),
    (("mount", "umount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen",
      "fsconfig", "fsmount", "fspick", "mount_setattr", "setns", "unshare"),
     "CAP_SYS_ADMIN"),
    (("bpf", "perf_event_open", "fanotify_init", "lookup_dcookie"), "CAP_SYS_ADMIN"),
    (("syslog",), "CAP_SYSLOG"),
    (("open_by_handle_at", "name_to_handle_at"), "CAP_DAC_READ_SEARCH"),
    (("iopl", "ioperm"), "CAP_SYS_RAWIO"),
    (("userfaultfd",), "CAP_SYS_PTRACE"),
    (("io_uring_setup", "io_uring_enter", "io_uring_register"), None),
    (("_sysctl", "sysfs", "ustat", "uselib", "vm86", "vm86old", "nfsservctl",
      "afs_syscall", "bdflush"), None),
)
# clone's flags that make new namespaces (CLONE_NEWNS ... CLONE_NEWNET, CLONE_NEWTIME is
# not a clone flag), each refused by a rule of its own (a filter compares masked values).
_CLONE_NEW = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
              0x40000000)
_ARCHITECTURES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}
UNCONFINED = ("seccomp=unconfined", "seccomp:unconfined")


def wanted(privileged: bool, security_opt: Sequence[str]) -> bool:
    """Whether a container gets the default filter (Docker: not when privileged, not
    with ``seccomp=unconfined``)."""
    return not privileged and not any(o in UNCONFINED for o in security_opt)


def default_profile(capabilities: Sequence[str]) -> dict[str, Any]:
    """The spec's ``linux.seccomp`` for a container with these (bounding) capabilities."""
    caps = set(capabilities)
    denied: list[str] = []
    for names, lifted_by in _GROUPS:
        if lifted_by is None or lifted_by not in caps:
            denied.extend(names)
    rules: list[dict[str, Any]] = [
        {"names": denied, "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM}]
    if "CAP_SYS_ADMIN" not in caps:
        rules += [{"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM,
                   "args": [{"index": 0, "value": flag, "valueTwo": flag,
                             "op": "SCMP_CMP_MASKED_EQ"}]} for flag in _CLONE_NEW]
        rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    profile: dict[str, Any] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}
    arches = _ARCHITECTURES.get(os.uname().machine)
    if arches:
        profile["architectures"] = arches
    return profile
