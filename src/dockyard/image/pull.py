"""``docker pull``: a reference resolved on its registry, fetched, verified and unpacked.

The pipeline (one call, blocking; the daemon runs it in a thread)::

    resolve     HEAD /manifests/<tag|digest> (mirrors first for docker.io), the document
                from the content store when present, else GET (verified)
    platform    an index → the child that best matches ``platform`` (default: the host)
    config      from the store or GET /blobs (verified); len(layers) == len(diff_ids)
    layers      for each layer: snapshot chain_id(D[0..i]) and blob present → "Already
                exists"; else a Download on a pool of ``max_concurrent_downloads``
                threads (resuming its ingest with Range) while this thread unpacks the
                layers *in chain order*, each from its ingest file as it grows
                (``fetch.LayerReader``): the first layer unpacks while it downloads, the
                later ones catch up from disk and follow their downloads.
                A snapshot is committed only once its blob's bytes hash to the digest
                and the unpack saw the config's diff_id (the blob's own commit, an
                fsync, may still be under way: it is off the unpack's critical path);
                the image is named only once every blob is committed.
    records     the name (tag) and ``repo@<digest>`` point at the image (RepoDigests)

Everything is held by a temporary lease while it runs, so a garbage collection never
takes half a pull. A pull that fails keeps what it finished: the committed blobs stay
under a lease ``pull-resume-<digest>`` for a day (the next pull of that image deletes it),
and a partial ingest stays for the next pull to resume (``Range``); no image record is
written, so no broken image is left behind.
"""

from __future__ import annotations

import concurrent.futures
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from dockyard.archive import apply_layer
from dockyard.distribution import RegistryAuth, RegistryConfig
from dockyard.distribution.client import Repository
from dockyard.distribution.endpoints import DOCKER_IO, endpoints
from dockyard.distribution.errors import pull_error
from dockyard.errors import (
    AlreadyExists,
    DockyardError,
    InvalidArgument,
    NotFound,
    NotImplementedByDockyard,
    PermissionDenied,
    Unavailable,
)
from dockyard.metadata import LayerSnapshot, Resource
from dockyard.oci import mediatypes as mt
from dockyard.oci import reference
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, digest_bytes
from dockyard.oci.manifest import (
    ImageConfig,
    Manifest,
    chain_ids,
    parse_image_config,
    parse_index,
    parse_manifest,
)
from dockyard.oci.platform import (
    Platform,
    best_match,
    format_platform,
    host_platform,
    matches,
    parse_platform,
)
from dockyard.snapshots import layer_dirs

from .create import name_image
from .fetch import Cancelled, Download, StopFlag
from .model import Image
from .progress import Progress, ProgressFn, PullResult, PushResult, no_progress
from .resolve import image_of_records, platform_manifest
from .sources import add_source
from .stores import Stores
from .unpack import snapshot_exists

log = logging.getLogger(__name__)

__all__ = ["Progress", "ProgressFn", "PullResult", "PushResult", "no_progress", "pull",
           "remote_tags"]

RESUME_LEASE_PREFIX = "pull-resume-"
RESUME_LEASE_TTL = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class RemoteTarget:
    """What the reference resolved to on the registry."""

    repo: Repository
    desc: Descriptor


def parse_pull_reference(ref: str) -> reference.Reference:
    """``busybox`` → ``docker.io/library/busybox:latest``; tag and digest: the digest."""
    try:
        return reference.parse_docker_ref(ref)
    except InvalidArgument as e:
        raise InvalidArgument(f"invalid reference format: {e}") from e


