"""A container's OCI runtime spec (``config.json``), from its configuration — moby's
``daemon/oci_linux.go`` in one pass over ``runtime.specgen.default_spec`` (Docker's
defaults: namespaces, mounts, masked and read-only paths, capabilities, device rules).

Only the shape of the OCI document is decided here; checking the values (signals, sizes,
capability names) happened at create (``validate``), and the user was resolved against the
rootfs at start (``users``).
"""

from __future__ import annotations

import functools
import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.daemon.containers import seccomp_profile
from dockyard.daemon.containers.config import BindMount, HostConfig, Resources
from dockyard.daemon.containers.model import Container
from dockyard.daemon.containers.users import ExecUser
from dockyard.linux.caps import CAPABILITIES, DOCKER_DEFAULT_CAPS
from dockyard.runtime.specgen import default_mounts, default_spec

log = logging.getLogger(__name__)

INIT_DESTINATION = "/sbin/docker-init"
CPU_PERIOD = 100_000
_SKIP_DEV_DIRS = ("pts", "shm", "fd", "mqueue", ".lxc", ".udev", "hugepages")


@dataclass(frozen=True, slots=True)
class SpecInputs:
    """What the spec needs besides the container: resolved at start by the service."""

    user: ExecUser
    env: tuple[str, ...]
    cgroup_parent: str
    init_path: str
    swap_accounting: bool
    hostname: str


