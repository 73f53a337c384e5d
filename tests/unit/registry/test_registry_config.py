"""The configuration file and the flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.registry.config import (
    Action,
    AuthType,
    RegistryConfig,
    load_config,
    parse_listen,
)


def test_defaults() -> None:
    cfg = load_config(None)
    assert cfg == RegistryConfig()
    assert cfg.listen == "127.0.0.1:5000" and cfg.require_blobs and not cfg.tls


def test_full_file(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret\n")
    (tmp_path / "reg.toml").write_text('''
[server]
listen = "127.0.0.1:5999"
workers = 2
[storage]
root = "data"
[validation]
require_blobs = false
max_manifest_size = 1000
[gc]
grace = 10
[tls]
cert = "c.pem"
key = "k.pem"
[auth]
type = "token"
htpasswd = "users"
[auth.token]
service = "svc"
secret_file = "secret"
[[access]]
repository = "team/*"
users = ["alice"]
actions = ["pull", "push"]
''')
    cfg = load_config(str(tmp_path / "reg.toml"))
    assert cfg.listen == "127.0.0.1:5999" and cfg.workers == 2
    assert cfg.storage_root == str(tmp_path / "data")
    assert not cfg.require_blobs and cfg.max_manifest_size == 1000 and cfg.gc_grace == 10.0
    assert cfg.tls and cfg.tls_cert == str(tmp_path / "c.pem")
    assert cfg.auth.type is AuthType.TOKEN and cfg.auth.token.secret == "s3cret"
    assert cfg.auth.access[0].actions == {Action.PULL, Action.PUSH}
    assert cfg.with_overrides(listen="127.0.0.1:1", storage_root=None).listen == "127.0.0.1:1"


@pytest.mark.parametrize("text", [
    "[nope]\n", "[server]\nworkers = 0\n", "[server]\nworkers = 'x'\n",
    "[auth]\ntype = 'magic'\n", "[auth]\ntype = 'htpasswd'\n", "[tls]\ncert = 'c'\n",
    "[[access]]\nactions = ['fly']\n", "not toml at all [", "[server]\nlisten = 'nohost'\n",
])
def test_bad_files(tmp_path: Path, text: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(InvalidArgument):
        load_config(str(p))


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:5000") == ("127.0.0.1", 5000)
    assert parse_listen("[::1]:80") == ("::1", 80)
    assert parse_listen(":0") == ("127.0.0.1", 0)
    with pytest.raises(InvalidArgument):
        parse_listen("127.0.0.1")
