"""Where a blob came from: the repositories of a registry known to hold it.

Recorded as containerd does, in the content store's labels of the blob:
``containerd.io/distribution.source.<registry host>`` = comma-separated repository paths
(``library/busybox,team/app``). A pull records the repository it fetched from; a push
records where it pushed. A later push to another repository of the same registry then
asks the registry to *mount* the blob from one of them instead of uploading it.
"""

from __future__ import annotations

from dockyard.errors import NotFound
from dockyard.oci.digest import Digest

from .stores import Stores

PREFIX = "containerd.io/distribution.source."
MAX_SOURCES = 16


def _key(domain: str) -> str:
    return PREFIX + domain


def sources(stores: Stores, digest: Digest, domain: str) -> list[str]:
    """The repositories of ``domain`` known to hold the blob (``[]`` if none or absent)."""
    try:
        info = stores.content.info(digest)
    except NotFound:
        return []
    value = info.labels.get(_key(domain), "")
    return [r for r in value.split(",") if r]


def source_labels(stores: Stores, digest: Digest, domain: str, repo: str) -> dict[str, str]:
    """The labels to merge so that ``repo`` of ``domain`` is among the blob's sources."""
    known = sources(stores, digest, domain)
    if repo in known:
        return {_key(domain): ",".join(known)}
    return {_key(domain): ",".join([repo, *known][:MAX_SOURCES])}


def add_source(stores: Stores, digest: Digest, domain: str, repo: str) -> None:
    """Record that ``repo`` of ``domain`` holds the (present) blob."""
    try:
        stores.content.update_labels(digest, source_labels(stores, digest, domain, repo))
    except NotFound:
        pass
