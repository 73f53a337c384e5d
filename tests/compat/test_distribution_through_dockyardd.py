"""Distribution through dockyardd with clients nobody here wrote: the shared acceptance
script ``registry-interop.sh`` with its docker steps (and skopeo's ``docker-daemon:``
transport) going through dockyardd, against our registry and Debian's reference
``docker-registry``; a pull interrupted by ``kill -9`` of the daemon resumes after the
restart with ``Range``; the docker CLI's error texts for a missing tag.

One daemon for the module (started with ``DOCKER_MIN_API_VERSION=1.22``: skopeo speaks
1.22), one registry of each kind; everything made here is removed at the end even when a
test fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import daemon_harness as harness
from acceptance import acceptance_script
from registry_procs import (
    REFERENCE_REGISTRY,
    Registry,
    our_registry,
    reference_registry,
    throttled_proxy,
)

ACCEPTANCE = acceptance_script("registry-interop.sh")

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="the daemon needs root")]


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Our registry, anonymous, with an access log."""
    root = tmp_path_factory.mktemp("registry")
    with our_registry(root, "--access-log", str(root / "access.log")) as host:
        yield Registry(host, root, root / "access.log")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Debian's docker-registry (distribution 2.8), anonymous."""
    if not os.access(REFERENCE_REGISTRY, os.X_OK):
        pytest.skip("Debian's docker-registry is not installed")
    root = tmp_path_factory.mktemp("refreg")
    with reference_registry(root, level="warn") as host:
        yield Registry(host, root)


@pytest.fixture(scope="module")
def dd() -> Iterator[harness.Daemon]:
    daemon = harness.new_daemon("dyd-k-")
    old = os.environ.get("DOCKER_MIN_API_VERSION")
    os.environ["DOCKER_MIN_API_VERSION"] = "1.22"  # inherited by the daemon only
    try:
        daemon.start()
    except BaseException:
        daemon.cleanup()
        raise
    finally:
        if old is None:
            del os.environ["DOCKER_MIN_API_VERSION"]
        else:
            os.environ["DOCKER_MIN_API_VERSION"] = old
    try:
        yield daemon
        assert daemon.errors() == [], daemon.tail(80)
    finally:
        daemon.cleanup()


def ok(d: harness.Daemon, *args: str) -> str:
    return d.docker(*args, timeout=120, check=True).stdout


# ----------------------------------------------------------------- the acceptance script


def _path_without(tool: str, into: Path) -> str:
    """A PATH of symlinks to everything on the usual PATH but ``tool``."""
    into.mkdir()
    for d in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        with contextlib.suppress(OSError):
            for name in os.listdir(d):
                if name != tool and not (into / name).exists():
                    (into / name).symlink_to(Path(d) / name)
    return str(into)