def pull(stores: Stores, ref: str, *, auth: RegistryAuth | None = None, platform: str = "",
         progress: ProgressFn | None = None, config: RegistryConfig | None = None,
         cancel: threading.Event | None = None) -> PullResult:
    """Pull ``ref`` (``busybox``, ``127.0.0.1:5000/x:tag``, ``x@sha256:..``).

    Blocking (run it in a thread). ``platform`` (``linux/arm64/v8``; default: the
    host's) picks the child of an index. ``cancel`` set → the pull stops at the next
    chunk with ``FailedPrecondition("pull cancelled")``, keeping what it finished.
    Errors: ``NotFound`` (manifest unknown), ``PermissionDenied`` (401/403),
    ``Unavailable`` (unreachable, 5xx after retries), ``InvalidArgument`` (bad reference,
    digest mismatch), ``NotImplemented`` (no matching platform).
    """
    cfg = config or RegistryConfig()
    report = progress or no_progress
    named = parse_pull_reference(ref)
    want = parse_platform(platform) if platform else host_platform()
    # moby: a tag, or the whole canonical reference (digested.String()) of a digest pull;
    # then the repository path on its registry ("library/busybox", "team/app")
    tag_or_digest = str(named) if named.digest is not None else named.tag
    report(Progress(f"Pulling from {named.path}", tag_or_digest))
    stop = StopFlag(cancel)
    try:
        target = resolve_remote(named, auth, cfg)
        with target.repo, stores.meta.leases.temporary("pull") as lease:
            try:
                return _pull(stores, named, target, want, lease.id, report, cfg, stop,
                             strict=bool(platform))
            finally:
                stop.set()
    except (NotFound, PermissionDenied) as e:
        raise pull_error(e, reference.familiar_name(named),
                         reference.familiar_string(named)) from e


def remote_tags(ref: str, *, auth: RegistryAuth | None = None,
                config: RegistryConfig | None = None) -> list[str]:
    """The tags of ``ref``'s repository on its registry (``docker pull --all-tags``: pull
    ``<repo>:<tag>`` for each)."""
    named = parse_pull_reference(ref)
    with Repository.open(named.domain, named.path, auth, config or RegistryConfig()) as repo:
        try:
            return repo.tags()
        except (NotFound, PermissionDenied) as e:
            raise pull_error(e, reference.familiar_name(named),
                             reference.familiar_string(named)) from e


def distribution_inspect(ref: str, *, auth: RegistryAuth | None = None,
                         config: RegistryConfig | None = None) -> dict[str, Any]:
    """moby's ``DistributionInspect`` (``GET /distribution/{name}/json``, docker-py's
    ``images.get_registry_data``): the descriptor of the manifest or index ``ref`` names on
    its registry, and the platforms it holds: an index's children's, or a manifest's
    config's (none if the config says none or cannot be read, as moby). Blocking; nothing
    is stored. Errors as ``pull``'s."""
    named = parse_pull_reference(ref)
    platforms: list[Platform] = []
    try:
        target = resolve_remote(named, auth, config or RegistryConfig())
        with target.repo:
            top, raw = target.repo.fetch_manifest(str(target.desc.digest))
            if mt.is_index(top.media_type):
                index = parse_index(raw, top.media_type, str(top.digest))
                platforms = [d.platform for d in index.manifests if d.platform is not None]
            elif mt.is_manifest(top.media_type):
                manifest = parse_manifest(raw, top.media_type, str(top.digest))
                try:
                    own = parse_image_config(target.repo.fetch_blob(manifest.config),
                                             str(manifest.config.digest)).platform
                except (InvalidArgument, NotFound):  # moby: no platform, not an error
                    pass
                else:
                    if own.os or own.architecture:
                        platforms = [own]
    except (NotFound, PermissionDenied) as e:
        raise pull_error(e, reference.familiar_name(named),
                         reference.familiar_string(named)) from e
    return {"Descriptor": {"mediaType": top.media_type, "digest": str(top.digest),
                           "size": top.size},
            "Platforms": [p.to_json() for p in platforms]}


def resolve_remote(named: reference.Reference, auth: RegistryAuth | None,
                   cfg: RegistryConfig) -> RemoteTarget:
    """Find the manifest on the registry (for docker.io, the mirrors first)."""
    ref = str(named.digest) if named.digest is not None else named.tag
    candidates = endpoints(named.domain, cfg) if named.domain == DOCKER_IO else [None]
    last: DockyardError | None = None
    for ep in candidates:
        repo = Repository.open(named.domain, named.path, auth, cfg, endpoint=ep)
        try:
            desc = repo.resolve(ref)
            return RemoteTarget(repo, desc)
        except (NotFound, PermissionDenied, Unavailable) as e:
            repo.close()
            if ep is None or not ep.mirror:
                raise
            log.info("mirror %s: %s; trying the next endpoint", ep.url, e)
            last = e
        except BaseException:
            repo.close()
            raise
    raise Unavailable(str(last))  # pragma: no cover - the Hub endpoint is last


