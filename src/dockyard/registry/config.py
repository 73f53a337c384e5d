"""The registry's configuration: one frozen value, read from a TOML file and the flags.

A complete file (every key optional; these are the defaults)::

    [server]
    listen = "127.0.0.1:5000"
    workers = 1                  # processes sharing the port (not with "inmemory")
    access_log = ""              # file for the common-log-format access log
    tls_fallback_answer = true   # answer a TLS handshake on plain HTTP with HTTP 400

    [storage]
    driver = "filesystem"        # or "inmemory" (tests; one process)
    root = ""                    # required for "filesystem" (--storage)

    [validation]
    require_blobs = true         # manifests must reference blobs/manifests we have
    max_manifest_size = 4194304
    max_blob_size = 0            # 0: unlimited

    [gc]
    grace = 3600                 # seconds a blob is safe after its last use
    upload_max_age = 86400       # seconds an idle upload is kept
    interval = 0                 # run GC inside the server every N seconds (0: never)

    [tls]
    cert = ""                    # PEM certificate chain; both set: serve HTTPS
    key = ""

    [auth]
    type = "none"                # "none", "htpasswd" (Basic) or "token" (Bearer)
    htpasswd = ""                # bcrypt htpasswd file (users of both types)
    realm = "dockyard-registry"  # Basic realm
    [auth.token]
    realm = ""                   # default: this server's /token endpoint
    service = "dockyard-registry"
    issuer = "dockyard-registry"
    secret = ""                  # HS256 key (or secret_file); random per start if unset
    secret_file = ""
    expiry = 300

    [[access]]                   # per-repository permissions (none: users may do all)
    repository = "team/*"        # fnmatch pattern; "*" matches every repository
    users = ["alice"]            # user names, "*" (any authenticated), "anonymous"
    actions = ["pull", "push", "delete"]
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from dockyard.errors import InvalidArgument

DEFAULT_LISTEN = "127.0.0.1:5000"


class AuthType(Enum):
    NONE = "none"
    HTPASSWD = "htpasswd"
    TOKEN = "token"


class Action(Enum):
    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class AccessRule:
    repository: str
    users: tuple[str, ...]
    actions: frozenset[Action]


@dataclass(frozen=True, slots=True)
class TokenConfig:
    realm: str = ""
    service: str = "dockyard-registry"
    issuer: str = "dockyard-registry"
    secret: str = ""
    expiry: int = 300


@dataclass(frozen=True, slots=True)
class AuthConfig:
    type: AuthType = AuthType.NONE
    htpasswd: str = ""
    realm: str = "dockyard-registry"
    token: TokenConfig = field(default_factory=TokenConfig)
    access: tuple[AccessRule, ...] = ()


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    listen: str = DEFAULT_LISTEN
    workers: int = 1
    access_log: str = ""
    tls_fallback_answer: bool = True
    storage_driver: str = "filesystem"
    storage_root: str = ""
    require_blobs: bool = True
    max_manifest_size: int = 4 * 1024 * 1024
    max_blob_size: int = 0
    gc_grace: float = 3600.0
    upload_max_age: float = 86400.0
    gc_interval: float = 0.0
    tls_cert: str = ""
    tls_key: str = ""
    auth: AuthConfig = field(default_factory=AuthConfig)

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert and self.tls_key)

    def with_overrides(self, **changes: Any) -> RegistryConfig:
        """A copy with the given fields replaced (flags win over the file)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) to a (host, port) pair."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArgument(f"listen address {listen!r}: want HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    v = doc.get(name, {})
    if not isinstance(v, dict):
        raise InvalidArgument(f"config: [{name}] must be a table")
    return v


