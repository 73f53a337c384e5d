"""Names on and off images: ``docker tag``, ``docker rmi`` and ``docker image prune``.

The removal rules are moby's (``daemon/images/image_delete.go``); who uses an image comes
from the caller (``UsersOf``: the daemon knows its containers and which run), merged with
the leases (a container's lease names its image; a *hard* lease is a running one):

- ``rmi <name>`` untags that name. Untagging the last tag of a repository also untags the
  image's digest references in that repository. If the image keeps another name, that is
  all; if that was its last name, the image is deleted too, unless a container uses it
  (then it quietly stays, nameless: a dangling image). Without force, the only name of an
  image a container uses is not removed at all (``Conflict``: "unable to remove
  repository reference ... (must force)").
- ``rmi <id>`` (or an ID prefix) deletes the image with all its names, provided it has at
  most one tag and all its names are in one repository; otherwise ``Conflict`` ("referenced
  in multiple repositories") unless forced.
- An image used by a stopped container is not deleted without force (``Conflict``: "must
  be forced"); one used by a running container is never deleted ("cannot be forced").

Deleting an image removes its records; the blobs and snapshots go at the next garbage
collection (the service runs one right after).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.metadata import ImageRecord, Lease, Resource
from dockyard.oci import reference
from dockyard.oci.digest import Digest

from .model import DeleteItem, Image
from .resolve import all_images, normalize_name, resolve, tag_name
from .stores import Stores
from .times import parse_time, parse_time_or_zero

log = logging.getLogger(__name__)


def familiar(name: str) -> str:
    return reference.familiar_string(reference.parse(name))


def tag(stores: Stores, source: str, target: str, tag_: str = "") -> Image:
    """``docker tag SOURCE TARGET[:TAG]``: point the name at the source image."""
    image = resolve(stores.content, stores.meta, source)
    # The image's record labels go with it (a committed image's parent, as moby's tag).
    labels = next((r.labels for r in image.records if r.labels), None)
    stores.meta.images.set_names([tag_name(target, tag_)], image.id, image.target, labels)
    return resolve(stores.content, stores.meta, str(image.id))


class ImageUser(NamedTuple):
    """A container that uses an image, as the removal rules need it."""

    container_id: str
    running: bool


UsersOf = Callable[[Digest], Sequence[ImageUser]]
"""The containers using an image (the daemon knows them; ``lease_users`` is the fallback)."""

CONTAINER_LABEL = "dockyard.container"


def users(stores: Stores, image_id: Digest) -> list[Lease]:
    """The leases (containers) that use the image."""
    return stores.meta.leases.holders(Resource.image(image_id))


def lease_users(stores: Stores) -> UsersOf:
    """Users as the leases tell them: a hard lease is a running container."""
    def users_of(image_id: Digest) -> list[ImageUser]:
        return [ImageUser(lease.labels.get(CONTAINER_LABEL, lease.id), lease.hard)
                for lease in users(stores, image_id)]
    return users_of


def _merged_users(stores: Stores, users_of: UsersOf | None) -> UsersOf:
    """The users given, plus any lease the caller did not know of (a container created
    meanwhile): a lease protects the image whatever the caller said."""
    by_lease = lease_users(stores)
    if users_of is None:
        return by_lease
    given = users_of

    def merged(image_id: Digest) -> list[ImageUser]:
        out = list(given(image_id))
        known = {u.container_id for u in out}
        out += [u for u in by_lease(image_id) if u.container_id not in known]
        return out
    return merged


class _Conflict(Conflict):
    """moby's ``imageDeleteConflict``: hard ones cannot be forced; ``used``: by a container."""

    def __init__(self, image_id: Digest, message: str, *, hard: bool = False,
                 used: bool = False) -> None:
        force = "cannot be forced" if hard else "must be forced"
        super().__init__(f"conflict: unable to delete {image_id.short()} ({force}) - "
                         f"{message}")
        self.used = used


def _is_id_text(image_id: Digest, text: str) -> bool:
    """moby ``isImageIDPrefix``: ``text`` is a prefix of ``sha256:<hex>`` or of ``<hex>``."""
    return str(image_id).startswith(text) or image_id.hex.startswith(text)


def _named(records: Sequence[ImageRecord]) -> list[ImageRecord]:
    return [r for r in records if not r.dangling]


def _single_reference(refs: Sequence[reference.Reference]) -> bool:
    """moby ``isSingleReference``: at most one tag and every name in one repository
    (false when there are none)."""
    if len(refs) <= 1:
        return len(refs) == 1
    tags = [r for r in refs if r.digest is None]
    if len(tags) > 1:
        return False
    digest_repos = {r.name for r in refs if r.digest is not None}
    single = tags[0] if tags else refs[0]
    return len(digest_repos) == 1 and single.name in digest_repos


