"""The entry point: the lazy table, global flags, errors and exit statuses (no daemon:
a socket path where nothing listens)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.cli import main as cli_main
from dockyard.cli.context import StatusError
from dockyard.cli.filters import filters_query, parse_filters
from dockyard.cli.timestamps import api_timestamp

# Modules of commands written by other helpers, which may land later.
OPTIONAL = {"dockyard.cli.commands.manifest"}


def all_refs() -> list[str]:
    refs = [ref for ref, _ in cli_main.COMMANDS.values()]
    for _, verbs in cli_main.GROUPS.values():
        refs += [cli_main.COMMANDS[v][0] if v in cli_main.COMMANDS else v
                 for v in verbs.values()]
    return sorted(set(refs))


@pytest.mark.parametrize("ref", all_refs())
def test_every_table_entry_is_a_command(ref: str) -> None:
    module, _, func = ref.partition(":")
    if module in OPTIONAL:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            return
    assert callable(getattr(importlib.import_module(module), func))


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "DOCKYARD_HOST": "unix:///nonexistent/d.sock"}
    return subprocess.run([sys.executable, "-m", "dockyard.cli", *argv], capture_output=True,
                          text=True, env={**base, **(env or {})}, timeout=30)


def test_help_version_and_unknown() -> None:
    r = run("--help")
    assert r.returncode == 0 and "Usage:  dockyard [OPTIONS] COMMAND" in r.stdout
    assert "  ps          List containers" in r.stdout
    assert run("-v").stdout.startswith("Dockyard version ")
    r = run("frob")
    assert r.returncode == 1
    assert r.stderr.startswith("dockyard: unknown command: dockyard frob")
    r = run("container")
    assert r.returncode == 0 and "  ls        List containers" in r.stdout
    assert run("--bogus", "ps").returncode == 125
    r = run("help", "container", "ls")
    assert r.returncode == 0 and r.stdout.startswith("\nUsage:  dockyard ps [OPTIONS]")


def test_no_daemon_is_a_clear_message_and_status_1_or_125_for_run() -> None:
    r = run("ps")
    assert r.returncode == 1
    assert r.stderr == ("Cannot connect to the dockyard daemon at unix:///nonexistent/"
                        "d.sock. Is dockyardd running?\n")
    r = run("run", "busybox")
    assert r.returncode == 125 and "Cannot connect to the dockyard daemon" in r.stderr
    assert "Run 'dockyard run --help' for more information" in r.stderr
    r = run("-H", "unix:///elsewhere.sock", "ps")
    assert "at unix:///elsewhere.sock" in r.stderr
    r = run("ps", env={"DOCKYARD_HOST": "", "DOCKER_HOST": "unix:///from-docker.sock"})
    assert "at unix:///from-docker.sock" in r.stderr
    r = run("-D", "ps", "-a")
    assert r.stderr.startswith("DEBU[dockyard] GET /v1.45/containers/json?all=1\n")
    r = run("-H", "tcp://1.2.3.4:2375", "ps")
    assert r.returncode == 1 and "unix socket only" in r.stderr


def test_usage_errors_print_the_usage() -> None:
    r = run("ps", "--nope")
    assert r.returncode == 125
    assert r.stderr == ("unknown flag: --nope\n\nUsage:  dockyard ps [OPTIONS]\n\n"
                        "Run 'dockyard ps --help' for more information\n")
    r = run("container", "rm")
    assert r.returncode == 1 and "'dockyard rm' requires at least 1 argument" in r.stderr
    r = run("run", "-it", "busybox")
    assert r.returncode == 1 and r.stderr == "the input device is not a TTY\n"


@pytest.mark.parametrize("cmd", ["run", "create", "start", "stop", "kill", "restart", "rm",
                                 "ps", "logs", "exec", "attach", "inspect", "top", "stats",
                                 "pause", "unpause", "rename", "wait", "port", "cp", "diff",
                                 "commit", "export", "update"])
def test_every_container_command_has_help(cmd: str, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    assert cli_main.main([cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"Usage:  dockyard {cmd} " in out and "Print usage" in out


def test_container_prune_help() -> None:
    r = run("container", "prune", "--help")
    assert r.returncode == 0 and "Usage:  dockyard container prune [OPTIONS]" in r.stdout


def test_the_launcher_runs_without_site(tmp_path: Path) -> None:
    from dockyard.cli.launcher import install

    path = tmp_path / "dockyard"
    install(str(path))
    text = path.read_text()
    assert text.startswith(f"#!{sys.executable} -IS\n")
    r = subprocess.run([str(path), "-v"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("Dockyard version")
    r = subprocess.run([str(path), "ps"], capture_output=True, text=True, timeout=30,
                       env={"DOCKYARD_HOST": "unix:///nonexistent.sock"})
    assert r.returncode == 1 and "Cannot connect" in r.stderr


def test_the_ps_path_imports_no_heavy_module() -> None:
    """What ``dockyard ps`` loads (re, json, socket, typing, asyncio cost start-up)."""
    code = ("import sys\nfrom dockyard.cli.main import main\n"
            "try:\n    main(['ps'])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(sys.modules)))")
    src = str(Path(cli_main.__file__).resolve().parents[2])
    r = subprocess.run([sys.executable, "-I", "-S", "-c",
                        f"import sys; sys.path.insert(0, {src!r})\n" + code],
                       capture_output=True, text=True, timeout=30,
                       env={"DOCKYARD_HOST": "unix:///nonexistent.sock"})
    loaded = set(r.stdout.split())
    assert "dockyard.cli.commands.listing" in loaded
    for heavy in ("re", "json", "socket", "typing", "asyncio", "enum", "argparse",
                  "http.client", "dataclasses", "aiohttp"):
        assert heavy not in loaded, heavy


def test_filters_and_timestamps() -> None:
    assert parse_filters(["status=exited", "label=a=b", "status=created"]) == {
        "status": {"exited": True, "created": True}, "label": {"a=b": True}}
    assert filters_query([]) == {}
    assert filters_query(["name=x"]) == {"filters": '{"name":{"x":true}}'}
    with pytest.raises(StatusError, match="bad format of filter"):
        parse_filters(["nokey"])
    assert api_timestamp("10m", now=1000.0) == "400"
    assert api_timestamp("1700000000") == "1700000000"
    assert api_timestamp("1700000000.5") == "1700000000.5"
    assert api_timestamp("2024-01-02T03:04:05Z") == "1704164645.000000000"
    assert api_timestamp("2024-01-02T03:04:05.25+01:00") == "1704161045.250000000"
    with pytest.raises(ValueError):
        api_timestamp("yesterday")
