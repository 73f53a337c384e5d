"""Real clients against our registry: skopeo, umoci, podman, docker (a real dockerd), and
the shared acceptance script ``registry-interop.sh``.

Everything runs on 127.0.0.1 and in this test's temp dir:

* the registry is ``python -m dockyard.registry.cli serve`` on an ephemeral port, with an
  access log, stopped (SIGTERM, then SIGKILL) at teardown;
* dockerd is Debian's ``docker.io`` (installed with apt when missing), on a temp data
  root, exec root and socket, started inside a private mount namespace whose ``/run`` is
  a fresh tmpfs (so what it writes there vanishes with it), in its own process group,
  stopped and removed at teardown; the host's default socket is never used;
* clients that only look at the default socket (skopeo's ``docker-daemon:`` transport
  ignores ``DOCKER_HOST``) and podman (which writes under ``/run``) run in a private
  mount namespace too, whose ``/run/docker.sock`` is a symlink to our socket.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from acceptance import acceptance_script

from dockyard.image.busybox import make_busybox_rootfs
from dockyard.registry.auth.htpasswd import hash_password

ACCEPTANCE = acceptance_script("registry-interop.sh")
SRC = str(Path(__file__).resolve().parents[2] / "src")

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="dockerd, umoci and mount namespaces need root"),
    pytest.mark.skipif(shutil.which("skopeo") is None or shutil.which("umoci") is None,
                       reason="skopeo and umoci are installed by scripts/bootstrap.sh --test"),
]


def run(*argv: str, env: dict[str, str] | None = None, timeout: float = 300,
        stdin: bytes | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, env=env, timeout=timeout, input=stdin,
                          check=False)
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, f"{argv}: {proc.stderr.decode(errors='replace')}\n{out}"
    return out


def private_run(argv: list[str], docker_sock: str | None = None) -> list[str]:
    """``argv`` run in a private mount namespace with a fresh tmpfs on /run (and
    /run/docker.sock pointing at ``docker_sock``)."""
    setup = "mount -t tmpfs -o mode=755 tmpfs /run"
    if docker_sock:
        setup += f" && ln -s {docker_sock} /run/docker.sock"
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f'{setup} && exec "$@"', "sh", *argv]


def ensure_apt(binary: str, package: str) -> bool:
    if shutil.which(binary):
        return True
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], env=env, capture_output=True,
                   check=False)
    return shutil.which(binary) is not None


def stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, wait, then SIGKILL whatever is left."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


@dataclass
class Registry:
    url: str
    host: str  # host:port, as image references name it
    root: Path
    access_log: Path


@contextmanager
def serve_registry(d: Path, *extra: str) -> Iterator[Registry]:
    """``dockyard-registry serve`` on an ephemeral port, stopped whatever happens."""
    log = d / "access.log"
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = subprocess.Popen([sys.executable, "-m", "dockyard.registry.cli", "serve",
                             "--listen", "127.0.0.1:0", "--storage", str(d / "store"),
                             "--access-log", str(log), *extra], stdout=subprocess.PIPE,
                            stderr=open(d / "server.log", "wb"),  # noqa: SIM115
                            env=env, start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        m = re.search(r"listening on (https?://127\.0\.0\.1:\d+)", line)
        assert m, f"registry did not start: {line!r} {(d / 'server.log').read_text()}"
        url = m.group(1)
        yield Registry(url, re.sub(r"^https?://", "", url), d / "store", log)
    finally:
        stop_group(proc, 10)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with serve_registry(tmp_path_factory.mktemp("registry")) as r:
        yield r


@dataclass
class Dockerd:
    sock: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    if not ensure_apt("dockerd", "docker.io") or shutil.which("docker") is None:
        pytest.skip("dockerd (Debian's docker.io) could not be installed")
    d = tmp_path_factory.mktemp("dockerd")
    sock = str(d / "docker.sock")
    argv = ["dockerd", "--data-root", str(d / "root"), "--exec-root", str(d / "exec"),
            "--pidfile", str(d / "docker.pid"), "-H", f"unix://{sock}",
            "--iptables=false", "--ip-masq=false", "--ip-forward=false", "--bridge=none",
            "--storage-driver=vfs"]
    proc = subprocess.Popen(private_run(argv), stdout=open(d / "dockerd.log", "wb"),  # noqa: SIM115
                            stderr=subprocess.STDOUT, start_new_session=True)
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
    try:
        deadline = time.monotonic() + 90
        while subprocess.run(["docker", "version"], env=env, capture_output=True,
                             check=False).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dockerd did not start: {(d / 'dockerd.log').read_text()[-3000:]}")
            time.sleep(0.5)
        rootfs = d / "busybox"
        make_busybox_rootfs(str(rootfs))
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True,
                             check=True).stdout
        run("docker", "import", "-", "busybox:latest", env=env, stdin=tar)
        yield Dockerd(sock, env)
    finally:
        stop_group(proc, 30)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def umoci_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout built by umoci only: tag v1, one layer with known files."""
    d = tmp_path_factory.mktemp("umoci")
    lay, bundle = d / "layout", d / "bundle"
    run("umoci", "init", "--layout", str(lay))
    run("umoci", "new", "--image", f"{lay}:base")
    run("umoci", "unpack", "--image", f"{lay}:base", str(bundle))
    (bundle / "rootfs" / "etc").mkdir(parents=True, exist_ok=True)
    (bundle / "rootfs" / "etc" / "hello.txt").write_text("hello from dockyard\n")
    (bundle / "rootfs" / "data.bin").write_bytes(os.urandom(200_000))
    run("umoci", "repack", "--image", f"{lay}:v1", str(bundle))
    run("umoci", "config", "--image", f"{lay}:v1", "--config.cmd", "/bin/true",
        "--config.label", "dockyard=1")
    run("umoci", "gc", "--layout", str(lay))
    return lay


