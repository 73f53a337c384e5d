"""The progress of a pull or a push: one value per line of Docker's JSON stream.

``Progress`` is what the daemon turns into ``{"status": .., "progressDetail": {"current":
.., "total": ..}, "id": ..}``; the statuses and ids are Docker's so that the docker CLI
draws its progress bars from them. Callbacks run on worker threads (one per layer): they
must be thread-safe and cheap (put the value on a queue).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .model import Image


@dataclass(frozen=True, slots=True)
class Progress:
    """One line of Docker's JSON progress stream.

    Pull statuses: ``Pulling from <repository path>`` (id: the tag or digest),
    ``Pulling fs layer``, ``Waiting``, ``Downloading`` (current/total), ``Verifying
    Checksum``, ``Download complete``, ``Extracting`` (current/total), ``Pull complete``,
    ``Already exists`` (ids: the first 12 hex of the layer digest), then ``Digest:
    sha256:..`` and ``Status: Downloaded newer image for <ref>`` / ``Status: Image is up
    to date for <ref>`` (no id).

    Push statuses: ``The push refers to repository [<repo>]``, ``Preparing``,
    ``Waiting``, ``Pushing`` (current/total), ``Pushed``, ``Layer already exists``,
    ``Mounted from <repo>`` (ids: 12 hex of the layer digest), then ``<tag>: digest:
    sha256:.. size: N`` (no id).
    """

    status: str
    id: str = ""
    current: int | None = None
    total: int | None = None


ProgressFn = Callable[[Progress], None]
"""Called from worker threads; must be thread-safe and cheap."""


def no_progress(_: Progress) -> None:
    """The default callback: drop everything."""


@dataclass(frozen=True, slots=True)
class PullResult:
    image: Image
    digest: str
    """The manifest (or index) digest pulled."""
    reference: str
    """The familiar name pulled (``busybox:latest``, ``127.0.0.1:5000/x@sha256:..``)."""
    updated: bool
    """False: the image was there already (``Image is up to date for ...``)."""


@dataclass(frozen=True, slots=True)
class PushResult:
    tag: str
    """The tag pushed (``""`` for a push by digest)."""
    digest: str
    """The manifest digest the registry stored."""
    size: int
    """The manifest's size in bytes (``<tag>: digest: sha256:.. size: N``)."""
