"""Where a registry is and how to trust it: hosts, schemes, TLS, mirrors.

Docker's rules (moby ``registry/config.go``, ``registry/endpoint*``): ``docker.io`` is
served by ``registry-1.docker.io`` (after any mirrors, for pulls); a registry is
*insecure* when it is loopback (``127.0.0.0/8``, ``::1``, ``localhost``) or listed in
``insecure_registries`` (``host[:port]`` or a CIDR holding its address). An insecure
registry is tried over HTTPS without verifying the certificate first, then over plain
HTTP; a secure one over verified HTTPS only, trusting the system CAs plus
``<certs_dir>/<host[:port]>/*.crt`` and presenting ``*.cert``/``*.key`` found there.

The HTTP library is urllib3 2.x: thread-safe connection pools (a pull runs one thread per
layer), streamed bodies, redirects that drop ``Authorization`` when they leave the host
(blob storage), TLS contexts per registry.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import ssl
import threading
import warnings
from dataclasses import dataclass

import urllib3

from dockyard.errors import InvalidArgument

from .config import RegistryConfig

log = logging.getLogger(__name__)

DOCKER_IO = "docker.io"
DOCKER_HUB_URL = "https://registry-1.docker.io"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One base URL to try for a registry (``https://host:port``), and its trust."""

    url: str
    insecure: bool
    """Certificates are not verified (and a later endpoint may be plain HTTP)."""
    mirror: bool = False


def split_host(host: str) -> tuple[str, int | None]:
    """``host[:port]`` → ``(host, port)``; ``[::1]:5000`` → ``("::1", 5000)``."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise InvalidArgument(f"invalid registry host {host!r}")
        name, rest = host[1:end], host[end + 1:]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    if port and not port.isdigit():
        raise InvalidArgument(f"invalid registry host {host!r}")
    return name, int(port) if port else None


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    name, _ = split_host(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    addr = _address(name)
    return addr is not None and addr.is_loopback


def is_insecure(host: str, config: RegistryConfig) -> bool:
    """Loopback, or named (``host[:port]``) or covered (CIDR) by ``insecure_registries``."""
    if is_loopback(host):
        return True
    name, _ = split_host(host)
    addr = _address(name)
    for entry in config.insecure_registries:
        entry = entry.strip()
        for prefix in ("http://", "https://"):
            entry = entry.removeprefix(prefix)
        entry = entry.rstrip("/")
        if entry in (host, name):
            return True
        if "/" in entry and addr is not None:
            try:
                if addr in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                log.warning("insecure registry %r: not a host or a CIDR", entry)
    return False


def endpoints(host: str, config: RegistryConfig, *, for_push: bool = False) -> list[Endpoint]:
    """The base URLs to try for ``host`` (a reference's domain), in order."""
    if host == DOCKER_IO:
        out = [] if for_push else [Endpoint(m.rstrip("/"), is_insecure(_url_host(m), config),
                                            mirror=True) for m in config.mirrors]
        return [*out, Endpoint(DOCKER_HUB_URL, False)]
    if is_insecure(host, config):
        return [Endpoint(f"https://{host}", True), Endpoint(f"http://{host}", True)]
    return [Endpoint(f"https://{host}", False)]


def _url_host(url: str) -> str:
    return urllib3.util.parse_url(url).netloc or ""


def certs_for(host: str, certs_dir: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The CA files (``*.crt``) and client pairs (``x.cert`` + ``x.key``) Docker would use
    for ``host`` from ``<certs_dir>/<host>/``."""
    d = os.path.join(certs_dir, host)
    cas: list[str] = []
    pairs: list[tuple[str, str]] = []
    try:
        names = sorted(os.listdir(d))
    except (FileNotFoundError, NotADirectoryError):
        return cas, pairs
    except OSError as e:
        log.warning("certs dir %s: %s", d, e)
        return cas, pairs
    for n in names:
        path = os.path.join(d, n)
        if n.endswith(".crt"):
            cas.append(path)
        elif n.endswith(".cert"):
            key = path[:-len(".cert")] + ".key"
            if not os.path.exists(key):
                raise InvalidArgument(f"missing key {os.path.basename(key)} for client "
                                      f"certificate {n}")
            pairs.append((path, key))
    return cas, pairs


def ssl_context(host: str, config: RegistryConfig, insecure: bool) -> ssl.SSLContext:
    """The TLS context for ``host``: verified against system + ``certs.d`` CAs unless
    ``insecure``; with the client certificate of ``certs.d`` when there is one."""
    cas, pairs = certs_for(host, config.certs_dir)
    if insecure:  # nothing is verified: the system CAs are not even loaded (80 ms)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context()
    for ca in cas:
        try:
            ctx.load_verify_locations(cafile=ca)
        except (ssl.SSLError, OSError) as e:
            raise InvalidArgument(f"certificate {ca}: {e}") from e
    for cert, key in pairs[:1]:
        try:
            ctx.load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as e:
            raise InvalidArgument(f"client certificate {cert}: {e}") from e
    return ctx


_QUIET_HOSTS: set[str] = set()
_QUIET_LOCK = threading.Lock()


def quiet_unverified(host: str) -> None:
    """No ``InsecureRequestWarning`` for ``host`` (an insecure registry: its certificate
    is not checked on purpose, as Docker's --insecure-registry): a warnings filter for
    that host's own message only, added once; other hosts still warn."""
    name = (urllib3.util.parse_url(f"//{host}").host or host).strip("[]")
    with _QUIET_LOCK:
        if name in _QUIET_HOSTS:
            return
        _QUIET_HOSTS.add(name)
        warnings.filterwarnings(
            "ignore", message=re.escape(f"Unverified HTTPS request is being made to host "
                                        f"'{name}'."),
            category=urllib3.exceptions.InsecureRequestWarning)


def pool_manager(host: str, config: RegistryConfig, insecure: bool) -> urllib3.PoolManager:
    """A connection pool manager for one registry (its TLS trust and timeouts)."""
    ctx = ssl_context(host, config, insecure)
    if insecure:
        quiet_unverified(host)
    return urllib3.PoolManager(
        num_pools=8, maxsize=max(config.max_concurrent_downloads,
                                 config.max_concurrent_uploads, 4),
        ssl_context=ctx, cert_reqs=ssl.CERT_NONE if insecure else ssl.CERT_REQUIRED,
        assert_hostname=False if insecure else None,
        timeout=urllib3.Timeout(connect=config.timeout, read=config.timeout),
        retries=REDIRECTS_ONLY)


REDIRECTS_ONLY = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=8,
                               raise_on_redirect=True, raise_on_status=False)
"""urllib3 follows redirects (dropping ``Authorization`` across hosts); the transport
retries everything else itself (it must resume downloads with ``Range``)."""
