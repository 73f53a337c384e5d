"""Image manifests, indexes and configs: parsed from the bytes received, built canonically.

Identity (DESIGN "Identity"): a manifest's digest is the digest of the bytes it arrived
as, and an image's ID is the digest of its config blob's bytes. So parsing takes the raw
bytes and *keeps* them (``.raw``, ``.digest``); nothing here re-serialises a document
it did not build. Builders (``new_manifest``, ``new_index``, ``new_image_config``)
produce canonical bytes for documents we create: compact JSON, keys in the order of the
Go structs (``ocispec``), map keys sorted, ``<``, ``>`` and ``&`` escaped as Go does; they
return the parsed value of those bytes, so a built document and a received one are the
same type.

Accepted documents:

========================  ==========================================================
OCI image manifest        ``application/vnd.oci.image.manifest.v1+json``
Docker schema2 manifest   ``application/vnd.docker.distribution.manifest.v2+json``
OCI image index           ``application/vnd.oci.image.index.v1+json``
Docker manifest list      ``application/vnd.docker.distribution.manifest.list.v2+json``
Image config              OCI ``image.config.v1+json`` and Docker ``container.image.v1+json``
========================  ==========================================================

Docker schema1 is refused with ``NotImplemented`` (``NotImplementedByDockyard``). A document whose ``mediaType`` field
disagrees with the media type it was served as is refused (``InvalidArgument``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from dockyard.errors import InvalidArgument, NotImplementedByDockyard
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor, parse_annotations
from dockyard.oci.digest import Digest, digest_bytes, parse_digest
from dockyard.oci.platform import Platform

_EMPTY: Mapping[str, str] = {}


# --------------------------------------------------------------------------- JSON helpers


def canonical_json(obj: Any) -> bytes:
    """Compact JSON bytes as Go's ``encoding/json`` writes them (for documents we build).

    Dict insertion order is kept (callers build dicts in Go struct order and sort maps);
    ``<``, ``>``, ``&``, U+2028 and U+2029 are escaped, as Go does, which is safe to do on
    the whole text because those characters can only occur inside JSON strings.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text.encode("utf-8")


def load_json_object(raw: bytes, what: str) -> dict[str, Any]:
    """Decode ``raw`` as a JSON object or raise ``InvalidArgument`` naming ``what``."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as e:
        raise InvalidArgument(f"{what}: not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{what}: expected a JSON object, got {type(doc).__name__}")
    return doc


def _opt_str(doc: Mapping[str, Any], key: str, where: str) -> str:
    v = doc.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise InvalidArgument(f"{where}.{key}: expected a string, got {type(v).__name__}")
    return v


def _str_list(v: Any, where: str, *, allow_string: bool = False) -> tuple[str, ...]:
    if v is None:
        return ()
    if allow_string and isinstance(v, str):
        return (v,)  # Docker's strslice: a lone string is a one-element list
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise InvalidArgument(f"{where}: expected an array of strings")
    return tuple(v)


def _key_set(v: Any, where: str) -> tuple[str, ...]:
    """A Go ``map[string]struct{}`` (ExposedPorts, Volumes): the keys, sorted."""
    if v is None:
        return ()
    if not isinstance(v, Mapping):
        raise InvalidArgument(f"{where}: expected an object")
    return tuple(sorted(v))


def _int(v: Any, where: str) -> int:
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidArgument(f"{where}: expected an integer, got {v!r}")
    return int(v)


def _schema_version(doc: Mapping[str, Any], what: str) -> None:
    v = doc.get("schemaVersion")
    if v == 1 and not isinstance(v, bool):
        raise NotImplementedByDockyard(f"{what}: Docker image manifest schema 1 is deprecated and not "
                             "supported; push the image again with a current client")
    if isinstance(v, bool) or v != 2:
        raise InvalidArgument(f"{what}.schemaVersion: must be 2, got {v!r}")


def _resolve_type(doc: Mapping[str, Any], given: str | None, allowed: frozenset[str],
                  default: str, what: str) -> str:
    """The document's media type: its ``mediaType`` field, checked against ``given``."""
    field = doc.get("mediaType")
    if field is not None and not isinstance(field, str):
        raise InvalidArgument(f"{what}.mediaType: expected a string")
    given = mt.base(given) if given else None
    if given is not None and mt.is_schema1(given):
        raise NotImplementedByDockyard(f"{what}: Docker schema 1 manifests ({given}) are not supported")
    if field:
        if field not in allowed:
            raise InvalidArgument(f"{what}.mediaType: unexpected {field!r} "
                                  f"(want one of {', '.join(sorted(allowed))})")
        if given is not None and given != field:
            raise InvalidArgument(f"{what}: served as {given!r} but its mediaType is {field!r}")
        return field
    if given is not None:
        if given not in allowed:
            raise InvalidArgument(f"{what}: media type {given!r} is not one of "
                                  f"{', '.join(sorted(allowed))}")
        return given
    return default