@functools.cache
def bounding_set() -> frozenset[str]:
    """The capabilities this process may grant (its bounding set): a container cannot get
    more than the daemon and its supervisor have. Read once: a bounding set only ever
    shrinks, by the process's own doing, which the daemon never does."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    mask = int(line.split()[1], 16)
                    return frozenset(n for n, b in CAPABILITIES.items() if mask >> b & 1)
    except (OSError, ValueError) as exc:
        log.warning("cannot read the bounding set: %s", exc)
    return frozenset(CAPABILITIES)


def capabilities(hc: HostConfig, available: frozenset[str] | None = None) -> list[str]:
    """Docker's ``TweakCapabilities``: privileged → all; ``ALL`` in add or drop; else the
    default set minus drops plus adds. Names are already normalised (``CAP_X``, ``ALL``).
    "All" means all of ``available`` (the bounding set)."""
    have = bounding_set() if available is None else available
    every = sorted(have, key=CAPABILITIES.__getitem__)
    if hc.privileged:
        return every
    adds, drops = set(hc.cap_add), set(hc.cap_drop)
    if "ALL" in adds:
        return [c for c in every if c not in drops]
    if "ALL" in drops:
        return sorted(adds - {"ALL"}, key=CAPABILITIES.__getitem__)
    caps = [c for c in DOCKER_DEFAULT_CAPS if c not in drops and c in have]
    caps += sorted(adds - set(caps), key=CAPABILITIES.__getitem__)
    return caps


def linux_resources(r: Resources, *, swap_accounting: bool) -> dict[str, Any]:
    """``linux.resources`` (without devices) from Docker's resources."""
    out: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    if r.memory:
        memory["limit"] = r.memory
        if swap_accounting:
            if r.memory_swap > 0:
                memory["swap"] = r.memory_swap
            elif r.memory_swap == 0:
                memory["swap"] = 2 * r.memory
            else:
                memory["swap"] = -1
    if r.memory_reservation:
        memory["reservation"] = r.memory_reservation
    if r.memory_swappiness is not None:
        memory["swappiness"] = r.memory_swappiness
    if r.oom_kill_disable:
        memory["disableOOMKiller"] = True
    if memory:
        out["memory"] = memory
    cpu: dict[str, Any] = {}
    if r.cpu_shares:
        cpu["shares"] = r.cpu_shares
    if r.nano_cpus:
        cpu["period"] = CPU_PERIOD
        cpu["quota"] = r.nano_cpus * CPU_PERIOD // 1_000_000_000
    if r.cpu_period:
        cpu["period"] = r.cpu_period
    if r.cpu_quota:
        cpu["quota"] = r.cpu_quota
    if r.cpuset_cpus:
        cpu["cpus"] = r.cpuset_cpus
    if r.cpuset_mems:
        cpu["mems"] = r.cpuset_mems
    if cpu:
        out["cpu"] = cpu
    if r.pids_limit is not None and r.pids_limit > 0:
        out["pids"] = {"limit": r.pids_limit}
    if r.blkio_weight:
        out["blockIO"] = {"weight": r.blkio_weight}
    return out


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every device node of the host (what a privileged container sees in its /dev)."""
    out: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == root:
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DEV_DIRS]
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode):
                kind = "c"
            elif stat.S_ISBLK(st.st_mode):
                kind = "b"
            else:
                continue
            if path == "/dev/console":
                continue
            out.append({"path": path, "type": kind, "major": os.major(st.st_rdev),
                        "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode),
                        "uid": st.st_uid, "gid": st.st_gid})
    return out


def _bind(source: str, destination: str, read_only: bool,
          propagation: str = "rprivate") -> dict[str, Any]:
    options = ["rbind", propagation]
    if read_only:
        options.append("ro")
    return {"destination": destination, "type": "bind", "source": source, "options": options}


def _depth(mount: dict[str, Any]) -> int:
    return len([p for p in str(mount["destination"]).split("/") if p])


def mounts(c: Container, init_path: str) -> list[dict[str, Any]]:
    hc = c.host_config
    user: list[dict[str, Any]] = []
    binds: Sequence[BindMount] = (*hc.binds, *hc.mounts)
    for b in binds:
        user.append(_bind(b.source, b.destination, b.read_only, b.propagation))
    for t in hc.tmpfs:
        opts = ["nosuid", "nodev", "noexec"] + [o for o in t.options.split(",") if o]
        user.append({"destination": t.destination, "type": "tmpfs", "source": "tmpfs",
                     "options": opts})
    taken = {m["destination"] for m in user}
    for dest, src in (("/etc/resolv.conf", c.resolv_conf_path),
                      ("/etc/hostname", c.hostname_path), ("/etc/hosts", c.hosts_path)):
        if dest not in taken and src:
            user.append(_bind(src, dest, hc.readonly_rootfs))
    if hc.init:
        user.append(_bind(init_path, INIT_DESTINATION, True))
    taken = {m["destination"] for m in user}
    base = [m for m in default_mounts(hc.shm_size) if m["destination"] not in taken]
    if hc.privileged:
        for m in base:
            if m["type"] in ("sysfs", "cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"]
    if hc.ipc_mode == "host":
        base = [m for m in base if m["destination"] not in ("/dev/shm", "/dev/mqueue")]
        if "/dev/shm" not in taken:
            user.append(_bind("/dev/shm", "/dev/shm", False))
    if hc.network_mode == "host":
        base = [m for m in base if m["type"] != "sysfs"]
        user.append(_bind("/sys", "/sys", not hc.privileged))
    user.sort(key=_depth)
    return base + user


def _namespaces(hc: HostConfig) -> list[dict[str, str]]:
    ns = [{"type": "mount"}]
    if hc.pid_mode != "host":
        ns.append({"type": "pid"})
    if hc.network_mode != "host":
        ns.append({"type": "network"})
    if hc.ipc_mode != "host":
        ns.append({"type": "ipc"})
    if hc.uts_mode != "host":
        ns.append({"type": "uts"})
    if hc.cgroupns_mode == "private":
        ns.append({"type": "cgroup"})
    return ns


def _rlimits(hc: HostConfig, defaults: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_type = {r["type"]: r for r in defaults}
    for u in hc.resources.ulimits:
        kind = "RLIMIT_" + u.name.upper()
        by_type[kind] = {"type": kind, "soft": u.soft, "hard": u.hard}
    return list(by_type.values())


def build_spec(c: Container, inputs: SpecInputs) -> dict[str, Any]:
    """The complete ``config.json`` for a start of ``c``."""
    hc, cfg = c.host_config, c.config
    args = [c.path, *c.args]
    if hc.init:
        args = [INIT_DESTINATION, "--", *args]
    parent = hc.cgroup_parent or inputs.cgroup_parent
    spec = default_spec(args, rootfs="rootfs", terminal=cfg.tty, hostname=inputs.hostname,
                        cgroups_path=f"/{parent.strip('/')}/{c.id}")
    process = spec["process"]
    process["user"] = {"uid": inputs.user.uid, "gid": inputs.user.gid}
    if inputs.user.additional_gids:
        process["user"]["additionalGids"] = list(inputs.user.additional_gids)
    process["env"] = list(inputs.env)
    process["cwd"] = cfg.working_dir or "/"
    caps = capabilities(hc)
    process["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps,
                               "inheritable": [], "ambient": []}
    process["rlimits"] = _rlimits(hc, process["rlimits"])
    process["noNewPrivileges"] = hc.no_new_privileges
    if hc.oom_score_adj:
        process["oomScoreAdj"] = hc.oom_score_adj
    spec["root"] = {"path": "rootfs", "readonly": hc.readonly_rootfs}
    if hc.uts_mode == "host":
        spec.pop("hostname", None)
    elif cfg.domainname:
        spec["domainname"] = cfg.domainname
    spec["mounts"] = mounts(c, inputs.init_path)
    linux = spec["linux"]
    linux["namespaces"] = _namespaces(hc)
    seccomp = seccomp_profile.profile_for(hc.privileged, hc.security_opt, caps)
    if seccomp is not None:
        linux["seccomp"] = seccomp
    resources = linux_resources(hc.resources, swap_accounting=inputs.swap_accounting)
    if hc.privileged:
        linux["maskedPaths"] = []
        linux["readonlyPaths"] = []
        resources["devices"] = [{"allow": True, "access": "rwm"}]
        linux["devices"] = host_devices()
    else:
        resources["devices"] = linux["resources"]["devices"]
        if hc.masked_paths is not None:
            linux["maskedPaths"] = list(hc.masked_paths)
        if hc.readonly_paths is not None:
            linux["readonlyPaths"] = list(hc.readonly_paths)
    linux["resources"] = resources
    if hc.sysctls:
        linux["sysctl"] = dict(hc.sysctls)
    if hc.annotations:
        spec["annotations"] = dict(hc.annotations)
    return spec
