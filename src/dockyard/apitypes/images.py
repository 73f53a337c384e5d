"""Images as Docker's JSON: ``ImageSummary`` (by API version), ``ImageInspect``,
``ImageDeleteResponseItem``, ``ImagePruneResponse``, the query of an import, and the JSON
lines of progress streams (``JSONMessage``: ``status``, ``stream``, ``aux``, ``error``).

The values come from the image service (``dockyard.image.model``); this module only
renders them and parses requests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.apitypes.version import at_least
from dockyard.errors import InvalidArgument
from dockyard.image.model import DeleteItem, ImageSummary, LoadedImage, PruneReport
from dockyard.oci import reference
from dockyard.oci.platform import Platform, parse_platform

__all__ = ["BASE_IMAGES", "BaseRequest", "DeleteItem", "ImageSummary", "ImportRequest",
           "LoadedImage", "PruneReport", "delete_json", "error_message", "inspect_json",
           "json_line", "made_aux", "made_messages", "parse_base_request", "parse_import", "pull_reference", "status_message",
           "stream_message", "summary_json"]

BASE_IMAGES = ("busybox", "debian")
"""The offline base images ``POST /dockyard/images/base`` makes."""


def summary_json(s: ImageSummary, version: str) -> dict[str, Any]:
    """A row of ``GET /images/json`` as the API ``version`` has it: before 1.43 a nameless
    image shows ``<none>:<none>``; before 1.44 ``VirtualSize`` repeats ``Size``."""
    out = s.to_json()
    if not at_least(version, "1.43") and not s.repo_tags and not s.repo_digests:
        out["RepoTags"] = ["<none>:<none>"]
        out["RepoDigests"] = ["<none>@<none>"]
    if not at_least(version, "1.44"):
        out["VirtualSize"] = s.size
    return out


def inspect_json(doc: Mapping[str, Any], version: str) -> dict[str, Any]:
    """``ImageInspect`` (the image service gives the 1.45 shape)."""
    out = dict(doc)
    if not at_least(version, "1.44"):
        out["VirtualSize"] = out.get("Size", 0)
    return out


def made_messages(image: LoadedImage) -> list[str]:
    """What ``dockyard-base-image`` prints: ``Made image: busybox:latest (sha256:…)``."""
    names = [reference.familiar_string(reference.parse(n)) for n in image.names]
    return [f"Made image: {n} ({image.id})" for n in names or [str(image.id)]]


def made_aux(image: LoadedImage) -> dict[str, Any]:
    """The last line of a base image stream: ``{"ID": ..., "Names": [...]}``."""
    return {"ID": str(image.id),
            "Names": [reference.familiar_string(reference.parse(n)) for n in image.names]}


def delete_json(items: Sequence[DeleteItem]) -> list[dict[str, str]]:
    return [i.to_json() for i in items]


# --------------------------------------------------------------------------- JSON lines


def json_line(message: Mapping[str, Any]) -> bytes:
    """One line of a progress stream (moby's stream formatter ends lines with CRLF)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\r\n"


def status_message(status: str, id_: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"status": status}
    if id_:
        out["id"] = id_
    return out


def stream_message(text: str) -> dict[str, Any]:
    return {"stream": text}


def error_message(message: str) -> dict[str, Any]:
    """An error after the stream started (the status code was 200 already)."""
    return {"errorDetail": {"message": message}, "error": message}


# --------------------------------------------------------------------------- requests


def pull_reference(image: str, tag: str) -> str:
    """The image a pull names (``fromImage`` and ``tag``), familiar: ``busybox:latest``."""
    text = f"{image}:{tag}" if tag and "@" not in image and not tag.startswith("sha256:") \
        else f"{image}@{tag}" if tag else image
    try:
        ref = reference.with_default_tag(reference.parse_normalized_named(text))
    except InvalidArgument:
        return text
    return reference.familiar_string(ref)


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """``POST /images/create?fromSrc=-``: the body is the root filesystem tarball."""

    repository: str = ""
    tag: str = ""
    changes: tuple[str, ...] = ()
    message: str = ""
    platform: Platform | None = None


def parse_import(query: Mapping[str, str], changes: Sequence[str]) -> ImportRequest:
    """The import's query (``changes`` repeated, one Dockerfile instruction each)."""
    source = query.get("fromSrc", "")
    if source != "-":
        raise InvalidArgument(f"fromSrc={source!r}: dockyard imports only from the request "
                              "body (fromSrc=-), not from a URL")
    platform = parse_platform(query["platform"]) if query.get("platform") else None
    return ImportRequest(repository=query.get("repo", ""), tag=query.get("tag", ""),
                         changes=tuple(changes), message=query.get("message", ""),
                         platform=platform)


@dataclass(frozen=True, slots=True)
class BaseRequest:
    """``POST /dockyard/images/base``: which offline base image, and the name to give it."""

    kind: str
    name: str = ""
    """The name to give it (``ref``); default ``busybox:latest`` or ``debian:<suite>``."""
    suite: str = "bookworm"


def parse_base_request(query: Mapping[str, str]) -> BaseRequest:
    kind = query.get("name", "")
    if kind not in BASE_IMAGES:
        raise InvalidArgument(f"name={kind!r}: the base images are "
                              f"{', '.join(BASE_IMAGES)}")
    suite = query.get("suite", "") or "bookworm"
    if kind != "debian" and query.get("suite"):
        raise InvalidArgument("suite: only for the debian base image")
    return BaseRequest(kind, query.get("ref", ""), suite)
