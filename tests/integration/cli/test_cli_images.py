"""``dockyard`` image commands against a real dockyardd: ``images`` (table, -q, --digests,
--no-trunc, --filter, --format, a reference), ``tag``, ``rmi`` (several names, errors,
-f), ``history`` (-H=false, -q, --no-trunc, --format), ``import`` (file and stdin, -c,
-m), ``save`` (-o and stdout) then ``load`` (-i, stdin, -q), ``image inspect`` (-f,
errors), ``image prune`` (-f, the prompt), ``image base`` and the ``image`` spellings.

One daemon for the module (temp socket and roots, the offline busybox image); every
command runs under a timeout; what a test makes it removes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import harness
from cli_helpers import python_m_cli as dy

pytestmark = pytest.mark.root


def busybox_id(d: harness.Daemon) -> str:
    return str(d.request("GET", "/images/busybox/json").json()["Id"])


@pytest.fixture
def tags(d: harness.Daemon) -> Iterator[list[str]]:
    """Names a test tags; removed afterwards."""
    made: list[str] = []
    try:
        yield made
    finally:
        for name in made:
            d.request("DELETE", f"/images/{name}?force=1")


def test_images_table_quiet_digests_and_no_trunc(d: harness.Daemon, tags: list[str]) -> None:
    bid = busybox_id(d)
    dy(d, "tag", "busybox", "cli-e/one:1")
    tags.append("cli-e/one:1")
    lines = dy(d, "images").stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[0].startswith("REPOSITORY   TAG       IMAGE ID       CREATED")
    rows = {tuple(line.split()[:3]) for line in lines[1:]}
    assert ("busybox", "latest", bid[7:19]) in rows
    assert ("cli-e/one", "1", bid[7:19]) in rows
    # columns line up under their headers (docker's tabwriter)
    col = lines[0].index("IMAGE ID")
    assert all(line[col : col + 12] == bid[7:19] for line in lines[1:])
    assert dy(d, "images", "-q").stdout.splitlines() == [bid[7:19]] * (len(lines) - 1)
    assert dy(d, "images", "-q", "--no-trunc", "busybox").stdout == bid + "\n"
    digests = dy(d, "images", "--digests", "busybox").stdout.splitlines()
    assert digests[0].split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
    assert digests[1].split()[:3] == ["busybox", "latest", "<none>"]
    assert bid in dy(d, "image", "ls", "--no-trunc").stdout
    assert dy(d, "image", "list", "cli-e/one").stdout.splitlines()[1].split()[:2] == [
        "cli-e/one",
        "1",
    ]


def test_images_format_filter_and_json(d: harness.Daemon, tags: list[str]) -> None:
    dy(d, "tag", "busybox", "cli-e/two:2")
    tags.append("cli-e/two:2")
    out = dy(
        d,
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.Size}}",
        "--filter",
        "reference=cli-e/*",
    ).stdout
    assert out == "cli-e/two:2 1.98MB\n" or out.split()[0] == "cli-e/two:2"
    rows = [
        json.loads(line)
        for line in dy(d, "images", "--format", "json", "busybox").stdout.splitlines()
    ]
    assert rows[0]["Repository"] == "busybox" and rows[0]["Digest"] == "<none>"
    assert set(rows[0]) == {
        "Containers",
        "CreatedAt",
        "CreatedSince",
        "Digest",
        "ID",
        "Repository",
        "SharedSize",
        "Size",
        "Tag",
        "UniqueSize",
        "VirtualSize",
    }
    table = dy(d, "images", "--format", "table {{.Repository}}\t{{.Tag}}", "cli-e/two").stdout
    assert table == "REPOSITORY   TAG\ncli-e/two    2\n"
    bad = dy(d, "images", "--format", "{{.Nope", check=False)
    assert bad.returncode == 1
    assert bad.stderr.startswith("template parsing error: template: :1: unclosed action")
    bad = dy(d, "images", "--filter", "dangling", check=False)
    assert bad.returncode == 125 and "bad format of filter" in bad.stderr


def test_tag_and_rmi_with_errors(d: harness.Daemon, tags: list[str]) -> None:
    dy(d, "tag", "busybox", "cli-e/rm:a")
    dy(d, "image", "tag", "busybox", "cli-e/rm")
    tags += ["cli-e/rm:a", "cli-e/rm:latest"]
    out = dy(d, "rmi", "cli-e/rm:a", "cli-e/nope:1", "cli-e/rm", check=False)
    assert out.returncode == 1
    assert out.stdout == "Untagged: cli-e/rm:a\nUntagged: cli-e/rm:latest\n"
    assert out.stderr == "Error response from daemon: No such image: cli-e/nope:1\n"
    missing = dy(d, "tag", "cli-e/nope", "x:1", check=False)
    assert missing.returncode == 1 and "No such image" in missing.stderr
    assert dy(d, "tag", "busybox", "a@sha256:00", check=False).returncode == 1
    bad = dy(d, "tag", "busybox", "Bad:x", check=False)
    assert (bad.returncode, bad.stderr) == (
        1,
        'Error parsing reference: "Bad:x" is not a valid repository/tag: '
        "invalid reference format: repository name (library/Bad) must be lowercase\n",
    )


def test_history_formats(d: harness.Daemon) -> None:
    lines = dy(d, "history", "busybox").stdout.splitlines()
    assert lines[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert lines[1].startswith(busybox_id(d)[7:19] + "   ")
    assert "…" in lines[1] and "1.98MB" in lines[1]
    raw = dy(d, "image", "history", "-H=false", "--no-trunc", "busybox").stdout.splitlines()
    assert raw[0].split()[:3] == ["IMAGE", "CREATED", "AT"]
    assert (
        busybox_id(d) in raw[1]
        and " 1982436 " in raw[1]
        and "multi-call binary. from /bin/busybox" in raw[1]
    )
    assert dy(d, "history", "-q", "busybox").stdout == busybox_id(d)[7:19] + "\n"
    assert (
        dy(d, "history", "--format", "{{.Comment}}|{{.Size}}", "busybox").stdout
        == "offline base image|1.98MB\n"
    )


def test_import_file_and_stdin_then_inspect(
    d: harness.Daemon, tags: list[str], tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello").write_text("hi\n")
    tar = tmp_path / "root.tar"
    with tarfile.open(tar, "w") as t:
        t.add(root / "hello", arcname="hello")
    out = dy(
        d,
        "import",
        "-c",
        'CMD ["/hello"]',
        "-c",
        "ENV A=1",
        "-m",
        "by cli-e",
        str(tar),
        "cli-e/imp:1",
    )
    tags.append("cli-e/imp:1")
    assert out.stdout.startswith("sha256:") and len(out.stdout.strip()) == 71
    out = dy(d, "image", "import", "-", "cli-e/imp:2", input=tar.read_bytes())
    tags.append("cli-e/imp:2")
    assert out.stdout.startswith("sha256:")
    fmt = "{{json .Config.Cmd}} {{index .Config.Env 0}} {{.Comment}} {{len .RootFS.Layers}}"
    assert (
        dy(d, "image", "inspect", "-f", fmt, "cli-e/imp:1").stdout == '["/hello"] A=1 by cli-e 1\n'
    )
    missing = dy(d, "import", str(tmp_path / "nope.tar"), check=False)
    assert missing.returncode == 1 and "no such file or directory" in missing.stderr


def test_save_then_load(d: harness.Daemon, tmp_path: Path) -> None:
    archive = tmp_path / "bb.tar"
    assert dy(d, "save", "-o", str(archive), "busybox").stdout == ""
    with tarfile.open(archive) as t:
        names = t.getnames()
    assert "manifest.json" in names and "index.json" in names
    streamed = subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "save", "busybox"],
        capture_output=True,
        env={**os.environ, "DOCKYARD_HOST": d.host},
        timeout=60,
        check=True,
    ).stdout
    assert streamed[:512] and tarfile.is_tarfile(archive)
    assert dy(d, "load", "-i", str(archive)).stdout == "Loaded image: busybox:latest\n"
    assert dy(d, "image", "load", "-q", input=streamed).stdout == "Loaded image: busybox:latest\n"
    bad = dy(d, "save", "-o", str(tmp_path / "no" / "dir.tar"), "busybox", check=False)
    assert bad.returncode == 1 and bad.stderr == (  # the docker CLI's words
        f"failed to save image: invalid output path: stat {tmp_path / 'no'}: "
        "no such file or directory\n")
    assert not list(tmp_path.glob(".docker_temp_*"))


def test_image_inspect_json_template_and_errors(d: harness.Daemon) -> None:
    out = dy(d, "image", "inspect", "busybox")
    parsed = json.loads(out.stdout)
    assert parsed[0]["Id"] == busybox_id(d)
    assert out.stdout.startswith('[\n    {\n        "Id"')
    both = dy(d, "image", "inspect", "busybox", "cli-e/none", check=False)
    assert both.returncode == 1 and json.loads(both.stdout)[0]["Id"] == busybox_id(d)
    assert both.stderr == "Error response from daemon: No such image: cli-e/none:latest\n"
    none = dy(d, "image", "inspect", "cli-e/none", check=False)
    assert (none.returncode, none.stdout) == (1, "[]\n")
    fmt = "{{.Os}}/{{.Architecture}} {{range .RepoTags}}[{{.}}]{{end}} {{.Config.Labels.x}}"
    assert dy(d, "image", "inspect", "-f", fmt, "busybox").stdout.startswith(
        "linux/amd64 [busybox:latest]"
    )
    bad = dy(d, "image", "inspect", "-f", "{{if}}", "busybox", check=False)
    assert bad.returncode == 64 and "template parsing error" in bad.stderr


def test_image_prune_prompt_and_force(d: harness.Daemon, tmp_path: Path) -> None:
    # a dangling image: import without a name
    tar = tmp_path / "e.tar"
    with tarfile.open(tar, "w") as t:
        info = tarfile.TarInfo("empty")
        t.addfile(info)
    dangling = dy(d, "import", str(tar)).stdout.strip()
    answer_no = dy(d, "image", "prune", input=b"n\n")
    assert answer_no.stdout == (
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
    )
    assert dangling[7:19] in dy(d, "images", "-a", "-q").stdout
    out = dy(d, "image", "prune", "-f").stdout
    assert out.startswith("Deleted Images:\ndeleted: " + dangling)
    assert out.endswith("\nTotal reclaimed space: " + out.rsplit(": ", 1)[1])
    assert dangling[7:19] not in dy(d, "images", "-a", "-q").stdout
    assert dy(d, "image", "prune", "-f").stdout == "Total reclaimed space: 0B\n"


def test_image_base_makes_a_named_busybox(d: harness.Daemon, tags: list[str]) -> None:
    out = dy(d, "image", "base", "busybox", "--ref", "cli-e/base:1", "-q", timeout=300)
    tags.append("cli-e/base:1")
    assert out.stdout.startswith("sha256:")
    assert dy(d, "images", "-q", "cli-e/base:1").stdout.strip() == out.stdout.strip()[7:19]
    bad = dy(d, "image", "base", "alpine", check=False)
    assert bad.returncode == 1 and "busybox or debian" in bad.stderr


def test_help_and_usage_errors(d: harness.Daemon) -> None:
    helped = dy(d, "images", "--help").stdout
    assert (
        "Usage:  dockyard images [OPTIONS] [REPOSITORY[:TAG]]" in helped and "--digests" in helped
    )
    usage = dy(d, "rmi", check=False)
    assert usage.returncode == 1 and "'dockyard rmi' requires at least 1 argument" in usage.stderr
    usage = dy(d, "tag", "a", check=False)
    assert usage.returncode == 1 and "'dockyard tag' requires" in usage.stderr
