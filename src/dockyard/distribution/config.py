"""How the daemon reaches registries: insecure ones, CA trust, mirrors, concurrency.

A frozen value built by the daemon from its flags and config file
(``--insecure-registry``, ``--registry-mirror``, ``insecure-registries``,
``registry-mirrors``) and handed to every pull and push.

Trust, as Docker's (``daemon/config``, ``registry/config.go``):

- Loopback registries (``127.0.0.0/8``, ``::1``, ``localhost``) are always insecure:
  HTTPS is tried first, plain HTTP is allowed after it fails, and certificates are not
  verified.
- ``insecure_registries`` entries are ``host[:port]`` or a CIDR (``10.0.0.0/8``) and get
  the same treatment.
- Every other registry is HTTPS only, verified against the system CAs plus
  ``<certs_dir>/<host[:port]>/*.crt``; ``client.cert`` / ``client.key`` there (Docker's
  names: ``*.cert`` and the matching ``*.key``) are presented as a client certificate.
- ``mirrors`` (URLs such as ``http://127.0.0.1:5001``) are tried in order before
  ``registry-1.docker.io`` for Docker Hub (``docker.io``) pulls; pushes never use them.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_CERTS_DIR = "/etc/dockyard/certs.d"


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    """Registry access settings (see the module docstring)."""

    insecure_registries: tuple[str, ...] = ()
    """``host[:port]`` or CIDR; loopback is always insecure (HTTP allowed)."""
    certs_dir: str = DEFAULT_CERTS_DIR
    """``<certs_dir>/<host:port>/ca.crt`` (+ ``client.cert``/``client.key``)."""
    mirrors: tuple[str, ...] = ()
    """Mirror URLs for docker.io, tried in order before the Hub."""
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    retries: int = 3
    """Attempts after the first on connection errors and 5xx answers (with backoff)."""
    backoff: float = 0.5
    """First retry delay in seconds; doubled after each retry."""
    timeout: float = 60.0
    """Connect and read timeout of one request, in seconds."""
