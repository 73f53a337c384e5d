"""Pull, push and login as Docker's wire shapes: the JSON progress lines of
``POST /images/create?fromImage=`` and ``POST /images/{name}/push``, the request's
reference, the ``POST /auth`` answer.

A progress line is moby's ``JSONMessage`` as its stream formatter writes it
(``pkg/streamformatter``): a layer's action (``progress.Update``: ``Pulling fs layer``,
``Downloading``, ``Pull complete``, ``Pushed``...) carries ``progressDetail`` (``{}``
without numbers) and, with numbers, the bar the daemon drew (``progress``, 200 columns
wide as dockerd draws it); a message (``progress.Message``: ``Pulling from busybox``,
``Digest: sha256:..``, ``Status: ..``, ``The push refers to repository [..]``, ``latest:
digest: sha256:.. size: 527``) is a bare ``status``. The docker CLI tells them apart: on
a terminal it redraws the lines of ids that carry ``progressDetail`` in place, and a
message resets its table of lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.apitypes.units import human_size
from dockyard.daemon.systeminfo import RegistryInfo
from dockyard.errors import InvalidArgument
from dockyard.image.progress import Progress, PushResult
from dockyard.oci import reference
from dockyard.oci.digest import parse_digest
from dockyard.oci.platform import parse_platform

__all__ = ["PullRequest", "auth_json", "human_size", "is_message", "parse_pull",
           "progress_bar", "progress_json", "push_aux_json", "push_reference",
           "registry_info_json"]

INDEX_NAME = "docker.io"
BAR_WIDTH = 50
_MESSAGE_PREFIXES = ("Pulling from ", "Digest: ", "Status: ", "The push refers to ")


def progress_bar(current: int, total: int | None) -> str:
    """moby's ``JSONProgress.String`` at 200 columns (the daemon has no terminal):
    ``[=====>      ]  1.2MB/3.4MB``; without a total, only the count (``   1.2MB``)."""
    if current <= 0 and (total or 0) <= 0:
        return ""
    if not total or total <= 0:
        return f"{human_size(current):>8}"
    filled = min(int(current / total * 100) // 2, BAR_WIDTH)
    box = "[" + "=" * filled + ">" + " " * (BAR_WIDTH - filled) + "] "
    numbers = f"{human_size(current):>8}"
    if current <= total:
        numbers += "/" + human_size(total)
    return box + numbers


def is_message(status: str) -> bool:
    """A ``progress.Message`` (a bare status line) rather than a layer's action."""
    return status.startswith(_MESSAGE_PREFIXES) or ": digest: " in status


def progress_json(p: Progress) -> dict[str, Any]:
    """One ``JSONMessage`` of a pull or push stream (see the module docstring)."""
    if is_message(p.status):
        out: dict[str, Any] = {"status": p.status}
        if p.id:
            out["id"] = p.id
        return out
    detail: dict[str, int] = {}
    if p.current:
        detail["current"] = p.current
    if p.total:
        detail["total"] = p.total
    out = {"status": p.status, "progressDetail": detail}
    bar = progress_bar(p.current or 0, p.total)
    if bar:
        out["progress"] = bar
    if p.id:
        out["id"] = p.id
    return out


def push_aux_json(result: PushResult) -> dict[str, Any]:
    """The ``aux`` line ending each pushed tag (moby's ``PushResult``)."""
    return {"progressDetail": {},
            "aux": {"Tag": result.tag, "Digest": result.digest, "Size": result.size}}


def registry_info_json(r: RegistryInfo) -> dict[str, Any]:
    """``/info``'s ``RegistryConfig`` (Docker's ``registry.ServiceConfig``): Docker Hub
    and each insecure registry named by host in ``IndexConfigs``."""
    index: dict[str, Any] = {INDEX_NAME: {"Name": INDEX_NAME, "Mirrors": list(r.mirrors),
                                          "Secure": True, "Official": True}}
    for host in r.insecure_hosts:
        index[host] = {"Name": host, "Mirrors": [], "Secure": False, "Official": False}
    return {"AllowNondistributableArtifactsCIDRs": None,
            "AllowNondistributableArtifactsHostnames": None,
            "InsecureRegistryCIDRs": list(r.insecure_cidrs),
            "IndexConfigs": index,
            "Mirrors": list(r.mirrors)}


def auth_json(identity_token: str) -> dict[str, str]:
    """``POST /auth``'s answer (``AuthenticateOKBody``)."""
    return {"Status": "Login Succeeded", "IdentityToken": identity_token}


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class PullRequest:
    """``POST /images/create?fromImage=&tag=&platform=``."""

    reference: str
    """Normalised: ``docker.io/library/busybox:latest``, ``host:5000/x@sha256:..``, or a
    bare repository (``docker.io/library/busybox``): every tag (``docker pull -a``)."""
    platform: str = ""

    @property
    def all_tags(self) -> bool:
        return reference.parse(self.reference).is_name_only


def parse_pull(query: Mapping[str, str]) -> PullRequest:
    """moby's ``postImagesCreate``: ``tag`` may be a digest; no tag and no tag or digest
    in ``fromImage`` means every tag of the repository."""
    image = query.get("fromImage", "")
    tag = query.get("tag", "")
    ref = reference.parse_normalized_named(image)
    if tag:
        if tag.startswith(("sha256:", "sha512:")) or ":" in tag:
            ref = reference.with_digest(reference.trim_named(ref), parse_digest(tag))
        else:
            if not reference.is_valid_tag(tag):
                raise InvalidArgument("invalid reference format")
            ref = reference.with_tag(ref, tag)
    platform = query.get("platform", "")
    if platform:
        parse_platform(platform)  # a bad one is a 400 before anything starts
    return PullRequest(str(ref), platform)


def push_reference(name: str, tag: str) -> str:
    """``POST /images/{name}/push?tag=``: the normalised reference; no tag (and none in
    ``name``) is every tag of the repository (``docker push -a``)."""
    ref = reference.parse_normalized_named(name)
    if ref.digest is not None:
        raise InvalidArgument(f"cannot push a digest reference: {name}")
    if tag:
        if not reference.is_valid_tag(tag):
            raise InvalidArgument("invalid reference format")
        ref = reference.with_tag(ref, tag)
    return str(ref)
