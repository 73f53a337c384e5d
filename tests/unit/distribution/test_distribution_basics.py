"""The registry client's small parts: X-Registry-Auth decoding, challenges, endpoints and
trust, error texts."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from dockyard.distribution import RegistryAuth, RegistryConfig
from dockyard.distribution.endpoints import certs_for, endpoints, is_insecure
from dockyard.distribution.errors import describe, request_error
from dockyard.distribution.login import registry_host
from dockyard.distribution.tokens import parse_challenges
from dockyard.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable


def b64url(obj: object, pad: bool) -> str:
    s = base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()
    return s if pad else s.rstrip("=")


@pytest.mark.parametrize("pad", [True, False])
def test_auth_from_header(pad: bool) -> None:
    a = RegistryAuth.from_header(b64url({"username": "alice", "password": "p+/=?",
                                         "serveraddress": "127.0.0.1:5000",
                                         "identitytoken": "", "email": "x"}, pad))
    assert a == RegistryAuth(username="alice", password="p+/=?",
                             server_address="127.0.0.1:5000")
    assert a.credentials() == ("alice", "p+/=?")
    assert not a.anonymous


def test_auth_anonymous_and_config_json_style() -> None:
    assert RegistryAuth.from_header("").anonymous
    assert RegistryAuth.from_header(b64url({}, True)).anonymous
    assert RegistryAuth.from_header(b64url(None, True)).anonymous
    a = RegistryAuth.from_json({"auth": base64.b64encode(b"bob:pa:ss").decode(),
                                "IdentityToken": "tok"})
    assert a.credentials() == ("bob", "pa:ss") and a.identity_token == "tok"


@pytest.mark.parametrize("bad", ["%%%", b64url([1, 2], True), "bm90IGpzb24"])
def test_auth_bad_header(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        RegistryAuth.from_header(bad)


def test_challenges() -> None:
    [c] = parse_challenges('Bearer realm="http://127.0.0.1:1/token",service="reg",'
                           'scope="repository:a/b:pull,push",error="insufficient_scope"')
    assert c.scheme == "bearer"
    assert c.params == {"realm": "http://127.0.0.1:1/token", "service": "reg",
                        "scope": "repository:a/b:pull,push", "error": "insufficient_scope"}
    [b] = parse_challenges('Basic realm="my \\"realm\\""')
    assert b.scheme == "basic" and b.params["realm"] == 'my "realm"'


def test_insecure_and_endpoints() -> None:
    cfg = RegistryConfig(insecure_registries=("10.1.0.0/16", "reg.example:5000"),
                         mirrors=("http://127.0.0.1:5001",))
    for host in ("127.0.0.1:5000", "127.9.9.9", "localhost:5000", "[::1]:5000",
                 "10.1.2.3:443", "reg.example:5000"):
        assert is_insecure(host, cfg), host
    for host in ("10.2.0.1:5000", "reg.example", "example.com"):
        assert not is_insecure(host, cfg), host
    assert [e.url for e in endpoints("127.0.0.1:5000", cfg)] == [
        "https://127.0.0.1:5000", "http://127.0.0.1:5000"]
    assert [(e.url, e.insecure) for e in endpoints("example.com", cfg)] == [
        ("https://example.com", False)]
    hub = endpoints("docker.io", cfg)
    assert [(e.url, e.mirror) for e in hub] == [("http://127.0.0.1:5001", True),
                                                ("https://registry-1.docker.io", False)]
    assert [e.url for e in endpoints("docker.io", cfg, for_push=True)] == [
        "https://registry-1.docker.io"]


def test_certs_d(tmp_path: Path) -> None:
    d = tmp_path / "reg.example:5000"
    d.mkdir()
    (d / "ca.crt").write_text("x")
    (d / "client.cert").write_text("x")
    (d / "client.key").write_text("x")
    assert certs_for("reg.example:5000", str(tmp_path)) == (
        [str(d / "ca.crt")], [(str(d / "client.cert"), str(d / "client.key"))])
    (d / "client.key").unlink()
    with pytest.raises(InvalidArgument, match=r"missing key client\.key"):
        certs_for("reg.example:5000", str(tmp_path))
    assert certs_for("other", str(tmp_path)) == ([], [])


def test_error_texts() -> None:
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
    assert describe(404, body) == "manifest unknown: manifest unknown"
    e = request_error("HEAD", "http://h/v2/x/manifests/y", 404, body)
    assert isinstance(e, NotFound)
    assert str(e) == 'Head "http://h/v2/x/manifests/y": manifest unknown: manifest unknown'
    assert isinstance(request_error("GET", "u", 401, b""), PermissionDenied)
    assert str(request_error("GET", "u", 401, b"")) == (
        'Get "u": unauthorized: authentication required')
    assert isinstance(request_error("GET", "u", 503, b""), Unavailable)
    assert describe(401, b'{"details":"incorrect username or password"}') == (
        "unauthorized: incorrect username or password")


def test_registry_host() -> None:
    assert registry_host("https://index.docker.io/v1/") == "docker.io"
    assert registry_host("") == "docker.io"
    assert registry_host("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000"
    assert registry_host("127.0.0.1:5000") == "127.0.0.1:5000"
