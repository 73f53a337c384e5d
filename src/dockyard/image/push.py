"""``docker push``: an image's blobs and manifest uploaded to its registry.

For each layer (``max_concurrent_uploads`` at a time), then the config::

    HEAD /blobs/<digest>                 present → "Layer already exists"
    POST /blobs/uploads/?mount=&from=    when the blob is known to come from another
                                         repository of the same registry (the
                                         ``sources`` labels a pull or push left) →
                                         201 "Mounted from <repo>"; 202: upload there
    POST → PATCH (streamed) → PUT ?digest=   "Pushing" … "Pushed"

then ``PUT /manifests/<tag>``; the digest the registry stored becomes a ``repo@digest``
record of the image (``RepoDigests``).

The blobs pushed are the ones the content store holds: layers pulled or loaded go out as
they came (never recompressed, so digests stay the same everywhere). A layer held only
uncompressed (a legacy ``docker load``) is gzip-compressed once; the compressed blob is
stored and its digest kept in a label of the uncompressed one
(``dockyard.distribution.gzip``), so the next push reuses it, and the manifest pushed
names the compressed layers.
"""

from __future__ import annotations

import concurrent.futures
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from typing import BinaryIO, cast

from dockyard.archive import CompressingWriter, Compression
from dockyard.content import Writer
from dockyard.distribution import RegistryAuth, RegistryConfig
from dockyard.distribution.client import Repository
from dockyard.distribution.errors import push_error
from dockyard.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from dockyard.metadata import Resource
from dockyard.oci import mediatypes as mt
from dockyard.oci import reference
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, parse_digest
from dockyard.oci.manifest import Manifest, new_manifest

from .create import name_image
from .model import Image
from .progress import Progress, ProgressFn, PushResult, no_progress
from .resolve import resolve
from .sources import add_source, sources
from .stores import Stores

log = logging.getLogger(__name__)

GZIP_LABEL = "dockyard.distribution.gzip"
CHUNK = 1 << 20
_GZIP_OF = {mt.OCI_LAYER: mt.OCI_LAYER_GZIP, mt.DOCKER_LAYER: mt.DOCKER_LAYER_GZIP}


def push(stores: Stores, ref: str, *, auth: RegistryAuth | None = None,
         progress: ProgressFn | None = None, config: RegistryConfig | None = None,
         cancel: threading.Event | None = None) -> PushResult:
    """Push the local image ``ref`` (a name with a tag, ``latest`` when none) to its
    registry; the result names the tag, the manifest digest and its size.

    Errors: ``NotFound`` (no such local image: ``An image does not exist locally with
    the tag: <ref>``), ``PermissionDenied`` (401/403), ``Unavailable``.
    """
    cfg = config or RegistryConfig()
    report = progress or no_progress
    try:
        named = reference.parse_normalized_named(ref)
    except InvalidArgument as e:
        raise InvalidArgument(f"invalid reference format: {e}") from e
    if named.digest is not None:
        raise InvalidArgument(f"cannot push a digest reference: {ref}")
    named = reference.with_default_tag(named)
    try:
        image = resolve(stores.content, stores.meta, str(named))
    except NotFound as e:
        raise NotFound("An image does not exist locally with the tag: "
                       f"{reference.familiar_name(named)}") from e
    report(Progress(f"The push refers to repository [{named.name}]"))
    try:
        return _push(stores, named, image, report, cfg, auth, cancel)
    except PermissionDenied as e:
        raise push_error(e) from e


def _push(stores: Stores, named: reference.Reference, image: Image, report: ProgressFn,
          cfg: RegistryConfig, auth: RegistryAuth | None,
          cancel: threading.Event | None) -> PushResult:
    with Repository.open(named.domain, named.path, auth, cfg, push=True) as repo, \
            stores.meta.leases.temporary("push") as lease:
        manifest = _pushable_manifest(stores, image, lease.id)
        # moby names a pushed layer by its diff_id (a pulled one by its blob digest)
        ids = {d.digest: str(diff.hex[:12])
               for d, diff in zip(manifest.layers, image.config.diff_ids, strict=False)}
        _push_blobs(stores, repo, manifest, report, cfg, cancel, ids)
        digest = repo.put_manifest(named.tag, manifest.media_type, manifest.raw)
        desc = Descriptor(manifest.media_type, digest, len(manifest.raw))
        repo_digest = str(reference.with_digest(named._replace(tag=""), digest))
        name_image(stores, image.id, desc, [repo_digest])
    report(Progress(f"{named.tag}: digest: {digest} size: {len(manifest.raw)}"))
    return PushResult(named.tag, str(digest), len(manifest.raw))


def _pushable_manifest(stores: Stores, image: Image, lease_id: str) -> Manifest:
    """The image's manifest, with uncompressed layers replaced by their gzip blobs (made
    once and remembered); a changed manifest is stored under the lease."""
    m = image.manifest
    layers = [_compressed(stores, d, lease_id) for d in m.layers]
    if layers == list(m.layers):
        return m
    out = new_manifest(m.config, layers, media_type=m.media_type)
    stores.meta.leases.add(lease_id, Resource.content(out.digest))
    stores.content.ingest_bytes(out.raw, out.descriptor())
    return out


