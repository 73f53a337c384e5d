"""Config, records, names, etc files, filters: the daemon's small parts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from dockyard.daemon.config import (
    DaemonConfig,
    build_config,
    load_config_file,
    socket_path,
)
from dockyard.daemon.containers import etcfiles
from dockyard.daemon.containers.config import (
    BindMount,
    ContainerConfig,
    HostConfig,
    Resources,
    Ulimit,
)
from dockyard.daemon.containers.filters import compile_filters
from dockyard.daemon.containers.model import Container, State, Status
from dockyard.daemon.containers.names import NameTable, generate, validate_name
from dockyard.daemon.containers.table import Table, new_id
from dockyard.daemon.records import from_doc, to_doc
from dockyard.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

C = Container(id="c" * 64, name="web", created_ns=5, image_id="sha256:" + "d" * 64,
              config=ContainerConfig(image="busybox", cmd=("sh",), labels=(("a", "b"),)),
              host_config=HostConfig(binds=(BindMount("/s", "/d", True),),
                                     resources=Resources(ulimits=(Ulimit("nofile", 1, 2),),
                                                         pids_limit=5)),
              path="sh", args=(), state=State(Status.EXITED, exit_code=3, finished_ns=9))


# ---------------------------------------------------------------- config

def test_config_defaults_and_validation() -> None:
    c = DaemonConfig()
    assert c.socket_paths == ("/run/dockyard.sock",) and c.in_process_runtime
    for bad in ({"data_root": "rel"}, {"hosts": ("tcp://0.0.0.0:2375",)},
                {"log_level": "loud"}, {"cgroup_parent": "../x"},
                {"data_root": "/x", "exec_root": "/x"}):
        with pytest.raises(InvalidArgument):
            DaemonConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="107"):
        socket_path("unix:///" + "x" * 120)


def test_config_file(tmp_path: Path) -> None:
    f = tmp_path / "d.json"
    f.write_text(json.dumps({"data-root": "/srv/d", "hosts": ["unix:///tmp/a.sock"]}))
    fields = load_config_file(str(f))
    cfg = build_config({"log_level": "debug"}, fields)
    assert (cfg.data_root, cfg.hosts, cfg.log_level) == ("/srv/d", ("unix:///tmp/a.sock",),
                                                         "debug")
    with pytest.raises(InvalidArgument, match="both as a flag"):
        build_config({"data_root": "/x"}, fields)
    f.write_text("[]")
    with pytest.raises(InvalidArgument, match="JSON object"):
        load_config_file(str(f))
    f.write_text('{"data-root": 5}')
    with pytest.raises(InvalidArgument, match="expected a string"):
        load_config_file(str(f))


# ---------------------------------------------------------------- records

def test_record_round_trip() -> None:
    doc = json.loads(json.dumps(to_doc(C)))
    assert from_doc(Container, doc) == C
    assert doc["state"]["status"] == "exited"


def test_damaged_record_names_the_field() -> None:
    doc = to_doc(C)
    doc["host_config"]["resources"]["pids_limit"] = "five"
    with pytest.raises(FailedPrecondition, match=r"\$.host_config.resources.pids_limit"):
        from_doc(Container, doc)
    doc = to_doc(C)
    del doc["restart_count"]  # a field added later: its default
    assert from_doc(Container, doc).restart_count == 0


# ---------------------------------------------------------------- names and lookups

def test_names() -> None:
    assert validate_name("/web-1.a_b") == "web-1.a_b"
    for bad in ("a", "/", "-x", "x y", "x/y", "é"):
        with pytest.raises(InvalidArgument, match="Invalid container name"):
            validate_name(bad)
    for _ in range(200):
        name = generate()
        assert name != "boring_wozniak" and validate_name(name) == name
    t = NameTable()
    t.reserve("web", "1")
    with pytest.raises(AlreadyExists, match='"/web" is already in use by container "1"'):
        t.reserve("web", "2")
    assert t.reserve_generated("3") != "web"


def test_ids_and_lookup() -> None:
    from dockyard.daemon.containers.table import Entry

    for _ in range(100):
        cid = new_id()
        assert len(cid) == 64 and not cid[:12].isdigit()
    t = Table()
    a = Entry(replace(C, id="ab" + "0" * 62, name="one"))
    b = Entry(replace(C, id="ac" + "0" * 62, name="two"))
    for e in (a, b):
        t.add(e)
        t.names.reserve(e.container.name, e.id)
    assert t.find("one") is a and t.find("/two") is b and t.find("ab") is a
    assert t.find(a.id) is a
    with pytest.raises(InvalidArgument, match="multiple IDs"):
        t.find("a")
    with pytest.raises(NotFound, match="No such container: zz"):
        t.find("zz")


# ---------------------------------------------------------------- etc files

def test_resolv_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text("# c\nnameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch lan\n"
                    "options edns0\n")
    monkeypatch.setattr(etcfiles, "HOST_RESOLV_CONF", str(host))
    out = etcfiles.resolv_conf(HostConfig())
    assert out == "nameserver 10.1.1.1\nsearch lan\noptions edns0\n"
    host.write_text("nameserver 127.0.0.1\n")
    assert etcfiles.resolv_conf(HostConfig()).startswith("nameserver 8.8.8.8\n")
    assert etcfiles.resolv_conf(HostConfig(network_mode="host")) == "nameserver 127.0.0.1\n"
    custom = etcfiles.resolv_conf(HostConfig(dns=("1.1.1.1",), dns_search=("x.org",),
                                             dns_options=("ndots:2",)))
    assert custom == "nameserver 1.1.1.1\nsearch x.org\noptions ndots:2\n"


def test_hosts_file() -> None:
    text = etcfiles.hosts_file(HostConfig(extra_hosts=("db:10.0.0.5", "v6=::1")))
    assert text.startswith("127.0.0.1\tlocalhost\n")
    assert text.endswith("10.0.0.5\tdb\n::1\tv6\n")


# ---------------------------------------------------------------- filters

def test_filters() -> None:
    running = replace(C, id="a" * 64, name="up", created_ns=10,
                      state=State(Status.RUNNING, pid=5, started_ns=11))
    exited = C

    def find(ref: str) -> Container:
        return {"up": running, "web": exited}[ref]

    def names(filters: dict[str, list[str]]) -> list[str]:
        match = compile_filters(filters, find)
        return [c.name for c in (running, exited) if match(c)]

    assert names({"status": ["running"]}) == ["up"]
    assert names({"exited": ["3"]}) == ["web"]
    assert names({"name": ["w"]}) == ["web"]
    assert names({"id": ["aaa"]}) == ["up"]
    assert names({"label": ["a=b"]}) == ["up", "web"]
    assert names({"label": ["a=c"]}) == []
    assert names({"ancestor": ["busybox"]}) == ["up", "web"]
    assert names({"before": ["up"]}) == ["web"]
    assert names({"since": ["web"]}) == ["up"]
    for bad in ({"bogus": ["x"]}, {"status": ["sleeping"]}, {"exited": ["x"]}):
        with pytest.raises(InvalidArgument):
            compile_filters(bad, find)
