"""Image references: Docker's grammar and normalisation, as ``distribution/reference`` has them.

Grammar (``reference.go``)::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain '/'] remote-name
    domain           := host [':' port-number]
    host             := domain-name | IPv4address | \\[ IPv6address \\]
    domain-name      := domain-component ['.' domain-component]*
    domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
    port-number      := /[0-9]+/
    path-component   := alpha-numeric [separator alpha-numeric]*
    path             := path-component ['/' path-component]*
    alpha-numeric    := /[a-z0-9]+/
    separator        := /[_.]|__|[-]+/
    tag              := /[\\w][\\w.-]{0,127}/
    digest           := algorithm ":" hex      (sha256 or sha512, validated by length)

Normalisation (``normalize.go``): a first component that is ``localhost`` or contains a
``.`` or ``:`` (or an upper-case letter) is a registry domain; otherwise the domain is
``docker.io``, and a single-component path on Docker Hub gets ``library/``:
``busybox`` -> ``docker.io/library/busybox``; ``index.docker.io`` becomes ``docker.io``.
The *familiar* form undoes that for display (``docker.io/library/busybox`` -> ``busybox``).

Every failure is ``InvalidArgument`` with upstream's message (``invalid reference format``,
``repository name must be lowercase``, ...), prefixed with the offending input.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest, is_digest, parse_digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

# --------------------------------------------------------------------------- regexp.go

_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_LOCALHOST = "localhost"
_DOMAIN_NAME_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_OPTIONAL_PORT = r"(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_IDENTIFIER = r"([a-f0-9]{64})"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = _DOMAIN_NAME_COMPONENT + r"(?:\." + _DOMAIN_NAME_COMPONENT + r")*"
_HOST = r"(?:" + _DOMAIN_NAME + r"|" + _IPV6 + r")"
_DOMAIN_AND_PORT = _HOST + _OPTIONAL_PORT
_PATH_COMPONENT = _ALPHANUMERIC + r"(?:" + _SEPARATOR + _ALPHANUMERIC + r")*"
_REMOTE_NAME = _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_NAME = r"(?:" + _DOMAIN_AND_PORT + r"/)?" + _REMOTE_NAME

# Patterns are used with fullmatch (Python's '$' would accept a trailing newline) and
# re.ASCII (Go's \w is ASCII only). They are compiled on first use (re's own cache), as
# upstream's lazyregexp does, to keep the CLI's start-up cheap.
_REFERENCE_PAT = r"(" + _NAME + r")(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?"
_ANCHORED_NAME_PAT = r"(?:(" + _DOMAIN_AND_PORT + r")/)?(" + _REMOTE_NAME + r")"


def _full(pattern: str, s: str) -> re.Match[str] | None:
    return re.fullmatch(pattern, s, re.ASCII)


# reference.go's errors.
ERR_INVALID_FORMAT = "invalid reference format"
ERR_TAG_INVALID = "invalid tag format"
ERR_NAME_UPPERCASE = "repository name must be lowercase"
ERR_NAME_EMPTY = "repository name must have at least one component"
ERR_NAME_TOO_LONG = f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
ERR_NAME_NOT_CANONICAL = "repository name must be canonical"


def _fail(s: str, message: str) -> InvalidArgument:
    return InvalidArgument(f"{message}: {s!r}" if s else message)


class Reference(NamedTuple):
    """A named reference: ``domain/path[:tag][@digest]``.

    ``domain`` is ``""`` only for references from ``parse``/``with_name`` that were not
    normalised. ``str(ref)`` is the full form; ``familiar_string(ref)`` the short one.
    """

    domain: str
    path: str
    tag: str = ""
    digest: Digest | None = None

    @property
    def name(self) -> str:
        """``domain/path`` (the repository), without tag or digest."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += ":" + self.tag
        if self.digest is not None:
            s += "@" + str(self.digest)
        return s

    @property
    def is_name_only(self) -> bool:
        return not self.tag and self.digest is None

    @property
    def familiar_name(self) -> str:
        return familiar_name(self)

    @property
    def familiar_string(self) -> str:
        return familiar_string(self)


def parse(s: str) -> Reference:
    """Parse ``s`` as is (``Parse`` upstream): no default domain, no ``library/``."""
    if not s:
        raise InvalidArgument(ERR_NAME_EMPTY)
    m = _full(_REFERENCE_PAT, s)
    if m is None:
        lower = s.lower()
        if lower != s and _full(_REFERENCE_PAT, lower):
            # Succeeds when lower-cased: the repository name has upper-case letters.
            raise _fail(s, f"{ERR_INVALID_FORMAT}: {ERR_NAME_UPPERCASE}")
        raise _fail(s, ERR_INVALID_FORMAT)
    name, tag, digest_s = m.group(1), m.group(2) or "", m.group(3)
    # The whole name (domain included) is limited, as in the releases Docker vendors.
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise _fail(s, ERR_NAME_TOO_LONG)
    nm = _full(_ANCHORED_NAME_PAT, name)
    domain, path = (nm.group(1) or "", nm.group(2)) if nm else ("", name)
    digest = None
    if digest_s:
        try:
            digest = parse_digest(digest_s)
        except InvalidArgument as e:
            raise InvalidArgument(f"{ERR_INVALID_FORMAT}: {s!r}: {e}") from e
    return Reference(domain, path, tag, digest)