def _subject(doc: Mapping[str, Any], where: str) -> Descriptor | None:
    v = doc.get("subject")
    return None if v is None else Descriptor.from_json(v, f"{where}.subject")


def _artifact_type(doc: Mapping[str, Any], where: str) -> str:
    v = _opt_str(doc, "artifactType", where)
    if v:
        mt.validate(v, f"{where}.artifactType")
    return v


# --------------------------------------------------------------------------- manifests


class Manifest(NamedTuple):
    """An image manifest (OCI or Docker schema2), with the bytes it was parsed from."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str]
    subject: Descriptor | None
    artifact_type: str
    raw: bytes
    digest: Digest

    def descriptor(self, platform: Platform | None = None) -> Descriptor:
        """A descriptor pointing at this manifest (for an index or an image record)."""
        return Descriptor(self.media_type, self.digest, len(self.raw), platform=platform)


class Index(NamedTuple):
    """An image index (OCI) or manifest list (Docker), with the bytes it was parsed from."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str]
    subject: Descriptor | None
    artifact_type: str
    raw: bytes
    digest: Digest

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw))


def parse_manifest(raw: bytes, media_type: str | None = None,
                   what: str = "manifest") -> Manifest:
    """Validate an image manifest; ``media_type`` is the type it was served or stored as."""
    doc = load_json_object(raw, what)
    _schema_version(doc, what)
    kind = _resolve_type(doc, media_type, mt.MANIFEST_TYPES, mt.OCI_MANIFEST, what)
    if "manifests" in doc and "config" not in doc:
        raise InvalidArgument(f"{what}: this is an index (it has 'manifests'), not a manifest")
    if doc.get("config") is None:
        raise InvalidArgument(f"{what}.config: required")
    config = Descriptor.from_json(doc["config"], f"{what}.config")
    layers_raw = doc.get("layers")
    if layers_raw is None:
        layers_raw = []
    if not isinstance(layers_raw, list):
        raise InvalidArgument(f"{what}.layers: expected an array of descriptors")
    layers = tuple(Descriptor.from_json(d, f"{what}.layers[{i}]")
                   for i, d in enumerate(layers_raw))
    artifact_type = _artifact_type(doc, what)
    if config.media_type == mt.OCI_EMPTY and not artifact_type:
        raise InvalidArgument(f"{what}.artifactType: required when config is the empty "
                              "descriptor")
    return Manifest(media_type=kind, config=config, layers=layers,
                    annotations=parse_annotations(doc.get("annotations"), f"{what}.annotations"),
                    subject=_subject(doc, what), artifact_type=artifact_type,
                    raw=bytes(raw), digest=digest_bytes(raw))


def parse_index(raw: bytes, media_type: str | None = None, what: str = "index") -> Index:
    """Validate an image index or manifest list."""
    doc = load_json_object(raw, what)
    _schema_version(doc, what)
    kind = _resolve_type(doc, media_type, mt.INDEX_TYPES, mt.OCI_INDEX, what)
    entries = doc.get("manifests")
    if entries is None:
        if "config" in doc:
            raise InvalidArgument(f"{what}: this is a manifest (it has 'config'), not an index")
        raise InvalidArgument(f"{what}.manifests: required")
    if not isinstance(entries, list):
        raise InvalidArgument(f"{what}.manifests: expected an array of descriptors")
    manifests = tuple(Descriptor.from_json(d, f"{what}.manifests[{i}]")
                      for i, d in enumerate(entries))
    return Index(media_type=kind, manifests=manifests,
                 annotations=parse_annotations(doc.get("annotations"), f"{what}.annotations"),
                 subject=_subject(doc, what), artifact_type=_artifact_type(doc, what),
                 raw=bytes(raw), digest=digest_bytes(raw))


