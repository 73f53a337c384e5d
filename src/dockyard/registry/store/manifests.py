"""Manifests, tags and referrers of repositories.

A manifest is stored as a blob (its bytes exactly as pushed: its digest is theirs) plus
a revision link in the repository, written last, beside the ``Content-Type`` it was
pushed with, which is what it is served as: a manifest without a ``mediaType`` field
comes back as it went in. A tag is a link to a revision. A manifest with a ``subject``
adds its descriptor to the subject's referrers index when it is pushed, so the referrers
API answers without reading every manifest.

``put`` validates (see ``ManifestPolicy``): the document parses as the type it claims,
its size is bounded, the digest in the URL matches, and (when ``require_blobs``) the
config and layers it references are blobs of the repository and an index's children are
manifests of it. Validation and the revision link happen under the ``gc`` lock held
shared, so a garbage collection (which holds it exclusively) never sweeps a blob between
the check and the link.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dockyard.errors import InvalidArgument, NotFound, NotImplementedByDockyard
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import ALGORITHMS, Digest, digest_bytes, parse_digest
from dockyard.oci.manifest import Index, Manifest, detect_media_type, parse_manifest_or_index
from dockyard.registry.errors import (
    DigestMismatch,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameUnknown,
    TooLarge,
    Unsupported,
)
from dockyard.registry.names import RepoName, Tag
from dockyard.registry.storage.driver import StorageDriver
from dockyard.registry.store import paths
from dockyard.registry.store.blobs import BlobStore

log = logging.getLogger(__name__)

GC_LOCK = "gc"
# Content types that say nothing about the document: the type is read from it instead.
_GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream", "text/plain"})


@dataclass(frozen=True, slots=True)
class ManifestPolicy:
    """What ``put`` accepts."""

    max_size: int = 4 * 1024 * 1024
    require_blobs: bool = True


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: Digest
    media_type: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class PutResult:
    digest: Digest
    subject: Digest | None


def _parse(raw: bytes, content_type: str) -> tuple[str, Manifest | Index]:
    """The media type to serve ``raw`` as, and the parsed document."""
    given = mt.base(content_type or "")
    try:
        if given in _GENERIC_TYPES:
            given = detect_media_type(raw)
        if mt.is_schema1(given):
            raise Unsupported("Docker schema 1 manifests are not supported")
        doc = parse_manifest_or_index(raw, given)
    except NotImplementedByDockyard as e:
        raise Unsupported(str(e)) from e
    except InvalidArgument as e:
        raise ManifestInvalid(str(e)) from e
    served = content_type if mt.base(content_type or "") not in _GENERIC_TYPES else given
    return served, doc


def referrer_descriptor(doc: Manifest | Index) -> dict[str, Any]:
    """The descriptor of ``doc`` as the referrers API lists it."""
    if isinstance(doc, Manifest):
        artifact_type = doc.artifact_type or doc.config.media_type
    else:
        artifact_type = doc.artifact_type
    desc = Descriptor(doc.media_type, doc.digest, len(doc.raw),
                      annotations=doc.annotations, artifact_type=artifact_type)
    return desc.to_json()


class ManifestStore:
    """Manifests, tags and referrers (see the module docstring)."""

    def __init__(self, driver: StorageDriver, blobs: BlobStore,
                 policy: ManifestPolicy | None = None) -> None:
        self.driver = driver
        self.blobs = blobs
        self.policy = policy or ManifestPolicy()

    # ----------------------------------------------------------------- reading

    def resolve(self, name: RepoName, ref: Tag | Digest) -> Digest:
        """The digest ``ref`` names in ``name`` (``ManifestUnknown`` if none)."""
        if isinstance(ref, Digest):
            try:
                self.driver.stat(paths.revision_link(name, ref))
            except NotFound as e:
                raise ManifestUnknown(f"manifest {ref} unknown to repository {name}") from e
            return ref
        try:
            link = self.driver.get_content(paths.tag_link(name, ref)).decode()
        except NotFound as e:
            raise ManifestUnknown(f"manifest tagged {ref!r} unknown to repository "
                                  f"{name}") from e
        d = _link_digest(link)
        try:
            self.driver.stat(paths.revision_link(name, d))
        except NotFound as e:
            raise ManifestUnknown(f"manifest {d} tagged {ref!r} was deleted") from e
        return d

    def get(self, name: RepoName, ref: Tag | Digest) -> StoredManifest:
        d = self.resolve(name, ref)
        try:
            media_type = self.driver.get_content(paths.revision_mediatype(name, d)).decode()
            raw = self.blobs.read(d)
        except NotFound as e:
            raise ManifestUnknown(f"manifest {d} unknown to repository {name}") from e
        return StoredManifest(d, media_type, raw)

    def stat(self, name: RepoName, ref: Tag | Digest) -> tuple[Digest, str, int]:
        """Digest, media type and size (what HEAD needs) without reading the bytes."""
        d = self.resolve(name, ref)
        try:
            media_type = self.driver.get_content(paths.revision_mediatype(name, d)).decode()
        except NotFound as e:
            raise ManifestUnknown(f"manifest {d} unknown to repository {name}") from e
        return d, media_type, self.blobs.size(d)

    # ----------------------------------------------------------------- writing

    def put(self, name: RepoName, ref: Tag | Digest, raw: bytes,
            content_type: str) -> PutResult:
        if len(raw) > self.policy.max_size:
            raise TooLarge(f"manifest of {len(raw)} bytes exceeds the limit of "
                           f"{self.policy.max_size}")
        if isinstance(ref, Digest):
            d = digest_bytes(raw, ref.algorithm)
            if d != ref:
                raise DigestMismatch(f"manifest content digest is {d}, not {ref}")
        else:
            d = digest_bytes(raw)
        served, doc = _parse(raw, content_type)
        with self.driver.lock(GC_LOCK, exclusive=False):
            if self.policy.require_blobs:
                self._check_references(name, doc)
            self.blobs.put_verified(d, raw)
            self.driver.put_content(paths.revision_mediatype(name, d), served.encode())
            if doc.subject is not None:
                entry = json.dumps(referrer_descriptor(doc._replace(digest=d))).encode()
                self.driver.put_content(paths.referrer_entry(name, doc.subject.digest, d),
                                        entry)
            self.driver.put_content(paths.revision_link(name, d), str(d).encode())
            if not isinstance(ref, Digest):
                self.driver.put_content(paths.tag_link(name, ref), str(d).encode())
        return PutResult(d, doc.subject.digest if doc.subject is not None else None)

    def _check_references(self, name: RepoName, doc: Manifest | Index) -> None:
        if isinstance(doc, Manifest):
            for desc in (doc.config, *doc.layers):
                if desc.urls and not mt.is_distributable(desc.media_type):
                    continue  # foreign layers are fetched from their URLs, not from us
                if not (self.blobs.is_linked(name, desc.digest)
                        and self.blobs.exists(desc.digest)):
                    raise ManifestBlobUnknown(
                        f"manifest references blob {desc.digest} unknown to repository "
                        f"{name}", str(desc.digest))
                self.blobs.touch(desc.digest)
        else:
            for desc in doc.manifests:
                try:
                    self.driver.stat(paths.revision_link(name, desc.digest))
                except NotFound as e:
                    raise ManifestBlobUnknown(
                        f"index references manifest {desc.digest} unknown to repository "
                        f"{name}", str(desc.digest)) from e

    def delete(self, name: RepoName, ref: Tag | Digest) -> None:
        """Delete a tag, or a manifest (with the tags pointing at it and its referrer
        entry). The blob itself stays until the garbage collector finds it unused."""
        if not isinstance(ref, Digest):
            try:
                self.driver.delete(paths.tag_dir(name, ref))
            except NotFound as e:
                raise ManifestUnknown(f"tag {ref!r} unknown to repository {name}") from e
            return
        stored = self.get(name, ref)
        try:
            doc = parse_manifest_or_index(stored.raw, stored.media_type)
            subject = doc.subject
        except (InvalidArgument, NotImplementedByDockyard):
            subject = None
        with self.driver.lock(GC_LOCK, exclusive=False):
            self.driver.delete(paths.revision_link(name, ref))
            for tag in self.tags(name):
                try:
                    if _link_digest(self.driver.get_content(
                            paths.tag_link(name, Tag(tag))).decode()) == ref:
                        self.driver.delete(paths.tag_dir(name, Tag(tag)))
                except NotFound:
                    continue
            if subject is not None:
                try:
                    self.driver.delete(paths.referrer_dir(name, subject.digest, ref))
                except NotFound:
                    pass
            try:
                self.driver.delete(paths.revision_dir(name, ref))
            except NotFound:
                pass

    # ----------------------------------------------------------------- listing

    def repository_exists(self, name: RepoName) -> bool:
        try:
            return bool(self.driver.stat(paths.repo_dir(name)).is_dir)
        except NotFound:
            return False

    def tags(self, name: RepoName) -> list[str]:
        """The repository's tags, sorted (``NameUnknown`` for an unknown repository)."""
        try:
            entries = self.driver.list(paths.tags_dir(name))
        except NotFound as e:
            if self.repository_exists(name):
                return []
            raise NameUnknown(f"repository {name} not known to registry") from e
        return sorted(e.rsplit("/", 1)[1] for e in entries)

    def revisions(self, name: RepoName) -> Iterator[Digest]:
        """The manifests of a repository (for GC)."""
        for alg in ALGORITHMS:
            try:
                entries = self.driver.list(f"{paths.revisions_dir(name)}/{alg}")
            except NotFound:
                continue
            for e in entries:
                try:
                    self.driver.stat(e + "/link")
                except NotFound:
                    continue  # being written or deleted
                yield Digest(alg, e.rsplit("/", 1)[1])

    def referrers(self, name: RepoName, subject: Digest,
                  artifact_type: str | None = None) -> list[dict[str, Any]]:
        """Descriptors of the manifests whose subject is ``subject``, optionally filtered."""
        out: list[dict[str, Any]] = []
        for alg in ALGORITHMS:
            try:
                entries = self.driver.list(f"{paths.referrers_dir(name, subject)}/{alg}")
            except NotFound:
                continue
            for e in entries:
                try:
                    desc = json.loads(self.driver.get_content(e + "/descriptor"))
                    d = Digest(alg, e.rsplit("/", 1)[1])
                    self.driver.stat(paths.revision_link(name, d))
                except NotFound:
                    continue
                if artifact_type and desc.get("artifactType") != artifact_type:
                    continue
                out.append(desc)
        return out

    def repositories(self) -> list[str]:
        """Every repository name, sorted (the catalog)."""
        out: list[str] = []

        def visit(path: str, prefix: str) -> None:
            try:
                children = self.driver.list(path)
            except NotFound:
                return
            for child in children:
                base = child.rsplit("/", 1)[1]
                if base.startswith("_"):
                    continue
                full = f"{prefix}/{base}" if prefix else base
                try:
                    names = {c.rsplit("/", 1)[1] for c in self.driver.list(child)}
                except NotFound:
                    continue
                if names & {"_manifests", "_layers"}:
                    out.append(full)
                visit(child, full)

        visit(paths.REPOSITORIES, "")
        return sorted(out)


def _link_digest(link: str) -> Digest:
    try:
        return parse_digest(link.strip())
    except InvalidArgument as e:
        raise ManifestUnknown(f"corrupt link {link[:100]!r}") from e