def split_docker_domain(name: str) -> tuple[str, str]:
    """Split a (not yet validated) name into domain and remote name, Docker Hub's way."""
    maybe_domain, sep, maybe_remote = name.partition("/")
    if not sep:
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == _LOCALHOST:
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif "." in maybe_domain or ":" in maybe_domain:
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain.lower() != maybe_domain:
        # Upper-case namespaces are not allowed, so an upper-case first part is a domain.
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def parse_normalized_named(s: str) -> Reference:
    """Parse a reference as users type it (``ParseNormalizedNamed``): ``busybox`` ->
    ``docker.io/library/busybox``. No default tag is added (see ``with_default_tag``)."""
    if _full(_IDENTIFIER, s):
        raise InvalidArgument(f"invalid repository name ({s}), cannot specify 64-byte "
                              "hexadecimal strings")
    domain, remainder = split_docker_domain(s)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidArgument(f"{ERR_INVALID_FORMAT}: repository name ({remote}) must be "
                              "lowercase")
    return parse(domain + "/" + remainder)


def parse_docker_ref(s: str) -> Reference:
    """Normalise as ``docker pull`` does (``ParseDockerRef``): a name alone gets
    ``:latest``; a reference with both a tag and a digest keeps only the digest."""
    ref = parse_normalized_named(s)
    if ref.tag and ref.digest is not None:
        return ref._replace(tag="")
    return with_default_tag(ref)


def parse_named(s: str) -> Reference:
    """Parse a reference that must already be in canonical form (``ParseNamed``)."""
    ref = parse_normalized_named(s)
    if str(ref) != s:
        raise _fail(s, ERR_NAME_NOT_CANONICAL)
    return ref


def parse_any_reference(s: str) -> Reference | Digest:
    """A 64-hex image ID or a digest (returned as a ``Digest``), else a normalised name."""
    if _full(_IDENTIFIER, s):
        return Digest("sha256", s)
    if is_digest(s):
        return parse_digest(s)
    return parse_normalized_named(s)


def with_name(name: str) -> Reference:
    """A name-only reference from ``domain/path`` (``WithName``; not normalised)."""
    if not name:
        raise InvalidArgument(ERR_NAME_EMPTY)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise _fail(name, ERR_NAME_TOO_LONG)
    m = _full(_ANCHORED_NAME_PAT, name)
    if m is None:
        raise _fail(name, ERR_INVALID_FORMAT)
    return Reference(m.group(1) or "", m.group(2))


def with_tag(ref: Reference, tag: str) -> Reference:
    """``ref`` with its tag set (any digest kept)."""
    if not _full(_TAG, tag):
        raise _fail(tag, ERR_TAG_INVALID)
    return ref._replace(tag=tag)


def with_digest(ref: Reference, digest: Digest | str) -> Reference:
    """``ref`` with its digest set (any tag kept)."""
    d = digest if isinstance(digest, Digest) else parse_digest(digest)
    return ref._replace(digest=d)


def trim_named(ref: Reference) -> Reference:
    """The repository alone: ``ref`` without tag or digest."""
    return Reference(ref.domain, ref.path)


def with_default_tag(ref: Reference) -> Reference:
    """``ref`` with ``:latest`` when it has neither tag nor digest (``TagNameOnly``)."""
    return ref._replace(tag=DEFAULT_TAG) if ref.is_name_only else ref


def familiarize(ref: Reference) -> Reference:
    """The short form: Docker Hub's domain dropped, and ``library/`` for official images."""
    if ref.domain != DEFAULT_DOMAIN:
        return ref
    path = ref.path
    if path.startswith(OFFICIAL_REPO_PREFIX):
        rest = path[len(OFFICIAL_REPO_PREFIX):]
        if "/" not in rest:
            path = rest
    return ref._replace(domain="", path=path)


def familiar_name(ref: Reference) -> str:
    """``docker.io/library/busybox:1`` -> ``busybox``."""
    return familiarize(ref).name


def familiar_string(ref: Reference) -> str:
    """``docker.io/library/busybox:1`` -> ``busybox:1`` (what ``docker images`` shows)."""
    return str(familiarize(ref))


def is_valid_tag(tag: str) -> bool:
    return bool(_full(_TAG, tag))


def is_valid_domain(domain: str) -> bool:
    """True for ``host[:port]`` as a registry name (IPv6 in brackets)."""
    return bool(_full(_DOMAIN_AND_PORT, domain))