SK = ["skopeo", "--insecure-policy"]


def inspect(ref: str, *extra: str) -> dict[str, object]:
    return dict(json.loads(run(*SK, "inspect", "--tls-verify=false", *extra, ref)))


def test_skopeo_oci_layout_round_trip(registry: Registry, umoci_layout: Path,
                                      tmp_path: Path) -> None:
    ref = f"docker://{registry.host}/compat/umoci:v1"
    run(*SK, "copy", "--dest-tls-verify=false", f"oci:{umoci_layout}:v1", ref)
    info = inspect(ref)
    local = dict(json.loads(run(*SK, "inspect", f"oci:{umoci_layout}:v1")))
    assert info["Digest"] == local["Digest"]
    assert info["Layers"] == local["Layers"]
    assert info["Labels"] == {"dockyard": "1"}
    raw = run(*SK, "inspect", "--tls-verify=false", "--raw", ref).encode()
    import hashlib
    assert f"sha256:{hashlib.sha256(raw).hexdigest()}" == info["Digest"]
    # back into a layout, unpacked by umoci: the same files
    run(*SK, "copy", "--src-tls-verify=false", ref, f"oci:{tmp_path}/back:v1")
    run("umoci", "unpack", "--image", f"{tmp_path}/back:v1", str(tmp_path / "bundle"))
    assert (tmp_path / "bundle/rootfs/etc/hello.txt").read_text() == "hello from dockyard\n"
    # tags and list-tags
    run(*SK, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", ref,
        f"docker://{registry.host}/compat/umoci:v2")
    tags = json.loads(run(*SK, "list-tags", "--tls-verify=false",
                          f"docker://{registry.host}/compat/umoci"))
    assert tags["Tags"] == ["v1", "v2"]


