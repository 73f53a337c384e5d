"""Docker's create rules: the image merged in, defaults, and the checks of every value."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dockyard.daemon.containers.config import (
    BindMount,
    ContainerConfig,
    CreateRequest,
    HostConfig,
    LogConfig,
    Resources,
    RestartPolicy,
    Ulimit,
)
from dockyard.daemon.containers.create import (
    check_host_config,
    command,
    make_container,
    merge_config,
    merge_env,
    normalize_cap,
    parse_signal,
)
from dockyard.errors import InvalidArgument
from dockyard.oci.manifest import ContainerConfig as ImageConfig

IMAGE = ImageConfig(env=("PATH=/img/bin", "LANG=C"), cmd=("sh",), entrypoint=None,
                    working_dir="/srv", user="daemon", labels={"a": "image", "b": "image"},
                    stop_signal="SIGQUIT", exposed_ports=("80/tcp",))


def check(hc: HostConfig) -> HostConfig:
    return check_host_config(hc, swap_accounting=False, blkio_weight=False,
                             init_path="/bin/sh")


def test_env_user_first_then_image_entries_not_overridden() -> None:
    assert merge_env(("PATH=/mine", "X=1"), ("PATH=/img", "LANG=C")) == (
        "PATH=/mine", "X=1", "LANG=C")
    assert merge_env((), ("A=1",)) == ("A=1",)


@pytest.mark.parametrize(("user_ep", "user_cmd", "img_ep", "img_cmd", "path", "args"), [
    (None, None, None, ("sh",), "sh", ()),
    (None, ("echo", "hi"), None, ("sh",), "echo", ("hi",)),
    (None, None, ("/init",), ("run",), "/init", ("run",)),
    (None, ("x",), ("/init",), ("run",), "/init", ("x",)),
    (("/ep",), None, ("/init",), ("run",), "/ep", ()),  # a user entrypoint drops image Cmd
    ((), None, ("/init",), ("run",), "run", ()),  # --entrypoint "" clears, Cmd from image
])
def test_entrypoint_and_cmd(user_ep: tuple[str, ...] | None, user_cmd: tuple[str, ...] | None,
                            img_ep: tuple[str, ...] | None, img_cmd: tuple[str, ...] | None,
                            path: str, args: tuple[str, ...]) -> None:
    merged = merge_config(ContainerConfig(image="x", entrypoint=user_ep, cmd=user_cmd),
                          ImageConfig(entrypoint=img_ep, cmd=img_cmd))
    assert command(merged) == (path, args)


def test_nothing_to_run() -> None:
    with pytest.raises(InvalidArgument, match="No command specified"):
        command(merge_config(ContainerConfig(image="x"), ImageConfig()))


def test_merge_keeps_user_values_and_fills_the_rest() -> None:
    m = merge_config(ContainerConfig(image="x", labels=(("b", "user"),), working_dir="/w"),
                     IMAGE)
    assert dict(m.labels) == {"a": "image", "b": "user"}
    assert (m.working_dir, m.user, m.stop_signal) == ("/w", "daemon", "SIGQUIT")
    assert m.exposed_ports == ("80/tcp",)
    assert m.env == IMAGE.env


def test_make_container_defaults() -> None:
    cid = "ab" * 32
    c = make_container(CreateRequest("", ContainerConfig(image="busybox"), HostConfig()),
                       IMAGE, image_id="sha256:" + "c" * 64, container_id=cid, name="n",
                       created_ns=1, driver="overlay", swap_accounting=False,
                       blkio_weight=False, init_path="/bin/sh")
    assert c.config.hostname == cid[:12]
    assert c.host_config.shm_size == 64 << 20
    assert c.host_config.log_config.type == "json-file"
    assert (c.path, c.args, c.config.image) == ("sh", (), "busybox")


@pytest.mark.parametrize(("hc", "message"), [
    (HostConfig(restart_policy=RestartPolicy("sometimes")), "invalid restart policy"),
    (HostConfig(restart_policy=RestartPolicy("always", 3)), "maximum retry count"),
    (HostConfig(auto_remove=True, restart_policy=RestartPolicy("always")), "AutoRemove"),
    (HostConfig(network_mode="container:x"), "container:<name>"),
    (HostConfig(network_mode="bad name"), "invalid network name"),
    (HostConfig(log_config=LogConfig("syslog")), "syslog"),
    (HostConfig(log_config=LogConfig("json-file", (("max-size", "x"),))), "invalid size"),
    (HostConfig(resources=Resources(memory=1024)), "6MB"),
    (HostConfig(resources=Resources(memory=64 << 20, memory_reservation=128 << 20)),
     "less than memory reservation"),
    (HostConfig(resources=Resources(memory_swap=1 << 30)), "Memory limit"),
    (HostConfig(resources=Resources(nano_cpus=10**9, cpu_quota=5000)), "Nano CPUs"),
    (HostConfig(resources=Resources(nano_cpus=10**12)), "Range of CPUs"),
    (HostConfig(resources=Resources(cpu_period=10)), "CPU cfs period"),
    # checked at create as moby does (the cgroup would refuse them only at the start)
    (HostConfig(resources=Resources(cpuset_cpus="0-4095")),
     r"Requested CPUs are not available - requested 0-4095, available: \d"),
    (HostConfig(resources=Resources(cpuset_cpus="1-0")), "Invalid value 1-0 for cpuset cpus"),
    (HostConfig(resources=Resources(cpuset_mems="4000")),
     "Requested memory nodes are not available - requested 4000"),
    (HostConfig(resources=Resources(memory_swappiness=101)), "swappiness"),
    (HostConfig(resources=Resources(blkio_weight=500)), "blkio.weight"),
    (HostConfig(resources=Resources(ulimits=(Ulimit("nope", 1, 1),))), "invalid ulimit"),
    (HostConfig(resources=Resources(ulimits=(Ulimit("nofile", 9, 1),))), "soft limit"),
    (HostConfig(binds=(BindMount("rel", "/d"),)), "not an absolute path"),
    (HostConfig(binds=(BindMount("/s", "rel"),)), "destination"),
    (HostConfig(binds=(BindMount("/s", "/d"), BindMount("/t", "/d"))), "Duplicate mount"),
    (HostConfig(mounts=(BindMount("/no/such/dir", "/d", create_source=False),)),
     "does not exist"),
    (HostConfig(sysctls=(("kernel.hostname", "x"),)), "not allowed"),
    (HostConfig(network_mode="host", sysctls=(("net.ipv4.ip_forward", "1"),)),
     "host network"),
    (HostConfig(oom_score_adj=5000), "oom score adj"),
    (HostConfig(extra_hosts=("db",)), "ExtraHosts"),
    (HostConfig(extra_hosts=("db:not-an-ip",)), "invalid IP"),
    (HostConfig(cap_add=("CAP_BOGUS",)), "unknown capability"),
])
def test_host_config_checks(hc: HostConfig, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        check(hc)


def test_host_config_normalised() -> None:
    hc = check(HostConfig(cap_add=("net_admin",), cap_drop=("ALL",), shm_size=0,
                          network_mode=""))
    assert hc.cap_add == ("CAP_NET_ADMIN",) and hc.cap_drop == ("ALL",)
    assert (hc.shm_size, hc.network_mode) == (64 << 20, "default")


def test_init_needs_the_binary() -> None:
    with pytest.raises(InvalidArgument, match="init binary"):
        check_host_config(HostConfig(init=True), swap_accounting=False, blkio_weight=False,
                          init_path="/no/such/tini")


def test_capability_outside_the_bounding_set_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="bounding set"):
        normalize_cap("SYS_TIME", "HostConfig.CapAdd", frozenset({"CAP_CHOWN"}))


@pytest.mark.parametrize(("text", "num"), [("TERM", 15), ("SIGKILL", 9), ("9", 9),
                                           ("sigint", 2), ("HUP", 1)])
def test_signals(text: str, num: int) -> None:
    assert parse_signal(text, "signal") == num


@pytest.mark.parametrize("text", ["", "SIGNOPE", "0", "999", "-1"])
def test_bad_signals(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid signal"):
        parse_signal(text, "signal")


def test_config_checks() -> None:
    base = CreateRequest("", ContainerConfig(image="b", cmd=("x",)), HostConfig())
    for cfg, message in ((ContainerConfig(image="b", cmd=("x",), working_dir="rel"),
                          "absolute path"),
                         (ContainerConfig(image="b", cmd=("x",), stop_signal="NOPE"),
                          "invalid signal"),
                         (ContainerConfig(image="b", cmd=("x",), env=("=x",)),
                          "environment variable")):
        with pytest.raises(InvalidArgument, match=message):
            make_container(replace(base, config=cfg), ImageConfig(), image_id="i",
                           container_id="a" * 64, name="n", created_ns=1, driver="o",
                           swap_accounting=False, blkio_weight=False, init_path="/bin/sh")


@pytest.mark.parametrize("opt", ["seccomp=profile.json", 'seccomp={"defaultAction": "NOPE"}',
                                 "seccomp:{"])
def test_a_seccomp_profile_that_cannot_be_used_is_refused(opt: str) -> None:
    # The docker CLI sends the file's content; a path (docker-py passes the option as it
    # is) or a profile the runtime would refuse is a 400 of the create.
    with pytest.raises(InvalidArgument, match=r"HostConfig\.SecurityOpt: .*seccomp profile"):
        check(HostConfig(security_opt=(opt,)))


@pytest.mark.parametrize("opt", ["seccomp=unconfined", "seccomp=builtin",
                                 'seccomp={"defaultAction": "SCMP_ACT_ALLOW"}'])
def test_usable_seccomp_options_pass(opt: str) -> None:
    assert check(HostConfig(security_opt=(opt,))).security_opt == (opt,)