def _document(stores: Stores, target: RemoteTarget, desc: Descriptor, lease_id: str
              ) -> bytes:
    """The manifest or index ``desc`` from the content store, else from the registry."""
    stores.meta.leases.add(lease_id, Resource.content(desc.digest))
    try:
        with stores.content.open_blob(desc.digest) as f:
            raw = f.read()
        if digest_bytes(raw, desc.digest.algorithm) == desc.digest:
            return raw
    except NotFound:
        pass
    got, raw = target.repo.fetch_manifest(str(desc.digest))
    stores.content.ingest_bytes(raw, Descriptor(desc.media_type or got.media_type,
                                                desc.digest, len(raw)))
    return raw


def _pick(index_desc: Descriptor, raw: bytes, want: Platform) -> Descriptor:
    index = parse_index(raw, index_desc.media_type, str(index_desc.digest))
    children = [d for d in index.manifests if mt.is_manifest(d.media_type)]
    chosen = best_match(want, [d.platform for d in children])
    if chosen is None:
        raise NotImplementedByDockyard(f"no matching manifest for {format_platform(want)} in "
                                       "the manifest list entries")
    return children[chosen]


def _pull(stores: Stores, named: reference.Reference, target: RemoteTarget,
          want: Platform, lease_id: str, report: ProgressFn, cfg: RegistryConfig,
          stop: StopFlag, *, strict: bool = False) -> PullResult:
    """The pull itself; ``strict``: a platform was asked for, and a single-platform image
    must be of it (as moby checks)."""
    top = target.desc
    raw = _document(stores, target, top, lease_id)
    manifest_desc = top
    if mt.is_index(top.media_type):
        manifest_desc = _pick(top, raw, want)
        raw = _document(stores, target, manifest_desc, lease_id)
    elif mt.is_schema1(top.media_type):
        raise NotImplementedByDockyard(f"{reference.familiar_string(named)}: Docker Image "
                                       "manifest schema 1 is not supported")
    manifest = parse_manifest(raw, manifest_desc.media_type, str(manifest_desc.digest))
    config = _config(stores, target, manifest, lease_id)
    if strict and not mt.is_index(top.media_type) and not matches(want, config.platform):
        raise NotImplementedByDockyard(
            f"image with reference {reference.familiar_string(named)} was found but its "
            f"platform ({format_platform(config.platform)}) does not match the specified "
            f"platform ({format_platform(want)})")
    if len(manifest.layers) != len(config.diff_ids):
        raise InvalidArgument(f"manifest {manifest.digest}: {len(manifest.layers)} layers but "
                              f"the config lists {len(config.diff_ids)} diff_ids")
    resume_lease = RESUME_LEASE_PREFIX + top.digest.hex[:32]
    # Protected for a day from the start (not only after a failure): a daemon killed in
    # the middle keeps the blobs this pull finishes for the next one, as containerd does.
    _keep_for_resume(stores, resume_lease, top, manifest, config, present_only=False)
    # moby: an image already here (by its config) is named again without layer lines
    known = bool(stores.meta.images.by_image_id(manifest.config.digest))
    try:
        fetched = _layers(stores, target.repo, manifest, config, lease_id, report, cfg, stop,
                          known=known)
    except BaseException:
        _keep_for_resume(stores, resume_lease, top, manifest, config)
        raise
    image, renamed = _name(stores, named, top, manifest, config)
    try:
        stores.meta.leases.delete(resume_lease)
    except NotFound:
        pass
    familiar = reference.familiar_string(named)
    report(Progress(f"Digest: {top.digest}"))
    updated = fetched or renamed
    if updated:
        report(Progress(f"Status: Downloaded newer image for {familiar}"))
    else:
        report(Progress(f"Status: Image is up to date for {familiar}"))
    return PullResult(image, str(top.digest), familiar, updated)


def _config(stores: Stores, target: RemoteTarget, manifest: Manifest, lease_id: str
            ) -> ImageConfig:
    desc = manifest.config
    stores.meta.leases.add(lease_id, Resource.content(desc.digest))
    try:
        with stores.content.open_blob(desc.digest) as f:
            raw = f.read()
    except NotFound:
        raw = target.repo.fetch_blob(desc)
        stores.content.ingest_bytes(raw, desc)
    add_source(stores, desc.digest, target.repo.domain, target.repo.name)
    return parse_image_config(raw, str(desc.digest))


