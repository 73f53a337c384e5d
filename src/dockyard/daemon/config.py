"""``DaemonConfig``: everything ``dockyardd`` is told, as one frozen value.

It is built once, by the entry point, from the command line and an optional JSON file
whose keys are the long flag names (``{"data-root": "/srv/dockyard", "hosts": [...]}``); a
directive given both ways is refused, as dockerd does. Nothing else reads flags, files or
the environment: every service gets the config (or the part it needs) from the
composition root.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from dockyard.daemon.registries import check_registry_settings, registry_config
from dockyard.distribution import DEFAULT_CERTS_DIR, RegistryConfig
from dockyard.errors import InvalidArgument

DEFAULT_DATA_ROOT = "/var/lib/dockyard"
DEFAULT_EXEC_ROOT = "/run/dockyard"
DEFAULT_HOST = "unix:///run/dockyard.sock"
DEFAULT_INIT_PATH = "/usr/bin/tini-static"
DEFAULT_CGROUP_PARENT = "/dockyard"
DEFAULT_RUNTIME = "dockyard"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
MAX_CONFIG_FILE = 1 << 20

_CGROUP_PARENT_RE = re.compile(r"^/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """The daemon's configuration (see ``dockyardd --help`` for each field)."""

    data_root: str = DEFAULT_DATA_ROOT
    exec_root: str = DEFAULT_EXEC_ROOT
    hosts: tuple[str, ...] = (DEFAULT_HOST,)
    runtime: str = DEFAULT_RUNTIME
    """``dockyard`` (the in-process runtime in the supervisor) or an OCI runtime binary
    with runc's command line (``runc``, or a path to one)."""
    snapshotter: str = "overlay"
    init_path: str = DEFAULT_INIT_PATH
    log_level: str = "info"
    cgroup_parent: str = DEFAULT_CGROUP_PARENT
    """Containers' cgroups are ``<cgroup_parent>/<id>`` in every hierarchy."""
    socket_mode: int = 0o660
    labels: tuple[str, ...] = field(default=())
    insecure_registries: tuple[str, ...] = ()
    """``host[:port]`` or CIDR reached over HTTP too, unverified (loopback always is)."""
    registry_mirrors: tuple[str, ...] = ()
    """Mirrors of Docker Hub, tried in order for its pulls."""
    certs_dir: str = DEFAULT_CERTS_DIR
    """Per-registry CAs and client certificates: ``<certs_dir>/<host[:port]>/``."""

    def __post_init__(self) -> None:
        for name in ("data_root", "exec_root"):
            value = getattr(self, name)
            if not isinstance(value, str) or not os.path.isabs(value) or "\0" in value:
                raise InvalidArgument(f"{name.replace('_', '-')}: an absolute path is "
                                      f"required, not {value!r}")
        if os.path.normpath(self.data_root) == os.path.normpath(self.exec_root):
            raise InvalidArgument("data-root and exec-root must be different directories")
        if not self.hosts:
            raise InvalidArgument("at least one host (-H) is required")
        for host in self.hosts:
            socket_path(host)
        if self.log_level not in LOG_LEVELS:
            raise InvalidArgument(f"log-level: {self.log_level!r} is not one of "
                                  f"{', '.join(LOG_LEVELS)}")
        if not self.runtime or "\0" in self.runtime:
            raise InvalidArgument("runtime: a name or a path is required")
        if not os.path.isabs(self.init_path):
            raise InvalidArgument(f"init-path: an absolute path is required, not "
                                  f"{self.init_path!r}")
        if not _CGROUP_PARENT_RE.match(self.cgroup_parent) or ".." in self.cgroup_parent:
            raise InvalidArgument(f"cgroup-parent: invalid cgroup path {self.cgroup_parent!r}")
        if not 0 <= self.socket_mode <= 0o777:
            raise InvalidArgument(f"socket mode out of range: {self.socket_mode:o}")
        check_registry_settings(self.insecure_registries, self.registry_mirrors,
                                self.certs_dir)

    @property
    def in_process_runtime(self) -> bool:
        return self.runtime == DEFAULT_RUNTIME

    @property
    def socket_paths(self) -> tuple[str, ...]:
        return tuple(socket_path(h) for h in self.hosts)

    @property
    def registry(self) -> RegistryConfig:
        """What pulls and pushes are told (``daemon.registries``)."""
        return registry_config(self.insecure_registries, self.registry_mirrors,
                               self.certs_dir)


def socket_path(host: str) -> str:
    """The filesystem path of a ``unix://`` host (the only kind served for now)."""
    if not isinstance(host, str) or not host.startswith("unix://"):
        raise InvalidArgument(f"host {host!r}: only unix:///path sockets are supported")
    path = host[len("unix://"):]
    if not os.path.isabs(path) or "\0" in path:
        raise InvalidArgument(f"host {host!r}: the socket path must be absolute")
    if len(path.encode()) > 107:
        raise InvalidArgument(f"host {host!r}: socket path longer than 107 bytes")
    return path


# The keys of the config file, and the field each sets: the long flag names.
FILE_KEYS: dict[str, str] = {
    "data-root": "data_root",
    "exec-root": "exec_root",
    "hosts": "hosts",
    "host": "hosts",
    "runtime": "runtime",
    "snapshotter": "snapshotter",
    "storage-driver": "snapshotter",
    "init-path": "init_path",
    "log-level": "log_level",
    "cgroup-parent": "cgroup_parent",
    "labels": "labels",
    "insecure-registries": "insecure_registries",
    "registry-mirrors": "registry_mirrors",
    "certs-dir": "certs_dir",
}
LIST_FIELDS = ("hosts", "labels", "insecure_registries", "registry_mirrors")


def load_config_file(path: str) -> dict[str, Any]:
    """The fields a JSON config file sets (``InvalidArgument`` naming a bad key)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_FILE + 1)
    except OSError as exc:
        raise InvalidArgument(f"config file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_FILE:
        raise InvalidArgument(f"config file {path}: larger than {MAX_CONFIG_FILE} bytes")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"config file {path}: not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"config file {path}: expected a JSON object")
    return fields_from_mapping(doc, f"config file {path}")


def fields_from_mapping(doc: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = FILE_KEYS.get(key)
        if name is None:
            known = ", ".join(sorted(FILE_KEYS))
            raise InvalidArgument(f"{where}: unknown directive {key!r} (known: {known})")
        if name in out:
            raise InvalidArgument(f"{where}: {key!r} given twice")
        if name in LIST_FIELDS:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                raise InvalidArgument(f"{where}: {key!r}: expected a list of strings")
            out[name] = tuple(items)
        else:
            if not isinstance(value, str):
                raise InvalidArgument(f"{where}: {key!r}: expected a string")
            out[name] = value
    return out


def build_config(flags: Mapping[str, Any], file_fields: Mapping[str, Any]) -> DaemonConfig:
    """Merge flags (only those given) with a config file's fields; both ways is an error."""
    both = sorted(set(flags) & set(file_fields))
    if both:
        names = ", ".join(n.replace("_", "-") for n in both)
        raise InvalidArgument("the following directives are specified both as a flag and in "
                              f"the configuration file: {names}")
    known = {f.name for f in fields(DaemonConfig)}
    unknown = set(flags) - known
    if unknown:
        raise InvalidArgument(f"unknown settings: {', '.join(sorted(unknown))}")
    return DaemonConfig(**{**file_fields, **flags})
