"""``docker pull``: a reference resolved on its registry, fetched, verified and unpacked.

(Filled in below; the interface is fixed: ``pull(stores, ref, ...) -> PullResult``.)
"""

from __future__ import annotations

import threading

from dockyard.distribution import RegistryAuth, RegistryConfig
from dockyard.errors import NotImplementedByDockyard

from .progress import Progress, ProgressFn, PullResult, PushResult, no_progress
from .stores import Stores

__all__ = ["Progress", "ProgressFn", "PullResult", "PushResult", "no_progress", "pull"]


def pull(stores: Stores, ref: str, *, auth: RegistryAuth | None = None, platform: str = "",
         progress: ProgressFn | None = None, config: RegistryConfig | None = None,
         cancel: threading.Event | None = None) -> PullResult:
    """Pull ``ref`` (``busybox``, ``127.0.0.1:5000/x:tag``, ``x@sha256:..``).

    Blocking (run it in a thread). ``platform`` (``linux/arm64/v8``; default: the
    host's) picks the child of an index. ``cancel`` set → the pull stops at the next
    chunk with ``FailedPrecondition("pull cancelled")``, keeping what it finished.
    Errors: ``NotFound`` (manifest unknown), ``PermissionDenied`` (401/403),
    ``Unavailable`` (unreachable, 5xx after retries), ``InvalidArgument`` (bad reference,
    digest mismatch), ``NotImplemented`` (no matching platform).
    """
    raise NotImplementedByDockyard("pull: not implemented yet")
