"""Pull, push and login through dockyardd with clients nobody here wrote: the docker CLI
and docker-py; then dockyard's own CLI the same way; against our registry with token
auth (``dockyard registry serve``, loopback HTTP) and Debian's reference registry
(``/usr/bin/docker-registry``, htpasswd).

One daemon for the module (with ``--insecure-registry``/``--registry-mirror``, shown by
``docker info``), one registry per auth kind; every image, container, login and process
made here is removed at the end even when a test fails.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from dockyard.registry.auth.htpasswd import hash_password

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import daemon_harness as harness
from registry_procs import REFERENCE_REGISTRY, SRC, Registry, our_registry, throttled_proxy
from registry_procs import reference_registry as run_reference_registry

USER, PASSWORD = "alice", "wonderland"
DIGEST_RE = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: \d+")

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="the daemon needs root")]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Our registry with token auth (Bearer challenges, scoped tokens): alice may push."""
    root = tmp_path_factory.mktemp("registry")
    (root / "htpasswd").write_text(f"{USER}:{hash_password(PASSWORD, 4)}\n")
    (root / "reg.toml").write_text('[auth]\ntype = "token"\nhtpasswd = "htpasswd"\n'
                                   '[[access]]\nrepository = "*"\nusers = ["alice"]\n'
                                   'actions = ["pull", "push", "delete"]\n')
    with our_registry(root, "--config", str(root / "reg.toml")) as host:
        yield Registry(host, root)


@pytest.fixture(scope="module")
def reference_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Debian's docker-registry (distribution 2.8) with htpasswd (Basic) auth."""
    if not os.access(REFERENCE_REGISTRY, os.X_OK):
        pytest.skip("Debian's docker-registry is not installed")
    root = tmp_path_factory.mktemp("refreg")
    (root / "htpasswd").write_text(f"{USER}:{hash_password(PASSWORD, 5)}\n")
    auth = f"{{htpasswd: {{realm: basic-realm, path: {root / 'htpasswd'}}}}}"
    with run_reference_registry(root, auth=auth) as host:
        yield Registry(host, root)


@pytest.fixture(scope="module")
def dd() -> Iterator[harness.Daemon]:
    """The module's daemon, told of an insecure registry and a mirror."""
    daemon = harness.new_daemon("dyd-dist-")
    daemon.extra_args = ["--insecure-registry", "reg.example.com:5000",
                         "--insecure-registry", "10.9.0.0/16",
                         "--registry-mirror", "http://127.0.0.1:1"]
    try:
        daemon.start()
        yield daemon
        assert daemon.errors() == [], daemon.tail(80)
    finally:
        daemon.cleanup()


def ok(d: harness.Daemon, *args: str, input: bytes | None = None) -> str:
    return d.docker(*args, input=input, timeout=120, check=True).stdout


def image_with_own_layer(d: harness.Daemon, ref: str, text: str) -> None:
    """``ref``: busybox plus a layer of its own (gone again after ``rmi``, so a pull
    downloads it: "Pull complete")."""
    name = f"mk-{os.getpid()}-{text}"
    ok(d, "run", "--name", name, "busybox", "sh", "-c", f"echo {text} > /marker")
    try:
        ok(d, "commit", name, ref)
    finally:
        d.docker("rm", "-f", name, timeout=60)


def test_info_shows_the_registry_settings(dd: harness.Daemon) -> None:
    doc = json.loads(ok(dd, "info", "--format", "{{json .RegistryConfig}}"))
    assert doc["InsecureRegistryCIDRs"] == ["::1/128", "127.0.0.0/8", "10.9.0.0/16"]
    assert doc["IndexConfigs"]["reg.example.com:5000"]["Secure"] is False
    assert doc["Mirrors"] == ["http://127.0.0.1:1/"]
    text = ok(dd, "info")
    assert "Insecure Registries:" in text and "reg.example.com:5000" in text
    assert "Registry Mirrors:" in text and "http://127.0.0.1:1/" in text


