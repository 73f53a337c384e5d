"""Platforms (``linux/amd64``, ``linux/arm64/v8``): parse, normalise, match, pick from an index.

The rules are containerd's ``platforms`` package, which Docker uses:

- names are normalised (``x86_64`` -> ``amd64``, ``aarch64`` -> ``arm64``, ``armhf`` ->
  ``arm/v7``); ``arm64/v8`` and ``amd64/v1`` are the same as no variant; a bare ``arm``
  means ``arm/v7``;
- a host runs its own variant and the older ones of its family: ``amd64/v3`` runs ``v2``
  and ``v1``, ``arm/v7`` runs ``v6`` and ``v5``, ``arm64`` runs 32-bit ``arm/v8`` and older,
  and ``amd64`` runs ``386``; the nearer, the better;
- among equally good entries of an index, the first wins (image-index spec).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from dockyard.errors import InvalidArgument


class Platform(NamedTuple):
    """A platform as an index's ``platform`` field describes it."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    def __str__(self) -> str:
        return format_platform(self)

    def to_json(self) -> dict[str, Any]:
        """The wire form, keys in the order of the Go struct (``ocispec.Platform``)."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_json(cls, obj: Any, where: str = "platform") -> Platform:
        """Validate a decoded ``platform`` object (``os`` and ``architecture`` required)."""
        if not isinstance(obj, Mapping):
            raise InvalidArgument(f"{where}: expected an object, got {type(obj).__name__}")
        os_ = _str(obj, "os", where, required=True)
        arch = _str(obj, "architecture", where, required=True)
        features = obj.get("os.features")
        if features is None:
            features = []
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise InvalidArgument(f"{where}.os.features: expected an array of strings")
        return cls(os=os_, architecture=arch, variant=_str(obj, "variant", where),
                   os_version=_str(obj, "os.version", where), os_features=tuple(features))


def _str(obj: Mapping[str, Any], key: str, where: str, required: bool = False) -> str:
    v = obj.get(key)
    if v is None:
        if required:
            raise InvalidArgument(f"{where}.{key}: required")
        return ""
    if not isinstance(v, str):
        raise InvalidArgument(f"{where}.{key}: expected a string, got {type(v).__name__}")
    if required and not v:
        raise InvalidArgument(f"{where}.{key}: must not be empty")
    return v


_KNOWN_OS = frozenset({
    "aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux",
    "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows",
})
_KNOWN_ARCH = frozenset({
    "386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle",
    "ppc64", "ppc64le", "riscv64", "s390x", "wasm",
})
_COMPONENT = re.compile(r"[a-z0-9_.-]+", re.ASCII)
_OS_VERSION = re.compile(r"([a-z0-9_-]+)\(([^()]*)\)", re.ASCII)


def normalize_os(os_: str) -> str:
    os_ = os_.lower()
    return "darwin" if os_ == "macos" else os_


def normalize_arch(arch: str, variant: str = "") -> tuple[str, str]:
    """Normalise an architecture and variant pair (containerd's ``normalizeArch``)."""
    arch, variant = arch.lower(), variant.lower()
    if arch in ("i386", "i686"):
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        return "arm64", "" if variant in ("8", "v8", "v8.0") else variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            return "arm", "v7"
        if variant in ("5", "6", "8"):
            return "arm", "v" + variant
        return "arm", variant
    return arch, variant


def normalize(p: Platform) -> Platform:
    """``p`` with its os, architecture and variant in canonical form."""
    arch, variant = normalize_arch(p.architecture, p.variant)
    return p._replace(os=normalize_os(p.os), architecture=arch, variant=variant)


def parse_platform(spec: str) -> Platform:
    """Parse ``os[/arch[/variant]]`` (or a bare ``arch``), normalised.

    ``linux`` alone means the host's architecture on linux; ``arm64`` alone means linux
    on arm64. ``windows(10.0.17763)/amd64`` carries an ``os.version``.
    """
    if not spec or spec != spec.strip():
        raise InvalidArgument(f"invalid platform {spec!r}: empty or surrounded by spaces")
    parts = spec.lower().split("/")
    if len(parts) > 3:
        raise InvalidArgument(f"invalid platform {spec!r}: want os[/arch[/variant]]")
    os_version = ""
    m = _OS_VERSION.fullmatch(parts[0])
    if m:
        parts[0], os_version = m.group(1), m.group(2)
    for part in parts:
        if not _COMPONENT.fullmatch(part):
            raise InvalidArgument(f"invalid platform {spec!r}: bad component {part!r}")
    if len(parts) == 1:
        word = normalize_os(parts[0])
        if word in _KNOWN_OS:
            host = host_platform()
            return Platform(word, host.architecture, host.variant, os_version)
        arch, variant = normalize_arch(word)
        if arch in _KNOWN_ARCH:
            return Platform("linux", arch, variant)
        raise InvalidArgument(f"invalid platform {spec!r}: unknown operating system "
                              "or architecture")
    arch, variant = normalize_arch(parts[1], parts[2] if len(parts) == 3 else "")
    return Platform(normalize_os(parts[0]), arch, variant, os_version)


def format_platform(p: Platform) -> str:
    """``os/arch[/variant]``, the form of ``--platform`` flags."""
    head = f"{p.os}({p.os_version})" if p.os_version else p.os
    return "/".join(x for x in (head, p.architecture, p.variant) if x)


# uname -m -> (GOARCH, variant)
_MACHINES: dict[str, tuple[str, str]] = {
    "x86_64": ("amd64", ""), "amd64": ("amd64", ""),
    "aarch64": ("arm64", ""), "arm64": ("arm64", ""), "armv8b": ("arm64", ""),
    "armv8l": ("arm", "v8"), "armv7l": ("arm", "v7"), "armv7": ("arm", "v7"),
    "armv6l": ("arm", "v6"), "armv5tel": ("arm", "v5"), "armv5l": ("arm", "v5"),
    "i386": ("386", ""), "i486": ("386", ""), "i586": ("386", ""), "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""), "ppc64": ("ppc64", ""), "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""), "loongarch64": ("loong64", ""), "mips64": ("mips64", ""),
}