def _compressed(stores: Stores, desc: Descriptor, lease_id: str) -> Descriptor:
    target_type = _GZIP_OF.get(desc.media_type)
    if target_type is None:
        return desc
    info = stores.content.info(desc.digest)
    known = info.labels.get(GZIP_LABEL, "")
    if known:
        gz = parse_digest(known)
        try:
            gz_info = stores.content.info(gz)
            stores.meta.leases.add(lease_id, Resource.content(gz))
            return Descriptor(target_type, gz, gz_info.size)
        except NotFound:
            pass
    w: Writer
    with stores.content.open_blob(desc.digest) as src, \
            stores.content.writer(f"push-gzip-{desc.digest}-{secrets.token_hex(4)}") as w:
        w.truncate(0)
        cw = CompressingWriter(cast(BinaryIO, _WriterFile(w)), Compression.GZIP)
        while True:
            chunk = src.read(CHUNK)
            if not chunk:
                break
            cw.write(chunk)
        result = cw.finish()
        if parse_digest(result.diff_id) != desc.digest:
            raise FailedPrecondition(f"layer {desc.digest}: the stored blob does not match "
                                     "its digest")
        gz = parse_digest(result.digest)
        stores.meta.leases.add(lease_id, Resource.content(gz))
        try:
            w.commit(result.size, gz)
        except AlreadyExists:
            pass
    stores.content.update_labels(desc.digest, {GZIP_LABEL: str(gz)})
    log.info("layer %s compressed once for pushing: %s", desc.digest, gz)
    return Descriptor(target_type, gz, result.size)


class _WriterFile:
    def __init__(self, writer: Writer) -> None:
        self._w = writer

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return self._w.write(data)

    def flush(self) -> None:
        pass


def _push_blobs(stores: Stores, repo: Repository, manifest: Manifest, report: ProgressFn,
                cfg: RegistryConfig, cancel: threading.Event | None,
                ids: Mapping[Digest, str] | None = None) -> None:
    layers = list({d.digest: d for d in manifest.layers}.values())
    short = {d.digest: (ids or {}).get(d.digest) or d.digest.hex[:12] for d in layers}
    for d in layers:
        report(Progress("Preparing", short[d.digest]))
    workers = max(1, cfg.max_concurrent_uploads)
    for n, d in enumerate(layers):
        if n >= workers:
            report(Progress("Waiting", short[d.digest]))
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="push") as pool:
        futures = [pool.submit(_push_blob, stores, repo, d, report, cancel, True,
                               cfg.retries, cfg.backoff, short[d.digest]) for d in layers]
        for f in futures:
            f.result()
    _push_blob(stores, repo, manifest.config, report, cancel, False, cfg.retries,
               cfg.backoff)


def _push_blob(stores: Stores, repo: Repository, desc: Descriptor, report: ProgressFn,
               cancel: threading.Event | None, show: bool, retries: int = 3,
               backoff: float = 0.5, short: str = "") -> None:
    """Push one blob (HEAD, mount, upload; an upload that fails on the way is started
    again ``retries`` times); its progress lines name it ``short``."""
    short = short or desc.digest.hex[:12]
    if cancel is not None and cancel.is_set():
        raise FailedPrecondition("push cancelled")
    try:
        stores.content.info(desc.digest)
    except NotFound as e:
        raise NotFound(f"blob {desc.digest} is missing from the content store: the image "
                       "cannot be pushed") from e
    if repo.stat_blob(desc.digest) is not None:
        if show:
            report(Progress("Layer already exists", short))
        add_source(stores, desc.digest, repo.domain, repo.name)
        return
    location: str | None = None
    for src in sources(stores, desc.digest, repo.domain):
        if src == repo.name:
            continue
        location = repo.start_upload(desc.digest, mount_from=src)
        if location is None:
            if show:
                report(Progress(f"Mounted from {src}", short))
            add_source(stores, desc.digest, repo.domain, repo.name)
            return
        break  # the registry declined and opened an upload: use it

    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        sent = 0
        with stores.content.open_blob(desc.digest) as f:
            while True:
                if cancel is not None and cancel.is_set():
                    raise FailedPrecondition("push cancelled")
                data = f.read(CHUNK)
                if not data:
                    return
                yield data

    def on_bytes(n: int) -> None:
        nonlocal sent
        sent += n
        if show:
            report(Progress("Pushing", short, min(sent, desc.size), desc.size))

    delay = backoff
    for attempt in range(retries + 1):
        try:
            repo.upload_blob(desc, chunks, location=location, on_bytes=on_bytes)
            break
        except Unavailable as e:
            if attempt == retries:
                raise
            log.info("upload of %s failed (%s); again in %.1fs", desc.digest, e, delay)
            location = None  # the failed upload was cancelled: start a new one
            time.sleep(delay)
            delay *= 2
    add_source(stores, desc.digest, repo.domain, repo.name)
    if show:
        report(Progress("Pushed", short))
