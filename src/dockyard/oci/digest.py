"""Content digests: ``<algorithm>:<hex>``, the identity of every blob, manifest and config.

The grammar is the OCI image spec's (``descriptor.md`` "Digests")::

    digest     ::= algorithm ":" encoded
    algorithm  ::= component (separator component)*     component ::= [a-z0-9]+
    separator  ::= [+._-]                                encoded   ::= [a-zA-Z0-9=_-]+

Only the algorithms dockyard can verify are accepted, as go-digest does: ``sha256`` (64
lower-case hex digits) and ``sha512`` (128). A digest we cannot recompute cannot protect
anything, so an unknown algorithm is refused (``InvalidArgument``) rather than carried.

``Digest`` is a value (a NamedTuple: cheap to import and to compare); ``str(d)`` is the
wire form. Build one with ``parse_digest`` (validated), ``digest_bytes`` or a ``Digester``.
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple

from dockyard.errors import InvalidArgument

SHA256 = "sha256"
SHA512 = "sha512"
CANONICAL = SHA256

# Hex length of each algorithm we can compute.
ALGORITHMS: dict[str, int] = {SHA256: 64, SHA512: 128}

_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", re.ASCII)
_LOWER_HEX = re.compile(r"[a-f0-9]+", re.ASCII)


class Digest(NamedTuple):
    """A validated digest. ``str(d)`` is ``"<algorithm>:<hex>"``."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def encoded(self) -> str:
        """The part after the colon (the OCI spec's name for ``hex``)."""
        return self.hex

    def short(self, n: int = 12) -> str:
        """The first ``n`` hex digits, as Docker shows image IDs."""
        return self.hex[:n]


def parse_digest(s: str) -> Digest:
    """Parse and validate ``"<algorithm>:<hex>"``; ``InvalidArgument`` says what is wrong."""
    if not isinstance(s, str):
        raise InvalidArgument(f"invalid digest {s!r}: not a string")
    if not s:
        raise InvalidArgument("invalid digest: empty")
    if ":" not in s:
        raise InvalidArgument(f"invalid digest {s!r}: missing '<algorithm>:' prefix "
                              "(want sha256:<64 hex digits>)")
    if not _GRAMMAR.fullmatch(s):
        raise InvalidArgument(f"invalid digest {s!r}: does not match <algorithm>:<encoded>")
    algorithm, encoded = s.split(":", 1)
    validate_encoded(algorithm, encoded, s)
    return Digest(algorithm, encoded)


def validate_encoded(algorithm: str, encoded: str, whole: str | None = None) -> None:
    """Check that ``encoded`` is a well-formed ``algorithm`` digest value."""
    label = repr(whole if whole is not None else f"{algorithm}:{encoded}")
    length = ALGORITHMS.get(algorithm)
    if length is None:
        raise InvalidArgument(f"invalid digest {label}: unsupported algorithm {algorithm!r} "
                              f"(supported: {', '.join(ALGORITHMS)})")
    if len(encoded) != length:
        raise InvalidArgument(f"invalid digest {label}: {algorithm} needs {length} hex digits, "
                              f"got {len(encoded)}")
    if not _LOWER_HEX.fullmatch(encoded):
        raise InvalidArgument(f"invalid digest {label}: {algorithm} must be lower-case hex")


def is_digest(s: str) -> bool:
    """True when ``s`` parses as a supported digest (no exception, for dispatch code)."""
    try:
        parse_digest(s)
    except InvalidArgument:
        return False
    return True


def digest_bytes(data: bytes | bytearray | memoryview, algorithm: str = CANONICAL) -> Digest:
    """The digest of ``data``."""
    d = Digester(algorithm)
    d.update(data)
    return d.digest()


class Digester:
    """An incremental digest: ``update`` with chunks, then ``digest()`` (callable at any time).

    It also counts the bytes fed, which is what a writer needs for its offset.
    """

    __slots__ = ("_algorithm", "_hash", "_size")

    def __init__(self, algorithm: str = CANONICAL) -> None:
        if algorithm not in ALGORITHMS:
            raise InvalidArgument(f"unsupported digest algorithm {algorithm!r} "
                                  f"(supported: {', '.join(ALGORITHMS)})")
        self._algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self._size = 0

    @property
    def algorithm(self) -> str:
        return self._algorithm

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._size

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)
        self._size += len(data)

    def digest(self) -> Digest:
        """The digest of everything fed so far (the digester stays usable)."""
        return Digest(self._algorithm, self._hash.hexdigest())

    def reset(self) -> None:
        self._hash = hashlib.new(self._algorithm)
        self._size = 0

    def copy(self) -> Digester:
        other = Digester(self._algorithm)
        other._hash = self._hash.copy()
        other._size = self._size
        return other
