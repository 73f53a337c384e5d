"""The registry client: resolve references, fetch and push blobs and manifests.

Synchronous (DESIGN.md: synchronous core) and thread-safe: the daemon calls it from
worker threads, and a pull runs one thread per layer. It sits below ``dockyard.image``
(which builds pulls and pushes on it) and above the stores.

- ``RegistryAuth`` (``auth``): Docker's ``AuthConfig`` (``X-Registry-Auth``).
- ``RegistryConfig`` (``config``): insecure registries, CA trust, mirrors, concurrency.
- ``check_login``: what ``POST /auth`` does (ping ``/v2/``, answer the challenge).
- ``Repository`` (``client``): one repository of one registry, with the blob and manifest
  operations a pull or a push needs (see its docstring for the lifecycle).

Below it: ``transport`` (one registry: the endpoint a ping chooses, credentials, retries),
``tokens`` (``WWW-Authenticate`` challenges, Bearer tokens per scope), ``endpoints``
(HTTPS/HTTP, insecure registries, ``certs.d`` trust, mirrors) and ``errors`` (registry
answers as ``dockyard.errors`` kinds with Docker's words). The pull and push pipelines that
use it are ``dockyard.image.pull`` and ``dockyard.image.push``.
"""

from __future__ import annotations

from .auth import RegistryAuth
from .config import DEFAULT_CERTS_DIR, RegistryConfig
from .login import check_login

__all__ = [
    "DEFAULT_CERTS_DIR",
    "RegistryAuth",
    "RegistryConfig",
    "check_login",
]
