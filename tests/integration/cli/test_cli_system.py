"""``dockyard`` system commands against a real dockyardd: ``version`` (docker's template,
``--format``), ``info`` (docker's lines, ``--format``), ``system df`` (-v, --format),
``system prune`` (the prompt, -f: containers and dangling images), ``events``
(--since/--until as timestamps, durations and dates, --filter, --format, json) and
``completion bash`` (sourced by bash, completing ``dockyard ima<TAB>``, flags and
image names).

One daemon for the module; every command runs under a timeout; what a test makes it
removes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import cli_env, harness
from cli_helpers import python_m_cli as dy

pytestmark = pytest.mark.root


def test_version_prints_docker_sections(d: harness.Daemon) -> None:
    lines = dy(d, "version").stdout.splitlines()
    server = d.request("GET", "/version").json()
    assert lines[0] == "Client:"
    assert lines[1].startswith(" Version:           ")  # tabwriter minwidth 20, padding 1
    assert [line.split(":")[0] for line in lines[1:8]] == [
        " Version",
        " API version",
        " Go version",
        " Git commit",
        " Built",
        " OS/Arch",
        " Context",
    ]
    assert lines[8] == ""
    assert lines[9] == "Server: " + server["Platform"]["Name"]
    assert lines[10] == " Engine:"
    assert lines[11] == f"  Version:          {server['Version']}"
    assert (
        lines[12]
        == f"  API version:      {server['ApiVersion']} (minimum version {server['MinAPIVersion']})"
    )
    assert dy(d, "version", "--format", "{{.Server.Version}}|{{.Client.Os}}").stdout == (
        f"{server['Version']}|linux\n"
    )
    as_json = json.loads(dy(d, "version", "--format", "json").stdout)
    assert as_json["Server"]["ApiVersion"] == server["ApiVersion"]
    assert dy(d, "version", "-f", "{{", check=False).returncode == 64


def test_version_and_info_without_a_daemon(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "DOCKYARD_"))}
    env["DOCKYARD_HOST"] = f"unix://{tmp_path}/none.sock"
    out = subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert out.returncode == 1 and out.stdout.startswith("Client:\n Version:")
    assert "Server:" not in out.stdout and "Cannot connect to the dockyard daemon" in out.stderr


def test_info_lines_and_format(d: harness.Daemon) -> None:
    info = d.request("GET", "/info").json()
    out = dy(d, "info").stdout
    lines = out.splitlines()
    assert lines[:4] == ["Client:", lines[1], " Context:    default", " Debug Mode: false"]
    assert lines[5] == "Server:"
    assert f" Containers: {info['Containers']}" in lines
    assert f" Server Version: {info['ServerVersion']}" in lines
    assert f" Docker Root Dir: {info['DockerRootDir']}" in lines
    assert " Live Restore Enabled: true" in lines or " Live Restore Enabled: false" in lines
    assert out.endswith("\n\n")
    assert (
        dy(d, "system", "info", "--format", "{{.NCPU}} {{.OSType}}").stdout
        == f"{info['NCPU']} linux\n"
    )


def test_system_df_summary_and_verbose(d: harness.Daemon) -> None:
    lines = dy(d, "system", "df").stdout.splitlines()
    assert lines[0] == "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"
    assert [line.split()[0] for line in lines[1:]] == ["Images", "Containers", "Local", "Build"]
    assert lines[1].split()[1] == str(len(d.request("GET", "/images/json").json()))
    verbose = dy(d, "system", "df", "-v").stdout
    assert verbose.startswith(
        "Images space usage:\n\nREPOSITORY   TAG       IMAGE ID       CREATED"
    )
    for section in (
        "\nContainers space usage:\n\nCONTAINER ID   IMAGE     COMMAND   LOCAL VOLUMES",
        "\nLocal Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\n",
        "\nBuild cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED",
    ):
        assert section in verbose
    assert (
        dy(d, "system", "df", "--format", "{{.Type}}={{.TotalCount}}")
        .stdout.splitlines()[0]
        .startswith("Images=")
    )


def test_system_prune_prompt_and_force(d: harness.Daemon, tmp_path: Path) -> None:
    made = d.request(
        "POST", "/containers/create?name=cli-e-prune", {"Image": "busybox", "Cmd": ["true"]}
    ).json()
    tar = tmp_path / "e.tar"
    with tarfile.open(tar, "w") as t:
        t.addfile(tarfile.TarInfo("empty"))
    dangling = dy(d, "import", str(tar)).stdout.strip()
    try:
        no = dy(d, "system", "prune", input=b"n\n")
        assert no.stdout.startswith("WARNING! This will remove:\n  - all stopped containers\n")
        assert no.stdout.endswith("Are you sure you want to continue? [y/N] ")
        assert d.request("GET", "/containers/cli-e-prune/json").status == 200
        out = dy(d, "system", "prune", "-f").stdout
        assert out.startswith(f"Deleted Containers:\n{made['Id']}\n\n")
        assert f"Deleted Images:\ndeleted: {dangling}\n" in out
        assert out.splitlines()[-1].startswith("Total reclaimed space: ")
        assert d.request("GET", "/containers/cli-e-prune/json").status == 404
    finally:
        d.request("DELETE", "/containers/cli-e-prune?force=1")
        d.request("DELETE", f"/images/{dangling}?force=1")


def test_events_since_until_filter_and_format(d: harness.Daemon) -> None:
    before = time.time()
    dy(d, "tag", "busybox", "cli-e/ev:1")
    dy(d, "rmi", "cli-e/ev:1")
    until = str(int(time.time()) + 1)
    since = str(int(before) - 1)
    lines = dy(
        d, "events", "--since", since, "--until", until, "--filter", "type=image"
    ).stdout.splitlines()
    tagged = [line for line in lines if " image tag " in line and "name=cli-e/ev:1" in line]
    assert tagged, lines
    stamp, kind, action, actor = tagged[0].split(" ")[:4]
    assert (kind, action) == ("image", "tag") and actor.startswith("sha256:")
    assert (
        len(stamp) == len("2026-01-01T00:00:00.000000000Z") or "+" in stamp or stamp.count("-") == 3
    )
    fmt = "{{.Type}}|{{.Action}}|{{.Actor.Attributes.name}}|{{.Scope}}"
    got = dy(
        d, "events", "--since", since, "--until", until, "-f", "event=untag", "--format", fmt
    ).stdout
    assert "image|untag|sha256:" in got  # moby names the untagged image by its ID
    as_json = [
        json.loads(x)
        for x in dy(
            d, "events", "--since", since, "--until", until, "--format", "json"
        ).stdout.splitlines()
    ]
    assert any(
        e["Action"] == "tag" and e["Actor"]["Attributes"]["name"] == "cli-e/ev:1" for e in as_json
    )
    assert all("id" not in e or e["id"] for e in as_json)  # Go's omitempty
    # a duration is "that long before now"; the 10 minutes include our events
    assert "name=cli-e/ev:1" in dy(d, "system", "events", "--since", "10m", "--until", until).stdout
    bad = dy(d, "events", "--since", "yesterday", check=False)
    assert (
        bad.returncode == 125
        and 'failed to parse value as time or duration: "yesterday"' in bad.stderr
    )


def test_events_streams_live_until_interrupted(d: harness.Daemon) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.cli", "events", "--filter", "type=image"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(d),
        text=True,
    )
    try:
        time.sleep(1.0)  # the stream is open before the tag
        dy(d, "tag", "busybox", "cli-e/live:1")
        deadline = time.monotonic() + 20
        line = ""
        assert proc.stdout is not None
        while time.monotonic() < deadline and "cli-e/live:1" not in line:
            line = proc.stdout.readline()
        assert "image tag" in line and "name=cli-e/live:1" in line
    finally:
        proc.kill()
        proc.wait(timeout=10)
        d.request("DELETE", "/images/cli-e/live:1")


def test_bash_completion_completes_commands_flags_and_images(
    d: harness.Daemon, tmp_path: Path
) -> None:
    script = tmp_path / "dockyard.bash"
    script.write_text(dy(d, "completion", "bash").stdout)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "dockyard"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m dockyard.cli "$@"\n')
    shim.chmod(0o755)
    probe = (
        f"source {script}\n"
        't() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _dockyard;'
        ' echo "${COMPREPLY[*]}"; }\n'
        "t dockyard ima\n"
        "t dockyard image pr\n"
        "t dockyard images --di\n"
        "t dockyard -H x sys\n"
        "t dockyard rmi busy\n"
        "complete -p dockyard\n"
    )
    env = {**cli_env(d), "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    out = subprocess.run(
        ["bash", "--norc", "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert sorted(out[0].split()) == ["image", "images"]
    assert out[1] == "prune"
    assert out[2] == "--digests"
    assert out[3] == "system"
    assert out[4] == "busybox:latest"
    assert out[5] == "complete -F _dockyard dockyard"
    zsh = dy(d, "completion", "zsh").stdout
    assert zsh.startswith("#compdef dockyard\n") and "compdef _dockyard dockyard" in zsh
    assert dy(d, "completion", "fish", check=False).returncode == 1


def test_zsh_completion_loads_registers_and_completes(d: harness.Daemon, tmp_path: Path) -> None:
    """zsh parses the script, ``compinit`` + ``source`` (and the ``$fpath`` install the
    script's ``#compdef`` line is for) define ``_dockyard`` and register it for
    ``dockyard``; called with ``words``/``CURRENT``/``PREFIX`` set as the completion system
    sets them, it offers what a Tab would (``compadd`` replaced by a function printing
    the candidates matching ``PREFIX``, as the builtin filters them: no tty needed)."""
    script = tmp_path / "dockyard.zsh"
    script.write_text(dy(d, "completion", "zsh").stdout)
    fpath_dir = tmp_path / "functions"
    fpath_dir.mkdir()
    (fpath_dir / "_dockyard").write_text(script.read_text())
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "dockyard"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m dockyard.cli "$@"\n')
    shim.chmod(0o755)
    env = {
        **cli_env(d),
        "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path),
    }

    def zsh(*args: str) -> list[str]:
        return subprocess.run(
            ["zsh", "-f", *args], capture_output=True, text=True, env=env, timeout=60, check=True
        ).stdout.splitlines()

    assert zsh("-n", str(script)) == []
    probe = (
        "autoload -Uz compinit && compinit -u -D && source <(dockyard completion zsh) || exit 3\n"
        "(( $+functions[_dockyard] )) && print defined\n"
        "print -r -- comps=$_comps[dockyard]\n"
        "compadd() { while (( $# )) && [[ $1 != -- ]]; do shift; done; shift;"
        " print -r -- ${(oM)@:#${PREFIX}*}; }\n"
        't() { local -a words=("$@"); local CURRENT=$#words PREFIX=$words[-1]; _dockyard; }\n'
        "t dockyard ima\n"
        "t dockyard image pr\n"
        "t dockyard images --di\n"
        "t dockyard -H x sys\n"
        "t dockyard rmi busy\n"
        "t dockyard container sto\n"
    )
    out = zsh("-c", probe)
    assert out == [
        "defined",
        "comps=_dockyard",
        "image images",
        "prune",
        "--digests",
        "system",
        "busybox:latest",
        "stop",
    ]
    # Installed as a file on $fpath: compinit reads '#compdef dockyard' and autoloads it.
    installed = zsh(
        "-c",
        f"fpath=({fpath_dir} $fpath); autoload -Uz compinit && compinit -u -D || exit 3\n"
        "print -r -- comps=$_comps[dockyard]\n"
        "compadd() { while (( $# )) && [[ $1 != -- ]]; do shift; done; shift;"
        " print -r -- ${(oM)@:#${PREFIX}*}; }\n"
        "words=(dockyard sys); CURRENT=2 PREFIX=sys _dockyard\n"
        "(( $+functions[_dockyard] )) && print defined\n",
    )
    assert installed == ["comps=_dockyard", "system", "defined"]
