"""``GET /system/df`` (``SystemDataUsageResponse``) and the size fields of
``GET /containers/json?size=true``, in Docker's JSON.

The sizes come from ``dockyard.daemon.diskuse`` (which says what they count: a
container's ``SizeRw`` includes its log files). A kind left out with ``type=`` is absent
from the answer, as dockerd leaves it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dockyard.apitypes.containers import summary_json
from dockyard.apitypes.images import ImageSummary
from dockyard.apitypes.images import summary_json as image_summary_json
from dockyard.daemon.containers.model import Container
from dockyard.daemon.resourcetypes import DISK_USAGE_KINDS, ContainerSize
from dockyard.errors import InvalidArgument

__all__ = ["ContainerSize", "ImageSummary", "df_json", "parse_kinds", "sized_summary_json"]


def sized_summary_json(c: Container, size: ContainerSize) -> dict[str, Any]:
    """A ``docker ps -s`` row: the summary with ``SizeRw`` and ``SizeRootFs``."""
    out = summary_json(c)
    out["SizeRw"] = size.rw
    out["SizeRootFs"] = size.root_fs
    return out


def parse_kinds(values: Sequence[str]) -> set[str]:
    """The ``type`` query values (repeatable: ``container``, ``image``, ``volume``,
    ``build-cache``); none means all."""
    for v in values:
        if v not in DISK_USAGE_KINDS:
            raise InvalidArgument(f"unknown object type: {v}")
    return set(values) or set(DISK_USAGE_KINDS)


def df_json(kinds: set[str], version: str, *,
            containers: Sequence[tuple[Container, ContainerSize]] = (),
            layers_size: int = 0, images: Sequence[ImageSummary] = ()) -> dict[str, Any]:
    """The answer for the ``kinds`` asked (dockyard has no volumes or build cache yet:
    empty lists)."""
    out: dict[str, Any] = {}
    if "image" in kinds:
        out["LayersSize"] = layers_size
        out["Images"] = [image_summary_json(i, version) for i in images]
    if "container" in kinds:
        out["Containers"] = [sized_summary_json(c, s) for c, s in containers]
    if "volume" in kinds:
        out["Volumes"] = []
    if "build-cache" in kinds:
        out["BuildCache"] = []
    return out