def test_docker_cli_login_push_pull(dd: harness.Daemon, registry: Registry) -> None:
    repo = f"{registry.host}/cli/app"
    since = str(int(time.time()) - 1)
    try:
        image_with_own_layer(dd, f"{repo}:v1", "cli")
        # Not logged in: the anonymous token lacks push (dockerd's words, side by side).
        proc = dd.docker("push", f"{repo}:v1", timeout=120)
        assert proc.returncode == 1
        assert proc.stderr == "denied: requested access to the resource is denied\n", proc
        # A wrong password: the daemon's 401 with the registry's words, exit 1.
        proc = dd.docker("login", "-u", USER, "--password-stdin", registry.host,
                         input=b"nope\n", timeout=60)
        assert proc.returncode == 1, proc
        assert proc.stderr.startswith("Error response from daemon: "), proc.stderr
        assert "unauthorized" in proc.stderr and "password" in proc.stderr
        out = ok(dd, "login", "-u", USER, "--password-stdin", registry.host,
                 input=PASSWORD.encode() + b"\n")
        assert "Login Succeeded" in out
        config = json.loads((Path(dd.env()["DOCKER_CONFIG"]) / "config.json").read_text())
        assert registry.host in config["auths"]

        out = ok(dd, "push", f"{repo}:v1")
        assert f"The push refers to repository [{repo}]" in out
        assert re.search(r"^[0-9a-f]{12}: Pushed$", out, re.M), out
        m = DIGEST_RE.search(out)
        assert m and out.splitlines()[-1].startswith("v1: digest: sha256:"), out
        pushed = m.group(1)

        ok(dd, "rmi", f"{repo}:v1")
        out = ok(dd, "pull", f"{repo}:v1")
        assert "v1: Pulling from cli/app" in out or f"v1: Pulling from {repo}" in out
        assert re.search(r"^[0-9a-f]{12}: Pull complete$", out, re.M), out
        assert re.search(r"^[0-9a-f]{12}: Already exists$", out, re.M), out  # busybox's
        assert f"Digest: {pushed}" in out and out.rstrip().endswith(f"{repo}:v1")
        assert "Status: Downloaded newer image for" in out
        rows = ok(dd, "images", "--digests", "--format", "{{.Repository}} {{.Digest}}",
                  repo)
        assert rows.split() == [repo, pushed]
        assert ok(dd, "image", "inspect", "--format", "{{json .RepoDigests}}",
                  f"{repo}:v1").strip() == json.dumps([f"{repo}@{pushed}"])
        assert ok(dd, "run", "--rm", f"{repo}:v1", "cat", "/marker").strip() == "cli"

        # By digest, and again (up to date).
        out = ok(dd, "pull", f"{repo}@{pushed}")
        assert f"Digest: {pushed}" in out and "Status: Image is up to date" in out
        out = ok(dd, "pull", f"{repo}:v1")
        assert "Status: Image is up to date for" in out

        # Every tag (-a): the registry's tag list, each pulled.
        ok(dd, "tag", f"{repo}:v1", f"{repo}:v1b")
        assert "v1b: digest: " in ok(dd, "push", f"{repo}:v1b")
        ok(dd, "rmi", f"{repo}:v1", f"{repo}:v1b")
        # On a terminal the CLI redraws each layer's line in place (cursor up/down).
        proc = subprocess.run(["script", "-qfec", f"stty cols 150; {harness.DOCKER} pull -a "
                               f"{repo}", "/dev/null"], capture_output=True, text=True,
                              env=dd.env(), timeout=120, check=False)
        out = proc.stdout
        assert proc.returncode == 0, out
        assert "v1: Pulling from" in out and "v1b: Pulling from" in out, out
        assert "\x1b[1A" in out and "\x1b[1B" in out and "Already exists" in out, out
        tags = ok(dd, "images", "--format", "{{.Tag}}", repo).split()
        assert sorted(tags) == ["v1", "v1b"]

        # A tag the registry does not have: the daemon's 404, exit 1.
        proc = dd.docker("pull", f"{repo}:nope", timeout=60)
        assert proc.returncode == 1
        assert proc.stderr.startswith("Error response from daemon: manifest for "), proc
        assert "not found" in proc.stderr

        events = ok(dd, "events", "--since", since, "--until", str(int(time.time()) + 1),
                    "--filter", "type=image", "--format", "{{.Action}} {{.Actor.ID}}")
        assert f"push {repo}:v1" in events and f"pull {repo}:v1" in events
    finally:
        dd.docker("logout", registry.host, timeout=30)
        dd.docker("rmi", "-f", f"{repo}:v1", f"{repo}:v1b", timeout=60)