def _get(table: dict[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    v = table.get(key, default)
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise InvalidArgument(f"config: {where}.{key} must be a {kind.__name__}, got {v!r}")
    return v


def load_config(path: str | None) -> RegistryConfig:
    """Read ``path`` (TOML); ``None`` gives the defaults. ``InvalidArgument`` on errors."""
    if not path:
        return RegistryConfig()
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise InvalidArgument(f"config {path}: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgument(f"config {path}: {e}") from e
    return config_from_dict(doc, base_dir=os.path.dirname(os.path.abspath(path)))


def config_from_dict(doc: dict[str, Any], base_dir: str = ".") -> RegistryConfig:
    """Build the config from a decoded TOML document (relative paths from ``base_dir``)."""
    known = {"server", "storage", "validation", "gc", "tls", "auth", "access"}
    unknown = set(doc) - known
    if unknown:
        raise InvalidArgument(f"config: unknown section(s) {', '.join(sorted(unknown))}")

    def path_of(v: str) -> str:
        return os.path.join(base_dir, v) if v and not os.path.isabs(v) else v

    server, storage = _section(doc, "server"), _section(doc, "storage")
    validation, gc = _section(doc, "validation"), _section(doc, "gc")
    tls, auth = _section(doc, "tls"), _section(doc, "auth")
    token = auth.get("token", {})
    if not isinstance(token, dict):
        raise InvalidArgument("config: [auth.token] must be a table")
    secret = _get(token, "secret", str, "", "auth.token")
    secret_file = _get(token, "secret_file", str, "", "auth.token")
    if secret_file and not secret:
        try:
            with open(path_of(secret_file), encoding="utf-8") as f:
                secret = f.read().strip()
        except OSError as e:
            raise InvalidArgument(f"config: auth.token.secret_file: {e.strerror}") from e
    try:
        auth_type = AuthType(_get(auth, "type", str, "none", "auth"))
    except ValueError as e:
        raise InvalidArgument(f"config: auth.type: {e}") from e
    rules = []
    raw_rules = doc.get("access", [])
    if not isinstance(raw_rules, list):
        raise InvalidArgument("config: [[access]] must be an array of tables")
    for i, r in enumerate(raw_rules):
        where = f"access[{i}]"
        if not isinstance(r, dict):
            raise InvalidArgument(f"config: {where} must be a table")
        users = _get(r, "users", list, ["*"], where)
        actions = _get(r, "actions", list, ["pull"], where)
        try:
            acts = frozenset(Action(a) for a in actions)
        except ValueError as e:
            raise InvalidArgument(f"config: {where}.actions: {e}") from e
        rules.append(AccessRule(_get(r, "repository", str, "*", where),
                                tuple(str(u) for u in users), acts))
    cfg = RegistryConfig(
        listen=_get(server, "listen", str, DEFAULT_LISTEN, "server"),
        workers=_get(server, "workers", int, 1, "server"),
        access_log=path_of(_get(server, "access_log", str, "", "server")),
        tls_fallback_answer=_get(server, "tls_fallback_answer", bool, True, "server"),
        storage_driver=_get(storage, "driver", str, "filesystem", "storage"),
        storage_root=path_of(_get(storage, "root", str, "", "storage")),
        require_blobs=_get(validation, "require_blobs", bool, True, "validation"),
        max_manifest_size=_get(validation, "max_manifest_size", int, 4 * 1024 * 1024,
                               "validation"),
        max_blob_size=_get(validation, "max_blob_size", int, 0, "validation"),
        gc_grace=_get(gc, "grace", float, 3600.0, "gc"),
        upload_max_age=_get(gc, "upload_max_age", float, 86400.0, "gc"),
        gc_interval=_get(gc, "interval", float, 0.0, "gc"),
        tls_cert=path_of(_get(tls, "cert", str, "", "tls")),
        tls_key=path_of(_get(tls, "key", str, "", "tls")),
        auth=AuthConfig(
            type=auth_type,
            htpasswd=path_of(_get(auth, "htpasswd", str, "", "auth")),
            realm=_get(auth, "realm", str, "dockyard-registry", "auth"),
            token=TokenConfig(
                realm=_get(token, "realm", str, "", "auth.token"),
                service=_get(token, "service", str, "dockyard-registry", "auth.token"),
                issuer=_get(token, "issuer", str, "dockyard-registry", "auth.token"),
                secret=secret,
                expiry=_get(token, "expiry", int, 300, "auth.token")),
            access=tuple(rules)),
    )
    validate_config(cfg)
    return cfg


def validate_config(cfg: RegistryConfig) -> None:
    parse_listen(cfg.listen)
    if cfg.workers < 1:
        raise InvalidArgument("config: server.workers must be at least 1")
    if cfg.max_manifest_size < 1 or cfg.max_blob_size < 0:
        raise InvalidArgument("config: validation limits must be positive")
    if bool(cfg.tls_cert) != bool(cfg.tls_key):
        raise InvalidArgument("config: tls.cert and tls.key go together")
    if cfg.auth.type is not AuthType.NONE and not cfg.auth.htpasswd:
        raise InvalidArgument(f"config: auth.type {cfg.auth.type.value!r} needs auth.htpasswd")
