"""``docker ps`` filters: which containers a list shows (moby ``daemon/list.go``).

``filters`` maps a filter name to the values given (values of one name are ORed, names
are ANDed). Known names: ``id`` (prefix), ``name`` (substring of the name, a regexp in
Docker: plain text matches the same), ``status``, ``label`` (``key`` or ``key=value``),
``ancestor`` (the image: name as given, or image id prefix), ``exited`` (exit code),
``before``/``since`` (another container: created before/after it), ``health``
(``starting``, ``healthy``, ``unhealthy``, or ``none``: no health check). Others are
refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from dockyard.daemon.containers.model import Container, Status
from dockyard.daemon.times import parse_timestamp
from dockyard.errors import InvalidArgument

KNOWN = ("id", "name", "status", "label", "ancestor", "exited", "before", "since",
         "health", "network", "volume", "publish", "expose", "isolation", "is-task")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
HEALTH = ("starting", "healthy", "unhealthy", "none")


def _label_matches(c: Container, wanted: str) -> bool:
    labels = dict(c.config.labels)
    key, sep, value = wanted.partition("=")
    if key not in labels:
        return False
    return not sep or labels[key] == value


def _name_matches(c: Container, pattern: str) -> bool:
    """moby: the pattern is tried on the name with its ``/`` and without (``^web$``)."""
    try:
        return re.search(pattern, "/" + c.name) is not None \
            or re.search(pattern, c.name) is not None
    except re.error:
        return pattern in c.name


def compile_filters(filters: Mapping[str, Sequence[str]],
                    find: Callable[[str], Container]) -> Callable[[Container], bool]:
    """A predicate for ``filters``; ``find`` resolves ``before``/``since`` references."""
    for name in filters:
        if name not in KNOWN:
            raise InvalidArgument(f"invalid filter '{name}'")
    for value in filters.get("status", ()):
        if value not in STATUSES:
            raise InvalidArgument(f"invalid filter 'status={value}'")
    exited: set[int] = set()
    for value in filters.get("exited", ()):
        if not value.lstrip("-").isdigit():
            raise InvalidArgument(f"invalid filter 'exited={value}'")
        exited.add(int(value))
    for value in filters.get("health", ()):
        if value not in HEALTH:
            raise InvalidArgument(f"Unrecognised filter value for health: {value}")
    for name in ("network", "volume", "publish", "expose", "isolation"):
        if filters.get(name):
            raise InvalidArgument(f"filter '{name}' is not supported by dockyard yet")
    before = [find(v).created_ns for v in filters.get("before", ())]
    since = [find(v).created_ns for v in filters.get("since", ())]

    def match(c: Container) -> bool:
        f = filters
        if f.get("id") and not any(c.id.startswith(v) for v in f["id"]):
            return False
        if f.get("name") and not any(_name_matches(c, v) for v in f["name"]):
            return False
        if f.get("status") and c.state.status.value not in f["status"]:
            return False
        if f.get("label") and not all(_label_matches(c, v) for v in f["label"]):
            return False
        if f.get("ancestor") and not any(
                v in (c.config.image, c.image_id) or c.image_id.startswith(v)
                or c.image_id.removeprefix("sha256:").startswith(v) for v in f["ancestor"]):
            return False
        if f.get("health") and (c.state.health.status.value if c.state.health is not None
                                else "none") not in f["health"]:
            return False
        if exited and (c.state.status is not Status.EXITED or c.state.exit_code not in exited):
            return False
        if before and not all(c.created_ns < t for t in before):
            return False
        if since and not all(c.created_ns > t for t in since):
            return False
        return f.get("is-task", ["false"]) != ["true"]

    return match


PRUNE_FILTERS = ("until", "label", "label!")


def _labels_match(labels: Mapping[str, str], wanted: Sequence[str]) -> bool:
    """moby ``MatchKVList``: every ``key`` or ``key=value`` is in ``labels``."""
    for w in wanted:
        key, sep, value = w.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def compile_prune_filters(filters: Mapping[str, Sequence[str]],
                          now_ns: int | None = None) -> Callable[[Container], bool]:
    """Which stopped containers ``POST /containers/prune`` removes (moby ``ContainersPrune``):
    ``until`` (created before that time: a timestamp or a duration before now), ``label``
    (all present) and ``label!`` (not all present)."""
    for name in filters:
        if name not in PRUNE_FILTERS:
            raise InvalidArgument(f"invalid filter '{name}'")
    untils = filters.get("until", ())
    if len(untils) > 1:
        raise InvalidArgument("more than one until filter specified")
    try:
        until_ns = parse_timestamp(untils[0], now_ns) if untils else 0
    except InvalidArgument:
        raise InvalidArgument(
            f'failed to parse value as time or duration: "{untils[0]}"') from None
    labels, not_labels = filters.get("label", ()), filters.get("label!", ())

    def match(c: Container) -> bool:
        if until_ns and c.created_ns > until_ns:
            return False
        have = dict(c.config.labels)
        if labels and not _labels_match(have, labels):
            return False
        return not (not_labels and _labels_match(have, not_labels))

    return match