def test_skopeo_docker_archive_round_trip(registry: Registry, umoci_layout: Path,
                                          tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    run(*SK, "copy", f"oci:{umoci_layout}:v1", f"docker-archive:{archive}:compat/arch:v1")
    ref = f"docker://{registry.host}/compat/archive:v1"
    run(*SK, "copy", "--dest-tls-verify=false", f"docker-archive:{archive}", ref)
    raw = json.loads(run(*SK, "inspect", "--tls-verify=false", "--raw", ref))
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    back = tmp_path / "back.tar"
    run(*SK, "copy", "--src-tls-verify=false", ref, f"docker-archive:{back}:compat/arch:v1")
    a = dict(json.loads(run(*SK, "inspect", f"docker-archive:{archive}")))
    b = dict(json.loads(run(*SK, "inspect", f"docker-archive:{back}")))
    assert a["Layers"] == b["Layers"] and a["Labels"] == b["Labels"]


def test_skopeo_delete(registry: Registry, umoci_layout: Path) -> None:
    ref = f"docker://{registry.host}/compat/delete:v1"
    run(*SK, "copy", "--dest-tls-verify=false", f"oci:{umoci_layout}:v1", ref)
    run(*SK, "delete", "--tls-verify=false", ref)
    proc = subprocess.run([*SK, "inspect", "--tls-verify=false", ref], capture_output=True,
                          check=False)
    assert proc.returncode != 0
    assert b"manifest unknown" in proc.stderr.lower() or b"not found" in proc.stderr.lower()


def test_podman_push_pull(registry: Registry, umoci_layout: Path, tmp_path: Path) -> None:
    if not ensure_apt("podman", "podman"):
        pytest.skip("podman could not be installed")
    archive = tmp_path / "podman-src.tar"
    name = f"{registry.host}/compat/podman:v1"
    run(*SK, "copy", f"oci:{umoci_layout}:v1", f"docker-archive:{archive}:{name}")
    runroot = tempfile.mkdtemp(prefix="dy-pd-")  # podman wants it under 50 characters
    pd = ["podman", "--root", str(tmp_path / "root"), "--runroot", runroot,
          "--storage-driver", "vfs", "--events-backend", "none"]
    try:
        run(*private_run([*pd, "load", "-q", "-i", str(archive)]))
        image_id = run(*private_run([*pd, "image", "inspect", "-f", "{{.Id}}", name])).strip()
        run(*private_run([*pd, "push", "--tls-verify=false", name]))
        run(*private_run([*pd, "rmi", "-f", name]))
        run(*private_run([*pd, "pull", "--tls-verify=false", name]))
        assert run(*private_run([*pd, "image", "inspect", "-f", "{{.Id}}", name])).strip() == image_id
    finally:
        subprocess.run(private_run([*pd, "system", "reset", "-f"]), capture_output=True,
                       check=False, timeout=120)
        shutil.rmtree(tmp_path / "root", ignore_errors=True)
        shutil.rmtree(runroot, ignore_errors=True)


def test_docker_push_pull(registry: Registry, dockerd: Dockerd) -> None:
    env = dockerd.env
    tag = f"{registry.host}/compat/docker:v1"
    run("docker", "tag", "busybox:latest", tag, env=env)
    out = run("docker", "push", tag, env=env)
    m = re.search(r"digest: (sha256:[0-9a-f]{64})", out)
    assert m, out
    source_id = run("docker", "image", "inspect", "-f", "{{.Id}}", "busybox:latest", env=env)
    run("docker", "rmi", tag, env=env)
    run("docker", "pull", tag, env=env)
    assert run("docker", "image", "inspect", "-f", "{{.Id}}", tag, env=env) == source_id
    run("docker", "pull", f"{registry.host}/compat/docker@{m.group(1)}", env=env)
    manifest = json.loads(run("docker", "manifest", "inspect", "--insecure", tag, env=env))
    assert manifest["schemaVersion"] == 2
    for ref in (tag, f"{registry.host}/compat/docker@{m.group(1)}"):
        subprocess.run(["docker", "rmi", ref], env=env, capture_output=True, check=False)


def test_acceptance_script(registry: Registry, dockerd: Dockerd) -> None:
    """``registry-interop.sh`` with every client: every step passes, none is skipped."""
    if not ACCEPTANCE.exists():
        pytest.skip(f"{ACCEPTANCE} not present")
    ensure_apt("podman", "podman")
    # The script makes (and removes) its work dir under TMPDIR; podman wants its runroot
    # there under 50 characters, so TMPDIR is /tmp itself rather than this test's dir.
    env = dict(dockerd.env, TMPDIR="/tmp", INTEROP_ACCESS_LOG=str(registry.access_log),
               INTEROP_REPO_PREFIX=f"interop-{os.getpid()}")
    proc = subprocess.run(private_run(["bash", str(ACCEPTANCE), registry.url], dockerd.sock),
                          capture_output=True, env=env, timeout=1500, check=False)
    out = proc.stdout.decode(errors="replace")
    print(out)
    summary = out.strip().splitlines()[-1]
    assert proc.returncode == 0, out[-6000:] + proc.stderr.decode(errors="replace")[-2000:]
    m = re.fullmatch(r"registry-interop: (\d+) passed, 0 failed", summary)
    assert m, summary
    assert "SKIP" not in out, out
    assert int(m.group(1)) >= 36


@pytest.mark.parametrize("auth", ["htpasswd", "token"])
def test_skopeo_with_credentials(auth: str, umoci_layout: Path, tmp_path: Path) -> None:
    """A real client follows our Basic and Bearer challenges (the token server's scoped
    JWTs): pushes with credentials, refused without or with the wrong ones."""
    (tmp_path / "htpasswd").write_text(f"alice:{hash_password('wonderland', 4)}\n"
                                       f"bob:{hash_password('builder', 4)}\n")
    (tmp_path / "reg.toml").write_text(f"""
[auth]
type = "{auth}"
htpasswd = "htpasswd"
[[access]]
repository = "team/*"
users = ["alice"]
actions = ["pull", "push", "delete"]
[[access]]
repository = "team/*"
users = ["bob"]
actions = ["pull"]
""")
    with serve_registry(tmp_path, "--config", str(tmp_path / "reg.toml")) as reg:
        ref = f"docker://{reg.host}/team/app:v1"
        src = f"oci:{umoci_layout}:v1"
        push = [*SK, "copy", "--dest-tls-verify=false"]
        for creds in ([], ["--dest-creds", "alice:nope"], ["--dest-creds", "bob:builder"]):
            proc = subprocess.run([*push, *creds, src, ref], capture_output=True, check=False,
                                  timeout=120)
            assert proc.returncode != 0, creds
            assert b"unauthorized" in proc.stderr.lower() or b"denied" in proc.stderr.lower()
        run(*push, "--dest-creds", "alice:wonderland", src, ref)
        info = json.loads(run(*SK, "inspect", "--tls-verify=false", "--creds", "bob:builder",
                              ref))
        assert info["Labels"] == {"dockyard": "1"}


def test_skopeo_over_tls(umoci_layout: Path, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", str(tmp_path / "key.pem"), "-out", str(certs / "ca.crt"))
    (tmp_path / "reg.toml").write_text(f'[tls]\ncert = "{certs / "ca.crt"}"\n'
                                       f'key = "{tmp_path / "key.pem"}"\n')
    with serve_registry(tmp_path, "--config", str(tmp_path / "reg.toml")) as reg:
        assert reg.url.startswith("https://")
        ref = f"docker://{reg.host}/tls/app:v1"
        run(*SK, "copy", "--dest-cert-dir", str(certs), f"oci:{umoci_layout}:v1", ref)
        info = json.loads(run(*SK, "inspect", "--cert-dir", str(certs), ref))
        assert info["Labels"] == {"dockyard": "1"}
        # without the CA the certificate is not trusted
        proc = subprocess.run([*SK, "inspect", ref], capture_output=True, check=False,
                              timeout=60)
        assert proc.returncode != 0 and b"certificate" in proc.stderr
