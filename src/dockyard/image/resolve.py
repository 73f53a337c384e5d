"""Finding images: names as users type them, image IDs and their prefixes, records → images.

Docker's rules: a string is first tried as a reference (``busybox`` →
``docker.io/library/busybox:latest``; ``repo@sha256:…`` names a digest record); if no record
has that name and it looks like an ID (``sha256:<hex>``, or hex digits: a full ID or a
unique prefix of one), it is looked up as an image ID.

``Parsed`` keeps the manifest and config of the images resolved lately, by the digest of
their record's target: content is addressed by digest, so a digest's parse never goes
stale; the records are still looked up on every call (a tag moved, an image removed is
seen at once), and a record keeps its documents from the collector.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

from dockyard.content import ContentStore, read_blob
from dockyard.errors import InvalidArgument, NotFound
from dockyard.metadata import ImageRecord, MetadataStore
from dockyard.oci import mediatypes as mt
from dockyard.oci import reference
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, parse_digest
from dockyard.oci.manifest import (
    ImageConfig,
    Manifest,
    parse_image_config,
    parse_index,
    parse_manifest,
)
from dockyard.oci.platform import Platform, best_match, host_platform

from .model import Image

MAX_DOCUMENT = 8 << 20
_HEX = re.compile(r"(?:sha256:)?([a-f0-9]{1,64})", re.ASCII)


def normalize_name(name: str) -> str:
    """The stored form of a name users type: ``busybox`` → ``docker.io/library/busybox:latest``."""
    ref = reference.parse_normalized_named(name)
    return str(reference.with_default_tag(ref))


def tag_name(repository: str, tag: str = "") -> str:
    """The stored form of ``repository[:tag]`` (``docker tag``'s target): no digest allowed."""
    ref = reference.parse_normalized_named(repository)
    if ref.digest is not None:
        raise InvalidArgument(f"refusing to create a tag with a digest reference: {repository}")
    if tag:
        ref = reference.with_tag(ref, tag)
    return str(reference.with_default_tag(ref))


def read_document(content: ContentStore, digest: Digest, what: str) -> bytes:
    try:
        return read_blob(content, digest, MAX_DOCUMENT)
    except NotFound as e:
        raise NotFound(f"{what} {digest} is missing from the content store") from e


def platform_manifest(content: ContentStore, target: Descriptor,
                      platform: Platform | None = None) -> Manifest:
    """The manifest ``target`` stands for on ``platform`` (the host's by default)."""
    raw = read_document(content, target.digest, "manifest")
    if mt.is_manifest(target.media_type):
        return parse_manifest(raw, target.media_type, str(target.digest))
    if not mt.is_index(target.media_type):
        raise InvalidArgument(f"{target.digest}: media type {target.media_type!r} is not an "
                              "image manifest or index")
    index = parse_index(raw, target.media_type, str(target.digest))
    want = platform or host_platform()
    candidates = [d for d in index.manifests if mt.is_manifest(d.media_type)
                  or mt.is_index(d.media_type)]
    chosen = best_match(want, [d.platform for d in candidates])
    if chosen is None:
        untagged = [d for d in candidates if d.platform is None and mt.is_manifest(d.media_type)]
        if len(untagged) != 1:
            raise NotFound(f"index {target.digest} has no manifest for platform {want}")
        return platform_manifest(content, untagged[0], platform)
    return platform_manifest(content, candidates[chosen], platform)


class Parsed:
    """The host platform's manifest and the config of recently resolved targets, by the
    target's digest and media type (at most ``size``; thread-safe)."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], tuple[Manifest, ImageConfig]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, target: Descriptor) -> tuple[Manifest, ImageConfig] | None:
        key = (str(target.digest), target.media_type)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, target: Descriptor, documents: tuple[Manifest, ImageConfig]) -> None:
        with self._lock:
            self._items[(str(target.digest), target.media_type)] = documents
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def image_of_records(content: ContentStore, records: list[ImageRecord],
                     prefer: ImageRecord | None = None, parsed: Parsed | None = None) -> Image:
    """The image the records (all of one image ID) describe (``parsed``: documents
    parsed before, and where to keep these)."""
    if not records:
        raise NotFound("image not found")
    first = prefer or next((r for r in records if not r.dangling), records[0])
    documents = parsed.get(first.target) if parsed is not None else None
    if documents is None:
        manifest = platform_manifest(content, first.target)
        raw = read_document(content, manifest.config.digest, "image config")
        documents = manifest, parse_image_config(raw, str(manifest.config.digest))
        if parsed is not None:
            parsed.put(first.target, documents)
    manifest, config = documents
    return Image(id=config.digest, target=first.target, manifest=manifest, config=config,
                 records=tuple(records))


def _lookup_id(meta: MetadataStore, text: str) -> Digest | None:
    m = _HEX.fullmatch(text)
    if m is None:
        return None
    prefix = m.group(1)
    if len(prefix) == 64:
        d = parse_digest("sha256:" + prefix)
        return d if meta.images.by_image_id(d) else None
    found = [d for d in meta.images.image_ids() if d.hex.startswith(prefix)]
    if len(found) > 1:
        raise InvalidArgument(f"{text}: ambiguous image ID prefix ({len(found)} images)")
    return found[0] if found else None


def find_record(meta: MetadataStore, text: str) -> ImageRecord | None:
    """The record ``text`` names as a reference, if it parses as one and exists."""
    try:
        name = normalize_name(text)
    except InvalidArgument:
        return None
    try:
        return meta.images.get(name)
    except NotFound:
        return None


def resolve(content: ContentStore, meta: MetadataStore, text: str,
            parsed: Parsed | None = None) -> Image:
    """The image ``text`` names (a reference, an ID or a unique ID prefix); ``NotFound``.
    ``parsed``: see ``Parsed``."""
    if not text:
        raise InvalidArgument("empty image name")
    record = find_record(meta, text)
    if record is not None:
        return image_of_records(content, meta.images.by_image_id(record.image_id), record,
                                parsed)
    image_id = _lookup_id(meta, text)
    if image_id is not None:
        return image_of_records(content, meta.images.by_image_id(image_id), parsed=parsed)
    raise NotFound(f"No such image: {shown_name(text)}")


def shown_name(text: str) -> str:
    """How Docker names a missing image: ``busybox`` → ``busybox:latest`` (an ID or an ID
    prefix as given); a string that is neither is an ``invalid reference format``."""
    if _HEX.fullmatch(text):
        return text
    try:
        ref = reference.parse_normalized_named(text)
    except InvalidArgument:
        if _HEX.fullmatch(text.removeprefix("sha256:")):
            return text
        raise
    return reference.familiar_string(reference.with_default_tag(ref))


def all_images(content: ContentStore, meta: MetadataStore) -> list[Image]:
    """Every image (one per image ID), oldest record first."""
    groups: dict[Digest, list[ImageRecord]] = {}
    for r in meta.images.all():
        groups.setdefault(r.image_id, []).append(r)
    images = [image_of_records(content, recs) for recs in groups.values()]
    return sorted(images, key=lambda i: (i.created_at, str(i.id)))