def host_platform(machine: str | None = None) -> Platform:
    """The platform this host runs natively, from ``uname -m`` (or the ``machine`` given).

    amd64 is reported without a variant (as Docker does: ``linux/amd64``); arm64 without
    one too (``v8`` is the default); 32-bit arm with the variant of its machine name.
    """
    m = machine if machine is not None else os.uname().machine
    arch, variant = _MACHINES.get(m, (m, ""))
    return Platform("linux", arch, variant)


def _version(variant: str, default: int) -> int | None:
    if not variant:
        return default
    try:
        return int(variant.removeprefix("v"))
    except ValueError:
        return None


def compatible(p: Platform) -> tuple[Platform, ...]:
    """The platforms a host of platform ``p`` can run, best first (containerd's vector)."""
    p = normalize(p)
    out = [p]
    if p.architecture == "amd64":
        level = _version(p.variant, 1)
        if level is not None:
            out += [p._replace(variant=f"v{v}" if v > 1 else "") for v in range(level - 1, 0, -1)]
        out.append(p._replace(architecture="386", variant=""))
    elif p.architecture == "arm":
        level = _version(p.variant, 7)
        if level is not None:
            out += [p._replace(variant=f"v{v}") for v in range(level - 1, 4, -1)]
    elif p.architecture == "arm64":
        out += compatible(p._replace(architecture="arm", variant="v8"))
    return tuple(dict.fromkeys(out))


def _same(want: Platform, have: Platform) -> bool:
    if want.os != have.os or want.architecture != have.architecture:
        return False
    if want.variant != have.variant:
        return False
    # os.version only means something on Windows, where it must match the host's build.
    return not (want.os == "windows" and want.os_version and have.os_version
                and want.os_version.split(".")[:3] != have.os_version.split(".")[:3])


def rank(want: Platform, have: Platform) -> int | None:
    """How well ``have`` suits a host of platform ``want``: 0 is exact, higher is worse,
    ``None`` is unusable."""
    have = normalize(have)
    for i, candidate in enumerate(compatible(want)):
        if _same(candidate, have):
            return i
    return None


def matches(want: Platform, have: Platform) -> bool:
    """True when a host of platform ``want`` can run an image built for ``have``."""
    return rank(want, have) is not None


def best_match(want: Platform, candidates: Sequence[Platform | None]) -> int | None:
    """The index of the best candidate for ``want`` (first of equals), or ``None``.

    ``None`` candidates (index entries without a platform) never match.
    """
    best: tuple[int, int] | None = None
    for i, c in enumerate(candidates):
        if c is None:
            continue
        r = rank(want, c)
        if r is not None and (best is None or r < best[0]):
            best = (r, i)
    return None if best is None else best[1]
