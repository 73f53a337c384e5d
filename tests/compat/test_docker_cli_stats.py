"""The real docker CLI (28.2) and docker-py against dockyardd: ``stats --no-stream``,
``update`` (read back from the cgroup files), ``port``, ``system df [-v]``, ``ps -s``,
``container prune``/``image prune``/``system prune`` with ``label``/``until`` filters,
and ``logs --since`` over rotated files.

Every command runs under ``timeout``; the daemon is a real one on temp roots, cleaned up
even when a test fails.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness

pytestmark = pytest.mark.root
MB = 1 << 20
CGROUP = Path("/sys/fs/cgroup")


def cgroup_file(d: harness.Daemon, controller: str, cid: str, name: str) -> str:
    return (CGROUP / controller / d.cgroup_parent.strip("/") / cid / name).read_text().strip()


def host_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def human(n: float) -> str:
    """docker's ``units.BytesSize`` (binary units, as ``docker stats`` prints limits)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n:.4g}{unit}"
        n /= 1024
    return f"{n:.4g}PiB"


@pytest.fixture
def boxes(d: harness.Daemon) -> Iterator[dict[str, str]]:
    """``lim`` (--memory 64m) and ``free`` (no limit), running; removed after the test."""
    ids = {}
    try:
        for name, extra in (("lim", ["--memory", "64m"]), ("free", [])):
            ids[name] = d.docker("run", "-d", "--name", name, *extra, "busybox", "sleep",
                                 "1000", check=True).stdout.strip()
        yield ids
    finally:
        d.docker("rm", "-f", *ids)


def test_stats_no_stream_shows_the_memory_limit(d: harness.Daemon,
                                                boxes: dict[str, str]) -> None:
    p = d.docker("stats", "--no-stream", "--format",
                 "{{.Name}}|{{.MemUsage}}|{{.CPUPerc}}|{{.PIDs}}|{{.NetIO}}|{{.BlockIO}}",
                 "lim", "free", check=True)
    rows = dict(line.split("|", 1) for line in p.stdout.splitlines())
    assert set(rows) == {"lim", "free"}
    mem, cpu, pids, net, _block = rows["lim"].split("|")
    assert mem.endswith(" / 64MiB") and cpu.endswith("%") and pids == "1"
    assert net == "0B / 0B"
    assert rows["free"].split("|")[0].endswith(" / " + human(host_memory()))
    table = d.docker("stats", "--no-stream", check=True).stdout.splitlines()
    assert table[0].split()[:4] == ["CONTAINER", "ID", "NAME", "CPU"] and len(table) == 3


def test_update_memory_cpus_pids_reach_the_cgroup(d: harness.Daemon,
                                                  boxes: dict[str, str]) -> None:
    cid = boxes["lim"]
    d.docker("update", "--memory", "128m", "lim", check=True)
    assert cgroup_file(d, "memory", cid, "memory.limit_in_bytes") == str(128 * MB)
    d.docker("update", "--cpus", "0.5", "--pids-limit", "40", "--cpu-shares", "256", "lim",
             check=True)
    assert cgroup_file(d, "cpu", cid, "cpu.cfs_quota_us") == "50000"
    assert cgroup_file(d, "cpu", cid, "cpu.cfs_period_us") == "100000"
    assert cgroup_file(d, "cpu", cid, "cpu.shares") == "256"
    assert cgroup_file(d, "pids", cid, "pids.max") == "40"
    d.docker("update", "--restart", "on-failure:2", "lim", check=True)
    fmt = "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} " \
          "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
    assert d.docker("inspect", "-f", fmt, "lim", check=True).stdout.split() == [
        str(128 * MB), "500000000", "40", "on-failure:2"]
    mem = d.docker("stats", "--no-stream", "--format", "{{.MemUsage}}", "lim",
                   check=True).stdout
    assert mem.strip().endswith(" / 128MiB")
    p = d.docker("update", "--memory", "4m", "lim")
    assert p.returncode == 1 and "Minimum memory limit allowed is 6MB" in p.stderr
    p = d.docker("update", "--memory", "1g", "lim")
    assert p.returncode == 1 and "smaller than already set memoryswap limit" in p.stderr
    d.docker("update", "--memory", "1g", "--memory-swap", "2g", "lim", check=True)
    assert cgroup_file(d, "memory", cid, "memory.limit_in_bytes") == str(1 << 30)
    assert cgroup_file(d, "memory", cid, "memory.memsw.limit_in_bytes") == str(2 << 30)