@pytest.mark.parametrize("which", ["ours", "reference"])
def test_acceptance_script_through_dockyardd(dd: harness.Daemon, which: str,
                                             request: pytest.FixtureRequest,
                                             tmp_path: Path) -> None:
    """``registry-interop.sh`` with ``DOCKER_HOST`` at dockyardd (and skopeo's
    ``docker-daemon:`` at its socket, in a private mount namespace): every step passes.
    Against the reference registry podman's steps are left out (they do not touch the
    daemon, and the run against ours has them)."""
    if not ACCEPTANCE.exists():
        pytest.skip(f"{ACCEPTANCE} not present")
    reg: Registry = request.getfixturevalue(which)
    env = dict(dd.env(), TMPDIR="/tmp", INTEROP_REPO_PREFIX=f"k-{os.getpid()}-{which}",
               INTEROP_TIMEOUT="120")
    config = Path(env["DOCKER_CONFIG"])  # podman reads its auths there: a real, empty one
    config.mkdir(exist_ok=True)
    if not (config / "config.json").exists():
        (config / "config.json").write_text("{}\n")
    if reg.access_log is not None:
        env["INTEROP_ACCESS_LOG"] = str(reg.access_log)
    if which == "reference":
        env["PATH"] = _path_without("podman", tmp_path / "bin")
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f'mount -t tmpfs -o mode=755 tmpfs /run && ln -s {dd.socket} /run/docker.sock '
            '&& exec "$@"', "sh", "bash", str(ACCEPTANCE), f"http://{reg.host}"]
    try:
        proc = subprocess.run(argv, capture_output=True, env=env, timeout=600, check=False)
    finally:
        listing = dd.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        for line in listing:
            if f"/k-{os.getpid()}-{which}/" in line:
                dd.docker("rmi", "-f", line, timeout=60)
    out = proc.stdout.decode(errors="replace")
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    assert proc.returncode == 0, out[-6000:] + proc.stderr.decode(errors="replace")[-2000:]
    for name in ("docker push (dockerd)", "docker pull by tag after rmi: same image id",
                 "docker pull by digest", "docker pull of OCI image index (platform pick)",
                 "setup: skopeo copy docker-daemon:busybox:latest -> oci layout"):
        assert f"PASS  {name}" in out, out
    if which == "ours":
        assert "SKIP" not in out, out
        assert re.fullmatch(r"registry-interop: (3[6-9]|[4-9]\d) passed, 0 failed", summary)
    else:
        assert re.fullmatch(r"registry-interop: \d+ passed, 0 failed, 1 skipped", summary)
        assert "SKIP  podman steps" in out, out


# ----------------------------------------------------------------- resume across a restart


def _ingest_bytes(d: harness.Daemon) -> int:
    total = 0
    for f in (d.data_root / "content" / "ingest").glob("*/data"):
        with contextlib.suppress(FileNotFoundError):
            total += f.stat().st_size
    return total