def test_docker_py_login_push_pull(dd: harness.Daemon, registry: Registry) -> None:
    client = docker.DockerClient(base_url=dd.host, timeout=120)
    repo = f"{registry.host}/py/app"
    try:
        image_with_own_layer(dd, f"{repo}:v2", "py")
        with pytest.raises(docker.errors.APIError) as info:
            client.login(USER, "wrong", registry=registry.host, reauth=True)
        assert info.value.status_code == 401
        answer = client.login(USER, PASSWORD, registry=registry.host, reauth=True)
        assert answer["Status"] == "Login Succeeded"
        lines = list(client.images.push(repo, tag="v2", stream=True, decode=True))
        assert not [x for x in lines if "error" in x], lines
        aux = [x["aux"] for x in lines if "aux" in x]
        assert aux and aux[0]["Tag"] == "v2" and aux[0]["Digest"].startswith("sha256:")
        # images.get_registry_data: GET /distribution/{name}/json, with the login's auth
        data = client.images.get_registry_data(f"{repo}:v2")
        assert data.id == aux[0]["Digest"] and data.has_platform("linux/amd64")
        assert not data.has_platform("linux/s390x")
        client.images.remove(f"{repo}:v2")
        image = client.images.pull(repo, tag="v2")
        assert f"{repo}:v2" in image.tags
        assert image.attrs["RepoDigests"] == [f"{repo}@{aux[0]['Digest']}"]
        with pytest.raises(docker.errors.NotFound):
            client.images.pull(repo, tag="missing")
        # Every local tag (docker push -a), then every remote tag (pull all_tags).
        client.images.get(f"{repo}:v2").tag(repo, "v2b")
        lines = list(client.images.push(repo, stream=True, decode=True))
        assert sorted(x["aux"]["Tag"] for x in lines if "aux" in x) == ["v2", "v2b"], lines
        client.images.remove(f"{repo}:v2b")
        images = client.images.pull(repo, all_tags=True)
        assert sorted(t for i in images for t in i.tags) == [f"{repo}:v2", f"{repo}:v2b"]
    finally:
        for ref in (f"{repo}:v2", f"{repo}:v2b"):
            try:
                client.images.remove(ref, force=True)
            except docker.errors.NotFound:
                pass
        client.close()


