"""The registry client against our registry (in a thread) and a fault-injecting proxy:
blob uploads (monolithic, streamed, chunked), cross-repo mounts, manifests, token and
basic auth with Docker's error texts, retries and the HTTPS-then-HTTP fallback."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from registry_fakes import BlobServer, Fault, FaultProxy, ThreadRegistry

from dockyard.distribution import RegistryAuth, RegistryConfig, check_login
from dockyard.distribution.client import Repository
from dockyard.distribution.endpoints import Endpoint
from dockyard.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from dockyard.image.pull import parse_pull_reference, remote_tags, resolve_remote
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import digest_bytes

FAST = RegistryConfig(retries=2, backoff=0.01, timeout=10)


def desc(data: bytes, media_type: str = "application/octet-stream") -> Descriptor:
    return Descriptor(media_type, digest_bytes(data), len(data))


def chunks_of(data: bytes, n: int = 100_000) -> Callable[[], Iterator[bytes]]:
    def gen() -> Iterator[bytes]:
        for i in range(0, len(data), n):
            yield data[i:i + n]
    return gen


def push_image(repo: Repository, tag: str, layer: bytes) -> tuple[Descriptor, bytes]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": [str(digest_bytes(layer))]}}).encode()
    for blob in (config, layer):
        repo.upload_blob(desc(blob), chunks_of(blob))
    raw = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                      "config": desc(config, mt.OCI_CONFIG).to_json(),
                      "layers": [desc(layer, mt.OCI_LAYER).to_json()]}).encode()
    d = repo.put_manifest(tag, mt.OCI_MANIFEST, raw)
    return Descriptor(mt.OCI_MANIFEST, d, len(raw)), raw


@pytest.mark.parametrize("size,chunk", [(1000, None), (700_000, None), (700_000, 300_000)])
def test_upload_and_fetch_blob(registry: ThreadRegistry, proxy: FaultProxy, size: int,
                               chunk: int | None) -> None:
    data = hashlib.sha256(b"seed").digest() * (size // 32 + 1)
    data = data[:size]
    d = desc(data)
    with Repository.open(proxy.host, "team/app", None, FAST, push=True) as repo:
        assert repo.stat_blob(d.digest) is None
        sent: list[int] = []
        repo.upload_blob(d, chunks_of(data), chunk_size=chunk, on_bytes=sent.append)
        assert sum(sent) == size
        assert repo.stat_blob(d.digest) == size
        assert repo.fetch_blob(d, max_size=size) == data
        resp = repo.blob_response(d.digest, 10)
        try:
            assert resp.status == 206 and resp.read() == data[10:]
        finally:
            resp.release_conn()
    patches = proxy.count("PATCH", "/blobs/uploads/")
    puts = proxy.count("PUT", "/blobs/uploads/")
    assert puts == 1
    assert patches == (0 if size <= 256 << 10 else (1 if chunk is None else 3))


def test_mount_and_manifests(registry: ThreadRegistry, proxy: FaultProxy) -> None:
    layer = b"layer bytes" * 100
    with Repository.open(proxy.host, "a/one", None, FAST, push=True) as one:
        top, raw = push_image(one, "v1", layer)
        assert one.resolve("v1") == top
        assert one.fetch_manifest(str(top.digest)) == (top, raw)
        with pytest.raises(NotFound, match="manifest unknown"):
            one.resolve("nope")
    with Repository.open(proxy.host, "b/two", None, FAST, push=True) as two:
        assert two.start_upload(desc(layer).digest, mount_from="a/one") is None
        assert two.stat_blob(desc(layer).digest) == len(layer)
        # a blob the other repository lacks: the registry opens an upload instead
        loc = two.start_upload(desc(b"other").digest, mount_from="a/one")
        assert loc is not None and "/v2/b/two/blobs/uploads/" in loc
        two.upload_blob(desc(b"other"), chunks_of(b"other"), location=loc)
        assert two.stat_blob(desc(b"other").digest) == 5
    assert any(r.method == "HEAD" and "/manifests/v1" in r.path and
               mt.OCI_INDEX in r.headers.get("Accept", "") and
               mt.DOCKER_MANIFEST in r.headers.get("Accept", "") for r in proxy.requests)


def test_https_first_then_http(registry: ThreadRegistry) -> None:
    """Loopback is insecure: HTTPS is tried first (our registry answers a handshake on
    plain HTTP with a 400), then HTTP is used."""
    with Repository.open(registry.host, "x/y", None, FAST) as repo:
        assert repo.transport.base_url == f"http://{registry.host}"


def test_retries_5xx_and_gives_up(registry: ThreadRegistry, proxy: FaultProxy) -> None:
    with Repository.open(proxy.host, "r/s", None, FAST, push=True) as repo:
        repo.upload_blob(desc(b"abc"), chunks_of(b"abc"))
        proxy.faults.append(Fault("GET", "/blobs/sha256:", "status", 500, times=2))
        assert repo.fetch_blob(desc(b"abc")) == b"abc"
        proxy.faults.append(Fault("GET", "/blobs/sha256:", "status", 503, times=10))
        with pytest.raises(Unavailable, match="503"):
            repo.fetch_blob(desc(b"abc"))
    assert proxy.faults[-1].hits == 3  # 1 + retries


def test_connection_refused_is_unavailable(registry: ThreadRegistry) -> None:
    registry.stop()
    with pytest.raises(Unavailable, match="connection refused"), \
            Repository.open(registry.host, "x/y", None, FAST) as repo:
        repo.resolve("latest")


def test_corrupt_blob_is_refused(registry: ThreadRegistry, proxy: FaultProxy) -> None:
    with Repository.open(proxy.host, "c/d", None, FAST, push=True) as repo:
        repo.upload_blob(desc(b"config"), chunks_of(b"config"))
        proxy.faults.append(Fault("GET", "/blobs/", "corrupt"))
        with pytest.raises(InvalidArgument, match="digest mismatch"):
            repo.fetch_blob(desc(b"config"))


@pytest.mark.parametrize("kind", ["token", "htpasswd"])
def test_auth_registry(auth_registry: Callable[[str], ThreadRegistry], kind: str) -> None:
    reg = auth_registry(kind)
    good = RegistryAuth(username="alice", password="wonderland")
    bad = RegistryAuth(username="alice", password="nope")
    with Repository.open(reg.host, "team/app", good, FAST, push=True) as repo:
        top, _ = push_image(repo, "v1", b"secret layer")
    with Repository.open(reg.host, "team/app", good, FAST) as repo:
        assert repo.resolve("v1") == top
    with pytest.raises(PermissionDenied) as e, \
            Repository.open(reg.host, "team/app", bad, FAST) as repo:
        repo.resolve("v1")
    assert "unauthorized" in str(e.value)
    with pytest.raises(PermissionDenied), \
            Repository.open(reg.host, "team/app", None, FAST) as repo:
        repo.resolve("v1")
    assert check_login(reg.host, good, FAST) == ""
    with pytest.raises(PermissionDenied) as e:
        check_login(f"http://{reg.host}/v2/", bad, FAST)
    if kind == "token":
        assert str(e.value) == (f'Get "http://{reg.host}/v2/": unauthorized: invalid '
                                "username or password")
    else:
        assert str(e.value) == (f"login attempt to http://{reg.host}/v2/ failed with "
                                "status: 401 Unauthorized")


def test_token_identity_token(auth_registry: Callable[[str], ThreadRegistry]) -> None:
    """Docker's identity tokens: a refresh token used with the OAuth2 POST."""
    reg = auth_registry("token")
    good = RegistryAuth(username="alice", password="wonderland")
    with Repository.open(reg.host, "team/app", good, FAST, push=True) as repo:
        push_image(repo, "v1", b"x")
    rt = RegistryAuth(registry_token="not-a-token")
    with pytest.raises(PermissionDenied), \
            Repository.open(reg.host, "team/app", rt, FAST) as repo:
        repo.resolve("v1")


