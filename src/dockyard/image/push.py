"""``docker push``: an image's blobs and manifest uploaded to its registry.

(Filled in below; the interface is fixed: ``push(stores, ref, ...) -> PushResult``.)
"""

from __future__ import annotations

import threading

from dockyard.distribution import RegistryAuth, RegistryConfig
from dockyard.errors import NotImplementedByDockyard

from .progress import ProgressFn, PushResult
from .stores import Stores


def push(stores: Stores, ref: str, *, auth: RegistryAuth | None = None,
         progress: ProgressFn | None = None, config: RegistryConfig | None = None,
         cancel: threading.Event | None = None) -> PushResult:
    """Push the local image ``ref`` (a name with a tag, ``latest`` when none) to its
    registry; the result names the tag, the manifest digest and its size.

    Errors: ``NotFound`` (no such local image: ``An image does not exist locally with
    the tag: <ref>``), ``PermissionDenied`` (401/403), ``Unavailable``.
    """
    raise NotImplementedByDockyard("push: not implemented yet")