def dockyard(d: harness.Daemon, *args: str, input: str | None = None
             ) -> subprocess.CompletedProcess[str]:
    env = dict(d.env(), PYTHONPATH=SRC)
    return subprocess.run([sys.executable, "-m", "dockyard.cli", *args], input=input,
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def test_dockyard_cli_login_push_pull(dd: harness.Daemon, registry: Registry) -> None:
    repo = f"{registry.host}/dy/app"
    try:
        image_with_own_layer(dd, f"{repo}:v3", "dy")
        proc = dockyard(dd, "login", "-u", USER, "--password-stdin", registry.host,
                        input="bad\n")
        assert proc.returncode == 1 and "Error response from daemon: " in proc.stderr
        assert "unauthorized" in proc.stderr
        proc = dockyard(dd, "login", "-u", USER, "--password-stdin", registry.host,
                        input=PASSWORD + "\n")
        assert proc.returncode == 0 and "Login Succeeded" in proc.stdout, proc
        proc = dockyard(dd, "push", repo + ":v3")
        assert proc.returncode == 0, proc
        assert re.search(r"^[0-9a-f]{12}: Pushed$", proc.stdout, re.M), proc.stdout
        pushed = DIGEST_RE.search(proc.stdout)
        assert pushed
        ok(dd, "rmi", f"{repo}:v3")
        proc = dockyard(dd, "image", "pull", f"{repo}@{pushed.group(1)}")
        assert proc.returncode == 0, proc
        assert re.search(r"^[0-9a-f]{12}: Pull complete$", proc.stdout, re.M), proc.stdout
        assert proc.stdout.rstrip().endswith(f"{repo}@{pushed.group(1)}")
        proc = dockyard(dd, "pull", "-q", f"{repo}:v3")
        assert proc.returncode == 0 and proc.stdout == f"{repo}:v3\n", proc
        # The registry's view, with the stored credentials (no daemon involved).
        proc = dockyard(dd, "manifest", "inspect", f"{repo}:v3")
        assert proc.returncode == 0, proc
        doc = json.loads(proc.stdout)
        assert doc["schemaVersion"] == 2 and len(doc["layers"]) == 2
        proc = dockyard(dd, "manifest", "inspect", "-v", f"{repo}@{pushed.group(1)}")
        assert proc.returncode == 0, proc
        verbose = json.loads(proc.stdout)
        assert verbose["Descriptor"]["digest"] == pushed.group(1)
        assert verbose["Descriptor"]["platform"]["os"] == "linux"
        proc = dockyard(dd, "logout", registry.host)
        assert proc.stdout == f"Removing login credentials for {registry.host}\n"
        proc = dockyard(dd, "push", f"{repo}:v3")
        assert proc.returncode == 1 and "denied: requested access" in proc.stderr, proc
    finally:
        dockyard(dd, "logout", registry.host)
        dd.docker("rmi", "-f", f"{repo}:v3", timeout=60)


def test_reference_registry_round_trip(dd: harness.Daemon,
                                       reference_registry: Registry) -> None:
    """Debian's docker-registry (Basic auth over loopback HTTP): login, push, remove,
    pull back with the same digest, run."""
    host = reference_registry.host
    repo = f"{host}/ref/app"
    try:
        image_with_own_layer(dd, f"{repo}:r1", "ref")
        proc = dd.docker("login", "-u", USER, "--password-stdin", host, input=b"bad\n")
        assert proc.returncode == 1 and "Error response from daemon: " in proc.stderr
        ok(dd, "login", "-u", USER, "--password-stdin", host, input=PASSWORD.encode())
        out = ok(dd, "push", f"{repo}:r1")
        m = DIGEST_RE.search(out)
        assert m, out
        ok(dd, "rmi", f"{repo}:r1")
        out = ok(dd, "pull", f"{repo}:r1")
        assert f"Digest: {m.group(1)}" in out and "Pull complete" in out
        assert ok(dd, "run", "--rm", f"{repo}:r1", "cat", "/marker").strip() == "ref"
    finally:
        dd.docker("logout", host, timeout=30)
        dd.docker("rmi", "-f", f"{repo}:r1", timeout=60)


def test_a_client_that_leaves_cancels_the_pull(dd: harness.Daemon, registry: Registry) -> None:
    """The pull stops when its client goes away (nothing named, no error logged), and the
    next pull finishes the work."""
    repo = f"{registry.host}/cancel/app"
    auth = base64.urlsafe_b64encode(json.dumps(
        {"username": USER, "password": PASSWORD}).encode()).decode()
    name = f"mk-{os.getpid()}-cancel"
    try:
        ok(dd, "run", "--name", name, "busybox", "sh", "-c",
           "head -c 24000000 /dev/urandom > /blob")
        ok(dd, "commit", name, f"{repo}:v1")
        ok(dd, "login", "-u", USER, "--password-stdin", registry.host,
           input=PASSWORD.encode())
        ok(dd, "push", f"{repo}:v1")
        ok(dd, "rmi", f"{repo}:v1")  # its own layer goes with it: the pull downloads it
        with throttled_proxy(registry.host, 8_000_000) as slow:
            ref = f"{slow.host}/cancel/app"
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(60)
            sock.connect(str(dd.socket))
            sock.sendall(f"POST /v1.45/images/create?fromImage={ref}&tag=v1 HTTP/1.1\r\n"
                         f"Host: d\r\nX-Registry-Auth: {auth}\r\nContent-Length: 0\r\n"
                         "\r\n".encode())
            seen = b""
            while b'"Downloading"' not in seen:
                data = sock.recv(65536)
                assert data, seen
                seen += data
            sock.close()
            harness.wait_for(lambda: "the client went away; cancelling" in dd.tail(200), 30,
                             "the daemon to notice")
            harness.wait_for(lambda: "transfer cancelled" in dd.tail(200), 30,
                             "the pull to stop")
            assert dd.docker("image", "inspect", f"{ref}:v1").returncode == 1
        out = ok(dd, "pull", f"{repo}:v1")  # straight from the registry, logged in
        assert "Status: Downloaded newer image" in out, out
        assert ok(dd, "run", "--rm", f"{repo}:v1", "wc", "-c", "/blob").split()[0] == "24000000"
    finally:
        dd.docker("rm", "-f", name, timeout=60)
        dd.docker("logout", registry.host, timeout=30)
        dd.docker("rmi", "-f", f"{repo}:v1", timeout=60)
        images = dd.docker("images", "--format", "{{.Repository}}:{{.Tag}}", timeout=30).stdout
        for line in images.split():
            if "/cancel/app" in line:
                dd.docker("rmi", "-f", line, timeout=60)