def _names(named: reference.Reference, top: Descriptor) -> list[str]:
    repo_digest = str(reference.with_digest(named._replace(tag="", digest=None), top.digest))
    if named.digest is not None:
        return [repo_digest]
    return [str(named), repo_digest]


def _name(stores: Stores, named: reference.Reference, top: Descriptor, manifest: Manifest,
          config: ImageConfig) -> tuple[Image, bool]:
    """Point the tag and ``repo@digest`` at the image (the index when it resolves to the
    manifest pulled on this host, else the manifest itself); the image, and whether a
    name changed."""
    record_target = top
    if mt.is_index(top.media_type):
        try:
            if platform_manifest(stores.content, top).digest != manifest.digest:
                record_target = manifest.descriptor()
        except (NotFound, InvalidArgument):
            record_target = manifest.descriptor()
    names = _names(named, top)
    renamed = False
    for n in names:
        try:
            renamed = renamed or stores.meta.images.get(n).image_id != config.digest
        except NotFound:
            renamed = True
    records = name_image(stores, config.digest, record_target, names)
    return image_of_records(stores.content, records), renamed


def _keep_for_resume(stores: Stores, lease_id: str, top: Descriptor, manifest: Manifest,
                     config: ImageConfig, *, present_only: bool = True) -> None:
    """Protect the image's blobs and layer snapshots (those already committed, or all of
    them before they are) for the next pull (a garbage collection meanwhile leaves them;
    the lease expires in a day)."""
    leases = stores.meta.leases
    try:
        try:
            leases.create(lease_id, labels={"dockyard.lease.purpose": "pull-resume"},
                          expires=time.time() + RESUME_LEASE_TTL)
        except AlreadyExists:
            pass
        leases.add_all(lease_id, [
            *(Resource.content(d.digest)
              for d in (top, manifest.descriptor(), manifest.config, *manifest.layers)
              if not present_only or _has_blob(stores, d.digest)),
            *(Resource.snapshot(stores.snapshotter_name, str(chain))
              for chain in chain_ids(config.diff_ids)
              if not present_only or snapshot_exists(stores, str(chain)))])
    except DockyardError as e:
        log.warning("could not keep the blobs of the failed pull: %s", e)


# --------------------------------------------------------------------------- layers


def _layers(stores: Stores, repo: Repository, manifest: Manifest, config: ImageConfig,
            lease_id: str, report: ProgressFn, cfg: RegistryConfig,
            stop: StopFlag, *, known: bool = False) -> bool:
    """Download and unpack every layer (see the module docstring); whether any was
    fetched or unpacked. ``known``: the image is here already (no "Already exists" lines
    when every layer is)."""
    chains = chain_ids(config.diff_ids)
    sn_name = stores.snapshotter_name
    plan: list[tuple[int, Descriptor, bool, bool]] = []  # i, layer, fetch, unpack
    for i, (layer, chain) in enumerate(zip(manifest.layers, chains, strict=True)):
        stores.meta.leases.add(lease_id, Resource.snapshot(sn_name, str(chain)))
        stores.meta.leases.add(lease_id, Resource.content(layer.digest))
        if not mt.is_layer(layer.media_type):
            raise InvalidArgument(f"layer {i} ({layer.digest}) has media type "
                                  f"{layer.media_type!r}, not a layer dockyard can unpack")
        have_snapshot = snapshot_exists(stores, str(chain))
        have_blob = _has_blob(stores, layer.digest)
        plan.append((i, layer, not have_blob, not have_snapshot))
    quiet = known and not any(fetch or unpack for _i, _layer, fetch, unpack in plan)
    for _i, layer, fetch, unpack in plan:
        short = layer.digest.hex[:12]
        if not fetch and not unpack:
            if not quiet:
                report(Progress("Already exists", short))
        else:
            report(Progress("Pulling fs layer", short))
    downloads: dict[int, Download] = {}
    workers = max(1, cfg.max_concurrent_downloads)
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="pull") as pool:
        try:
            for n, (i, layer, _fetch, _unpack) in enumerate(
                    p for p in plan if p[2] or p[3]):
                d = Download(stores, repo, layer, lease_id, report, stop,
                             retries=cfg.retries, backoff=cfg.backoff)
                downloads[i] = d
                if n >= workers:
                    report(Progress("Waiting", d.short))
                pool.submit(d.run)
            _unpack_in_order(stores, plan, downloads, config, chains, lease_id, report)
        except BaseException as e:
            stop.set()
            pool.shutdown(wait=True)
            cause = _first_cause(downloads, e)
            if cause is not e:
                raise cause from e
            raise
        finally:
            pool.shutdown(wait=True)
    for d in downloads.values():
        d.wait()
    return bool(downloads)