def detect_media_type(raw: bytes, what: str = "document") -> str:
    """Guess a manifest-or-index document's media type from its content.

    Its ``mediaType`` field if any; else ``manifests`` means an OCI index and ``config``
    an OCI manifest (Docker schema2 documents always carry ``mediaType``).
    """
    doc = load_json_object(raw, what)
    field = doc.get("mediaType")
    if isinstance(field, str) and field:
        return field
    if doc.get("schemaVersion") == 1:
        return mt.DOCKER_MANIFEST_V1
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "config" in doc:
        return mt.OCI_MANIFEST
    raise InvalidArgument(f"{what}: neither a manifest nor an index (no mediaType, "
                          "config or manifests)")


def parse_manifest_or_index(raw: bytes, media_type: str | None = None,
                            what: str = "manifest") -> Manifest | Index:
    """Parse whichever of the two ``raw`` is (as served with ``media_type``, if known)."""
    kind = mt.base(media_type) if media_type else detect_media_type(raw, what)
    if mt.is_schema1(kind):
        raise NotImplementedByDockyard(f"{what}: Docker schema 1 manifests are not supported")
    if mt.is_index(kind):
        return parse_index(raw, media_type, what)
    if mt.is_manifest(kind):
        return parse_manifest(raw, media_type, what)
    raise InvalidArgument(f"{what}: media type {kind!r} is neither a manifest nor an index")


def new_manifest(config: Descriptor, layers: Sequence[Descriptor], *,
                 media_type: str = mt.OCI_MANIFEST,
                 annotations: Mapping[str, str] | None = None,
                 subject: Descriptor | None = None, artifact_type: str = "") -> Manifest:
    """Build a manifest's canonical bytes and return it parsed."""
    if media_type not in mt.MANIFEST_TYPES:
        raise InvalidArgument(f"new manifest: {media_type!r} is not a manifest media type")
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc["config"] = config.to_json()
    doc["layers"] = [d.to_json() for d in layers]
    if subject is not None:
        doc["subject"] = subject.to_json()
    if annotations:
        doc["annotations"] = dict(sorted(annotations.items()))
    return parse_manifest(canonical_json(doc), media_type)


def new_index(manifests: Sequence[Descriptor], *, media_type: str = mt.OCI_INDEX,
              annotations: Mapping[str, str] | None = None,
              subject: Descriptor | None = None, artifact_type: str = "") -> Index:
    """Build an index's canonical bytes and return it parsed."""
    if media_type not in mt.INDEX_TYPES:
        raise InvalidArgument(f"new index: {media_type!r} is not an index media type")
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc["manifests"] = [d.to_json() for d in manifests]
    if subject is not None:
        doc["subject"] = subject.to_json()
    if annotations:
        doc["annotations"] = dict(sorted(annotations.items()))
    return parse_index(canonical_json(doc), media_type)


# --------------------------------------------------------------------------- image config


