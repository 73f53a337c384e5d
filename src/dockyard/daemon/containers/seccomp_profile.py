"""A container's seccomp filter: dockyard's own default profile, unless the container is
privileged or started with ``--security-opt seccomp=unconfined`` (no filter), or with a
profile of its own in Docker's format (``seccomp=profile.json``: the docker CLI sends the
file's content; ``from_docker_profile``).

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

import json
import os
from collections.abc import Sequence
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import parse_seccomp

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


def chosen(security_opt: Sequence[str]) -> str | None:
    """The ``seccomp`` option of ``SecurityOpt`` (``seccomp=X`` or ``seccomp:X``; the
    last one counts): ``unconfined``, ``builtin``, a profile's JSON (the docker CLI sends
    the file's content), or None."""
    value = None
    for opt in security_opt:
        for sep in ("=", ":"):
            key, found, rest = opt.partition(sep)
            if found and key == "seccomp":
                value = rest
                break
    return value


def profile_for(privileged: bool, security_opt: Sequence[str],
                capabilities: Sequence[str]) -> dict[str, Any] | None:
    """The container's ``linux.seccomp``, as Docker chooses it: none when privileged or
    ``unconfined``; the given profile; else the default one."""
    value = chosen(security_opt)
    if privileged or value == "unconfined":
        return None
    if value is None or value == "builtin":
        return default_profile(capabilities)
    return from_docker_profile(value, capabilities)


def from_docker_profile(text: str, capabilities: Sequence[str]) -> dict[str, Any]:
    """A profile in Docker's format (``--security-opt seccomp=profile.json``) as the
    spec's ``linux.seccomp`` for a container with these capabilities: the entry of
    ``archMap`` for this machine, and the rules whose ``includes`` (capabilities all
    held, architectures, ``minKernel``) and ``excludes`` hold here. ``InvalidArgument``
    if it cannot be decoded or names what the runtime refuses."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"Decoding seccomp profile failed: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("Decoding seccomp profile failed: not a JSON object")
    native = (_ARCHITECTURES.get(os.uname().machine) or [""])[0]  # the first is native
    out: dict[str, Any] = {"defaultAction": doc.get("defaultAction")}
    for key in ("defaultErrnoRet", "flags", "listenerPath"):
        if doc.get(key):
            out[key] = doc[key]
    arches = doc.get("architectures") or []
    for entry in _list(doc, "archMap"):
        if isinstance(entry, dict) and entry.get("architecture") == native:
            arches = [native, *(entry.get("subArchitectures") or [])]
    if arches:
        out["architectures"] = arches
    caps = set(capabilities)
    kernel = _version(os.uname().release)
    rules = []
    for call in _list(doc, "syscalls"):
        if not isinstance(call, dict):
            raise InvalidArgument("Decoding seccomp profile failed: a syscall entry is not "
                                  "an object")
        inc, exc_ = _filter(call, "includes"), _filter(call, "excludes")
        if (not set(_strings(inc, "caps")) <= caps
                or (inc.get("arches") and native not in _strings(inc, "arches"))
                or (inc.get("minKernel") and kernel < _version(inc["minKernel"]))
                or set(_strings(exc_, "caps")) & caps
                or native in _strings(exc_, "arches")):
            continue
        names = call.get("names") or ([call["name"]] if call.get("name") else [])
        rule: dict[str, Any] = {"names": names, "action": call.get("action")}
        if call.get("errnoRet") is not None:
            rule["errnoRet"] = call["errnoRet"]
        if call.get("args"):
            rule["args"] = call["args"]
        rules.append(rule)
    out["syscalls"] = rules
    try:
        parse_seccomp(out)  # refused here (400) rather than at the container's start
    except InvalidArgument as exc:
        raise InvalidArgument(f"seccomp profile: {exc}") from None
    return out


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key) or []
    if not isinstance(value, list):
        raise InvalidArgument(f"Decoding seccomp profile failed: {key} is not a list")
    return value


def _filter(call: dict[str, Any], key: str) -> dict[str, Any]:
    """A syscall entry's ``includes`` or ``excludes`` (an object, or nothing)."""
    value = call.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"Decoding seccomp profile failed: {key} is not an object")
    return value


def _strings(cond: dict[str, Any], key: str) -> list[str]:
    """A list of names of ``includes``/``excludes`` (``caps``, ``arches``)."""
    value = cond.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"Decoding seccomp profile failed: {key} is not a list of "
                              "strings")
    return value


def _version(text: object) -> tuple[int, ...]:
    """``6.18.44-fc`` -> (6, 18); what ``minKernel`` compares."""
    parts = str(text).split("-")[0].split(".")[:2]
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise InvalidArgument(f"seccomp profile: bad kernel version {text!r}") from None


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
