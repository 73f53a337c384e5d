"""``dockyard-base-image``: ask a running dockyardd to make an offline base image.

    dockyard-base-image busybox                  busybox:latest from the host's busybox
    dockyard-base-image debian --suite bookworm  debian:bookworm from Debian's packages
    dockyard-base-image busybox --ref tools/bb:1 under another name
    dockyard-base-image -H unix:///tmp/d.sock busybox

It calls the daemon's extension endpoint ``POST /dockyard/images/base`` (see
``dockyard.api.images``) and prints its progress; no registry is involved. The socket is
``-H``, else ``$DOCKER_HOST`` when it is a ``unix://`` one, else dockyardd's default.
Exit status: 0 when the image was made, 1 when the daemon reported an error, 2 for a
usage error or an unreachable daemon.

(Without a daemon, ``python -m dockyard.image busybox DATA_ROOT`` writes the image into a
data root directly.)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import urllib.parse
from collections.abc import Sequence

from dockyard.apitypes.images import BASE_IMAGES
from dockyard.daemon.config import DEFAULT_HOST

TIMEOUT = 3600.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def _socket_path(host: str | None) -> str:
    chosen = host or os.environ.get("DOCKER_HOST", "") or DEFAULT_HOST
    if not chosen.startswith("unix://"):
        if host:
            raise ValueError(f"{host}: only unix:// sockets are supported")
        chosen = DEFAULT_HOST
    return chosen[len("unix://"):]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dockyard-base-image",
                                description="make an offline base image in a running "
                                "dockyardd (no registry needed)")
    p.add_argument("kind", choices=BASE_IMAGES, help="which base image")
    p.add_argument("--ref", default="", help="the name to give it (default busybox:latest "
                   "or debian:SUITE)")
    p.add_argument("--suite", default="", help="the Debian suite (debian only; default "
                   "bookworm)")
    p.add_argument("-H", "--host", help=f"the daemon's socket (default $DOCKER_HOST or "
                   f"{DEFAULT_HOST})")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        path = _socket_path(args.host)
    except ValueError as exc:
        sys.stderr.write(f"dockyard-base-image: {exc}\n")
        return 2
    query = {"name": args.kind}
    if args.ref:
        query["ref"] = args.ref
    if args.suite:
        query["suite"] = args.suite
    conn = _UnixConnection(path, TIMEOUT)
    try:
        try:
            conn.request("POST", "/dockyard/images/base?" + urllib.parse.urlencode(query))
            response = conn.getresponse()
        except OSError as exc:
            sys.stderr.write(f"dockyard-base-image: cannot reach the daemon at {path}: "
                             f"{exc}\n")
            return 2
        if response.status != 200:
            body = response.read().decode(errors="replace")
            try:
                message = json.loads(body)["message"]
            except (ValueError, KeyError, TypeError):
                message = body.strip() or response.reason
            sys.stderr.write(f"dockyard-base-image: {message}\n")
            return 1
        return _follow(response, args.quiet)
    finally:
        conn.close()


def _follow(response: http.client.HTTPResponse, quiet: bool) -> int:
    """Print the stream's lines; 0 once the image's ID came, 1 on an error line."""
    made = False
    for raw in response:
        line = raw.strip()
        if not line:
            continue
        msg = json.loads(line)
        if "error" in msg:
            sys.stderr.write(f"dockyard-base-image: {msg['error']}\n")
            return 1
        if "aux" in msg:
            made = True
            if quiet:
                sys.stdout.write(f"{msg['aux']['ID']}\n")
        elif not quiet and "stream" in msg:
            sys.stdout.write(msg["stream"])
        elif not quiet and "status" in msg:
            sys.stdout.write(f"{msg['status']}\n")
        sys.stdout.flush()
    if not made:
        sys.stderr.write("dockyard-base-image: the daemon ended the stream early\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