def test_redirect_to_storage_drops_authorization(
        auth_registry: Callable[[str], ThreadRegistry]) -> None:
    """A blob GET redirected to another host (blob storage) is followed without the
    registry's Authorization."""
    reg = auth_registry("htpasswd")
    good = RegistryAuth(username="alice", password="wonderland")
    data = b"stored elsewhere"
    storage = BlobServer({"/bucket/blob": data})
    proxy = FaultProxy(reg.host).start()
    try:
        with Repository.open(proxy.host, "team/app", good, FAST, push=True) as repo:
            repo.upload_blob(desc(data), chunks_of(data))
            proxy.faults.append(Fault("GET", "/blobs/sha256:", "redirect",
                                      location=f"{storage.url}/bucket/blob?sig=1"))
            assert repo.fetch_blob(desc(data)) == data
        [got] = storage.requests
        assert got.path == "/bucket/blob?sig=1"
        assert "Authorization" not in got.headers
        assert any("Authorization" in r.headers for r in proxy.requests
                   if "/blobs/sha256:" in r.path)
    finally:
        proxy.stop()
        storage.stop()


def test_docker_io_mirror(registry: ThreadRegistry) -> None:
    """docker.io references go to the mirror first (only loopback is reached here)."""
    cfg = RegistryConfig(mirrors=(f"http://{registry.host}",), retries=0)
    with Repository.open(registry.host, "library/busybox", None, FAST, push=True) as repo:
        top, _ = push_image(repo, "latest", b"hub layer")
    target = resolve_remote(parse_pull_reference("busybox"), None, cfg)
    with target.repo:
        assert target.desc == top
        assert target.repo.transport.base_url == f"http://{registry.host}"


