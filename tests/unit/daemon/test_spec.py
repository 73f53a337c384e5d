"""The OCI spec a container gets: capabilities, resources, mounts, namespaces."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dockyard.daemon.containers.config import (
    BindMount,
    ContainerConfig,
    HostConfig,
    Resources,
    TmpfsMount,
    Ulimit,
)
from dockyard.daemon.containers.model import Container
from dockyard.daemon.containers.spec import (
    SpecInputs,
    build_spec,
    capabilities,
    linux_resources,
)
from dockyard.daemon.containers.users import ExecUser
from dockyard.linux.caps import CAPABILITIES, DOCKER_DEFAULT_CAPS

ALL = frozenset(CAPABILITIES)
C = Container(id="c" * 64, name="n", created_ns=1, image_id="i",
              config=ContainerConfig(image="busybox", hostname="cccccccccccc"),
              host_config=HostConfig(), path="sh", args=("-c", "true"),
              hostname_path="/d/hostname", hosts_path="/d/hosts",
              resolv_conf_path="/d/resolv.conf")
INPUTS = SpecInputs(user=ExecUser(1000, 1000, (50,), "/home/app"), env=("PATH=/bin",),
                    cgroup_parent="/dockyard", init_path="/usr/bin/tini-static",
                    swap_accounting=True, hostname="cccccccccccc")


def spec(**hc: Any) -> dict[str, Any]:
    return build_spec(replace(C, host_config=replace(HostConfig(), **hc)), INPUTS)


def test_capabilities() -> None:
    assert capabilities(HostConfig(), ALL) == list(DOCKER_DEFAULT_CAPS)
    assert capabilities(HostConfig(privileged=True), ALL) == sorted(ALL,
                                                                    key=CAPABILITIES.get)
    assert capabilities(HostConfig(cap_drop=("ALL",), cap_add=("CAP_NET_ADMIN",)), ALL) == [
        "CAP_NET_ADMIN"]
    caps = capabilities(HostConfig(cap_add=("ALL",), cap_drop=("CAP_SYS_ADMIN",)), ALL)
    assert "CAP_SYS_ADMIN" not in caps and len(caps) == len(ALL) - 1
    dropped = capabilities(HostConfig(cap_drop=("CAP_CHOWN",), cap_add=("CAP_SYS_TIME",)),
                           ALL)
    assert "CAP_CHOWN" not in dropped and dropped[-1] == "CAP_SYS_TIME"
    limited = frozenset(DOCKER_DEFAULT_CAPS) - {"CAP_KILL"}
    assert "CAP_KILL" not in capabilities(HostConfig(), limited)


def test_resources() -> None:
    r = linux_resources(Resources(memory=64 << 20, memory_reservation=32 << 20, nano_cpus=
                                  1_500_000_000, cpu_shares=512, cpuset_cpus="0-1",
                                  pids_limit=10, memory_swappiness=0), swap_accounting=True)
    assert r == {"memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20,
                            "swappiness": 0},
                 "cpu": {"shares": 512, "period": 100000, "quota": 150000, "cpus": "0-1"},
                 "pids": {"limit": 10}}
    no_swap = linux_resources(Resources(memory=64 << 20), swap_accounting=False)
    assert no_swap == {"memory": {"limit": 64 << 20}}
    assert linux_resources(Resources(memory=64 << 20, memory_swap=-1),
                           swap_accounting=True)["memory"]["swap"] == -1
    assert linux_resources(Resources(pids_limit=None), swap_accounting=True) == {}


def test_process_and_root() -> None:
    s = spec(readonly_rootfs=True, oom_score_adj=100, no_new_privileges=True,
             resources=Resources(ulimits=(Ulimit("nofile", 10, 20),)))
    p = s["process"]
    assert p["args"] == ["sh", "-c", "true"] and p["env"] == ["PATH=/bin"]
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [50]}
    assert p["noNewPrivileges"] is True and p["oomScoreAdj"] == 100
    assert {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20} in p["rlimits"]
    assert s["root"] == {"path": "rootfs", "readonly": True}
    assert s["hostname"] == "cccccccccccc"
    assert s["linux"]["cgroupsPath"] == "/dockyard/" + "c" * 64


def test_mounts_etc_files_init_binds_tmpfs() -> None:
    s = spec(init=True, readonly_rootfs=True, shm_size=8 << 20,
             binds=(BindMount("/host", "/data", True, "rslave", "/host:/data:ro,rslave"),),
             tmpfs=(TmpfsMount("/scratch", "size=1m"),))
    by_dest = {m["destination"]: m for m in s["mounts"]}
    assert by_dest["/etc/hosts"] == {"destination": "/etc/hosts", "type": "bind",
                                     "source": "/d/hosts",
                                     "options": ["rbind", "rprivate", "ro"]}
    assert by_dest["/sbin/docker-init"]["source"] == "/usr/bin/tini-static"
    assert s["process"]["args"][:2] == ["/sbin/docker-init", "--"]
    assert by_dest["/data"]["options"] == ["rbind", "rslave", "ro"]
    assert "size=1m" in by_dest["/scratch"]["options"]
    assert f"size={8 << 20}" in by_dest["/dev/shm"]["options"]
    dests = [m["destination"] for m in s["mounts"]]
    assert dests.index("/proc") < dests.index("/data")


def test_a_bind_replaces_a_default_mount() -> None:
    s = spec(binds=(BindMount("/host/shm", "/dev/shm"),))
    shm = [m for m in s["mounts"] if m["destination"] == "/dev/shm"]
    assert len(shm) == 1 and shm[0]["type"] == "bind"


def test_namespaces_and_host_modes() -> None:
    kinds = [n["type"] for n in spec()["linux"]["namespaces"]]
    assert sorted(kinds) == ["ipc", "mount", "network", "pid", "uts"]
    host = spec(network_mode="host", pid_mode="host", ipc_mode="host", uts_mode="host",
                cgroupns_mode="private")
    assert sorted(n["type"] for n in host["linux"]["namespaces"]) == ["cgroup", "mount"]
    assert "hostname" not in host


def test_privileged_and_masked_paths() -> None:
    s = spec(privileged=True)
    assert s["linux"]["maskedPaths"] == [] and s["linux"]["readonlyPaths"] == []
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert any(d["path"] == "/dev/null" for d in s["linux"]["devices"])
    sys_mount = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sys_mount["options"]
    custom = spec(masked_paths=("/proc/x",), readonly_paths=())
    assert custom["linux"]["maskedPaths"] == ["/proc/x"]
    assert custom["linux"]["readonlyPaths"] == []
    default = spec()
    assert "/proc/kcore" in default["linux"]["maskedPaths"]
    assert default["linux"]["resources"]["devices"][0] == {"allow": False, "access": "rwm"}
