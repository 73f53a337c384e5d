"""Parsing ``POST /containers/create`` bodies: what the docker CLI 28 sends, typed fields,
and fields dockyard does not honour refused by name unless they hold their zero value."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dockyard.apitypes.create import parse_bind, parse_create
from dockyard.errors import InvalidArgument

# What `docker run --rm busybox echo hi` sends (docker CLI 28.2, API 1.45).
CLI_BODY: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": True,
    "AttachStderr": True, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
    "Cmd": ["echo", "hi"], "Image": "busybox", "Volumes": {}, "WorkingDir": "",
    "Entrypoint": None, "OnBuild": None, "Labels": {},
    "HostConfig": {
        "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default", "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": True,
        "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None,
        "CapDrop": None, "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [],
        "ExtraHosts": None, "GroupAdd": None, "IpcMode": "", "Cgroup": "", "Links": None,
        "OomScoreAdj": 0, "PidMode": "", "Privileged": False, "PublishAllPorts": False,
        "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "",
        "ShmSize": 0, "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0,
        "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": [],
        "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0,
        "MemorySwap": 0, "MemorySwappiness": -1, "OomKillDisable": False, "PidsLimit": 0,
        "Ulimits": [], "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0, "MaskedPaths": None, "ReadonlyPaths": None},
    "NetworkingConfig": {"EndpointsConfig": {"default": {
        "IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "",
        "DriverOpts": None, "GwPriority": 0, "NetworkID": "", "EndpointID": "",
        "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}}},
}


def body(**changes: Any) -> dict[str, Any]:
    b = copy.deepcopy(CLI_BODY)
    for path, value in changes.items():
        target = b
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    return b


def test_the_cli_body() -> None:
    req = parse_create(CLI_BODY, "web")
    c, h = req.config, req.host_config
    assert (req.name, c.image, c.cmd, c.entrypoint, c.env) == ("web", "busybox",
                                                              ("echo", "hi"), None, ())
    assert (c.attach_stdout, c.attach_stderr, c.tty, c.open_stdin) == (True, True, False,
                                                                      False)
    assert h.auto_remove and h.network_mode == "default" and h.log_config.type == "json-file"
    assert h.resources.memory_swappiness is None and h.resources.pids_limit is None
    assert h.restart_policy.name == "no" and req.networks == ("default",)


def test_values_are_read() -> None:
    req = parse_create(body(Env=["A=1"], Entrypoint="/ep", Cmd="one", Labels={"k": "v"},
                            ExposedPorts={"80/tcp": {}}, StopTimeout=5,
                            HostConfig__Binds=["/a:/b:ro,rslave"],
                            HostConfig__Memory=64 << 20, HostConfig__PidsLimit=-1,
                            HostConfig__Ulimits=[{"Name": "nofile", "Soft": 1, "Hard": 2}],
                            HostConfig__Tmpfs={"/t": "size=1m"},
                            HostConfig__SecurityOpt=["no-new-privileges"],
                            HostConfig__ConsoleSize=[24, 80]))
    c, h = req.config, req.host_config
    assert (c.env, c.entrypoint, c.cmd, c.labels) == (("A=1",), ("/ep",), ("one",),
                                                      (("k", "v"),))
    assert c.exposed_ports == ("80/tcp",) and c.stop_timeout == 5
    assert h.binds[0].read_only and h.binds[0].propagation == "rslave"
    assert h.resources.memory == 64 << 20 and h.resources.pids_limit is None
    assert h.resources.ulimits[0].hard == 2 and h.tmpfs[0].options == "size=1m"
    assert h.no_new_privileges and h.console_size == (24, 80)
    assert parse_create(body(Entrypoint=[""])).config.entrypoint == ()
    assert parse_create(body(NetworkDisabled=True)).host_config.network_mode == "none"


def test_mounts() -> None:
    req = parse_create(body(HostConfig__Mounts=[
        {"Type": "bind", "Source": "/s", "Target": "/d", "ReadOnly": True,
         "BindOptions": {"Propagation": "rshared"}},
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024, "Mode": 0o700}},
    ]))
    m = req.host_config.mounts[0]
    assert (m.source, m.destination, m.read_only, m.propagation, m.create_source) == (
        "/s", "/d", True, "rshared", False)
    assert req.host_config.tmpfs[0].options == "size=1024,mode=700"
    with pytest.raises(InvalidArgument, match=r"Mounts.*volume"):
        parse_create(body(HostConfig__Mounts=[{"Type": "volume", "Target": "/v"}]))


@pytest.mark.parametrize(("changes", "named"), [
    ({"HostConfig__PortBindings": {"80/tcp": [{"HostPort": "80"}]}}, "PortBindings"),
    ({"HostConfig__Links": ["a:b"]}, "Links"),
    ({"HostConfig__VolumesFrom": ["x"]}, "VolumesFrom"),
    ({"HostConfig__BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1}]},
     "BlkioDeviceReadBps"),
    ({"HostConfig__Runtime": "runsc"}, "Runtime"),
    ({"HostConfig__UsernsMode": "host"}, "UsernsMode"),
    ({"HostConfig__IpcMode": "container:x"}, "IpcMode"),
    ({"HostConfig__SecurityOpt": ["apparmor=myprofile"]}, "SecurityOpt"),
    ({"HostConfig__SomethingNew": {"a": 1}}, "HostConfig.SomethingNew"),
    ({"MacAddress": "02:42:ac:11:00:02"}, "MacAddress"),
    ({"NetworkingConfig": {"EndpointsConfig": {"default": {"Aliases": ["x"]}}}}, "Aliases"),
    ({"Volumes": [1]}, "Volumes"),
    ({"Cmd": {"a": 1}}, "Cmd"),
    ({"Tty": "yes"}, "Tty"),
    ({"HostConfig__ShmSize": -1}, "ShmSize"),
    ({"HostConfig__ConsoleSize": [1]}, "ConsoleSize"),
    ({"HostConfig__Binds": ["/a"]}, "Binds"),
    ({"HostConfig__Binds": ["/a:/b:rw,bogus"]}, "invalid mode"),
    ({"Image": ""}, "Image"),
])
def test_refused_by_name(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidArgument, match=named):
        parse_create(body(**changes))


def test_zero_values_of_unknown_fields_pass() -> None:
    parse_create(body(HostConfig__NewThing=None, HostConfig__Other=[], Extra={"a": None}))


def test_several_networks_are_refused() -> None:
    b = body()
    b["NetworkingConfig"]["EndpointsConfig"]["other"] = {}
    with pytest.raises(InvalidArgument, match="multiple network endpoints"):
        parse_create(b)


def test_bind_specs() -> None:
    assert parse_bind("/a:/b").read_only is False
    assert parse_bind("/a:/b:z").spec == "/a:/b:z"
    with pytest.raises(InvalidArgument, match="named volumes"):
        parse_bind("vol:/b")