class HealthConfig(NamedTuple):
    """Docker's ``Healthcheck`` (durations in nanoseconds, 0 meaning "inherit")."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Test": list(self.test)}
        for key, value in (("Interval", self.interval), ("Timeout", self.timeout),
                           ("StartPeriod", self.start_period),
                           ("StartInterval", self.start_interval), ("Retries", self.retries)):
            if value:
                out[key] = value
        return out


class ContainerConfig(NamedTuple):
    """The ``config`` object of an image config: defaults for containers of the image.

    ``entrypoint`` and ``cmd`` are ``None`` when absent (or null), which is not the same
    as an empty list: Docker lets ``ENTRYPOINT []`` clear an inherited one.
    """

    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: Mapping[str, str] = _EMPTY
    stop_signal: str = ""
    args_escaped: bool = False
    healthcheck: HealthConfig | None = None
    on_build: tuple[str, ...] = ()
    shell: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: Any, where: str = "config") -> ContainerConfig:
        if obj is None:
            return cls()
        if not isinstance(obj, Mapping):
            raise InvalidArgument(f"{where}: expected an object")
        hc = obj.get("Healthcheck")
        health = None
        if hc is not None:
            if not isinstance(hc, Mapping):
                raise InvalidArgument(f"{where}.Healthcheck: expected an object")
            w = f"{where}.Healthcheck"
            health = HealthConfig(
                test=_str_list(hc.get("Test"), f"{w}.Test"),
                interval=_int(hc.get("Interval"), f"{w}.Interval"),
                timeout=_int(hc.get("Timeout"), f"{w}.Timeout"),
                start_period=_int(hc.get("StartPeriod"), f"{w}.StartPeriod"),
                start_interval=_int(hc.get("StartInterval"), f"{w}.StartInterval"),
                retries=_int(hc.get("Retries"), f"{w}.Retries"))
        entrypoint, cmd = obj.get("Entrypoint"), obj.get("Cmd")
        args_escaped = obj.get("ArgsEscaped", False)
        if not isinstance(args_escaped, bool):
            raise InvalidArgument(f"{where}.ArgsEscaped: expected a boolean")
        return cls(
            user=_opt_str(obj, "User", where),
            exposed_ports=_key_set(obj.get("ExposedPorts"), f"{where}.ExposedPorts"),
            env=_str_list(obj.get("Env"), f"{where}.Env"),
            entrypoint=None if entrypoint is None else _str_list(
                entrypoint, f"{where}.Entrypoint", allow_string=True),
            cmd=None if cmd is None else _str_list(cmd, f"{where}.Cmd", allow_string=True),
            volumes=_key_set(obj.get("Volumes"), f"{where}.Volumes"),
            working_dir=_opt_str(obj, "WorkingDir", where),
            labels=parse_annotations(obj.get("Labels"), f"{where}.Labels"),
            stop_signal=_opt_str(obj, "StopSignal", where),
            args_escaped=args_escaped,
            healthcheck=health,
            on_build=_str_list(obj.get("OnBuild"), f"{where}.OnBuild"),
            shell=_str_list(obj.get("Shell"), f"{where}.Shell"))

    def to_json(self) -> dict[str, Any]:
        """Wire form in the OCI ``ImageConfig`` field order, Docker's extras after."""
        out: dict[str, Any] = {}
        if self.user:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in sorted(self.exposed_ports)}
        if self.env:
            out["Env"] = list(self.env)
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.volumes:
            out["Volumes"] = {v: {} for v in sorted(self.volumes)}
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.labels:
            out["Labels"] = dict(sorted(self.labels.items()))
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.args_escaped:
            out["ArgsEscaped"] = True
        if self.healthcheck is not None:
            out["Healthcheck"] = self.healthcheck.to_json()
        if self.on_build:
            out["OnBuild"] = list(self.on_build)
        if self.shell:
            out["Shell"] = list(self.shell)
        return out


class HistoryEntry(NamedTuple):
    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (("created", self.created), ("created_by", self.created_by),
                           ("author", self.author), ("comment", self.comment)):
            if value:
                out[key] = value
        if self.empty_layer:
            out["empty_layer"] = True
        return out


class ImageConfig(NamedTuple):
    """An image configuration, with its bytes; ``digest`` is the image ID."""

    architecture: str
    os: str
    config: ContainerConfig
    diff_ids: tuple[Digest, ...]
    history: tuple[HistoryEntry, ...]
    created: str
    author: str
    variant: str
    os_version: str
    os_features: tuple[str, ...]
    raw: bytes
    digest: Digest

    @property
    def id(self) -> Digest:
        """The image ID: the digest of the config bytes."""
        return self.digest

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.architecture, self.variant, self.os_version,
                        self.os_features)

    def chain_id(self) -> Digest | None:
        """The chain ID of the whole layer stack (``None`` for an image without layers)."""
        return chain_id(self.diff_ids) if self.diff_ids else None


