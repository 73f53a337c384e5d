"""The CLI side of pull/push/login without a daemon: the progress display (docker's
jsonmessage, on a terminal and off it), the credentials file (docker's config.json
layout, base64 auth, credential helpers called as docker calls them), X-Registry-Auth,
and the commands' references and flag errors."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
from pathlib import Path

import pytest

from dockyard.cli.commands.distribution import _reference
from dockyard.cli.context import StatusError
from dockyard.cli.credentials import INDEX_SERVER, ConfigFile, Credentials, server_key
from dockyard.cli.jsonmessage import StreamError, display, progress_text

LAYER = "0123456789ab"
STREAM = [
    {"status": "Pulling from library/busybox", "id": "latest"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": LAYER},
    {"status": "Downloading", "progressDetail": {"current": 1000, "total": 2000},
     "progress": "[=>  ]", "id": LAYER},
    {"status": "Pull complete", "progressDetail": {}, "id": LAYER},
    {"status": "Digest: sha256:" + "a" * 64},
    {"status": "Status: Downloaded newer image for busybox:latest"},
]


def test_display_off_a_terminal_leaves_out_the_bars() -> None:
    out = io.StringIO()
    display(STREAM, out, tty=False)
    assert out.getvalue() == (
        "latest: Pulling from library/busybox\n"
        f"{LAYER}: Pulling fs layer \n".replace(" \n", "\n")
        + f"{LAYER}: Pull complete\n"
        "Digest: sha256:" + "a" * 64 + "\n"
        "Status: Downloaded newer image for busybox:latest\n")


def test_display_on_a_terminal_redraws_layer_lines() -> None:
    out = io.StringIO()
    display(STREAM, out, tty=True, width=80)
    text = out.getvalue()
    # One new screen line for the layer, then each update goes up one line and back.
    assert text.count("\n") == 4  # the layer's own line + three messages
    assert text.count("\x1b[1A") == 3 and text.count("\x1b[1B") == 3
    assert f"\x1b[1K\x1b[K\r{LAYER}: Downloading      1kB/2kB\r" in text
    assert "[=" not in text  # no bar at 80 columns
    assert "\x1b[1K\x1b[K\r" + f"{LAYER}: Pull complete \r" in text


def test_progress_text_widths() -> None:
    assert progress_text({"current": 1000, "total": 2000}, 200) == \
        "[" + "=" * 25 + ">" + " " * 25 + "]      1kB/2kB"
    assert progress_text({"current": 1000, "total": 2000}, 80) == "     1kB/2kB"
    assert progress_text({"current": 5, "total": 9, "units": "files"}, 80) == "5/9 files"
    assert progress_text({}, 200) == ""


def test_display_raises_the_stream_error_and_passes_aux() -> None:
    seen: list[object] = []
    with pytest.raises(StreamError) as info:
        display([{"aux": {"Tag": "v1"}}, {"status": "Preparing", "progressDetail": {},
                                           "id": LAYER},
                 {"errorDetail": {"message": "boom"}, "error": "boom"}],
                io.StringIO(), tty=False, aux=seen.append)
    assert info.value.message == "boom" and seen == [{"Tag": "v1"}]
    with pytest.raises(StreamError, match="authentication is required"):
        display([{"errorDetail": {"code": 401, "message": "x"}}], io.StringIO(), tty=False)


def test_references() -> None:
    ref, defaulted = _reference("busybox", all_tags=False)
    assert str(ref) == "docker.io/library/busybox:latest" and defaulted
    ref, defaulted = _reference("127.0.0.1:5000/x@sha256:" + "b" * 64, all_tags=False)
    assert ref.digest is not None and not defaulted and ref.domain == "127.0.0.1:5000"
    assert str(_reference("busybox", all_tags=True)[0]) == "docker.io/library/busybox"
    with pytest.raises(StatusError, match="tag can't be used with --all-tags/-a"):
        _reference("busybox:1", all_tags=True)
    with pytest.raises(StatusError, match="invalid reference format"):
        _reference("Not:Valid:", all_tags=False)


def test_server_keys() -> None:
    assert server_key("") == INDEX_SERVER == server_key("docker.io")
    assert server_key("https://index.docker.io/v1/") == INDEX_SERVER
    assert server_key("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000"
    assert server_key("reg.example.com") == "reg.example.com"


def test_config_file_round_trip(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"psFormat": "x", "auths": {
        "http://127.0.0.1:5000": {"auth": base64.b64encode(b"old:pw").decode()}}}))
    config = ConfigFile(str(tmp_path))
    assert (config.get("127.0.0.1:5000").username, config.get("127.0.0.1:5000").password) \
        == ("old", "pw")
    assert config.store(Credentials("127.0.0.1:5000", "u", "p:w")) == ""
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc["psFormat"] == "x"
    assert doc["auths"] == {"127.0.0.1:5000": {"auth": base64.b64encode(b"u:p:w").decode()}}
    assert stat.S_IMODE(os.stat(tmp_path / "config.json").st_mode) == 0o600
    again = ConfigFile(str(tmp_path)).get("127.0.0.1:5000")
    header = json.loads(base64.urlsafe_b64decode(again.header()))
    assert header == {"username": "u", "password": "p:w", "serveraddress": "127.0.0.1:5000"}
    config.store(Credentials("docker.io", "hub", "", "refresh-token"))
    hub = ConfigFile(str(tmp_path)).get("")
    assert (hub.username, hub.password, hub.identity_token) == ("hub", "", "refresh-token")
    assert config.erase("127.0.0.1:5000") and not config.erase("127.0.0.1:5000")
    assert ConfigFile(str(tmp_path)).get("127.0.0.1:5000").username == ""
    assert ConfigFile(str(tmp_path / "none")).get("x").header()  # no file: anonymous


def test_credential_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``docker-credential-<name>`` on PATH gets store/get/erase as docker sends them."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    state = tmp_path / "helper.json"
    helper = bindir / "docker-credential-fake"
    helper.write_text(f"""#!/usr/bin/env python3
