"""The daemon's registry settings: ``--insecure-registry``, ``--registry-mirror`` and
``--certs-dir`` checked as dockerd checks them, turned into the ``RegistryConfig`` every
pull and push gets, and shown in ``/info`` (``RegistryConfig``: ``IndexConfigs``,
``InsecureRegistryCIDRs``, ``Mirrors``).

As dockerd (``registry/config.go``): an insecure registry is ``host[:port]`` or a CIDR
(``10.0.0.0/8``), never a URL; ``127.0.0.0/8`` and ``::1/128`` are always insecure; a
mirror is an ``http``/``https`` URL without path, query or credentials, kept with a
trailing slash (``https://mirror.example.com/``).
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from collections.abc import Sequence

from dockyard.daemon.systeminfo import LOOPBACK_CIDRS, RegistryInfo
from dockyard.distribution import RegistryConfig
from dockyard.errors import InvalidArgument


def normalize_mirror(value: str) -> str:
    """moby's ``ValidateMirror``: ``https://host[:port]/``."""
    url = urllib.parse.urlsplit(value)
    if url.scheme not in ("http", "https"):
        raise InvalidArgument(f"invalid mirror: unsupported scheme {url.scheme!r} in "
                              f"{value!r}: must use either 'https://' or 'http://'")
    if url.username or url.password:
        raise InvalidArgument(f"invalid mirror: username/password not allowed in URI "
                              f"{value!r}")
    if url.path not in ("", "/") or url.query or url.fragment or not url.hostname:
        raise InvalidArgument(f"invalid mirror: path, query, or fragment at end of the URI "
                              f"{value!r}")
    return f"{url.scheme}://{url.netloc}/"


def check_insecure(value: str) -> str:
    """An insecure registry entry: ``host[:port]`` or a CIDR."""
    if "://" in value:
        raise InvalidArgument(f"insecure registry {value} should not contain '://'")
    if not value or any(c.isspace() for c in value) or ("/" in value and not _cidr(value)):
        raise InvalidArgument(f"insecure registry {value!r}: expected host[:port] or a CIDR")
    return value


def _cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def check_registry_settings(insecure: Sequence[str], mirrors: Sequence[str],
                            certs_dir: str) -> None:
    """Raise ``InvalidArgument`` on the first bad setting (the daemon does not start)."""
    for value in insecure:
        check_insecure(value)
    for value in mirrors:
        normalize_mirror(value)
    if not os.path.isabs(certs_dir) or "\0" in certs_dir:
        raise InvalidArgument(f"certs-dir: an absolute path is required, not {certs_dir!r}")


def registry_config(insecure: Sequence[str], mirrors: Sequence[str],
                    certs_dir: str) -> RegistryConfig:
    """What pulls and pushes are told (mirrors normalised, in the order given)."""
    return RegistryConfig(insecure_registries=tuple(insecure),
                          certs_dir=certs_dir,
                          mirrors=tuple(normalize_mirror(m) for m in mirrors))


def registry_info(config: RegistryConfig) -> RegistryInfo:
    """``/info``'s view: the insecure CIDRs (loopback first), the insecure hosts, the
    mirrors."""
    cidrs = list(LOOPBACK_CIDRS)
    hosts: list[str] = []
    for value in config.insecure_registries:
        net = _cidr(value)
        if net is not None:
            if str(net) not in cidrs:
                cidrs.append(str(net))
        elif value not in hosts:
            hosts.append(value)
    return RegistryInfo(tuple(cidrs), tuple(hosts), config.mirrors)
