"""Images: unpack, import, tag/remove/list/inspect/history/prune, save/load, base images.

``ImageService`` (``service``) is the API the daemon serves; ``Stores`` (``stores``) opens
the content store, a snapshotter and the metadata under one data root. The values it
returns are in ``model``. ``busybox.make_busybox_rootfs`` makes a plain busybox tree.
"""

from __future__ import annotations

from .model import (
    DeleteItem,
    Image,
    ImageSummary,
    LoadedImage,
    PruneReport,
    UnpackResult,
)
from .service import ImageService
from .stores import Stores

__all__ = [
    "DeleteItem",
    "Image",
    "ImageService",
    "ImageSummary",
    "LoadedImage",
    "PruneReport",
    "Stores",
    "UnpackResult",
]