def _first_cause(downloads: dict[int, Download], e: BaseException) -> BaseException:
    """The error that stopped the pull: a layer's own failure rather than the
    cancellation it caused in the others."""
    if not isinstance(e, Cancelled):
        return e
    for i in sorted(downloads):
        err = downloads[i].error
        if err is not None and not isinstance(err, Cancelled):
            return err
    return e


def _has_blob(stores: Stores, digest: Digest) -> bool:
    try:
        stores.content.info(digest)
    except NotFound:
        return False
    return True


def _unpack_in_order(stores: Stores, plan: list[tuple[int, Descriptor, bool, bool]],
                     downloads: dict[int, Download], config: ImageConfig,
                     chains: tuple[Digest, ...], lease_id: str, report: ProgressFn) -> None:
    sn_name = stores.snapshotter_name
    for i, layer, _fetch, unpack in plan:
        d = downloads.get(i)
        parent = chains[i - 1] if i else None
        chain, diff_id = chains[i], config.diff_ids[i]
        if not unpack:
            if d is not None:
                d.wait()
                report(Progress("Pull complete", d.short))
            if stores.meta.layers.find(sn_name, chain) is None:
                used = stores.snapshotter.usage(str(chain)).size_bytes
                stores.meta.layers.record(LayerSnapshot(sn_name, chain, diff_id, parent,
                                                        layer.digest, used))
            continue
        if d is None:
            raise InvalidArgument(f"layer {i}: nothing to unpack from")  # pragma: no cover
        size = _apply(stores, d, lease_id, diff_id, chain, parent, i)
        stores.meta.layers.record(LayerSnapshot(sn_name, chain, diff_id, parent,
                                                layer.digest, size))
        report(Progress("Pull complete", d.short))


def _apply(stores: Stores, d: Download, lease_id: str, diff_id: Digest, chain: Digest,
           parent: Digest | None, index: int) -> int:
    """Unpack layer ``index`` from its download into a new snapshot; commit it as
    ``chain`` once the blob is verified too."""
    sn = stores.snapshotter
    key = f"extract-{secrets.token_hex(6)}-{chain.hex[:12]}"
    stores.meta.leases.add(lease_id, Resource.snapshot(stores.snapshotter_name, key))
    mounts = sn.prepare(key, None if parent is None else str(parent))
    committed = False
    try:
        dirs = layer_dirs(mounts)
        with d.reader() as reader:
            try:
                result = apply_layer(reader, dirs.upper,  # type: ignore[arg-type]
                                     whiteout_mode=dirs.whiteout_mode, parents=dirs.lowers,
                                     expected_diff_id=str(diff_id))
            except Cancelled:
                raise
            except DockyardError as e:
                # Bytes that fail to unpack may be bytes that fail their digest: the
                # download's verdict is the better error, so wait for it.
                try:
                    d.wait()
                except DockyardError as cause:
                    raise cause from e
                raise type(e)(f"layer {index} ({d.desc.digest}): {e}") from e
            d.wait_verified()  # the blob's digest is checked before the snapshot is visible
            if not reader.extracting_said:  # the unpack kept up with the download
                reader.say_extracting()
        try:
            sn.commit(str(chain), key)
            committed = True
        except AlreadyExists:
            log.debug("snapshot %s was committed meanwhile by another unpack", chain)
    finally:
        if not committed:
            sn.remove(key)
        stores.meta.leases.remove(lease_id, Resource.snapshot(stores.snapshotter_name, key))
    return result.unpacked_size