def test_tls_trust_from_certs_d(start_registry: Callable[..., ThreadRegistry],
                                tmp_path: Path) -> None:
    """A verified HTTPS endpoint trusts ``<certs_dir>/<host:port>/ca.crt`` and refuses a
    certificate it cannot verify."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days",
                    "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    reg = start_registry(tls_cert=str(cert), tls_key=str(key))
    secure = Endpoint(f"https://{reg.host}", insecure=False)
    certs = tmp_path / "certs.d"
    with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED"), Repository.open(
            reg.host, "t/s", None, RegistryConfig(certs_dir=str(certs), retries=0),
            endpoint=secure) as repo:
        repo.resolve("v1")
    (certs / reg.host).mkdir(parents=True)
    shutil.copy(cert, certs / reg.host / "ca.crt")
    cfg = RegistryConfig(certs_dir=str(certs), retries=0)
    with Repository.open(reg.host, "t/s", None, cfg, push=True, endpoint=secure) as repo:
        top, _ = push_image(repo, "v1", b"over tls")
        assert repo.resolve("v1") == top


def test_tags_follow_pages(registry: ThreadRegistry, proxy: FaultProxy) -> None:
    with Repository.open(proxy.host, "t/list", None, FAST, push=True) as repo:
        for tag in ("v1", "v2", "v3"):
            push_image(repo, tag, b"same layer")
        assert sorted(repo.tags(page=2)) == ["v1", "v2", "v3"]
    assert proxy.count("GET", "/v2/t/list/tags/list") == 2
    assert sorted(remote_tags(f"{proxy.host}/t/list", config=FAST)) == ["v1", "v2", "v3"]
    with pytest.raises(NotFound, match=r"repository .* not found|name unknown"):
        remote_tags(f"{proxy.host}/no/such", config=FAST)


class _OAuthRegistry:
    """A registry whose token server only takes OAuth2 refresh tokens (POST), as Docker
    Hub's does for identity tokens; it records the token requests."""

    def __init__(self) -> None:
        self.token_requests: list[dict[str, list[str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None
                      = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                outer.token_requests.append(form)
                if form.get("grant_type") == ["refresh_token"] and \
                        form.get("refresh_token") == ["identity"]:
                    self._send(200, b'{"access_token":"granted","expires_in":60}')
                else:
                    self._send(401, b'{"details":"incorrect username or password"}')

            def do_HEAD(self) -> None:
                if self.headers.get("Authorization") != "Bearer granted":
                    realm = f"http://127.0.0.1:{outer.port}/token"
                    self._send(401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",'
                                             'service="fake",scope="repository:x/y:pull"'})
                    return
                self._send(200, b"{}" * 10, {"Content-Type": mt.OCI_MANIFEST,
                                             "Docker-Content-Digest": "sha256:" + "a" * 64})

            do_GET = do_HEAD

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_identity_token_refresh_grant() -> None:
    fake = _OAuthRegistry()
    try:
        host = f"127.0.0.1:{fake.port}"
        with Repository.open(host, "x/y", RegistryAuth(identity_token="identity"), FAST,
                             endpoint=Endpoint(f"http://{host}", True)) as repo:
            d = repo.resolve("v1")
        assert str(d.digest) == "sha256:" + "a" * 64
        [form] = fake.token_requests
        assert form["grant_type"] == ["refresh_token"] and form["service"] == ["fake"]
        assert form["scope"] == ["repository:x/y:pull"] and form["client_id"] == ["dockyard"]
        with pytest.raises(PermissionDenied) as e, Repository.open(
                host, "x/y", RegistryAuth(identity_token="stale"), FAST,
                endpoint=Endpoint(f"http://{host}", True)) as repo:
            repo.resolve("v1")
        assert str(e.value) == (f'Head "http://{host}/v2/x/y/manifests/v1": unauthorized: '
                                "incorrect username or password")
    finally:
        fake.stop()
