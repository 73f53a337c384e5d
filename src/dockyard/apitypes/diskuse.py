"""``GET /system/df`` (``SystemDataUsageResponse``) and the size fields of
``GET /containers/json?size=true``, in Docker's JSON.

The sizes come from ``dockyard.daemon.diskuse`` (which says what they count: a
container's ``SizeRw`` includes its log files). A kind left out with ``type=`` is absent
from the answer, as dockerd leaves it out.
"""

from __future__ import annotations

from typing import Any

from dockyard.apitypes.containers import summary_json
from dockyard.apitypes.images import summary_json as image_summary_json
from dockyard.daemon.containers.model import Container
from dockyard.daemon.diskuse import KINDS, ContainerSize, DiskUsage
from dockyard.errors import InvalidArgument

__all__ = ["ContainerSize", "DiskUsage", "df_json", "parse_kinds", "sized_summary_json"]


def sized_summary_json(c: Container, size: ContainerSize) -> dict[str, Any]:
    """A ``docker ps -s`` row: the summary with ``SizeRw`` and ``SizeRootFs``."""
    out = summary_json(c)
    out["SizeRw"] = size.rw
    out["SizeRootFs"] = size.root_fs
    return out


def parse_kinds(values: list[str]) -> list[str]:
    """The ``type`` query values (repeated; ``container``, ``image``, ``volume``,
    ``build-cache``)."""
    for v in values:
        if v not in KINDS:
            raise InvalidArgument(f"unknown object type: {v}")
    return values


def df_json(du: DiskUsage, version: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if du.layers_size is not None:
        out["LayersSize"] = du.layers_size
    if du.images is not None:
        out["Images"] = [image_summary_json(i, version) for i in du.images]
    if du.containers is not None:
        out["Containers"] = [sized_summary_json(c, s) for c, s in du.containers]
    if du.volumes is not None:
        out["Volumes"] = []
    if du.build_cache is not None:
        out["BuildCache"] = []
    return out
