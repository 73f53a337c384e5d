"""Which daemon the client talks to: ``-H/--host``, ``DOCKYARD_HOST``, ``DOCKER_HOST``.

Only ``unix://`` endpoints are served (dockyardd listens on a unix socket); a ``tcp://``,
``ssh://`` or ``npipe://`` host is a clear error instead of a confusing connection
failure. The first source that is set wins, in the order above, as with the docker CLI
(``-H`` beats the environment).
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False  # typing and collections.abc cost start-up time: annotations only
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_HOST = "unix:///run/dockyard.sock"


def resolve_host(flag: str | None, environ: Mapping[str, str]) -> str:
    """The host URL to use: the flag, else ``DOCKYARD_HOST``, else ``DOCKER_HOST``, else
    the default socket. The result is checked by :func:`socket_path`."""
    for candidate in (flag, environ.get("DOCKYARD_HOST"), environ.get("DOCKER_HOST")):
        if candidate:
            socket_path(candidate)
            return candidate
    return DEFAULT_HOST


def socket_path(host: str) -> str:
    """The filesystem path of a ``unix://`` host; InvalidArgument for anything else."""
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        if not path.startswith("/"):
            raise InvalidArgument(f"invalid unix socket path in host {host!r}: "
                                  "the path must be absolute")
        return path
    if host.startswith("/"):
        return host  # a bare socket path, as some tools write DOCKER_HOST
    scheme = host.split("://", 1)[0] if "://" in host else host
    raise InvalidArgument(f"unsupported host {host!r}: dockyard talks to its daemon over a "
                          f"unix socket only (unix:///path/to/dockyard.sock), not {scheme}")
