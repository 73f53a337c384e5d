"""``ps`` and ``stats`` rows (docker's ContainerContext and statsContext) over canned
API answers, rendered through the format package as the commands do."""

from __future__ import annotations

import time

from dockyard.cli.commands.listing import HEADERS, TABLE, container_row, display_ports
from dockyard.cli.commands.stats import HEADERS as STATS_HEADERS
from dockyard.cli.commands.stats import TABLE as STATS_TABLE
from dockyard.cli.commands.stats import cpu_percent, stats_row
from dockyard.cli.format.table import render_rows

CONTAINER = {
    "Id": "4f66ad9a0b2e" + "0" * 52, "Names": ["/web", "/other/link"],
    "Image": "busybox@sha256:" + "a" * 64, "ImageID": "sha256:" + "b" * 64,
    "Command": "sh -c 'echo hello world; sleep 1000'", "Created": int(time.time()) - 3,
    "State": "running", "Status": "Up 3 seconds", "Labels": {"a": "1"},
    "Ports": [{"PrivatePort": 80, "Type": "tcp"},
              {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
    "Mounts": [{"Name": "", "Source": "/a/very/long/host/path", "Driver": ""}],
    "SizeRw": 12288, "SizeRootFs": 4_260_000,
}


def test_ps_table_columns_and_truncation() -> None:
    c = {**CONTAINER, "Created": int(time.time()) - 3}
    text = render_rows(TABLE + "\t{{.Size}}", [container_row(c, trunc=True)], HEADERS)
    head, row = text.splitlines()
    assert head.split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                            "PORTS", "NAMES", "SIZE"]
    assert row.startswith("4f66ad9a0b2e   busybox   \"sh -c 'echo hello w…\"   3 seconds ago")
    assert "web " in row and "link" not in row
    assert row.endswith("12.3kB (virtual 4.26MB)")


def test_ps_fields_without_truncation() -> None:
    r = container_row(CONTAINER, trunc=False)
    assert CONTAINER["Id"] == r.ID
    assert r.Image == CONTAINER["Image"]
    assert r.Names == "web,other/link"
    assert r.Command == "\"sh -c 'echo hello world; sleep 1000'\""
    assert r.Label("a") == "1" and r.Labels == "a=1"
    assert r.Mounts == "/a/very/long/host/path"
    assert container_row(CONTAINER, trunc=True).Mounts == "/a/very/long/h…"


def test_ports() -> None:
    assert display_ports(CONTAINER["Ports"]) == "80/tcp, 0.0.0.0:8080->80/tcp"  # type: ignore[arg-type]
    assert display_ports([{"IP": "::", "PrivatePort": 53, "PublicPort": 53,
                           "Type": "udp"}]) == "[::]:53->53/udp"


SAMPLE = {
    "name": "/web", "id": "d65da706bc83" + "1" * 52,
    "cpu_stats": {"cpu_usage": {"total_usage": 2_000_000}, "system_cpu_usage": 200_000_000,
                  "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000},
                     "system_cpu_usage": 100_000_000},
    "memory_stats": {"usage": 10 << 20, "limit": 100 << 20,
                     "stats": {"total_inactive_file": 2 << 20}},
    "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 0}},
    "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096},
                                                   {"op": "Write", "value": 8192}]},
    "pids_stats": {"current": 3},
}


def test_stats_figures_as_docker_computes_them() -> None:
    assert cpu_percent(SAMPLE) == 2.0
    r = stats_row("web", SAMPLE, trunc=True)
    assert (r.ID, r.Name, r.CPUPerc, r.MemUsage, r.MemPerc, r.NetIO, r.BlockIO, r.PIDs) == (
        "d65da706bc83", "web", "2.00%", "8MiB / 100MiB", "8.00%", "1.5kB / 0B",
        "4.1kB / 8.19kB", "3")
    import re

    text = render_rows(STATS_TABLE, [r], STATS_HEADERS)
    assert re.split(r"\s{3,}", text.splitlines()[0].strip()) == [
        "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O",
        "BLOCK I/O", "PIDS"]
    assert stats_row("x", None, trunc=True).CPUPerc == "--"


def test_quiet_ids_match_the_template_path() -> None:
    from dockyard.cli.commands.listing import QUIET, _short

    rows = [container_row(CONTAINER, trunc=True), container_row(CONTAINER, trunc=False)]
    assert render_rows(QUIET, rows, HEADERS) == (
        _short(CONTAINER["Id"]) + "\n" + CONTAINER["Id"] + "\n")  # type: ignore[operator]
    assert _short("sha256:" + "c" * 64) == "c" * 12
