"""Authentication (htpasswd Basic, built-in token server), permissions, TLS, and the
plain-HTTP answer to a TLS handshake."""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dockyard.registry.auth.htpasswd import hash_password
from dockyard.registry.config import AccessRule, Action, AuthConfig, AuthType, TokenConfig

ALL = frozenset({Action.PULL, Action.PUSH, Action.DELETE})
RULES = (
    AccessRule("team/*", ("alice",), ALL),
    AccessRule("team/*", ("bob",), frozenset({Action.PULL})),
    AccessRule("public/*", ("anonymous", "*"), frozenset({Action.PULL})),
    AccessRule("public/*", ("alice",), ALL),
)


def auth_header(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def htpasswd(tmp_path: Path) -> str:
    p = tmp_path / "htpasswd"
    p.write_text(f"alice:{hash_password('wonderland', 4)}\nbob:{hash_password('builder', 4)}\n")
    return str(p)


def test_basic_auth(start_registry: Any, h: Any, htpasswd: str) -> None:
    reg = start_registry(auth=AuthConfig(type=AuthType.HTPASSWD, htpasswd=htpasswd,
                                         realm="dy", access=RULES))
    alice, bob = auth_header("alice", "wonderland"), auth_header("bob", "builder")

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{reg.url}/v2/") as r:
                assert r.status == 401 and await h.error_code(r) == "UNAUTHORIZED"
                assert r.headers["WWW-Authenticate"] == 'Basic realm="dy"'
            async with s.get(f"{reg.url}/v2/", headers=auth_header("alice", "bad")) as r:
                assert r.status == 401
            async with s.get(f"{reg.url}/v2/", headers=alice) as r:
                assert r.status == 200
        async with aiohttp.ClientSession(headers=alice) as s:
            await h.push_image(s, reg.url, "team/app", "v1")
            await h.push_image(s, reg.url, "public/app", "v1")
        async with aiohttp.ClientSession(headers=bob) as s:
            async with s.get(f"{reg.url}/v2/team/app/manifests/v1") as r:
                assert r.status == 200
            async with s.post(f"{reg.url}/v2/team/app/blobs/uploads/") as r:
                assert r.status == 403 and await h.error_code(r) == "DENIED"
            async with s.delete(f"{reg.url}/v2/team/app/manifests/v1") as r:
                assert r.status == 403
        async with aiohttp.ClientSession() as s:  # anonymous
            async with s.get(f"{reg.url}/v2/public/app/manifests/v1") as r:
                assert r.status == 200
            async with s.get(f"{reg.url}/v2/team/app/manifests/v1") as r:
                assert r.status == 401
            async with s.get(f"{reg.url}/v2/_catalog") as r:
                assert r.status == 401
    h.run(go())


def test_token_auth(start_registry: Any, h: Any, htpasswd: str) -> None:
    reg = start_registry(auth=AuthConfig(type=AuthType.TOKEN, htpasswd=htpasswd, access=RULES,
                                         token=TokenConfig(service="dy-test")))

    async def token(s: aiohttp.ClientSession, scope: str, creds: dict[str, str] | None) -> str:
        async with s.get(f"{reg.url}/token", params={"service": "dy-test", "scope": scope},
                         headers=creds or {}) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
            assert body["expires_in"] == 300
            return str(body["token"])

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            # anonymous refused, with the challenge a client follows
            async with s.post(f"{reg.url}/v2/team/app/blobs/uploads/") as r:
                assert r.status == 401 and await h.error_code(r) == "UNAUTHORIZED"
                assert r.headers["WWW-Authenticate"] == (
                    f'Bearer realm="{reg.url}/token",service="dy-test",'
                    'scope="repository:team/app:push"')
            async with s.get(f"{reg.url}/v2/") as r:
                assert r.status == 401
                assert r.headers["WWW-Authenticate"].startswith("Bearer realm=")
            # a scoped token is accepted
            t = await token(s, "repository:team/app:pull,push",
                            {"Authorization": "Basic " + base64.b64encode(
                                b"alice:wonderland").decode()})
            bearer = {"Authorization": f"Bearer {t}"}
            async with s.get(f"{reg.url}/v2/", headers=bearer) as r:
                assert r.status == 200
        async with aiohttp.ClientSession(headers=bearer) as s:
            d, _ = await h.push_image(s, reg.url, "team/app", "v1")
            # the token's scope is team/app pull,push: not delete, not another repository
            async with s.delete(f"{reg.url}/v2/team/app/manifests/{d}") as r:
                assert r.status == 401
                assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
                assert 'scope="repository:team/app:delete"' in r.headers["WWW-Authenticate"]
            async with s.get(f"{reg.url}/v2/team/other/tags/list") as r:
                assert r.status == 401
        async with aiohttp.ClientSession() as s:
            # bob asks for push and is given only pull
            bob = await token(s, "repository:team/app:pull,push",
                              {"Authorization": "Basic " + base64.b64encode(
                                  b"bob:builder").decode()})
            hdr = {"Authorization": f"Bearer {bob}"}
            async with s.get(f"{reg.url}/v2/team/app/manifests/v1", headers=hdr) as r:
                assert r.status == 200
            async with s.post(f"{reg.url}/v2/team/app/blobs/uploads/", headers=hdr) as r:
                assert r.status == 401
            # wrong password at the token server
            async with s.get(f"{reg.url}/token", params={"scope": "repository:team/app:pull"},
                             headers=auth_header("bob", "nope")) as r:
                assert r.status == 401
            # a forged token
            async with s.get(f"{reg.url}/v2/team/app/manifests/v1",
                             headers={"Authorization": "Bearer " + bob[:-4] + "AAAA"}) as r:
                assert r.status == 401
                assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
            # the OAuth2 password grant
            async with s.post(f"{reg.url}/token", data={
                    "grant_type": "password", "username": "alice", "password": "wonderland",
                    "service": "dy-test", "scope": "repository:team/app:pull"}) as r:
                assert r.status == 200 and "access_token" in await r.json()
    h.run(go())


def test_mount_needs_pull_on_the_source(start_registry: Any, h: Any, htpasswd: str) -> None:
    rules = (AccessRule("secret", ("alice",), ALL), AccessRule("mine", ("bob",), ALL))
    reg = start_registry(auth=AuthConfig(type=AuthType.HTPASSWD, htpasswd=htpasswd,
                                         access=rules))

    async def go() -> None:
        async with aiohttp.ClientSession(headers=auth_header("alice", "wonderland")) as s:
            d = await h.push_blob(s, reg.url, "secret", b"secret layer")
        async with aiohttp.ClientSession(headers=auth_header("bob", "builder")) as s:
            for params in ({"mount": d, "from": "secret"}, {"mount": d}):
                async with s.post(f"{reg.url}/v2/mine/blobs/uploads/", params=params) as r:
                    assert r.status == 202  # an upload instead of a mount
            async with s.head(f"{reg.url}/v2/mine/blobs/{d}") as r:
                assert r.status == 404
    h.run(go())


@pytest.fixture
def cert(tmp_path: Path) -> tuple[str, str]:
    crt, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return str(crt), str(key)


def test_tls(start_registry: Any, h: Any, cert: tuple[str, str]) -> None:
    reg = start_registry(tls_cert=cert[0], tls_key=cert[1])
    assert reg.url.startswith("https://")
    ctx = ssl.create_default_context(cafile=cert[0])

    async def go() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s:
            async with s.get(f"{reg.url}/v2/") as r:
                assert r.status == 200
            d, _ = await h.push_image(s, reg.url, "tls/app", "v1")
            async with s.get(f"{reg.url}/v2/tls/app/manifests/v1") as r:
                assert r.headers["Docker-Content-Digest"] == d
                assert r.headers["Content-Type"] == h.OCI_MANIFEST
        async with aiohttp.ClientSession() as s:  # an untrusted certificate is refused
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await s.get(f"{reg.url}/v2/")
    h.run(go())


def test_plain_http_answers_a_tls_handshake_with_http(reg: Any) -> None:
    """What lets ``docker manifest inspect --insecure`` fall back to HTTP."""
    host, port = reg.url.removeprefix("http://").split(":")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    assert hello[0] == 0x16
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(hello)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 400 Bad Request\r\n")
    # and plain HTTP on the same port still works
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.0\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.0 200 OK")