import json, os, sys
path = {str(state)!r}
db = json.load(open(path)) if os.path.exists(path) else {{}}
data = sys.stdin.read()
if sys.argv[1] == "store":
    doc = json.loads(data); db[doc["ServerURL"]] = doc
elif sys.argv[1] == "get":
    if data not in db:
        print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps(db[data]))
elif sys.argv[1] == "erase":
    db.pop(data, None)
json.dump(db, open(path, "w"))
""")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "fake"}))
    config = ConfigFile(str(tmp_path))
    assert config.store(Credentials("127.0.0.1:5000", "u", "secret")) == "fake"
    assert json.loads((tmp_path / "config.json").read_text())["auths"] == {
        "127.0.0.1:5000": {}}
    assert json.loads(state.read_text())["127.0.0.1:5000"] == {
        "ServerURL": "127.0.0.1:5000", "Username": "u", "Secret": "secret"}
    got = ConfigFile(str(tmp_path)).get("127.0.0.1:5000")
    assert (got.username, got.password) == ("u", "secret")
    assert config.erase("127.0.0.1:5000")
    assert json.loads(state.read_text()) == {}
    # credHelpers wins for its registry; a helper not installed falls back to the file.
    (tmp_path / "config.json").write_text(json.dumps(
        {"credsStore": "fake", "credHelpers": {"other:1": "missing"}}))
    config = ConfigFile(str(tmp_path))
    assert config.store(Credentials("other:1", "o", "p")) == ""
    assert ConfigFile(str(tmp_path)).get("other:1").password == "p"


def test_logout_as_docker_28(tmp_path: Path) -> None:
    """``logout`` says "Removing login credentials for X" whether or not there were any
    (docker 28 dropped "Not logged in to X"), exit 0."""
    import subprocess
    import sys

    (tmp_path / "config.json").write_text(json.dumps(
        {"auths": {"127.0.0.1:9": {"auth": base64.b64encode(b"a:b").decode()}}}))
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path), DOCKER_HOST="unix:///nonexistent")
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "dockyard.cli", "logout", "127.0.0.1:9"],
                              capture_output=True, text=True, env=env, timeout=60, check=False)
        assert (proc.returncode, proc.stdout, proc.stderr) == (
            0, "Removing login credentials for 127.0.0.1:9\n", "")
    assert json.loads((tmp_path / "config.json").read_text())["auths"] == {}