def test_pull_resumes_after_the_daemon_is_killed(dd: harness.Daemon, ours: Registry) -> None:
    """kill -9 of dockyardd in the middle of a layer's download; after the restart the
    partial ingest is still there, the next pull asks for the rest with ``Range`` and the
    image is the one pushed, byte for byte."""
    repo = f"{ours.host}/resume/app"
    name = f"mk-{os.getpid()}-resume"
    size = 24_000_000
    pull: subprocess.Popen[bytes] | None = None
    try:
        # two layers of its own: a small one (finished before the kill) and a big one
        ok(dd, "run", "--name", name, "busybox", "sh", "-c",
           "head -c 300000 /dev/urandom > /small && sha256sum /small > /small.sum")
        ok(dd, "commit", name, f"{repo}:v0")
        dd.docker("rm", "-f", name, timeout=60)
        ok(dd, "run", "--name", name, f"{repo}:v0", "sh", "-c",
           f"head -c {size} /dev/urandom > /blob && sha256sum /blob > /blob.sum")
        ok(dd, "commit", name, f"{repo}:v1")
        dd.docker("rm", "-f", name, timeout=60)
        ok(dd, "rmi", f"{repo}:v0")
        image_id = ok(dd, "image", "inspect", "-f", "{{.Id}}", f"{repo}:v1").strip()
        ok(dd, "push", f"{repo}:v1")
        ok(dd, "rmi", f"{repo}:v1")
        with throttled_proxy(ours.host, 6_000_000) as proxy:
            ref = f"{proxy.host}/resume/app:v1"
            pull = subprocess.Popen([harness.DOCKER, "pull", ref], env=dd.env(),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            harness.wait_for(lambda: _ingest_bytes(dd) > 4_000_000, 60,
                             "the layer's download to be under way")
            dd.stop(signal.SIGKILL)
            pull.wait(30)
            assert _ingest_bytes(dd) > 4_000_000
            before = len(proxy.sent)
            dd.start()
            kept = _ingest_bytes(dd)
            assert kept > 4_000_000, "the partial ingest did not survive the restart"
            assert proxy.ranges() == []
            proxy.rate[0] = 1 << 30
            out = ok(dd, "pull", ref)
            assert "Status: Downloaded newer image" in out, out
            starts = [int(r[6:-1]) for r in proxy.ranges()]
            assert starts and starts[-1] >= kept - (1 << 20), (starts, kept)
            # the config and the small layer finished before the kill: not fetched again
            after = b"".join(proxy.sent[before:]).decode("latin-1")
            blobs = set(re.findall(r"GET /v2/resume/app/blobs/(sha256:[0-9a-f]{64})", after))
            assert len(blobs) == 1, after
            assert "resuming the download at" in dd.tail(400)
            assert ok(dd, "image", "inspect", "-f", "{{.Id}}", ref).strip() == image_id
            check = ok(dd, "run", "--rm", ref, "sha256sum", "-c", "/blob.sum", "/small.sum")
            assert check.split() == ["/blob:", "OK", "/small:", "OK"]
            ok(dd, "rmi", ref)
    finally:
        if pull is not None and pull.poll() is None:
            pull.kill()
            pull.wait()
        if dd.proc is None:
            dd.start()
        dd.docker("rm", "-f", name, timeout=60)
        for r in (f"{repo}:v1", f"{repo}:v0"):
            dd.docker("rmi", "-f", r, timeout=60)
        for line in dd.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split():
            if "/resume/app" in line:
                dd.docker("rmi", "-f", line, timeout=60)


# ----------------------------------------------------------------- error texts


@pytest.mark.parametrize("which", ["ours", "reference"])
def test_missing_tag_text(dd: harness.Daemon, which: str,
                          request: pytest.FixtureRequest) -> None:
    """``manifest for <ref> not found: manifest unknown: <registry's message>``, exit 1;
    a registry that is not there: Go's ``dial tcp`` words."""
    reg: Registry = request.getfixturevalue(which)
    ok(dd, "tag", "busybox", f"{reg.host}/texts/app:v1")
    try:
        ok(dd, "push", f"{reg.host}/texts/app:v1")
        p = dd.docker("pull", f"{reg.host}/texts/app:nope")
        assert p.returncode == 1, p
        # the registry's own message last: distribution's "manifest unknown", ours names
        # the tag (a real dockerd prints the same lines against each)
        own = ("manifest unknown" if which == "reference"
               else "manifest tagged 'nope' unknown to repository texts/app")
        assert p.stderr == (f"Error response from daemon: manifest for {reg.host}/texts/app:"
                            f"nope not found: manifest unknown: {own}\n"), p.stderr
        p = dd.docker("pull", "127.0.0.1:1/texts/app:v1")
        assert p.returncode == 1 and p.stderr == (
            'Error response from daemon: Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: '
            "connect: connection refused\n"), p.stderr
    finally:
        dd.docker("rmi", f"{reg.host}/texts/app:v1")




# ----------------------------------------------------------------- login/logout, two CLIs


def test_login_logout_as_the_docker_cli(dd: harness.Daemon, ours: Registry,
                                        tmp_path: Path) -> None:
    """dockyard's login with stored credentials and logout print what docker 28 prints
    (stderr/stdout split, the Info line), byte for byte, against the same daemon."""
    import base64
    import json

    seen = []
    for cli in ([harness.DOCKER], [sys.executable, "-m", "dockyard.cli"]):
        config = tmp_path / f"config-{len(seen)}"
        config.mkdir()
        auth = base64.b64encode(b"alice:any").decode()
        (config / "config.json").write_text(json.dumps({"auths": {ours.host: {"auth": auth}}}))
        env = dict(dd.env(), DOCKER_CONFIG=str(config))
        runs = []
        for args in (["login", ours.host], ["logout", ours.host], ["logout", ours.host]):
            p = subprocess.run([*cli, *args], capture_output=True, text=True, env=env,
                               stdin=subprocess.DEVNULL, timeout=60, check=False)
            runs.append((p.returncode, p.stdout, p.stderr))
        seen.append(runs)
    assert seen[1] == seen[0]
    assert seen[0][0][1] == "Login Succeeded\n"
    assert "Info -> To login with a different account" in seen[0][0][2]
