"""``--filter key=value`` flags (repeatable) as the ``filters`` query parameter, in the
map form the docker CLI sends: ``{"label": {"a=b": true}, "status": {"exited": true}}``.
Shared by ``ps``, ``images``, ``events`` and the prune commands."""

from __future__ import annotations

from dockyard.cli.context import StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def check_filter(value: str) -> str:
    """The flag-time check of one ``--filter`` value (a usage error, as in Docker)."""
    key, eq, _ = value.partition("=")
    if not eq or not key.strip():
        raise ValueError("bad format of filter (expected name=value)")
    return value


def parse_filters(values: Sequence[str]) -> dict[str, dict[str, bool]]:
    """``["status=exited", "label=a=b"]`` → ``{"status": {"exited": True}, ...}``; a value
    without ``=`` is Docker's ``bad format of filter (expected name=value)``."""
    out: dict[str, dict[str, bool]] = {}
    for value in values:
        key, eq, arg = value.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            raise StatusError(f'invalid argument "{value}" for "-f, --filter" flag: bad '
                              "format of filter (expected name=value)", 125)
        out.setdefault(key, {})[arg.strip()] = True
    return out


def filters_query(values: Sequence[str]) -> dict[str, str]:
    """The query parameters for ``values`` (none when there are no filters)."""
    parsed = parse_filters(values)
    from dockyard.oci.jsoncodec import dumps

    return {"filters": dumps(parsed)} if parsed else {}
