"""The daemon's use of the image service beyond containers (for now: counting for /info)."""

from __future__ import annotations

from dockyard.image import ImageService


class ImageCounter:
    """``SystemService``'s ``ImageCounts`` over the image service (blocking)."""

    def __init__(self, images: ImageService) -> None:
        self.images = images

    def count(self) -> int:
        return len(self.images.images())