def parse_image_config(raw: bytes, what: str = "image config") -> ImageConfig:
    """Validate an image config (OCI or Docker); unknown fields are kept in ``raw``."""
    doc = load_json_object(raw, what)
    for key in ("architecture", "os"):
        v = doc.get(key)
        if not isinstance(v, str) or not v:
            raise InvalidArgument(f"{what}.{key}: required string")
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, Mapping):
        raise InvalidArgument(f"{what}.rootfs: required object")
    if rootfs.get("type") != "layers":
        raise InvalidArgument(f"{what}.rootfs.type: must be \"layers\", "
                              f"got {rootfs.get('type')!r}")
    raw_ids = rootfs.get("diff_ids")
    if raw_ids is None:
        raw_ids = []
    if not isinstance(raw_ids, list):
        raise InvalidArgument(f"{what}.rootfs.diff_ids: expected an array of digests")
    diff_ids = []
    for i, s in enumerate(raw_ids):
        try:
            diff_ids.append(parse_digest(s))
        except InvalidArgument as e:
            raise InvalidArgument(f"{what}.rootfs.diff_ids[{i}]: {e}") from e
    hist_raw = doc.get("history")
    if hist_raw is None:
        hist_raw = []
    if not isinstance(hist_raw, list):
        raise InvalidArgument(f"{what}.history: expected an array")
    history = []
    for i, h in enumerate(hist_raw):
        w = f"{what}.history[{i}]"
        if not isinstance(h, Mapping):
            raise InvalidArgument(f"{w}: expected an object")
        empty = h.get("empty_layer", False)
        if not isinstance(empty, bool):
            raise InvalidArgument(f"{w}.empty_layer: expected a boolean")
        history.append(HistoryEntry(_opt_str(h, "created", w), _opt_str(h, "created_by", w),
                                    _opt_str(h, "author", w), _opt_str(h, "comment", w), empty))
    return ImageConfig(
        architecture=doc["architecture"], os=doc["os"],
        config=ContainerConfig.from_json(doc.get("config"), f"{what}.config"),
        diff_ids=tuple(diff_ids), history=tuple(history),
        created=_opt_str(doc, "created", what), author=_opt_str(doc, "author", what),
        variant=_opt_str(doc, "variant", what), os_version=_opt_str(doc, "os.version", what),
        os_features=_str_list(doc.get("os.features"), f"{what}.os.features"),
        raw=bytes(raw), digest=digest_bytes(raw))


def new_image_config(*, architecture: str, os: str, diff_ids: Sequence[Digest],
                     config: ContainerConfig | None = None,
                     history: Sequence[HistoryEntry] = (), created: str = "", author: str = "",
                     variant: str = "", os_version: str = "",
                     os_features: Sequence[str] = ()) -> ImageConfig:
    """Build an image config's canonical bytes (OCI field order) and return it parsed."""
    doc: dict[str, Any] = {}
    if created:
        doc["created"] = created
    if author:
        doc["author"] = author
    doc["architecture"] = architecture
    if variant:
        doc["variant"] = variant
    doc["os"] = os
    if os_version:
        doc["os.version"] = os_version
    if os_features:
        doc["os.features"] = list(os_features)
    doc["config"] = (config or ContainerConfig()).to_json()
    doc["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in diff_ids]}
    if history:
        doc["history"] = [h.to_json() for h in history]
    return parse_image_config(canonical_json(doc))


# --------------------------------------------------------------------------- chain IDs


def chain_ids(diff_ids: Sequence[Digest]) -> tuple[Digest, ...]:
    """The chain ID of every prefix of a layer stack, bottom first.

    ``ChainID(L0) = DiffID(L0)``; ``ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " +
    DiffID(Ln))`` (image-spec ``config.md``). Snapshots of committed layers are named by it.
    """
    out: list[Digest] = []
    for d in diff_ids:
        if not out:
            out.append(d)
        else:
            h = hashlib.sha256(f"{out[-1]} {d}".encode("ascii")).hexdigest()
            out.append(Digest("sha256", h))
    return tuple(out)


def chain_id(diff_ids: Sequence[Digest]) -> Digest:
    """The chain ID of a whole layer stack (``InvalidArgument`` for an empty one)."""
    if not diff_ids:
        raise InvalidArgument("chain id of an empty layer stack")
    return chain_ids(diff_ids)[-1]