def test_port_without_published_ports(d: harness.Daemon, boxes: dict[str, str]) -> None:
    p = d.docker("port", "lim")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    p = d.docker("port", "lim", "80/tcp")
    assert p.returncode == 1 and "No public port '80/tcp' published for lim" in p.stderr


def test_system_df_and_ps_size(d: harness.Daemon) -> None:
    cid = d.docker("run", "--name", "sized", "busybox", "sh", "-c",
                   "head -c 2000000 /dev/zero > /blob; seq 1 20000", check=True,
                   timeout=90).stdout
    try:
        out = d.docker("system", "df", check=True).stdout.splitlines()
        assert out[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
        kinds = {line.split()[0]: line.split() for line in out[1:]}
        assert set(kinds) == {"Images", "Containers", "Local", "Build"}
        assert kinds["Containers"][1:3] == ["1", "0"]
        size = kinds["Containers"][3]
        assert size.endswith("MB") and float(size[:-2]) > 2.0  # layer + log
        verbose = d.docker("system", "df", "-v", check=True).stdout
        assert "Images space usage:" in verbose and "Containers space usage:" in verbose
        assert "sized" in verbose and "Build cache usage: 0B" in verbose
        ps = d.docker("ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}",
                      check=True).stdout.split("\n")[0]
        name, rw, _virtual, root = ps.split()
        assert name == "sized" and rw.endswith("MB") and float(rw[:-2]) > 2.0
        assert _virtual == "(virtual" and root.endswith("MB)")
        assert float(root[:-3]) > float(rw[:-2])  # + the image's 2 MB
        sizes = d.docker("inspect", "--size", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "sized",
                         check=True).stdout.split()
        assert int(sizes[0]) > 2_000_000 and int(sizes[1]) > int(sizes[0])
        assert d.docker("inspect", "-f", "{{.SizeRw}}", "sized", check=True).stdout \
            == "<nil>\n"  # as with dockerd: the CLI's field is a nil pointer
    finally:
        d.docker("rm", "-f", "sized")
    assert cid.endswith("20000\n")


def test_prune_filters_and_system_prune(d: harness.Daemon, busybox_rootfs: Path) -> None:
    made: list[str] = []

    def run(*labels: str) -> str:
        args = [a for label in labels for a in ("--label", label)]
        cid = d.docker("create", *args, "busybox", "true", check=True).stdout.strip()
        made.append(cid)
        return cid

    try:
        a, b, c = run("tier=web"), run("tier=db"), run("other")
        p = d.docker("container", "prune", "-f", "--filter", "label=tier=web", check=True)
        assert a in p.stdout and b not in p.stdout and c not in p.stdout
        p = d.docker("container", "prune", "-f", "--filter", "label!=tier=db", check=True)
        assert c in p.stdout and b not in p.stdout
        cut = time.time()
        time.sleep(1.1)
        late = run("late")
        # A whole second at or after the cut: b (made before it) is older, late (made
        # 1.1 s after it) is newer. (Rounding to the nearest second could land before b.)
        until = math.ceil(cut)
        p = d.docker("container", "prune", "-f", "--filter", f"until={until}", check=True)
        assert b in p.stdout and late not in p.stdout
        p = d.docker("container", "prune", "-f", "--filter", "label=late", check=True)
        assert late in p.stdout
        assert d.docker("ps", "-aq", "--filter", f"id={late}", check=True).stdout == ""
        # images: an imported one pruned by until, and system prune through the endpoints;
        # a running container keeps busybox (6 months old: "until=1h" selects it)
        made.append(d.docker("run", "-d", "busybox", "sleep", "1000",
                             check=True).stdout.strip())
        tar = d.root / "prune-rootfs.tar"
        subprocess.run(["tar", "-C", str(busybox_rootfs), "-cf", str(tar), "."], check=True,
                       timeout=60)
        d.docker("import", "--change", "LABEL keep=no", str(tar), "pr:1", check=True)
        p = d.docker("image", "prune", "-a", "-f", "--filter", "until=1h", check=True)
        assert "pr:1" not in p.stdout  # made just now: not before an hour ago
        p = d.docker("image", "prune", "-a", "-f", "--filter", "label!=keep=no",
                     "--filter", f"until={time.time() + 60:.0f}", check=True)
        assert "pr:1" not in p.stdout and "busybox" not in p.stdout
        stopped = run("sys")
        p = d.docker("system", "prune", "-f", "-a", check=True)
        assert stopped in p.stdout and "untagged: pr:1" in p.stdout
        assert "Total reclaimed space:" in p.stdout and "busybox" not in p.stdout
    finally:
        d.docker("rm", "-f", *made)
        d.docker("rmi", "-f", "pr:1")


def test_logs_since_over_rotated_files(d: harness.Daemon) -> None:
    script = ("i=0; while [ $i -lt 3000 ]; do echo early $i; i=$((i+1)); done; "
              "sleep 1.5; echo late one; sleep 0.3; echo late two")
    d.docker("run", "--name", "chatty", "--log-opt", "max-size=50k", "--log-opt",
             "max-file=4", "busybox", "sh", "-c", script, check=True, timeout=90)
    try:
        log_path = Path(d.docker("inspect", "-f", "{{.LogPath}}", "chatty",
                                 check=True).stdout.strip())
        assert Path(f"{log_path}.3").exists()  # rotated: 4 files of 50k
        last = d.docker("logs", "-t", "--tail", "2", "chatty", check=True).stdout
        since = last.split()[0]  # the time of "late one"
        p = d.docker("logs", "--since", since, "chatty", check=True)
        assert p.stdout == "late one\nlate two\n"
        p = d.docker("logs", "--until", since, "--since", "0", "chatty", check=True)
        lines = p.stdout.splitlines()
        assert lines[-1] == "late one" and lines[-2] == "early 2999"
        assert lines[0].startswith("early ") and lines[0] != "early 0"  # rotated away
    finally:
        d.docker("rm", "-f", "chatty")


def test_docker_py_stats_update_df(client: docker.DockerClient, d: harness.Daemon) -> None:
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True, mem_limit="48m")
    s = c.stats(stream=False)
    assert s["memory_stats"]["limit"] == 48 * MB and s["id"] == c.id
    assert s["precpu_stats"]["system_cpu_usage"] > 0
    one = c.stats(stream=False, one_shot=True)
    assert one["preread"] == "0001-01-01T00:00:00Z"
    stream = c.stats(stream=True, decode=True)
    try:
        first, second = next(stream), next(stream)
    finally:
        stream.close()
    assert second["preread"] == first["read"]
    assert c.update(mem_limit="96m", memswap_limit="192m", cpu_shares=300) == {
        "Warnings": []}
    assert cgroup_file(d, "memory", c.id, "memory.limit_in_bytes") == str(96 * MB)
    assert cgroup_file(d, "memory", c.id, "memory.memsw.limit_in_bytes") == str(192 * MB)
    c.reload()
    assert c.attrs["HostConfig"]["CpuShares"] == 300
    df = client.df()
    assert df["LayersSize"] > 0 and df["Volumes"] == [] and df["BuildCache"] == []
    (row,) = [x for x in df["Containers"] if x["Id"] == c.id]
    assert row["SizeRootFs"] >= row["SizeRw"] >= 0
    with pytest.raises(docker.errors.APIError, match="Minimum memory limit"):
        c.update(mem_limit="1m")
