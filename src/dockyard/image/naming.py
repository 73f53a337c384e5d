"""Names on and off images: ``docker tag``, ``docker rmi`` and ``docker image prune``.

The removal rules are moby's (``daemon/images/image_delete.go``):

- ``rmi <name>`` untags that name. Untagging the last tag of a repository also untags the
  image's digest references in that repository. If the image keeps another name, that is
  all; if that was its last name, the image is deleted too, unless a container uses it
  (then it quietly stays, nameless: a dangling image).
- ``rmi <id>`` (or an ID prefix) deletes the image with all its names, provided it has at
  most one tag and all its names are in one repository; otherwise ``Conflict`` ("referenced
  in multiple repositories") unless forced.
- An image used by a container (a lease names it) is not deleted without force
  (``Conflict``: "must be forced"); one used by a running container (a *hard* lease) is
  never deleted ("cannot be forced").

Deleting an image removes its records; the blobs and snapshots go at the next garbage
collection (the service runs one right after).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.metadata import ImageRecord, Lease, Resource
from dockyard.oci import reference
from dockyard.oci.digest import Digest

from .model import DeleteItem, Image
from .resolve import all_images, find_record, resolve, tag_name
from .stores import Stores
from .times import parse_time, parse_time_or_zero

log = logging.getLogger(__name__)


def familiar(name: str) -> str:
    return reference.familiar_string(reference.parse(name))


def tag(stores: Stores, source: str, target: str, tag_: str = "") -> Image:
    """``docker tag SOURCE TARGET[:TAG]``: point the name at the source image."""
    image = resolve(stores.content, stores.meta, source)
    stores.meta.images.set_names([tag_name(target, tag_)], image.id, image.target)
    return resolve(stores.content, stores.meta, str(image.id))


def users(stores: Stores, image_id: Digest) -> list[Lease]:
    """The leases (containers) that use the image."""
    return stores.meta.leases.holders(Resource.image(image_id))


def _check_users(stores: Stores, image_id: Digest, force: bool) -> None:
    holders = users(stores, image_id)
    hard = [lease for lease in holders if lease.hard]
    if hard:
        raise Conflict(f"conflict: unable to delete {image_id.short()} (cannot be forced) - "
                       f"image is being used by running container {hard[0].id}")
    if holders and not force:
        raise Conflict(f"conflict: unable to delete {image_id.short()} (must be forced) - "
                       f"image is being used by stopped container {holders[0].id}")


def _is_id_text(image_id: Digest, text: str) -> bool:
    t = text.removeprefix("sha256:")
    return bool(re.fullmatch(r"[a-f0-9]+", t)) and image_id.hex.startswith(t)


def _named(records: Sequence[ImageRecord]) -> list[ImageRecord]:
    return [r for r in records if not r.dangling]


def remove(stores: Stores, text: str, *, force: bool = False) -> list[DeleteItem]:
    """``docker rmi [-f] text`` (see the module docstring); what was untagged and deleted."""
    meta = stores.meta
    record = find_record(meta, text)
    if record is not None and not record.dangling and not _is_id_text(record.image_id, text):
        return _remove_name(stores, record)
    image = resolve(stores.content, meta, text)
    named = _named(image.records)
    refs = [reference.parse(r.name) for r in named]
    tags = [r for r in refs if r.digest is None]
    one_repo = len({r.name for r in refs}) <= 1
    if named and not force and not (len(tags) <= 1 and one_repo):
        raise Conflict(f"conflict: unable to delete {image.id.short()} (must be forced) - "
                       "image is referenced in multiple repositories")
    _check_users(stores, image.id, force)
    return _delete_image(stores, image.id)


def _delete_image(stores: Stores, image_id: Digest) -> list[DeleteItem]:
    removed = stores.meta.images.delete_image(image_id)
    items = [DeleteItem(untagged=familiar(r.name)) for r in _named(removed)]
    items.append(DeleteItem(deleted=str(image_id)))
    log.info("deleted image %s (%d names)", image_id.short(), len(items) - 1)
    return items


def _remove_name(stores: Stores, record: ImageRecord) -> list[DeleteItem]:
    meta = stores.meta
    meta.images.delete(record.name, keep_dangling=True)
    items = [DeleteItem(untagged=familiar(record.name))]
    ref = reference.parse(record.name)
    remaining = _named(meta.images.by_image_id(record.image_id))
    if ref.digest is None:
        same_repo = [(r, reference.parse(r.name)) for r in remaining]
        if not any(p.name == ref.name and p.digest is None for _, p in same_repo):
            for r, p in same_repo:
                if p.name == ref.name and p.digest is not None:
                    meta.images.delete(r.name, keep_dangling=True)
                    items.append(DeleteItem(untagged=familiar(r.name)))
            remaining = _named(meta.images.by_image_id(record.image_id))
    if remaining:
        return items
    if users(stores, record.image_id):
        log.info("image %s lost its last name but a container uses it: kept",
                 record.image_id.short())
        return items
    return items + [i for i in _delete_image(stores, record.image_id) if i.deleted]


# --------------------------------------------------------------------------- prune


def parse_until(value: str, now: float | None = None) -> float:
    """A Docker ``until`` filter: unix seconds, an RFC 3339 time, or a duration (``24h``,
    ``1h30m``, ``90s``) before now."""
    t = time.time() if now is None else now
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", value)
    if m and value:
        h, mi, s = m.groups()
        return t - (int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0))
    return parse_time(value)


def labels_match(labels: Mapping[str, str], wanted: Sequence[str]) -> bool:
    """Every ``key`` or ``key=value`` in ``wanted`` holds for ``labels``."""
    for w in wanted:
        key, eq, value = w.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def check_filters(filters: Mapping[str, Sequence[str]], allowed: set[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")


def prune_candidates(stores: Stores, *, all_unused: bool = False,
                     filters: Mapping[str, Sequence[str]] | None = None) -> list[Image]:
    """The images ``docker image prune [-a]`` would delete."""
    f = dict(filters or {})
    check_filters(f, {"until", "label", "label!", "dangling"})
    if "dangling" in f and any(v.lower() in ("false", "0") for v in f["dangling"]):
        all_unused = True
    until = min((parse_until(v) for v in f.get("until", [])), default=None)
    out = []
    for image in all_images(stores.content, stores.meta):
        if not all_unused and not image.dangling:
            continue
        if users(stores, image.id):
            continue
        created = parse_time_or_zero(image.config.created)
        if until is not None and created >= until:
            continue
        labels = image.config.config.labels
        if f.get("label") and not labels_match(labels, f["label"]):
            continue
        if f.get("label!") and any(labels_match(labels, [w]) for w in f["label!"]):
            continue
        out.append(image)
    return out


def prune(stores: Stores, *, all_unused: bool = False,
          filters: Mapping[str, Sequence[str]] | None = None) -> list[DeleteItem]:
    """Delete the prune candidates; what was untagged and deleted."""
    items: list[DeleteItem] = []
    for image in prune_candidates(stores, all_unused=all_unused, filters=filters):
        try:
            items += _delete_image(stores, image.id)
        except NotFound:
            continue  # removed meanwhile
    return items
