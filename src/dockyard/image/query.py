"""Reading images: ``docker images`` (with filters), ``docker image inspect``, ``docker history``.

``inspect`` and ``history`` return Docker's wire shapes (``ImageInspect``,
``HistoryResponseItem``) as dicts: they are what the Engine API sends.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci import reference
from dockyard.oci.digest import Digest
from dockyard.oci.manifest import chain_ids

from .commit import PARENT_LABEL
from .model import Image, ImageSummary
from .naming import check_filters, labels_match, parse_until, users
from .resolve import all_images, resolve
from .stores import Stores
from .times import ZERO_TIME, format_time, parse_time_or_zero

_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
    "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
    "StdinOnce": False, "Env": None, "Cmd": None, "Image": "", "Volumes": None,
    "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
}


def layer_sizes(stores: Stores, image: Image) -> list[int]:
    """Bytes per layer: what unpacking wrote when known, else the blob's size."""
    out = []
    chains = chain_ids(image.config.diff_ids)
    for i, layer in enumerate(image.manifest.layers):
        size = layer.size
        if i < len(chains):
            row = stores.meta.layers.find(stores.snapshotter_name, chains[i])
            if row is not None and row.unpacked_size > 0:
                size = row.unpacked_size
        out.append(size)
    return out


def image_size(stores: Stores, image: Image) -> int:
    return sum(layer_sizes(stores, image))


def _ref_matches(pattern: str, ref: reference.Reference) -> bool:
    """Docker's ``FamiliarMatch``: the pattern against ``busybox:latest``, then ``busybox``."""
    return (fnmatch.fnmatchcase(reference.familiar_string(ref), pattern)
            or fnmatch.fnmatchcase(reference.familiar_name(ref), pattern))


def _bool_filter(values: Sequence[str], name: str) -> bool:
    out = set()
    for v in values:
        if v.lower() in ("true", "1"):
            out.add(True)
        elif v.lower() in ("false", "0"):
            out.add(False)
        else:
            raise InvalidArgument(f"invalid filter '{name}={v}'")
    if len(out) != 1:
        raise InvalidArgument(f"conflicting filter values for '{name}'")
    return out.pop()


def _shared_sizes(stores: Stores, images: Sequence[Image]) -> dict[Digest, int]:
    """Per image, the bytes of its layers that another image has too (Docker's
    ``SharedSize``: layers are shared by chain id)."""
    layers = {}
    owners: dict[Digest, int] = {}
    for image in images:
        chains = chain_ids(image.config.diff_ids)
        layers[image.id] = list(zip(chains, layer_sizes(stores, image), strict=False))
        for chain in set(chains):
            owners[chain] = owners.get(chain, 0) + 1
    return {image_id: sum(size for chain, size in rows if owners[chain] > 1)
            for image_id, rows in layers.items()}


def list_images(stores: Stores, filters: Mapping[str, Sequence[str]] | None = None, *,
                shared_size: bool = False) -> list[ImageSummary]:
    """``docker images``: newest first. Filters (Docker's): ``dangling``, ``reference``
    (globs), ``label`` (``key`` or ``key=value``), ``before``, ``since`` (image names or
    IDs), ``until`` (a time or a duration before now)."""
    f = dict(filters or {})
    check_filters(f, {"dangling", "reference", "label", "before", "since", "until"})
    dangling = _bool_filter(f["dangling"], "dangling") if f.get("dangling") else None
    before = min((parse_time_or_zero(resolve(stores.content, stores.meta, v).config.created)
                  for v in f.get("before", [])), default=None)
    since = max((parse_time_or_zero(resolve(stores.content, stores.meta, v).config.created)
                 for v in f.get("since", [])), default=None)
    until = min((parse_until(v) for v in f.get("until", [])), default=None)
    images = all_images(stores.content, stores.meta)
    shared = _shared_sizes(stores, images) if shared_size else {}
    out = []
    for image in images:
        created = parse_time_or_zero(image.config.created)
        if dangling is not None and image.dangling != dangling:
            continue
        if before is not None and created >= before:
            continue
        if since is not None and created <= since:
            continue
        if until is not None and created >= until:
            continue
        if f.get("label") and not labels_match(image.config.config.labels, f["label"]):
            continue
        names = image.names
        if f.get("reference"):
            names = tuple(n for n in names if any(_ref_matches(p, n) for p in f["reference"]))
            if not names:
                continue
        tags = sorted(reference.familiar_string(n) for n in names if n.digest is None)
        digests = sorted(reference.familiar_string(n._replace(tag="")) for n in names
                         if n.digest is not None)
        out.append(ImageSummary(id=image.id, repo_tags=tuple(tags), repo_digests=tuple(digests),
                                created=int(created), size=image_size(stores, image),
                                labels=dict(image.config.config.labels),
                                containers=len(users(stores, image.id)),
                                shared_size=shared.get(image.id, -1)))
    out.sort(key=lambda s: (s.created, str(s.id)), reverse=True)
    return out