def remove(stores: Stores, text: str, *, force: bool = False,
           users_of: UsersOf | None = None) -> list[DeleteItem]:
    """``docker rmi [-f] text`` (see the module docstring); what was untagged and deleted."""
    meta = stores.meta
    who = _merged_users(stores, users_of)
    image = resolve(stores.content, meta, text)
    refs = [reference.parse(r.name) for r in _named(image.records)]
    items: list[DeleteItem] = []
    if not _is_id_text(image.id, text):
        # A name: untag it (refused without force when it is the image's only reference
        # and a container uses the image: the image would be left dangling).
        if not force and _single_reference(refs):
            used = who(image.id)
            if used:
                raise Conflict(f"conflict: unable to remove repository reference \"{text}\" "
                               f"(must force) - container {used[0].container_id[:12]} is "
                               f"using its referenced image {image.id.short()}")
        items += _untag(stores, image.id, normalize_name(text))
        if _named(meta.images.by_image_id(image.id)):
            return items
        _delete(stores, image.id, items, force=force, quiet=True, users_of=who)
        return items
    if _single_reference(refs):
        _check(stores, image.id, who, force=force, references=False)
        for r in _named(meta.images.by_image_id(image.id)):
            meta.images.delete(r.name, keep_dangling=True)
            items.append(DeleteItem(untagged=familiar(r.name)))
    _delete(stores, image.id, items, force=force, quiet=False, users_of=who)
    return items


def _untag(stores: Stores, image_id: Digest, name: str) -> list[DeleteItem]:
    """Remove the name; the last tag of a repository takes its digest names along."""
    meta = stores.meta
    meta.images.delete(name, keep_dangling=True)
    items = [DeleteItem(untagged=familiar(name))]
    ref = reference.parse(name)
    if ref.digest is None:
        remaining = [(r, reference.parse(r.name)) for r in _named(meta.images.by_image_id(
            image_id))]
        if not any(p.name == ref.name and p.digest is None for _, p in remaining):
            for r, p in remaining:
                if p.name == ref.name and p.digest is not None:
                    meta.images.delete(r.name, keep_dangling=True)
                    items.append(DeleteItem(untagged=familiar(r.name)))
    return items


def _check(stores: Stores, image_id: Digest, users_of: UsersOf, *, force: bool,
           references: bool = True) -> None:
    """moby ``checkImageDeleteConflict``: a running container (hard), then, unless
    forced, names left (when ``references``) and stopped containers."""
    used = users_of(image_id)
    running = [u for u in used if u.running]
    if running:
        raise _Conflict(image_id, "image is being used by running container "
                        f"{running[0].container_id[:12]}", hard=True, used=True)
    if force:
        return
    if references and _named(stores.meta.images.by_image_id(image_id)):
        raise _Conflict(image_id, "image is referenced in multiple repositories")
    if used:
        raise _Conflict(image_id, "image is being used by stopped container "
                        f"{used[0].container_id[:12]}", used=True)


def _delete(stores: Stores, image_id: Digest, items: list[DeleteItem], *, force: bool,
            quiet: bool, users_of: UsersOf) -> None:
    """moby ``imageDeleteHelper``: delete the image unless a conflict stops it. ``quiet``
    (after untagging its last name): a container using it keeps it, silently."""
    try:
        _check(stores, image_id, users_of, force=force)
    except _Conflict as conflict:
        if quiet and conflict.used:
            log.info("image %s lost its last name but a container uses it: kept",
                     image_id.short())
            return
        raise
    items += _delete_image(stores, image_id)


def _delete_image(stores: Stores, image_id: Digest) -> list[DeleteItem]:
    removed = stores.meta.images.delete_image(image_id)
    items = [DeleteItem(untagged=familiar(r.name)) for r in _named(removed)]
    items.append(DeleteItem(deleted=str(image_id)))
    log.info("deleted image %s (%d names)", image_id.short(), len(items) - 1)
    return items


# --------------------------------------------------------------------------- prune


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                   "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_until(value: str, now: float | None = None) -> float:
    """A Docker ``until`` filter: unix seconds, an RFC 3339 time, or a Go duration
    (``24h``, ``1h30m``, ``1.5h``, ``90s``, ``500ms``) before now."""
    t = time.time() if now is None else now
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = _DURATION.findall(value)
    if parts and "".join(a + b for a, b in parts) == value:
        return t - sum(float(a) * _DURATION_UNITS[b] for a, b in parts)
    try:
        return parse_time(value)
    except InvalidArgument:
        raise InvalidArgument(
            f'failed to parse value as time or duration: "{value}"') from None


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
    for value in f.get("dangling", []):
        if value.lower() not in ("true", "1", "false", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")
        if value.lower() in ("false", "0"):
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
        if f.get("label!") and labels_match(labels, f["label!"]):
            continue  # moby: left out when every label! filter matches
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
