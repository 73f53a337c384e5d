"""The values the image service hands out: images, and the reports of its operations.

``to_json`` methods give Docker's wire shapes (``ImageSummary``,
``ImageDeleteResponseItem``, ``ImagePruneResponse``), which the daemon sends as they are.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from dockyard.metadata import ImageRecord
from dockyard.oci import reference
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.manifest import ImageConfig, Manifest


class Image(NamedTuple):
    """An image as stored: its identity, what its records point at, and its documents."""

    id: Digest
    """The digest of the config bytes (Docker's image ID)."""
    target: Descriptor
    """What the records point at: the manifest, or an index holding it."""
    manifest: Manifest
    """The manifest for this host's platform (``target`` itself unless it is an index)."""
    config: ImageConfig
    records: tuple[ImageRecord, ...]

    @property
    def names(self) -> tuple[reference.Reference, ...]:
        """The parsed names (dangling records excluded), sorted."""
        return tuple(reference.parse(r.name) for r in self.records if not r.dangling)

    @property
    def repo_tags(self) -> list[str]:
        """``busybox:latest``: the familiar form of each tag reference."""
        return sorted(reference.familiar_string(n) for n in self.names if n.tag and
                      n.digest is None)

    @property
    def repo_digests(self) -> list[str]:
        """``busybox@sha256:…``: the familiar form of each digest reference."""
        return sorted(reference.familiar_string(n._replace(tag="")) for n in self.names
                      if n.digest is not None)

    @property
    def dangling(self) -> bool:
        return all(r.dangling for r in self.records)

    @property
    def created_at(self) -> float:
        """When the records were first made (the earliest one)."""
        return min((r.created for r in self.records), default=0.0)


class UnpackResult(NamedTuple):
    chain_id: Digest | None
    """The top snapshot (``None``: an image without layers)."""
    unpacked: int
    """Layers applied now."""
    skipped: int
    """Layers whose snapshot was there already."""


class DeleteItem(NamedTuple):
    """One line of ``docker rmi``: a name removed, or an image deleted."""

    untagged: str = ""
    deleted: str = ""

    def to_json(self) -> dict[str, str]:
        return {"Untagged": self.untagged} if self.untagged else {"Deleted": self.deleted}


class PruneReport(NamedTuple):
    deleted: tuple[DeleteItem, ...]
    space_reclaimed: int

    def to_json(self) -> dict[str, Any]:
        return {"ImagesDeleted": [d.to_json() for d in self.deleted] or None,
                "SpaceReclaimed": self.space_reclaimed}


class ImageSummary(NamedTuple):
    """A row of ``docker images`` (Docker's ``ImageSummary``)."""

    id: Digest
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    created: int
    size: int
    labels: dict[str, str]
    containers: int
    shared_size: int = -1
    """-1: not computed (Docker's value unless ``shared-size`` is asked for)."""

    def to_json(self) -> dict[str, Any]:
        return {"Id": str(self.id), "ParentId": "", "RepoTags": list(self.repo_tags),
                "RepoDigests": list(self.repo_digests), "Created": self.created,
                "Size": self.size, "SharedSize": self.shared_size,
                "Labels": self.labels or None, "Containers": self.containers}


class LoadedImage(NamedTuple):
    """One image a load brought in, with the names it was given."""

    id: Digest
    names: tuple[str, ...]

    def messages(self) -> list[str]:
        """What ``docker load`` prints for it."""
        if not self.names:
            return [f"Loaded image ID: {self.id}"]
        return [f"Loaded image: {reference.familiar_string(reference.parse(n))}"
                for n in self.names]