def inspect(stores: Stores, image: Image) -> dict[str, Any]:
    """Docker's ``ImageInspect`` for ``image``."""
    raw = json.loads(image.config.raw)
    cfg = raw.get("config")
    config = dict(_CONFIG_DEFAULTS)
    if isinstance(cfg, dict):
        config.update(cfg)
    last_tag = max((r.updated for r in image.records if not r.dangling), default=None)
    out: dict[str, Any] = {
        "Id": str(image.id),
        "RepoTags": image.repo_tags,
        "RepoDigests": image.repo_digests,
        "Parent": _parent(image),
        "Comment": raw.get("comment") if isinstance(raw.get("comment"), str) else "",
        "Created": image.config.created or ZERO_TIME,
        "DockerVersion": raw.get("docker_version") or "",
        "Author": image.config.author,
        "Config": config,
        "Architecture": image.config.architecture,
        "Os": image.config.os,
        "Size": image_size(stores, image),
        "GraphDriver": {"Name": stores.snapshotter_name, "Data": {}},
        "RootFS": {"Type": "layers", "Layers": [str(d) for d in image.config.diff_ids]},
        "Metadata": {"LastTagTime": format_time(last_tag) if last_tag else ZERO_TIME},
    }
    if image.config.variant:
        out["Variant"] = image.config.variant
    if image.config.os_version:
        out["OsVersion"] = image.config.os_version
    return out


def _parent(image: Image) -> str:
    return next((r.labels[PARENT_LABEL] for r in image.records if PARENT_LABEL in r.labels), "")


def history(stores: Stores, image: Image) -> list[dict[str, Any]]:
    """``docker history``: newest first; layers matched to non-empty entries in order.
    The newest row is the image itself; the rows below it are its parent's, the parent's
    parent's... (a commit's ``Parent``) while those images are here, as moby's
    ``ImageHistory`` walks them (their IDs and tags); the rest are ``<missing>``."""
    sizes = layer_sizes(stores, image)
    rows: list[dict[str, Any]] = []
    layer = 0
    for entry in image.config.history:
        size = 0
        if not entry.empty_layer:
            size = sizes[layer] if layer < len(sizes) else 0
            layer += 1
        rows.append({"Id": "<missing>", "Created": int(parse_time_or_zero(entry.created)),
                     "CreatedBy": entry.created_by, "Tags": None, "Size": size,
                     "Comment": entry.comment})
    if not rows:
        rows = [{"Id": "<missing>", "Created": int(parse_time_or_zero(image.config.created)),
                 "CreatedBy": "", "Tags": None, "Size": sum(sizes), "Comment": ""}]
    rows.reverse()
    current: Image | None = image
    for row in rows:
        if current is None:
            break
        row["Id"] = str(current.id)
        row["Tags"] = current.repo_tags or None
        parent = _parent(current)
        current = None
        if parent:
            try:
                current = resolve(stores.content, stores.meta, parent)
            except (NotFound, InvalidArgument):
                pass  # removed since (or a label not an ID): the rest stays <missing>
    return rows
