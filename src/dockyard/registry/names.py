"""Repository names, tags and references as the OCI distribution spec defines them.

The spec's grammar (``spec.md`` "Pulling manifests")::

    <name>      [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*
    <reference> a tag [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} or a digest

A name is also limited to 255 characters (distribution's limit). Every value that names a
storage path goes through one of these functions first, so a name component can never be
``.``, ``..`` or start with ``_`` (the store's own directories, ``_layers``, ``_manifests``,
start with ``_`` and so cannot collide with a repository).
"""

from __future__ import annotations

import re
from typing import NewType

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest, is_digest, parse_digest

NAME_MAX = 255
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_PATTERN = _COMPONENT + r"(?:/" + _COMPONENT + r")*"
TAG_PATTERN = r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"
_NAME = re.compile(NAME_PATTERN, re.ASCII)
_TAG = re.compile(TAG_PATTERN, re.ASCII)

RepoName = NewType("RepoName", str)
Tag = NewType("Tag", str)


class NameInvalid(InvalidArgument):
    """A repository name outside the grammar (the registry answers NAME_INVALID)."""


class TagInvalid(InvalidArgument):
    """A tag outside the grammar (answered as MANIFEST_INVALID / NAME_INVALID by context)."""


class DigestInvalid(InvalidArgument):
    """A digest that does not parse or uses an algorithm we cannot verify."""


def validate_name(name: str) -> RepoName:
    """``name`` if it is a valid repository name, else ``NameInvalid``."""
    if not name or len(name) > NAME_MAX or not _NAME.fullmatch(name):
        raise NameInvalid(f"invalid repository name {name[:300]!r}")
    return RepoName(name)


def validate_tag(tag: str) -> Tag:
    if not _TAG.fullmatch(tag):
        raise TagInvalid(f"invalid tag {tag[:200]!r}")
    return Tag(tag)


def validate_digest(s: str) -> Digest:
    """Parse a digest from a request; ``DigestInvalid`` (DIGEST_INVALID) on failure."""
    try:
        return parse_digest(s)
    except InvalidArgument as e:
        raise DigestInvalid(str(e)) from e


def parse_reference(ref: str) -> Tag | Digest:
    """A manifest reference: a digest when it has a ``:``, else a tag."""
    if ":" in ref:
        if not is_digest(ref):
            return validate_digest(ref)  # raises with the reason
        return parse_digest(ref)
    return validate_tag(ref)
